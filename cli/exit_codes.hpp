#pragma once

#include <zsimem/error.hpp>

// The one table of the CLI's exit codes (documented in zsimem(1)).
namespace zsimem::cli {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_other = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_not_found = 3;
inline constexpr int k_exit_conflict = 4;
inline constexpr int k_exit_invalid = 5;
inline constexpr int k_exit_denied = 6;
inline constexpr int k_exit_unavailable = 7;
inline constexpr int k_exit_timeout = 8;
inline constexpr int k_exit_verify_failed = 9;
inline constexpr int k_exit_disabled = 10;

constexpr int exit_code(ErrorCode code) {
  switch (code) {
  case ErrorCode::invalid:
  case ErrorCode::too_large: return k_exit_invalid;
  case ErrorCode::not_found: return k_exit_not_found;
  case ErrorCode::conflict: return k_exit_conflict;
  case ErrorCode::unauthenticated:
  case ErrorCode::denied: return k_exit_denied;
  case ErrorCode::unavailable: return k_exit_unavailable;
  case ErrorCode::timeout: return k_exit_timeout;
  case ErrorCode::disabled: return k_exit_disabled;
  case ErrorCode::internal: return k_exit_other;
  }
  return k_exit_other;
}

} // namespace zsimem::cli
