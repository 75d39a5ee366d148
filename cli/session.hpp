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
  std::string policy;     // a policy file: every operation must be allowed by it
  std::string token_file; // a file holding a bearer token to act as its subject
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
  // The OS user, or the subject of the bearer token in --token-file or
  // ZSIMEM_TOKEN, checked against the policy.
  const Caller& caller();
  // The policy of --policy or ZSIMEM_POLICY, loaded on first use; null when
  // none is configured.
  std::shared_ptr<const Policy> policy();
  bool json_output() const;

private:
  std::unique_ptr<MemoryService> m_service;
  std::optional<Caller> m_caller;
  std::optional<std::shared_ptr<const Policy>> m_policy;
};

// Reads a command's input argument: JSON text, @FILE, or - for standard
// input, refusing more than `limit` bytes.
std::string read_input_argument(const std::string& argument, std::size_t limit, const std::string& field);

// Reads a whole file (or standard input for "-"), without a limit.
std::string read_stream_argument(const std::string& argument);

} // namespace zsimem::cli
