#include "support/run_process.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace zsimem::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A file descriptor closed when it goes out of scope.
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return m_fd; }
  bool is_open() const { return m_fd >= 0; }
  void reset() {
    if (m_fd >= 0) {
      ::close(m_fd);
      m_fd = -1;
    }
  }

private:
  int m_fd = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

// Close-on-exec, so that no child inherits another run's pipe ends.
Pipe make_pipe() {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    throw_errno("run_process: pipe2");
  }
  return {Fd(fds[0]), Fd(fds[1])};
}

} // namespace

std::vector<std::string> child_environment(const std::vector<std::string>& extra_env) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    env.emplace_back(*entry);
  }
  for (const auto& change : extra_env) {
    const std::string prefix = change.substr(0, change.find('=')) + "=";
    std::erase_if(env, [&](const std::string& entry) { return entry.starts_with(prefix); });
    if (change.find('=') != std::string::npos) {
      env.push_back(change);
    }
  }
  return env;
}

namespace {

// Resolved before fork with the child's PATH, so that the child only calls
// async-signal-safe functions.
std::string resolve_program(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) {
    return name;
  }
  std::string search = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& entry : env) {
    if (entry.starts_with("PATH=")) {
      search = entry.substr(5);
    }
  }
  std::size_t start = 0;
  while (start <= search.size()) {
    auto end = search.find(':', start);
    if (end == std::string::npos) {
      end = search.size();
    }
    const std::string dir = search.substr(start, end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat info {};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  throw std::runtime_error("run_process: '" + name + "' not found in PATH");
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& text : strings) {
    pointers.push_back(text.data());
  }
  pointers.push_back(nullptr);
  return pointers;
}

// The child between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(const char* program, char* const* argv, char* const* envp, int in, int out, int err,
                             int report) {
  // Our own process group, so that a timeout kills the whole tree.
  ::setpgid(0, 0);
  sigset_t none;
  ::sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
  struct sigaction default_action {};
  default_action.sa_handler = nullptr; // SIG_DFL, spelled without the C cast
  ::sigaction(SIGPIPE, &default_action, nullptr);
  // Copies above 2 first, in case the runner had closed a standard
  // descriptor and a pipe end took its number; dup2 clears close-on-exec.
  const int in_copy = ::fcntl(in, F_DUPFD_CLOEXEC, 3);
  const int out_copy = ::fcntl(out, F_DUPFD_CLOEXEC, 3);
  const int err_copy = ::fcntl(err, F_DUPFD_CLOEXEC, 3);
  const int report_copy = ::fcntl(report, F_DUPFD_CLOEXEC, 3);
  ::dup2(in_copy, STDIN_FILENO);
  ::dup2(out_copy, STDOUT_FILENO);
  ::dup2(err_copy, STDERR_FILENO);
  ::execve(program, argv, envp);
  const int error = errno;
  [[maybe_unused]] const auto written = ::write(report_copy, &error, sizeof error);
  ::_exit(127);
}

// Blocks SIGPIPE in this thread while feeding the child, so that a child
// that exits without reading makes write() fail with EPIPE instead of
// killing the test runner; a SIGPIPE raised meanwhile is discarded.
class SigpipeGuard {
public:
  SigpipeGuard() {
    sigset_t pipe_only;
    ::sigemptyset(&pipe_only);
    ::sigaddset(&pipe_only, SIGPIPE);
    sigset_t pending;
    ::sigpending(&pending);
    m_was_pending = ::sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &m_old_mask);
  }
  ~SigpipeGuard() {
    if (!m_was_pending) {
      sigset_t pipe_only;
      ::sigemptyset(&pipe_only);
      ::sigaddset(&pipe_only, SIGPIPE);
      const timespec no_wait{};
      while (::sigtimedwait(&pipe_only, nullptr, &no_wait) == SIGPIPE) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &m_old_mask, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

private:
  sigset_t m_old_mask{};
  bool m_was_pending = false;
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1000 * 60 * 60));
}

// Reads what is there; closes `fd` at end of file or on error.
void drain(Fd& fd, std::string& sink) {
  std::array<char, 65536> buffer{};
  const ssize_t count = ::read(fd.get(), buffer.data(), buffer.size());
  if (count > 0) {
    sink.append(buffer.data(), static_cast<std::size_t>(count));
  } else if (count == 0 || (errno != EINTR && errno != EAGAIN)) {
    fd.reset();
  }
}

void feed(Fd& fd, const std::string& text, std::size_t& offset) {
  const ssize_t count = ::write(fd.get(), text.data() + offset, text.size() - offset);
  if (count > 0) {
    offset += static_cast<std::size_t>(count);
  } else if (errno != EINTR && errno != EAGAIN) {
    fd.reset(); // EPIPE: the child does not want the rest
  }
  if (offset == text.size()) {
    fd.reset();
  }
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

} // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_text,
                          const std::vector<std::string>& extra_env, std::chrono::milliseconds timeout) {
  if (argv.empty()) {
    throw std::invalid_argument("run_process: empty argv");
  }
  std::vector<std::string> env = child_environment(extra_env);
  const std::string program = resolve_program(argv.front(), env);
  std::vector<std::string> args = argv;
  const std::vector<char*> c_args = c_strings(args);
  const std::vector<char*> c_env = c_strings(env);

  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  Pipe report = make_pipe();
  const Clock::time_point deadline = Clock::now() + timeout;

  const pid_t pid = ::fork();
  if (pid < 0) {
    throw_errno("run_process: fork");
  }
  if (pid == 0) {
    exec_child(program.c_str(), c_args.data(), c_env.data(), in.read.get(), out.write.get(), err.write.get(),
               report.write.get());
  }
  ::setpgid(pid, pid); // also here, so that a kill right away reaches the group
  in.read.reset();
  out.write.reset();
  err.write.reset();
  report.write.reset();

  int exec_error = 0;
  ssize_t reported = 0;
  do {
    reported = ::read(report.read.get(), &exec_error, sizeof exec_error);
  } while (reported < 0 && errno == EINTR);
  if (reported == static_cast<ssize_t>(sizeof exec_error)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    throw std::system_error(exec_error, std::generic_category(), "run_process: cannot execute " + program);
  }

  ProcessResult result;
  {
    SigpipeGuard guard;
    ::fcntl(in.write.get(), F_SETFL, O_NONBLOCK);
    std::size_t offset = 0;
    if (stdin_text.empty()) {
      in.write.reset();
    }
    while (in.write.is_open() || out.read.is_open() || err.read.is_open()) {
      std::array<pollfd, 3> fds{
          {{in.write.get(), POLLOUT, 0}, {out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}}};
      const int ready = ::poll(fds.data(), fds.size(), remaining_ms(deadline));
      if (ready < 0 && errno != EINTR) {
        throw_errno("run_process: poll");
      }
      if (ready == 0 && Clock::now() >= deadline) {
        ::kill(-pid, SIGKILL);
        result.timed_out = true;
        break;
      }
      if (ready <= 0) {
        continue;
      }
      if (fds[0].revents != 0) {
        feed(in.write, stdin_text, offset);
      }
      if (fds[1].revents != 0) {
        drain(out.read, result.out);
      }
      if (fds[2].revents != 0) {
        drain(err.read, result.err);
      }
    }
  }

  // The child may outlive its output streams; the deadline still holds.
  int status = 0;
  while (true) {
    const pid_t done = ::waitpid(pid, &status, result.timed_out ? 0 : WNOHANG);
    if (done == pid) {
      break;
    }
    if (done < 0 && errno != EINTR) {
      throw_errno("run_process: waitpid");
    }
    if (!result.timed_out && Clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      result.timed_out = true;
      continue;
    }
    if (!result.timed_out) {
      const timespec pause{0, 1000 * 1000};
      ::nanosleep(&pause, nullptr);
    }
  }
  result.exit_code = exit_code_of(status);
  return result;
}

} // namespace zsimem::testing
