#pragma once

// Google service-account credentials, written for the Firestore backend:
// there is no Google Cloud SDK for C++ in Debian. Internal to the core.
// A service account's JSON key file holds an RSA private key; an access
// token is obtained by signing a JWT with it (RS256) and exchanging the JWT
// at the key's token_uri (OAuth 2.0 JWT bearer grant, RFC 7523).

#include <zsimem/time.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace zsimem::gcp {

// What a service account's key file says (the fields zsimem uses).
struct ServiceAccountKey {
  std::string client_email;
  std::string private_key; // PEM, PKCS#8
  std::string private_key_id;
  std::string token_uri; // e.g. https://oauth2.googleapis.com/token
  std::string project_id;
};

// Parses a key file's text; Error{invalid} naming `source` (the file) when
// it is not a service account key or lacks a field. Never quotes the key.
ServiceAccountKey parse_service_account_key(std::string_view json_text, const std::string& source);

// Reads and parses the file `path` names; Error{invalid} naming the variable
// `variable` when it cannot be read.
ServiceAccountKey read_service_account_key(const std::string& path, const std::string& variable);

// The signed assertion (header.claims.signature, base64url) that asks for a
// token of `scope`: iss and sub the client email, aud the token_uri, iat
// `issued_at`, exp an hour later; signed RS256 with the key's private key.
// Error{invalid} when the private key cannot be loaded or is not RSA.
std::string make_jwt_assertion(const ServiceAccountKey& key, std::string_view scope, Timestamp issued_at);

// base64url without padding, as JWTs use it.
std::string base64url(std::string_view bytes);

// Gets and caches access tokens for one service account: token() returns
// the cached token until a minute before it expires, then fetches a new
// one (a POST of the signed assertion to token_uri). Thread-safe; one fetch
// at a time.
class AccessTokenSource {
public:
  AccessTokenSource(ServiceAccountKey key, std::string scope,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds{10'000});

  // A valid token; Error{unavailable} when token_uri cannot be reached or
  // refuses the assertion (its error, never the assertion, is quoted).
  std::string token();

  // Tokens fetched so far (for tests).
  std::uint64_t fetches() const;

  const ServiceAccountKey& key() const noexcept { return m_key; }

private:
  ServiceAccountKey m_key;
  std::string m_scope;
  std::chrono::milliseconds m_timeout;
  mutable std::mutex m_mutex;
  std::string m_token;
  std::chrono::steady_clock::time_point m_expires{};
  std::uint64_t m_fetches = 0;
};

} // namespace zsimem::gcp
