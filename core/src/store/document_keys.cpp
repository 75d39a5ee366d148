#include "store/document_keys.hpp"

#include <charconv>
#include <random>
#include <system_error>

namespace zsimem::store {

std::string padded(std::uint64_t n) {
  const std::string digits = std::to_string(n);
  return std::string(k_padded_digits - digits.size(), '0') + digits;
}

std::optional<std::uint64_t> parse_padded(std::string_view digits) {
  std::uint64_t n = 0;
  if (digits.size() != k_padded_digits) {
    return std::nullopt;
  }
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (error != std::errc{} || end != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return n;
}

std::string new_write_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  for (int half = 0; half < 2; ++half) {
    std::uint64_t bits = random();
    for (int i = 0; i < 16; ++i) {
      out += k_hex[bits & 0xfU];
      bits >>= 4U;
    }
  }
  return out;
}

} // namespace zsimem::store
