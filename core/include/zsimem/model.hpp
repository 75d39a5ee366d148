#pragma once

#include <zsimem/time.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The data model. JSON documents travel as canonical JSON text (compact,
// keys sorted) so that this header, included everywhere, stays free of the
// JSON library; the service parses them where it works on them.
namespace zsimem {

inline constexpr std::string_view k_default_namespace = "default";

// One context: a JSON object per (user_id, namespace).
struct ContextKey {
  std::string user_id;
  std::string ns{k_default_namespace};

  friend bool operator==(const ContextKey&, const ContextKey&) = default;
  friend auto operator<=>(const ContextKey&, const ContextKey&) = default;
};

// One immutable version of a context, with its metadata. Versions count
// 1, 2, 3 … per context; version N+1 is derived from version N.
struct VersionRecord {
  std::string user_id;
  std::string ns{k_default_namespace};
  std::uint64_t version = 0;
  Timestamp updated_at{};
  std::string data = "{}";  // the whole context after this version
  std::string delta = "{}"; // the merge patch that made it from version-1
  std::string actor;
  std::string request_id;
  std::vector<std::string> tags;
  // The version the writer based its update on (its expected version, or the
  // head it merged onto); 0 for the first version.
  std::uint64_t derived_from = 0;
  // Set when this version restores an older one.
  std::optional<std::uint64_t> rollback_of;
  std::string idempotency_key; // empty when none was given
  std::string prev_hash;       // hash of version-1 ("" for version 1)
  std::string hash;            // SHA-256 over this record and prev_hash
  // Random hex the hash also covers, set when encryption at rest is on: the
  // hash of an encrypted version must not let anyone holding the stored
  // bytes confirm a guess of its content. Empty otherwise.
  std::string salt;
  // As stored, when encrypted at rest (docs/security.md): the generation of
  // the user's data key that sealed it, as decimal text; `data` then holds
  // the sealed box (data, delta and salt, base64) and `delta` and `salt` are
  // empty. Empty for a version stored as plain JSON. The service only ever
  // hands out opened records.
  std::string key_id;
  // Set in a gap record, which stands for versions version..pruned_through
  // that retention removed (docs/retention.md). It keeps only what bridges
  // the hash chain across them: the first removed version's updated_at and
  // prev_hash, and the last one's hash; data and delta are "{}", the rest
  // empty. Stored as its first version, it keeps that version taken, so no
  // writer with a stale head can append into the range. It is never handed
  // out as a version.
  std::optional<std::uint64_t> pruned_through;

  ContextKey key() const { return {user_id, ns}; }
  bool is_gap() const { return pruned_through.has_value(); }
  // The newest version this record stands for: its own unless a gap.
  std::uint64_t last_version() const { return pruned_through.value_or(version); }
};

// The spec's MemoryUpdate, plus the design's additions.
struct MemoryUpdate {
  std::string user_id;
  std::string ns{k_default_namespace};
  std::string delta = "{}"; // a JSON object: an RFC 7396 merge patch
  std::vector<std::string> tags;
  std::optional<std::uint64_t> expected_version;
  bool strict = false; // with expected_version: fail on any moved head
  std::string idempotency_key;
};

// One audit record: who did what to which context, and how it ended. Never
// the data itself.
struct AuditRecord {
  std::uint64_t seq = 0; // assigned by the store, increasing
  Timestamp time{};
  std::string request_id;
  std::string actor;
  std::string operation; // get, merge, rollback, delete, history, …
  std::string user_id;   // may be empty for store-wide operations
  std::string ns;
  std::string version; // the version read or written, if any
  std::string outcome; // ok, or an ErrorCode name
  std::string detail;  // a short reason for failures
  // The audit log is hash-chained like the versions: each record's hash
  // covers its fields and the hash of the record before it in the log. Set
  // by the store as it appends (only it knows the order); empty in records
  // written before the chain existed.
  std::string prev_hash;
  std::string hash;
};

// Versions as the API shows them: decimal strings.
std::string version_string(std::uint64_t version);
// Parses a version string; Error{invalid} naming `field` unless it is a
// positive decimal integer.
std::uint64_t parse_version(std::string_view text, std::string_view field = "version");

} // namespace zsimem
