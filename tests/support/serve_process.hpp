#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace zsimem::testing {

// A `zsimem serve` child process on a data directory, for tests that kill,
// pause or restart the daemon. Its standard error goes to `log`.
class ServeProcess {
public:
  struct Options {
    Options(std::string backend_name, std::filesystem::path data, std::filesystem::path log_file)
        : backend(std::move(backend_name)), data_dir(std::move(data)), log(std::move(log_file)) {}

    std::string backend;
    std::filesystem::path data_dir;
    std::filesystem::path log;
    int port = 0;                 // 0: the kernel chooses
    std::vector<std::string> env; // NAME=VALUE changes, as run_process takes them
    // More arguments of `serve`; a --listen among them replaces 127.0.0.1:port.
    std::vector<std::string> args;
  };

  // Starts the daemon and waits (up to 10 s) until it listens; throws
  // std::runtime_error with the log's text when it does not.
  explicit ServeProcess(Options options);
  // Stops it with SIGTERM if it still runs.
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return m_port; }
  pid_t pid() const { return m_pid; }
  // Sends SIGKILL to its process group and reaps it.
  void kill_now();
  // SIGSTOP / SIGCONT.
  void pause();
  void resume();
  // Waits for it to end by itself (a failpoint's crash); its wait status,
  // or -1 when it still runs after `timeout_ms`.
  int wait_for_exit(int timeout_ms);
  bool running() const { return m_pid > 0; }

private:
  pid_t m_pid = -1;
  int m_port = 0;
};

} // namespace zsimem::testing
