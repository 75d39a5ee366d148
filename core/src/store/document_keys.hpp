#pragma once

// Pieces of the document stores' keys (dynamo, firestore), which sort as
// strings and are compared across processes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zsimem::store {

// Digits of a padded number: enough for any 64-bit one.
inline constexpr std::size_t k_padded_digits = 20;

// `n` in k_padded_digits decimal digits, zero-padded, so that such numbers
// sort as strings in the order they sort as numbers.
std::string padded(std::uint64_t n);
// The number `digits` holds when it is exactly k_padded_digits digits.
std::optional<std::uint64_t> parse_padded(std::string_view digits);

// 128 random bits in hex, marking one conditional write, so that a write
// that fails its condition can tell its own earlier attempt (retried after
// a lost answer) from another writer's.
std::string new_write_id();

} // namespace zsimem::store
