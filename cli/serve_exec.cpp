#include "serve_command.hpp"
#include "session.hpp"

#include <zsimem/error.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unistd.h>

namespace zsimem::cli {

int run_serve(Session& session, const ServeArgs&) {
  // zsimemd is the same command table linked with the daemon; it sits
  // beside this binary, both in the build tree and when installed.
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  const auto daemon = (error ? std::filesystem::path("zsimemd") : self.parent_path() / "zsimemd").string();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(daemon.c_str()));
  for (std::size_t i = 1; i < session.argv.size(); ++i) {
    argv.push_back(session.argv[i].data());
  }
  argv.push_back(nullptr);
  execv(daemon.c_str(), argv.data());
  throw Error(ErrorCode::unavailable, "cannot start the daemon " + daemon + ": " + std::strerror(errno));
}

} // namespace zsimem::cli
