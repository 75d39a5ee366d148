#include "gcp/firestore_client.hpp"
#include "store/audit_records.hpp"
#include "store/backends.hpp"
#include "store/document_keys.hpp"
#include "store/head_hints.hpp"

#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/time.hpp>
#include <zsimem/validate.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

// The `firestore` backend: one Firestore database (docs/firestore.md).
//
//   users/{user}/namespaces/{ns}                       a context's head: version, hash
//   users/{user}/namespaces/{ns}/versions/{version}    one version (20 digits)
//   users/{user}/data_keys/{generation}                one data key (20 digits)
//   users/{user}/hook_cursors/{ns}#{hook}              one hook cursor
//   audit/{seq}                                        one audit record (20 digits)
//   audit/{0, 20 digits}                               the audit floor
//
// A gap record (retention) is a version document with a pruned_through
// field, named by the first version it stands for, so that the name stays
// taken. The audit floor keeps the seq and hash of the newest audit record
// once audit retention has removed it, so that the chain goes on from it;
// its seq field is 0, below every record's.
//
// An append is one commit: the new version documents (precondition: they do
// not exist), the head document updated (precondition: its updateTime is
// the one it had when version N was written, which is version N's own
// updateTime, since both were written by one commit, or the one it has
// when read and found to name version N; for version 1: it does not
// exist), a precondition-only write per data key a sealed record
// names (it exists) and the audit records (the next sequence numbers, which
// must not exist). Either all of it is written or nothing.
//
// A cursor is replaced only from the updateTime of the revision before,
// as read: one writer wins each revision. Its document sits with the
// user's others, so that an erase finds it with a query under the user
// (and a `ns` filter); a hook's cursors, across users, are a collection
// group query on `hook`.
//
// User ids, namespaces and hook names follow validate.hpp's naming scheme,
// so they are never "." or ".." or "__x__", which Firestore refuses as
// document ids, and hold no '/' or '#'.
namespace zsimem::store {
namespace {

using Json = nlohmann::json;

// Firestore's limit on a document, as it counts sizes.
constexpr std::size_t k_max_document_bytes = 1024 * 1024;
// What one commit may carry: Firestore allows 500 writes and 10 MiB.
constexpr std::size_t k_max_commit_writes = 500;
constexpr std::size_t k_max_commit_bytes = 8 * 1024 * 1024;
constexpr std::size_t k_page = 1000;
// Rounds of an erase before it gives up on writers that keep appending.
constexpr int k_max_erase_rounds = 100;
// Commits of one append retried because other processes' audit records
// took the sequence numbers it tried.
constexpr int k_max_audit_rounds = 1000;
// Contexts whose head this store remembers (their updateTime).
constexpr std::size_t k_max_known_heads = 100'000;

std::string describe(const ContextKey& key) { return "user '" + key.user_id + "' namespace '" + key.ns + "'"; }

// Throws Error{invalid} for a gap record no store could keep: it stands
// for versions version..pruned_through, version 1 or more, up to
// Firestore's largest integer.
void check_gap(const VersionRecord& record) {
  if (record.pruned_through &&
      (record.version == 0 || *record.pruned_through < record.version ||
       *record.pruned_through > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
    throw Error(ErrorCode::invalid,
                "gap record " + std::to_string(record.version) + ".." + std::to_string(*record.pruned_through) +
                    " of " + describe(record.key()) + " is not a range of versions",
                "pruned_through");
  }
}

// The document id of a user id or namespace: Firestore's REST paths take a
// ':' for a method (":runQuery"), even percent-encoded, so ':' is written
// as '!', which names never hold.
std::string doc_id(std::string_view name) {
  std::string id(name);
  std::replace(id.begin(), id.end(), ':', '!');
  return id;
}

std::string from_doc_id(std::string id) {
  std::replace(id.begin(), id.end(), '!', ':');
  return id;
}

// A path segment of a URL: the document id, percent-encoded.
std::string url_segment(std::string_view name) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : doc_id(name)) {
    const auto byte = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += k_hex[byte >> 4U];
      out += k_hex[byte & 0xfU];
    }
  }
  return out;
}

Json string_value(std::string_view value) { return Json{{"stringValue", std::string(value)}}; }

template <typename Integer> Json integer_value(Integer value) { return Json{{"integerValue", std::to_string(value)}}; }

const Json* field(const Json& document, std::string_view name) {
  const auto fields = document.find("fields");
  if (fields == document.end() || !fields->is_object()) {
    return nullptr;
  }
  const auto it = fields->find(name);
  return it == fields->end() ? nullptr : &*it;
}

std::string string_field(const Json& document, std::string_view name) {
  const Json* value = field(document, name);
  if (value == nullptr || !value->is_object()) {
    return {};
  }
  const auto s = value->find("stringValue");
  return s != value->end() && s->is_string() ? s->get<std::string>() : std::string{};
}

template <typename Integer> std::optional<Integer> integer_field(const Json& document, std::string_view name) {
  const Json* value = field(document, name);
  if (value == nullptr || !value->is_object()) {
    return std::nullopt;
  }
  const auto n = value->find("integerValue");
  if (n == value->end()) {
    return std::nullopt;
  }
  const std::string text = n->is_string() ? n->get<std::string>() : n->dump();
  Integer out{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (error != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return out;
}

// The size Firestore counts for a value and for a document (its name's
// segments, each field's name and value, and 32 bytes).
std::size_t value_size(const Json& value) {
  if (const auto s = value.find("stringValue"); s != value.end()) {
    return s->get_ref<const std::string&>().size() + 1;
  }
  if (const auto a = value.find("arrayValue"); a != value.end()) {
    std::size_t size = 0;
    for (const auto& element : a->value("values", Json::array())) {
      size += value_size(element);
    }
    return size;
  }
  return 8;
}

std::size_t document_size(std::string_view relative_name, const Json& fields) {
  std::size_t size = 16 + 32;
  std::size_t start = 0;
  while (start <= relative_name.size()) {
    const auto slash = relative_name.find('/', start);
    const auto end = slash == std::string_view::npos ? relative_name.size() : slash;
    size += end - start + 1;
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  for (const auto& [name, value] : fields.items()) {
    size += name.size() + 1 + value_size(value);
  }
  return size;
}

Json version_fields(const VersionRecord& record, const std::string& write_id) {
  Json fields = Json::object();
  fields["version"] = integer_value(record.version);
  fields["updated_at"] = integer_value(to_micros(record.updated_at));
  fields["data"] = string_value(record.data);
  fields["delta"] = string_value(record.delta);
  fields["actor"] = string_value(record.actor);
  fields["request_id"] = string_value(record.request_id);
  if (!record.tags.empty()) {
    Json values = Json::array();
    for (const auto& tag : record.tags) {
      values.push_back(string_value(tag));
    }
    fields["tags"] = Json{{"arrayValue", Json{{"values", std::move(values)}}}};
  }
  fields["derived_from"] = integer_value(record.derived_from);
  if (record.rollback_of) {
    fields["rollback_of"] = integer_value(*record.rollback_of);
  }
  if (!record.idempotency_key.empty()) {
    fields["idempotency_key"] = string_value(record.idempotency_key);
  }
  fields["prev_hash"] = string_value(record.prev_hash);
  fields["hash"] = string_value(record.hash);
  fields["salt"] = string_value(record.salt);
  fields["key_id"] = string_value(record.key_id);
  if (record.pruned_through) {
    fields["pruned_through"] = integer_value(*record.pruned_through);
  }
  fields["write_id"] = string_value(write_id);
  return fields;
}

Json audit_fields(const AuditRecord& record, const std::string& write_id) {
  return Json{{"seq", integer_value(record.seq)},
              {"time", integer_value(to_micros(record.time))},
              {"request_id", string_value(record.request_id)},
              {"actor", string_value(record.actor)},
              {"operation", string_value(record.operation)},
              {"user_id", string_value(record.user_id)},
              {"ns", string_value(record.ns)},
              {"version", string_value(record.version)},
              {"outcome", string_value(record.outcome)},
              {"detail", string_value(record.detail)},
              {"prev_hash", string_value(record.prev_hash)},
              {"hash", string_value(record.hash)},
              {"write_id", string_value(write_id)}};
}

// Throws Error{invalid} for a cursor that cannot be stored: what no
// backend keeps (check_hook_cursor), or state that is not UTF-8, which
// Firestore strings must be.
void check_firestore_hook_cursor(const HookCursor& cursor) {
  check_hook_cursor(cursor);
  if (!is_valid_utf8(cursor.state)) {
    throw Error(ErrorCode::invalid,
                "the cursor of hook '" + cursor.hook + "' for " + describe(cursor.context) +
                    " holds text that is not UTF-8, which Firestore cannot store",
                "state");
  }
}

Json hook_cursor_fields(const HookCursor& cursor, const std::string& write_id) {
  return Json{{"hook", string_value(cursor.hook)},
              {"ns", string_value(cursor.context.ns)},
              {"revision", integer_value(cursor.revision)},
              {"state", string_value(cursor.state)},
              {"write_id", string_value(write_id)}};
}

Json field_filter(std::string_view path, std::string_view op, Json value) {
  return Json{
      {"fieldFilter", {{"field", {{"fieldPath", std::string(path)}}}, {"op", std::string(op)}, {"value", value}}}};
}

Json and_filter(std::vector<Json> filters) {
  if (filters.size() == 1) {
    return filters.front();
  }
  return Json{{"compositeFilter", {{"op", "AND"}, {"filters", std::move(filters)}}}};
}

Json order(std::string_view path, bool descending) {
  return Json{{"field", {{"fieldPath", std::string(path)}}}, {"direction", descending ? "DESCENDING" : "ASCENDING"}};
}

class FirestoreStore final : public MemoryStore {
public:
  FirestoreStore(gcp::FirestoreSettings settings, bool create)
      : m_client(std::move(settings)), m_root(m_client.documents_root()) {
    // One read, so that a store that cannot be reached fails on open, like
    // the other server-backed backends. Firestore creates collections on
    // their first write: `create` has nothing to do.
    (void)create;
    m_audit_tail = read_audit_tail();
  }

  std::string_view backend_name() const override { return "firestore"; }

  std::optional<VersionRecord> head(const ContextKey& key) override {
    if (!is_valid_key(key)) {
      return std::nullopt;
    }
    Json query = versions_query(key);
    query["orderBy"] = Json::array({order("version", true)});
    query["limit"] = 1;
    const auto documents = run_query(versions_parent(key), query);
    if (documents.empty()) {
      return std::nullopt;
    }
    VersionRecord record = decode_version(documents.front(), key);
    remember_head(key, record.last_version(), record.hash, documents.front().value("updateTime", ""));
    return record;
  }

  std::optional<VersionRecord> version(const ContextKey& key, std::uint64_t version) override {
    if (!is_valid_key(key) || version == 0) {
      return std::nullopt;
    }
    const auto found = batch_get({version_name(key, version)});
    const auto it = found.find(version_name(key, version));
    if (it == found.end()) {
      return std::nullopt;
    }
    return decode_version(it->second, key);
  }

  std::optional<VersionRecord> version_at(const ContextKey& key, Timestamp at) override {
    if (!is_valid_key(key)) {
      return std::nullopt;
    }
    // updated_at never decreases within a context; equal times are ordered
    // by the document's name, descending too, which is the version.
    Json query = versions_query(key);
    query["where"] = field_filter("updated_at", "LESS_THAN_OR_EQUAL", integer_value(to_micros(at)));
    query["orderBy"] = Json::array({order("updated_at", true)});
    query["limit"] = 1;
    const auto documents = run_query(versions_parent(key), query);
    if (documents.empty()) {
      return std::nullopt;
    }
    return decode_version(documents.front(), key);
  }

  std::vector<VersionRecord> history(const ContextKey& key, const HistoryQuery& query) override {
    std::vector<VersionRecord> out;
    if (!is_valid_key(key) || query.limit == 0) {
      return out;
    }
    std::optional<std::uint64_t> cursor; // the last version read
    if (query.oldest_first && query.after_version) {
      cursor = *query.after_version;
    } else if (!query.oldest_first && query.before_version) {
      cursor = *query.before_version;
    }
    const std::size_t page = query.limit >= k_page ? k_page : query.limit + 1;
    // updated_at never decreases within a context, so a time range is a
    // contiguous run: skip up to its start, stop past its end.
    for (;;) {
      Json body = versions_query(key);
      if (cursor) {
        body["where"] =
            field_filter("version", query.oldest_first ? "GREATER_THAN" : "LESS_THAN", integer_value(*cursor));
      }
      body["orderBy"] = Json::array({order("version", !query.oldest_first)});
      body["limit"] = page;
      const auto documents = run_query(versions_parent(key), body);
      for (const auto& document : documents) {
        VersionRecord record = decode_version(document, key);
        cursor = record.version;
        const bool before_range = query.oldest_first ? (query.since && record.updated_at < *query.since)
                                                     : (query.until && record.updated_at > *query.until);
        const bool past_range = query.oldest_first ? (query.until && record.updated_at > *query.until)
                                                   : (query.since && record.updated_at < *query.since);
        if (past_range) {
          return out;
        }
        if (!before_range) {
          out.push_back(std::move(record));
          if (out.size() >= query.limit) {
            return out;
          }
        }
      }
      if (documents.size() < page) {
        return out;
      }
    }
  }

  std::optional<VersionRecord> find_idempotency_key(const ContextKey& key, std::string_view idempotency_key) override {
    if (!is_valid_key(key) || idempotency_key.empty()) {
      return std::nullopt;
    }
    // An equality filter alone needs no composite index; a key is recorded
    // once, and should two versions hold it the newest answers.
    Json query = versions_query(key);
    query["where"] = field_filter("idempotency_key", "EQUAL", string_value(idempotency_key));
    std::optional<VersionRecord> found;
    for (const auto& document : run_query(versions_parent(key), query)) {
      VersionRecord record = decode_version(document, key);
      if (record.idempotency_key == idempotency_key && (!found || record.version > found->version)) {
        found = std::move(record);
      }
    }
    return found;
  }

  std::optional<VersionRecord> head_hint(const ContextKey& key) override { return m_hints.find(key); }

  bool append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) override {
    return m_hints.track(records, [&] { return append_unhinted(records, audit); });
  }

  bool supports_atomic_batches() const override { return true; }

  WriteStats write_stats() const override {
    return {m_transactions.load(std::memory_order_relaxed), m_writes.load(std::memory_order_relaxed)};
  }

  std::size_t erase(std::string_view user_id, std::optional<std::string_view> ns) override {
    if (!is_valid_name(user_id) || (ns && !is_valid_name(*ns))) {
      return 0;
    }
    m_hints.forget(user_id, ns);
    const std::string user(user_id);
    // The cursors first: an erase interrupted after them redelivers what
    // is left, never skips a new version 1.
    Json cursors = names_only("hook_cursors");
    if (ns) {
      cursors["where"] = field_filter("ns", "EQUAL", string_value(*ns));
    }
    std::vector<std::string> cursor_names;
    for (const auto& document : run_query("/users/" + url_segment(user), cursors)) {
      cursor_names.push_back(document.value("name", ""));
    }
    delete_documents(cursor_names);
    std::size_t removed = 0;
    for (int round = 0; round < k_max_erase_rounds; ++round) {
      std::vector<ContextKey> keys;
      if (ns) {
        keys.push_back({user, std::string(*ns)});
      } else {
        keys = contexts(user_id);
      }
      if (!ns && keys.empty() && round > 0) {
        return removed;
      }
      for (const auto& key : keys) {
        removed += erase_context(key);
      }
      if (ns) {
        return removed;
      }
      // Then the keys that sealed them; and once more, until no context is
      // found: a sealed append that committed before its key went is found
      // by the next round (docs/firestore.md, "Erasure").
      std::vector<std::string> names;
      for (const auto& document : run_query("/users/" + url_segment(user), names_only("data_keys"))) {
        names.push_back(document.value("name", ""));
      }
      delete_documents(names);
      if (keys.empty()) {
        return removed;
      }
    }
    throw Error(ErrorCode::unavailable,
                "could not erase user '" + user + "'" + (ns ? " namespace '" + std::string(*ns) + "'" : std::string{}) +
                    " in Firestore project '" + m_client.settings().project + "': writers kept adding versions");
  }

  // One commit: the gap, over the range's first version, then the
  // deletions of the rest of the range; in several when they are more than
  // a commit may carry, the gap's first, so that an interruption leaves
  // records the gap covers (docs/retention.md), never a hole in the chain.
  // The head document is left as it is: appends compare its updateTime,
  // and so never fill the range. The gap's write requires the first
  // version as read: an erase that listed it deletes the gap with it.
  std::size_t prune(const VersionRecord& gap) override {
    if (!gap.is_gap() || !is_valid_key(gap.key())) {
      throw Error(ErrorCode::invalid, "prune: version " + std::to_string(gap.version) + " of " + describe(gap.key()) +
                                          " is not a gap record that can be stored");
    }
    check_gap(gap);
    for (const std::string* text : {&gap.data, &gap.delta, &gap.prev_hash, &gap.hash}) {
      if (!is_valid_utf8(*text)) {
        throw Error(ErrorCode::invalid, "prune: the gap record of " + describe(gap.key()) +
                                            " holds text that is not UTF-8, which Firestore cannot store");
      }
    }
    const ContextKey key = gap.key();
    const std::uint64_t through = *gap.pruned_through;
    // The head stays, but what this store remembers of a context may be
    // older than the versions that go: forgotten, the next writer reads it.
    if (const auto hint = m_hints.find(key); hint && hint->version <= through) {
      m_hints.forget(gap.user_id, gap.ns);
    }
    if (const auto known = known_head(key); known && known->version <= through) {
      forget_head(key);
    }
    const auto head = head_version(key);
    if (!head) {
      return 0; // erased
    }
    if (*head <= through) {
      throw Error(ErrorCode::invalid, "cannot prune versions " + std::to_string(gap.version) + " to " +
                                          std::to_string(through) + " of " + describe(key) + ": version " +
                                          std::to_string(*head) + " is its head");
    }
    // The documents in the range, by queries of a page each (a year of
    // hourly versions is thousands).
    const std::string gap_name = version_name(key, gap.version);
    std::vector<std::string> names;
    std::string first_update_time; // the range's first version's, if it is there
    std::uint64_t from = gap.version;
    for (;;) {
      Json body = versions_query(key);
      body["select"] = {{"fields", Json::array({{{"fieldPath", "version"}}, {{"fieldPath", "pruned_through"}}})}};
      body["where"] = and_filter({field_filter("version", "GREATER_THAN_OR_EQUAL", integer_value(from)),
                                  field_filter("version", "LESS_THAN_OR_EQUAL", integer_value(through))});
      body["orderBy"] = Json::array({order("version", false)});
      body["limit"] = k_page;
      const auto documents = run_query(versions_parent(key), body);
      for (const auto& document : documents) {
        const auto version = integer_field<std::uint64_t>(document, "version");
        if (!version) {
          throw damaged(document, "no version");
        }
        names.push_back(document.value("name", ""));
        if (names.back() == gap_name) {
          // Never narrow a gap that another prune widened: what it stands
          // for beyond this one's range is gone already.
          if (field(document, "pruned_through") != nullptr &&
              integer_field<std::uint64_t>(document, "pruned_through").value_or(0) > through) {
            return 0;
          }
          first_update_time = document.value("updateTime", "");
        }
        from = *version + 1;
      }
      if (documents.size() < k_page || from > through) {
        break;
      }
    }
    if (names.empty()) {
      return 0; // gone already: an earlier gap stands for them
    }
    const std::string write_id = new_write_id();
    Json writes = Json::array();
    writes.push_back(Json{{"update", {{"name", gap_name}, {"fields", version_fields(gap, write_id)}}},
                          {"currentDocument", first_update_time.empty() ? Json{{"exists", false}}
                                                                        : Json{{"updateTime", first_update_time}}}});
    for (std::size_t i = 0; i <= names.size(); ++i) {
      if (i < names.size() && names[i] != gap_name) {
        writes.push_back(Json{{"delete", names[i]}});
      }
      if (writes.size() == k_max_commit_writes || (i == names.size() && !writes.empty())) {
        try {
          commit(writes, writes.size());
        } catch (const gcp::PreconditionFailed&) {
          // Only the gap's write has a precondition: the first version
          // changed since it was read (an erase, another pruning), unless
          // this is the commit's own first attempt, retried after a lost
          // answer. Else nothing was written, and pruning again sees what
          // is there now.
          if (!written_by(gap_name, write_id)) {
            return 0;
          }
        }
        writes = Json::array();
      }
    }
    // Without a first version to require, an erase that ran meanwhile may
    // have listed the versions before the gap was written; it deletes the
    // head document last: then the gap goes too, if it is still this one.
    if (first_update_time.empty() && !head_version(key)) {
      const auto found = batch_get({gap_name});
      if (const auto it = found.find(gap_name); it != found.end() && string_field(it->second, "write_id") == write_id) {
        try {
          commit(Json::array({Json{{"delete", gap_name},
                                   {"currentDocument", {{"updateTime", it->second.value("updateTime", "")}}}}}),
                 1);
        } catch (const gcp::PreconditionFailed&) {
          // Gone meanwhile, or no longer ours.
        }
      }
      return 0;
    }
    return names.size();
  }

  std::size_t prune_audit(std::uint64_t through_seq) override {
    // Never past the newest record as read now: one appended meanwhile stays.
    const AuditTail tail = read_audit_tail();
    const std::uint64_t last = std::min(through_seq, tail.seq);
    if (last == 0) {
      return 0;
    }
    std::vector<std::string> names;
    std::uint64_t from = 1;
    for (;;) {
      Json body{{"from", Json::array({{{"collectionId", "audit"}}})},
                {"select", {{"fields", Json::array({{{"fieldPath", "seq"}}})}}},
                {"where", and_filter({field_filter("seq", "GREATER_THAN_OR_EQUAL", integer_value(from)),
                                      field_filter("seq", "LESS_THAN_OR_EQUAL", integer_value(last))})},
                {"orderBy", Json::array({order("seq", false)})},
                {"limit", k_page}};
      const auto documents = run_query("", body);
      for (const auto& document : documents) {
        const auto seq = integer_field<std::uint64_t>(document, "seq");
        if (!seq) {
          throw damaged(document, "not an audit record");
        }
        names.push_back(document.value("name", ""));
        from = *seq + 1;
      }
      if (documents.size() < k_page || from > last) {
        break;
      }
    }
    if (!names.empty() && names.back() == audit_name(tail.seq)) {
      raise_audit_floor(tail);
    }
    delete_documents(names);
    return names.size();
  }

  std::vector<DataKeyRecord> data_keys(std::optional<std::string_view> user_id) override {
    std::vector<DataKeyRecord> out;
    if (user_id && !is_valid_name(*user_id)) {
      return out;
    }
    const auto documents =
        user_id ? run_query("/users/" + url_segment(*user_id), all_of("data_keys", false)) : list_all("data_keys");
    for (const auto& document : documents) {
      out.push_back(decode_data_key(document));
    }
    std::sort(out.begin(), out.end(), [](const DataKeyRecord& a, const DataKeyRecord& b) {
      return std::tie(a.user_id, a.generation) < std::tie(b.user_id, b.generation);
    });
    return out;
  }

  bool add_data_key(const DataKeyRecord& key) override {
    check_data_key(key);
    const std::string write_id = new_write_id();
    const std::string name = data_key_name(key.user_id, key.generation);
    Json write{{"update", {{"name", name}, {"fields", data_key_fields(key, write_id)}}},
               {"currentDocument", {{"exists", false}}}};
    try {
      commit(Json::array({std::move(write)}), 1);
      return true;
    } catch (const gcp::PreconditionFailed&) {
      return written_by(name, write_id);
    }
  }

  bool rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) override {
    if (!is_valid_name(key.user_id) || !is_valid_generation(key.generation)) {
      return false;
    }
    const std::string name = data_key_name(key.user_id, key.generation);
    const auto found = batch_get({name});
    const auto it = found.find(name);
    if (it == found.end() || string_field(it->second, "wrapped") != expected_wrapped) {
      return false;
    }
    // Compare-and-swap on the document's updateTime: whoever changed it
    // since the read (a rewrap, an erase) makes this one fail.
    const std::string write_id = new_write_id();
    DataKeyRecord stored = decode_data_key(it->second);
    stored.master_key_id = key.master_key_id;
    stored.wrapped = key.wrapped;
    Json write{{"update", {{"name", name}, {"fields", data_key_fields(stored, write_id)}}},
               {"currentDocument", {{"updateTime", it->second.value("updateTime", "")}}}};
    try {
      commit(Json::array({std::move(write)}), 1);
      return true;
    } catch (const gcp::PreconditionFailed&) {
      return written_by(name, write_id);
    }
  }

  std::optional<HookCursor> hook_cursor(std::string_view hook, const ContextKey& context) override {
    if (!is_valid_name(hook) || !is_valid_key(context)) {
      return std::nullopt;
    }
    const std::string name = hook_cursor_name(hook, context);
    const auto found = batch_get({name});
    const auto it = found.find(name);
    if (it == found.end()) {
      return std::nullopt;
    }
    return decode_hook_cursor(it->second);
  }

  // One commit with a precondition: that the document does not exist, for
  // revision 1, else its updateTime as read at the revision before.
  bool put_hook_cursor(const HookCursor& cursor) override {
    check_firestore_hook_cursor(cursor);
    const std::string name = hook_cursor_name(cursor.hook, cursor.context);
    const std::string write_id = new_write_id();
    const Json fields = hook_cursor_fields(cursor, write_id);
    if (const std::size_t size = document_size(relative(name), fields); size > k_max_document_bytes) {
      throw Error(ErrorCode::too_large,
                  "the cursor of hook '" + cursor.hook + "' for " + describe(cursor.context) + " is " +
                      std::to_string(size) + " bytes as a Firestore document, over Firestore's limit of 1 MiB (" +
                      std::to_string(k_max_document_bytes) + " bytes)",
                  "state");
    }
    Json precondition{{"exists", false}};
    if (cursor.revision > 1) {
      const auto found = batch_get({name});
      const auto it = found.find(name);
      if (it == found.end() || decode_hook_cursor(it->second).revision != cursor.revision - 1) {
        return false;
      }
      precondition = Json{{"updateTime", it->second.value("updateTime", "")}};
    }
    Json write{{"update", {{"name", name}, {"fields", fields}}}, {"currentDocument", std::move(precondition)}};
    try {
      commit(Json::array({std::move(write)}), 1);
      return true;
    } catch (const gcp::PreconditionFailed&) {
      return written_by(name, write_id);
    }
  }

  std::vector<HookCursor> hook_cursors(std::optional<std::string_view> hook) override {
    std::vector<HookCursor> out;
    if (hook && !is_valid_name(*hook)) {
      return out;
    }
    const auto documents =
        hook ? list_all("hook_cursors", field_filter("hook", "EQUAL", string_value(*hook))) : list_all("hook_cursors");
    for (const auto& document : documents) {
      out.push_back(decode_hook_cursor(document));
    }
    std::sort(out.begin(), out.end(), [](const HookCursor& a, const HookCursor& b) {
      return std::tie(a.hook, a.context) < std::tie(b.hook, b.context);
    });
    return out;
  }

  std::size_t remove_hook_cursors(std::string_view hook) override {
    if (!is_valid_name(hook)) {
      return 0;
    }
    std::vector<std::string> names;
    for (const auto& document : list_all("hook_cursors", field_filter("hook", "EQUAL", string_value(hook)))) {
      names.push_back(document.value("name", ""));
    }
    delete_documents(names);
    return names.size();
  }

  std::vector<ContextKey> contexts(std::optional<std::string_view> user_id) override {
    std::set<ContextKey> found;
    if (user_id && !is_valid_name(*user_id)) {
      return {};
    }
    const auto documents =
        user_id ? run_query("/users/" + url_segment(*user_id), names_only("namespaces")) : list_all("namespaces");
    for (const auto& document : documents) {
      const auto parts = path_of(document.value("name", ""));
      if (parts.size() == 4 && parts[0] == "users" && parts[2] == "namespaces") {
        found.insert(ContextKey{from_doc_id(parts[1]), from_doc_id(parts[3])});
      }
    }
    return {found.begin(), found.end()};
  }

  void append_audit(std::span<const AuditRecord> records, bool /*durable*/) override {
    // Every Firestore commit is durable on return: `durable` changes nothing.
    if (records.empty()) {
      return;
    }
    std::lock_guard lock(m_audit_mutex);
    for (int round = 0;; ++round) {
      const std::string write_id = new_write_id();
      Json writes = Json::array();
      const AuditTail tail = chain(records, write_id, writes);
      try {
        commit(writes, writes.size());
        m_audit_tail = tail;
        return;
      } catch (const gcp::PreconditionFailed&) {
        if (written_by(audit_name(m_audit_tail->seq + 1), write_id)) {
          m_audit_tail = tail;
          return;
        }
        if (round >= k_max_audit_rounds) {
          throw;
        }
        // Another process appended since: chain after its records.
        m_audit_tail.reset();
      }
    }
  }

  std::vector<AuditRecord> audit_log(const AuditQuery& query) override {
    std::vector<AuditRecord> out;
    if (query.limit == 0 || (query.before_seq && *query.before_seq <= 1)) {
      return out;
    }
    // User and namespace are filtered by Firestore (composite indexes on
    // real Firestore: docs/firestore.md), times while reading.
    std::optional<std::uint64_t> cursor = query.before_seq;
    const bool filtered = query.since || query.until;
    const std::size_t page = filtered ? k_page : std::min(query.limit, k_page);
    for (;;) {
      std::vector<Json> filters;
      if (query.user_id) {
        filters.push_back(field_filter("user_id", "EQUAL", string_value(*query.user_id)));
      }
      if (query.ns) {
        filters.push_back(field_filter("ns", "EQUAL", string_value(*query.ns)));
      }
      if (cursor) {
        filters.push_back(field_filter("seq", "LESS_THAN", integer_value(*cursor)));
      }
      Json body{{"from", Json::array({{{"collectionId", "audit"}}})},
                {"orderBy", Json::array({order("seq", true)})},
                {"limit", page}};
      if (!filters.empty()) {
        body["where"] = and_filter(std::move(filters));
      }
      const auto documents = run_query("", body);
      for (const auto& document : documents) {
        if (integer_field<std::uint64_t>(document, "seq") == 0U) {
          continue; // the audit floor, which sorts last
        }
        AuditRecord record = decode_audit(document);
        cursor = record.seq;
        if (matches(record, query)) {
          out.push_back(std::move(record));
          if (out.size() >= query.limit) {
            return out;
          }
        }
      }
      if (documents.size() < page) {
        return out;
      }
    }
  }

private:
  // append(), without the head hints' bookkeeping.
  bool append_unhinted(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) {
    std::vector<Json> fields;
    std::vector<std::string> write_ids;
    for (const auto& record : records) {
      if (!is_valid_key(record.key())) {
        throw Error(ErrorCode::invalid, "cannot store " + describe(record.key()) + ": unsafe name", "user_id");
      }
      if (record.version == 0 ||
          record.version > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw Error(ErrorCode::invalid,
                    "cannot store version " + std::to_string(record.version) + " of " + describe(record.key()),
                    "version");
      }
      check_gap(record);
      for (const std::string* text :
           {&record.data, &record.delta, &record.actor, &record.request_id, &record.idempotency_key, &record.prev_hash,
            &record.hash, &record.salt, &record.key_id}) {
        if (!is_valid_utf8(*text)) {
          throw Error(ErrorCode::invalid,
                      "version " + std::to_string(record.version) + " of " + describe(record.key()) +
                          " holds text that is not UTF-8, which Firestore cannot store",
                      "data");
        }
      }
      write_ids.push_back(new_write_id());
      fields.push_back(version_fields(record, write_ids.back()));
      const std::size_t size = document_size(relative(version_name(record.key(), record.version)), fields.back());
      if (size > k_max_document_bytes) {
        throw Error(ErrorCode::too_large,
                    "version " + std::to_string(record.version) + " of " + describe(record.key()) + " is " +
                        std::to_string(size) + " bytes as a Firestore document, over Firestore's limit of 1 MiB (" +
                        std::to_string(k_max_document_bytes) + " bytes)",
                    "data");
      }
    }
    if (records.empty()) {
      append_audit(audit, true);
      return true;
    }
    // One commit when it fits Firestore's limits; a larger batch (an import's
    // chunk) goes in several, in order, each atomic.
    for (std::size_t begin = 0; begin < records.size();) {
      std::size_t end = begin;
      std::size_t bytes = 0;
      std::size_t writes = audit.size();
      while (end < records.size()) {
        const std::size_t size = fields[end].dump().size() + 512;
        // The version, perhaps its head, perhaps its data key's precondition.
        if (end > begin && (writes + 3 > k_max_commit_writes || bytes + size > k_max_commit_bytes)) {
          break;
        }
        bytes += size;
        writes += 3;
        ++end;
      }
      const bool last = end >= records.size();
      if (!commit_versions(records.subspan(begin, end - begin), std::span(fields).subspan(begin, end - begin),
                           std::span(write_ids).subspan(begin, end - begin),
                           last ? audit : std::span<const AuditRecord>{})) {
        return false;
      }
      begin = end;
    }
    return true;
  }

  struct AuditTail {
    std::uint64_t seq = 0;
    std::string hash;
  };
  struct KnownHead {
    std::uint64_t version = 0;
    std::string hash;
    std::string update_time;
  };

  // "users/u/..." of a full document name.
  std::string relative(const std::string& name) const { return name.substr(m_root.size() + 1); }

  std::vector<std::string> path_of(const std::string& name) const {
    std::vector<std::string> parts;
    if (!name.starts_with(m_root + "/")) {
      return parts;
    }
    std::string_view rest(name);
    rest.remove_prefix(m_root.size() + 1);
    for (;;) {
      const auto slash = rest.find('/');
      parts.emplace_back(rest.substr(0, slash));
      if (slash == std::string_view::npos) {
        return parts;
      }
      rest.remove_prefix(slash + 1);
    }
  }

  std::string context_name(const ContextKey& key) const {
    return m_root + "/users/" + doc_id(key.user_id) + "/namespaces/" + doc_id(key.ns);
  }
  std::string version_name(const ContextKey& key, std::uint64_t version) const {
    return context_name(key) + "/versions/" + padded(version);
  }
  std::string data_key_name(const std::string& user, std::uint64_t generation) const {
    return m_root + "/users/" + doc_id(user) + "/data_keys/" + padded(generation);
  }
  std::string hook_cursor_name(std::string_view hook, const ContextKey& context) const {
    return m_root + "/users/" + doc_id(context.user_id) + "/hook_cursors/" + doc_id(context.ns) + "#" + doc_id(hook);
  }
  std::string audit_name(std::uint64_t seq) const { return m_root + "/audit/" + padded(seq); }
  static std::string versions_parent(const ContextKey& key) {
    return "/users/" + url_segment(key.user_id) + "/namespaces/" + url_segment(key.ns);
  }
  static Json versions_query(const ContextKey& /*key*/) {
    return Json{{"from", Json::array({{{"collectionId", "versions"}}})}};
  }
  static Json names_only(std::string_view collection) {
    return Json{{"from", Json::array({{{"collectionId", std::string(collection)}}})},
                {"select", {{"fields", Json::array({{{"fieldPath", "__name__"}}})}}}};
  }
  static Json all_of(std::string_view collection, bool descendants) {
    return Json{{"from", Json::array({{{"collectionId", std::string(collection)}, {"allDescendants", descendants}}})}};
  }

  Json data_key_fields(const DataKeyRecord& key, const std::string& write_id) const {
    return Json{{"generation", integer_value(key.generation)},
                {"master_key_id", string_value(key.master_key_id)},
                {"wrapped", string_value(key.wrapped)},
                {"created_at", integer_value(to_micros(key.created_at))},
                {"write_id", string_value(write_id)}};
  }

  Error damaged(const Json& document, const std::string& reason) const {
    return Error(ErrorCode::unavailable, "damaged document '" + document.value("name", std::string("?")) +
                                             "' in Firestore project '" + m_client.settings().project + "': " + reason);
  }

  // One call; Firestore's answer as JSON.
  Json post(std::string_view operation, const std::string& suffix, const Json& body) {
    std::string text;
    try {
      text = body.dump();
    } catch (const Json::exception& e) {
      throw Error(ErrorCode::invalid, "cannot send " + std::string(operation) + " to Firestore: " + e.what());
    }
    const std::string answer = m_client.post(operation, suffix, text);
    Json parsed = Json::parse(answer, nullptr, false);
    if (parsed.is_discarded()) {
      throw Error(ErrorCode::unavailable, "Firestore's answer to " + std::string(operation) + " in project '" +
                                              m_client.settings().project + "' is not JSON");
    }
    return parsed;
  }

  // The documents a structured query finds under `parent` ("" for the root,
  // "/users/u" ...), in order.
  std::vector<Json> run_query(const std::string& parent, const Json& structured_query) {
    const Json answer = post("runQuery", parent + ":runQuery", Json{{"structuredQuery", structured_query}});
    std::vector<Json> documents;
    if (!answer.is_array()) {
      throw Error(ErrorCode::unavailable,
                  "Firestore's answer to runQuery in project '" + m_client.settings().project + "' is not a list");
    }
    for (const auto& part : answer) {
      if (part.is_object() && part.contains("document") && part["document"].is_object()) {
        documents.push_back(part["document"]);
      }
    }
    return documents;
  }

  // Every document of every collection named `collection`, page after page
  // by name (a collection group query: exports and listings); only those
  // `where` selects, when given.
  std::vector<Json> list_all(std::string_view collection, const std::optional<Json>& where = std::nullopt) {
    std::vector<Json> out;
    std::string after;
    for (;;) {
      Json body = all_of(collection, true);
      if (where) {
        body["where"] = *where;
      }
      body["orderBy"] = Json::array({order("__name__", false)});
      body["limit"] = k_page;
      if (!after.empty()) {
        body["startAt"] = {{"values", Json::array({{{"referenceValue", after}}})}, {"before", false}};
      }
      auto documents = run_query("", body);
      const std::size_t count = documents.size();
      if (count > 0) {
        after = documents.back().value("name", "");
      }
      for (auto& document : documents) {
        out.push_back(std::move(document));
      }
      if (count < k_page) {
        return out;
      }
    }
  }

  // The documents that exist among `names`, by name.
  std::map<std::string, Json> batch_get(const std::vector<std::string>& names) {
    std::map<std::string, Json> found;
    for (std::size_t begin = 0; begin < names.size(); begin += k_page) {
      const std::size_t end = std::min(names.size(), begin + k_page);
      const Json body{{"documents", std::vector<std::string>(names.begin() + static_cast<std::ptrdiff_t>(begin),
                                                             names.begin() + static_cast<std::ptrdiff_t>(end))}};
      const Json answer = post("batchGet", ":batchGet", body);
      if (!answer.is_array()) {
        throw Error(ErrorCode::unavailable,
                    "Firestore's answer to batchGet in project '" + m_client.settings().project + "' is not a list");
      }
      for (const auto& part : answer) {
        if (part.is_object() && part.contains("found") && part["found"].is_object()) {
          found[part["found"].value("name", "")] = part["found"];
        }
      }
    }
    return found;
  }

  // One commit of `writes`, `counted` of which change a document.
  Json commit(const Json& writes, std::size_t counted) {
    m_transactions.fetch_add(1, std::memory_order_relaxed);
    m_writes.fetch_add(counted, std::memory_order_relaxed);
    return post("commit", ":commit", Json{{"writes", writes}});
  }

  // Whether the document `name` holds `write_id`: a commit that failed its
  // preconditions against its own first attempt, retried after a lost answer.
  bool written_by(const std::string& name, const std::string& write_id) {
    const auto found = batch_get({name});
    const auto it = found.find(name);
    return it != found.end() && string_field(it->second, "write_id") == write_id;
  }

  // Chains `records` after the audit tail (read when unknown) into `writes`;
  // the tail after them.
  AuditTail chain(std::span<const AuditRecord> records, const std::string& write_id, Json& writes) {
    if (!m_audit_tail) {
      m_audit_tail = read_audit_tail();
    }
    AuditTail tail = *m_audit_tail;
    for (const auto& record : records) {
      AuditRecord stamped = as_stored(record);
      stamped.seq = tail.seq + 1;
      chain_audit(stamped, tail.hash);
      writes.push_back(
          Json{{"update", {{"name", audit_name(stamped.seq)}, {"fields", audit_fields(stamped, write_id)}}},
               {"currentDocument", {{"exists", false}}}});
      tail = {stamped.seq, stamped.hash};
    }
    return tail;
  }

  // The newest audit record's seq and hash; the floor's when retention
  // removed every record.
  AuditTail read_audit_tail() {
    Json body{{"from", Json::array({{{"collectionId", "audit"}}})},
              {"orderBy", Json::array({order("seq", true)})},
              {"limit", 1}};
    const auto documents = run_query("", body);
    if (documents.empty()) {
      return {};
    }
    auto seq = integer_field<std::uint64_t>(documents.front(), "seq");
    if (seq == 0U) {
      seq = integer_field<std::uint64_t>(documents.front(), "floor_seq");
    }
    if (!seq) {
      throw damaged(documents.front(), "not an audit record");
    }
    return {*seq, string_field(documents.front(), "hash")};
  }

  // Keeps `tail` as the audit floor before the record it names goes,
  // unless the floor names a later one already: a compare-and-swap on the
  // floor's updateTime.
  void raise_audit_floor(const AuditTail& tail) {
    const std::string name = audit_name(0);
    for (int round = 0;; ++round) {
      const auto found = batch_get({name});
      const auto it = found.find(name);
      if (it != found.end() && integer_field<std::uint64_t>(it->second, "floor_seq").value_or(0) >= tail.seq) {
        return;
      }
      Json fields{{"seq", integer_value(0)}, {"floor_seq", integer_value(tail.seq)}, {"hash", string_value(tail.hash)}};
      Json precondition =
          it == found.end() ? Json{{"exists", false}} : Json{{"updateTime", it->second.value("updateTime", "")}};
      try {
        commit(Json::array({Json{{"update", {{"name", name}, {"fields", std::move(fields)}}},
                                 {"currentDocument", std::move(precondition)}}}),
               1);
        return;
      } catch (const gcp::PreconditionFailed&) {
        if (round >= k_max_audit_rounds) {
          throw;
        }
        // Another pruning raised it meanwhile: look again.
      }
    }
  }

  // The version the head document of a context names; nullopt when the
  // context has none (never written, or erased).
  std::optional<std::uint64_t> head_version(const ContextKey& key) {
    const auto found = batch_get({context_name(key)});
    const auto it = found.find(context_name(key));
    if (it == found.end()) {
      return std::nullopt;
    }
    const auto version = integer_field<std::uint64_t>(it->second, "version");
    if (!version) {
      throw damaged(it->second, "its head has no version");
    }
    return version;
  }

  void remember_head(const ContextKey& key, std::uint64_t version, const std::string& hash,
                     const std::string& update_time) {
    if (update_time.empty()) {
      return;
    }
    std::lock_guard lock(m_known_mutex);
    if (m_known.size() >= k_max_known_heads) {
      m_known.clear();
    }
    m_known[key] = KnownHead{version, hash, update_time};
  }

  std::optional<KnownHead> known_head(const ContextKey& key) {
    std::lock_guard lock(m_known_mutex);
    const auto it = m_known.find(key);
    return it == m_known.end() ? std::nullopt : std::optional<KnownHead>(it->second);
  }

  void forget_head(const ContextKey& key) {
    std::lock_guard lock(m_known_mutex);
    m_known.erase(key);
  }

  // Appends `records` in one commit with `audit`; false when a check fails.
  bool commit_versions(std::span<const VersionRecord> records, std::span<const Json> fields,
                       std::span<const std::string> write_ids, std::span<const AuditRecord> audit) {
    // Per context: its first and last record here, and what the head
    // document must be for the first to follow it.
    struct Context {
      std::size_t first = 0;
      std::size_t last = 0;
      std::string update_time; // the head's; empty: it must not exist (version 1)
    };
    std::map<ContextKey, Context> contexts;
    std::set<std::pair<std::string, std::uint64_t>> keys;
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto [it, inserted] = contexts.try_emplace(records[i].key(), Context{i, i, {}});
      it->second.last = i;
      if (!records[i].key_id.empty()) {
        const auto generation = key_generation(records[i].key_id);
        if (!generation) {
          return false;
        }
        keys.insert({records[i].user_id, *generation});
      }
    }
    // The updateTime of each context's head document, known from this
    // store's reads and writes or read now (one batchGet for all of them):
    // it must name the version before the first record (the last a gap
    // stands for, after an import of a pruned history) and its hash.
    std::vector<std::string> unknown;
    for (auto& [key, context] : contexts) {
      const VersionRecord& first = records[context.first];
      if (first.version == 1) {
        continue;
      }
      const auto known = known_head(key);
      if (known && known->version == first.version - 1 && known->hash == first.prev_hash) {
        context.update_time = known->update_time;
      } else {
        unknown.push_back(context_name(key));
      }
    }
    if (!unknown.empty()) {
      const auto found = batch_get(unknown);
      for (auto& [key, context] : contexts) {
        const VersionRecord& first = records[context.first];
        if (first.version == 1 || !context.update_time.empty()) {
          continue;
        }
        const auto it = found.find(context_name(key));
        if (it == found.end() || integer_field<std::uint64_t>(it->second, "version") != first.version - 1 ||
            string_field(it->second, "hash") != first.prev_hash) {
          return false;
        }
        context.update_time = it->second.value("updateTime", "");
      }
    }

    Json writes = Json::array();
    for (std::size_t i = 0; i < records.size(); ++i) {
      writes.push_back(
          Json{{"update", {{"name", version_name(records[i].key(), records[i].version)}, {"fields", fields[i]}}},
               {"currentDocument", {{"exists", false}}}});
    }
    std::vector<std::pair<ContextKey, std::size_t>> head_writes; // context, index in writes
    for (const auto& [key, context] : contexts) {
      const VersionRecord& last = records[context.last];
      Json head_fields{{"version", integer_value(last.last_version())},
                       {"hash", string_value(last.hash)},
                       {"write_id", string_value(write_ids[context.last])}};
      Json precondition =
          context.update_time.empty() ? Json{{"exists", false}} : Json{{"updateTime", context.update_time}};
      head_writes.emplace_back(key, writes.size());
      writes.push_back(Json{{"update", {{"name", context_name(key)}, {"fields", std::move(head_fields)}}},
                            {"currentDocument", std::move(precondition)}});
    }
    // A sealed record's data key must exist at the commit: an update that
    // changes no field (an empty mask) is a precondition and nothing else.
    for (const auto& [user, generation] : keys) {
      writes.push_back(Json{{"update", {{"name", data_key_name(user, generation)}, {"fields", Json::object()}}},
                            {"updateMask", {{"fieldPaths", Json::array()}}},
                            {"currentDocument", {{"exists", true}}}});
    }
    const std::size_t counted = records.size() + contexts.size() + audit.size();

    std::unique_lock<std::mutex> audit_lock(m_audit_mutex, std::defer_lock);
    if (!audit.empty()) {
      audit_lock.lock();
    }
    const std::size_t audit_start = writes.size();
    for (int round = 0;; ++round) {
      std::optional<AuditTail> tail;
      if (!audit.empty()) {
        writes.erase(writes.begin() + static_cast<std::ptrdiff_t>(audit_start), writes.end());
        tail = chain(audit, write_ids.front(), writes);
      }
      try {
        const Json answer = commit(writes, counted);
        const auto& results = answer.value("writeResults", Json::array());
        for (const auto& [key, index] : head_writes) {
          const VersionRecord& last = records[contexts[key].last];
          const std::string update_time = index < results.size() ? results[index].value("updateTime", "") : "";
          remember_head(key, last.last_version(), last.hash,
                        update_time.empty() ? answer.value("commitTime", "") : update_time);
        }
        if (tail) {
          m_audit_tail = tail;
        }
        return true;
      } catch (const gcp::PreconditionFailed&) {
        // Ours after all (a retried commit whose first attempt went through)?
        const std::string first_name = version_name(records.front().key(), records.front().version);
        std::vector<std::string> names{first_name};
        for (const auto& [key, context] : contexts) {
          names.push_back(context_name(key));
        }
        for (std::size_t i = 1; i < records.size(); ++i) {
          names.push_back(version_name(records[i].key(), records[i].version));
        }
        for (const auto& [user, generation] : keys) {
          names.push_back(data_key_name(user, generation));
        }
        const auto found = batch_get(names);
        if (const auto it = found.find(first_name);
            it != found.end() && string_field(it->second, "write_id") == write_ids.front()) {
          for (const auto& [key, context] : contexts) {
            remember_head(key, records[context.last].last_version(), records[context.last].hash,
                          it->second.value("updateTime", ""));
          }
          if (tail) {
            m_audit_tail = tail;
          }
          return true;
        }
        // Did the versions' checks fail, or only the audit log's tail move?
        bool chain_holds = true;
        for (const auto& [key, context] : contexts) {
          const auto head = found.find(context_name(key));
          const bool as_expected =
              context.update_time.empty()
                  ? head == found.end()
                  : head != found.end() && head->second.value("updateTime", "") == context.update_time;
          chain_holds = chain_holds && as_expected;
        }
        for (std::size_t i = 0; i < records.size(); ++i) {
          chain_holds = chain_holds && !found.contains(version_name(records[i].key(), records[i].version));
        }
        for (const auto& [user, generation] : keys) {
          chain_holds = chain_holds && found.contains(data_key_name(user, generation));
        }
        if (!chain_holds || audit.empty() || round >= k_max_audit_rounds) {
          for (const auto& [key, context] : contexts) {
            forget_head(key);
          }
          return false;
        }
        m_audit_tail.reset(); // another process appended audit records: chain after them
      }
    }
  }

  // Removes one context: its versions, oldest first, then its head document
  // if it is still as read before (else a writer appended meanwhile: again).
  std::size_t erase_context(const ContextKey& key) {
    forget_head(key);
    std::size_t removed = 0;
    for (int round = 0; round < k_max_erase_rounds; ++round) {
      const auto found = batch_get({context_name(key)});
      const auto head = found.find(context_name(key));
      std::vector<std::string> names;
      for (;;) {
        Json body = versions_query(key);
        body["select"] = {{"fields", Json::array({{{"fieldPath", "version"}}})}};
        body["orderBy"] = Json::array({order("version", false)});
        body["limit"] = k_page;
        if (!names.empty()) {
          body["where"] = field_filter(
              "version", "GREATER_THAN",
              integer_value(parse_padded(names.back().substr(names.back().size() - k_padded_digits)).value_or(0)));
        }
        const auto documents = run_query(versions_parent(key), body);
        for (const auto& document : documents) {
          names.push_back(document.value("name", ""));
        }
        if (documents.size() < k_page) {
          break;
        }
      }
      delete_documents(names);
      removed += names.size();
      if (head == found.end()) {
        return removed; // no head: no appends (each writes it), nothing more to find
      }
      try {
        commit(Json::array({Json{{"delete", context_name(key)},
                                 {"currentDocument", {{"updateTime", head->second.value("updateTime", "")}}}}}),
               1);
        return removed;
      } catch (const gcp::PreconditionFailed&) {
        // A writer appended meanwhile, or another erase got there first.
      }
    }
    throw Error(ErrorCode::unavailable, "could not erase " + describe(key) + " in Firestore project '" +
                                            m_client.settings().project + "': writers kept adding versions");
  }

  void delete_documents(const std::vector<std::string>& names) {
    for (std::size_t begin = 0; begin < names.size(); begin += k_max_commit_writes) {
      Json writes = Json::array();
      for (std::size_t i = begin; i < std::min(names.size(), begin + k_max_commit_writes); ++i) {
        writes.push_back(Json{{"delete", names[i]}});
      }
      commit(writes, writes.size());
    }
  }

  VersionRecord decode_version(const Json& document, const ContextKey& key) const {
    VersionRecord record;
    const auto parts = path_of(document.value("name", ""));
    const auto version = parts.size() == 6 ? parse_padded(parts[5]) : std::nullopt;
    if (!version || *version == 0 || parts[0] != "users" || parts[2] != "namespaces" || parts[4] != "versions") {
      throw damaged(document, "not a version's name");
    }
    record.user_id = from_doc_id(parts[1]);
    record.ns = from_doc_id(parts[3]);
    record.version = *version;
    if (record.key() != key) {
      throw damaged(document, "it belongs to " + describe(record.key()) + ", not " + describe(key));
    }
    if (integer_field<std::uint64_t>(document, "version") != record.version) {
      throw damaged(document, "its version field does not match its name");
    }
    const auto updated_at = integer_field<std::int64_t>(document, "updated_at");
    if (!updated_at) {
      throw damaged(document, "no updated_at");
    }
    record.updated_at = from_micros(*updated_at);
    record.data = string_field(document, "data");
    record.delta = string_field(document, "delta");
    record.actor = string_field(document, "actor");
    record.request_id = string_field(document, "request_id");
    if (const Json* tags = field(document, "tags")) {
      const auto array = tags->find("arrayValue");
      if (array == tags->end() || !array->is_object()) {
        throw damaged(document, "tags is not an array");
      }
      for (const auto& tag : array->value("values", Json::array())) {
        const auto s = tag.find("stringValue");
        if (s == tag.end() || !s->is_string()) {
          throw damaged(document, "a tag is not a string");
        }
        record.tags.push_back(s->get<std::string>());
      }
    }
    record.derived_from = integer_field<std::uint64_t>(document, "derived_from").value_or(0);
    if (field(document, "rollback_of") != nullptr) {
      record.rollback_of = integer_field<std::uint64_t>(document, "rollback_of");
      if (!record.rollback_of) {
        throw damaged(document, "rollback_of is not a version");
      }
    }
    record.idempotency_key = string_field(document, "idempotency_key");
    record.prev_hash = string_field(document, "prev_hash");
    record.hash = string_field(document, "hash");
    record.salt = string_field(document, "salt");
    record.key_id = string_field(document, "key_id");
    if (field(document, "pruned_through") != nullptr) {
      record.pruned_through = integer_field<std::uint64_t>(document, "pruned_through");
      if (!record.pruned_through || *record.pruned_through < record.version) {
        throw damaged(document, "pruned_through is not a version from its own on");
      }
    }
    return record;
  }

  AuditRecord decode_audit(const Json& document) const {
    AuditRecord record;
    const auto seq = integer_field<std::uint64_t>(document, "seq");
    const auto time = integer_field<std::int64_t>(document, "time");
    if (!seq || !time) {
      throw damaged(document, "not an audit record");
    }
    record.seq = *seq;
    record.time = from_micros(*time);
    record.request_id = string_field(document, "request_id");
    record.actor = string_field(document, "actor");
    record.operation = string_field(document, "operation");
    record.user_id = string_field(document, "user_id");
    record.ns = string_field(document, "ns");
    record.version = string_field(document, "version");
    record.outcome = string_field(document, "outcome");
    record.detail = string_field(document, "detail");
    record.prev_hash = string_field(document, "prev_hash");
    record.hash = string_field(document, "hash");
    return record;
  }

  DataKeyRecord decode_data_key(const Json& document) const {
    DataKeyRecord key;
    const auto parts = path_of(document.value("name", ""));
    const std::uint64_t generation =
        parts.size() == 4 && parts[0] == "users" && parts[2] == "data_keys" ? parse_padded(parts[3]).value_or(0) : 0;
    const auto created_at = integer_field<std::int64_t>(document, "created_at");
    if (!is_valid_generation(generation) || !created_at) {
      throw damaged(document, "not a data key");
    }
    key.user_id = from_doc_id(parts[1]);
    key.generation = generation;
    key.master_key_id = string_field(document, "master_key_id");
    key.wrapped = string_field(document, "wrapped");
    key.created_at = from_micros(*created_at);
    return key;
  }

  HookCursor decode_hook_cursor(const Json& document) const {
    const auto parts = path_of(document.value("name", ""));
    const auto hash = parts.size() == 4 ? parts[3].find('#') : std::string::npos;
    const auto revision = integer_field<std::uint64_t>(document, "revision");
    if (hash == std::string::npos || parts[0] != "users" || parts[2] != "hook_cursors" || !revision || *revision == 0) {
      throw damaged(document, "not a hook cursor");
    }
    HookCursor cursor;
    cursor.hook = from_doc_id(parts[3].substr(hash + 1));
    cursor.context = ContextKey{from_doc_id(parts[1]), from_doc_id(parts[3].substr(0, hash))};
    if (string_field(document, "hook") != cursor.hook || string_field(document, "ns") != cursor.context.ns) {
      throw damaged(document, "its hook or ns field does not match its name");
    }
    cursor.revision = *revision;
    cursor.state = string_field(document, "state");
    return cursor;
  }

  gcp::FirestoreClient m_client;
  std::string m_root;
  std::atomic<std::uint64_t> m_transactions{0};
  std::atomic<std::uint64_t> m_writes{0};
  HeadHints m_hints;
  std::mutex m_audit_mutex;
  std::optional<AuditTail> m_audit_tail; // this store's last append, else read before the next one
  std::mutex m_known_mutex;
  std::map<ContextKey, KnownHead> m_known; // heads this store read or wrote, with their updateTime
};

} // namespace

std::string firestore_project_id(std::string_view store_name) {
  std::string project(store_name);
  std::replace(project.begin(), project.end(), '_', '-');
  return project;
}

std::unique_ptr<MemoryStore> make_firestore_store(const StoreConfig& config) {
  std::string name = config.store_name;
  if (name.empty()) {
    if (const char* env = std::getenv("FIRESTORE_PROJECT")) {
      name = env;
    }
  }
  if (name.empty()) {
    throw Error(ErrorCode::invalid, "no Firestore project: set FIRESTORE_PROJECT", "FIRESTORE_PROJECT");
  }
  const std::string project = firestore_project_id(name);
  if (!gcp::is_valid_project_id(project)) {
    throw Error(ErrorCode::invalid,
                "Firestore project '" + name +
                    "' is not a project id: lowercase letters, digits and '-' (or '_', taken as '-'), starting "
                    "with a letter",
                "FIRESTORE_PROJECT");
  }
  return std::make_unique<FirestoreStore>(gcp::firestore_settings_from_env(project), config.create);
}

} // namespace zsimem::store
