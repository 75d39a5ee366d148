#pragma once

#include <cstddef>
#include <string>

namespace zsimem::cli {

class Session;

struct ServeArgs {
  std::string listen = "127.0.0.1:8080";
  std::string api_prefix = "/api/v1";
  std::size_t threads = 16;
  std::size_t max_connections = 512;
  std::string log_format = "text";
  bool insecure = false; // listen beyond loopback without a policy
  std::string tls_cert;  // HTTPS with this certificate and key; both or neither
  std::string tls_key;
  std::string retention;             // a retention file: prune on a timer
  std::string prune_interval = "1h"; // how often
  std::string hooks;                 // a hooks file: deliver versions to its hooks
};

struct WatchArgs {
  std::string user_id;
  std::string ns = "default";
  std::string url = "http://127.0.0.1:8080";
  std::string api_prefix = "/api/v1";
  std::string after;     // a version, 0 for every version, empty for the head
  std::size_t count = 0; // stop after this many versions; 0: follow until interrupted
  std::string ca_file;   // for https: trust this CA (PEM) instead of the system's
};

// The commands that speak HTTP. Each has two definitions, one per
// executable: `zsimem` (kept free of the HTTP and TLS libraries so that
// one-shot commands start fast) execs its sibling `zsimemd`, which links the
// daemon and runs them.
int run_serve(Session& session, const ServeArgs& args);
int run_watch(Session& session, const WatchArgs& args);

} // namespace zsimem::cli
