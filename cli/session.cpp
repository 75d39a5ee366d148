#include "session.hpp"

#include <zsimem/config.hpp>
#include <zsimem/encryption.hpp>
#include <zsimem/error.hpp>
#include <zsimem/identity.hpp>
#include <zsimem/policy.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <pwd.h>
#include <unistd.h>

namespace zsimem::cli {
namespace {

std::string os_user() {
  const uid_t uid = geteuid();
  if (const passwd* entry = getpwuid(uid); entry != nullptr && entry->pw_name != nullptr) {
    return entry->pw_name;
  }
  return "uid:" + std::to_string(uid);
}

std::string read_limited(std::istream& in, std::size_t limit, const std::string& field, const std::string& source) {
  std::string text;
  text.resize(limit + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    throw Error(ErrorCode::invalid, field + ": cannot read " + source);
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > limit) {
    throw Error(ErrorCode::too_large,
                field + ": " + source + " is larger than the limit of " + std::to_string(limit) +
                    " bytes (ZSIMEM_MAX_DELTA_BYTES)",
                field);
  }
  return text;
}

std::ifstream open_file(const std::string& path, const std::string& field) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw Error(ErrorCode::invalid, field + ": cannot open '" + path + "': " + std::strerror(errno), field);
  }
  return file;
}

} // namespace

StoreConfig Session::store_config() const {
  StoreConfig config = store_config_from_env();
  if (!options.backend.empty()) {
    config.backend = options.backend;
    config.store_name = store_name_from_env(config.backend);
  }
  if (!options.data_dir.empty()) {
    config.data_dir = options.data_dir;
  }
  config.create = create_store;
  return config;
}

MemoryService& Session::service() {
  if (!m_service) {
    m_service = std::make_unique<MemoryService>(open_store(store_config()), service_options());
  }
  return *m_service;
}

ServiceOptions Session::service_options() {
  ServiceOptions service_options = service_options_from_env();
  service_options.policy = policy();
  service_options.master_keys = master_keys_from_env(options.master_key_file);
  for (const auto& setting : options.feature_settings) {
    apply_feature_settings(service_options.features, setting, "--feature");
  }
  return service_options;
}

std::shared_ptr<const Policy> Session::policy() {
  if (!m_policy) {
    m_policy = options.policy.empty() ? nullptr : std::make_shared<const Policy>(Policy::load(options.policy));
  }
  return *m_policy;
}

// Never from an argument, which other users could read in the process list.
std::optional<std::string> Session::bearer_token() const {
  std::string token;
  if (!options.token_file.empty()) {
    std::ifstream file = open_file(options.token_file, "--token-file");
    token.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  } else if (const char* value = std::getenv("ZSIMEM_TOKEN"); value != nullptr) {
    token = value;
  } else {
    return std::nullopt;
  }
  const auto first = token.find_first_not_of(" \t\r\n");
  const auto last = token.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) {
    throw Error(ErrorCode::unauthenticated,
                options.token_file.empty() ? "the bearer token in ZSIMEM_TOKEN is empty"
                                           : "the bearer token in --token-file '" + options.token_file + "' is empty");
  }
  return token.substr(first, last - first + 1);
}

const std::string& Session::request_id() {
  if (m_request_id.empty()) {
    m_request_id = options.request_id.empty() ? new_request_id() : options.request_id;
  }
  return m_request_id;
}

const Caller& Session::caller() {
  if (!m_caller) {
    Caller caller{os_user(), request_id(), {}};
    caller.subject.id = caller.actor;
    if (const auto token = bearer_token()) {
      const auto checked_by = policy();
      if (!checked_by) {
        throw Error(ErrorCode::invalid,
                    "a bearer token (ZSIMEM_TOKEN or --token-file) is checked against a policy: give --policy or "
                    "ZSIMEM_POLICY",
                    "--policy");
      }
      caller.subject = Authenticator(checked_by->identity()).authenticate(*token, now());
      caller.actor = caller.subject.id;
    }
    m_caller = std::move(caller);
  }
  return *m_caller;
}

bool Session::json_output() const {
  if (options.output == "json") {
    return true;
  }
  if (options.output == "text") {
    return false;
  }
  return isatty(STDOUT_FILENO) == 0;
}

std::string read_input_argument(const std::string& argument, std::size_t limit, const std::string& field) {
  if (argument == "-") {
    return read_limited(std::cin, limit, field, "standard input");
  }
  if (argument.starts_with("@")) {
    auto file = open_file(argument.substr(1), field);
    return read_limited(file, limit, field, "'" + argument.substr(1) + "'");
  }
  if (argument.size() > limit) {
    throw Error(ErrorCode::too_large,
                field + ": " + std::to_string(argument.size()) + " bytes; the limit is " + std::to_string(limit) +
                    " (ZSIMEM_MAX_DELTA_BYTES)",
                field);
  }
  return argument;
}

std::string read_stream_argument(const std::string& argument) {
  if (argument == "-") {
    return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  }
  auto file = open_file(argument, "file");
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

} // namespace zsimem::cli
