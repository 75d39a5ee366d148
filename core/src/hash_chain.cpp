#include "sha256.hpp"

#include <zsimem/hash_chain.hpp>

#include <string>

namespace zsimem {
namespace {

// Length-prefixed so that no two different records hash the same input.
void add_field(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += ':';
  out += value;
  out += '\n';
}

} // namespace

std::string sha256_hex(std::string_view bytes) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (const std::uint8_t byte : sha256(bytes)) {
    hex += k_hex[byte >> 4];
    hex += k_hex[byte & 0xf];
  }
  return hex;
}

std::string version_hash(const VersionRecord& record) {
  std::string input = "zsimem-version-1\n";
  input.reserve(input.size() + record.data.size() + record.delta.size() + 256);
  add_field(input, record.user_id);
  add_field(input, record.ns);
  add_field(input, std::to_string(record.version));
  add_field(input, std::to_string(to_micros(record.updated_at)));
  add_field(input, record.data);
  add_field(input, record.delta);
  add_field(input, record.actor);
  add_field(input, record.request_id);
  add_field(input, std::to_string(record.tags.size()));
  for (const auto& tag : record.tags) {
    add_field(input, tag);
  }
  add_field(input, std::to_string(record.derived_from));
  add_field(input, record.rollback_of ? std::to_string(*record.rollback_of) : std::string{});
  add_field(input, record.idempotency_key);
  add_field(input, record.prev_hash);
  // Only when set, so that the hashes of versions without one stay as they were.
  if (!record.salt.empty()) {
    add_field(input, record.salt);
  }
  return sha256_hex(input);
}

std::string audit_hash(const AuditRecord& record) {
  std::string input = "zsimem-audit-1\n";
  input.reserve(input.size() + record.detail.size() + 256);
  add_field(input, std::to_string(to_micros(record.time)));
  add_field(input, record.request_id);
  add_field(input, record.actor);
  add_field(input, record.operation);
  add_field(input, record.user_id);
  add_field(input, record.ns);
  add_field(input, record.version);
  add_field(input, record.outcome);
  add_field(input, record.detail);
  add_field(input, record.prev_hash);
  return sha256_hex(input);
}

void chain_audit(AuditRecord& record, std::string_view prev_hash) {
  record.prev_hash = prev_hash;
  record.hash = audit_hash(record);
}

} // namespace zsimem
