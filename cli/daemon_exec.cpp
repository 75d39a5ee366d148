#include "daemon_commands.hpp"
#include "session.hpp"

#include <zsimem/error.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unistd.h>

namespace zsimem::cli {
namespace {

// Replaces this process with zsimemd, the same command table linked with the
// daemon and the HTTP client; it sits beside this binary, both in the build
// tree and when installed.
[[noreturn]] void exec_zsimemd(Session& session) {
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
  throw Error(ErrorCode::unavailable, "cannot start " + daemon + ": " + std::strerror(errno));
}

} // namespace

int run_serve(Session& session, const ServeArgs&) { exec_zsimemd(session); }

int run_watch(Session& session, const WatchArgs&) { exec_zsimemd(session); }

} // namespace zsimem::cli
