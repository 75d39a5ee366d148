#include "gcp/firestore_client.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace zsimem::gcp {
namespace {

constexpr std::size_t k_max_project_bytes = 100;

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return std::string(value);
}

// One failed attempt, as the caller will hear of it.
struct Failure {
  bool retryable = false;
  bool precondition = false;
  ErrorCode code = ErrorCode::unavailable;
  std::string status; // Firestore's status name, or "connection"
  std::string message;
  int http_status = 0;
};

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

Failure classify(int http_status, const std::string& body) {
  Failure failure;
  failure.http_status = http_status;
  const auto json = nlohmann::json::parse(body, nullptr, false);
  // An error is {"error": {...}}, or a one-element array of it (streaming calls).
  const nlohmann::json* error = nullptr;
  if (json.is_object() && json.contains("error")) {
    error = &json["error"];
  } else if (json.is_array() && !json.empty() && json[0].is_object() && json[0].contains("error")) {
    error = &json[0]["error"];
  }
  if (error != nullptr && error->is_object()) {
    failure.status = error->value("status", std::string{});
    failure.message = error->value("message", std::string{});
  }
  if (failure.status.empty()) {
    failure.status = "HTTP " + std::to_string(http_status);
  }
  if (failure.message.empty()) {
    failure.message = body.empty() || error != nullptr ? "no message" : body.substr(0, 200);
  }
  const std::string& status = failure.status;
  const std::string& message = failure.message;
  if (status == "FAILED_PRECONDITION" && contains(message, "index")) {
    failure.code = ErrorCode::unavailable; // a query needs an index (docs/firestore.md)
  } else if (status == "ALREADY_EXISTS" || status == "FAILED_PRECONDITION") {
    failure.precondition = true;
    failure.code = ErrorCode::conflict;
  } else if (status == "NOT_FOUND") {
    // A database or project that does not exist, or a document an
    // exists=true precondition needed.
    const bool database = contains(message, "does not exist for project") || contains(message, "The database") ||
                          contains(message, "project not found") || contains(message, "Project not found");
    failure.precondition = !database;
    failure.code = failure.precondition ? ErrorCode::conflict : ErrorCode::unavailable;
  } else if (http_status >= 500 || http_status == 429 || status == "UNAVAILABLE" || status == "RESOURCE_EXHAUSTED" ||
             status == "ABORTED" || status == "DEADLINE_EXCEEDED" || status == "INTERNAL" || status == "UNKNOWN") {
    failure.retryable = true;
    failure.code = ErrorCode::unavailable;
  } else if (status == "UNAUTHENTICATED" || status == "PERMISSION_DENIED" || http_status == 401 || http_status == 403) {
    failure.code = ErrorCode::unavailable;
  } else if (status == "INVALID_ARGUMENT" &&
             (contains(message, "exceeds the maximum") || contains(message, "too big") ||
              contains(message, "too large") || contains(message, "maximum allowed size"))) {
    failure.code = ErrorCode::too_large;
  } else {
    failure.code = ErrorCode::invalid;
  }
  return failure;
}

} // namespace

bool is_valid_project_id(std::string_view project) {
  if (project.empty() || project.size() > k_max_project_bytes || project.front() < 'a' || project.front() > 'z') {
    return false;
  }
  return std::all_of(project.begin(), project.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
  });
}

FirestoreSettings firestore_settings_from_env(std::string project) {
  FirestoreSettings settings;
  settings.project = std::move(project);
  if (const auto host = env("FIRESTORE_EMULATOR_HOST")) {
    const bool plausible = !host->empty() && host->find_first_of("/?#@ ") == std::string::npos;
    if (!plausible) {
      throw Error(ErrorCode::invalid,
                  "FIRESTORE_EMULATOR_HOST: '" + *host + "' is not host:port such as 127.0.0.1:8080",
                  "FIRESTORE_EMULATOR_HOST");
    }
    settings.base_url = "http://" + *host;
    return settings;
  }
  const auto file = env("GOOGLE_APPLICATION_CREDENTIALS");
  if (!file) {
    throw Error(ErrorCode::invalid,
                "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account's JSON key file "
                "(or FIRESTORE_EMULATOR_HOST to use the emulator)",
                "GOOGLE_APPLICATION_CREDENTIALS");
  }
  settings.tokens = std::make_shared<AccessTokenSource>(
      read_service_account_key(*file, "GOOGLE_APPLICATION_CREDENTIALS"), std::string(k_datastore_scope));
  return settings;
}

FirestoreError::FirestoreError(ErrorCode code, const std::string& message, std::string status, int http_status)
    : Error(code, message), m_status(std::move(status)), m_http_status(http_status) {}

PreconditionFailed::PreconditionFailed(const std::string& message, std::string status, int http_status)
    : FirestoreError(ErrorCode::conflict, message, std::move(status), http_status) {}

FirestoreClient::FirestoreClient(FirestoreSettings settings)
    : m_settings(std::move(settings)), m_pool(m_settings.base_url, m_settings.timeouts) {
  if (!m_settings.base_url.starts_with("http://") && !m_settings.base_url.starts_with("https://")) {
    throw Error(ErrorCode::invalid,
                "Firestore endpoint '" + m_settings.base_url + "': the scheme must be http or https", "endpoint");
  }
  if (!is_valid_project_id(m_settings.project)) {
    throw Error(ErrorCode::invalid,
                "Firestore project '" + m_settings.project +
                    "' is not a project id (lowercase letters, digits and '-', starting with a letter)",
                "FIRESTORE_PROJECT");
  }
  if (m_settings.max_attempts < 1) {
    m_settings.max_attempts = 1;
  }
}

FirestoreClient::~FirestoreClient() = default;

std::string FirestoreClient::documents_root() const {
  return "projects/" + m_settings.project + "/databases/" + m_settings.database + "/documents";
}

std::string FirestoreClient::post(std::string_view operation, const std::string& suffix, const std::string& json_body) {
  const std::string op(operation);
  const std::string path = "/v1/" + documents_root() + suffix;
  const std::string where = "Firestore " + op + " (" + m_settings.base_url + ", project " + m_settings.project + ")";

  Failure last;
  for (int attempt = 1;; ++attempt) {
    // Asked for each attempt: a token may expire between two.
    const std::string token = m_settings.tokens ? m_settings.tokens->token() : std::string("owner");
    const httplib::Headers headers{{"Authorization", "Bearer " + token}};
    auto client = m_pool.take();
    m_attempts.fetch_add(1, std::memory_order_relaxed);
    const httplib::Result result = client->Post(path, headers, json_body, "application/json");
    if (result) {
      const int status = result->status;
      std::string body = result->body;
      m_pool.give_back(std::move(client));
      if (status >= 200 && status < 300) {
        return body;
      }
      last = classify(status, body);
    } else {
      last = Failure{};
      last.retryable = true;
      last.status = "connection";
      last.message = m_pool.unreached(*client, result.error(), where);
    }
    if (last.precondition) {
      throw PreconditionFailed(where + ": a precondition failed (" + last.status + ": " + last.message + ")",
                               last.status, last.http_status);
    }
    if (!last.retryable) {
      std::string hint;
      if (last.status == "NOT_FOUND") {
        hint = " (does the project have a Firestore database?)";
      } else if (last.status == "FAILED_PRECONDITION") {
        hint = " (create the indexes docs/firestore.md lists)";
      }
      throw FirestoreError(last.code, where + ": " + last.status + ": " + last.message + hint, last.status,
                           last.http_status);
    }
    if (attempt >= m_settings.max_attempts) {
      throw FirestoreError(ErrorCode::unavailable,
                           where + " failed after " + std::to_string(attempt) +
                               (attempt == 1 ? " attempt: " : " attempts: ") + last.status + ": " + last.message,
                           last.status, last.http_status);
    }
    std::this_thread::sleep_for(m_settings.backoff(attempt));
  }
}

} // namespace zsimem::gcp
