#pragma once

// Bearer tokens minted at test time with OpenSSL, for the tests of the
// authenticator and of the daemon's authentication. Headers and claims are
// JSON text and keys are opaque, so that this header stays free of OpenSSL
// and nlohmann/json.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace zsimem::testing {

// Unpadded base64url (RFC 4648, section 5) of `bytes`.
std::string base64url(std::string_view bytes);

// The HMAC (raw bytes) of `data` keyed with `key`, with SHA-256 or SHA-512.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hmac_sha512(std::string_view key, std::string_view data);

// An RSA key pair that signs RS256 tokens. Making one takes a noticeable
// fraction of a second at 2048 bits: tests share theirs.
class RsaKey {
public:
  // Throws std::runtime_error when OpenSSL cannot make it.
  explicit RsaKey(std::size_t bits = 2048);
  ~RsaKey();
  RsaKey(const RsaKey&) = delete;
  RsaKey& operator=(const RsaKey&) = delete;

  // The public key as PEM (SubjectPublicKeyInfo), as a policy names it.
  std::string public_pem() const;
  // The private key as unencrypted PEM (PKCS #8).
  std::string private_pem() const;
  // The RSASSA-PKCS1-v1_5 SHA-256 signature of `data` (raw bytes): RS256's.
  std::string sign_sha256(std::string_view data) const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// The PEM public key of a fresh EC P-256 key: a public key that is not RSA.
std::string ec_public_pem();

inline constexpr std::string_view k_hs256_header = R"({"alg":"HS256","typ":"JWT"})";
inline constexpr std::string_view k_rs256_header = R"({"alg":"RS256","typ":"JWT"})";

// "base64url(header).base64url(claims)": what a JWT's signature covers.
std::string jwt_signing_input(std::string_view header_json, std::string_view claims_json);

// A compact JWT with these claims (a JSON object's text, or any text for
// tests of malformed payloads), signed HS256 with `secret`.
std::string hs256_jwt(std::string_view claims_json, std::string_view secret,
                      std::string_view header_json = k_hs256_header);

// A compact JWT with these claims, signed RS256 with `key`.
std::string rs256_jwt(std::string_view claims_json, const RsaKey& key, std::string_view header_json = k_rs256_header);

// A JWT over parts already encoded (e.g. ones that are not valid base64url),
// signed HS256 with `secret`.
std::string hs256_jwt_over(std::string_view header_part, std::string_view payload_part, std::string_view secret);

} // namespace zsimem::testing
