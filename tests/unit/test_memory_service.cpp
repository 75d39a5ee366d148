#include "support/error_of.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/memory_service.hpp>

#include <catch2/catch.hpp>

#include <thread>

using namespace zsimem;
using zsimem::testing::error_of;

namespace {

// A service on a fresh store of each backend in turn.
struct Fixture {
  testing::TempDir dir;
  std::string backend;
  MemoryService service;
  Caller caller{"tester", "req-1"};

  explicit Fixture(std::string_view name) : backend(std::move(name)), service(open_store({backend, dir.path()})) {}

  MergeResult merge(const std::string& user, const std::string& delta,
                    std::optional<std::uint64_t> expected = std::nullopt, bool strict = false,
                    const std::string& key = {}) {
    MemoryUpdate update;
    update.user_id = user;
    update.delta = delta;
    update.expected_version = expected;
    update.strict = strict;
    update.idempotency_key = key;
    return service.merge(caller, update);
  }

  Json data(const std::string& user) { return Json::parse(service.get(caller, {user}).data); }
};

} // namespace

TEST_CASE("merges create numbered versions with metadata and a hash chain", "[service]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  const auto first = f.merge("alice", R"({"diet":{"kcal":1800},"steps":5000})");
  CHECK(first.outcome == MergeResult::Outcome::created);
  CHECK(first.record.version == 1);
  CHECK(first.record.prev_hash.empty());
  CHECK(first.record.actor == "tester");
  CHECK(first.record.request_id == "req-1");
  const auto second = f.merge("alice", R"({"diet":{"kcal":null,"carbs":200}})");
  CHECK(second.record.version == 2);
  CHECK(second.record.derived_from == 1);
  CHECK(second.record.prev_hash == first.record.hash);
  CHECK(second.record.hash == version_hash(second.record));
  CHECK(second.record.updated_at >= first.record.updated_at);
  CHECK(f.data("alice") == Json::parse(R"({"diet":{"carbs":200},"steps":5000})"));
  CHECK(Json::parse(second.patch()) ==
        Json::parse(R"([{"op":"remove","path":"/diet/kcal"},{"op":"add","path":"/diet/carbs","value":200}])"));
}

TEST_CASE("a delta that changes nothing makes no new version", "[service]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  f.merge("alice", R"({"a":1})");
  const auto again = f.merge("alice", R"({"a":1,"missing":null})");
  CHECK(again.outcome == MergeResult::Outcome::unchanged);
  CHECK(again.record.version == 1);
  CHECK(f.service.get(f.caller, {"alice"}).version == 1);
}

TEST_CASE("an idempotency key replays the version it first made", "[service][idempotency]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  const auto made = f.merge("alice", R"({"n":1})", std::nullopt, false, "key-1");
  f.merge("alice", R"({"m":2})");
  const auto replayed = f.merge("alice", R"({"n":1})", std::nullopt, false, "key-1");
  CHECK(replayed.outcome == MergeResult::Outcome::replayed);
  CHECK(replayed.record.version == made.record.version);
  CHECK(f.service.get(f.caller, {"alice"}).version == 2);
  const Error reused = error_of([&] { f.merge("alice", R"({"n":2})", std::nullopt, false, "key-1"); });
  CHECK(reused.code() == ErrorCode::invalid);
  CHECK(reused.field() == "idempotency_key");
}

TEST_CASE("optimistic locking rebases disjoint changes and refuses clashing ones", "[service][locking]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  f.merge("alice", R"({"a":{"x":1},"b":1})"); // v1
  f.merge("alice", R"({"b":2})");             // v2, touches /b

  SECTION("a disjoint update based on v1 is rebased onto v2") {
    const auto result = f.merge("alice", R"({"a":{"y":2}})", 1);
    CHECK(result.rebased);
    CHECK(result.record.version == 3);
    CHECK(result.record.derived_from == 1);
    CHECK(f.data("alice") == Json::parse(R"({"a":{"x":1,"y":2},"b":2})"));
  }
  SECTION("a clashing update names the current version and the paths") {
    const Error error = error_of([&] { f.merge("alice", R"({"b":3})", 1); });
    CHECK(error.code() == ErrorCode::conflict);
    CHECK(error.current_version() == "2");
    CHECK(error.conflicting_paths() == std::vector<std::string>{"/b"});
    CHECK(f.service.get(f.caller, {"alice"}).version == 2);
  }
  SECTION("a parent path clashes with a changed child") {
    f.merge("alice", R"({"a":{"x":5}})"); // v3 touches /a/x
    const Error error = error_of([&] { f.merge("alice", R"({"a":null})", 2); });
    CHECK(error.conflicting_paths() == std::vector<std::string>{"/a"});
  }
  SECTION("strict mode refuses any moved head") {
    const Error error = error_of([&] { f.merge("alice", R"({"a":{"y":2}})", 1, true); });
    CHECK(error.code() == ErrorCode::conflict);
    CHECK(error.conflicting_paths().empty());
  }
  SECTION("an expected version ahead of the head is a conflict") {
    CHECK(error_of([&] { f.merge("alice", R"({"c":1})", 7); }).code() == ErrorCode::conflict);
  }
  SECTION("expected version 0 means the context must be new") {
    CHECK(error_of([&] { f.merge("alice", R"({"c":1})", 0); }).code() == ErrorCode::conflict);
    CHECK(f.merge("bob", R"({"c":1})", 0).record.version == 1);
  }
}

TEST_CASE("reads by version and by time", "[service]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  const auto v1 = f.merge("alice", R"({"a":1})");
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const auto v2 = f.merge("alice", R"({"a":2})");
  CHECK(f.service.get(f.caller, {"alice"}, {1, std::nullopt}).data == R"({"a":1})");
  CHECK(f.service.get(f.caller, {"alice"}, {std::nullopt, v1.record.updated_at}).version == 1);
  CHECK(f.service.get(f.caller, {"alice"}, {std::nullopt, v2.record.updated_at}).version == 2);
  CHECK(
      f.service.get(f.caller, {"alice"}, {std::nullopt, v2.record.updated_at - std::chrono::microseconds{1}}).version ==
      1);
  CHECK(error_of([&] {
          f.service.get(f.caller, {"alice"}, {std::nullopt, v1.record.updated_at - std::chrono::hours{1}});
        }).code() == ErrorCode::not_found);
  CHECK(error_of([&] { f.service.get(f.caller, {"alice"}, {9, std::nullopt}); }).code() == ErrorCode::not_found);
  CHECK(error_of([&] { f.service.get(f.caller, {"nobody"}); }).code() == ErrorCode::not_found);
  CHECK(error_of([&] { f.service.get(f.caller, {"alice", "other"}); }).code() == ErrorCode::not_found);
}

TEST_CASE("rollback appends the old data as a new version", "[service][rollback]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  f.merge("alice", R"({"a":1})");
  f.merge("alice", R"({"a":2,"b":{"c":1}})");
  const auto rolled = f.service.rollback(f.caller, {"alice"}, 1, 2);
  CHECK(rolled.record.version == 3);
  CHECK(rolled.record.rollback_of == std::optional<std::uint64_t>(1));
  CHECK(f.data("alice") == Json::parse(R"({"a":1})"));
  CHECK(error_of([&] { f.service.rollback(f.caller, {"alice"}, 2, 2); }).code() == ErrorCode::conflict);
  CHECK(error_of([&] { f.service.rollback(f.caller, {"alice"}, 9); }).code() == ErrorCode::not_found);
  CHECK(f.service.rollback(f.caller, {"alice"}, 1).outcome == MergeResult::Outcome::unchanged);
  CHECK(f.service.verify(f.caller).ok());
}

TEST_CASE("history pages newest first", "[service][history]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  for (int i = 1; i <= 5; ++i) {
    f.merge("alice", R"({"n":)" + std::to_string(i) + "}");
  }
  HistoryQuery query;
  query.limit = 2;
  auto page = f.service.history(f.caller, {"alice"}, query);
  REQUIRE(page.versions.size() == 2);
  CHECK(page.versions[0].version == 5);
  CHECK(page.next_cursor == std::optional<std::uint64_t>(4));
  query.before_version = page.next_cursor;
  page = f.service.history(f.caller, {"alice"}, query);
  CHECK(page.versions.front().version == 3);
  query.before_version = 2;
  page = f.service.history(f.caller, {"alice"}, query);
  CHECK(page.versions.size() == 1);
  CHECK_FALSE(page.next_cursor);
  query.limit = 0;
  CHECK(error_of([&] { f.service.history(f.caller, {"alice"}, query); }).field() == "limit");
}

TEST_CASE("diff and blame explain changes", "[service][diff]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  Caller other{"other", "req-2"};
  f.merge("alice", R"({"a":1,"b":{"c":1,"d":2}})");
  MemoryUpdate update;
  update.user_id = "alice";
  update.delta = R"({"b":{"c":5}})";
  f.service.merge(other, update);
  const auto diff = f.service.diff(f.caller, {"alice"}, 1);
  CHECK(diff.to == 2);
  CHECK(Json::parse(diff.merge_patch) == Json::parse(R"({"b":{"c":5}})"));
  CHECK(Json::parse(diff.patch) == Json::parse(R"([{"op":"replace","path":"/b/c","value":5}])"));

  const auto blame = f.service.blame(f.caller, {"alice"});
  REQUIRE(blame.size() == 3);
  CHECK(blame[0].path == "/a");
  CHECK(blame[0].version == 1);
  CHECK(blame[1].path == "/b/c");
  CHECK(blame[1].version == 2);
  CHECK(blame[1].actor == "other");
  CHECK(blame[2].path == "/b/d");
  CHECK(f.service.blame(f.caller, {"alice"}, "/b").size() == 2);
  CHECK(error_of([&] { f.service.blame(f.caller, {"alice"}, "/zzz"); }).code() == ErrorCode::not_found);
}

TEST_CASE("erase removes every version, idempotently, and is audited", "[service][erase]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  f.merge("alice", R"({"a":1})");
  f.merge("alice", R"({"a":2})");
  MemoryUpdate other;
  other.user_id = "alice";
  other.ns = "work";
  other.delta = R"({"x":1})";
  f.service.merge(f.caller, other);
  f.merge("bob", R"({"b":1})");
  CHECK(f.service.erase(f.caller, "alice", std::string_view("work")) == 1);
  CHECK(f.service.namespaces(f.caller, "alice") == std::vector<std::string>{"default"});
  CHECK(f.service.erase(f.caller, "alice") == 2);
  CHECK(f.service.erase(f.caller, "alice") == 0);
  CHECK(f.service.users(f.caller) == std::vector<std::string>{"bob"});
  AuditQuery query;
  query.user_id = "alice";
  const auto log = f.service.audit_log(f.caller, query);
  REQUIRE_FALSE(log.records.empty());
  CHECK(log.records[0].operation == "delete");
  CHECK(log.records[0].detail == "removed 0 versions");
}

TEST_CASE("a daemon's merges build on what other processes wrote or erased", "[service][locking]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  CAPTURE(backend);
  testing::TempDir dir;
  // A long-lived store may guess heads from its own writes (head_hint); the
  // one-shot "CLI" service on the same directory moves them behind its back.
  MemoryService daemon(open_store({backend, dir.path(), true}));
  MemoryService cli(open_store({backend, dir.path()}));
  const Caller caller{"tester", "req-1"};
  const auto merge = [&](MemoryService& service, const std::string& delta,
                         std::optional<std::uint64_t> expected = std::nullopt) {
    MemoryUpdate update;
    update.user_id = "alice";
    update.delta = delta;
    update.expected_version = expected;
    return service.merge(caller, update);
  };

  REQUIRE(merge(daemon, R"({"a":1})").record.version == 1);
  merge(cli, R"({"b":2})");
  const auto third = merge(cli, R"({"c":3})");
  const auto fourth = merge(daemon, R"({"d":4})");
  CHECK(fourth.record.version == 4);
  CHECK(fourth.record.prev_hash == third.record.hash);
  CHECK(Json::parse(fourth.record.data) == Json::parse(R"({"a":1,"b":2,"c":3,"d":4})"));

  // Unchanged next to the daemon's own last write, but not next to the head.
  CHECK(merge(daemon, R"({"d":4})").outcome == MergeResult::Outcome::unchanged);
  merge(cli, R"({"d":5})");
  const auto sixth = merge(daemon, R"({"d":4})");
  CHECK(sixth.outcome == MergeResult::Outcome::created);
  CHECK(sixth.record.version == 6);

  // An expected version the daemon has not seen is still current.
  merge(cli, R"({"e":7})");
  CHECK(merge(daemon, R"({"f":8})", 7).record.version == 8);

  // After an erase elsewhere, the context starts again at version 1.
  REQUIRE(cli.erase(caller, "alice") == 8);
  const auto restarted = merge(daemon, R"({"g":1})");
  CHECK(restarted.record.version == 1);
  CHECK(restarted.record.prev_hash.empty());
  CHECK(Json::parse(restarted.record.data) == Json::parse(R"({"g":1})"));
  CHECK(cli.verify(caller, "alice").ok());
}

TEST_CASE("every read, write and failure leaves an audit record", "[service][audit]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  f.merge("alice", R"({"a":1})");
  f.service.get(f.caller, {"alice"});
  error_of([&] { f.merge("alice", R"({"a":2})", 9); });
  error_of([&] { f.service.get(f.caller, {"nobody"}); });
  AuditQuery query;
  const auto log = f.service.audit_log(f.caller, query).records;
  REQUIRE(log.size() >= 4);
  CHECK(log[0].operation == "get");
  CHECK(log[0].outcome == "not_found");
  CHECK(log[1].operation == "merge");
  CHECK(log[1].outcome == "conflict");
  CHECK(log[2].operation == "get");
  CHECK(log[2].outcome == "ok");
  CHECK(log[2].version == "1");
  CHECK(log[3].operation == "merge");
  CHECK(log[3].request_id == "req-1");
  CHECK(log[3].actor == "tester");
  for (const auto& record : log) {
    CHECK(record.detail.find("\"a\"") == std::string::npos); // never the data
  }
}

TEST_CASE("bad updates are refused before anything is written", "[service][validation]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  CHECK(error_of([&] { f.merge("../etc", "{}"); }).field() == "user_id");
  CHECK(error_of([&] { f.merge("alice", "[1]"); }).field() == "delta");
  CHECK(error_of([&] { f.merge("alice", "{\"a\":"); }).field() == "delta");
  CHECK(error_of([&] { f.merge("alice", "{\"a\":\"" + std::string(2 * 1024 * 1024, 'x') + "\"}"); }).code() ==
        ErrorCode::too_large);
  CHECK(f.service.users(f.caller).empty());
}

TEST_CASE("apply merges many updates, in order", "[service][apply]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  std::vector<MemoryUpdate> updates(3);
  updates[0].user_id = "alice";
  updates[0].delta = R"({"a":1})";
  updates[1].user_id = "alice";
  updates[1].delta = R"({"b":2})";
  updates[1].idempotency_key = "k";
  updates[2].user_id = "bob";
  updates[2].delta = R"({"c":3})";
  const auto results = f.service.apply(f.caller, updates);
  REQUIRE(results.size() == 3);
  CHECK(results[1].record.version == 2);
  CHECK(f.data("alice") == Json::parse(R"({"a":1,"b":2})"));
  const auto again = f.service.apply(f.caller, updates);
  CHECK(again[0].outcome == MergeResult::Outcome::unchanged);
  CHECK(again[1].outcome == MergeResult::Outcome::replayed);

  SECTION("a bad update names its index and, on atomic backends, writes nothing") {
    updates[2].delta = "[]";
    updates[0].delta = R"({"a":100})";
    const Error error = error_of([&] { f.service.apply(f.caller, updates); });
    CHECK_THAT(error.what(), Catch::StartsWith("updates[2]"));
    if (f.service.store().supports_atomic_batches()) {
      CHECK(f.data("alice")["a"] == 1);
    }
  }
}

TEST_CASE("verify finds the first broken link", "[service][verify]") {
  Fixture f(GENERATE(from_range(file_backend_names())));
  f.merge("alice", R"({"a":1})");
  f.merge("alice", R"({"a":2})");
  f.merge("bob", R"({"b":1})");
  auto report = f.service.verify(f.caller);
  CHECK(report.ok());
  CHECK(report.contexts == 2);
  CHECK(report.versions == 3);

  // Tamper with one version through an export/import into a second store.
  std::vector<VersionRecord> records;
  f.service.export_versions(f.caller, std::string_view("alice"), [&](const VersionRecord& r) { records.push_back(r); });
  REQUIRE(records.size() == 2);
  testing::TempDir copy_dir;
  MemoryService copy(open_store({f.backend, copy_dir.path()}));
  CHECK(copy.import_versions(f.caller, records).written == 2);
  CHECK(copy.import_versions(f.caller, records).skipped == 2);
  CHECK(copy.get(f.caller, {"alice"}).hash == records[1].hash);

  records[1].data = R"({"a":3})";
  const Error tampered = error_of([&] { copy.import_versions(f.caller, records); });
  CHECK_THAT(tampered.what(), Catch::Contains("hash mismatch"));
}
