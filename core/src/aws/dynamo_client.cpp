#include "aws/dynamo_client.hpp"

#include <zsimem/time.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pwd.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace zsimem::aws {
namespace {

constexpr const char* k_target_prefix = "DynamoDB_20120810.";
constexpr const char* k_content_type = "application/x-amz-json-1.0";

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return std::string(value);
}

std::string trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

// A region name as AWS writes them ("eu-west-1"): it ends up in a host name.
bool plausible_region(std::string_view region) {
  return !region.empty() && region.size() <= 64 && std::all_of(region.begin(), region.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
  });
}

std::filesystem::path home_directory() {
  if (auto home = env("HOME")) {
    return *home;
  }
  if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_dir != nullptr) {
    return entry->pw_dir;
  }
  return {};
}

// The profile's keys from a shared credentials file (INI: "[name]" sections
// of "key = value" lines, '#' and ';' starting comments); nullopt when the
// file has no such section.
std::optional<AwsCredentials> read_credentials_file(const std::filesystem::path& path, const std::string& profile,
                                                    const std::string& source) {
  std::ifstream in(path);
  if (!in) {
    return std::nullopt;
  }
  bool in_profile = false;
  bool found = false;
  AwsCredentials credentials;
  for (std::string line; std::getline(in, line);) {
    const std::string text = trimmed(line);
    if (text.empty() || text.front() == '#' || text.front() == ';') {
      continue;
    }
    if (text.front() == '[') {
      if (text.back() != ']') {
        throw Error(ErrorCode::invalid, source + ": a section header lacks its ']': " + text, source);
      }
      in_profile = trimmed(std::string_view(text).substr(1, text.size() - 2)) == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) {
      continue;
    }
    const auto equals = text.find('=');
    if (equals == std::string::npos) {
      continue; // nested settings such as "s3 =" continuation lines: not ours
    }
    const std::string key = trimmed(std::string_view(text).substr(0, equals));
    std::string value = trimmed(std::string_view(text).substr(equals + 1));
    if (key == "aws_access_key_id") {
      credentials.access_key_id = std::move(value);
    } else if (key == "aws_secret_access_key") {
      credentials.secret_access_key = std::move(value);
    } else if (key == "aws_session_token") {
      credentials.session_token = std::move(value);
    }
  }
  if (!found) {
    return std::nullopt;
  }
  return credentials;
}

AwsCredentials credentials_from_env() {
  const auto key_id = env("AWS_ACCESS_KEY_ID");
  const auto secret = env("AWS_SECRET_ACCESS_KEY");
  if (key_id || secret) {
    if (!key_id) {
      throw Error(ErrorCode::invalid, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not", "AWS_ACCESS_KEY_ID");
    }
    if (!secret) {
      throw Error(ErrorCode::invalid, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
                  "AWS_SECRET_ACCESS_KEY");
    }
    return AwsCredentials{*key_id, *secret, env("AWS_SESSION_TOKEN").value_or("")};
  }
  const auto named_file = env("AWS_SHARED_CREDENTIALS_FILE");
  const std::filesystem::path file =
      named_file ? std::filesystem::path(*named_file) : home_directory() / ".aws" / "credentials";
  const std::string profile = env("AWS_PROFILE").value_or("default");
  const std::string source = "credentials file '" + file.string() + "'";
  if (named_file && !std::filesystem::exists(file)) {
    throw Error(ErrorCode::invalid, "AWS_SHARED_CREDENTIALS_FILE: '" + file.string() + "' does not exist",
                "AWS_SHARED_CREDENTIALS_FILE");
  }
  const auto from_file = read_credentials_file(file, profile, source);
  if (!from_file) {
    throw Error(ErrorCode::invalid,
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile '" + profile +
                    "' in the shared credentials file '" + file.string() +
                    "' (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE)",
                "AWS_ACCESS_KEY_ID");
  }
  if (from_file->access_key_id.empty() || from_file->secret_access_key.empty()) {
    throw Error(ErrorCode::invalid,
                source + ": profile '" + profile + "' lacks " +
                    (from_file->access_key_id.empty() ? "aws_access_key_id" : "aws_secret_access_key"),
                "AWS_PROFILE");
  }
  return *from_file;
}

// The error type of an error body: the part of `__type` after '#'.
std::string short_type(std::string_view type) {
  const auto hash = type.rfind('#');
  return std::string(hash == std::string_view::npos ? type : type.substr(hash + 1));
}

bool is_throttling(std::string_view type) {
  static constexpr std::array<std::string_view, 7> k_types{
      "ProvisionedThroughputExceededException",
      "ThrottlingException",
      "Throttling",
      "RequestLimitExceeded",
      "LimitExceededException",
      "TransactionInProgressException",
      "TooManyRequestsException",
  };
  return std::find(k_types.begin(), k_types.end(), type) != k_types.end();
}

bool is_credentials_refusal(std::string_view type) {
  static constexpr std::array<std::string_view, 9> k_types{
      "UnrecognizedClientException", "InvalidSignatureException",
      "AccessDeniedException",       "MissingAuthenticationTokenException",
      "MissingAuthenticationToken",  "IncompleteSignatureException",
      "ExpiredTokenException",       "InvalidClientTokenId",
      "SignatureDoesNotMatch",
  };
  return std::find(k_types.begin(), k_types.end(), type) != k_types.end();
}

// One failed attempt, as the caller will hear of it.
struct Failure {
  bool retryable = false;
  ErrorCode code = ErrorCode::unavailable;
  std::string type; // DynamoDB's error type, or a transport error's name
  std::string message;
  int status = 0;
  bool condition_failed = false;
  std::string body;
};

Failure classify(int status, const std::string& body) {
  Failure failure;
  failure.status = status;
  std::string type;
  std::string message;
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object()) {
    if (const auto at = json.find("__type"); at != json.end() && at->is_string()) {
      type = short_type(at->get<std::string>());
    }
    for (const char* key : {"message", "Message"}) {
      if (const auto at = json.find(key); at != json.end() && at->is_string()) {
        message = at->get<std::string>();
        break;
      }
    }
  }
  if (type.empty()) {
    type = "HTTP " + std::to_string(status);
  }
  if (message.empty()) {
    message = json.is_object() || body.empty() ? "no message" : body.substr(0, 200);
  }
  failure.type = type;
  failure.message = message;
  if (type == "ConditionalCheckFailedException") {
    failure.condition_failed = true;
    failure.code = ErrorCode::conflict;
    failure.body = body;
  } else if (status >= 500 || status == 429 || is_throttling(type) || type == "InternalServerError" ||
             type == "ServiceUnavailable" || type == "ServiceUnavailableException") {
    failure.retryable = true;
    failure.code = ErrorCode::unavailable;
  } else if (is_credentials_refusal(type) || type == "ResourceNotFoundException") {
    failure.code = ErrorCode::unavailable;
  } else if (type == "ItemCollectionSizeLimitExceededException" ||
             (type == "ValidationException" && message.find("size has exceeded") != std::string::npos)) {
    failure.code = ErrorCode::too_large;
  } else {
    failure.code = ErrorCode::invalid;
  }
  return failure;
}

// `text` with every secret of `credentials` masked: AWS's messages about a
// signature quote the canonical request, which holds the session token.
std::string redacted(std::string text, const AwsCredentials& credentials, const std::string& signature) {
  for (const std::string* secret : {&credentials.secret_access_key, &credentials.session_token, &signature}) {
    if (secret->size() < 4) {
      continue;
    }
    for (std::size_t at; (at = text.find(*secret)) != std::string::npos;) {
      text.replace(at, secret->size(), "[redacted]");
    }
  }
  return text;
}

} // namespace

std::string DynamoEndpoint::url() const { return scheme + "://" + host + ":" + std::to_string(port); }

std::string DynamoEndpoint::host_header() const {
  const bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  return default_port ? host : host + ":" + std::to_string(port);
}

DynamoEndpoint parse_dynamo_endpoint(std::string_view url, std::string_view field) {
  const std::string name(field);
  const auto bad = [&](const std::string& why) {
    return Error(ErrorCode::invalid,
                 name + ": '" + std::string(url) +
                     "' is not an endpoint such as https://dynamodb.eu-west-1.amazonaws.com"
                     " or http://127.0.0.1:8000 (" +
                     why + ")",
                 name);
  };
  DynamoEndpoint endpoint;
  std::string_view rest;
  if (url.starts_with("https://")) {
    endpoint.scheme = "https";
    endpoint.port = 443;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    endpoint.scheme = "http";
    endpoint.port = 80;
    rest = url.substr(7);
  } else {
    throw bad("the scheme must be http or https");
  }
  if (rest.ends_with('/')) {
    rest.remove_suffix(1);
  }
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    throw bad("only a scheme, a host and a port are allowed");
  }
  std::string_view port_text;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      throw bad("an IPv6 address lacks its ']'");
    }
    endpoint.host = std::string(rest.substr(0, close + 1));
    const auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        throw bad("unexpected text after the host");
      }
      port_text = after.substr(1);
      if (port_text.empty()) {
        throw bad("the port is empty");
      }
    }
  } else {
    const auto colon = rest.find(':');
    endpoint.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) {
        throw bad("the port is empty");
      }
    }
  }
  if (endpoint.host.empty() || endpoint.host == "[]") {
    throw bad("the host is empty");
  }
  if (!port_text.empty()) {
    if (!all_digits(port_text) || port_text.size() > 5) {
      throw bad("the port is not a number");
    }
    const int port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535) {
      throw bad("the port is out of range");
    }
    endpoint.port = port;
  }
  return endpoint;
}

DynamoSettings dynamo_settings_from_env() {
  DynamoSettings settings;
  const auto region = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
  const char* region_variable = env("AWS_REGION") ? "AWS_REGION" : "AWS_DEFAULT_REGION";
  if (!region) {
    throw Error(ErrorCode::invalid, "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), e.g. AWS_REGION=eu-west-1",
                "AWS_REGION");
  }
  if (!plausible_region(*region)) {
    throw Error(ErrorCode::invalid,
                std::string(region_variable) + ": '" + *region + "' is not a region name such as eu-west-1",
                region_variable);
  }
  settings.region = *region;
  if (const auto url = env("AWS_ENDPOINT_URL_DYNAMODB")) {
    settings.endpoint = parse_dynamo_endpoint(*url, "AWS_ENDPOINT_URL_DYNAMODB");
  } else if (const auto general = env("AWS_ENDPOINT_URL")) {
    settings.endpoint = parse_dynamo_endpoint(*general, "AWS_ENDPOINT_URL");
  } else {
    settings.endpoint = parse_dynamo_endpoint("https://dynamodb." + settings.region + ".amazonaws.com");
  }
  if (const auto attempts = env("AWS_MAX_ATTEMPTS")) {
    if (!all_digits(*attempts) || attempts->size() > 3 || std::stoi(*attempts) < 1) {
      throw Error(ErrorCode::invalid, "AWS_MAX_ATTEMPTS: '" + *attempts + "' is not a number from 1 to 999",
                  "AWS_MAX_ATTEMPTS");
    }
    settings.max_attempts = std::stoi(*attempts);
  }
  settings.credentials = credentials_from_env();
  return settings;
}

DynamoError::DynamoError(ErrorCode code, const std::string& message, std::string aws_type, int http_status)
    : Error(code, message), m_aws_type(std::move(aws_type)), m_http_status(http_status) {}

ConditionalCheckFailed::ConditionalCheckFailed(const std::string& message, std::string body)
    : DynamoError(ErrorCode::conflict, message, "ConditionalCheckFailedException", 400), m_body(std::move(body)) {}

DynamoClient::DynamoClient(DynamoSettings settings)
    : m_settings(std::move(settings)), m_pool(m_settings.endpoint.url(), m_settings.timeouts) {
  if (m_settings.endpoint.scheme != "http" && m_settings.endpoint.scheme != "https") {
    throw Error(ErrorCode::invalid, "DynamoDB endpoint: the scheme must be http or https", "endpoint");
  }
  if (m_settings.endpoint.host.empty()) {
    throw Error(ErrorCode::invalid, "DynamoDB endpoint: the host is empty", "endpoint");
  }
  if (m_settings.max_attempts < 1) {
    m_settings.max_attempts = 1;
  }
}

DynamoClient::~DynamoClient() = default;

std::string DynamoClient::call(std::string_view operation, const std::string& json_body) {
  const std::string op(operation);
  if (op.empty() ||
      !std::all_of(op.begin(), op.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); })) {
    throw Error(ErrorCode::invalid, "DynamoDB operation '" + op + "' is not a name such as PutItem", "operation");
  }
  Failure last;
  for (int attempt = 1;; ++attempt) {
    // Signed anew for each attempt: the date is part of the signature.
    SigningInput input;
    input.method = "POST";
    input.host = m_settings.endpoint.host_header();
    input.path = "/";
    input.headers = {{"Host", input.host}, {"Content-Type", k_content_type}, {"X-Amz-Target", k_target_prefix + op}};
    input.body = json_body;
    input.region = m_settings.region;
    input.service = "dynamodb";
    input.amz_date = format_amz_date(now());
    const SignedRequest signed_request = sign(m_settings.credentials, input);
    httplib::Headers headers{{"Host", input.host}, {"X-Amz-Target", k_target_prefix + op}};
    for (const auto& [name, value] : signed_request.headers_to_add) {
      headers.emplace(name, value);
    }

    auto client = m_pool.take();
    m_attempts.fetch_add(1, std::memory_order_relaxed);
    const httplib::Result result = client->Post("/", headers, json_body, k_content_type);
    if (result) {
      const int status = result->status;
      std::string body = result->body;
      m_pool.give_back(std::move(client));
      if (status >= 200 && status < 300) {
        return body;
      }
      last = classify(status, body);
      last.message = redacted(last.message, m_settings.credentials, signed_request.signature);
    } else {
      last = Failure{};
      last.retryable = true;
      last.code = ErrorCode::unavailable;
      last.type = "connection";
      last.message = m_pool.unreached(*client, result.error(), "DynamoDB " + op);
    }

    if (last.condition_failed) {
      throw ConditionalCheckFailed("DynamoDB " + op + ": the condition failed (" + last.message + ")",
                                   std::move(last.body));
    }
    if (!last.retryable) {
      throw DynamoError(last.code, "DynamoDB " + op + ": " + last.type + ": " + last.message, last.type, last.status);
    }
    if (attempt >= m_settings.max_attempts) {
      throw DynamoError(ErrorCode::unavailable,
                        "DynamoDB " + op + " failed after " + std::to_string(attempt) +
                            (attempt == 1 ? " attempt: " : " attempts: ") + last.type + ": " + last.message,
                        last.type, last.status);
    }
    std::this_thread::sleep_for(m_settings.backoff(attempt));
  }
}

} // namespace zsimem::aws
