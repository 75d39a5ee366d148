#pragma once

#include <zsimem/model.hpp>

#include <string>
#include <string_view>

namespace zsimem {

// Lowercase hex SHA-256 of some bytes.
std::string sha256_hex(std::string_view bytes);

// The tamper-evidence hash of a version: SHA-256 over every field of the
// record (length-prefixed, so no two records share an input) and the
// previous version's hash. The record's own `hash` field is ignored.
std::string version_hash(const VersionRecord& record);

} // namespace zsimem
