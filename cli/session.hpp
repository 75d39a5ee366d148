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
  std::string policy;                        // a policy file: every operation must be allowed by it
  std::string token_file;                    // a file holding a bearer token to act as its subject
  std::string master_key_file;               // the master keys of encryption at rest
  std::vector<std::string> feature_settings; // --feature NAME=on|off, over ZSIMEM_FEATURES
};

// What every command needs: the options, the caller, and the service,
// opened on first use so that --help and usage errors touch no store.
class Session {
public:
  GlobalOptions options;
  std::vector<std::string> argv; // as the process got it, for handing over to zsimemd
  bool create_store = false;     // zsimem init: create the store's table if missing

  MemoryService& service();
  // The environment's service options with the policy and master keys the
  // options name.
  ServiceOptions service_options();
  // The store the options and the environment name.
  StoreConfig store_config() const;
  // The OS user, or the subject of the bearer token in --token-file or
  // ZSIMEM_TOKEN, checked against the policy.
  const Caller& caller();
  // The bearer token of --token-file, or else of ZSIMEM_TOKEN, surrounding
  // whitespace dropped; nullopt when neither is given. Throws
  // Error(unauthenticated) when it is empty. caller() checks it against the
  // local policy; `watch` sends it to the daemon, which checks it.
  std::optional<std::string> bearer_token() const;
  // --request-id, or else a new UUID: the same one for the whole run.
  const std::string& request_id();
  // The policy of --policy or ZSIMEM_POLICY, loaded on first use; null when
  // none is configured.
  std::shared_ptr<const Policy> policy();
  bool json_output() const;

private:
  std::unique_ptr<MemoryService> m_service;
  std::optional<Caller> m_caller;
  std::string m_request_id;
  std::optional<std::shared_ptr<const Policy>> m_policy;
};

// Reads a command's input argument: JSON text, @FILE, or - for standard
// input, refusing more than `limit` bytes.
std::string read_input_argument(const std::string& argument, std::size_t limit, const std::string& field);

// Reads a whole file (or standard input for "-"), without a limit.
std::string read_stream_argument(const std::string& argument);

} // namespace zsimem::cli
