#include "support/error_of.hpp"
// What the sqlite backend promises beyond the conformance suite: clear
// errors on damaged files, WAL mode, and a WAL kept across one-shot opens.

#include "support/sqlite_exec.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/error.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/metrics.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace zsimem {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::TempDir;

constexpr std::int64_t k_t0 = 1'764'380'641'123'456;

fs::path db_path(const TempDir& dir) { return dir.path() / "zsimem.sqlite3"; }

std::unique_ptr<MemoryStore> open_sqlite(const TempDir& dir, bool long_lived = false) {
  return open_store({"sqlite", dir.path(), long_lived});
}

VersionRecord make_record(const std::string& user, const std::string& ns, std::uint64_t version,
                          std::size_t data_size = 16) {
  VersionRecord record;
  record.user_id = user;
  record.ns = ns;
  record.version = version;
  record.updated_at = Timestamp{std::chrono::microseconds{k_t0 + static_cast<std::int64_t>(version)}};
  record.data = R"({"notes":")" + std::string(data_size, 'n') + R"("})";
  record.delta = record.data;
  record.actor = "cli:" + user;
  record.request_id = "req-" + std::to_string(version);
  record.derived_from = version - 1;
  // Every version has the same hash, so each follows the one before.
  record.hash = std::string(64, 'a');
  record.prev_hash = version == 1 ? std::string{} : record.hash;
  return record;
}

void append(MemoryStore& store, const VersionRecord& record) { REQUIRE(store.append({&record, 1}, {})); }

// Runs SQL on the database with a plain connection, as an operator's sqlite3 would.
std::string raw_query(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  const int opened = sqlite3_open(path.c_str(), &db);
  const std::unique_ptr<sqlite3, int (*)(sqlite3*)> connection(db, sqlite3_close);
  if (opened != SQLITE_OK) {
    throw std::runtime_error("cannot open " + path.string());
  }
  return testing::sqlite_exec(db, sql);
}

// Whether `text` occurs in the raw bytes of a file; false when there is no file.
bool file_contains(const fs::path& path, const std::string& text) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return bytes.find(text) != std::string::npos;
}

// The error `use` throws, failing the test when it throws none.

// Opens the store and reads every context in it.
void read_everything(const TempDir& dir) {
  auto store = open_sqlite(dir);
  for (const auto& key : store->contexts()) {
    HistoryQuery query;
    query.limit = 100'000;
    store->history(key, query);
  }
  store->audit_log({});
}

} // namespace

TEST_CASE("sqlite: a file that is not a database gives a clear error", "[store][sqlite]") {
  TempDir dir;
  {
    std::ofstream out(db_path(dir), std::ios::binary);
    for (int i = 0; i < 500; ++i) {
      out << "this is not a database, just some text line " << i << "\n";
    }
  }
  const Error error = error_of([&] { read_everything(dir); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains(db_path(dir).string()));
  CHECK_THAT(error.what(), Catch::Contains("not a database"));
}

TEST_CASE("sqlite: a truncated database gives a clear error", "[store][sqlite]") {
  TempDir dir;
  {
    std::vector<VersionRecord> records;
    for (std::uint64_t v = 1; v <= 100; ++v) {
      records.push_back(make_record("alice", "default", v, 2000));
    }
    for (std::uint64_t v = 1; v <= 100; ++v) {
      records.push_back(make_record("bob", "work", v, 100));
    }
    REQUIRE(open_sqlite(dir)->append(records, {}));
  }
  // Move everything into the main file, as a backup copy of it would hold.
  raw_query(db_path(dir), "PRAGMA wal_checkpoint(TRUNCATE)");
  fs::remove(dir.path() / "zsimem.sqlite3-wal");
  fs::remove(dir.path() / "zsimem.sqlite3-shm");
  const auto size = fs::file_size(db_path(dir));
  REQUIRE(size > 100'000);

  const std::uintmax_t cut = GENERATE(as<std::uintmax_t>{}, 60, 4096, 50'000);
  CAPTURE(cut);
  fs::resize_file(db_path(dir), cut);
  const Error error = error_of([&] { read_everything(dir); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains(db_path(dir).string()));
}

TEST_CASE("sqlite: a schema newer than supported is refused", "[store][sqlite]") {
  TempDir dir;
  {
    auto store = open_sqlite(dir);
    append(*store, make_record("alice", "default", 1));
  }
  raw_query(db_path(dir), "PRAGMA user_version = 99");
  const Error error = error_of([&] { open_sqlite(dir)->head({"alice", "default"}); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains(db_path(dir).string()));
  CHECK_THAT(error.what(), Catch::Contains("newer"));
  CHECK_THAT(error.what(), Catch::Contains("99"));
}

TEST_CASE("sqlite: another program's database is refused and left alone", "[store][sqlite]") {
  TempDir dir;
  raw_query(db_path(dir), "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
  const Error error = error_of([&] { open_sqlite(dir); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains(db_path(dir).string()));
  CHECK_THAT(error.what(), Catch::Contains("not a zsimem database"));
  CHECK(raw_query(db_path(dir), "PRAGMA journal_mode") == "delete");
  CHECK(raw_query(db_path(dir), "SELECT count(*) FROM sqlite_schema") == "1");
}

TEST_CASE("sqlite: damaged keys end the listing of contexts instead of looping", "[store][sqlite]") {
  TempDir dir;
  {
    auto store = open_sqlite(dir);
    append(*store, make_record("alice", "default", 1));
    append(*store, make_record("bob", "default", 1));
  }
  // A blob sorts after every text, where no text key can skip past it (found by fuzz_sqlite_file).
  raw_query(db_path(dir), "UPDATE versions SET user_id = CAST(user_id AS BLOB) WHERE user_id = 'alice'");
  const Error error = error_of([&] { open_sqlite(dir)->contexts(); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains("damaged keys"));
}

TEST_CASE("sqlite: a version stored as text ends a scan of the versions instead of looping", "[store][sqlite]") {
  TempDir dir;
  {
    // One full page of the service's scans (500 versions), the last of which reads as version 0.
    std::vector<VersionRecord> records;
    for (std::uint64_t v = 1; v <= 500; ++v) {
      records.push_back(make_record("alice", "default", v));
    }
    REQUIRE(open_sqlite(dir)->append(records, {}));
  }
  raw_query(db_path(dir), "UPDATE versions SET version = 'x' WHERE version = 500");
  MemoryService service(open_sqlite(dir));
  const Caller caller{"tester", "req"};
  // Blame pages through one context; export and verify list the contexts first.
  const Error paging = error_of([&] { service.blame(caller, {"alice"}); });
  CHECK(paging.code() == ErrorCode::unavailable);
  CHECK_THAT(paging.what(), Catch::Contains("out of order"));
  const Error listing = error_of([&] { service.export_versions(caller, std::nullopt, [](const VersionRecord&) {}); });
  CHECK(listing.code() == ErrorCode::unavailable);
  CHECK_THAT(listing.what(), Catch::Contains("damaged keys"));
  CHECK(error_of([&] { service.verify(caller); }).code() == ErrorCode::unavailable);
}

TEST_CASE("sqlite: a stored time beyond the years 0000 to 9999 is damage", "[store][sqlite]") {
  TempDir dir;
  {
    auto store = open_sqlite(dir);
    append(*store, make_record("alice", "default", 1));
    AuditRecord audit;
    audit.time = Timestamp{std::chrono::microseconds{k_t0}};
    audit.operation = "get";
    audit.outcome = "ok";
    store->append_audit(audit, true);
  }
  // Formatting such a time overflows (UBSan: signed integer overflow in
  // format_rfc3339), as the CLI and the daemon do with what they read.
  raw_query(db_path(dir), "UPDATE versions SET updated_at = -9223372036854775808");
  raw_query(db_path(dir), "UPDATE audit SET time = 9223372036854775807");
  auto store = open_sqlite(dir);
  const Error version = error_of([&] { store->head({"alice", "default"}); });
  CHECK(version.code() == ErrorCode::unavailable);
  CHECK_THAT(version.what(), Catch::Contains("damaged time in alice/default version 1"));
  const Error audit = error_of([&] { store->audit_log({}); });
  CHECK(audit.code() == ErrorCode::unavailable);
  CHECK_THAT(audit.what(), Catch::Contains("damaged time in audit record"));
}

TEST_CASE("sqlite: stored data that does not parse is damage, not an internal error", "[store][sqlite]") {
  TempDir dir;
  const Caller caller{"tester", "req"};
  MemoryUpdate update;
  update.user_id = "alice";
  update.delta = R"({"a":1})";
  MemoryService(open_sqlite(dir)).merge(caller, update);
  // Found by fuzz_sqlite_file: a byte changed inside the stored text.
  raw_query(db_path(dir), R"(UPDATE versions SET data = '{"a":' || char(3) || '}')");
  MemoryService service(open_sqlite(dir));
  update.delta = R"({"b":2})";
  for (const auto& operation : std::vector<std::function<void()>>{[&] { service.merge(caller, update); },
                                                                  [&] { service.diff(caller, {"alice"}, 1); },
                                                                  [&] { service.blame(caller, {"alice"}); }}) {
    const Error error = error_of(operation);
    CHECK(error.code() == ErrorCode::unavailable);
    CHECK_THAT(error.what(), Catch::Contains("damaged"));
  }
  AuditQuery query;
  query.limit = 1;
  const AuditRecord last = service.audit_log(caller, query).records.at(0);
  CHECK(last.operation == "blame");
  CHECK(last.outcome == "unavailable");
}

TEST_CASE("sqlite: a damaged index of idempotency keys is reported, not taken as a replay", "[store][sqlite]") {
  TempDir dir;
  {
    auto store = open_sqlite(dir);
    auto first = make_record("alice", "default", 1);
    first.idempotency_key = "key-1";
    append(*store, first);
    append(*store, make_record("alice", "default", 2));
  }
  // Detach the index from the schema, move the key to version 2 unseen by
  // it, and attach it again: it still says key-1 is version 1's.
  const std::string index = raw_query(
      db_path(dir), "SELECT sql || '|' || rootpage FROM sqlite_schema WHERE name = 'versions_by_idempotency_key'");
  const auto bar = index.rfind('|');
  REQUIRE(bar != std::string::npos);
  raw_query(db_path(dir), "PRAGMA writable_schema = ON; DELETE FROM sqlite_schema WHERE name = "
                          "'versions_by_idempotency_key'");
  raw_query(db_path(dir), "UPDATE versions SET idempotency_key = CASE version WHEN 1 THEN NULL ELSE 'key-2' END");
  std::string sql = index.substr(0, bar);
  for (std::size_t quote = sql.find('\''); quote != std::string::npos; quote = sql.find('\'', quote + 2)) {
    sql.insert(quote, "'");
  }
  raw_query(db_path(dir), "PRAGMA writable_schema = ON; INSERT INTO sqlite_schema VALUES ('index', "
                          "'versions_by_idempotency_key', 'versions', " +
                              index.substr(bar + 1) + ", '" + sql + "')");
  const Error error = error_of([&] { open_sqlite(dir)->find_idempotency_key({"alice", "default"}, "key-1"); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains("damaged index"));
}

TEST_CASE("sqlite: the database is in WAL mode with the current schema", "[store][sqlite]") {
  TempDir dir;
  open_sqlite(dir).reset();
  CHECK(raw_query(db_path(dir), "PRAGMA journal_mode") == "wal");
  CHECK(raw_query(db_path(dir), "PRAGMA user_version") == "7");
  CHECK(raw_query(db_path(dir), "SELECT count(*) FROM sqlite_schema WHERE type = 'table'") != "0");
}

TEST_CASE("sqlite: a database of schema 1 is migrated on open, every version and audit record kept",
          "[store][sqlite]") {
  TempDir dir;
  // Schema 1 as zsimem created it before schema 2: versions clustered by their key.
  raw_query(db_path(dir), R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE versions (
  user_id TEXT NOT NULL, ns TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  data TEXT NOT NULL, delta TEXT NOT NULL, actor TEXT NOT NULL, request_id TEXT NOT NULL, tags TEXT NOT NULL,
  derived_from INTEGER NOT NULL, rollback_of INTEGER, idempotency_key TEXT, prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL, PRIMARY KEY (user_id, ns, version)
) WITHOUT ROWID;
CREATE INDEX versions_by_idempotency_key ON versions (user_id, ns, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX versions_by_time ON versions (user_id, ns, updated_at);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, request_id TEXT NOT NULL, actor TEXT NOT NULL,
  operation TEXT NOT NULL, user_id TEXT NOT NULL, ns TEXT NOT NULL, version TEXT NOT NULL,
  outcome TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX audit_by_user ON audit (user_id, seq);
INSERT INTO versions VALUES
  ('bob', 'default', 1, 1764380641000001, '{"a":1}', '{"a":1}', 'cli:bob', 'req-1', '[]', 0, NULL, NULL, '', 'h1'),
  ('alice', 'default', 2, 1764380641000003, '{"a":2}', '{"a":2}', 'cli:alice', 'req-3', '["x"]', 1, NULL,
   'key-2', 'h1', 'h2'),
  ('alice', 'default', 1, 1764380641000002, '{"a":1}', '{"a":1}', 'cli:alice', 'req-2', '[]', 0, NULL,
   'key-1', '', 'h1');
INSERT INTO audit (time, request_id, actor, operation, user_id, ns, version, outcome, detail)
  VALUES (1764380641000002, 'req-2', 'cli:alice', 'merge', 'alice', 'default', '1', 'ok', '');
PRAGMA user_version = 1;
)sql");

  auto store = open_sqlite(dir);
  CHECK(raw_query(db_path(dir), "PRAGMA user_version") == "7");
  CHECK(raw_query(db_path(dir), "SELECT count(*) FROM sqlite_schema WHERE name = 'versions_by_time'") == "0");
  const ContextKey alice{"alice", "default"};
  const auto head = store->head(alice);
  REQUIRE(head);
  CHECK(head->version == 2);
  CHECK(head->data == R"({"a":2})");
  CHECK(head->tags == std::vector<std::string>{"x"});
  CHECK(store->version(alice, 1)->request_id == "req-2");
  CHECK(store->find_idempotency_key(alice, "key-2")->version == 2);
  CHECK(store->find_idempotency_key(alice, "key-1")->version == 1);
  CHECK(store->history(alice, {}).size() == 2);
  CHECK(store->head({"bob", "default"})->version == 1);
  CHECK(store->audit_log({}).size() == 1);
  // The audit record moved into the index by user (schema 7).
  CHECK(raw_query(db_path(dir), "SELECT indexed_user_id FROM audit_user_index") == "alice");
  CHECK(raw_query(db_path(dir), "SELECT seq FROM audit_user_index_through") == "1");
  CHECK(raw_query(db_path(dir), "SELECT count(*) FROM sqlite_schema WHERE name = 'audit_by_user'") == "0");
  AuditQuery of_alice;
  of_alice.user_id = "alice";
  CHECK(store->audit_log(of_alice).size() == 1);
  // The migrated table takes new versions, and still refuses a repeated one.
  auto third = make_record("alice", "default", 3);
  third.prev_hash = "h2";
  append(*store, third);
  CHECK(store->head(alice)->version == 3);
  CHECK_FALSE(store->append({&third, 1}, {}));
}

TEST_CASE("sqlite: a database of schema 3 is migrated on open, every version and audit record kept",
          "[store][sqlite][keys]") {
  TempDir dir;
  // Schema 3 as zsimem created it before encryption at rest: no salt or
  // key_id columns, no data_keys table.
  raw_query(db_path(dir), R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE versions (
  user_id TEXT NOT NULL, ns TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  data TEXT NOT NULL, delta TEXT NOT NULL, actor TEXT NOT NULL, request_id TEXT NOT NULL, tags TEXT NOT NULL,
  derived_from INTEGER NOT NULL, rollback_of INTEGER, idempotency_key TEXT, prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE UNIQUE INDEX versions_by_key ON versions (user_id, ns, version);
CREATE INDEX versions_by_idempotency_key ON versions (user_id, ns, idempotency_key, version)
  WHERE idempotency_key IS NOT NULL;
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, request_id TEXT NOT NULL, actor TEXT NOT NULL,
  operation TEXT NOT NULL, user_id TEXT NOT NULL, ns TEXT NOT NULL, version TEXT NOT NULL,
  outcome TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL DEFAULT '', hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_user ON audit (user_id, seq);
INSERT INTO versions VALUES
  ('alice', 'default', 1, 1764380641000002, '{"a":1}', '{"a":1}', 'cli:alice', 'req-2', '[]', 0, NULL,
   'key-1', '', 'h1'),
  ('alice', 'default', 2, 1764380641000003, '{"a":2}', '{"a":2}', 'cli:alice', 'req-3', '["x"]', 1, 1,
   NULL, 'h1', 'h2');
INSERT INTO audit (time, request_id, actor, operation, user_id, ns, version, outcome, detail, prev_hash, hash)
  VALUES (1764380641000002, 'req-2', 'cli:alice', 'merge', 'alice', 'default', '1', 'ok', '', '', 'a1');
PRAGMA user_version = 3;
)sql");

  auto store = open_sqlite(dir);
  CHECK(raw_query(db_path(dir), "PRAGMA user_version") == "7");
  const ContextKey alice{"alice", "default"};
  const auto head = store->head(alice);
  REQUIRE(head);
  CHECK(head->version == 2);
  CHECK(head->data == R"({"a":2})");
  CHECK(head->delta == R"({"a":2})");
  CHECK(head->tags == std::vector<std::string>{"x"});
  CHECK(head->rollback_of == 1);
  CHECK(head->prev_hash == "h1");
  CHECK(head->hash == "h2");
  CHECK(head->salt.empty());
  CHECK(head->key_id.empty());
  CHECK(store->find_idempotency_key(alice, "key-1")->request_id == "req-2");
  const auto log = store->audit_log({});
  REQUIRE(log.size() == 1);
  CHECK(log[0].hash == "a1");
  CHECK(store->data_keys(std::nullopt).empty());

  // The migrated database takes data keys and sealed versions.
  REQUIRE(store->add_data_key({"alice", 1, "master-1", "d3JhcHBlZA==", Timestamp{}}));
  auto sealed = make_record("alice", "default", 3);
  sealed.prev_hash = "h2";
  sealed.data = "c2VhbGVk";
  sealed.delta.clear();
  sealed.key_id = "1";
  append(*store, sealed);
  CHECK(store->head(alice)->key_id == "1");
  CHECK(store->head(alice)->data == "c2VhbGVk");
}

TEST_CASE("sqlite: erasing a user leaves no copy of its data keys in the database or its WAL",
          "[store][sqlite][keys]") {
  const bool long_lived = GENERATE(false, true);
  CAPTURE(long_lived);
  TempDir dir;
  const fs::path wal = dir.path() / "zsimem.sqlite3-wal";
  const auto in_files = [&](const std::string& text) {
    return file_contains(db_path(dir), text) || file_contains(wal, text);
  };
  const std::string first = "Rmlyc3Qgd3JhcHBpbmcgb2YgYWxpY2Uncw+key/1==";
  const std::string second = "U2Vjb25kIHdyYXBwaW5nIG9mIGFsaWNlJ3M+key/1==";
  const std::string other = "QWxpY2UncyBzZWNvbmQgZ2VuZXJhdGlvbg+key/2==";
  const std::string bobs = "Qm9iJ3Mga2V5IHN0YXlzIHdoZXJlIGl0IGlz+key/1==";
  const std::string box = "U2VhbGVkIGJveCBvZiBhbGljZQ==";

  auto store = open_sqlite(dir, long_lived);
  REQUIRE(store->add_data_key({"alice", 1, "master-1", first, Timestamp{}}));
  REQUIRE(store->add_data_key({"bob", 1, "master-1", bobs, Timestamp{}}));
  // Enough versions to fill pages of their own, which the erasure frees.
  for (std::uint64_t v = 1; v <= 20; ++v) {
    auto sealed = make_record("alice", "default", v);
    sealed.data = box + std::string(600, 'A') + std::to_string(v);
    sealed.delta.clear();
    sealed.key_id = "1";
    append(*store, sealed);
  }
  REQUIRE(store->rewrap_data_key({"alice", 1, "master-2", second, Timestamp{}}, first));
  REQUIRE(store->add_data_key({"alice", 2, "master-2", other, Timestamp{}}));
  // The scan sees what is there: the keys, and the old wrapping, not yet checkpointed away.
  REQUIRE(in_files(first));
  REQUIRE(in_files(second));
  REQUIRE(in_files(other));
  REQUIRE(in_files(box));

  CHECK(store->erase("alice", std::nullopt) == 20);
  CHECK(store->data_keys("alice").empty());
  for (const auto& gone : {first, second, other, box}) {
    CAPTURE(gone);
    CHECK_FALSE(in_files(gone));
  }
  CHECK(in_files(bobs));
  store.reset();
  for (const auto& gone : {first, second, other}) {
    CAPTURE(gone);
    CHECK_FALSE(in_files(gone));
  }
  CHECK(open_sqlite(dir)->data_keys(std::nullopt).size() == 1);
}

TEST_CASE("sqlite: closing a store keeps the WAL instead of checkpointing", "[store][sqlite]") {
  TempDir dir;
  const fs::path wal = dir.path() / "zsimem.sqlite3-wal";
  {
    auto store = open_sqlite(dir);
    append(*store, make_record("alice", "default", 1));
  }
  REQUIRE(fs::exists(wal));
  CHECK(fs::file_size(wal) > 0);
  // The next one-shot process reads through the kept WAL.
  auto store = open_sqlite(dir);
  const auto head = store->head({"alice", "default"});
  REQUIRE(head.has_value());
  CHECK(head->data == make_record("alice", "default", 1).data);
}

TEST_CASE("sqlite: the WAL stays bounded across one-shot opens", "[store][sqlite]") {
  TempDir dir;
  // Each round is one CLI command: open, write a little, close without checkpointing.
  for (int round = 0; round < 300; ++round) {
    auto store = open_sqlite(dir);
    AuditRecord record;
    record.operation = "get";
    record.user_id = "alice";
    record.ns = "default";
    record.detail = std::string(12'000, 'd');
    store->append_audit(record, round % 10 == 0);
  }
  // Some 1500 frames were written; without checkpoints that truncate, the WAL would hold them all.
  CHECK(fs::file_size(dir.path() / "zsimem.sqlite3-wal") < 2'000'000);
  AuditQuery query;
  query.limit = 1000;
  CHECK(open_sqlite(dir)->audit_log(query).size() == 300);
}

TEST_CASE("sqlite: processes creating the database at once all succeed", "[store][sqlite]") {
  TempDir dir;
  constexpr std::ptrdiff_t k_openers = 4;
  std::latch start(k_openers);
  std::vector<std::string> failures(k_openers);
  std::vector<std::thread> openers;
  for (std::ptrdiff_t i = 0; i < k_openers; ++i) {
    openers.emplace_back([&, i] {
      try {
        start.arrive_and_wait();
        auto store = open_sqlite(dir);
        const auto record = make_record("user" + std::to_string(i), "default", 1);
        if (!store->append({&record, 1}, {})) {
          failures[static_cast<std::size_t>(i)] = "append returned false";
        }
      } catch (const std::exception& e) {
        failures[static_cast<std::size_t>(i)] = e.what();
      }
    });
  }
  for (auto& opener : openers) {
    opener.join();
  }
  for (const auto& failure : failures) {
    CHECK(failure == "");
  }
  CHECK(open_sqlite(dir)->contexts().size() == static_cast<std::size_t>(k_openers));
}

TEST_CASE("sqlite: a data directory that cannot be created is unavailable", "[store][sqlite]") {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "in the way";
  const Error error = error_of([&] { open_store({"sqlite", dir.path() / "file" / "store"}); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains((dir.path() / "file").string()));
}

TEST_CASE("sqlite: a long-lived store hints the heads it wrote, through the timing wrapper too", "[store][sqlite]") {
  const TempDir dir;
  Metrics metrics;
  const auto store = instrument_store(open_sqlite(dir, true), metrics);
  const ContextKey alice{"alice", "default"};
  CHECK_FALSE(store->head_hint(alice).has_value()); // nothing written yet
  append(*store, make_record("alice", "default", 1));
  append(*store, make_record("alice", "default", 2, 64));
  const auto hint = store->head_hint(alice);
  REQUIRE(hint.has_value());
  CHECK(hint->version == 2);
  CHECK(hint->data == store->head(alice)->data);
  // A refused append forgets the hint it may have been built on.
  CHECK_FALSE(store->append(std::vector{make_record("alice", "default", 2)}, {}));
  CHECK_FALSE(store->head_hint(alice).has_value());
  append(*store, make_record("alice", "default", 3));
  REQUIRE(store->erase("alice", std::nullopt) == 3);
  CHECK_FALSE(store->head_hint(alice).has_value());
  // A one-shot store (the CLI) guesses nothing.
  const auto one_shot = open_sqlite(dir);
  append(*one_shot, make_record("bob", "default", 1));
  CHECK_FALSE(one_shot->head_hint({"bob", "default"}).has_value());
}

TEST_CASE("sqlite: concurrent writes share transactions, each succeeding or failing on its own",
          "[store][sqlite][group_commit]") {
  const TempDir dir;
  // As the daemon opens it: reads on connections of their own while a group
  // commits, checkpoints in the background.
  auto store = open_sqlite(dir, true);
  constexpr int k_threads = 12;
  constexpr std::uint64_t k_versions = 40;
  // Every thread appends the next version of one shared context, retrying
  // when another got there first (as the service does), and audits a read
  // now and then: groups mix appends that succeed, appends that find their
  // version taken and reads' audit records.
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> audited{0};
  std::latch start(k_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0;; ++i) {
        const auto head = store->head({"shared", "default"});
        const std::uint64_t next = head ? head->version + 1 : 1;
        if (next > k_versions) {
          return;
        }
        VersionRecord record = make_record("shared", "default", next);
        record.actor = "thread-" + std::to_string(t);
        AuditRecord audit;
        audit.operation = "merge";
        audit.user_id = "shared";
        audit.version = std::to_string(next);
        if (!store->append({&record, 1}, {&audit, 1})) {
          ++refused;
        }
        if (i % 3 == 0) {
          AuditRecord read;
          read.operation = "get";
          read.user_id = "shared";
          store->append_audit(read, false);
          ++audited;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  HistoryQuery all;
  all.oldest_first = true;
  all.limit = 1000;
  const auto versions = store->history({"shared", "default"}, all);
  REQUIRE(versions.size() == k_versions);
  for (std::uint64_t v = 1; v <= k_versions; ++v) {
    CHECK(versions[v - 1].version == v);
  }
  // A refused append left no audit record; every other write left its own.
  AuditQuery query;
  query.limit = 100'000;
  const auto records = store->audit_log(query);
  const auto merges =
      std::count_if(records.begin(), records.end(), [](const auto& r) { return r.operation == "merge"; });
  CHECK(static_cast<std::uint64_t>(merges) == k_versions);
  CHECK(records.size() == k_versions + audited.load());
  const WriteStats stats = store->write_stats();
  CHECK(stats.writes == k_versions + refused.load() + audited.load());
  INFO(stats.writes << " writes in " << stats.transactions << " transactions; " << refused.load() << " refused");
  CHECK(stats.transactions < stats.writes); // some writes shared a commit
  CHECK(refused.load() > 0);                // the race happened: some appends lost it
}

TEST_CASE("sqlite: queries by user find audit records before, in and after the batches of the index by user",
          "[store][sqlite][audit]") {
  const TempDir dir;
  auto store = open_sqlite(dir, GENERATE(false, true));
  // Far more records than one batch of the index (8192), in appends of
  // various sizes, for three users and the admin (no user).
  const std::array<std::string, 4> users{"alice", "bob", "carol", ""};
  std::vector<AuditRecord> written;
  std::uint64_t next = 0;
  for (const std::size_t size : std::initializer_list<std::size_t>{1, 2800, 1, 6000, 3, 8400, 1, 3600, 2}) {
    std::vector<AuditRecord> chunk;
    for (std::size_t i = 0; i < size; ++i, ++next) {
      AuditRecord record;
      record.time = Timestamp{std::chrono::microseconds{k_t0 + static_cast<std::int64_t>(next)}};
      record.request_id = "req-" + std::to_string(next);
      record.operation = "merge";
      record.user_id = users.at((next * 7 + next / 5) % users.size());
      record.ns = next % 3 == 0 ? "work" : "default";
      chunk.push_back(record);
    }
    store->append_audit(chunk, next % 2 == 0);
    written.insert(written.end(), chunk.begin(), chunk.end());
  }
  const auto through = std::stoll(raw_query(db_path(dir), "SELECT seq FROM audit_user_index_through"));
  const auto indexed = std::stoll(raw_query(db_path(dir), "SELECT count(*) FROM audit_user_index"));
  INFO("indexed through " << through << " of " << written.size());
  // Both parts exist: records in the index and a tail after it.
  CHECK(through >= 8192);
  CHECK(through < static_cast<std::int64_t>(written.size()));
  CHECK(indexed == through);

  // The request ids of `user`'s records, newest first, as `keep` selects them.
  auto expected = [&](const std::string& user, auto keep) {
    std::vector<std::string> ids;
    for (auto it = written.rbegin(); it != written.rend(); ++it) {
      if (it->user_id == user && keep(*it)) {
        ids.push_back(it->request_id);
      }
    }
    return ids;
  };
  auto paged = [&](AuditQuery query) {
    std::vector<std::string> ids;
    for (;;) {
      const auto page = store->audit_log(query);
      for (const auto& record : page) {
        ids.push_back(record.request_id);
      }
      if (page.size() < query.limit) {
        return ids;
      }
      query.before_seq = page.back().seq;
    }
  };
  const auto any = [](const AuditRecord&) { return true; };
  for (const std::string user : {"alice", "bob", "carol"}) {
    CAPTURE(user);
    AuditQuery query;
    query.user_id = user;
    query.limit = 97; // pages that straddle the end of the index
    CHECK(paged(query) == expected(user, any));
    query.ns = "work";
    CHECK(paged(query) == expected(user, [](const AuditRecord& r) { return r.ns == "work"; }));
    query.ns.reset();
    query.since = Timestamp{std::chrono::microseconds{k_t0 + 2000}};
    query.until = Timestamp{std::chrono::microseconds{k_t0 + 5000}};
    CHECK(paged(query) == expected(user, [](const AuditRecord& r) {
            const auto t = r.time.time_since_epoch().count();
            return t >= k_t0 + 2000 && t <= k_t0 + 5000;
          }));
  }

  // Retention takes the oldest records out of the index too.
  AuditQuery everything;
  everything.limit = 100'000;
  const auto log = store->audit_log(everything);
  REQUIRE(log.size() == written.size());
  const std::uint64_t cut = log[log.size() - 3000].seq;
  CHECK(store->prune_audit(cut) == 3000);
  CHECK(raw_query(db_path(dir), "SELECT count(*) FROM audit_user_index WHERE indexed_seq <= " + std::to_string(cut)) ==
        "0");
  written.erase(written.begin(), written.begin() + 3000);
  for (const std::string user : {"alice", "bob", "carol"}) {
    AuditQuery query;
    query.user_id = user;
    query.limit = 1000;
    CHECK(paged(query) == expected(user, any));
  }
  // A store opened later goes on from where the index ends.
  store.reset();
  store = open_sqlite(dir);
  for (int chunk = 0; chunk < 10; ++chunk) {
    std::vector<AuditRecord> more(500);
    for (std::size_t i = 0; i < more.size(); ++i) {
      more[i].request_id = "more-" + std::to_string(chunk) + "-" + std::to_string(i);
      more[i].user_id = "alice";
    }
    store->append_audit(more, true);
    written.insert(written.end(), more.begin(), more.end());
  }
  CHECK(std::stoll(raw_query(db_path(dir), "SELECT seq FROM audit_user_index_through")) > through);
  AuditQuery alice;
  alice.user_id = "alice";
  alice.limit = 500;
  CHECK(paged(alice) == expected("alice", any));
}

} // namespace zsimem
