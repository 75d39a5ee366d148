#pragma once

// A small client of DynamoDB's JSON protocol (version 2012-08-10), written
// for the DynamoDB backend: there is no AWS SDK in Debian. Internal to the
// core. Requests and responses are JSON text in DynamoDB's own shapes
// (attribute values as {"S": "..."}, {"N": "..."}), so this header stays
// free of nlohmann/json and cpp-httplib; the backend builds and reads them.

#include "aws/sigv4.hpp"
#include "net/http_pool.hpp"

#include <zsimem/error.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace zsimem::aws {

// Where DynamoDB answers: "https://dynamodb.eu-west-1.amazonaws.com" or a
// local server such as "http://127.0.0.1:8000".
struct DynamoEndpoint {
  std::string scheme; // "http" or "https"
  std::string host;   // a name, an IPv4 address or an IPv6 one in brackets
  int port = 443;

  // "scheme://host:port".
  std::string url() const;
  // The Host header: the host, with ":port" unless it is the scheme's default.
  std::string host_header() const;
};

// Parses "http[s]://host[:port][/]"; throws Error{invalid} naming `field`
// for anything else (a path, a query, user info, another scheme, a bad port).
DynamoEndpoint parse_dynamo_endpoint(std::string_view url, std::string_view field = "endpoint");

// Everything a client needs; dynamo_settings_from_env() fills it the way
// AWS's own tools do (max_attempts: AWS_MAX_ATTEMPTS).
struct DynamoSettings : net::HttpClientSettings {
  DynamoEndpoint endpoint;
  std::string region;
  AwsCredentials credentials;
};

// Reads the settings from the environment:
// - region: AWS_REGION, else AWS_DEFAULT_REGION (required);
// - endpoint: AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL, else
//   https://dynamodb.REGION.amazonaws.com;
// - credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with
//   AWS_SESSION_TOKEN if set), else the profile AWS_PROFILE (or "default")
//   of the shared credentials file AWS_SHARED_CREDENTIALS_FILE (or
//   ~/.aws/credentials);
// - max_attempts: AWS_MAX_ATTEMPTS if set.
// Throws Error{invalid} naming the variable or file when something is
// missing or malformed; never quotes a secret.
DynamoSettings dynamo_settings_from_env();

// A failure DynamoDB reported: the zsimem::Error its code maps to, plus
// DynamoDB's error type (the part of `__type` after '#', e.g.
// "ResourceNotFoundException") and the HTTP status. The message names the
// operation and quotes AWS's message.
class DynamoError : public Error {
public:
  DynamoError(ErrorCode code, const std::string& message, std::string aws_type, int http_status);

  const std::string& aws_type() const noexcept { return m_aws_type; }
  int http_status() const noexcept { return m_http_status; }

private:
  std::string m_aws_type;
  int m_http_status;
};

// A conditional write's condition was false (ConditionalCheckFailedException):
// the compare-and-swap lost. Error code `conflict`; never retried. `body()`
// is DynamoDB's whole answer, which holds the item ("Item") when the request
// asked for ReturnValuesOnConditionCheckFailure=ALL_OLD.
class ConditionalCheckFailed : public DynamoError {
public:
  ConditionalCheckFailed(const std::string& message, std::string body);

  const std::string& body() const noexcept { return m_body; }

private:
  std::string m_body;
};

// Sends DynamoDB operations: POST / with X-Amz-Target
// "DynamoDB_20120810.<operation>", signed with SigV4 for service "dynamodb",
// over keep-alive connections (TCP_NODELAY; for https the server's
// certificate and name are verified against the system's CAs).
//
// Errors:
// - ConditionalCheckFailedException: throws ConditionalCheckFailed at once.
// - Throttling (ProvisionedThroughputExceededException, ThrottlingException,
//   RequestLimitExceeded, LimitExceededException,
//   TransactionInProgressException), InternalServerError,
//   ServiceUnavailable, any other 5xx, HTTP 429 and connection failures
//   (refused, reset, timed out): retried with full-jitter backoff up to
//   max_attempts, then DynamoError{unavailable} naming the operation, the
//   attempts and AWS's last message.
// - Credentials refused (UnrecognizedClientException,
//   InvalidSignatureException, AccessDeniedException, ExpiredToken...) and
//   a missing table (ResourceNotFoundException): DynamoError{unavailable},
//   at once: the store cannot serve until it is configured.
// - ItemCollectionSizeLimitExceededException and a ValidationException about
//   an item's size: DynamoError{too_large}.
// - Any other 4xx (ValidationException, SerializationException,
//   ResourceInUseException, ...): DynamoError{invalid} with AWS's message.
// - An https certificate that is not trusted: Error{unavailable}, at once.
//
// A retried write whose first attempt did reach DynamoDB (its answer was
// lost) runs twice; a conditional one then fails its condition against its
// own first run, so the backend must read back before reporting a conflict.
//
// Thread safety: call() may be called from any number of threads at once;
// each call takes an idle connection from a small pool (or opens one) and
// returns it afterwards, so calls run in parallel and connections are reused.
class DynamoClient {
public:
  explicit DynamoClient(DynamoSettings settings);
  ~DynamoClient();
  DynamoClient(const DynamoClient&) = delete;
  DynamoClient& operator=(const DynamoClient&) = delete;

  // Sends `operation` (e.g. "PutItem") with `json_body` (a JSON object) and
  // returns DynamoDB's answer, a JSON object as text. Throws as described
  // above.
  std::string call(std::string_view operation, const std::string& json_body);

  // HTTP attempts made by this client since its construction, over all
  // calls (for tests and metrics: a call that was retried counts more).
  std::uint64_t attempts() const noexcept { return m_attempts.load(std::memory_order_relaxed); }

  const DynamoSettings& settings() const noexcept { return m_settings; }

private:
  DynamoSettings m_settings;
  net::HttpPool m_pool;
  std::atomic<std::uint64_t> m_attempts{0};
};

} // namespace zsimem::aws
