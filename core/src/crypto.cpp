#include "crypto.hpp"

#include <zsimem/error.hpp>

#include <climits>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <memory>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace zsimem::crypto {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const unsigned char* bytes_of(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }
unsigned char* bytes_of(std::string& text) { return reinterpret_cast<unsigned char*>(text.data()); }

int int_size(std::size_t size) {
  if (size > static_cast<std::size_t>(INT_MAX)) {
    throw Error(ErrorCode::too_large, "cannot encrypt more than 2 GiB at once");
  }
  return static_cast<int>(size);
}

[[noreturn]] void cipher_failed() { throw Error(ErrorCode::unavailable, "AES-256-GCM failed inside OpenSSL"); }

// Fetched once: passing EVP_aes_256_gcm() to every init makes OpenSSL 3
// look the implementation up, under a lock, each time.
const EVP_CIPHER* aes_256_gcm() {
  static const EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) {
    cipher_failed();
  }
  return cipher;
}

CipherCtx new_context() {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) {
    cipher_failed();
  }
  return ctx;
}

constexpr std::string_view k_base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::uint8_t k_not_base64 = 0xff;

// Each byte's value in the alphabet, or k_not_base64.
constexpr std::array<std::uint8_t, 256> k_base64_values = [] {
  std::array<std::uint8_t, 256> values{};
  values.fill(k_not_base64);
  for (std::size_t i = 0; i < k_base64_alphabet.size(); ++i) {
    values[static_cast<unsigned char>(k_base64_alphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return values;
}();

} // namespace

Key::Key(std::span<const unsigned char, k_key_bytes> bytes) { std::copy(bytes.begin(), bytes.end(), m_bytes.begin()); }

Key& Key::operator=(const Key& other) {
  m_bytes = other.m_bytes;
  return *this;
}

Key::~Key() { OPENSSL_cleanse(m_bytes.data(), m_bytes.size()); }

Key Key::random() {
  Key key;
  random_bytes(key.m_bytes);
  return key;
}

void random_bytes(std::span<unsigned char> out) {
  if (RAND_bytes(out.data(), int_size(out.size())) != 1) {
    throw Error(ErrorCode::unavailable, "the system's random source failed");
  }
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  random_bytes({bytes_of(raw), raw.size()});
  return to_hex({bytes_of(std::string_view(raw)), raw.size()});
}

std::string seal(const Key& key, std::string_view plaintext, std::string_view aad) {
  std::string box(k_nonce_bytes + plaintext.size() + k_tag_bytes, '\0');
  unsigned char* nonce = bytes_of(box);
  unsigned char* ciphertext = nonce + k_nonce_bytes;
  random_bytes({nonce, k_nonce_bytes});
  const CipherCtx ctx = new_context();
  int length = 0;
  if (EVP_EncryptInit_ex(ctx.get(), aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, bytes_of(aad), int_size(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ciphertext, &length, bytes_of(plaintext), int_size(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ciphertext + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(k_tag_bytes),
                          ciphertext + plaintext.size()) != 1) {
    cipher_failed();
  }
  return box;
}

std::optional<std::string> open(const Key& key, std::string_view box, std::string_view aad) {
  if (box.size() < k_nonce_bytes + k_tag_bytes) {
    return std::nullopt;
  }
  const std::size_t size = box.size() - k_nonce_bytes - k_tag_bytes;
  const unsigned char* nonce = bytes_of(box);
  const unsigned char* ciphertext = nonce + k_nonce_bytes;
  // OpenSSL takes the expected tag through a non-const pointer.
  std::array<unsigned char, k_tag_bytes> tag{};
  std::copy_n(ciphertext + size, k_tag_bytes, tag.begin());
  std::string plaintext(size, '\0');
  const CipherCtx ctx = new_context();
  int length = 0;
  if (EVP_DecryptInit_ex(ctx.get(), aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, bytes_of(aad), int_size(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), bytes_of(plaintext), &length, ciphertext, int_size(size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(k_tag_bytes), tag.data()) != 1) {
    cipher_failed();
  }
  // Only the final step checks the tag: a mismatch means altered or wrongly keyed.
  if (EVP_DecryptFinal_ex(ctx.get(), bytes_of(plaintext) + length, &length) != 1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return std::nullopt;
  }
  return plaintext;
}

Mac hmac_sha256(std::span<const unsigned char> key, std::string_view data) {
  if (key.size() > static_cast<std::size_t>(INT_MAX)) {
    throw Error(ErrorCode::too_large, "an HMAC key longer than 2 GiB cannot be used");
  }
  Mac out{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), out.data(), &length) == nullptr ||
      length != out.size()) {
    ERR_clear_error();
    throw Error(ErrorCode::internal, "OpenSSL could not compute an HMAC-SHA256");
  }
  return out;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string base64_encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4, '=');
  const auto* in = bytes_of(bytes);
  char* at = out.data();
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    *at++ = k_base64_alphabet[(group >> 18) & 63];
    *at++ = k_base64_alphabet[(group >> 12) & 63];
    *at++ = k_base64_alphabet[(group >> 6) & 63];
    *at++ = k_base64_alphabet[group & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    const std::uint32_t group = (std::uint32_t{in[i]} << 16) | (rest == 2 ? std::uint32_t{in[i + 1]} << 8 : 0);
    *at++ = k_base64_alphabet[(group >> 18) & 63];
    *at++ = k_base64_alphabet[(group >> 12) & 63];
    if (rest == 2) {
      *at = k_base64_alphabet[(group >> 6) & 63];
    }
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') {
    padding = text[text.size() - 2] == '=' ? 2 : 1;
  }
  const std::size_t groups = text.size() / 4;
  std::string out(groups * 3 - padding, '\0');
  char* at = out.data();
  for (std::size_t g = 0; g < groups; ++g) {
    const auto* quad = bytes_of(text.substr(g * 4, 4));
    const bool last = g + 1 == groups;
    // Padding may only end the last group.
    const std::size_t digits = last ? 4 - padding : 4;
    std::uint32_t group = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      const std::uint8_t value = i < digits ? k_base64_values[quad[i]] : 0;
      if (value == k_not_base64) {
        return std::nullopt;
      }
      group = (group << 6) | value;
    }
    if (!last || padding == 0) {
      *at++ = static_cast<char>(group >> 16);
      *at++ = static_cast<char>((group >> 8) & 0xffU);
      *at++ = static_cast<char>(group & 0xffU);
    } else {
      // One spelling per byte string: the bits the padding stands for must be zero.
      if ((padding == 1 && (group & 0xffU) != 0) || (padding == 2 && (group & 0xffffU) != 0)) {
        return std::nullopt;
      }
      *at++ = static_cast<char>(group >> 16);
      if (padding == 1) {
        *at = static_cast<char>((group >> 8) & 0xffU);
      }
    }
  }
  return out;
}

std::string to_hex(std::span<const unsigned char> bytes) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char byte : bytes) {
    out += k_hex[byte >> 4];
    out += k_hex[byte & 0xf];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    unsigned byte = 0;
    const char* pair = text.data() + i;
    if (const auto [end, error] = std::from_chars(pair, pair + 2, byte, 16); error != std::errc{} || end != pair + 2) {
      return std::nullopt;
    }
    out += static_cast<char>(byte);
  }
  return out;
}

} // namespace zsimem::crypto
