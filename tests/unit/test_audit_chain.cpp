// The audit log's hash chain, in every embedded backend: each record names
// its predecessor's hash, and verify finds a changed, removed or inserted
// record.

#include "support/run_process.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace zsimem;

namespace {

namespace fs = std::filesystem;

Caller caller(std::string actor = "tester") { return Caller{std::move(actor), new_request_id(), {}}; }

MemoryUpdate update(const std::string& user, const std::string& delta) {
  MemoryUpdate u;
  u.user_id = user;
  u.delta = delta;
  return u;
}

// Every audit record, oldest first.
std::vector<AuditRecord> whole_log(MemoryStore& store) {
  std::vector<AuditRecord> records;
  AuditQuery query;
  query.limit = 1000;
  for (;;) {
    auto page = store.audit_log(query);
    records.insert(records.end(), page.begin(), page.end());
    if (page.size() < query.limit) {
      break;
    }
    query.before_seq = page.back().seq;
  }
  std::reverse(records.begin(), records.end());
  return records;
}

void check_chained(const std::vector<AuditRecord>& records) {
  std::string previous;
  for (const auto& record : records) {
    INFO("audit record " << record.seq << " " << record.operation);
    CHECK(record.prev_hash == previous);
    CHECK(record.hash == audit_hash(record));
    previous = record.hash;
  }
}

void sql(const fs::path& db, const std::string& statement) {
  sqlite3* handle = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &handle) == SQLITE_OK);
  char* message = nullptr;
  const int rc = sqlite3_exec(handle, statement.c_str(), nullptr, nullptr, &message);
  const std::string error = message != nullptr ? message : "";
  sqlite3_free(message);
  sqlite3_close(handle);
  INFO(error);
  REQUIRE(rc == SQLITE_OK);
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

void write_lines(const fs::path& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::trunc);
  for (const auto& line : lines) {
    out << line << '\n';
  }
}

// A service on a fresh store with some history: writes, reads, a denial-free
// failure and a rollback, so that every kind of record is chained.
struct Chained {
  testing::TempDir dir;
  std::string backend;
  MemoryService service;

  explicit Chained(std::string_view name)
      : backend(name), service(open_store({backend, dir.path()}), ServiceOptions{}) {
    service.merge(caller(), update("alice", R"({"a": 1})"));
    service.merge(caller(), update("alice", R"({"b": 2})"));
    service.get(caller(), {"alice", "default"});
    service.rollback(caller(), {"alice", "default"}, 1);
    CHECK_THROWS_AS(service.get(caller(), {"nobody", "default"}), Error);
    service.merge(caller(), update("bob", R"({"c": 3})"));
  }
};

} // namespace

TEST_CASE("audit chain: every record names its predecessor's hash", "[audit][store]") {
  Chained c(GENERATE(from_range(file_backend_names())));
  const auto records = whole_log(c.service.store());
  REQUIRE(records.size() == 6);
  check_chained(records);
  const auto report = c.service.verify(caller());
  CHECK(report.ok());
  CHECK(report.audit_checked);
  CHECK(report.audit_records == 6);
  // Verifying one user's contexts leaves the log alone.
  CHECK_FALSE(c.service.verify(caller(), "alice").audit_checked);
}

TEST_CASE("audit chain: concurrent writers, in one process and several, keep one chain", "[audit][store]") {
  testing::TempDir dir;
  const std::string backend(GENERATE(from_range(file_backend_names())));
  {
    MemoryService daemon_like(open_store({backend, dir.path(), true}), ServiceOptions{});
    MemoryService cli_like(open_store({backend, dir.path()}), ServiceOptions{});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        MemoryService& service = t % 2 == 0 ? daemon_like : cli_like;
        for (int i = 0; i < 25; ++i) {
          const std::string user = "u" + std::to_string(t);
          service.merge(caller(), update(user, R"({"n": )" + std::to_string(i) + "}"));
          service.get(caller(), {user, "default"});
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
  }
  MemoryService service(open_store({backend, dir.path()}), ServiceOptions{});
  const auto records = whole_log(service.store());
  CHECK(records.size() == 200);
  check_chained(records);
  CHECK(service.verify(caller()).ok());
}

TEST_CASE("audit chain: verify finds a changed, removed or inserted record", "[audit][store]") {
  Chained c(GENERATE(from_range(file_backend_names())));
  const auto records = whole_log(c.service.store());
  const auto broken = [&] {
    MemoryService fresh(open_store({c.backend, c.dir.path()}), ServiceOptions{});
    const auto report = fresh.verify(caller());
    CHECK_FALSE(report.ok());
    return report.audit_problem.value_or("");
  };
  const std::string tampering = GENERATE(as<std::string>{}, "change", "remove", "insert");
  if (c.backend == "sqlite") {
    const fs::path db = c.dir.path() / "zsimem.sqlite3";
    if (tampering == "change") {
      sql(db, "UPDATE audit SET outcome = 'ok', detail = '' WHERE outcome = 'not_found'");
    } else if (tampering == "remove") {
      sql(db, "DELETE FROM audit WHERE outcome = 'not_found'");
    } else {
      // A forged record with a correct hash of its own, slipped into the middle.
      AuditRecord forged = records[2];
      forged.actor = "mallory";
      chain_audit(forged, records[2].prev_hash);
      sql(db, "UPDATE audit SET actor = 'mallory', hash = '" + forged.hash +
                  "' WHERE seq = " + std::to_string(records[2].seq));
    }
  } else {
    const fs::path log = c.dir.path() / "audit.jsonl";
    auto lines = lines_of(log);
    REQUIRE(lines.size() == 6);
    if (tampering == "change") {
      const auto at = lines[4].find("\"not_found\"");
      REQUIRE(at != std::string::npos);
      lines[4].replace(at, 11, "\"ok\"");
    } else if (tampering == "remove") {
      lines.erase(lines.begin() + 4);
    } else {
      AuditRecord forged = records[3];
      forged.actor = "mallory";
      chain_audit(forged, records[3].hash);
      lines.insert(lines.begin() + 4, audit_json(forged).dump());
    }
    write_lines(log, lines);
  }
  const std::string problem = broken();
  INFO(problem);
  if (tampering == "change") {
    CHECK_THAT(problem, Catch::Contains("hash mismatch"));
  } else {
    CHECK_THAT(problem, Catch::Contains("names another predecessor"));
  }
}

TEST_CASE("audit chain: removing the oldest records is found too", "[audit][store]") {
  Chained c("sqlite");
  sql(c.dir.path() / "zsimem.sqlite3", "DELETE FROM audit WHERE seq = (SELECT min(seq) FROM audit)");
  const auto report = MemoryService(open_store({"sqlite", c.dir.path()}), ServiceOptions{}).verify(caller());
  REQUIRE(report.audit_problem);
  CHECK_THAT(*report.audit_problem, Catch::Contains("records were removed"));
}

TEST_CASE("audit chain: a torn last line is skipped and the chain goes on from the record before", "[audit][store]") {
  Chained c("json");
  {
    std::ofstream log(c.dir.path() / "audit.jsonl", std::ios::app);
    log << R"({"actor":"torn","ha)";
  }
  c.service.merge(caller(), update("carol", R"({"d": 4})"));
  const auto records = whole_log(c.service.store());
  CHECK(records.size() == 7);
  check_chained(records);
  CHECK(c.service.verify(caller()).ok());
}

TEST_CASE("audit chain: text that is not UTF-8 is chained as stored", "[audit][store]") {
  Chained c(GENERATE(from_range(file_backend_names())));
  // A read: a version's text must be UTF-8, an audit record's is made so.
  c.service.get(caller("bad\xff"
                       "actor"),
                {"alice", "default"});
  MemoryService fresh(open_store({c.backend, c.dir.path()}), ServiceOptions{});
  CHECK(fresh.verify(caller()).ok());
}

TEST_CASE("audit chain: a schema-2 database's records stay, unchained, before the chain", "[audit][store][sqlite]") {
  testing::TempDir dir;
  {
    MemoryService service(open_store({"sqlite", dir.path()}), ServiceOptions{});
    service.merge(caller(), update("alice", R"({"a": 1})"));
  }
  // Back to schema 2: the columns and tables of schemas 3 to 7 gone, and
  // the index by user back, as a database of that schema has them.
  sql(dir.path() / "zsimem.sqlite3", "ALTER TABLE audit DROP COLUMN prev_hash; ALTER TABLE audit DROP COLUMN hash; "
                                     "ALTER TABLE versions DROP COLUMN salt; ALTER TABLE versions DROP COLUMN key_id; "
                                     "ALTER TABLE versions DROP COLUMN pruned_through; "
                                     "DROP TABLE data_keys; DROP TABLE hook_cursors; DROP TABLE audit_user_index; "
                                     "DROP TABLE audit_user_index_through; "
                                     "CREATE INDEX audit_by_user ON audit (user_id, seq); PRAGMA user_version = 2");
  MemoryService service(open_store({"sqlite", dir.path()}), ServiceOptions{});
  service.merge(caller(), update("alice", R"({"b": 2})"));
  const auto records = whole_log(service.store());
  REQUIRE(records.size() == 2);
  CHECK(records[0].hash.empty());
  CHECK(records[1].prev_hash.empty());
  CHECK(records[1].hash == audit_hash(records[1]));
  CHECK(service.verify(caller()).ok());
}

TEST_CASE("audit chain: zsimem verify exits 9 on a broken audit log", "[audit][cli]") {
  testing::TempDir dir;
  const std::vector<std::string> base{ZSIMEM_BINARY, "--backend", "sqlite", "--data-dir", dir.path().string()};
  const auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), base.begin(), base.end());
    return testing::run_process(args);
  };
  REQUIRE(run({"merge", "alice", R"({"a": 1})"}).exit_code == 0);
  REQUIRE(run({"get", "alice"}).exit_code == 0);
  const auto good = run({"verify", "-o", "text"});
  CHECK(good.exit_code == 0);
  CHECK_THAT(good.out, Catch::Contains("audit log: 2 records checked"));
  sql(dir.path() / "zsimem.sqlite3", "UPDATE audit SET actor = 'someone else' WHERE seq = 1");
  const auto bad = run({"verify", "-o", "json"});
  CHECK(bad.exit_code == 9);
  const auto report = Json::parse(bad.out);
  CHECK(report["ok"] == false);
  CHECK_THAT(report["audit"]["problem"].get<std::string>(), Catch::Contains("audit record 1: hash mismatch"));
}
