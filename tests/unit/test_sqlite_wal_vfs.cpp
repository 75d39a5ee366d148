// The WAL-gathering VFS (core/src/store/sqlite_wal_vfs.hpp): a commit's WAL
// frames reach the file in one write under synchronous FULL, and nothing
// else changes: other connections see each commit, large and rolled-back
// transactions stay whole, and the files are plain SQLite.

#include "store/sqlite_wal_vfs.hpp"
#include "support/sqlite_exec.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace zsimem {
namespace {

namespace fs = std::filesystem;
namespace wal_vfs = store::sqlite_wal_vfs;
using testing::TempDir;

// A connection, through the VFS or (vfs null) SQLite's default one.
class Db {
public:
  explicit Db(const fs::path& path, const char* vfs = wal_vfs::name()) {
    const int rc = sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    if (rc != SQLITE_OK) {
      const std::string message = sqlite3_errmsg(m_db);
      sqlite3_close(m_db);
      throw std::runtime_error("cannot open " + path.string() + ": " + message);
    }
    sqlite3_busy_timeout(m_db, 5000);
  }
  ~Db() { sqlite3_close(m_db); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs `sql`; its first column of its last row, if any.
  std::string exec(const std::string& sql) { return testing::sqlite_exec(m_db, sql); }
  long long count(const std::string& table) { return std::stoll(exec("SELECT count(*) FROM " + table)); }

private:
  sqlite3* m_db = nullptr;
};

// `rows` rows of `size` bytes under random keys: each lands on a page of its own, more or less.
std::string insert_rows(int rows, int size) {
  return "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(rows) +
         ") INSERT INTO t(k, v) SELECT hex(randomblob(16)), randomblob(" + std::to_string(size) + ") FROM n";
}

void create_wal_database(Db& db, const char* synchronous) {
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(std::string("PRAGMA synchronous = ") + synchronous);
  db.exec("CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID");
  db.exec(insert_rows(2000, 100));
}

TEST_CASE("under synchronous FULL a commit's WAL frames reach the file in one write", "[sqlite][wal_vfs]") {
  REQUIRE(wal_vfs::name() != nullptr);
  TempDir dir;
  Db db(dir.path() / "db.sqlite3");
  create_wal_database(db, "FULL");
  Db other(dir.path() / "db.sqlite3");
  for (int commit = 1; commit <= 5; ++commit) {
    const auto before = wal_vfs::counters();
    db.exec(insert_rows(40, 200)); // one transaction, tens of pages
    const auto after = wal_vfs::counters();
    CHECK(after.flushes - before.flushes == 1);
    CHECK(after.kept_writes - before.kept_writes >= 2 * 20); // a header and a page per frame
    CHECK(other.count("t") == 2000 + 40 * commit);           // another connection sees it at once
  }
  CHECK(db.exec("PRAGMA integrity_check") == "ok");
}

TEST_CASE("under synchronous NORMAL or OFF, WAL writes pass straight through", "[sqlite][wal_vfs]") {
  const char* level = GENERATE("NORMAL", "OFF", "1", "0");
  TempDir dir;
  Db db(dir.path() / "db.sqlite3");
  create_wal_database(db, level);
  Db other(dir.path() / "db.sqlite3");
  for (int commit = 1; commit <= 3; ++commit) {
    const auto before = wal_vfs::counters();
    db.exec(insert_rows(40, 200));
    const auto after = wal_vfs::counters();
    CHECK(after.flushes == before.flushes);
    CHECK(after.kept_writes == before.kept_writes);
    CHECK(other.count("t") == 2000 + 40 * commit); // published without a sync: in the file already
  }
  // And back to FULL: gathering again.
  db.exec("PRAGMA synchronous = FULL");
  const auto before = wal_vfs::counters();
  db.exec(insert_rows(40, 200));
  CHECK(wal_vfs::counters().flushes - before.flushes == 1);
  CHECK(other.count("t") == 2000 + 40 * 4);
}

TEST_CASE("a FULL refused inside a transaction leaves the connection passing writes through", "[sqlite][wal_vfs]") {
  TempDir dir;
  Db db(dir.path() / "db.sqlite3");
  create_wal_database(db, "NORMAL");
  Db other(dir.path() / "db.sqlite3");
  db.exec("BEGIN");
  // SQLite shows the pragma to the VFS, then refuses it: still NORMAL.
  CHECK_THROWS_WITH(db.exec("PRAGMA synchronous = FULL"), Catch::Contains("inside a transaction"));
  db.exec(insert_rows(40, 200));
  db.exec("COMMIT"); // published without a sync: the kept frames go out first
  CHECK(other.count("t") == 2040);
  for (int commit = 2; commit <= 3; ++commit) {
    const auto before = wal_vfs::counters();
    db.exec(insert_rows(40, 200));
    CHECK(wal_vfs::counters().kept_writes == before.kept_writes); // gathering is off
    CHECK(other.count("t") == 2000 + 40 * commit);
  }
  CHECK(db.exec("PRAGMA integrity_check") == "ok");
}

TEST_CASE("a transaction larger than what a WAL keeps commits whole and in order", "[sqlite][wal_vfs]") {
  TempDir dir;
  const auto path = dir.path() / "db.sqlite3";
  {
    Db db(path);
    create_wal_database(db, "FULL");
    db.exec("PRAGMA cache_size = 50"); // spills frames before the commit, too
    const auto before = wal_vfs::counters();
    db.exec(insert_rows(20'000, 300)); // about 8 MB of frames
    CHECK(wal_vfs::counters().flushes - before.flushes >= 6);
    Db other(path);
    CHECK(other.count("t") == 22'000);
  }
  Db plain(path, nullptr); // SQLite's own VFS reads the files as they are
  CHECK(plain.count("t") == 22'000);
  CHECK(plain.exec("PRAGMA integrity_check") == "ok");
}

TEST_CASE("a rolled-back transaction that spilled frames leaves nothing behind", "[sqlite][wal_vfs]") {
  TempDir dir;
  const auto path = dir.path() / "db.sqlite3";
  Db db(path);
  create_wal_database(db, "FULL");
  db.exec("PRAGMA cache_size = 20");
  db.exec("BEGIN");
  db.exec(insert_rows(5000, 300));
  db.exec("ROLLBACK");
  CHECK(db.count("t") == 2000);
  db.exec(insert_rows(100, 300));
  Db other(path);
  CHECK(other.count("t") == 2100);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  Db plain(path, nullptr);
  CHECK(plain.count("t") == 2100);
  CHECK(plain.exec("PRAGMA integrity_check") == "ok");
}

} // namespace
} // namespace zsimem
