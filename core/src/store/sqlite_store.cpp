#include "file_io.hpp"
#include "store/backends.hpp"
#include "store/head_hints.hpp"
#include "store/sqlite_wal_vfs.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/failpoint.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/time.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace zsimem::store {
namespace {

constexpr const char* k_file_name = "zsimem.sqlite3";
constexpr int k_busy_timeout_ms = 10'000;
// Frames in the WAL (about 4 KiB each) after which a commit checkpoints:
// every process that opens the database first re-reads the whole WAL.
constexpr int k_checkpoint_frames = 128;
// A long-lived store (the daemon) checkpoints on a thread of its own, less
// often: a larger WAL lets a checkpoint copy a hot page once for many
// commits, and its fsync of the database holds up fewer commits' fsyncs
// (under load, 1,000 frames made about 12% fewer durable POSTs/s than 8,192).
constexpr int k_background_checkpoint_frames = 8192;
// The size (64 MiB) down to which SQLite truncates a WAL when it starts it
// over: above what the daemon's checkpoints let it reach under load, so that
// commits overwrite the file's blocks rather than grow it (a file that
// grows makes each fsync commit the file system's journal too).
constexpr std::int64_t k_wal_size_limit = std::int64_t{64} << 20;
// Audit records appended before a commit adds them to the audit log's index
// by user in one go: up to this many are read from the log's tail by a
// query by user (2 ms for 7,600). A batch rewrites about one leaf per user with
// records in it (some 1,200 pages with the bench's 1,000 users): at 2,048
// records a batch that was 20% of the daemon's WAL frames under load.
constexpr std::int64_t k_audit_index_batch = 8192;
// The longest a group commit's leader waits for more writes to join it.
constexpr std::chrono::milliseconds k_max_gather{2};
// Read connections a long-lived store opens besides the writer's.
constexpr std::size_t k_max_readers = 4;
// Bytes of head hints a long-lived store keeps before it starts afresh.
constexpr std::int64_t k_int_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t k_int_min = std::numeric_limits<std::int64_t>::min();

// One step of the schema: applying `sql` to a database at version
// `to_version - 1` brings it to `to_version`. Add steps, never edit them.
struct Migration {
  int to_version;
  const char* sql;
};

constexpr std::array k_migrations{
    Migration{1, R"sql(
CREATE TABLE versions (
  user_id TEXT NOT NULL,
  ns TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  data TEXT NOT NULL,
  delta TEXT NOT NULL,
  actor TEXT NOT NULL,
  request_id TEXT NOT NULL,
  tags TEXT NOT NULL,
  derived_from INTEGER NOT NULL,
  rollback_of INTEGER,
  idempotency_key TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (user_id, ns, version)
) WITHOUT ROWID;
CREATE INDEX versions_by_idempotency_key ON versions (user_id, ns, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX versions_by_time ON versions (user_id, ns, updated_at);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  actor TEXT NOT NULL,
  operation TEXT NOT NULL,
  user_id TEXT NOT NULL,
  ns TEXT NOT NULL,
  version TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_by_user ON audit (user_id, seq);
)sql"},
    // Versions in a rowid table, keyed by a unique index: a new version's
    // row (a whole context) is appended at the table's end, where a group
    // commit's rows share pages, instead of splitting a leaf in the middle of
    // a B-tree of whole rows; the key's index has small entries. Fewer
    // indexes, as each costs a page write per version: versions_by_time goes
    // (time-bounded reads walk the key's index back from the newest version,
    // and never used it), and the index of idempotency keys covers the
    // version it maps a key to.
    Migration{2, R"sql(
CREATE TABLE versions_appended (
  user_id TEXT NOT NULL,
  ns TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  data TEXT NOT NULL,
  delta TEXT NOT NULL,
  actor TEXT NOT NULL,
  request_id TEXT NOT NULL,
  tags TEXT NOT NULL,
  derived_from INTEGER NOT NULL,
  rollback_of INTEGER,
  idempotency_key TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO versions_appended SELECT * FROM versions ORDER BY user_id, ns, version;
DROP TABLE versions;
ALTER TABLE versions_appended RENAME TO versions;
CREATE UNIQUE INDEX versions_by_key ON versions (user_id, ns, version);
CREATE INDEX versions_by_idempotency_key ON versions (user_id, ns, idempotency_key, version)
  WHERE idempotency_key IS NOT NULL;
)sql"},
    // The audit log's hash chain; records from before it keep empty hashes.
    Migration{3, R"sql(
ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
)sql"},
    // Encryption at rest: a version's salt and the generation of the data
    // key that sealed it ('' when stored as plain JSON), and the users' data
    // keys, wrapped by a master key.
    Migration{4, R"sql(
ALTER TABLE versions ADD COLUMN salt TEXT NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
CREATE TABLE data_keys (
  user_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  master_key_id TEXT NOT NULL,
  wrapped TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, generation)
) WITHOUT ROWID;
)sql"},
    // Retention: the last version a gap record stands for (NULL in versions).
    Migration{5, R"sql(
ALTER TABLE versions ADD COLUMN pruned_through INTEGER;
)sql"},
    // Hooks: where each hook's delivery of each context stands.
    Migration{6, R"sql(
CREATE TABLE hook_cursors (
  hook TEXT NOT NULL,
  user_id TEXT NOT NULL,
  ns TEXT NOT NULL,
  revision INTEGER NOT NULL,
  state TEXT NOT NULL,
  PRIMARY KEY (hook, user_id, ns)
) WITHOUT ROWID;
CREATE INDEX hook_cursors_by_context ON hook_cursors (user_id, ns);
)sql"},
    // The audit log's index by user, kept in batches: an index entry per
    // record cost every write a page of its own (users are random where the
    // records are appended). Records after `audit_user_index_through` are
    // not in it yet; a query by user reads them from the log's tail.
    Migration{7, R"sql(
CREATE TABLE audit_user_index (
  indexed_user_id TEXT NOT NULL,
  indexed_seq INTEGER NOT NULL,
  PRIMARY KEY (indexed_user_id, indexed_seq)
) WITHOUT ROWID;
INSERT INTO audit_user_index SELECT user_id, seq FROM audit ORDER BY user_id, seq;
CREATE TABLE audit_user_index_through (seq INTEGER NOT NULL);
INSERT INTO audit_user_index_through SELECT coalesce(max(seq), 0) FROM audit;
DROP INDEX audit_by_user;
)sql"},
};

constexpr int k_schema_version = k_migrations.back().to_version;

#define ZSIMEM_VERSION_COLUMNS                                                                                         \
  "user_id, ns, version, updated_at, data, delta, actor, request_id, tags, derived_from, "                             \
  "rollback_of, idempotency_key, prev_hash, hash, salt, key_id, pruned_through"
#define ZSIMEM_DATA_KEY_COLUMNS "user_id, generation, master_key_id, wrapped, created_at"
#define ZSIMEM_HOOK_CURSOR_COLUMNS "hook, user_id, ns, revision, state"
#define ZSIMEM_AUDIT_COLUMNS_AFTER_SEQ                                                                                 \
  "time, request_id, actor, operation, user_id, ns, version, outcome, detail, prev_hash, hash"
#define ZSIMEM_AUDIT_COLUMNS "seq, " ZSIMEM_AUDIT_COLUMNS_AFTER_SEQ

// The statements the store prepares on first use and keeps.
enum class Sql : std::size_t {
  begin_immediate,
  commit,
  savepoint,
  release_savepoint,
  rollback_to_savepoint,
  head,
  version,
  version_at,
  history_newest,
  history_oldest,
  find_idempotency_key,
  predecessor,
  insert_version,
  prune_range,
  insert_audit,
  last_audit_hash,
  erase_namespace,
  erase_user,
  data_key_exists,
  data_keys_all,
  data_keys_of_user,
  insert_data_key,
  rewrap_data_key,
  erase_data_keys,
  hook_cursor,
  insert_hook_cursor,
  update_hook_cursor,
  hook_cursors_all,
  hook_cursors_of_hook,
  remove_hook_cursors,
  erase_hook_cursors_of_namespace,
  erase_hook_cursors_of_user,
  prune_audit,
  unindex_pruned_audit,
  audit_indexed_through,
  index_audit,
  set_audit_indexed_through,
  next_context,
  next_context_of_user,
  audit_all,
  audit_of_user,
  count,
};

constexpr std::array<const char*, static_cast<std::size_t>(Sql::count)> k_sql{
    "BEGIN IMMEDIATE",
    "COMMIT",
    "SAVEPOINT one_write",
    "RELEASE one_write",
    "ROLLBACK TO one_write",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM versions WHERE user_id = ?1 AND ns = ?2"
    " ORDER BY version DESC LIMIT 1",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM versions WHERE user_id = ?1 AND ns = ?2 AND version = ?3",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM versions WHERE user_id = ?1 AND ns = ?2"
    " AND updated_at <= ?3 ORDER BY version DESC LIMIT 1",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM versions WHERE user_id = ?1 AND ns = ?2"
    " AND version < ?3 AND updated_at >= ?4 AND updated_at <= ?5 ORDER BY version DESC LIMIT ?6",
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM versions WHERE user_id = ?1 AND ns = ?2"
    " AND version > ?3 AND updated_at >= ?4 AND updated_at <= ?5 ORDER BY version ASC LIMIT ?6",
    // The subquery makes the planner use the key's index rather than scan the context.
    "SELECT " ZSIMEM_VERSION_COLUMNS " FROM versions WHERE user_id = ?1 AND ns = ?2 AND version ="
    " (SELECT min(version) FROM versions WHERE user_id = ?1 AND ns = ?2 AND idempotency_key = ?3)",
    "SELECT coalesce(pruned_through, version), hash FROM versions WHERE user_id = ?1 AND ns = ?2 AND version < ?3"
    " ORDER BY version DESC LIMIT 1",
    "INSERT INTO versions (" ZSIMEM_VERSION_COLUMNS ")"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    "DELETE FROM versions WHERE user_id = ?1 AND ns = ?2 AND version >= ?3 AND version <= ?4",
    "INSERT INTO audit (time, request_id, actor, operation, user_id, ns, version, outcome, detail, prev_hash, hash)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
    "DELETE FROM versions WHERE user_id = ?1 AND ns = ?2",
    "DELETE FROM versions WHERE user_id = ?1",
    "SELECT 1 FROM data_keys WHERE user_id = ?1 AND generation = ?2",
    "SELECT " ZSIMEM_DATA_KEY_COLUMNS " FROM data_keys ORDER BY user_id, generation",
    "SELECT " ZSIMEM_DATA_KEY_COLUMNS " FROM data_keys WHERE user_id = ?1 ORDER BY generation",
    "INSERT INTO data_keys (" ZSIMEM_DATA_KEY_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5)",
    "UPDATE data_keys SET master_key_id = ?3, wrapped = ?4 WHERE user_id = ?1 AND generation = ?2 AND wrapped = ?5",
    "DELETE FROM data_keys WHERE user_id = ?1",
    "SELECT " ZSIMEM_HOOK_CURSOR_COLUMNS " FROM hook_cursors WHERE hook = ?1 AND user_id = ?2 AND ns = ?3",
    "INSERT INTO hook_cursors (" ZSIMEM_HOOK_CURSOR_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    "UPDATE hook_cursors SET revision = ?4, state = ?5 WHERE hook = ?1 AND user_id = ?2 AND ns = ?3"
    " AND revision = ?4 - 1",
    "SELECT " ZSIMEM_HOOK_CURSOR_COLUMNS " FROM hook_cursors ORDER BY hook, user_id, ns",
    "SELECT " ZSIMEM_HOOK_CURSOR_COLUMNS " FROM hook_cursors WHERE hook = ?1 ORDER BY user_id, ns",
    "DELETE FROM hook_cursors WHERE hook = ?1",
    "DELETE FROM hook_cursors WHERE user_id = ?1 AND ns = ?2",
    "DELETE FROM hook_cursors WHERE user_id = ?1",
    "DELETE FROM audit WHERE seq <= ?1",
    "DELETE FROM audit_user_index WHERE (indexed_user_id, indexed_seq) IN"
    " (SELECT user_id, seq FROM audit WHERE seq <= ?1)",
    "SELECT seq FROM audit_user_index_through",
    "INSERT INTO audit_user_index SELECT user_id, seq FROM audit WHERE seq > ?1 ORDER BY user_id, seq",
    "UPDATE audit_user_index_through SET seq = ?1",
    // Skips from one context to the next through the primary key instead of
    // scanning every version.
    "SELECT user_id, ns FROM versions WHERE (user_id, ns, version) > (?1, ?2, ?3)"
    " ORDER BY user_id, ns, version LIMIT 1",
    "SELECT user_id, ns FROM versions WHERE user_id = ?1 AND (ns, version) > (?2, ?3)"
    " ORDER BY ns, version LIMIT 1",
    "SELECT " ZSIMEM_AUDIT_COLUMNS " FROM audit WHERE seq < ?1 AND time >= ?2 AND time <= ?3"
    " AND (?4 IS NULL OR ns = ?4) ORDER BY seq DESC LIMIT ?5",
    // The tail not yet indexed, merged with the indexed records (each part
    // in seq order: the first column of the second is the index's own, so
    // that the planner merges the two without sorting either).
    "SELECT " ZSIMEM_AUDIT_COLUMNS " FROM audit WHERE seq > (SELECT seq FROM audit_user_index_through)"
    " AND user_id = ?6 AND seq < ?1 AND time >= ?2 AND time <= ?3 AND (?4 IS NULL OR ns = ?4)"
    " UNION ALL SELECT indexed_seq, " ZSIMEM_AUDIT_COLUMNS_AFTER_SEQ " FROM audit_user_index CROSS JOIN audit"
    " ON seq = indexed_seq WHERE indexed_user_id = ?6 AND indexed_seq < ?1 AND time >= ?2 AND time <= ?3"
    " AND (?4 IS NULL OR ns = ?4) ORDER BY 1 DESC LIMIT ?5",
};

#undef ZSIMEM_VERSION_COLUMNS
#undef ZSIMEM_AUDIT_COLUMNS
#undef ZSIMEM_AUDIT_COLUMNS_AFTER_SEQ
#undef ZSIMEM_DATA_KEY_COLUMNS
#undef ZSIMEM_HOOK_CURSOR_COLUMNS

// SQLite integers are signed; versions and limits beyond that range mean "no bound".
std::int64_t clamp_to_int64(std::uint64_t value) {
  return value > static_cast<std::uint64_t>(k_int_max) ? k_int_max : static_cast<std::int64_t>(value);
}

// Whether a stored time lies in the years format_rfc3339 writes (0000 to
// 9999): a damaged row can hold any integer, and arithmetic on the extremes
// overflows.
bool is_plausible_time(std::int64_t micros) {
  constexpr std::int64_t k_first = -62'167'219'200'000'000; // 0000-01-01T00:00:00Z
  constexpr std::int64_t k_end = 253'402'300'800'000'000;   // 10000-01-01T00:00:00Z
  return micros >= k_first && micros < k_end;
}

std::string encode_tags(const std::vector<std::string>& tags) {
  if (tags.empty()) {
    return "[]";
  }
  try {
    return Json(tags).dump();
  } catch (const Json::type_error&) {
    throw Error(ErrorCode::invalid, "a tag is not valid UTF-8", "tags");
  }
}

// Replaces SQLite's auto-checkpoint: each process's first open re-reads the
// whole WAL and forgets what was checkpointed, so with one-shot processes only
// truncating the WAL keeps it, and every open, small.
int checkpoint_long_wal(sqlite3* db, const char* name, int frames) {
  if (frames >= k_checkpoint_frames) {
    try {
      failpoint::hit("sqlite.checkpoint");
    } catch (const std::exception&) {
      return SQLITE_OK; // a failed checkpoint leaves the WAL as it is; nothing may unwind through SQLite
    }
    // Waiting for readers here would hold up a commit that already succeeded;
    // when one is active this degrades to copying pages back.
    sqlite3_busy_timeout(db, 0);
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    sqlite3_busy_timeout(db, k_busy_timeout_ms);
  }
  return SQLITE_OK;
}

// Resets a statement when a use of it ends, so that it holds no read
// snapshot or lock and can be bound afresh.
class StatementUse {
public:
  explicit StatementUse(SQLite::Statement& statement) : m_statement(statement) {}
  ~StatementUse() { m_statement.tryReset(); }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

  SQLite::Statement* operator->() { return &m_statement; }
  SQLite::Statement& operator*() { return m_statement; }

private:
  SQLite::Statement& m_statement;
};

// One connection to the database and the statements prepared on it; used by
// one thread at a time (its mutex).
struct Connection {
  explicit Connection(SQLite::Database database) : db(std::move(database)) {}

  sqlite3* handle() const { return db.getHandle(); }
  SQLite::Statement& statement(Sql id) {
    auto& slot = statements.at(static_cast<std::size_t>(id));
    if (!slot) {
      slot.emplace(db, k_sql.at(static_cast<std::size_t>(id)));
    }
    return *slot;
  }

  std::mutex mutex;
  SQLite::Database db;
  // Declared after db so that they are finalized before it closes.
  std::array<std::optional<SQLite::Statement>, static_cast<std::size_t>(Sql::count)> statements;
};

// Rolls back on scope exit unless committed.
class WriteTransaction {
public:
  explicit WriteTransaction(Connection& connection) : m_connection(connection) {
    StatementUse(m_connection.statement(Sql::begin_immediate))->exec();
  }
  ~WriteTransaction() {
    if (!m_committed && sqlite3_get_autocommit(m_connection.handle()) == 0) {
      sqlite3_exec(m_connection.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  void commit() {
    StatementUse(m_connection.statement(Sql::commit))->exec();
    m_committed = true;
  }

private:
  Connection& m_connection;
  bool m_committed = false;
};

class SqliteStore final : public MemoryStore {
public:
  explicit SqliteStore(const StoreConfig& config);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  std::string_view backend_name() const override { return "sqlite"; }

  std::optional<VersionRecord> head(const ContextKey& key) override;
  std::optional<VersionRecord> head_hint(const ContextKey& key) override;
  std::optional<VersionRecord> version(const ContextKey& key, std::uint64_t version) override;
  std::optional<VersionRecord> version_at(const ContextKey& key, Timestamp at) override;
  std::vector<VersionRecord> history(const ContextKey& key, const HistoryQuery& query) override;
  std::optional<VersionRecord> find_idempotency_key(const ContextKey& key, std::string_view idempotency_key) override;

  bool append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) override;
  bool supports_atomic_batches() const override { return true; }
  WriteStats write_stats() const override { return {m_transactions.load(), m_writes.load()}; }

  std::size_t erase(std::string_view user_id, std::optional<std::string_view> ns) override;
  std::size_t prune(const VersionRecord& gap) override;
  std::size_t prune_audit(std::uint64_t through_seq) override;
  std::vector<ContextKey> contexts(std::optional<std::string_view> user_id) override;

  std::vector<DataKeyRecord> data_keys(std::optional<std::string_view> user_id) override;
  bool add_data_key(const DataKeyRecord& key) override;
  bool rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) override;

  std::optional<HookCursor> hook_cursor(std::string_view hook, const ContextKey& context) override;
  bool put_hook_cursor(const HookCursor& cursor) override;
  std::vector<HookCursor> hook_cursors(std::optional<std::string_view> hook) override;
  std::size_t remove_hook_cursors(std::string_view hook) override;

  void append_audit(std::span<const AuditRecord> records, bool durable) override;
  std::vector<AuditRecord> audit_log(const AuditQuery& query) override;

private:
  // One caller's write, waiting to be committed with whatever else is queued.
  struct PendingWrite {
    std::span<const VersionRecord> records;
    std::vector<std::string> tags; // of each record, encoded before: a bad tag must fail its own write only
    std::span<const AuditRecord> audit;
    // Or, instead of records and audit, a hook cursor to store: hooks'
    // progress shares the transactions (and fsyncs) of the writes it follows.
    const HookCursor* cursor = nullptr;
    bool durable = true;
    bool appended = false; // false: one of `records` existed already, or the cursor had moved on
    std::exception_ptr error;
    // Each waiter sleeps on a condition of its own, so that a commit wakes
    // exactly its group's writers and the next leader, not every writer queued.
    std::mutex mutex;
    std::condition_variable woken;
    bool done = false;  // under `mutex`
    bool leads = false; // under `mutex`: handed the next group
  };

  // Group commit: concurrent writes share one transaction, and so one fsync.
  // The first writer to find no commit in progress leads: it commits every
  // write queued so far, its own among them, while the next ones queue; then
  // it wakes its group's writers, and hands the lead to the first of the
  // queue. Returns whether the write's versions were appended.
  bool write(std::span<const VersionRecord> records, std::span<const AuditRecord> audit, bool durable);
  // Queues one write for the next group (or leads it); whether it was
  // written (PendingWrite::appended).
  bool commit_in_group(PendingWrite& pending);
  // A leader's wait, before it takes the queue, for as many writes as the
  // last group had, for at most as long as the last commit took (and
  // k_max_gather). The writers the last commit answered are usually back
  // with their next write by then: one commit, and one fsync, of what
  // would be two or three, each of which rewrites the pages the group's
  // rows share. `lock` holds m_queue_mutex.
  void gather(std::unique_lock<std::mutex>& lock);
  // The compare and set of put_hook_cursor, in the group's transaction.
  static bool store_hook_cursor(Connection& connection, const HookCursor& cursor);
  // Commits a group in one transaction, each write in a savepoint of its own,
  // so that one write's existing version fails only that write. Reports to
  // each write through its PendingWrite (but for `done`); never throws.
  void commit_group(const std::vector<PendingWrite*>& group);
  // Inserts one write's versions; false when one of them exists, the first
  // of a context does not follow the stored head (checked unless
  // `check_chain` is off: a gap replacing what it stands for), or one names
  // a data key its user does not have.
  static bool insert_versions(Connection& connection, const PendingWrite& pending, bool check_chain = true);
  static bool has_data_key(Connection& connection, const VersionRecord& record);
  // Whether the newest record below `record` ends at its version - 1 (a
  // version, or a gap) with hash `record.prev_hash`.
  static bool follows_stored_head(Connection& connection, const VersionRecord& record);

  // The head hints (long-lived only): what this process committed last per
  // context, forgotten when a write on it is refused or it is erased.
  void remember_heads(const std::vector<PendingWrite*>& group);

  static SQLite::Database open_database(const std::filesystem::path& dir, const std::filesystem::path& path);
  std::unique_ptr<Connection> open_connection() const;
  void ensure_schema();
  int user_version();
  int table_count();
  void switch_to_wal();
  Error newer_schema_error(int found) const;

  Error to_error(const SQLite::Exception& e) const;

  // Runs `fn` on the writer connection, turning SQLite failures into Error.
  template <typename Fn> decltype(auto) with_writer(Fn&& fn) {
    std::lock_guard lock(m_writer->mutex);
    try {
      return std::forward<Fn>(fn)(*m_writer);
    } catch (const SQLite::Exception& e) {
      throw to_error(e);
    }
  }
  // Runs a read `fn` on a free connection (see reader()).
  template <typename Fn> decltype(auto) with_reader(Fn&& fn) {
    Connection& connection = reader();
    std::lock_guard lock(connection.mutex, std::adopt_lock);
    try {
      return std::forward<Fn>(fn)(connection);
    } catch (const SQLite::Exception& e) {
      throw to_error(e);
    }
  }
  // A connection for a read, locked: the writer's when it is free (so that a
  // one-shot CLI process opens one connection), else a reader's, opened on
  // demand up to k_max_readers, so that reads go on during a group's commit.
  Connection& reader();

  // Checkpoints the WAL on a thread of its own (a long-lived store: the
  // daemon), so that no commit waits for one.
  void checkpoint_in_background();
  static int on_wal_commit(void* store, sqlite3* db, const char* name, int frames);

  std::optional<VersionRecord> one_version(Sql id, const ContextKey& key,
                                           std::optional<std::int64_t> third = std::nullopt);
  VersionRecord read_version(const SQLite::Statement& row) const;
  AuditRecord read_audit(const SQLite::Statement& row) const;
  DataKeyRecord read_data_key(const SQLite::Statement& row) const;
  static HookCursor read_hook_cursor(const SQLite::Statement& row);
  Error damaged_time(const std::string& where) const;
  // Appends `record` to the audit log's hash chain after the record whose
  // hash is `last_hash`, and moves `last_hash` on to it; the record's seq.
  static std::int64_t insert_audit(Connection& connection, const AuditRecord& record, std::string& last_hash);
  // In a write transaction that appended audit records up to `last_seq`:
  // adds the log's tail to its index by user once it is a batch long. The
  // new end of the index, to remember once committed.
  std::optional<std::int64_t> index_audit_if_due(Connection& connection, std::int64_t last_seq);
  static std::string last_audit_hash(Connection& connection);

  std::filesystem::path m_path;
  bool m_long_lived;
  std::unique_ptr<Connection> m_writer;
  std::mutex m_readers_mutex;
  std::vector<std::unique_ptr<Connection>> m_readers;
  std::size_t m_next_reader = 0;
  std::mutex m_checkpoint_mutex;
  std::condition_variable m_checkpoint_wanted;
  bool m_checkpoint_due = false;
  bool m_stopping = false;
  std::thread m_checkpointer;
  std::mutex m_queue_mutex;
  std::vector<PendingWrite*> m_queue;
  bool m_leading = false; // a writer leads: it commits the queue's writes next
  // Gathering (a long-lived store, under m_queue_mutex): see gather().
  std::condition_variable m_queue_grew;
  std::size_t m_gather_target = 0; // the queue length a gathering leader waits for; 0: none waits
  std::size_t m_last_group_size = 0;
  std::chrono::steady_clock::duration m_last_commit_time{};
  // Where the audit log's index by user ended at this process's last look
  // (see index_audit_if_due); under the writer's mutex.
  std::int64_t m_audit_indexed_through = 0;
  std::atomic<std::uint64_t> m_transactions{0};
  std::atomic<std::uint64_t> m_writes{0};
  HeadHints m_hints;
};

SqliteStore::SqliteStore(const StoreConfig& config)
    : m_path(config.data_dir / k_file_name), m_long_lived(config.long_lived),
      m_writer(std::make_unique<Connection>(open_database(config.data_dir, m_path))) {
  try {
    sqlite3_wal_hook(m_writer->handle(), &on_wal_commit, this);
    // Every write goes through this connection: its deletes and updates
    // overwrite the old content with zeros, so an erased user's data keys
    // leave no copy in freed space of the file.
    m_writer->db.exec("PRAGMA secure_delete = ON");
    ensure_schema();
  } catch (const SQLite::Exception& e) {
    throw to_error(e);
  }
  if (m_long_lived) {
    m_checkpointer = std::thread([this] { checkpoint_in_background(); });
  }
}

SqliteStore::~SqliteStore() {
  if (m_checkpointer.joinable()) {
    {
      std::lock_guard lock(m_checkpoint_mutex);
      m_stopping = true;
    }
    m_checkpoint_wanted.notify_all();
    m_checkpointer.join();
    // The daemon's WAL can hold tens of MiB, which the next process to open
    // the database would read first: it leaves it empty (if no other
    // process holds it; else a later checkpoint does).
    std::lock_guard lock(m_writer->mutex);
    sqlite3_busy_timeout(m_writer->handle(), 0);
    sqlite3_wal_checkpoint_v2(m_writer->handle(), "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }
}

SQLite::Database SqliteStore::open_database(const std::filesystem::path& dir, const std::filesystem::path& path) {
  // Each new directory's parent is fsynced: a power cut after a commit must
  // not take the data directory, and the database in it, away.
  file_io::create_directories(dir);
  try {
    SQLite::Database db(path.c_str(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX,
                        k_busy_timeout_ms, sqlite_wal_vfs::name());
    // A one-shot CLI process opens and closes the database per command:
    // keeping the WAL at close spares each command a checkpoint and fsync;
    // checkpoints during commits bound the WAL's size.
    int persist_wal = 1;
    sqlite3_file_control(db.getHandle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
    sqlite3_db_config(db.getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    // A successful append must survive a power cut (and under FULL the VFS
    // writes each commit's WAL frames in one piece).
    db.exec("PRAGMA synchronous = FULL; PRAGMA journal_size_limit = " + std::to_string(k_wal_size_limit));
    return db;
  } catch (const SQLite::Exception& e) {
    throw Error(ErrorCode::unavailable, "cannot open SQLite database " + path.string() + ": " + e.what());
  }
}

std::unique_ptr<Connection> SqliteStore::open_connection() const {
  return std::make_unique<Connection>(open_database(m_path.parent_path(), m_path));
}

Connection& SqliteStore::reader() {
  if (m_writer->mutex.try_lock()) {
    return *m_writer;
  }
  Connection* wait_for = nullptr;
  {
    std::lock_guard lock(m_readers_mutex);
    for (auto& connection : m_readers) {
      if (connection->mutex.try_lock()) {
        return *connection;
      }
    }
    if (m_readers.size() < k_max_readers) {
      m_readers.push_back(open_connection());
      m_readers.back()->mutex.lock();
      return *m_readers.back();
    }
    wait_for = m_readers[m_next_reader++ % m_readers.size()].get();
  }
  wait_for->mutex.lock();
  return *wait_for;
}

int SqliteStore::on_wal_commit(void* self, sqlite3* db, const char* name, int frames) {
  auto& store = *static_cast<SqliteStore*>(self);
  if (!store.m_long_lived) {
    return checkpoint_long_wal(db, name, frames);
  }
  if (frames >= k_background_checkpoint_frames) {
    {
      std::lock_guard lock(store.m_checkpoint_mutex);
      store.m_checkpoint_due = true;
    }
    store.m_checkpoint_wanted.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::checkpoint_in_background() {
  std::unique_ptr<Connection> connection;
  std::unique_lock lock(m_checkpoint_mutex);
  for (;;) {
    m_checkpoint_wanted.wait(lock, [&] { return m_checkpoint_due || m_stopping; });
    if (m_stopping) {
      return;
    }
    m_checkpoint_due = false;
    lock.unlock();
    try {
      if (!connection) {
        connection = open_connection();
      }
      failpoint::hit("sqlite.checkpoint");
      // Passive: copies what no reader needs without blocking anyone; the
      // writer then starts the WAL over from its beginning.
      sqlite3_wal_checkpoint_v2(connection->handle(), "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } catch (const std::exception&) {
      // The next commit asks again; the WAL only grows meanwhile.
    }
    lock.lock();
  }
}

int SqliteStore::user_version() {
  SQLite::Statement query(m_writer->db, "PRAGMA user_version");
  query.executeStep();
  return query.getColumn(0).getInt();
}

int SqliteStore::table_count() {
  SQLite::Statement query(m_writer->db, "SELECT count(*) FROM sqlite_schema");
  query.executeStep();
  return query.getColumn(0).getInt();
}

Error SqliteStore::newer_schema_error(int found) const {
  return Error(ErrorCode::unavailable, "SQLite database " + m_path.string() + " has schema version " +
                                           std::to_string(found) + ", newer than this zsimem supports (" +
                                           std::to_string(k_schema_version) + "); upgrade zsimem");
}

void SqliteStore::switch_to_wal() {
  // SQLite reports a concurrent switch as busy without calling the busy
  // handler, so wait here; the mode persists in the file and cannot change
  // inside a transaction.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(k_busy_timeout_ms);
  for (;;) {
    try {
      SQLite::Statement mode(m_writer->db, "PRAGMA journal_mode = WAL");
      if (!mode.executeStep() || mode.getColumn(0).getString() != "wal") {
        throw Error(ErrorCode::unavailable, "SQLite database " + m_path.string() +
                                                ": cannot switch to WAL mode (is it on a network file system?)");
      }
      return;
    } catch (const SQLite::Exception& e) {
      if ((e.getErrorCode() & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) {
        throw;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void SqliteStore::ensure_schema() {
  // The common case, every CLI command: one header read and nothing else.
  int current = user_version();
  if (current == k_schema_version) {
    return;
  }
  if (current > k_schema_version) {
    throw newer_schema_error(current);
  }
  if (current == 0 && table_count() > 0) {
    // Tables without our schema version: another program's database, which
    // must not be altered. Or a creator committed since the first read.
    current = user_version();
    if (current == k_schema_version) {
      return;
    }
    if (current == 0) {
      throw Error(ErrorCode::unavailable, "SQLite database " + m_path.string() +
                                              " is not a zsimem database (it has tables but no zsimem schema version);"
                                              " move it away or choose another data directory");
    }
  }
  if (current == 0) {
    switch_to_wal();
  }
  WriteTransaction transaction(*m_writer);
  // Another process may have created or migrated the schema meanwhile.
  current = user_version();
  if (current > k_schema_version) {
    throw newer_schema_error(current);
  }
  for (const auto& migration : k_migrations) {
    if (migration.to_version > current) {
      m_writer->db.exec(migration.sql);
    }
  }
  m_writer->db.exec("PRAGMA user_version = " + std::to_string(k_schema_version));
  transaction.commit();
}

Error SqliteStore::to_error(const SQLite::Exception& e) const {
  const int code = e.getErrorCode() & 0xff;
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return Error(ErrorCode::timeout, "SQLite database " + m_path.string() + " stayed locked for " +
                                         std::to_string(k_busy_timeout_ms / 1000) +
                                         " s (another process is writing): " + e.what());
  }
  std::string message = "SQLite database " + m_path.string() + ": " + e.what();
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
    message += " (the file is damaged or not a zsimem database; restore it from a backup)";
  } else if (code == SQLITE_READONLY) {
    // SQLite falls back to reading when a file of the database fails to open for writing.
    message += " (a file of it could be opened only for reading: check the permissions of " +
               m_path.parent_path().string() + " and its files, and the disk)";
  }
  return Error(ErrorCode::unavailable, message);
}

Error SqliteStore::damaged_time(const std::string& where) const {
  return Error(ErrorCode::unavailable,
               "SQLite database " + m_path.string() + ": damaged time in " + where + " (restore it from a backup)");
}

VersionRecord SqliteStore::read_version(const SQLite::Statement& row) const {
  VersionRecord record;
  record.user_id = row.getColumn(0).getString();
  record.ns = row.getColumn(1).getString();
  record.version = static_cast<std::uint64_t>(row.getColumn(2).getInt64());
  const std::int64_t updated_at = row.getColumn(3).getInt64();
  if (!is_plausible_time(updated_at)) {
    throw damaged_time(record.user_id + "/" + record.ns + " version " + std::to_string(record.version));
  }
  record.updated_at = from_micros(updated_at);
  record.data = row.getColumn(4).getString();
  record.delta = row.getColumn(5).getString();
  record.actor = row.getColumn(6).getString();
  record.request_id = row.getColumn(7).getString();
  const std::string tags = row.getColumn(8).getString();
  if (tags != "[]") {
    const Json parsed = Json::parse(tags, nullptr, false);
    const auto is_string = [](const Json& tag) { return tag.is_string(); };
    if (!parsed.is_array() || !std::all_of(parsed.begin(), parsed.end(), is_string)) {
      throw Error(ErrorCode::unavailable, "SQLite database " + m_path.string() + ": damaged tags in " + record.user_id +
                                              "/" + record.ns + " version " + std::to_string(record.version));
    }
    for (const auto& tag : parsed) {
      record.tags.push_back(tag.get<std::string>());
    }
  }
  record.derived_from = static_cast<std::uint64_t>(row.getColumn(9).getInt64());
  if (!row.isColumnNull(10)) {
    record.rollback_of = static_cast<std::uint64_t>(row.getColumn(10).getInt64());
  }
  record.idempotency_key = row.getColumn(11).getString();
  record.prev_hash = row.getColumn(12).getString();
  record.hash = row.getColumn(13).getString();
  record.salt = row.getColumn(14).getString();
  record.key_id = row.getColumn(15).getString();
  if (!row.isColumnNull(16)) {
    record.pruned_through = static_cast<std::uint64_t>(row.getColumn(16).getInt64());
  }
  return record;
}

AuditRecord SqliteStore::read_audit(const SQLite::Statement& row) const {
  AuditRecord record;
  record.seq = static_cast<std::uint64_t>(row.getColumn(0).getInt64());
  const std::int64_t time = row.getColumn(1).getInt64();
  if (!is_plausible_time(time)) {
    throw damaged_time("audit record " + std::to_string(record.seq));
  }
  record.time = from_micros(time);
  record.request_id = row.getColumn(2).getString();
  record.actor = row.getColumn(3).getString();
  record.operation = row.getColumn(4).getString();
  record.user_id = row.getColumn(5).getString();
  record.ns = row.getColumn(6).getString();
  record.version = row.getColumn(7).getString();
  record.outcome = row.getColumn(8).getString();
  record.detail = row.getColumn(9).getString();
  record.prev_hash = row.getColumn(10).getString();
  record.hash = row.getColumn(11).getString();
  return record;
}

HookCursor SqliteStore::read_hook_cursor(const SQLite::Statement& row) {
  return HookCursor{row.getColumn(0).getString(),
                    ContextKey{row.getColumn(1).getString(), row.getColumn(2).getString()},
                    static_cast<std::uint64_t>(row.getColumn(3).getInt64()), row.getColumn(4).getString()};
}

DataKeyRecord SqliteStore::read_data_key(const SQLite::Statement& row) const {
  DataKeyRecord key;
  key.user_id = row.getColumn(0).getString();
  key.generation = static_cast<std::uint64_t>(row.getColumn(1).getInt64());
  key.master_key_id = row.getColumn(2).getString();
  key.wrapped = row.getColumn(3).getString();
  const std::int64_t created_at = row.getColumn(4).getInt64();
  if (!is_plausible_time(created_at)) {
    throw damaged_time("data key " + std::to_string(key.generation) + " of " + key.user_id);
  }
  key.created_at = from_micros(created_at);
  return key;
}

std::optional<VersionRecord> SqliteStore::one_version(Sql id, const ContextKey& key,
                                                      std::optional<std::int64_t> third) {
  return with_reader([&](Connection& connection) -> std::optional<VersionRecord> {
    StatementUse query(connection.statement(id));
    query->bindNoCopy(1, key.user_id);
    query->bindNoCopy(2, key.ns);
    if (third) {
      query->bind(3, *third);
    }
    if (!query->executeStep()) {
      return std::nullopt;
    }
    return read_version(*query);
  });
}

std::optional<VersionRecord> SqliteStore::head(const ContextKey& key) { return one_version(Sql::head, key); }

std::optional<VersionRecord> SqliteStore::head_hint(const ContextKey& key) { return m_hints.find(key); }

void SqliteStore::remember_heads(const std::vector<PendingWrite*>& group) {
  for (const PendingWrite* pending : group) {
    m_hints.after_append(pending->records, pending->appended);
  }
}

std::optional<VersionRecord> SqliteStore::version(const ContextKey& key, std::uint64_t version) {
  return one_version(Sql::version, key, clamp_to_int64(version));
}

std::optional<VersionRecord> SqliteStore::version_at(const ContextKey& key, Timestamp at) {
  return one_version(Sql::version_at, key, to_micros(at));
}

std::vector<VersionRecord> SqliteStore::history(const ContextKey& key, const HistoryQuery& query) {
  return with_reader([&](Connection& connection) {
    StatementUse select(connection.statement(query.oldest_first ? Sql::history_oldest : Sql::history_newest));
    select->bindNoCopy(1, key.user_id);
    select->bindNoCopy(2, key.ns);
    if (query.oldest_first) {
      select->bind(3, query.after_version ? clamp_to_int64(*query.after_version) : k_int_min);
    } else {
      select->bind(3, query.before_version ? clamp_to_int64(*query.before_version) : k_int_max);
    }
    select->bind(4, query.since ? to_micros(*query.since) : k_int_min);
    select->bind(5, query.until ? to_micros(*query.until) : k_int_max);
    select->bind(6, clamp_to_int64(query.limit));
    std::vector<VersionRecord> records;
    while (select->executeStep()) {
      records.push_back(read_version(*select));
    }
    return records;
  });
}

std::optional<VersionRecord> SqliteStore::find_idempotency_key(const ContextKey& key,
                                                               std::string_view idempotency_key) {
  if (idempotency_key.empty()) {
    return std::nullopt;
  }
  // Bound as text: SQLiteCpp binds a pointer and size as a blob, which never equals text.
  const std::string wanted(idempotency_key);
  return with_reader([&](Connection& connection) -> std::optional<VersionRecord> {
    StatementUse query(connection.statement(Sql::find_idempotency_key));
    query->bindNoCopy(1, key.user_id);
    query->bindNoCopy(2, key.ns);
    query->bindNoCopy(3, wanted);
    if (!query->executeStep()) {
      return std::nullopt;
    }
    VersionRecord record = read_version(*query);
    if (record.idempotency_key != wanted) {
      // The lookup goes through an index: a damaged one can point at any row.
      throw Error(ErrorCode::unavailable, "SQLite database " + m_path.string() +
                                              ": damaged index of idempotency keys in " + record.user_id + "/" +
                                              record.ns + " (restore it from a backup, or REINDEX)");
    }
    return record;
  });
}

std::string SqliteStore::last_audit_hash(Connection& connection) {
  StatementUse query(connection.statement(Sql::last_audit_hash));
  return query->executeStep() ? query->getColumn(0).getString() : std::string{};
}

std::int64_t SqliteStore::insert_audit(Connection& connection, const AuditRecord& unchained, std::string& last_hash) {
  AuditRecord record = unchained;
  chain_audit(record, last_hash);
  StatementUse insert(connection.statement(Sql::insert_audit));
  insert->bind(1, to_micros(record.time));
  insert->bindNoCopy(2, record.request_id);
  insert->bindNoCopy(3, record.actor);
  insert->bindNoCopy(4, record.operation);
  insert->bindNoCopy(5, record.user_id);
  insert->bindNoCopy(6, record.ns);
  insert->bindNoCopy(7, record.version);
  insert->bindNoCopy(8, record.outcome);
  insert->bindNoCopy(9, record.detail);
  insert->bindNoCopy(10, record.prev_hash);
  insert->bindNoCopy(11, record.hash);
  insert->exec();
  last_hash = record.hash;
  return connection.db.getLastInsertRowid();
}

std::optional<std::int64_t> SqliteStore::index_audit_if_due(Connection& connection, std::int64_t last_seq) {
  if (last_seq - m_audit_indexed_through < k_audit_index_batch) {
    return std::nullopt;
  }
  // The remembered end may be behind: other processes index too.
  std::int64_t through = 0;
  {
    StatementUse query(connection.statement(Sql::audit_indexed_through));
    if (query->executeStep()) {
      through = query->getColumn(0).getInt64();
    }
  }
  if (last_seq - through >= k_audit_index_batch) {
    StatementUse index(connection.statement(Sql::index_audit));
    index->bind(1, through);
    index->exec();
    StatementUse update(connection.statement(Sql::set_audit_indexed_through));
    update->bind(1, last_seq);
    update->exec();
    through = last_seq;
  }
  return through;
}

bool SqliteStore::append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) {
  return write(records, audit, true);
}

bool SqliteStore::write(std::span<const VersionRecord> records, std::span<const AuditRecord> audit, bool durable) {
  PendingWrite pending;
  pending.records = records;
  pending.audit = audit;
  pending.durable = durable;
  pending.tags.reserve(records.size());
  for (const auto& record : records) {
    pending.tags.push_back(encode_tags(record.tags));
  }
  return commit_in_group(pending);
}

bool SqliteStore::commit_in_group(PendingWrite& pending) {
  bool leads;
  {
    const std::lock_guard lock(m_queue_mutex);
    m_queue.push_back(&pending);
    leads = !std::exchange(m_leading, true);
    if (m_gather_target != 0 && m_queue.size() >= m_gather_target) {
      m_queue_grew.notify_one();
    }
  }
  if (!leads) {
    std::unique_lock lock(pending.mutex);
    pending.woken.wait(lock, [&] { return pending.done || pending.leads; });
    leads = !pending.done;
  }
  if (leads) {
    // The queue holds this write: the group committed next includes it.
    std::vector<PendingWrite*> group;
    PendingWrite* next_leader = nullptr;
    {
      std::unique_lock lock(m_queue_mutex);
      if (m_long_lived) {
        gather(lock);
      }
      group.swap(m_queue);
    }
    const auto started = std::chrono::steady_clock::now();
    commit_group(group);
    const auto took = std::chrono::steady_clock::now() - started;
    {
      const std::lock_guard lock(m_queue_mutex);
      m_last_group_size = group.size();
      m_last_commit_time = took;
      if (m_queue.empty()) {
        m_leading = false;
      } else {
        next_leader = m_queue.front();
      }
    }
    for (PendingWrite* written : group) {
      if (written != &pending) {
        // Under its mutex: the writer returns, and its PendingWrite goes,
        // only once it has the mutex back.
        const std::lock_guard lock(written->mutex);
        written->done = true;
        written->woken.notify_one();
      }
    }
    if (next_leader != nullptr) {
      const std::lock_guard lock(next_leader->mutex);
      next_leader->leads = true;
      next_leader->woken.notify_one();
    }
  }
  if (pending.error) {
    std::rethrow_exception(pending.error);
  }
  return pending.appended;
}

void SqliteStore::gather(std::unique_lock<std::mutex>& lock) {
  const std::size_t target = m_last_group_size;
  if (m_queue.size() >= target) {
    return;
  }
  m_gather_target = target;
  m_queue_grew.wait_for(lock, std::min<std::chrono::steady_clock::duration>(m_last_commit_time, k_max_gather),
                        [&] { return m_queue.size() >= target; });
  m_gather_target = 0;
}

void SqliteStore::commit_group(const std::vector<PendingWrite*>& group) {
  const bool durable = std::any_of(group.begin(), group.end(), [](const PendingWrite* w) { return w->durable; });
  try {
    with_writer([&](Connection& connection) {
      if (!durable) {
        // Only reads' audit records: this commit skips the fsync, and the
        // next durable commit syncs it along.
        connection.db.exec("PRAGMA synchronous = NORMAL");
      }
      try {
        WriteTransaction transaction(connection);
        std::string last_hash = last_audit_hash(connection);
        std::int64_t last_seq = 0;
        for (PendingWrite* pending : group) {
          if (pending != group.front()) {
            failpoint::hit("sqlite.between_writes");
          }
          if (pending->cursor != nullptr) {
            pending->appended = store_hook_cursor(connection, *pending->cursor);
            continue;
          }
          if (!pending->records.empty()) {
            StatementUse(connection.statement(Sql::savepoint))->exec();
            pending->appended = insert_versions(connection, *pending);
            if (!pending->appended) {
              StatementUse(connection.statement(Sql::rollback_to_savepoint))->exec();
            }
            StatementUse(connection.statement(Sql::release_savepoint))->exec();
            if (!pending->appended) {
              continue; // its audit records belong to the versions it did not write
            }
          }
          for (const auto& record : pending->audit) {
            last_seq = insert_audit(connection, record, last_hash);
          }
        }
        const auto indexed_through = last_seq > 0 ? index_audit_if_due(connection, last_seq) : std::nullopt;
        failpoint::hit("sqlite.before_commit");
        transaction.commit();
        if (indexed_through) {
          m_audit_indexed_through = *indexed_through;
        }
      } catch (...) {
        if (!durable) {
          connection.db.tryExec("PRAGMA synchronous = FULL");
        }
        throw;
      }
      if (!durable) {
        connection.db.exec("PRAGMA synchronous = FULL");
      }
    });
    ++m_transactions;
    m_writes += group.size();
    if (m_long_lived) {
      remember_heads(group);
    }
    failpoint::hit("sqlite.after_commit");
  } catch (const Error& error) {
    // The transaction rolled back: every write of the group failed with it.
    // Each caller gets a copy of its own: waiters on other threads rethrow
    // and free them independently.
    for (PendingWrite* pending : group) {
      pending->appended = false;
      pending->error = std::make_exception_ptr(error);
    }
  } catch (...) {
    for (PendingWrite* pending : group) {
      pending->appended = false;
      pending->error = std::current_exception();
    }
  }
}

bool SqliteStore::follows_stored_head(Connection& connection, const VersionRecord& record) {
  StatementUse query(connection.statement(Sql::predecessor));
  query->bindNoCopy(1, record.user_id);
  query->bindNoCopy(2, record.ns);
  query->bind(3, clamp_to_int64(record.version));
  return query->executeStep() && query->getColumn(0).getInt64() == clamp_to_int64(record.version - 1) &&
         query->getColumn(1).getString() == record.prev_hash;
}

bool SqliteStore::insert_versions(Connection& connection, const PendingWrite& pending, bool check_chain) {
  for (std::size_t i = 0; i < pending.records.size(); ++i) {
    const VersionRecord& record = pending.records[i];
    // Within one write, a context's later versions follow its first.
    const bool first_of_context = i == 0 || pending.records[i - 1].key() != record.key();
    if (check_chain && first_of_context && record.version > 1 && !follows_stored_head(connection, record)) {
      return false;
    }
    // Checked in the transaction that inserts, so that an erasure of the
    // key either precedes it (and this fails) or removes this version too.
    if (!record.key_id.empty() && !has_data_key(connection, record)) {
      return false;
    }
    StatementUse insert(connection.statement(Sql::insert_version));
    insert->bindNoCopy(1, record.user_id);
    insert->bindNoCopy(2, record.ns);
    insert->bind(3, clamp_to_int64(record.version));
    insert->bind(4, to_micros(record.updated_at));
    insert->bindNoCopy(5, record.data);
    insert->bindNoCopy(6, record.delta);
    insert->bindNoCopy(7, record.actor);
    insert->bindNoCopy(8, record.request_id);
    insert->bindNoCopy(9, pending.tags[i]);
    insert->bind(10, clamp_to_int64(record.derived_from));
    if (record.rollback_of) {
      insert->bind(11, clamp_to_int64(*record.rollback_of));
    } else {
      insert->bind(11);
    }
    if (record.idempotency_key.empty()) {
      insert->bind(12);
    } else {
      insert->bindNoCopy(12, record.idempotency_key);
    }
    insert->bindNoCopy(13, record.prev_hash);
    insert->bindNoCopy(14, record.hash);
    insert->bindNoCopy(15, record.salt);
    insert->bindNoCopy(16, record.key_id);
    if (record.pruned_through) {
      insert->bind(17, clamp_to_int64(*record.pruned_through));
    } else {
      insert->bind(17);
    }
    const int result = insert->tryExecuteStep();
    if ((result & 0xff) == SQLITE_CONSTRAINT) {
      return false; // the version exists: someone else appended it first
    }
    if (result != SQLITE_DONE) {
      throw SQLite::Exception(connection.handle(), result);
    }
  }
  return true;
}

std::size_t SqliteStore::erase(std::string_view user_id, std::optional<std::string_view> ns) {
  const std::string user(user_id);
  const std::string name(ns.value_or(""));
  const auto removed = with_writer([&](Connection& connection) {
    if (ns) {
      WriteTransaction transaction(connection);
      {
        StatementUse remove(connection.statement(Sql::erase_hook_cursors_of_namespace));
        remove->bindNoCopy(1, user);
        remove->bindNoCopy(2, name);
        remove->exec();
      }
      std::size_t versions = 0;
      {
        StatementUse remove(connection.statement(Sql::erase_namespace));
        remove->bindNoCopy(1, user);
        remove->bindNoCopy(2, name);
        versions = static_cast<std::size_t>(remove->exec());
      }
      transaction.commit();
      return versions;
    }
    std::size_t versions = 0;
    int keys = 0;
    {
      // One transaction: no reader sees versions whose keys are gone.
      WriteTransaction transaction(connection);
      {
        StatementUse remove(connection.statement(Sql::erase_hook_cursors_of_user));
        remove->bindNoCopy(1, user);
        remove->exec();
      }
      {
        StatementUse remove(connection.statement(Sql::erase_user));
        remove->bindNoCopy(1, user);
        versions = static_cast<std::size_t>(remove->exec());
      }
      {
        StatementUse remove(connection.statement(Sql::erase_data_keys));
        remove->bindNoCopy(1, user);
        keys = remove->exec();
      }
      transaction.commit();
    }
    if (keys > 0) {
      // secure_delete zeroed the keys in the pages this commit wrote, but
      // the database file, until a checkpoint, and older WAL frames still
      // hold them: copy the pages back and empty the WAL. Best effort, as
      // the erasure is committed: a reader in another process can hold it
      // up past the busy timeout, and a later checkpoint then finishes it.
      sqlite3_wal_checkpoint_v2(connection.handle(), "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    }
    return versions;
  });
  m_hints.forget(user_id, ns);
  return removed;
}

std::size_t SqliteStore::prune(const VersionRecord& gap) {
  if (!gap.is_gap()) {
    throw Error(ErrorCode::invalid, "prune takes a gap record", "pruned_through");
  }
  PendingWrite pending;
  pending.records = {&gap, 1};
  pending.tags = {encode_tags(gap.tags)};
  return with_writer([&](Connection& connection) {
    WriteTransaction transaction(connection);
    {
      // Never narrow a gap that another prune widened: what it stands for
      // beyond this one's range is gone already.
      StatementUse existing(connection.statement(Sql::version));
      existing->bindNoCopy(1, gap.user_id);
      existing->bindNoCopy(2, gap.ns);
      existing->bind(3, clamp_to_int64(gap.version));
      if (existing->executeStep() && !existing->isColumnNull(16) &&
          existing->getColumn(16).getInt64() > clamp_to_int64(*gap.pruned_through)) {
        return std::size_t{0};
      }
    }
    std::size_t removed = 0;
    {
      StatementUse remove(connection.statement(Sql::prune_range));
      remove->bindNoCopy(1, gap.user_id);
      remove->bindNoCopy(2, gap.ns);
      remove->bind(3, clamp_to_int64(gap.version));
      remove->bind(4, clamp_to_int64(*gap.pruned_through));
      removed = static_cast<std::size_t>(remove->exec());
    }
    if (!insert_versions(connection, pending, false)) {
      throw Error(ErrorCode::unavailable, "SQLite database " + m_path.string() + ": could not store the gap of " +
                                              gap.user_id + "/" + gap.ns + " version " + std::to_string(gap.version));
    }
    transaction.commit();
    return removed;
  });
}

std::size_t SqliteStore::prune_audit(std::uint64_t through_seq) {
  return with_writer([&](Connection& connection) {
    WriteTransaction transaction(connection);
    StatementUse unindex(connection.statement(Sql::unindex_pruned_audit));
    unindex->bind(1, clamp_to_int64(through_seq));
    unindex->exec();
    StatementUse remove(connection.statement(Sql::prune_audit));
    remove->bind(1, clamp_to_int64(through_seq));
    const auto removed = static_cast<std::size_t>(remove->exec());
    transaction.commit();
    return removed;
  });
}

bool SqliteStore::has_data_key(Connection& connection, const VersionRecord& record) {
  const auto generation = key_generation(record.key_id);
  if (!generation) {
    return false;
  }
  StatementUse query(connection.statement(Sql::data_key_exists));
  query->bindNoCopy(1, record.user_id);
  query->bind(2, static_cast<std::int64_t>(*generation));
  return query->executeStep();
}

std::vector<DataKeyRecord> SqliteStore::data_keys(std::optional<std::string_view> user_id) {
  const std::string user(user_id.value_or(""));
  return with_reader([&](Connection& connection) {
    StatementUse select(connection.statement(user_id ? Sql::data_keys_of_user : Sql::data_keys_all));
    if (user_id) {
      select->bindNoCopy(1, user);
    }
    std::vector<DataKeyRecord> keys;
    while (select->executeStep()) {
      keys.push_back(read_data_key(*select));
    }
    return keys;
  });
}

bool SqliteStore::add_data_key(const DataKeyRecord& key) {
  check_data_key(key);
  // One statement, so its own transaction; not synced, as the versions sealed
  // with the key come in a later, synced commit of the same WAL, which makes
  // it durable along: a user's first write costs one fsync, not two.
  return with_writer([&](Connection& connection) {
    connection.db.exec("PRAGMA synchronous = NORMAL");
    const struct Resync {
      Connection& connection;
      ~Resync() { connection.db.tryExec("PRAGMA synchronous = FULL"); }
    } resync{connection};
    StatementUse insert(connection.statement(Sql::insert_data_key));
    insert->bindNoCopy(1, key.user_id);
    insert->bind(2, static_cast<std::int64_t>(key.generation));
    insert->bindNoCopy(3, key.master_key_id);
    insert->bindNoCopy(4, key.wrapped);
    insert->bind(5, to_micros(key.created_at));
    const int result = insert->tryExecuteStep();
    if ((result & 0xff) == SQLITE_CONSTRAINT) {
      return false; // the user has this generation: another writer created it first
    }
    if (result != SQLITE_DONE) {
      throw SQLite::Exception(connection.handle(), result);
    }
    return true;
  });
}

bool SqliteStore::rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) {
  if (!is_valid_generation(key.generation)) {
    return false; // no such key can be stored
  }
  // Bound as text: SQLiteCpp binds a pointer and size as a blob, which never equals text.
  const std::string expected(expected_wrapped);
  return with_writer([&](Connection& connection) {
    StatementUse update(connection.statement(Sql::rewrap_data_key));
    update->bindNoCopy(1, key.user_id);
    update->bind(2, static_cast<std::int64_t>(key.generation));
    update->bindNoCopy(3, key.master_key_id);
    update->bindNoCopy(4, key.wrapped);
    update->bindNoCopy(5, expected);
    return update->exec() == 1;
  });
}

std::optional<HookCursor> SqliteStore::hook_cursor(std::string_view hook, const ContextKey& context) {
  const std::string name(hook);
  return with_reader([&](Connection& connection) -> std::optional<HookCursor> {
    StatementUse select(connection.statement(Sql::hook_cursor));
    select->bindNoCopy(1, name);
    select->bindNoCopy(2, context.user_id);
    select->bindNoCopy(3, context.ns);
    if (!select->executeStep()) {
      return std::nullopt;
    }
    return read_hook_cursor(*select);
  });
}

bool SqliteStore::put_hook_cursor(const HookCursor& cursor) {
  check_hook_cursor(cursor);
  PendingWrite pending;
  pending.cursor = &cursor;
  return commit_in_group(pending);
}

bool SqliteStore::store_hook_cursor(Connection& connection, const HookCursor& cursor) {
  // One statement each way, a compare and set in itself.
  StatementUse write(connection.statement(cursor.revision == 1 ? Sql::insert_hook_cursor : Sql::update_hook_cursor));
  write->bindNoCopy(1, cursor.hook);
  write->bindNoCopy(2, cursor.context.user_id);
  write->bindNoCopy(3, cursor.context.ns);
  write->bind(4, static_cast<std::int64_t>(cursor.revision));
  write->bindNoCopy(5, cursor.state);
  return write->exec() == 1;
}

std::vector<HookCursor> SqliteStore::hook_cursors(std::optional<std::string_view> hook) {
  const std::string name(hook.value_or(""));
  return with_reader([&](Connection& connection) {
    StatementUse select(connection.statement(hook ? Sql::hook_cursors_of_hook : Sql::hook_cursors_all));
    if (hook) {
      select->bindNoCopy(1, name);
    }
    std::vector<HookCursor> cursors;
    while (select->executeStep()) {
      cursors.push_back(read_hook_cursor(*select));
    }
    return cursors;
  });
}

std::size_t SqliteStore::remove_hook_cursors(std::string_view hook) {
  const std::string name(hook);
  return with_writer([&](Connection& connection) {
    StatementUse remove(connection.statement(Sql::remove_hook_cursors));
    remove->bindNoCopy(1, name);
    return static_cast<std::size_t>(remove->exec());
  });
}

std::vector<ContextKey> SqliteStore::contexts(std::optional<std::string_view> user_id) {
  const std::string user(user_id.value_or(""));
  return with_reader([&](Connection& connection) {
    std::vector<ContextKey> keys;
    // Start below any real key: every stored version is >= 0.
    ContextKey after{"", ""};
    std::int64_t after_version = k_int_min;
    StatementUse next(connection.statement(user_id ? Sql::next_context_of_user : Sql::next_context));
    for (;;) {
      if (user_id) {
        next->bindNoCopy(1, user);
        next->bindNoCopy(2, after.ns);
        next->bind(3, after_version);
      } else {
        next->bindNoCopy(1, after.user_id);
        next->bindNoCopy(2, after.ns);
        next->bind(3, after_version);
      }
      if (!next->executeStep()) {
        return keys;
      }
      ContextKey key{next->getColumn(0).getString(), next->getColumn(1).getString()};
      if (!keys.empty() && key <= keys.back()) {
        // A damaged row (a name stored as a blob, a version as text) sorts
        // where no text key can skip past it: stop rather than loop forever.
        throw Error(ErrorCode::unavailable, "SQLite database " + m_path.string() +
                                                ": damaged keys in the versions table (restore it from a backup)");
      }
      keys.push_back(std::move(key));
      next->reset();
      after = keys.back();
      after_version = k_int_max;
    }
  });
}

void SqliteStore::append_audit(std::span<const AuditRecord> records, bool durable) { write({}, records, durable); }

std::vector<AuditRecord> SqliteStore::audit_log(const AuditQuery& query) {
  return with_reader([&](Connection& connection) {
    StatementUse select(connection.statement(query.user_id ? Sql::audit_of_user : Sql::audit_all));
    select->bind(1, query.before_seq ? clamp_to_int64(*query.before_seq) : k_int_max);
    select->bind(2, query.since ? to_micros(*query.since) : k_int_min);
    select->bind(3, query.until ? to_micros(*query.until) : k_int_max);
    if (query.ns) {
      select->bindNoCopy(4, *query.ns);
    } else {
      select->bind(4);
    }
    select->bind(5, clamp_to_int64(query.limit));
    if (query.user_id) {
      select->bindNoCopy(6, *query.user_id);
    }
    std::vector<AuditRecord> records;
    while (select->executeStep()) {
      records.push_back(read_audit(*select));
    }
    return records;
  });
}

} // namespace

std::unique_ptr<MemoryStore> make_sqlite_store(const StoreConfig& config) {
  return std::make_unique<SqliteStore>(config);
}

} // namespace zsimem::store
