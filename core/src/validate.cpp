#include <zsimem/error.hpp>
#include <zsimem/validate.hpp>

#include <algorithm>
#include <string>

namespace zsimem {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == '@' || c == '+' || c == '=' || c == ':' || c == '~';
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

[[noreturn]] void reject(std::string_view field, const std::string& problem) {
  throw Error(ErrorCode::invalid, std::string(field) + ": " + problem, std::string(field));
}

std::string describe_char(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte < 0x20 || byte >= 0x7f) {
    static constexpr char k_hex[] = "0123456789abcdef";
    return std::string("byte 0x") + k_hex[byte >> 4] + k_hex[byte & 0xf];
  }
  return std::string("'") + c + "'";
}

// The shared rule for user ids and namespaces: they become file names and
// key prefixes, so they are kept to a small, safe alphabet.
void validate_name(std::string_view name, std::string_view field) {
  if (name.empty()) {
    reject(field, "must not be empty");
  }
  if (name.size() > k_max_name_bytes) {
    reject(field,
           "is " + std::to_string(name.size()) + " bytes long; the limit is " + std::to_string(k_max_name_bytes));
  }
  if (!is_alnum(name.front())) {
    reject(field, "must start with a letter or a digit");
  }
  for (const char c : name) {
    if (!is_name_char(c)) {
      reject(field, "contains " + describe_char(c) + "; allowed are letters, digits and _ - . @ + = : ~");
    }
  }
  if (name.find("..") != std::string_view::npos) {
    reject(field, "must not contain '..'");
  }
}

bool has_control_char(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

} // namespace

const std::vector<std::string_view>& reserved_user_ids() {
  static const std::vector<std::string_view> k_reserved{"logs", "batch", "users"};
  return k_reserved;
}

void validate_user_id(std::string_view user_id, std::string_view field) {
  validate_name(user_id, field);
  const auto& reserved = reserved_user_ids();
  if (std::find(reserved.begin(), reserved.end(), user_id) != reserved.end()) {
    reject(field, "'" + std::string(user_id) + "' is reserved (the HTTP API uses it as a route)");
  }
}

void validate_namespace(std::string_view ns, std::string_view field) { validate_name(ns, field); }

bool is_valid_name(std::string_view name) {
  return !name.empty() && name.size() <= k_max_name_bytes && is_alnum(name.front()) &&
         std::all_of(name.begin(), name.end(), is_name_char) && name.find("..") == std::string_view::npos;
}

void validate_tags(const std::vector<std::string>& tags, std::string_view field) {
  if (tags.size() > k_max_tags) {
    throw Error(ErrorCode::too_large,
                std::string(field) + ": " + std::to_string(tags.size()) + " tags; the limit is " +
                    std::to_string(k_max_tags),
                std::string(field));
  }
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const std::string item = std::string(field) + "[" + std::to_string(i) + "]";
    if (tags[i].empty()) {
      reject(item, "a tag must not be empty");
    }
    if (tags[i].size() > k_max_tag_bytes) {
      reject(item, "a tag is limited to " + std::to_string(k_max_tag_bytes) + " bytes");
    }
    if (has_control_char(tags[i])) {
      reject(item, "a tag must not contain control characters");
    }
  }
}

void validate_idempotency_key(std::string_view key, std::string_view field) {
  if (key.size() > k_max_idempotency_key_bytes) {
    reject(field, "is limited to " + std::to_string(k_max_idempotency_key_bytes) + " bytes");
  }
  if (has_control_char(key)) {
    reject(field, "must not contain control characters");
  }
}

bool is_valid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // The range the byte after the lead may take (RFC 3629 §4), and how
    // many continuation bytes follow in all.
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    std::size_t continuations = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
      continuations = 1;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      continuations = 2;
      low = lead == 0xe0 ? 0xa0 : 0x80;  // no overlong forms
      high = lead == 0xed ? 0x9f : 0xbf; // no surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      continuations = 3;
      low = lead == 0xf0 ? 0x90 : 0x80;  // no overlong forms
      high = lead == 0xf4 ? 0x8f : 0xbf; // nothing past U+10FFFF
    } else {
      return false;
    }
    if (size - i <= continuations || bytes[i + 1] < low || bytes[i + 1] > high) {
      return false;
    }
    for (std::size_t k = 2; k <= continuations; ++k) {
      if (bytes[i + k] < 0x80 || bytes[i + k] > 0xbf) {
        return false;
      }
    }
    i += continuations + 1;
  }
  return true;
}

} // namespace zsimem
