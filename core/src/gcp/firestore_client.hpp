#pragma once

// A small client of Firestore's REST API (v1), written for the Firestore
// backend: there is no Google Cloud SDK for C++ in Debian. Internal to the
// core. Requests and answers are JSON text in Firestore's own shapes
// (documents with typed values: {"stringValue": "..."}), so this header
// stays free of nlohmann/json and cpp-httplib; the backend builds and reads
// them.

#include "gcp/service_account.hpp"
#include "net/http_pool.hpp"

#include <zsimem/error.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace zsimem::gcp {

// Everything a client needs; firestore_settings_from_env() fills it the way
// Google's own libraries do.
struct FirestoreSettings : net::HttpClientSettings {
  // "https://firestore.googleapis.com", or the emulator's "http://host:port".
  std::string base_url{"https://firestore.googleapis.com"};
  std::string project;
  std::string database{"(default)"};
  // Where access tokens come from; null for the emulator, which takes
  // "Authorization: Bearer owner" (full access, security rules bypassed).
  std::shared_ptr<AccessTokenSource> tokens;
};

// The scope the access tokens ask for.
inline constexpr std::string_view k_datastore_scope = "https://www.googleapis.com/auth/datastore";

// Whether `project` is a project id the client accepts: 1 to 100 lowercase
// letters, digits and '-' (and ':' and '.' of a domain-scoped id such as
// example.com:project), starting with a letter.
bool is_valid_project_id(std::string_view project);

// Reads the settings for `project` from the environment:
// - FIRESTORE_EMULATOR_HOST (host:port): the emulator, no credentials;
// - otherwise firestore.googleapis.com with the service account key file
//   GOOGLE_APPLICATION_CREDENTIALS names (required).
// Throws Error{invalid} naming the variable when something is missing or
// malformed.
FirestoreSettings firestore_settings_from_env(std::string project);

// A failure Firestore reported: the zsimem::Error its status maps to, plus
// Firestore's status name ("ALREADY_EXISTS") and the HTTP status. The
// message names the operation and the host and quotes Firestore's message.
class FirestoreError : public Error {
public:
  FirestoreError(ErrorCode code, const std::string& message, std::string status, int http_status);

  const std::string& status() const noexcept { return m_status; }
  int http_status() const noexcept { return m_http_status; }

private:
  std::string m_status;
  int m_http_status;
};

// A write's precondition was false (ALREADY_EXISTS for exists=false,
// FAILED_PRECONDITION for an updateTime, NOT_FOUND for exists=true): the
// commit wrote nothing. Code `conflict`; never retried.
class PreconditionFailed : public FirestoreError {
public:
  PreconditionFailed(const std::string& message, std::string status, int http_status);
};

// Sends Firestore REST calls over keep-alive connections (TCP_NODELAY; for
// https the server's certificate and name are verified against the
// system's CAs), with "Authorization: Bearer <token>".
//
// Errors:
// - ALREADY_EXISTS, FAILED_PRECONDITION (but a query's missing index) and
//   NOT_FOUND of a document: PreconditionFailed at once.
// - UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, DEADLINE_EXCEEDED, INTERNAL,
//   UNKNOWN, any 5xx, HTTP 429 and connection failures: retried with
//   full-jitter backoff up to max_attempts, then FirestoreError{unavailable}
//   naming the operation, the host, the attempts and the last message.
// - UNAUTHENTICATED, PERMISSION_DENIED, a missing database or project, a
//   missing index: FirestoreError{unavailable} at once.
// - INVALID_ARGUMENT about a size: FirestoreError{too_large}; any other 4xx:
//   FirestoreError{invalid}.
//
// A retried commit whose first attempt did reach Firestore (its answer was
// lost) runs twice; one with preconditions then fails them against its own
// first run, so the backend must read back before reporting a conflict.
//
// Thread safety: post() may be called from any number of threads at once.
class FirestoreClient {
public:
  explicit FirestoreClient(FirestoreSettings settings);
  ~FirestoreClient();
  FirestoreClient(const FirestoreClient&) = delete;
  FirestoreClient& operator=(const FirestoreClient&) = delete;

  // "projects/P/databases/D/documents": the prefix of every document name.
  std::string documents_root() const;

  // POSTs `json_body` to /v1/<documents_root()><suffix> (suffix ":commit",
  // ":batchGet", "/users/u:runQuery" ...) and returns Firestore's answer, a
  // JSON value as text. `operation` names the call in messages. Throws as
  // described above.
  std::string post(std::string_view operation, const std::string& suffix, const std::string& json_body);

  // HTTP attempts made by this client since its construction.
  std::uint64_t attempts() const noexcept { return m_attempts.load(std::memory_order_relaxed); }

  const FirestoreSettings& settings() const noexcept { return m_settings; }

private:
  FirestoreSettings m_settings;
  net::HttpPool m_pool;
  std::atomic<std::uint64_t> m_attempts{0};
};

} // namespace zsimem::gcp
