#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

// The primitives of encryption at rest, over OpenSSL: AES-256-GCM boxes,
// random bytes and the text forms keys and boxes are stored in.
namespace zsimem::crypto {

inline constexpr std::size_t k_key_bytes = 32;
inline constexpr std::size_t k_nonce_bytes = 12;
inline constexpr std::size_t k_tag_bytes = 16;

// A 256-bit key, wiped from memory when it goes.
class Key {
public:
  Key() = default;
  explicit Key(std::span<const unsigned char, k_key_bytes> bytes);
  Key(const Key& other) : Key(std::span<const unsigned char, k_key_bytes>(other.m_bytes)) {}
  Key& operator=(const Key& other);
  ~Key();

  // A fresh key from the system's random source.
  static Key random();

  const unsigned char* data() const { return m_bytes.data(); }
  std::span<const unsigned char, k_key_bytes> bytes() const { return m_bytes; }

private:
  std::array<unsigned char, k_key_bytes> m_bytes{};
};

// Fills `out` from the system's random source; Error{unavailable} if it fails.
void random_bytes(std::span<unsigned char> out);
// `bytes` random bytes as lowercase hex.
std::string random_hex(std::size_t bytes);

// AES-256-GCM under a fresh random nonce: nonce, ciphertext and tag, in
// that order. `aad` is authenticated but not stored: opening needs it again.
std::string seal(const Key& key, std::string_view plaintext, std::string_view aad);
// The plaintext of a box seal() made with the same key and aad; nullopt
// when the box was altered, cut short, or sealed with another key or aad.
std::optional<std::string> open(const Key& key, std::string_view box, std::string_view aad);

// HMAC-SHA256 of `data` under `key` (RFC 2104).
using Mac = std::array<unsigned char, 32>;
Mac hmac_sha256(std::span<const unsigned char> key, std::string_view data);
inline Mac hmac_sha256(std::string_view key, std::string_view data) {
  return hmac_sha256({reinterpret_cast<const unsigned char*>(key.data()), key.size()}, data);
}

// Whether two byte strings are equal, in a time that does not depend on
// where they differ (for comparing MACs).
bool equal_in_constant_time(std::string_view a, std::string_view b);

// Standard base64 with padding (RFC 4648 §4); decoding refuses anything
// else, whitespace included.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

// Lowercase hex, and its inverse (nullopt unless hex of an even length).
std::string to_hex(std::span<const unsigned char> bytes);
std::optional<std::string> from_hex(std::string_view text);

} // namespace zsimem::crypto
