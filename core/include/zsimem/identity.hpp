#pragma once

// Who is calling: a subject with roles and attributes, and how a front end
// establishes one from a bearer token (a static API token or a JWT).
// docs/security.md describes the rules; policy.hpp decides what a subject
// may do.

#include <zsimem/time.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zsimem {

struct Subject {
  std::string id; // "sub": the OS user of the CLI, or a token's subject
  std::vector<std::string> roles;
  // Further claims, by name ("tenant", "email", …), as text. `id` is "sub".
  std::map<std::string, std::string, std::less<>> attributes;
};

// A static API token, known only by its hash.
struct ApiToken {
  std::string sha256_hex; // SHA-256 of the token's bytes, lowercase hex
  Subject subject;
};

// How JWTs are checked. A token must be signed with an algorithm that has a
// key here; "none" and every other algorithm are refused.
struct JwtSettings {
  std::string hs256_secret;         // empty: HS256 tokens are refused
  std::string rs256_public_key_pem; // empty: RS256 tokens are refused
  std::string issuer;               // when set, "iss" must equal it
  std::string audience;             // when set, "aud" (a string or an array) must contain it
  std::string roles_claim = "roles";
  std::chrono::seconds leeway{30}; // clock skew allowed on "exp" and "nbf"
};

struct IdentitySettings {
  std::vector<ApiToken> tokens;
  std::optional<JwtSettings> jwt;
};

class Authenticator {
public:
  // Throws Error(invalid) when a key cannot be used: a malformed PEM, an RSA
  // key under 2048 bits, an HS256 secret under 32 bytes, an API token hash
  // that is not 64 hex digits or is listed twice, a negative leeway.
  explicit Authenticator(IdentitySettings settings);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // The subject a bearer token (without its "Bearer " prefix) stands for, at
  // time `now`: a configured API token's subject, else a verified JWT's claims.
  // Throws Error(unauthenticated) saying why a token is refused (expired, bad
  // signature, unknown …), never quoting the token or a secret.
  Subject authenticate(std::string_view token, Timestamp now) const;

private:
  struct Keys;
  IdentitySettings m_settings;
  std::unique_ptr<Keys> m_keys;
};

} // namespace zsimem
