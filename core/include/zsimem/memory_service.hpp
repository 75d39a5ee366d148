#pragma once

#include <zsimem/change_feed.hpp>
#include <zsimem/encryption.hpp>
#include <zsimem/features.hpp>
#include <zsimem/identity.hpp>
#include <zsimem/model.hpp>
#include <zsimem/retention.hpp>
#include <zsimem/store.hpp>
#include <zsimem/summary.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zsimem {

class Policy;
enum class Operation;
struct Resource;

// Who is calling, for the audit log, the version metadata and the policy.
struct Caller {
  std::string actor;      // e.g. the OS user of the CLI
  std::string request_id; // traceable id of this request
  Subject subject{};      // whom the policy judges (ServiceOptions::policy)
};

// Told of a long operation's progress: `done` of `total` units (contexts
// or records; `total` 0 when not known). Called on the caller's thread.
using ProgressFn = std::function<void(std::size_t done, std::size_t total)>;

// A fresh random request id (a UUID version 4).
std::string new_request_id();

// Which version a read wants: the head, a version number, or the newest
// version at or before a time.
struct ReadSelector {
  std::optional<std::uint64_t> version;
  std::optional<Timestamp> at;
};

struct MergeResult {
  enum class Outcome {
    created,   // a new version was written
    unchanged, // the delta changed nothing: no version was written
    replayed,  // the idempotency key was seen before: its version is returned
    dry_run,   // nothing was written; `record` is the version it would make
  };
  VersionRecord record; // the resulting head (or would-be head)
  Outcome outcome = Outcome::created;
  bool rebased = false; // the expected version was behind and the update was rebased
  // The data before the change, when there is one (created, or a dry run
  // that would create).
  std::optional<std::string> previous_data;

  // RFC 6902 JSON Patch from the previous head to `record` ("[]" when
  // nothing changed), computed when asked: most callers never do.
  std::string patch() const;
};

std::string_view to_string(MergeResult::Outcome outcome);

struct HistoryPage {
  std::vector<VersionRecord> versions;      // newest first
  std::optional<std::uint64_t> next_cursor; // pass as before_version for the next page
};

struct DiffResult {
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  std::string patch = "[]";       // RFC 6902 JSON Patch, JSON text
  std::string merge_patch = "{}"; // RFC 7396 merge patch, JSON text
};

// Which version last set a field.
struct BlameEntry {
  std::string path; // JSON pointer of a leaf value
  std::uint64_t version = 0;
  Timestamp updated_at{};
  std::string actor;
  std::string request_id;
};

struct VerifyProblem {
  ContextKey key;
  std::uint64_t version = 0; // the first broken link (0: the context itself)
  std::string problem;
};

struct VerifyReport {
  std::size_t contexts = 0;
  std::size_t versions = 0;
  std::size_t gaps = 0;                // ranges of versions retention pruned, bridged
  std::vector<VerifyProblem> problems; // at most one per context: its first broken link
  // The audit log's chain, walked when the whole store is verified.
  bool audit_checked = false;
  std::size_t audit_records = 0;
  std::optional<std::string> audit_problem; // its first broken link, newest first
  bool ok() const { return problems.empty() && !audit_problem; }
};

// What retention did, or in a dry run would do, to one context.
struct PruneContext {
  struct Kept {
    std::uint64_t version = 0;
    Timestamp updated_at{};
    unsigned reasons = 0; // KeepReason bits
  };
  ContextKey key;
  std::size_t versions = 0;                                    // before pruning; gaps are not versions
  std::vector<Kept> kept;                                      // oldest first
  std::vector<std::pair<std::uint64_t, std::uint64_t>> pruned; // ranges pruned now, first..last
  std::size_t pruned_versions = 0;
};

struct PruneOptions {
  bool dry_run = false;
  std::optional<std::string> user_id; // only this user's contexts
  ProgressFn progress;                // per context
};

struct PruneReport {
  bool dry_run = false;
  // Every context whose policy has a rule, sorted.
  std::vector<PruneContext> contexts;
  std::size_t versions_pruned = 0;
  // Audit retention: the records older than its span, through this seq.
  std::optional<std::uint64_t> audit_through_seq;
  std::size_t audit_pruned = 0;
};

struct ImportResult {
  std::size_t written = 0;
  std::size_t skipped = 0; // already present, identical
};

struct AuditPage {
  std::vector<AuditRecord> records;         // newest first
  std::optional<std::uint64_t> next_cursor; // pass as before_seq for the next page
};

struct ServiceOptions {
  std::size_t max_delta_bytes = 1024 * 1024; // ZSIMEM_MAX_DELTA_BYTES
  std::size_t max_context_bytes = 16 * 1024 * 1024;
  // How many times an update is recomputed when another writer appends
  // between its read and its write.
  int max_attempts = 64;
  // Write the audit records of reads in batches from a thread of their own
  // instead of one by one during each read (the daemon): reads stop waiting
  // for writes, and a crash can lose the records of the last few
  // milliseconds' reads. Writes' records always commit with the write.
  bool batch_read_audit = false;
  // With a policy every operation must be allowed by it (docs/security.md);
  // without one, everything is allowed.
  std::shared_ptr<const Policy> policy;
  // With master keys every version written is encrypted at rest
  // (docs/security.md); without, versions are stored as plain JSON and
  // encrypted ones cannot be read.
  std::shared_ptr<const MasterKeyRing> master_keys;
  // What the deployment switched on (ZSIMEM_FEATURES, --feature).
  Features features;
};

class AuditBuffer;

// Every operation's semantics, once, above any store: validation, merge,
// idempotency, optimistic locking, hashing and the audit log. The CLI and the
// daemon only parse input, call this and render the result. Errors are
// zsimem::Error; every call leaves an audit record, failures included.
class MemoryService {
public:
  explicit MemoryService(std::unique_ptr<MemoryStore> store, ServiceOptions options = {});
  ~MemoryService();
  MemoryService(const MemoryService&) = delete;
  MemoryService& operator=(const MemoryService&) = delete;

  // The context's head, or the version the selector names.
  VersionRecord get(const Caller& caller, const ContextKey& key, const ReadSelector& selector = {});

  // Merges an update into the head. See docs/semantics.md for idempotency,
  // no-op deltas and how an expected version is rebased or refused.
  MergeResult merge(const Caller& caller, const MemoryUpdate& update, bool dry_run = false);

  // Merges many updates, in order: all or nothing where the backend allows.
  // A failure names the 0-based index of the update in its field.
  std::vector<MergeResult> apply(const Caller& caller, std::span<const MemoryUpdate> updates);

  // Appends a version whose data equals `target`'s.
  MergeResult rollback(const Caller& caller, const ContextKey& key, std::uint64_t target,
                       std::optional<std::uint64_t> expected_version = std::nullopt,
                       std::vector<std::string> tags = {});

  HistoryPage history(const Caller& caller, const ContextKey& key, const HistoryQuery& query);

  // Summarizes numeric fields over the versions updated between `since` and
  // `until` (inclusive; either open), oldest first (docs/summaries.md): a
  // summary until a past time never changes. Needs the history permission.
  Summary summary(const Caller& caller, const ContextKey& key, const SummaryRequest& request,
                  std::optional<Timestamp> since = std::nullopt, std::optional<Timestamp> until = std::nullopt);

  // The change from version `from` to `to` (the head when not given).
  DiffResult diff(const Caller& caller, const ContextKey& key, std::uint64_t from,
                  std::optional<std::uint64_t> to = std::nullopt);

  // For every leaf of the head (under `path`, a JSON pointer, when not
  // empty), the version that last set it.
  std::vector<BlameEntry> blame(const Caller& caller, const ContextKey& key, std::string_view path = {});

  // Removes every version of the user (or of one namespace). Idempotent:
  // erasing what is gone removes 0 versions.
  std::size_t erase(const Caller& caller, std::string_view user_id, std::optional<std::string_view> ns = std::nullopt);

  // Walks the hash chains of every context (of one user when given), and
  // of the audit log when verifying the whole store.
  VerifyReport verify(const Caller& caller, std::optional<std::string_view> user_id = std::nullopt,
                      const ProgressFn& progress = {});

  // Applies the retention policies (docs/retention.md): in each context
  // the versions no rule keeps are replaced by gap records that keep the
  // hash chain whole; then audit records older than the audit span go.
  // Error{disabled} with the retention feature off.
  PruneReport prune(const Caller& caller, const RetentionConfig& config, const PruneOptions& options = {});

  // Every version, oldest first per context, contexts sorted; and the gaps
  // retention left (VersionRecord::pruned_through), so that an import of
  // a pruned history keeps its chain.
  void export_versions(const Caller& caller, std::optional<std::string_view> user_id,
                       const std::function<void(const VersionRecord&)>& sink);

  // Writes exported versions verbatim after checking their hash chains.
  // Versions already present with the same hash are skipped.
  ImportResult import_versions(const Caller& caller, std::span<const VersionRecord> records,
                               const ProgressFn& progress = {});

  // Rewraps every data key onto the current master key and, when asked,
  // gives every user a new data key generation (docs/security.md).
  // Error{invalid} without master keys.
  RekeyReport rekey(const Caller& caller, bool rotate_data_keys);

  // Starts following a context (audited once, here): returns the version a
  // follower starts after, `after` when given, else the current head (0 when
  // the context has no version yet, which is allowed: it may get one).
  std::uint64_t follow(const Caller& caller, const ContextKey& key, std::optional<std::uint64_t> after);
  // What a follower has not seen: up to `limit` versions newer than `after`,
  // oldest first. Not audited: follow() was.
  std::vector<VersionRecord> versions_after(const ContextKey& key, std::uint64_t after, std::size_t limit);
  // The head's version, 0 when the context has none. Not audited: for followers.
  std::uint64_t head_version(const ContextKey& key);

  AuditPage audit_log(const Caller& caller, const AuditQuery& query);
  std::vector<std::string> users(const Caller& caller);
  std::vector<std::string> namespaces(const Caller& caller, std::string_view user_id);

  MemoryStore& store() { return *m_store; }
  const ServiceOptions& options() const { return m_options; }
  // Published to after every write this service commits, and, after
  // relay_other_writers(), after other processes' commits the store sees.
  ChangeFeed& changes() { return m_changes; }
  // Has the store tell changes() of commits made by other processes (other
  // daemons on one PostgreSQL database), so that their followers wake at
  // once. Returns false when the backend cannot; followers then poll.
  bool relay_other_writers();

  // Throws Error(denied) with the policy's reason unless it allows the
  // operation; for what builds on the service (hooks).
  void authorize(const Caller& caller, Operation operation, const Resource& resource) const;

private:
  std::unique_ptr<MemoryStore> m_store;
  ServiceOptions m_options;
  ChangeFeed m_changes;
  std::unique_ptr<AuditBuffer> m_read_audit; // with batch_read_audit
};

} // namespace zsimem
