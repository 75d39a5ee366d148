#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace zsimem {

// SHA-256 (FIPS 180-4). Built in because it is the only primitive a plain
// store needs, and loading libcrypto for it doubled the cost of every
// one-shot CLI command (bench/cli_vs_sqlite3).
std::array<std::uint8_t, 32> sha256(std::string_view bytes);

namespace detail {
// The two ways sha256() compresses blocks, for tests: the portable one, and
// the x86 SHA extensions (SHA-NI), which sha256() uses when the CPU has them.
std::array<std::uint8_t, 32> sha256_portable(std::string_view bytes);
std::array<std::uint8_t, 32> sha256_sha_ni(std::string_view bytes);
bool cpu_has_sha_ni();
} // namespace detail

} // namespace zsimem
