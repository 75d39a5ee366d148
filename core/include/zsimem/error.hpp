#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace zsimem {

// The coarse kind of a failure. Front ends map it to exit codes and HTTP
// statuses in exactly one table each; nothing else decides those numbers.
enum class ErrorCode {
  invalid,         // the input is wrong: fix it and retry
  too_large,       // the input exceeds a documented limit
  not_found,       // the user, namespace or version does not exist
  conflict,        // the head moved under an optimistic-locking update
  unauthenticated, // no identity, or one that cannot be trusted (a bad or expired token)
  denied,          // a policy forbids the operation
  unavailable,     // the store cannot be reached or is damaged
  timeout,         // the store did not answer in time (e.g. a lock was held)
  disabled,        // the deployment switched the feature off (docs/features.md)
  internal,        // a bug: please report it
};

// Short stable name of a code ("not_found"), used in JSON output and logs.
std::string_view to_string(ErrorCode code);

// The one error type of the core. The message says what went wrong in words
// a person can act on; `field` names the offending input where there is one.
class Error : public std::runtime_error {
public:
  Error(ErrorCode code, const std::string& message, std::string field = {});

  ErrorCode code() const noexcept { return m_code; }
  const std::string& field() const noexcept { return m_field; }

  // For conflicts: the head version at the time, and the clashing JSON
  // pointers (empty for a strict-mode conflict).
  const std::string& current_version() const noexcept { return m_current_version; }
  const std::vector<std::string>& conflicting_paths() const noexcept { return m_paths; }

  static Error conflict(const std::string& message, std::string current_version, std::vector<std::string> paths = {});

private:
  ErrorCode m_code;
  std::string m_field;
  std::string m_current_version;
  std::vector<std::string> m_paths;
};

} // namespace zsimem
