#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace zsimem::testing {

// How a child process ended and what it wrote.
struct ProcessResult {
  int exit_code = -1;     // the exit status, or 128 + the signal that killed it
  std::string out;        // everything written to standard output
  std::string err;        // everything written to standard error
  bool timed_out = false; // killed (SIGKILL, with its process group) after the timeout
};

// This process's environment with `extra_env` applied as run_process does.
std::vector<std::string> child_environment(const std::vector<std::string>& extra_env);

// Runs argv[0] (searched in PATH when it has no slash) with the arguments
// as given, no shell involved; feeds it `stdin_text` then end of file, and
// collects both output streams without deadlock however much either holds.
// `extra_env` entries NAME=VALUE set or override a variable of this
// process's environment; a bare NAME removes it. A process still running
// after `timeout` is killed. Throws std::runtime_error when argv[0] cannot
// be executed.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_text = {},
                          const std::vector<std::string>& extra_env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

} // namespace zsimem::testing
