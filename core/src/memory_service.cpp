#include "audit_buffer.hpp"
#include "crypto.hpp"
#include "store/sealed_store.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/failpoint.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/merge_patch.hpp>
#include <zsimem/policy.hpp>
#include <zsimem/retention.hpp>
#include <zsimem/validate.hpp>

#include <algorithm>
#include <array>
#include <iostream>
#include <map>
#include <random>
#include <set>

namespace zsimem {
namespace {

constexpr std::size_t k_max_page = 1000;
constexpr std::size_t k_scan_page = 500;
constexpr std::size_t k_import_chunk = 1000;
constexpr std::size_t k_audit_name_bytes = 200;

std::string describe(const ContextKey& key) { return "'" + key.user_id + "' (namespace '" + key.ns + "')"; }

void validate_key(const ContextKey& key) {
  validate_user_id(key.user_id);
  validate_namespace(key.ns);
}

// An audit record under construction, and whether it has been written
// already (with the versions it belongs to).
struct AuditTrail {
  AuditRecord record;
  bool logged = false;
};

// Where the audit records of reads and failures go: straight to the store,
// or through a buffer that writes them in batches (ServiceOptions).
struct ReadAuditLog {
  MemoryStore& store;
  AuditBuffer* buffer;
  bool reads; // Features::read_audit

  void add(const AuditRecord& record) const {
    if (buffer) {
      buffer->add(record);
    } else {
      store.append_audit(record, false);
    }
  }
};

// The operations that change nothing. With Features::read_audit off they
// leave no audit record, unless the policy refused them.
bool is_read(std::string_view operation) {
  static constexpr std::string_view k_reads[] = {"get",   "merge_dry_run", "follow",       "history", "summary",
                                                 "diff",  "blame",         "verify",       "export",  "audit_log",
                                                 "users", "namespaces",    "prune_dry_run"};
  return std::find(std::begin(k_reads), std::end(k_reads), operation) != std::end(k_reads);
}

// Runs one operation and leaves exactly one audit record for it, success or
// failure (but see is_read). Reads and failures are logged without waiting for the disk;
// writes pass their record to MemoryStore::append, atomic with the version.
template <typename Body>
auto audited(const ReadAuditLog& log, const Caller& caller, std::string_view operation, std::string_view user_id,
             std::string_view ns, Body&& body) {
  AuditTrail trail;
  trail.record.time = now();
  trail.record.request_id = caller.request_id;
  trail.record.actor = caller.actor;
  trail.record.operation = operation;
  // Names may be invalid (that is what failed): keep the log bounded.
  trail.record.user_id = user_id.substr(0, k_audit_name_bytes);
  trail.record.ns = ns.substr(0, k_audit_name_bytes);
  trail.record.outcome = "ok";
  const bool unlogged_read = !log.reads && is_read(operation);
  const auto log_failure = [&](ErrorCode code, const char* message) {
    if (unlogged_read && code != ErrorCode::denied && code != ErrorCode::unauthenticated) {
      return;
    }
    trail.record.outcome = to_string(code);
    trail.record.detail = message;
    try {
      log.add(trail.record);
    } catch (const std::exception&) {
      // The original failure is what the caller needs to see.
    }
  };
  try {
    auto result = body(trail);
    if (!trail.logged && !unlogged_read) {
      try {
        log.add(trail.record);
      } catch (const std::exception& error) {
        // As the daemon's buffer does: a read's record (or that of a write
        // that changed nothing) is lost rather than the read failed after the
        // fact, so that a full disk does not stop reads.
        std::cerr << "zsimem: lost the audit record of this " << operation << ": " << error.what() << std::endl;
      }
    }
    return result;
  } catch (const Error& error) {
    log_failure(error.code(), error.what());
    throw;
  } catch (const Json::parse_error& error) {
    // Inputs are parsed by parse_json, which throws Error: JSON that fails
    // to parse here was read from the store, which is damaged.
    const Error damaged(ErrorCode::unavailable,
                        std::string("the store is damaged (run zsimem verify): ") + error.what());
    log_failure(damaged.code(), damaged.what());
    throw damaged;
  } catch (const std::exception& error) {
    log_failure(ErrorCode::internal, error.what());
    throw Error(ErrorCode::internal, std::string("internal error: ") + error.what());
  }
}

// Audit retention leaves a record naming the hash of the last record it
// removed: the one the oldest remaining record names as its predecessor.
constexpr std::string_view k_audit_prune_operation = "prune_audit";
constexpr std::string_view k_bridge_marker = "; bridge ";

std::optional<std::string> audit_bridge(const AuditRecord& record) {
  const auto at = record.detail.rfind(k_bridge_marker);
  if (record.operation != k_audit_prune_operation || at == std::string::npos) {
    return std::nullopt;
  }
  return record.detail.substr(at + k_bridge_marker.size());
}

// Walks the audit log from its newest record to its oldest: each record's
// hash must match its contents and be what the record after it names as its
// predecessor. Records from before the chain existed (no hash) may only
// come first in the log; the oldest may name a predecessor that audit
// retention removed, if a later record bridges it.
void verify_audit_chain(MemoryStore& store, VerifyReport& report) {
  report.audit_checked = true;
  std::set<std::string> bridges;
  std::optional<AuditRecord> newer;
  AuditQuery query;
  query.limit = k_max_page;
  for (;;) {
    const auto page = store.audit_log(query);
    for (const auto& record : page) {
      ++report.audit_records;
      const std::string where = "audit record " + std::to_string(record.seq) + ": ";
      if (record.hash.empty()) {
        if (newer && !newer->prev_hash.empty()) {
          report.audit_problem = where + "its hash is missing, yet the record after it names one";
          return;
        }
      } else if (audit_hash(record) != record.hash) {
        report.audit_problem = where + "hash mismatch: the record was changed";
        return;
      } else if (newer && newer->prev_hash != record.hash) {
        report.audit_problem = where + "the record after it names another predecessor (a record was removed, "
                                       "inserted or changed)";
        return;
      }
      if (auto bridge = audit_bridge(record)) {
        bridges.insert(std::move(*bridge));
      }
      newer = record;
    }
    if (page.size() < query.limit) {
      break;
    }
    query.before_seq = page.back().seq;
  }
  if (newer && !newer->prev_hash.empty() && !bridges.contains(newer->prev_hash)) {
    report.audit_problem = "audit record " + std::to_string(newer->seq) +
                           ": the first record names a predecessor, which is missing (records were removed)";
  }
}

// The gap record standing for `records`, consecutive records of one
// context (versions or gaps), oldest first.
VersionRecord gap_for(std::span<const VersionRecord> records) {
  const VersionRecord& first = records.front();
  VersionRecord gap;
  gap.user_id = first.user_id;
  gap.ns = first.ns;
  gap.version = first.version;
  gap.pruned_through = records.back().last_version();
  gap.updated_at = first.updated_at;
  gap.prev_hash = first.prev_hash;
  gap.hash = records.back().hash;
  return gap;
}

// With versioning off: replaces every version before `head` by one gap.
// The write is committed already, so a failure here only leaves versions
// that the next write prunes.
void drop_history(MemoryStore& store, const VersionRecord& head) {
  if (head.version <= 1) {
    return;
  }
  try {
    const auto first = store.version(head.key(), 1);
    if (!first) {
      return; // erased meanwhile
    }
    VersionRecord gap = gap_for({&*first, 1});
    gap.pruned_through = head.version - 1;
    gap.hash = head.prev_hash; // the previous version's
    store.prune(gap);
  } catch (const std::exception& error) {
    std::cerr << "zsimem: could not prune the versions before " << describe(head.key()) << " version " << head.version
              << " (versioning is off): " << error.what() << std::endl;
  }
}

// Appends one version with its operation's audit record and tells the
// context's followers. False when another writer appended it first.
bool append_version(MemoryStore& store, ChangeFeed& changes, const VersionRecord& record, AuditTrail& trail) {
  const AuditRecord audit = trail.record;
  if (!store.append({&record, 1}, {&audit, 1})) {
    return false;
  }
  trail.logged = true;
  changes.publish(record.user_id, record.ns);
  failpoint::hit("service.after_append");
  return true;
}

// Tells followers of every context these records belong to.
void publish_each(ChangeFeed& changes, std::span<const VersionRecord> records) {
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i + 1 == records.size() || records[i + 1].key() != records[i].key()) {
      changes.publish(records[i].user_id, records[i].ns);
    }
  }
}

Json parse_delta(const std::string& text, std::size_t max_bytes, std::string_view field) {
  if (text.size() > max_bytes) {
    throw Error(ErrorCode::too_large,
                std::string(field) + ": " + std::to_string(text.size()) + " bytes; the limit is " +
                    std::to_string(max_bytes) + " (ZSIMEM_MAX_DELTA_BYTES)",
                std::string(field));
  }
  Json delta = parse_json(text, field);
  if (!delta.is_object()) {
    throw Error(ErrorCode::invalid, std::string(field) + ": must be a JSON object (a merge patch)", std::string(field));
  }
  return delta;
}

// The gap record standing for `version`, if retention pruned it.
std::optional<VersionRecord> gap_covering(MemoryStore& store, const ContextKey& key, std::uint64_t version) {
  HistoryQuery query;
  query.before_version = version + 1;
  query.limit = 1;
  auto below = store.history(key, query);
  if (!below.empty() && below.front().is_gap() && below.front().last_version() >= version) {
    return std::move(below.front());
  }
  return std::nullopt;
}

Error pruned_error(const ContextKey& key, std::string_view what, const VersionRecord& gap) {
  return Error(ErrorCode::not_found, std::string(what) + " of " + describe(key) +
                                         " was pruned by retention (versions " + version_string(gap.version) + " to " +
                                         version_string(gap.last_version()) + " are gone)");
}

VersionRecord require_version(MemoryStore& store, const ContextKey& key, std::uint64_t version) {
  auto record = store.version(key, version);
  if (!record || record->is_gap()) {
    if (const auto gap = record ? record : gap_covering(store, key, version)) {
      throw pruned_error(key, "version " + version_string(version), *gap);
    }
    throw Error(ErrorCode::not_found,
                "version " + version_string(version) + " of " + describe(key) + " does not exist");
  }
  return std::move(*record);
}

VersionRecord require_head(MemoryStore& store, const ContextKey& key) {
  auto head = store.head(key);
  if (!head) {
    throw Error(ErrorCode::not_found, "no context for user " + describe(key));
  }
  return std::move(*head);
}

// The version that follows `head` with `data` (canonical JSON), to be sealed
// into the chain.
VersionRecord next_version(const std::optional<VersionRecord>& head, const ContextKey& key, std::string data,
                           const Json& delta, const Caller& caller, const ServiceOptions& options) {
  VersionRecord record;
  record.user_id = key.user_id;
  record.ns = key.ns;
  record.version = head ? head->version + 1 : 1;
  // Non-decreasing within a context, so that as-of reads can bisect.
  record.updated_at = head ? std::max(now(), head->updated_at) : now();
  record.data = std::move(data);
  if (record.data.size() > options.max_context_bytes) {
    throw Error(ErrorCode::too_large, "the context of " + describe(key) + " would grow to " +
                                          std::to_string(record.data.size()) + " bytes; the limit is " +
                                          std::to_string(options.max_context_bytes));
  }
  record.delta = canonical_json(delta);
  record.actor = caller.actor;
  record.request_id = caller.request_id;
  record.derived_from = head ? head->version : 0;
  record.prev_hash = head ? head->hash : std::string{};
  return record;
}

// Links a new version into its chain. Encrypted at rest, its hash also
// covers a random salt (sealed with the data), so that the hash, which is
// stored in the clear, cannot confirm a guess of the content.
void chain(VersionRecord& record, const ServiceOptions& options) {
  if (options.master_keys) {
    record.salt = crypto::random_hex(16);
  }
  record.hash = version_hash(record);
}

// What an update does to a head: the new data, or a conflict.
struct Plan {
  Json data;
  std::string text; // data as canonical JSON
  bool rebased = false;
};

// Optimistic locking. An update that names the version it expects is applied
// when that is the head; when the head has moved, it is rebased onto the head
// if none of the paths it touches changed since (three-way), and refused
// naming the clashing paths otherwise. Strict mode refuses any moved head.
Plan plan_update(MemoryStore& store, const ContextKey& key, const std::optional<VersionRecord>& head,
                 const MemoryUpdate& update, const Json& delta) {
  const std::uint64_t head_version = head ? head->version : 0;
  Plan plan{head ? Json::parse(head->data) : Json::object(), {}, false};
  if (update.expected_version && *update.expected_version != head_version) {
    const std::uint64_t expected = *update.expected_version;
    const std::string current = version_string(head_version);
    if (expected > head_version) {
      throw Error::conflict("expected version " + version_string(expected) + " but " + describe(key) +
                                " is at version " + current,
                            current);
    }
    if (update.strict || expected == 0) {
      throw Error::conflict("expected version " + version_string(expected) + " but " + describe(key) +
                                " is at version " + current + " (strict)",
                            current);
    }
    const auto base = store.version(key, expected);
    if (!base || base->is_gap()) {
      throw Error::conflict("expected version " + version_string(expected) + " of " + describe(key) +
                                " no longer exists; the head is version " + current,
                            current);
    }
    const auto changed = touched_paths(create_merge_patch(Json::parse(base->data), plan.data));
    const auto clashes = overlapping_paths(touched_paths(delta), changed);
    if (!clashes.empty()) {
      std::string list;
      for (const auto& path : clashes) {
        list += (list.empty() ? "" : ", ") + path;
      }
      throw Error::conflict("version " + current + " of " + describe(key) + " changed " + list +
                                " since the expected version " + version_string(expected),
                            current, clashes);
    }
    plan.rebased = true;
  }
  apply_merge_patch(plan.data, delta);
  plan.text = canonical_json(plan.data);
  return plan;
}

std::string json_patch_text(const std::string& from, const std::string& to) {
  return Json::diff(Json::parse(from), Json::parse(to)).dump();
}

// The version an update makes from a head, hashed into the chain.
VersionRecord update_version(const std::optional<VersionRecord>& head, const ContextKey& key, const Plan& plan,
                             const Json& delta, const MemoryUpdate& update, const Caller& caller,
                             const ServiceOptions& options) {
  VersionRecord record = next_version(head, key, plan.text, delta, caller, options);
  record.tags = update.tags;
  record.idempotency_key = update.idempotency_key;
  if (update.expected_version) {
    record.derived_from = *update.expected_version;
  }
  chain(record, options);
  return record;
}

MergeResult created(const std::optional<VersionRecord>& head, const VersionRecord& record, bool rebased) {
  return MergeResult{record, MergeResult::Outcome::created, rebased, head ? head->data : "{}"};
}

Error too_much_contention(const std::string& what, int attempts) {
  return Error(ErrorCode::timeout,
               "gave up after " + std::to_string(attempts) + " attempts: " + what + " changing too fast");
}

MergeResult replay(const VersionRecord& existing, const Json& delta, std::string_view key) {
  if (existing.delta != canonical_json(delta)) {
    throw Error(ErrorCode::invalid,
                "idempotency_key: '" + std::string(key) + "' was already used for version " +
                    version_string(existing.version) + " with a different delta",
                "idempotency_key");
  }
  return MergeResult{existing, MergeResult::Outcome::replayed, false, std::nullopt};
}

void validate_update(const MemoryUpdate& update) {
  validate_key({update.user_id, update.ns});
  validate_tags(update.tags);
  validate_idempotency_key(update.idempotency_key);
}

// Prefixes an error's message and field with the index of the update it
// came from, so that a batch failure names its line.
[[noreturn]] void rethrow_for_item(const Error& error, std::size_t index) {
  const std::string item = "updates[" + std::to_string(index) + "]";
  if (error.code() == ErrorCode::conflict) {
    throw Error::conflict(item + ": " + error.what(), error.current_version(), error.conflicting_paths());
  }
  throw Error(error.code(), item + ": " + error.what(), error.field().empty() ? item : item + "." + error.field());
}

// Visits the records of `key` oldest first, page by page, gaps included
// but not records a gap covers (left by a prune that was interrupted; their
// gaps' versions go to `gaps_with_leftovers`): all, or those `window`'s
// since and until select.
template <typename Visit>
void for_each_record(MemoryStore& store, const ContextKey& key, Visit&& visit, const HistoryQuery& window = {},
                     std::set<std::uint64_t>* gaps_with_leftovers = nullptr) {
  std::optional<VersionRecord> covering; // the last gap visited
  const auto visit_uncovered = [&](const VersionRecord& record) {
    if (covering && record.version <= covering->last_version()) {
      if (gaps_with_leftovers) {
        gaps_with_leftovers->insert(covering->version);
      }
      return;
    }
    covering = record.is_gap() ? std::optional(record) : std::nullopt;
    visit(record);
  };
  HistoryQuery query;
  query.since = window.since;
  query.until = window.until;
  query.oldest_first = true;
  query.limit = k_scan_page;
  for (;;) {
    std::vector<VersionRecord> page;
    try {
      page = store.history(key, query);
    } catch (const Error&) {
      // One unreadable version (say, one that fails authentication) fails
      // its whole page: read on one version at a time, so that every version
      // before it is visited and the error that ends the walk is its own.
      for (auto next = query.after_version.value_or(0) + 1;;) {
        const auto record = store.version(key, next);
        if (!record) {
          break;
        }
        visit_uncovered(*record);
        next = record->last_version() + 1;
      }
      throw;
    }
    for (const auto& record : page) {
      visit_uncovered(record);
    }
    if (page.size() < query.limit) {
      return;
    }
    if (query.after_version && page.back().version <= *query.after_version) {
      // Pages must move forward; on a damaged store they may not (a version
      // stored as text reads as 0): stop rather than loop forever.
      throw Error(ErrorCode::unavailable,
                  "the versions of " + describe(key) + " are out of order: the store is damaged");
    }
    query.after_version = page.back().version;
  }
}

// The same for the versions alone: no gaps.
template <typename Visit>
void for_each_version(MemoryStore& store, const ContextKey& key, Visit&& visit, const HistoryQuery& window = {}) {
  for_each_record(
      store, key,
      [&](const VersionRecord& record) {
        if (!record.is_gap()) {
          visit(record);
        }
      },
      window);
}

// Up to `limit` versions of a history query, gaps skipped: a page of the
// store's may hold fewer versions than it asked for.
std::vector<VersionRecord> versions_only(MemoryStore& store, const ContextKey& key, HistoryQuery query,
                                         std::size_t limit) {
  std::vector<VersionRecord> out;
  query.limit = limit;
  for (;;) {
    auto page = store.history(key, query);
    for (auto& record : page) {
      if (!record.is_gap() && out.size() < limit) {
        out.push_back(std::move(record));
      }
    }
    if (out.size() >= limit || page.size() < query.limit) {
      return out;
    }
    (query.oldest_first ? query.after_version : query.before_version) = page.back().version;
  }
}

void collect_leaves(const Json& value, const std::string& path, std::vector<std::string>& out) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, child] : value.items()) {
      Json::json_pointer pointer;
      pointer.push_back(key);
      collect_leaves(child, path + pointer.to_string(), out);
    }
  } else {
    out.push_back(path);
  }
}

std::string parent_path(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string{} : path.substr(0, slash);
}

} // namespace

std::string new_request_id() {
  // Ids must be unique, not secret: a generator per thread, seeded once from
  // the system's entropy, spares every request a system call.
  thread_local std::mt19937_64 generator = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  std::array<unsigned char, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 8) {
    const std::uint64_t word = generator();
    for (std::size_t j = 0; j < 8; ++j) {
      bytes[i + j] = static_cast<unsigned char>(word >> (8 * j));
    }
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40); // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80); // RFC 4122 variant
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string id;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      id += '-';
    }
    id += k_hex[bytes[i] >> 4];
    id += k_hex[bytes[i] & 0xf];
  }
  return id;
}

std::string_view to_string(MergeResult::Outcome outcome) {
  switch (outcome) {
  case MergeResult::Outcome::created: return "created";
  case MergeResult::Outcome::unchanged: return "unchanged";
  case MergeResult::Outcome::replayed: return "replayed";
  case MergeResult::Outcome::dry_run: return "dry_run";
  }
  return "created";
}

std::string MergeResult::patch() const {
  return previous_data ? json_patch_text(*previous_data, record.data) : std::string("[]");
}

MemoryService::MemoryService(std::unique_ptr<MemoryStore> store, ServiceOptions options)
    : m_store(store::seal_store(std::move(store), options.master_keys)), m_options(options),
      m_read_audit(options.batch_read_audit ? std::make_unique<AuditBuffer>(*m_store) : nullptr) {}

MemoryService::~MemoryService() {
  // The store's listener thread publishes to m_changes, and the read audit
  // buffer writes to the store: both go before the members they use.
  m_read_audit.reset();
  m_store.reset();
}

bool MemoryService::relay_other_writers() {
  return m_store->listen_for_commits(
      [this](std::string_view user_id, std::optional<std::string_view> ns) { m_changes.publish(user_id, ns); });
}

void MemoryService::authorize(const Caller& caller, Operation operation, const Resource& resource) const {
  if (!m_options.policy) {
    return;
  }
  Decision decision = m_options.policy->decide(caller.subject, operation, resource);
  if (!decision.allowed) {
    throw Error(ErrorCode::denied, std::move(decision.reason));
  }
}

VersionRecord MemoryService::get(const Caller& caller, const ContextKey& key, const ReadSelector& selector) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "get", key.user_id, key.ns,
                 [&](AuditTrail& trail) {
                   validate_key(key);
                   // The head is the context; any other version is its history.
                   authorize(caller, selector.version || selector.at ? Operation::history : Operation::read,
                             {key.user_id, key.ns});
                   VersionRecord record;
                   if (selector.version) {
                     record = require_version(*m_store, key, *selector.version);
                   } else if (selector.at) {
                     auto found = m_store->version_at(key, *selector.at);
                     if (!found) {
                       require_head(*m_store, key);
                       throw Error(ErrorCode::not_found,
                                   describe(key) + " has no version at or before " + format_rfc3339(*selector.at));
                     }
                     if (found->is_gap()) {
                       throw pruned_error(key, "the version current at " + format_rfc3339(*selector.at), *found);
                     }
                     record = std::move(*found);
                   } else {
                     record = require_head(*m_store, key);
                   }
                   trail.record.version = version_string(record.version);
                   return record;
                 });
}

MergeResult MemoryService::merge(const Caller& caller, const MemoryUpdate& update, bool dry_run) {
  const ContextKey key{update.user_id, update.ns};
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller,
                 dry_run ? "merge_dry_run" : "merge", key.user_id, key.ns, [&](AuditTrail& trail) {
                   validate_update(update);
                   authorize(caller, Operation::write, {key.user_id, key.ns});
                   const Json delta = parse_delta(update.delta, m_options.max_delta_bytes, "delta");
                   // The first try may build on the store's guess at the head
                   // (see head_hint), but only to append: anything else it
                   // would decide is decided again on the stored head.
                   bool may_guess = !dry_run;
                   for (int attempt = 0; attempt < m_options.max_attempts; ++attempt) {
                     if (!update.idempotency_key.empty()) {
                       if (const auto existing = m_store->find_idempotency_key(key, update.idempotency_key)) {
                         trail.record.version = version_string(existing->version);
                         trail.record.detail = "idempotent replay";
                         return replay(*existing, delta, update.idempotency_key);
                       }
                     }
                     auto head = may_guess ? m_store->head_hint(key) : std::nullopt;
                     if (head && update.expected_version && *update.expected_version != head->version) {
                       head.reset(); // a conflict or a rebase: not on a guess
                     }
                     const bool guessed = head.has_value();
                     may_guess = false;
                     if (!guessed) {
                       head = m_store->head(key);
                     }
                     Plan plan = plan_update(*m_store, key, head, update, delta);
                     if (head && plan.text == head->data) {
                       if (guessed) {
                         --attempt; // not a lost race: look at the stored head
                         continue;
                       }
                       trail.record.version = version_string(head->version);
                       trail.record.detail = "unchanged";
                       return MergeResult{*head,
                                          dry_run ? MergeResult::Outcome::dry_run : MergeResult::Outcome::unchanged,
                                          plan.rebased, std::nullopt};
                     }
                     const VersionRecord record = update_version(head, key, plan, delta, update, caller, m_options);
                     MergeResult result = created(head, record, plan.rebased);
                     trail.record.version = version_string(record.version);
                     if (dry_run) {
                       result.outcome = MergeResult::Outcome::dry_run;
                       return result;
                     }
                     if (append_version(*m_store, m_changes, record, trail)) {
                       if (!m_options.features.versioning) {
                         drop_history(*m_store, record);
                       }
                       return result;
                     }
                     // Another writer appended first: recompute against the new head.
                   }
                   throw too_much_contention(describe(key) + " is", m_options.max_attempts);
                 });
}

std::vector<MergeResult> MemoryService::apply(const Caller& caller, std::span<const MemoryUpdate> updates) {
  if (!m_store->supports_atomic_batches()) {
    // Without multi-record transactions, each update commits on its own.
    std::vector<MergeResult> results;
    for (std::size_t i = 0; i < updates.size(); ++i) {
      try {
        results.push_back(merge(caller, updates[i]));
      } catch (const Error& error) {
        rethrow_for_item(error, i);
      }
    }
    return results;
  }
  return audited(
      {*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "apply", {}, {}, [&](AuditTrail& trail) {
        std::vector<Json> deltas;
        for (std::size_t i = 0; i < updates.size(); ++i) {
          try {
            validate_update(updates[i]);
            authorize(caller, Operation::write, {updates[i].user_id, updates[i].ns});
            deltas.push_back(parse_delta(updates[i].delta, m_options.max_delta_bytes, "delta"));
          } catch (const Error& error) {
            rethrow_for_item(error, i);
          }
        }
        trail.record.detail = std::to_string(updates.size()) + " updates";
        for (int attempt = 0; attempt < m_options.max_attempts; ++attempt) {
          std::map<ContextKey, std::optional<VersionRecord>> heads;
          std::map<std::pair<ContextKey, std::string>, std::size_t> batch_keys; // idempotency key -> record index
          std::vector<VersionRecord> records;
          std::vector<AuditRecord> audits;
          std::vector<MergeResult> results;
          for (std::size_t i = 0; i < updates.size(); ++i) {
            const MemoryUpdate& update = updates[i];
            const ContextKey key{update.user_id, update.ns};
            try {
              if (!update.idempotency_key.empty()) {
                if (const auto it = batch_keys.find({key, update.idempotency_key}); it != batch_keys.end()) {
                  results.push_back(replay(records[it->second], deltas[i], update.idempotency_key));
                  continue;
                }
                if (const auto existing = m_store->find_idempotency_key(key, update.idempotency_key)) {
                  results.push_back(replay(*existing, deltas[i], update.idempotency_key));
                  continue;
                }
              }
              auto head_it = heads.find(key);
              if (head_it == heads.end()) {
                head_it = heads.emplace(key, m_store->head(key)).first;
              }
              auto& head = head_it->second;
              Plan plan = plan_update(*m_store, key, head, update, deltas[i]);
              if (head && plan.text == head->data) {
                results.push_back(MergeResult{*head, MergeResult::Outcome::unchanged, plan.rebased, std::nullopt});
                continue;
              }
              VersionRecord record = update_version(head, key, plan, deltas[i], update, caller, m_options);
              results.push_back(created(head, record, plan.rebased));
              AuditRecord audit = trail.record;
              audit.operation = "merge";
              audit.user_id = key.user_id;
              audit.ns = key.ns;
              audit.version = version_string(record.version);
              audit.detail = "update " + std::to_string(i) + " of apply";
              audits.push_back(std::move(audit));
              if (!update.idempotency_key.empty()) {
                batch_keys[{key, update.idempotency_key}] = records.size();
              }
              head = record;
              records.push_back(std::move(record));
            } catch (const Error& error) {
              rethrow_for_item(error, i);
            }
          }
          audits.push_back(trail.record);
          if (records.empty() || m_store->append(records, audits)) {
            trail.logged = !records.empty();
            publish_each(m_changes, records);
            failpoint::hit("service.after_append");
            for (std::size_t i = 0; i < records.size() && !m_options.features.versioning; ++i) {
              if (i + 1 == records.size() || records[i + 1].key() != records[i].key()) {
                drop_history(*m_store, records[i]); // after the context's last version in the batch
              }
            }
            return results;
          }
        }
        throw too_much_contention("the contexts are", m_options.max_attempts);
      });
}

MergeResult MemoryService::rollback(const Caller& caller, const ContextKey& key, std::uint64_t target,
                                    std::optional<std::uint64_t> expected_version, std::vector<std::string> tags) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "rollback", key.user_id, key.ns,
                 [&](AuditTrail& trail) {
                   validate_key(key);
                   validate_tags(tags);
                   authorize(caller, Operation::rollback, {key.user_id, key.ns});
                   for (int attempt = 0; attempt < m_options.max_attempts; ++attempt) {
                     const auto head = std::optional<VersionRecord>(require_head(*m_store, key));
                     const std::string current = version_string(head->version);
                     // A rollback replaces the whole context, so any moved head is a conflict.
                     if (expected_version && *expected_version != head->version) {
                       throw Error::conflict("expected version " + version_string(*expected_version) + " but " +
                                                 describe(key) + " is at version " + current,
                                             current);
                     }
                     const VersionRecord old = require_version(*m_store, key, target);
                     if (old.data == head->data) {
                       trail.record.version = current;
                       trail.record.detail = "unchanged";
                       return MergeResult{*head, MergeResult::Outcome::unchanged, false, std::nullopt};
                     }
                     VersionRecord record = next_version(
                         head, key, old.data, create_merge_patch(Json::parse(head->data), Json::parse(old.data)),
                         caller, m_options);
                     record.tags = tags;
                     record.rollback_of = target;
                     chain(record, m_options);
                     MergeResult result = created(head, record, false);
                     trail.record.version = version_string(record.version);
                     trail.record.detail = "rollback to version " + version_string(target);
                     if (append_version(*m_store, m_changes, record, trail)) {
                       if (!m_options.features.versioning) {
                         drop_history(*m_store, record);
                       }
                       return result;
                     }
                   }
                   throw too_much_contention(describe(key) + " is", m_options.max_attempts);
                 });
}

RekeyReport MemoryService::rekey(const Caller& caller, bool rotate_data_keys) {
  return audited(
      {*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "rekey", {}, {}, [&](AuditTrail& trail) {
        authorize(caller, Operation::admin, {});
        if (!m_options.master_keys) {
          throw Error(ErrorCode::invalid,
                      "rekey needs the master keys: set ZSIMEM_MASTER_KEY or a master key file, the new key first",
                      "ZSIMEM_MASTER_KEY");
        }
        const RekeyReport report = store::rekey(*m_store, *m_options.master_keys, rotate_data_keys);
        trail.record.detail = std::to_string(report.rewrapped) + " of " + std::to_string(report.data_keys) +
                              " data keys rewrapped onto master key " + report.master_key_id + ", " +
                              std::to_string(report.rotated) + " users given a new generation";
        m_store->append_audit(trail.record, true);
        trail.logged = true;
        return report;
      });
}

std::uint64_t MemoryService::follow(const Caller& caller, const ContextKey& key, std::optional<std::uint64_t> after) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "follow", key.user_id, key.ns,
                 [&](AuditTrail& trail) {
                   validate_key(key);
                   authorize(caller, Operation::read, {key.user_id, key.ns});
                   const std::uint64_t start = after ? *after : head_version(key);
                   trail.record.version = version_string(start);
                   trail.record.detail = "following after version " + version_string(start);
                   return start;
                 });
}

std::vector<VersionRecord> MemoryService::versions_after(const ContextKey& key, std::uint64_t after,
                                                         std::size_t limit) {
  HistoryQuery query;
  query.oldest_first = true;
  query.after_version = after;
  return versions_only(*m_store, key, query, std::clamp<std::size_t>(limit, 1, k_max_page));
}

std::uint64_t MemoryService::head_version(const ContextKey& key) {
  const auto head = m_store->head(key);
  return head ? head->version : 0;
}

HistoryPage MemoryService::history(const Caller& caller, const ContextKey& key, const HistoryQuery& query) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "history", key.user_id, key.ns,
                 [&](AuditTrail&) {
                   validate_key(key);
                   authorize(caller, Operation::history, {key.user_id, key.ns});
                   if (query.limit == 0 || query.limit > k_max_page) {
                     throw Error(ErrorCode::invalid, "limit: must be between 1 and " + std::to_string(k_max_page),
                                 "limit");
                   }
                   require_head(*m_store, key);
                   HistoryPage page;
                   page.versions = versions_only(*m_store, key, query, query.limit + 1);
                   if (page.versions.size() > query.limit) {
                     page.versions.resize(query.limit);
                     page.next_cursor = page.versions.back().version;
                   }
                   return page;
                 });
}

Summary MemoryService::summary(const Caller& caller, const ContextKey& key, const SummaryRequest& request,
                               std::optional<Timestamp> since, std::optional<Timestamp> until) {
  return audited(
      {*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "summary", key.user_id, key.ns,
      [&](AuditTrail&) {
        if (!m_options.features.summaries) {
          throw Error(ErrorCode::disabled,
                      "summaries are switched off in this deployment (ZSIMEM_FEATURES, --feature summaries=on)");
        }
        validate_key(key);
        authorize(caller, Operation::history, {key.user_id, key.ns});
        if (since && until && *since > *until) {
          throw Error(ErrorCode::invalid,
                      "since: " + format_rfc3339(*since) + " is after until, " + format_rfc3339(*until), "since");
        }
        SummaryBuilder builder(request);
        require_head(*m_store, key);
        HistoryQuery window;
        window.since = since;
        window.until = until;
        for_each_version(
            *m_store, key,
            [&](const VersionRecord& record) { builder.add(record.updated_at, record.data, record.delta); }, window);
        return builder.finish();
      });
}

DiffResult MemoryService::diff(const Caller& caller, const ContextKey& key, std::uint64_t from,
                               std::optional<std::uint64_t> to) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "diff", key.user_id, key.ns,
                 [&](AuditTrail& trail) {
                   validate_key(key);
                   authorize(caller, Operation::history, {key.user_id, key.ns});
                   const VersionRecord older = require_version(*m_store, key, from);
                   const VersionRecord newer = to ? require_version(*m_store, key, *to) : require_head(*m_store, key);
                   trail.record.version = version_string(older.version) + ".." + version_string(newer.version);
                   const Json a = Json::parse(older.data);
                   const Json b = Json::parse(newer.data);
                   return DiffResult{older.version, newer.version, Json::diff(a, b).dump(),
                                     canonical_json(create_merge_patch(a, b))};
                 });
}

std::vector<BlameEntry> MemoryService::blame(const Caller& caller, const ContextKey& key, std::string_view path) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "blame", key.user_id, key.ns,
                 [&](AuditTrail& trail) {
                   validate_key(key);
                   authorize(caller, Operation::history, {key.user_id, key.ns});
                   if (!path.empty() && path.front() != '/') {
                     throw Error(ErrorCode::invalid,
                                 "path: '" + std::string(path) + "' is not a JSON pointer (such as /a/b)", "path");
                   }
                   std::map<std::string, BlameEntry> last_set;
                   Json previous = Json::object();
                   Json data;
                   std::uint64_t head_version = 0;
                   for_each_version(*m_store, key, [&](const VersionRecord& record) {
                     data = Json::parse(record.data);
                     const BlameEntry entry{{}, record.version, record.updated_at, record.actor, record.request_id};
                     for (const auto& changed : touched_paths(create_merge_patch(previous, data))) {
                       std::erase_if(last_set, [&](const auto& item) { return paths_overlap(item.first, changed); });
                       const Json::json_pointer pointer(changed);
                       std::vector<std::string> leaves;
                       if (data.contains(pointer)) {
                         collect_leaves(data.at(pointer), changed, leaves);
                       } else if (const auto parent = parent_path(changed);
                                  !parent.empty() && data.contains(Json::json_pointer(parent)) &&
                                  data.at(Json::json_pointer(parent)).empty()) {
                         leaves.push_back(parent); // removing the last member left an empty object
                       }
                       for (auto& leaf : leaves) {
                         BlameEntry set = entry;
                         set.path = leaf;
                         last_set[leaf] = std::move(set);
                       }
                     }
                     previous = std::move(data);
                     head_version = record.version;
                   });
                   if (head_version == 0) {
                     require_head(*m_store, key);
                   }
                   trail.record.version = version_string(head_version);
                   std::vector<BlameEntry> entries;
                   for (auto& [leaf, entry] : last_set) {
                     if (path.empty() || paths_overlap(path, leaf)) {
                       if (leaf.size() >= path.size()) {
                         entries.push_back(std::move(entry));
                       }
                     }
                   }
                   if (!path.empty() && entries.empty()) {
                     throw Error(ErrorCode::not_found,
                                 "path '" + std::string(path) + "' does not exist in " + describe(key), "path");
                   }
                   return entries;
                 });
}

std::size_t MemoryService::erase(const Caller& caller, std::string_view user_id, std::optional<std::string_view> ns) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "delete", user_id,
                 ns.value_or(""), [&](AuditTrail& trail) {
                   validate_user_id(user_id);
                   if (ns) {
                     validate_namespace(*ns);
                   }
                   authorize(caller, Operation::erase, {user_id, ns.value_or("")});
                   const std::size_t removed = m_store->erase(user_id, ns);
                   m_changes.publish(user_id, ns);
                   trail.record.detail = "removed " + std::to_string(removed) + " versions";
                   m_store->append_audit(trail.record, true);
                   trail.logged = true;
                   return removed;
                 });
}

VerifyReport MemoryService::verify(const Caller& caller, std::optional<std::string_view> user_id,
                                   const ProgressFn& progress) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "verify", user_id.value_or(""),
                 {}, [&](AuditTrail& trail) {
                   if (user_id) {
                     validate_user_id(*user_id);
                   }
                   authorize(caller, Operation::admin, {user_id.value_or(""), {}});
                   VerifyReport report;
                   const auto keys = m_store->contexts(user_id);
                   for (const auto& key : keys) {
                     if (progress) {
                       progress(report.contexts, keys.size());
                     }
                     ++report.contexts;
                     std::optional<VersionRecord> previous;
                     Json data = Json::object();
                     bool after_gap = false; // the data before is gone: the next record's is taken as it is
                     std::optional<VerifyProblem> problem;
                     const auto fail = [&](std::uint64_t version, std::string text) {
                       if (!problem) {
                         problem = VerifyProblem{key, version, std::move(text)};
                       }
                     };
                     try {
                       for_each_record(*m_store, key, [&](const VersionRecord& record) {
                         if (problem) {
                           return;
                         }
                         const std::uint64_t expected = previous ? previous->last_version() + 1 : 1;
                         if (record.version != expected) {
                           return fail(expected, "version " + version_string(expected) + " is missing");
                         }
                         if (record.key() != key) {
                           return fail(record.version, "the record belongs to another context");
                         }
                         if (record.prev_hash != (previous ? previous->hash : std::string{})) {
                           return fail(record.version, "prev_hash does not match the hash of the version before");
                         }
                         if (record.is_gap()) {
                           // Its hash is the last pruned version's, which the next one names.
                           ++report.gaps;
                           after_gap = true;
                           previous = record;
                           return;
                         }
                         ++report.versions;
                         if (version_hash(record) != record.hash) {
                           return fail(record.version, "hash mismatch: the content or metadata was changed");
                         }
                         if (after_gap) {
                           data = Json::parse(record.data);
                           after_gap = false;
                         } else {
                           apply_merge_patch(data, Json::parse(record.delta));
                         }
                         if (canonical_json(data) != record.data) {
                           return fail(record.version, "data is not the previous data with the delta applied");
                         }
                         previous = record;
                       });
                     } catch (const Error& error) {
                       fail(previous ? previous->last_version() + 1 : 1, error.what());
                     }
                     if (problem) {
                       report.problems.push_back(std::move(*problem));
                     }
                   }
                   if (progress) {
                     progress(report.contexts, keys.size());
                   }
                   if (!user_id) {
                     verify_audit_chain(*m_store, report);
                   }
                   trail.record.detail = std::to_string(report.versions) + " versions, " +
                                         std::to_string(report.problems.size()) + " problems";
                   if (report.audit_problem) {
                     trail.record.detail += ", audit log broken";
                   }
                   if (!report.ok()) {
                     trail.record.outcome = "problems";
                   }
                   return report;
                 });
}

namespace {

// Decides which versions of one context stay and replaces each run of those
// that go (with the gaps next to them) by one gap record.
PruneContext prune_context(MemoryStore& store, const ContextKey& key, const RetentionPolicy& policy, bool dry_run) {
  PruneContext result;
  result.key = key;
  std::vector<VersionRecord> records;
  std::set<std::uint64_t> gaps_with_leftovers;
  for_each_record(
      store, key,
      [&](const VersionRecord& record) {
        VersionRecord bare = record; // the chain and the times are all that is needed
        bare.data.clear();
        bare.delta.clear();
        records.push_back(std::move(bare));
      },
      {}, &gaps_with_leftovers);
  std::vector<Timestamp> times;
  for (const auto& record : records) {
    if (!record.is_gap()) {
      times.push_back(record.updated_at);
    }
  }
  result.versions = times.size();
  const auto reasons = retention_decisions(policy, times);
  std::vector<bool> goes(records.size());
  for (std::size_t i = 0, v = 0; i < records.size(); ++i) {
    goes[i] = records[i].is_gap() || reasons[v] == 0;
    if (!records[i].is_gap()) {
      if (reasons[v] != 0) {
        result.kept.push_back({records[i].version, records[i].updated_at, reasons[v]});
      }
      ++v;
    }
  }
  // Runs of records that go; a run is pruned when it holds a version, or a
  // gap that an interrupted prune left records under.
  for (std::size_t begin = 0; begin < records.size();) {
    if (!goes[begin]) {
      ++begin;
      continue;
    }
    std::size_t end = begin + 1;
    while (end < records.size() && goes[end] && records[end].version == records[end - 1].last_version() + 1) {
      ++end;
    }
    const std::span<const VersionRecord> run(records.data() + begin, end - begin);
    const auto versions = static_cast<std::size_t>(
        std::count_if(run.begin(), run.end(), [](const VersionRecord& record) { return !record.is_gap(); }));
    const bool leftovers = std::any_of(run.begin(), run.end(), [&](const VersionRecord& record) {
      return gaps_with_leftovers.contains(record.version);
    });
    if (versions > 0 || leftovers) {
      const VersionRecord gap = gap_for(run);
      result.pruned.emplace_back(gap.version, gap.last_version());
      result.pruned_versions += versions;
      if (!dry_run) {
        store.prune(gap);
      }
    }
    begin = end;
  }
  return result;
}

} // namespace

PruneReport MemoryService::prune(const Caller& caller, const RetentionConfig& config, const PruneOptions& options) {
  return audited(
      {*m_store, m_read_audit.get(), m_options.features.read_audit}, caller,
      options.dry_run ? "prune_dry_run" : "prune", options.user_id.value_or(""), {}, [&](AuditTrail& trail) {
        if (!m_options.features.retention) {
          throw Error(ErrorCode::disabled,
                      "retention is switched off in this deployment (ZSIMEM_FEATURES, --feature retention=on)");
        }
        if (options.user_id) {
          validate_user_id(*options.user_id);
        }
        authorize(caller, Operation::admin, {options.user_id.value_or(""), {}});
        PruneReport report;
        report.dry_run = options.dry_run;
        const auto keys = m_store->contexts(options.user_id);
        for (std::size_t i = 0; i < keys.size(); ++i) {
          if (options.progress) {
            options.progress(i, keys.size());
          }
          const RetentionPolicy& policy = config.policy_for(keys[i].ns);
          if (policy.keeps_everything()) {
            continue;
          }
          report.contexts.push_back(prune_context(*m_store, keys[i], policy, options.dry_run));
          report.versions_pruned += report.contexts.back().pruned_versions;
        }
        if (options.progress) {
          options.progress(keys.size(), keys.size());
        }
        if (config.audit_keep_within && !options.user_id) {
          AuditQuery older;
          older.until = now() - *config.audit_keep_within - std::chrono::microseconds{1};
          older.limit = 1;
          if (const auto newest_old = m_store->audit_log(older); !newest_old.empty()) {
            const AuditRecord& last = newest_old.front();
            report.audit_through_seq = last.seq;
            if (options.dry_run) {
              AuditQuery page;
              page.before_seq = last.seq + 1;
              page.limit = k_max_page;
              for (auto records = m_store->audit_log(page); !records.empty(); records = m_store->audit_log(page)) {
                report.audit_pruned += records.size();
                page.before_seq = records.back().seq;
              }
            } else {
              report.audit_pruned = m_store->prune_audit(last.seq);
              AuditRecord bridge = trail.record;
              bridge.operation = k_audit_prune_operation;
              bridge.detail = "removed " + std::to_string(report.audit_pruned) + " audit records through seq " +
                              std::to_string(last.seq) + std::string(k_bridge_marker) + last.hash;
              m_store->append_audit(bridge, true);
            }
          }
        }
        trail.record.detail = std::to_string(report.versions_pruned) + " versions in " +
                              std::to_string(report.contexts.size()) + " contexts, " +
                              std::to_string(report.audit_pruned) + " audit records";
        if (!options.dry_run) {
          m_store->append_audit(trail.record, true);
          trail.logged = true;
        }
        return report;
      });
}

void MemoryService::export_versions(const Caller& caller, std::optional<std::string_view> user_id,
                                    const std::function<void(const VersionRecord&)>& sink) {
  audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "export", user_id.value_or(""), {},
          [&](AuditTrail& trail) {
            if (user_id) {
              validate_user_id(*user_id);
            }
            authorize(caller, Operation::admin, {user_id.value_or(""), {}});
            std::size_t count = 0;
            for (const auto& key : m_store->contexts(user_id)) {
              // Gaps too: an import of a pruned history keeps its chain whole.
              for_each_record(*m_store, key, [&](const VersionRecord& record) {
                sink(record);
                ++count;
              });
            }
            trail.record.detail = std::to_string(count) + " versions";
            return count;
          });
}

ImportResult MemoryService::import_versions(const Caller& caller, std::span<const VersionRecord> records,
                                            const ProgressFn& progress) {
  return audited(
      {*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "import", {}, {}, [&](AuditTrail& trail) {
        ImportResult result;
        std::map<ContextKey, std::optional<VersionRecord>> heads;
        std::vector<VersionRecord> pending;
        const auto flush = [&] {
          if (!pending.empty() && !m_store->append(pending, {})) {
            throw Error::conflict("another writer changed a context while importing; nothing of this chunk was "
                                  "written where the backend is atomic",
                                  {});
          }
          publish_each(m_changes, pending);
          pending.clear();
        };
        const auto report_progress = [&](std::size_t done) {
          if (progress) {
            progress(done, records.size());
          }
        };
        for (std::size_t i = 0; i < records.size(); ++i) {
          const VersionRecord& record = records[i];
          const std::string item = "records[" + std::to_string(i) + "]";
          const ContextKey key = record.key();
          try {
            validate_key(key);
            validate_tags(record.tags);
            authorize(caller, Operation::admin, {key.user_id, key.ns});
            if (!record.key_id.empty()) {
              throw Error(ErrorCode::invalid,
                          "the record is sealed (key_id " + record.key_id + "): import takes what zsimem export writes",
                          "key_id");
            }
            if (!record.is_gap() && version_hash(record) != record.hash) {
              throw Error(ErrorCode::invalid, "hash mismatch: the record was changed after it was exported", "hash");
            }
          } catch (const Error& error) {
            rethrow_for_item(error, i);
          }
          auto head_it = heads.find(key);
          if (head_it == heads.end()) {
            head_it = heads.emplace(key, m_store->head(key)).first;
          }
          auto& head = head_it->second;
          if (head && record.version <= head->last_version()) {
            const auto existing = m_store->version(key, record.version);
            if (existing && existing->hash == record.hash) {
              ++result.skipped;
              continue;
            }
            throw Error::conflict(item + ": version " + version_string(record.version) + " of " + describe(key) +
                                      " already exists with different content",
                                  version_string(head->version));
          }
          const std::uint64_t expected = head ? head->last_version() + 1 : 1;
          if (record.version != expected || record.prev_hash != (head ? head->hash : std::string{})) {
            throw Error(ErrorCode::invalid,
                        item + ": version " + version_string(record.version) + " of " + describe(key) +
                            " does not continue the chain (expected version " + version_string(expected) + ")",
                        item);
          }
          head = record;
          pending.push_back(record);
          ++result.written;
          if (pending.size() >= k_import_chunk) {
            flush();
            report_progress(i + 1);
          }
        }
        flush();
        report_progress(records.size());
        trail.record.detail =
            std::to_string(result.written) + " written, " + std::to_string(result.skipped) + " skipped";
        m_store->append_audit(trail.record, true);
        trail.logged = true;
        return result;
      });
}

AuditPage MemoryService::audit_log(const Caller& caller, const AuditQuery& query) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "audit_log",
                 query.user_id.value_or(""), query.ns.value_or(""), [&](AuditTrail&) {
                   authorize(caller, Operation::audit, {query.user_id.value_or(""), query.ns.value_or("")});
                   if (m_read_audit) {
                     m_read_audit->flush(); // the log shows every read made before this one
                   }
                   if (query.limit == 0 || query.limit > k_max_page) {
                     throw Error(ErrorCode::invalid, "limit: must be between 1 and " + std::to_string(k_max_page),
                                 "limit");
                   }
                   AuditQuery probe = query;
                   probe.limit = query.limit + 1;
                   AuditPage page;
                   page.records = m_store->audit_log(probe);
                   if (page.records.size() > query.limit) {
                     page.records.resize(query.limit);
                     page.next_cursor = page.records.back().seq;
                   }
                   return page;
                 });
}

std::vector<std::string> MemoryService::users(const Caller& caller) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "users", {}, {},
                 [&](AuditTrail&) {
                   authorize(caller, Operation::admin, {});
                   std::vector<std::string> users;
                   for (const auto& key : m_store->contexts()) {
                     if (users.empty() || users.back() != key.user_id) {
                       users.push_back(key.user_id);
                     }
                   }
                   return users;
                 });
}

std::vector<std::string> MemoryService::namespaces(const Caller& caller, std::string_view user_id) {
  return audited({*m_store, m_read_audit.get(), m_options.features.read_audit}, caller, "namespaces", user_id, {},
                 [&](AuditTrail&) {
                   validate_user_id(user_id);
                   authorize(caller, Operation::read, {user_id, {}});
                   std::vector<std::string> names;
                   for (const auto& key : m_store->contexts(user_id)) {
                     names.push_back(key.ns);
                   }
                   if (names.empty()) {
                     throw Error(ErrorCode::not_found, "no context for user '" + std::string(user_id) + "'");
                   }
                   return names;
                 });
}

} // namespace zsimem
