#include <zsimem/error.hpp>

#include <utility>

namespace zsimem {

std::string_view to_string(ErrorCode code) {
  switch (code) {
  case ErrorCode::invalid: return "invalid";
  case ErrorCode::too_large: return "too_large";
  case ErrorCode::not_found: return "not_found";
  case ErrorCode::conflict: return "conflict";
  case ErrorCode::unauthenticated: return "unauthenticated";
  case ErrorCode::denied: return "denied";
  case ErrorCode::unavailable: return "unavailable";
  case ErrorCode::timeout: return "timeout";
  case ErrorCode::disabled: return "disabled";
  case ErrorCode::internal: return "internal";
  }
  return "internal";
}

Error::Error(ErrorCode code, const std::string& message, std::string field)
    : std::runtime_error(message), m_code(code), m_field(std::move(field)) {}

Error Error::conflict(const std::string& message, std::string current_version, std::vector<std::string> paths) {
  Error error(ErrorCode::conflict, message);
  error.m_current_version = std::move(current_version);
  error.m_paths = std::move(paths);
  return error;
}

} // namespace zsimem
