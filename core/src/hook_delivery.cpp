#include "file_io.hpp"

#include <zsimem/error.hpp>
#include <zsimem/hook_delivery.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace zsimem {
namespace {

using Clock = std::chrono::steady_clock;

Error failed(const HookSpec& hook, const std::string& why) {
  return Error(ErrorCode::unavailable, "hook '" + hook.name + "': " + why);
}

Error timed_out(const HookSpec& hook) {
  return Error(ErrorCode::timeout,
               "hook '" + hook.name + "': no answer within " + std::to_string(hook.timeout.count()) + " ms");
}

// What an answer means: nothing, or {"delta": {...}}.
HookAnswer parse_answer(const HookSpec& hook, std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return {};
  }
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    throw failed(hook, "its answer is not a JSON object");
  }
  const auto delta = json.find("delta");
  if (delta == json.end() || delta->is_null()) {
    return {};
  }
  if (!delta->is_object()) {
    throw failed(hook, "its answer's delta is not a JSON object (a merge patch)");
  }
  return HookAnswer{delta->dump()};
}

// The first line of a program's standard error, for a message.
std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return text.substr(0, std::min<std::size_t>(end == std::string::npos ? text.size() : end, 200));
}

// write() to a pipe whose reader may have exited, without the SIGPIPE that
// would kill this process: the signal is blocked in this thread for the
// write, and one it raised is taken before unblocking.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_signal;
  sigset_t previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
  const ssize_t written = ::write(fd, data, size);
  const int error = errno;
  if (written < 0 && error == EPIPE) {
    const timespec no_wait{0, 0};
    ::sigtimedwait(&pipe_signal, nullptr, &no_wait);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = error;
  return written;
}

// A pipe's two ends, each closed when reset or destroyed.
struct Pipe {
  file_io::UniqueFd read;
  file_io::UniqueFd write;
};

Pipe make_pipe() {
  std::array<int, 2> fds{-1, -1};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    throw Error(ErrorCode::unavailable, std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  return Pipe{file_io::UniqueFd(fds[0]), file_io::UniqueFd(fds[1])};
}

HookAnswer run_program(const HookSpec& hook, std::string_view event) {
  Pipe input = make_pipe();
  Pipe output = make_pipe();
  Pipe errors = make_pipe();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input.read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output.write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, errors.write.get(), STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP); // its own group: a timeout kills its children too
  posix_spawnattr_setpgroup(&attributes, 0);
  std::vector<char*> argv;
  for (const auto& word : hook.command) {
    argv.push_back(const_cast<char*>(word.c_str()));
  }
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    throw failed(hook, "cannot run " + hook.command.front() + ": " + std::strerror(spawned));
  }
  input.read.reset();
  output.write.reset();
  errors.write.reset();
  ::fcntl(input.write.get(), F_SETFL, O_NONBLOCK);

  const auto deadline = Clock::now() + hook.timeout;
  std::size_t written = 0;
  std::string out;
  std::string err;
  bool out_open = true;
  bool err_open = true;
  if (event.empty()) {
    input.write.reset();
  }
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw timed_out(hook);
    }
    std::array<pollfd, 3> fds{pollfd{output.read.get(), POLLIN, 0}, pollfd{errors.read.get(), POLLIN, 0},
                              pollfd{input.write.get(), POLLOUT, 0}};
    if (::poll(fds.data(), input.write.get() >= 0 ? 3 : 2, static_cast<int>(left)) < 0 && errno != EINTR) {
      break;
    }
    std::array<char, 4096> buffer{};
    for (auto [index, text, open] : {std::tuple{0, &out, &out_open}, std::tuple{1, &err, &err_open}}) {
      if (*open && (fds[static_cast<std::size_t>(index)].revents & (POLLIN | POLLHUP)) != 0) {
        const ssize_t n = ::read(fds[static_cast<std::size_t>(index)].fd, buffer.data(), buffer.size());
        if (n > 0) {
          text->append(buffer.data(), static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          *open = false;
        }
      }
    }
    if (input.write.get() >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t n = write_without_sigpipe(input.write.get(), event.data() + written, event.size() - written);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
      }
      if (written == event.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        input.write.reset(); // all of it, or the program stopped reading
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                              : "signal " + std::to_string(WTERMSIG(status));
    throw failed(hook, hook.command.front() + " ended with " + how + (err.empty() ? "" : ": " + first_line(err)));
  }
  return parse_answer(hook, out);
}

// The thread's keep-alive connection to a webhook's origin: a worker
// thread hands event after event to the same receiver, and a connection
// per event would cost both sides a handshake and a socket each time.
class WebhookConnections {
public:
  httplib::Client& get(const HookSpec& hook, const std::string& origin) {
    auto& client = m_clients[key(hook, origin)];
    if (!client) {
      client = std::make_unique<httplib::Client>(origin);
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(hook.timeout);
      const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(hook.timeout - seconds);
      client->set_connection_timeout(seconds.count(), micros.count());
      client->set_read_timeout(seconds.count(), micros.count());
      client->set_write_timeout(seconds.count(), micros.count());
      client->set_tcp_nodelay(true);
      client->set_keep_alive(true);
    }
    return *client;
  }
  // After a failure: the next request starts on a fresh connection.
  void drop(const HookSpec& hook, const std::string& origin) { m_clients.erase(key(hook, origin)); }

private:
  static std::string key(const HookSpec& hook, const std::string& origin) {
    return origin + " " + std::to_string(hook.timeout.count());
  }
  std::map<std::string, std::unique_ptr<httplib::Client>> m_clients;
};

HookAnswer post_webhook(const HookSpec& hook, std::string_view event, std::int64_t unix_seconds) {
  thread_local WebhookConnections connections;
  const auto scheme_end = hook.url.find("://");
  const auto path_start = scheme_end == std::string::npos ? std::string::npos : hook.url.find('/', scheme_end + 3);
  const std::string origin = hook.url.substr(0, path_start);
  const std::string path = path_start == std::string::npos ? "/" : hook.url.substr(path_start);
  httplib::Client& client = connections.get(hook, origin);
  if (!client.is_valid()) {
    connections.drop(hook, origin);
    throw failed(hook, "cannot use the url " + hook.url);
  }
  const httplib::Headers headers{{"X-Zsimem-Signature", webhook_signature(hook.secret, unix_seconds, event)},
                                 {"X-Zsimem-Hook", hook.name}};
  const auto started = Clock::now();
  const auto result = client.Post(path, headers, std::string(event), "application/json");
  if (!result || result->status < 200 || result->status > 299) {
    connections.drop(hook, origin);
  }
  if (!result) {
    if (result.error() == httplib::Error::Read || result.error() == httplib::Error::Write ||
        result.error() == httplib::Error::ConnectionTimeout) {
      if (Clock::now() - started >= hook.timeout) {
        throw timed_out(hook);
      }
    }
    throw failed(hook, "POST " + hook.url + ": " + httplib::to_string(result.error()));
  }
  if (result->status < 200 || result->status > 299) {
    throw failed(hook, "POST " + hook.url + " answered " + std::to_string(result->status));
  }
  return parse_answer(hook, result->body);
}

} // namespace

HookAnswer deliver_event(const HookSpec& hook, std::string_view event, std::int64_t unix_seconds) {
  switch (hook.kind) {
  case HookKind::program: return run_program(hook, event);
  case HookKind::webhook: return post_webhook(hook, event, unix_seconds);
  case HookKind::trend:
  case HookKind::goal: break;
  }
  throw Error(ErrorCode::invalid, "hook '" + hook.name + "' is built in (" + std::string(to_string(hook.kind)) +
                                      "): it runs in-process, not through deliver_event");
}

} // namespace zsimem
