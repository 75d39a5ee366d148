#pragma once

#include <cstddef>
#include <string>

namespace zsimem::cli {

class Session;

struct ServeArgs {
  std::string listen = "127.0.0.1:8080";
  std::string api_prefix = "/api/v1";
  std::size_t threads = 16;
  std::string log_format = "text";
};

// Runs the daemon. Two definitions, one per executable: `zsimem` (kept free
// of the HTTP and TLS libraries so that one-shot commands start fast) execs
// its sibling `zsimemd`, which links the daemon and serves.
int run_serve(Session& session, const ServeArgs& args);

} // namespace zsimem::cli
