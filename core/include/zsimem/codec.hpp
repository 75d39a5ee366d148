#pragma once

// JSON forms of the model: what the CLI prints, the daemon serves, the JSON
// store writes and export/import carry. This header brings in nlohmann/json:
// include it only from .cpp files that work with JSON.

#include <zsimem/hook_worker.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/model.hpp>

#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <string_view>

namespace zsimem {

using Json = nlohmann::json;

// Parses JSON text; Error{invalid} naming `field` and the position on
// malformed text, Error{too_large} past k_max_json_depth levels of nesting.
Json parse_json(std::string_view text, std::string_view field);

// Compact JSON with sorted keys: the form hashed and stored.
std::string canonical_json(const Json& value);

// The spec's UserContext {user_id, version, data, updated_at}, plus namespace.
Json user_context_json(const VersionRecord& record);
// Error{unavailable} unless `json`, the stored `field` ("data", "delta") of
// `record`, is valid JSON: for text spliced into an answer unparsed.
void check_stored_json(const VersionRecord& record, std::string_view field, std::string_view json);
// Appends the members that close both spliced texts of a version (its
// UserContext and its hook event), in the order dump() gives them:
// `,"updated_at":"…","user_id":"…","version":"…"}`.
void append_version_stamp(std::string& text, const VersionRecord& record);
// Whether user_context_text checks the data is JSON: data read from a store
// is; data this process just made or parsed (a new version's) need not be.
enum class DataCheck { check, known_json };
// The same, as compact JSON text: the bytes of user_context_json(record)
// dumped, made without parsing the stored data, which is canonical already
// (only checked: Error{unavailable} when a damaged store holds broken JSON).
std::string user_context_text(const VersionRecord& record, DataCheck check = DataCheck::check);

// A version with all its metadata. `with_data` false leaves out data and delta.
Json version_json(const VersionRecord& record, bool with_data = true);
// The inverse of version_json(record, true); Error{invalid} naming the field.
VersionRecord version_from_json(const Json& json);

// The spec's MemoryUpdate {user_id, delta, tags}, with the design's optional
// namespace, expected_version, strict and idempotency_key. Validated.
MemoryUpdate memory_update_from_json(const Json& json);

Json audit_json(const AuditRecord& record);

// The results of the service's operations, as the CLI prints them with
// -o json and the daemon serves them. Cursors are decimal strings.
Json history_page_json(const HistoryPage& page);
Json audit_page_json(const AuditPage& page);
Json diff_json(const ContextKey& key, const DiffResult& diff);
Json blame_json(const std::vector<BlameEntry>& entries);
// A summary of the context `key` over `range` (docs/summaries.md).
// {"read_audit": true, "summaries": false, ...}: what `zsimem features`
// prints and GET /features answers.
Json features_json(const Features& features);
// What zsimem prune did or would do (docs/retention.md).
Json prune_report_json(const PruneReport& report);
// Every hook's lag and failures: what zsimem hooks status prints and
// GET /hooks answers (docs/hooks.md).
Json hooks_status_json(std::span<const HookStatus> hooks);
// What zsimem hooks deliver did.
Json drain_report_json(const DrainReport& report);
Json summary_json(const ContextKey& key, const SummaryRange& range, SummaryBucket bucket, const Summary& summary);
// `ns` is empty when every namespace of the user was erased.
Json erase_json(std::string_view user_id, std::optional<std::string_view> ns, std::size_t removed_versions);
AuditRecord audit_from_json(const Json& json);

} // namespace zsimem
