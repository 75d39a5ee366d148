#include "support/serve_process.hpp"

#include "support/run_process.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace zsimem::testing {
namespace {

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

ServeProcess::ServeProcess(Options options) {
  std::vector<std::string> argv{ZSIMEM_BINARY, "--backend", options.backend, "--data-dir", options.data_dir.string(),
                                "serve"};
  if (std::find(options.args.begin(), options.args.end(), "--listen") == options.args.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:" + std::to_string(options.port)});
  }
  argv.insert(argv.end(), options.args.begin(), options.args.end());
  std::vector<std::string> env = child_environment(options.env);
  // Built before fork: the child only calls async-signal-safe functions.
  const std::string program = argv.front();
  auto args = pointers(argv);
  auto envp = pointers(env);
  const std::string log = options.log.string();
  m_pid = fork();
  if (m_pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(fd, STDERR_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDIN_FILENO);
    ::setpgid(0, 0);
    ::execve(program.c_str(), args.data(), envp.data());
    _exit(127);
  }
  ::setpgid(m_pid, m_pid); // here too, so that a kill never finds the group missing
  // The first line names the address, with the port the kernel chose.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    // Whole lines only: the daemon writes its first line in pieces.
    const std::string written = read_text(options.log);
    std::istringstream text(written.substr(0, written.rfind('\n') + 1));
    for (std::string line; std::getline(text, line);) {
      if (const auto at = line.find("listening on"); at != std::string::npos) {
        const auto colon = line.rfind(':');
        m_port = std::stoi(line.substr(colon + 1, line.find('/', colon) - colon - 1));
        return;
      }
    }
    if (wait_for_exit(0) != -1) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (running()) {
    kill_now();
  }
  throw std::runtime_error("zsimem serve did not start: " + read_text(options.log));
}

ServeProcess::~ServeProcess() {
  if (running()) {
    ::kill(m_pid, SIGCONT);
    ::kill(m_pid, SIGTERM);
    if (wait_for_exit(20'000) == -1) {
      kill_now();
    }
  }
}

void ServeProcess::kill_now() {
  if (!running()) {
    return;
  }
  // The whole group (it leads one): nothing it started may outlive it.
  ::kill(-m_pid, SIGKILL);
  ::waitpid(m_pid, nullptr, 0);
  m_pid = -1;
}

void ServeProcess::pause() { ::kill(m_pid, SIGSTOP); }

void ServeProcess::resume() { ::kill(m_pid, SIGCONT); }

int ServeProcess::wait_for_exit(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(m_pid, &status, WNOHANG);
    if (done == m_pid) {
      m_pid = -1;
      return status;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

} // namespace zsimem::testing
