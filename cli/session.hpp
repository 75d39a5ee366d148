#pragma once

#include <zsimem/memory_service.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace zsimem::cli {

// How results are printed: text for people, JSON for scripts; `auto` picks
// text on a terminal and JSON otherwise.
enum class OutputFormat { automatic, text, json };

// Global options, given before (or after) the command.
struct GlobalOptions {
  std::string backend;
  std::string data_dir;
  std::string output = "auto";
  std::string request_id;
};

// What every command needs: the options, the caller, and the service,
// opened on first use so that --help and usage errors touch no store.
class Session {
public:
  GlobalOptions options;
  std::vector<std::string> argv; // as the process got it, for handing over to zsimemd

  MemoryService& service();
  // The store the options and the environment name.
  StoreConfig store_config() const;
  const Caller& caller();
  bool json_output() const;

private:
  std::unique_ptr<MemoryService> m_service;
  std::optional<Caller> m_caller;
};

// Reads a command's input argument: JSON text, @FILE, or - for standard
// input, refusing more than `limit` bytes.
std::string read_input_argument(const std::string& argument, std::size_t limit, const std::string& field);

// Reads a whole file (or standard input for "-"), without a limit.
std::string read_stream_argument(const std::string& argument);

} // namespace zsimem::cli
