#pragma once

#include <zsimem/model.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zsimem {

// Which versions of one context to list: newest first unless oldest_first.
struct HistoryQuery {
  std::optional<std::uint64_t> before_version; // cursor: only versions < this
  std::optional<Timestamp> since;              // updated_at >= since
  std::optional<Timestamp> until;              // updated_at <= until
  std::size_t limit = 100;
  bool oldest_first = false;                  // then before_version is ignored and after_version pages
  std::optional<std::uint64_t> after_version; // with oldest_first: only versions > this
};

// Which audit records to list: newest first.
struct AuditQuery {
  std::optional<std::string> user_id;
  std::optional<std::string> ns;
  std::optional<Timestamp> since;
  std::optional<Timestamp> until;
  std::optional<std::uint64_t> before_seq; // cursor: only records with seq < this
  std::size_t limit = 100;
};

// One of a user's data keys, wrapped (encrypted) by a master key. Opaque to
// the store, which keeps it beside the user's versions and destroys it when
// the user is erased: without it, the versions it sealed cannot be read,
// wherever copies of them are (crypto-shredding).
struct DataKeyRecord {
  std::string user_id;
  std::uint64_t generation = 0; // 1, 2, …: what a sealed version's key_id names
  std::string master_key_id;    // which master key wrapped it
  std::string wrapped;          // the wrapped key, as text
  Timestamp created_at{};

  friend bool operator==(const DataKeyRecord&, const DataKeyRecord&) = default;
};

// Where one hook's delivery of one context stands (docs/hooks.md). The
// store keeps `state` as opaque text and replaces a cursor only from the
// revision its writer read (compare and set): that is how several daemons
// sharing a store agree on who hands which event to a hook, in order.
struct HookCursor {
  std::string hook;
  ContextKey context;
  std::uint64_t revision = 1; // 1 when first stored, then +1 at each replacement
  std::string state;          // JSON text, the hook worker's

  friend bool operator==(const HookCursor&, const HookCursor&) = default;
};

// How a backend's writes went: with group commit, several writes (appends
// and audit records) share one transaction.
struct WriteStats {
  std::uint64_t transactions = 0;
  std::uint64_t writes = 0;
};

// The narrow storage interface every backend implements. Backends know
// nothing of merge rules, policies or hooks: they keep immutable version
// records and audit records, and make appending version N+1 conditional on
// no version N+1 existing, so that a version's own key is the lock.
//
// Failures are Error{unavailable} (store unreachable or damaged, with the
// file or key named), Error{timeout} (lock wait) or Error{invalid}.
class MemoryStore {
public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;
  virtual ~MemoryStore() = default;

  // The name MEMORY_BACKEND selects this backend by.
  virtual std::string_view backend_name() const = 0;

  // The newest version of a context, if it has any.
  virtual std::optional<VersionRecord> head(const ContextKey& key) = 0;
  // A cheap guess at head(), for a writer to build the next version on: the
  // head as this process last wrote it, or nullopt for no guess. It is stale
  // when another process or an erase has moved the context since; append()
  // refuses a version built on a stale head, so a wrong guess costs a retry,
  // never a fork of the chain. Readers must use head().
  virtual std::optional<VersionRecord> head_hint(const ContextKey& /*key*/) { return std::nullopt; }
  // One version, if it exists.
  virtual std::optional<VersionRecord> version(const ContextKey& key, std::uint64_t version) = 0;
  // The newest version with updated_at <= at.
  virtual std::optional<VersionRecord> version_at(const ContextKey& key, Timestamp at) = 0;
  // Versions newest first, filtered and paged by the query. Gap records
  // (VersionRecord::pruned_through) come back like versions, here and from
  // version() and version_at(): the service, not the store, skips them.
  virtual std::vector<VersionRecord> history(const ContextKey& key, const HistoryQuery& query) = 0;
  // The version that recorded this idempotency key, if any.
  virtual std::optional<VersionRecord> find_idempotency_key(const ContextKey& key,
                                                            std::string_view idempotency_key) = 0;

  // Appends versions, each the next of its context (records for one context
  // come in version order), with audit records that belong to them.
  // Returns false, having written no version, when any of these versions
  // already exists, or when the first of a context does not follow the
  // stored head (version - 1 with hash prev_hash; no version at all for
  // version 1): someone else got there first, or erased the context; also
  // when a record's key_id names a data key its user does not have (erased
  // since the writer loaded it: nothing may be sealed with a destroyed key).
  // After a gap record (an import of a pruned history), "version - 1" is
  // the gap: the newest record below a version must end at version - 1.
  // Stores keep every field of a record, key_id and salt included. Atomic
  // as a whole where the backend allows (see supports_atomic_batches);
  // durable on return.
  virtual bool append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) = 0;
  // Whether append() is all-or-nothing across several records.
  virtual bool supports_atomic_batches() const = 0;
  // Counted since the store was opened; zeros from a backend that does not
  // count.
  virtual WriteStats write_stats() const { return {}; }

  // Removes every version of one namespace, or of every namespace of the
  // user when `ns` is empty, and then also the user's data keys, in a way
  // that leaves no readable copy of them in the store's files (secure
  // deletion). Returns how many versions were removed. The hook cursors of
  // the erased contexts go too, so that a context started again is
  // delivered from its new version 1.
  virtual std::size_t erase(std::string_view user_id, std::optional<std::string_view> ns) = 0;

  // Retention: replaces the records of versions gap.version ..
  // gap.pruned_through of gap's context (versions and earlier gaps; any of
  // them may be missing already) by the gap record `gap`, stored as version
  // gap.version. The range never holds the context's head. Atomic where the
  // backend allows; otherwise the gap is written first, so that a crash
  // leaves records that a gap already covers (walks of the chain skip
  // them; pruning again removes them), never a broken chain. Durable on return.
  // Returns how many records it removed or replaced.
  virtual std::size_t prune(const VersionRecord& gap) = 0;

  // Audit retention: removes every audit record with seq <= through_seq.
  // The others keep their seq. Durable on return. Returns how many it
  // removed.
  virtual std::size_t prune_audit(std::uint64_t through_seq) = 0;

  // Data keys, sorted by user and generation; only one user's when given.
  virtual std::vector<DataKeyRecord> data_keys(std::optional<std::string_view> user_id) = 0;
  // Stores a new data key; false, storing nothing, when its user has that
  // generation already (another writer created it first). Durable when the
  // next append() that follows it returns, if not before: no version sealed
  // with the key can outlive it.
  virtual bool add_data_key(const DataKeyRecord& key) = 0;
  // Replaces a key's master_key_id and wrapped text, if it is still stored
  // wrapped as `expected_wrapped`; false otherwise (erased, or rewrapped by
  // someone else meanwhile). Durable on return.
  virtual bool rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) = 0;

  // Hook cursors: the one of `hook` and `context`, if stored.
  virtual std::optional<HookCursor> hook_cursor(std::string_view hook, const ContextKey& context) = 0;
  // Stores `cursor` if the stored one has revision cursor.revision - 1, or,
  // for revision 1, if none is stored; false, storing nothing, otherwise
  // (another writer replaced it first). Durable on return.
  virtual bool put_hook_cursor(const HookCursor& cursor) = 0;
  // Every stored cursor, of one hook when given, sorted by hook and context.
  virtual std::vector<HookCursor> hook_cursors(std::optional<std::string_view> hook) = 0;
  // Removes every cursor of a hook (its deliveries start again from each
  // context's first version). Returns how many it removed.
  virtual std::size_t remove_hook_cursors(std::string_view hook) = 0;

  // Every context, sorted; only those of one user when given.
  virtual std::vector<ContextKey> contexts(std::optional<std::string_view> user_id = std::nullopt) = 0;

  // Audit records, in order. Durable when `durable` (writes); reads may be
  // logged without waiting for the disk.
  virtual void append_audit(std::span<const AuditRecord> records, bool durable) = 0;
  void append_audit(const AuditRecord& record, bool durable) { append_audit({&record, 1}, durable); }
  virtual std::vector<AuditRecord> audit_log(const AuditQuery& query) = 0;

  // Called for each commit to the store, by this store object or any other
  // (other processes included): a new version of (user_id, ns), or every
  // namespace of user_id erased (ns empty). Must not throw.
  using CommitListener = std::function<void(std::string_view user_id, std::optional<std::string_view> ns)>;
  // Starts telling `listener` of commits, from a thread of the store's own,
  // until the store is destroyed; at most once per store. Returns false,
  // starting nothing, when the backend cannot see other processes' commits
  // (followers then look at the store from time to time). Notifications may
  // repeat, and may be lost while the server is unreachable.
  virtual bool listen_for_commits(CommitListener /*listener*/) { return false; }
};

// Where and how to open a store.
struct StoreConfig {
  std::string backend{"json"};    // MEMORY_BACKEND
  std::filesystem::path data_dir; // ZSIMEM_DATA_DIR: the json and sqlite backends' files
  // A process that keeps the store open and serves many threads (the
  // daemon), rather than a one-shot CLI command: backends may then keep
  // more connections and do housekeeping on threads of their own.
  bool long_lived = false;
  // The server-backed backends' store on their server, so that several
  // stores can share one server: the DynamoDB table (DYNAMO_TABLE), the
  // PostgreSQL schema (ZSIMEM_PG_SCHEMA), the Firestore project
  // (FIRESTORE_PROJECT). Where the server is and how to log in come from
  // each ecosystem's own variables (DATABASE_URL, AWS_*,
  // FIRESTORE_EMULATOR_HOST, GOOGLE_APPLICATION_CREDENTIALS).
  // Empty: the backend's default.
  std::string store_name{};
  // Create the store's table when it is missing (zsimem init), where that
  // is not done on open anyway (DynamoDB: creating a table costs money and
  // needs rights an application should not hold).
  bool create = false;
};

// Names of the backends compiled in, for --help and completions.
std::vector<std::string_view> backend_names();
// Those that keep their data in files under StoreConfig::data_dir (json,
// sqlite), rather than on a server.
std::vector<std::string_view> file_backend_names();

// Opens (creating when needed) the store the config names; Error{invalid}
// for an unknown backend.
std::unique_ptr<MemoryStore> open_store(const StoreConfig& config);

class Metrics;

// Wraps a store so that every call is timed into `metrics` (which must
// outlive it) and appended versions are counted.
std::unique_ptr<MemoryStore> instrument_store(std::unique_ptr<MemoryStore> store, Metrics& metrics);

} // namespace zsimem
