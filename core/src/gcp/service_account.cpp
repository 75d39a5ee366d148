#include "gcp/service_account.hpp"

#include <zsimem/error.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sstream>
#include <utility>

namespace zsimem::gcp {
namespace {

using Json = nlohmann::json;

// Tokens are renewed this long before they expire.
constexpr std::chrono::seconds k_renew_margin{60};
constexpr std::int64_t k_assertion_lifetime_s = 3600;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

std::string field(const Json& json, const char* name) {
  const auto it = json.find(name);
  return it != json.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// "scheme://host[:port]" and the path of a URL such as token_uri.
std::pair<std::string, std::string> split_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "https") != 0 && url.compare(0, scheme_end, "http") != 0)) {
    throw Error(ErrorCode::invalid, "token_uri '" + url + "' is not an http(s) URL", "token_uri");
  }
  const auto path_start = url.find('/', scheme_end + 3);
  if (path_start == std::string::npos) {
    return {url, "/"};
  }
  return {url.substr(0, path_start), url.substr(path_start)};
}

} // namespace

std::string base64url(std::string_view bytes) {
  static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned n = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16U) |
                       (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8U) |
                       static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 2]));
    out += k_alphabet[(n >> 18U) & 63U];
    out += k_alphabet[(n >> 12U) & 63U];
    out += k_alphabet[(n >> 6U) & 63U];
    out += k_alphabet[n & 63U];
  }
  if (i + 1 == bytes.size()) {
    const auto n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16U;
    out += k_alphabet[(n >> 18U) & 63U];
    out += k_alphabet[(n >> 12U) & 63U];
  } else if (i + 2 == bytes.size()) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16U) |
                   (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8U);
    out += k_alphabet[(n >> 18U) & 63U];
    out += k_alphabet[(n >> 12U) & 63U];
    out += k_alphabet[(n >> 6U) & 63U];
  }
  return out;
}

ServiceAccountKey parse_service_account_key(std::string_view json_text, const std::string& source) {
  const Json json = Json::parse(json_text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    throw Error(ErrorCode::invalid, source + " is not a JSON service account key file",
                "GOOGLE_APPLICATION_CREDENTIALS");
  }
  if (const auto type = field(json, "type"); type != "service_account") {
    throw Error(ErrorCode::invalid,
                source + " is not a service account key (its type is '" + type +
                    "'; zsimem needs a service account's JSON key)",
                "GOOGLE_APPLICATION_CREDENTIALS");
  }
  ServiceAccountKey key;
  key.client_email = field(json, "client_email");
  key.private_key = field(json, "private_key");
  key.private_key_id = field(json, "private_key_id");
  key.token_uri = field(json, "token_uri");
  key.project_id = field(json, "project_id");
  if (key.token_uri.empty()) {
    key.token_uri = "https://oauth2.googleapis.com/token";
  }
  for (const auto& [name, value] : {std::pair{"client_email", &key.client_email}, {"private_key", &key.private_key}}) {
    if (value->empty()) {
      throw Error(ErrorCode::invalid, source + " lacks " + std::string(name), "GOOGLE_APPLICATION_CREDENTIALS");
    }
  }
  return key;
}

ServiceAccountKey read_service_account_key(const std::string& path, const std::string& variable) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::invalid, variable + ": cannot read the key file '" + path + "'", variable);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_service_account_key(text.str(), variable + " ('" + path + "')");
}

std::string make_jwt_assertion(const ServiceAccountKey& key, std::string_view scope, Timestamp issued_at) {
  Json header{{"alg", "RS256"}, {"typ", "JWT"}};
  if (!key.private_key_id.empty()) {
    header["kid"] = key.private_key_id;
  }
  const std::int64_t iat = to_micros(issued_at) / 1'000'000;
  const Json claims{{"iss", key.client_email},
                    {"sub", key.client_email},
                    {"aud", key.token_uri},
                    {"scope", std::string(scope)},
                    {"iat", iat},
                    {"exp", iat + k_assertion_lifetime_s}};
  const std::string signing_input = base64url(header.dump()) + "." + base64url(claims.dump());

  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(key.private_key.data(), static_cast<int>(key.private_key.size())));
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                                               : nullptr);
  if (!pkey || EVP_PKEY_base_id(pkey.get()) != EVP_PKEY_RSA) {
    throw Error(ErrorCode::invalid, "the service account's private_key is not an RSA private key in PEM form",
                "GOOGLE_APPLICATION_CREDENTIALS");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    throw Error(ErrorCode::internal, "cannot sign the service account's JWT (OpenSSL)");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1) {
    throw Error(ErrorCode::internal, "cannot sign the service account's JWT (OpenSSL)");
  }
  signature.resize(length);
  return signing_input + "." + base64url(signature);
}

AccessTokenSource::AccessTokenSource(ServiceAccountKey key, std::string scope, std::chrono::milliseconds timeout)
    : m_key(std::move(key)), m_scope(std::move(scope)), m_timeout(timeout) {
  split_url(m_key.token_uri); // refuse a bad URL now, not at the first call
}

std::uint64_t AccessTokenSource::fetches() const {
  std::lock_guard lock(m_mutex);
  return m_fetches;
}

std::string AccessTokenSource::token() {
  std::lock_guard lock(m_mutex);
  const auto now_steady = std::chrono::steady_clock::now();
  if (!m_token.empty() && now_steady + k_renew_margin < m_expires) {
    return m_token;
  }
  const auto [base, path] = split_url(m_key.token_uri);
  const std::string assertion = make_jwt_assertion(m_key, m_scope, now());
  httplib::Client client(base);
  client.set_connection_timeout(m_timeout);
  client.set_read_timeout(m_timeout);
  client.set_write_timeout(m_timeout);
  if (base.starts_with("https")) {
    client.enable_server_certificate_verification(true);
  }
  const std::string body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + assertion;
  const auto result = client.Post(path, body, "application/x-www-form-urlencoded");
  ++m_fetches;
  if (!result) {
    throw Error(ErrorCode::unavailable, "cannot get a Google access token: cannot reach " + base + " (" +
                                            httplib::to_string(result.error()) + " error)");
  }
  const Json answer = Json::parse(result->body, nullptr, false);
  if (result->status != 200 || !answer.is_object() || !answer.contains("access_token") ||
      !answer["access_token"].is_string()) {
    std::string reason = "HTTP " + std::to_string(result->status);
    if (answer.is_object()) {
      const std::string error = field(answer, "error");
      const std::string description = field(answer, "error_description");
      if (!error.empty()) {
        reason += ": " + error + (description.empty() ? "" : " (" + description + ")");
      }
    }
    throw Error(ErrorCode::unavailable, "Google refused the service account " + m_key.client_email +
                                            "'s token request at " + m_key.token_uri + ": " + reason);
  }
  m_token = answer["access_token"].get<std::string>();
  std::int64_t lifetime = 3600;
  if (const auto it = answer.find("expires_in"); it != answer.end() && it->is_number_integer()) {
    lifetime = it->get<std::int64_t>();
  }
  m_expires = now_steady + std::chrono::seconds(lifetime);
  return m_token;
}

} // namespace zsimem::gcp
