#include "support/jwt_mint.hpp"

#include <array>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdexcept>

namespace zsimem::testing {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

// Throws, with OpenSSL's last error, when a call failed: a test helper that
// cannot mint its token must fail the test, not hand it a wrong token.
void check(bool ok, const char* what) {
  if (!ok) {
    std::array<char, 256> reason{};
    ERR_error_string_n(ERR_get_error(), reason.data(), reason.size());
    throw std::runtime_error(std::string("jwt_mint: ") + what + " failed: " + reason.data());
  }
}

const unsigned char* bytes_of(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  check(HMAC(md, key.data(), static_cast<int>(key.size()), bytes_of(data), data.size(), mac.data(), &length) != nullptr,
        "HMAC");
  return {reinterpret_cast<const char*>(mac.data()), length};
}

std::string bio_text(BIO* bio) {
  std::string text(BIO_ctrl_pending(bio), '\0');
  check(BIO_read(bio, text.data(), static_cast<int>(text.size())) == static_cast<int>(text.size()), "BIO_read");
  return text;
}

std::string public_pem_of(EVP_PKEY* key) {
  const BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  check(bio != nullptr && PEM_write_bio_PUBKEY(bio.get(), key) == 1, "PEM_write_bio_PUBKEY");
  return bio_text(bio.get());
}

} // namespace

std::string base64url(std::string_view bytes) {
  static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16 |
                   static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                   static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 2]));
    out += {k_alphabet[n >> 18], k_alphabet[(n >> 12) & 63], k_alphabet[(n >> 6) & 63], k_alphabet[n & 63]};
  }
  if (bytes.size() - i == 1) {
    const auto n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    out += {k_alphabet[n >> 18], k_alphabet[(n >> 12) & 63]};
  } else if (bytes.size() - i == 2) {
    const auto n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16 |
                   static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += {k_alphabet[n >> 18], k_alphabet[(n >> 12) & 63], k_alphabet[(n >> 6) & 63]};
  }
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) { return hmac(EVP_sha256(), key, data); }

std::string hmac_sha512(std::string_view key, std::string_view data) { return hmac(EVP_sha512(), key, data); }

struct RsaKey::Impl {
  PkeyPtr key{nullptr, &EVP_PKEY_free};
};

RsaKey::RsaKey(std::size_t bits) : m_impl(std::make_unique<Impl>()) {
  m_impl->key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  check(m_impl->key != nullptr, "RSA key generation");
}

RsaKey::~RsaKey() = default;

std::string RsaKey::public_pem() const { return public_pem_of(m_impl->key.get()); }

std::string RsaKey::private_pem() const {
  const BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  check(bio != nullptr &&
            PEM_write_bio_PrivateKey(bio.get(), m_impl->key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}

std::string RsaKey::sign_sha256(std::string_view data) const {
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  check(ctx != nullptr && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, m_impl->key.get()) == 1,
        "EVP_DigestSignInit");
  std::size_t length = 0;
  check(EVP_DigestSign(ctx.get(), nullptr, &length, bytes_of(data), data.size()) == 1, "EVP_DigestSign");
  std::string signature(length, '\0');
  check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, bytes_of(data),
                       data.size()) == 1,
        "EVP_DigestSign");
  signature.resize(length);
  return signature;
}

std::string ec_public_pem() {
  const PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), &EVP_PKEY_free);
  check(key != nullptr, "EC key generation");
  return public_pem_of(key.get());
}

std::string jwt_signing_input(std::string_view header_json, std::string_view claims_json) {
  return base64url(header_json) + "." + base64url(claims_json);
}

std::string hs256_jwt(std::string_view claims_json, std::string_view secret, std::string_view header_json) {
  const std::string input = jwt_signing_input(header_json, claims_json);
  return input + "." + base64url(hmac_sha256(secret, input));
}

std::string rs256_jwt(std::string_view claims_json, const RsaKey& key, std::string_view header_json) {
  const std::string input = jwt_signing_input(header_json, claims_json);
  return input + "." + base64url(key.sign_sha256(input));
}

std::string hs256_jwt_over(std::string_view header_part, std::string_view payload_part, std::string_view secret) {
  const std::string input = std::string(header_part) + "." + std::string(payload_part);
  return input + "." + base64url(hmac_sha256(secret, input));
}

} // namespace zsimem::testing
