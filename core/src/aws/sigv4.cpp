#include "aws/sigv4.hpp"

#include "crypto.hpp"

#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <openssl/crypto.h>
#include <span>

namespace zsimem::aws {
namespace {

using crypto::hmac_sha256;
using crypto::Mac;

constexpr std::string_view k_algorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view k_terminator = "aws4_request";

[[noreturn]] void refuse(const std::string& why, std::string field) {
  throw Error(ErrorCode::invalid, why, std::move(field));
}

const unsigned char* bytes_of(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

// RFC 9110 §5.6.2: a header name is a token.
bool is_token_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

// SigV4's header value: leading and trailing whitespace removed, every run
// of spaces (or tabs) inside made one space. Control characters other than
// tab would let a value break out of its header line, so they are refused.
std::string canonical_value(std::string_view name, std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      refuse("the value of header '" + std::string(name) + "' contains a control character", "headers");
    }
    if (pending_space) {
      out += ' ';
      pending_space = false;
    }
    out += ch;
  }
  return out;
}

bool is_amz_date(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') {
    return false;
  }
  for (std::size_t i = 0; i < 15; ++i) {
    if (i != 8 && (text[i] < '0' || text[i] > '9')) {
      return false;
    }
  }
  return true;
}

// RFC 3986 §5.2.4 on the segments, with empty segments dropped too ("//"),
// as AWS's non-S3 services do. A trailing slash (or a trailing "." or "..",
// which name a directory) is kept unless nothing is left but the root.
std::string normalize_path(std::string_view path) {
  std::vector<std::string_view> segments;
  bool trailing_slash = false;
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    trailing_slash = segment.empty() || segment == "." || segment == "..";
    if (segment == "..") {
      if (!segments.empty()) {
        segments.pop_back();
      }
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string out;
  for (const std::string_view segment : segments) {
    out += '/';
    out += segment;
  }
  if (out.empty() || trailing_slash) {
    out += '/';
  }
  return out;
}

} // namespace

std::string format_amz_date(Timestamp t) {
  using namespace std::chrono;
  const auto seconds = floor<std::chrono::seconds>(t);
  const auto day = floor<days>(seconds);
  const year_month_day date(day);
  const hh_mm_ss time(seconds - day);
  // Fixed-width, zero-padded decimal fields.
  const auto digits = [](long value, std::size_t width) {
    std::string text = std::to_string(value);
    return std::string(width > text.size() ? width - text.size() : 0, '0') + text;
  };
  return digits(static_cast<int>(date.year()), 4) + digits(static_cast<unsigned>(date.month()), 2) +
         digits(static_cast<unsigned>(date.day()), 2) + "T" + digits(time.hours().count(), 2) +
         digits(time.minutes().count(), 2) + digits(time.seconds().count(), 2) + "Z";
}

std::string uri_encode(std::string_view bytes, bool keep_slash) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += k_hex[c >> 4];
      out += k_hex[c & 0xf];
    }
  }
  return out;
}

std::string canonical_uri(std::string_view path, std::string_view service) {
  if (path.empty()) {
    return "/";
  }
  if (path.front() != '/') {
    refuse("the path must be absolute (start with '/')", "path");
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    refuse("the path must not contain '?' or '#': the query goes in its own field", "path");
  }
  // S3 signs the path as sent: object keys may hold "//", "." and "..".
  if (service == "s3") {
    return std::string(path);
  }
  return uri_encode(normalize_path(path), true);
}

std::string canonical_query_string(const std::vector<NameValue>& query) {
  std::vector<NameValue> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(uri_encode(name, false), uri_encode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) {
      out += '&';
    }
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::array<unsigned char, 32> derive_signing_key(std::string_view secret_access_key, std::string_view date,
                                                 std::string_view region, std::string_view service) {
  std::string secret = "AWS4";
  secret += secret_access_key;
  Mac key = hmac_sha256({bytes_of(secret), secret.size()}, date);
  OPENSSL_cleanse(secret.data(), secret.size());
  for (const std::string_view part : {region, service, k_terminator}) {
    const Mac next = hmac_sha256(key, part);
    key = next;
  }
  return key;
}

SignedRequest sign(const AwsCredentials& credentials, const SigningInput& input) {
  if (input.method.empty()) {
    refuse("the HTTP method is missing", "method");
  }
  if (input.host.empty()) {
    refuse("the host is missing", "host");
  }
  if (input.region.empty()) {
    refuse("the AWS region is missing", "region");
  }
  if (input.service.empty()) {
    refuse("the AWS service name is missing", "service");
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    refuse("the AWS access key id or secret access key is missing", "credentials");
  }
  if (!is_amz_date(input.amz_date)) {
    refuse("the signing time '" + input.amz_date + "' is not of the form YYYYMMDDTHHMMSSZ", "amz_date");
  }

  // Lowercase name -> canonical value; a repeated name's values are joined
  // with commas in the order given. std::map keeps them sorted.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : input.headers) {
    if (name.empty() ||
        !std::all_of(name.begin(), name.end(), [](char c) { return is_token_char(static_cast<unsigned char>(c)); })) {
      refuse("'" + name + "' is not a valid header name", "headers");
    }
    const std::string lower = lowercase(name);
    if (lower == "authorization") {
      refuse("the request to sign already has an Authorization header", "headers");
    }
    const auto [it, inserted] = headers.try_emplace(lower, canonical_value(name, value));
    if (!inserted) {
      it->second += ',';
      it->second += canonical_value(name, value);
    }
  }

  SignedRequest out;
  // Adds a header the caller has not set, or checks the one it has: a
  // different value would be sent unsigned, or signed but not sent.
  const auto require = [&](const std::string& name, const std::string& value, std::string field) {
    const auto [it, inserted] = headers.try_emplace(name, value);
    if (inserted) {
      out.headers_to_add.emplace_back(name, value);
    } else if (it->second != value) {
      refuse("the header " + name + " is '" + it->second + "' but the signer needs '" + value + "'", std::move(field));
    }
  };
  headers.try_emplace("host", canonical_value("host", input.host));
  require("x-amz-date", input.amz_date, "amz_date");
  if (!credentials.session_token.empty()) {
    require("x-amz-security-token", credentials.session_token, "credentials");
  }
  // S3 signs the value of x-amz-content-sha256 (which may be
  // UNSIGNED-PAYLOAD) in place of the payload's hash.
  std::string payload_hash;
  if (const auto it = headers.find("x-amz-content-sha256"); it != headers.end()) {
    payload_hash = it->second;
  } else {
    payload_hash = sha256_hex(input.body);
    if (input.add_content_sha256) {
      require("x-amz-content-sha256", payload_hash, "headers");
    }
  }

  std::string canonical_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ':' + value + '\n';
    if (!out.signed_headers.empty()) {
      out.signed_headers += ';';
    }
    out.signed_headers += name;
  }
  out.canonical_query = canonical_query_string(input.query);
  out.canonical_request = input.method + '\n' + canonical_uri(input.path, input.service) + '\n' + out.canonical_query +
                          '\n' + canonical_headers + '\n' + out.signed_headers + '\n' + payload_hash;

  const std::string_view date = std::string_view(input.amz_date).substr(0, 8);
  out.credential_scope = std::string(date) + '/' + input.region + '/' + input.service + '/' + std::string(k_terminator);
  out.string_to_sign = std::string(k_algorithm) + '\n' + input.amz_date + '\n' + out.credential_scope + '\n' +
                       sha256_hex(out.canonical_request);

  Mac key = derive_signing_key(credentials.secret_access_key, date, input.region, input.service);
  const Mac signature = hmac_sha256(key, out.string_to_sign);
  OPENSSL_cleanse(key.data(), key.size());
  out.signature = crypto::to_hex(signature);
  out.authorization = std::string(k_algorithm) + " Credential=" + credentials.access_key_id + '/' +
                      out.credential_scope + ", SignedHeaders=" + out.signed_headers + ", Signature=" + out.signature;
  out.headers_to_add.emplace_back("authorization", out.authorization);
  return out;
}

} // namespace zsimem::aws
