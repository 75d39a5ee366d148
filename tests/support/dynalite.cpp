#include "support/dynalite.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace zsimem::testing {
namespace {

const std::filesystem::path k_package_dir = std::filesystem::path(ZSIMEM_SOURCE_DIR) / "tests" / "dynamo";

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A port the kernel has just found free on 127.0.0.1 (another process may
// take it before dynalite does: the caller tries again then).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    throw std::runtime_error("no free loopback port for dynalite");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  const sockaddr_in address = loopback(port);
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

// `name` found in PATH, or empty.
std::string in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

Dynalite::Dynalite() {
  const std::filesystem::path cli = k_package_dir / "node_modules" / "dynalite" / "cli.js";
  if (!std::filesystem::exists(cli)) {
    throw std::runtime_error("dynalite is not installed (no " + cli.string() + "): run `npm ci --prefix " +
                             k_package_dir.string() + "` (scripts/test does)");
  }
  const std::string node = in_path("node");
  if (node.empty()) {
    throw std::runtime_error("node is not in PATH: dynalite needs Node.js (scripts/deps installs it)");
  }
  const std::filesystem::path log = m_dir.path() / "dynalite.log";
  std::string last_output;
  // A few tries: the free port may be taken between the probe and dynalite's bind.
  for (int attempt = 0; attempt < 3; ++attempt) {
    m_port = free_port();
    std::vector<std::string> argv{node,     cli.string(),           "--host",          "127.0.0.1",
                                  "--port", std::to_string(m_port), "--createTableMs", "0"};
    // Built before fork: the child only calls async-signal-safe functions.
    std::vector<char*> args;
    for (auto& arg : argv) {
      args.push_back(arg.data());
    }
    args.push_back(nullptr);
    const std::string log_path = log.string();
    const pid_t parent = ::getpid();
    m_pid = ::fork();
    if (m_pid < 0) {
      throw std::runtime_error("fork failed for dynalite");
    }
    if (m_pid == 0) {
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(fd, STDERR_FILENO);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(null, STDIN_FILENO);
      ::setpgid(0, 0);
      // Dies with the test process, even one that crashed before stopping it
      // (a parent that died before this call is no longer our parent).
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) {
        _exit(127);
      }
      ::execve(args[0], args.data(), environ);
      _exit(127);
    }
    ::setpgid(m_pid, m_pid); // here too, so that a kill never finds the group missing
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (accepts(m_port)) {
        return;
      }
      int status = 0;
      if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_pid = -1;
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    last_output = read_text(log);
    stop();
    if (!exited) {
      break; // it runs but does not listen: trying again would not help
    }
  }
  throw std::runtime_error("dynalite did not start on 127.0.0.1: " + last_output);
}

Dynalite::~Dynalite() { stop(); }

void Dynalite::stop() {
  if (m_pid <= 0) {
    return;
  }
  // The whole group (it leads one): nothing it started may outlive it.
  ::kill(-m_pid, SIGKILL);
  while (::waitpid(m_pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  m_pid = -1;
}

} // namespace zsimem::testing
