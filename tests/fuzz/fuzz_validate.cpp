// The model's validators and decoders: whatever the input, they accept it or
// throw zsimem::Error. Any other exception escapes to libFuzzer as a crash.
// What they accept must read back as itself (export and import, the JSON
// store and the daemon all round-trip through these functions).
//
// Input: one byte choosing the function, then its text.

#include "fuzz_support.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/time.hpp>
#include <zsimem/validate.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using zsimem::Json;
using zsimem::fuzz::require;

void memory_update(std::string_view text) {
  const zsimem::MemoryUpdate update = zsimem::memory_update_from_json(zsimem::parse_json(text, "body"));
  // What was accepted passes the service's own checks again.
  zsimem::validate_user_id(update.user_id);
  zsimem::validate_namespace(update.ns);
  zsimem::validate_tags(update.tags);
  zsimem::validate_idempotency_key(update.idempotency_key);
  const Json delta = zsimem::parse_json(update.delta, "delta");
  require(delta.is_object(), "an accepted delta is an object", update.delta);
  require(zsimem::canonical_json(delta) == update.delta, "an accepted delta is canonical", update.delta);
}

void version_record(std::string_view text) {
  const zsimem::VersionRecord record = zsimem::version_from_json(zsimem::parse_json(text, "version"));
  // Export writes version_json; import reads it back with version_from_json.
  const Json exported = zsimem::version_json(record);
  zsimem::VersionRecord again;
  try {
    again = zsimem::version_from_json(zsimem::parse_json(exported.dump(), "version"));
  } catch (const zsimem::Error& error) {
    zsimem::fuzz::fail("an accepted version record reads back after export", error.what());
  }
  require(again.user_id == record.user_id && again.ns == record.ns && again.version == record.version,
          "the key survives export", exported.dump());
  require(again.updated_at == record.updated_at, "updated_at survives export", exported.dump());
  require(again.data == record.data && again.delta == record.delta, "data and delta survive export");
  require(again.tags == record.tags && again.derived_from == record.derived_from &&
              again.rollback_of == record.rollback_of && again.idempotency_key == record.idempotency_key &&
              again.prev_hash == record.prev_hash && again.hash == record.hash && again.actor == record.actor &&
              again.request_id == record.request_id,
          "the metadata survives export", exported.dump());
}

void audit_record(std::string_view text) {
  const zsimem::AuditRecord record = zsimem::audit_from_json(zsimem::parse_json(text, "audit"));
  const zsimem::AuditRecord again = zsimem::audit_from_json(zsimem::audit_json(record));
  require(again.time == record.time && again.operation == record.operation && again.outcome == record.outcome,
          "an audit record survives its JSON form");
}

bool is_safe_name(std::string_view name) {
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_-.@+=:~").find(c) != std::string_view::npos;
  };
  return !name.empty() && name.size() <= zsimem::k_max_name_bytes && name.find("..") == std::string_view::npos &&
         name.find('/') == std::string_view::npos && name != "." && std::all_of(name.begin(), name.end(), allowed);
}

void names(std::string_view text) {
  // Names become file names and key prefixes: what passes must be safe as one.
  try {
    zsimem::validate_user_id(text);
    require(is_safe_name(text), "an accepted user id is a safe file name", text);
    const auto& reserved = zsimem::reserved_user_ids();
    require(std::find(reserved.begin(), reserved.end(), text) == reserved.end(), "a reserved user id is refused");
  } catch (const zsimem::Error&) {
  }
  zsimem::validate_namespace(text);
  require(is_safe_name(text), "an accepted namespace is a safe file name", text);
}

void tags_and_keys(std::string_view text) {
  std::vector<std::string> tags;
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    tags.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  try {
    zsimem::validate_tags(tags);
  } catch (const zsimem::Error&) {
  }
  zsimem::validate_idempotency_key(text);
  require(text.size() <= zsimem::k_max_idempotency_key_bytes, "an accepted idempotency key is within the limit");
}

void times(std::string_view text) {
  const zsimem::Timestamp time = zsimem::parse_time(text, "time");
  // Every stored time is written by format_rfc3339 and read by parse_time.
  const std::string formatted = zsimem::format_rfc3339(time);
  zsimem::Timestamp again{};
  try {
    again = zsimem::parse_time(formatted, "time");
  } catch (const zsimem::Error&) {
    zsimem::fuzz::fail("a time parse_time accepts formats into one it reads back", formatted);
  }
  require(again == time, "a time survives format_rfc3339", formatted);
  require(zsimem::from_micros(zsimem::to_micros(time)) == time, "a time survives micros");
}

void versions(std::string_view text) {
  const std::uint64_t version = zsimem::parse_version(text);
  require(version > 0 && zsimem::parse_version(zsimem::version_string(version)) == version,
          "a version survives version_string");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 7) {
    case 0: memory_update(text); break;
    case 1: version_record(text); break;
    case 2: audit_record(text); break;
    case 3: names(text); break;
    case 4: tags_and_keys(text); break;
    case 5: times(text); break;
    default: versions(text); break;
    }
  } catch (const zsimem::Error&) {
    // Refused with the project's error: that is the contract.
  }
  return 0;
}
