#pragma once

#include <string>
#include <string_view>
#include <vector>

// Validation of names and inputs. Every check throws Error{invalid} (or
// too_large) with a message naming the field and the problem.
namespace zsimem {

inline constexpr std::size_t k_max_name_bytes = 128;
inline constexpr std::size_t k_max_tag_bytes = 128;
inline constexpr std::size_t k_max_tags = 64;
inline constexpr std::size_t k_max_idempotency_key_bytes = 255;
inline constexpr std::size_t k_default_max_delta_bytes = 1024 * 1024;
inline constexpr std::size_t k_max_json_depth = 64;

// User ids and namespaces: 1 to 128 bytes of ASCII letters, digits and
// `_ - . @ + = : ~`, starting with a letter or digit, without `..`. They are
// used as file names and key prefixes, so nothing may escape either. A few
// user ids are reserved because the HTTP routes use them (`logs`, `batch`).
void validate_user_id(std::string_view user_id, std::string_view field = "user_id");
void validate_namespace(std::string_view ns, std::string_view field = "namespace");
// Whether `name` follows that scheme (reserved ids aside), without a
// message: the stores' check of the names they are handed or find.
bool is_valid_name(std::string_view name);

void validate_tags(const std::vector<std::string>& tags, std::string_view field = "tags");
void validate_idempotency_key(std::string_view key, std::string_view field = "idempotency_key");

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), which is what JSON text must be.
bool is_valid_utf8(std::string_view text);

// The user ids that can never be used.
const std::vector<std::string_view>& reserved_user_ids();

} // namespace zsimem
