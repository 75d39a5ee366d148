#pragma once

// AWS Signature Version 4 (header form, AWS4-HMAC-SHA256), written for the
// DynamoDB backend: there is no AWS SDK in Debian. Internal to the core.
//
// The steps follow AWS's description of the signing process: a canonical
// request, a string to sign over its hash, a signing key derived from the
// secret and the credential scope, and an HMAC of the one with the other.
// Each step is exposed so the tests can check it against AWS's published
// examples and test suite.

#include <zsimem/time.hpp>

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zsimem::aws {

// One query parameter or header: a name and a value.
using NameValue = std::pair<std::string, std::string>;

// What signs a request: an access key, its secret and, for temporary
// credentials (STS), the session token, empty otherwise.
struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
};

// The request to sign.
struct SigningInput {
  // The HTTP method, e.g. "POST"; used as given.
  std::string method;
  // The Host header the request is sent with (with ":port" when not the
  // default one). Added as the `host` header unless `headers` has one.
  std::string host;
  // The absolute path as written on the request line ("/" for DynamoDB).
  // Outside S3 it is normalized (RFC 3986 dot segments and empty segments
  // removed) and URI-encoded once more, as AWS's non-S3 services do, so a
  // path the caller has percent-encoded is signed double-encoded ("%20"
  // becomes "%2520"). For service "s3" it is signed exactly as written.
  std::string path = "/";
  // The query parameters, raw (not percent-encoded), in any order.
  std::vector<NameValue> query;
  // The headers to sign, names in any case. All of them are signed, and all
  // of them must be sent as given; repeated names are joined with commas in
  // the order given.
  std::vector<NameValue> headers;
  // The payload, hashed into the signature.
  std::string body;
  std::string region;
  std::string service;
  // The signing time, "YYYYMMDDTHHMMSSZ" (see format_amz_date()).
  std::string amz_date;
  // Also sign and send `x-amz-content-sha256` (S3 requires it; DynamoDB
  // does not).
  bool add_content_sha256 = false;
};

// A signed request: the headers to send on top of SigningInput::headers,
// and the intermediate steps for the tests.
struct SignedRequest {
  std::string canonical_request;
  std::string string_to_sign;
  // "20150830/us-east-1/iam/aws4_request".
  std::string credential_scope;
  // "content-type;host;x-amz-date": the lowercase names signed, sorted.
  std::string signed_headers;
  // Lowercase hex of the HMAC-SHA256.
  std::string signature;
  // The value of the Authorization header.
  std::string authorization;
  // The canonical query string, which is also what to send after '?'.
  std::string canonical_query;
  // Headers the signer added and the caller must send, with Authorization
  // last: x-amz-date, x-amz-security-token, x-amz-content-sha256 (each only
  // when the input did not already have it).
  std::vector<NameValue> headers_to_add;
};

// The time as SigV4 writes it: "20150830T123600Z" (UTC, whole seconds).
std::string format_amz_date(Timestamp t);

// RFC 3986 percent-encoding as SigV4 defines it: A-Z a-z 0-9 - _ . ~ kept,
// every other byte %XX with uppercase hex; '/' kept only when `keep_slash`.
std::string uri_encode(std::string_view bytes, bool keep_slash);

// The canonical URI of `path` for `service` (see SigningInput::path).
std::string canonical_uri(std::string_view path, std::string_view service);

// Each name and value URI-encoded, sorted by name then value, joined
// "name=value&...". Empty when there are no parameters.
std::string canonical_query_string(const std::vector<NameValue>& query);

// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
// "aws4_request"), `date` being "YYYYMMDD".
std::array<unsigned char, 32> derive_signing_key(std::string_view secret_access_key, std::string_view date,
                                                 std::string_view region, std::string_view service);

// Signs `input` with `credentials`. Throws Error{invalid} naming the field
// when the input cannot be signed (a missing method, host, region, service
// or key, a malformed amz_date, a header name or value that cannot go on
// the wire, an Authorization header, or a conflicting x-amz-date).
SignedRequest sign(const AwsCredentials& credentials, const SigningInput& input);

} // namespace zsimem::aws
