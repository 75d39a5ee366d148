// Retention above the store: zsimem prune's decisions applied to a context,
// the gaps it leaves (reads, verify, export and import across them), audit
// retention and versioning switched off.

#include "support/error_of.hpp"
#include "support/history.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/retention.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

using namespace zsimem;
using zsimem::testing::error_of;

namespace {

const ContextKey k_alice{"alice"};

// Every hour of 2025 at half past, each setting /steps to its hour's number.
std::vector<VersionRecord> hourly_2025(const ContextKey& key) {
  std::vector<std::pair<Timestamp, std::string>> writes;
  int hour = 0;
  for (Timestamp t = parse_time("2025-01-01T00:30:00Z"); t < parse_time("2026-01-01T00:00:00Z");
       t += std::chrono::hours(1)) {
    writes.emplace_back(t, R"({"steps":)" + std::to_string(hour++) + "}");
  }
  return testing::make_history(key, writes);
}

// The policy of the core's year test (test_retention.cpp), which keeps 66 versions.
RetentionConfig year_policy() {
  return RetentionConfig::parse(
      R"({"default": {"keep_last": 5, "keep_within": "2d", "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}})",
      "test");
}

// The minutes ("2025-06-30T23:30") of the versions a history shows.
std::set<std::string> minutes_of(MemoryService& service, const Caller& caller, const ContextKey& key) {
  std::set<std::string> minutes;
  HistoryQuery query;
  query.limit = 1000;
  for (;;) {
    const auto page = service.history(caller, key, query);
    for (const auto& record : page.versions) {
      minutes.insert(format_rfc3339(record.updated_at).substr(0, 16));
    }
    if (!page.next_cursor) {
      return minutes;
    }
    query.before_version = page.next_cursor;
  }
}

std::vector<VersionRecord> exported(MemoryService& service, const Caller& caller) {
  std::vector<VersionRecord> records;
  service.export_versions(caller, std::nullopt, [&](const VersionRecord& record) { records.push_back(record); });
  return records;
}

MergeResult merge_alice(MemoryService& service, const Caller& caller, const std::string& delta) {
  MemoryUpdate update;
  update.user_id = k_alice.user_id;
  update.delta = delta;
  return service.merge(caller, update);
}

} // namespace

TEST_CASE("prune: a year of hourly versions keeps exactly what the rules name, and verifies", "[retention][service]") {
  const testing::TempDir dir;
  MemoryService service(open_store({"sqlite", dir.path()}));
  const Caller caller{"tester", "req-prune"};
  const auto history = hourly_2025(k_alice);
  REQUIRE(history.size() == 8760);
  REQUIRE(service.import_versions(caller, history).written == 8760);
  const auto before = minutes_of(service, caller, k_alice);

  PruneOptions dry;
  dry.dry_run = true;
  const PruneReport preview = service.prune(caller, year_policy(), dry);
  REQUIRE(preview.contexts.size() == 1);
  CHECK(preview.contexts[0].versions == 8760);
  CHECK(preview.contexts[0].kept.size() == 66);
  CHECK(preview.versions_pruned == 8760 - 66);
  CHECK(minutes_of(service, caller, k_alice) == before); // a dry run changes nothing

  const PruneReport report = service.prune(caller, year_policy());
  CHECK(report.versions_pruned == 8760 - 66);
  REQUIRE(report.contexts.size() == 1);
  CHECK(report.contexts[0].pruned == preview.contexts[0].pruned);
  // The first kept version is January's last (its monthly); all before it go as one gap.
  CHECK(report.contexts[0].pruned.front() == std::pair<std::uint64_t, std::uint64_t>{1, 743});

  std::set<std::string> expected;
  for (Timestamp t = parse_time("2025-12-29T23:30:00Z"); t <= parse_time("2025-12-31T23:30:00Z");
       t += std::chrono::hours(1)) {
    expected.insert(format_rfc3339(t).substr(0, 16));
  }
  for (const char* day : {"2025-12-25", "2025-12-26", "2025-12-27", "2025-12-28", "2025-12-14", "2025-12-21",
                          "2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31", "2025-06-30",
                          "2025-07-31", "2025-08-31", "2025-09-30", "2025-10-31", "2025-11-30"}) {
    expected.insert(std::string(day) + "T23:30");
  }
  REQUIRE(expected.size() == 66);
  CHECK(minutes_of(service, caller, k_alice) == expected);

  const VerifyReport verified = service.verify(caller);
  CHECK(verified.ok());
  CHECK(verified.versions == 66);
  // One gap before January's last version, one between each two kept versions that are not neighbours.
  CHECK(verified.gaps == 18);
  CHECK(report.contexts[0].pruned.size() == 18);

  // Pruning again finds nothing more to do.
  CHECK(service.prune(caller, year_policy()).versions_pruned == 0);

  // The head is untouched; pruned versions and times are gone, clearly.
  CHECK(service.get(caller, k_alice).version == 8760);
  const Error pruned = error_of([&] { service.get(caller, k_alice, {100, std::nullopt}); });
  CHECK(pruned.code() == ErrorCode::not_found);
  CHECK_THAT(pruned.what(), Catch::Contains("was pruned by retention (versions 1 to 743 are gone)"));
  const Error pruned_time = error_of([&] {
    service.get(caller, k_alice, {std::nullopt, parse_time("2025-03-10T12:00:00Z")});
  });
  CHECK(pruned_time.code() == ErrorCode::not_found);
  CHECK_THAT(pruned_time.what(), Catch::Contains("the version current at 2025-03-10T12:00:00"));
  const auto june = service.get(caller, k_alice, {std::nullopt, parse_time("2025-07-01T00:00:00Z")});
  CHECK(format_rfc3339(june.updated_at).starts_with("2025-06-30T23:30"));
  CHECK(error_of([&] { service.rollback(caller, k_alice, 100); }).code() == ErrorCode::not_found);
  CHECK(error_of([&] { service.diff(caller, k_alice, 100); }).code() == ErrorCode::not_found);
  // Between survivors, across gaps.
  const auto diff = service.diff(caller, k_alice, june.version);
  CHECK(Json::parse(diff.merge_patch) == Json{{"steps", 8759}});
  CHECK(service.blame(caller, k_alice).front().version == 8760);

  // Writes go on after the head.
  CHECK(merge_alice(service, caller, R"({"steps": 1})").record.version == 8761);

  SECTION("an export of the pruned history imports whole, gaps and all") {
    const auto records = exported(service, caller);
    CHECK(records.size() == 67 + report.contexts[0].pruned.size());
    const testing::TempDir copy_dir;
    MemoryService copy(open_store({"json", copy_dir.path()}));
    CHECK(copy.import_versions(caller, records).written == records.size());
    CHECK(copy.verify(caller).ok());
    CHECK(copy.verify(caller).gaps == verified.gaps);
    CHECK(minutes_of(copy, caller, k_alice).size() == 67);
    CHECK(copy.import_versions(caller, records).skipped == records.size());
  }
}

TEST_CASE("prune: gaps keep verify honest", "[retention][service]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  CAPTURE(backend);
  const testing::TempDir dir;
  MemoryService service(open_store({backend, dir.path()}));
  const Caller caller{"tester", "req-verify"};
  for (int i = 1; i <= 6; ++i) {
    merge_alice(service, caller, R"({"n":)" + std::to_string(i) + "}");
  }
  const auto config = RetentionConfig::parse(R"({"default": {"keep_last": 2}})", "test");
  const auto report = service.prune(caller, config);
  CHECK(report.versions_pruned == 4);
  CHECK(report.contexts.at(0).pruned == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{1, 4}});
  CHECK(service.verify(caller).ok());

  SECTION("a gap whose bridge was altered breaks the chain") {
    auto gap = *service.store().version(k_alice, 1);
    REQUIRE(gap.is_gap());
    gap.hash = std::string(64, '0');
    service.store().prune(gap);
    const auto broken = service.verify(caller);
    CHECK_FALSE(broken.ok());
    REQUIRE(broken.problems.size() == 1);
    CHECK(broken.problems[0].version == 5);
  }
  SECTION("namespaces take their own policy; the others keep everything") {
    for (int i = 1; i <= 3; ++i) {
      MemoryUpdate update;
      update.user_id = "alice";
      update.ns = "work";
      update.delta = R"({"n":)" + std::to_string(i) + "}";
      service.merge(caller, update);
    }
    const auto per_namespace = RetentionConfig::parse(R"({"namespaces": {"work": {"keep_last": 1}}})", "test");
    const auto pruned = service.prune(caller, per_namespace);
    CHECK(pruned.versions_pruned == 2);
    REQUIRE(pruned.contexts.size() == 1);
    CHECK(pruned.contexts[0].key == ContextKey{"alice", "work"});
    CHECK(service.history(caller, {"alice", "work"}, {}).versions.size() == 1);
    CHECK(service.history(caller, k_alice, {}).versions.size() == 2);
  }
}

TEST_CASE("prune: audit records older than their span go, and the log still verifies", "[retention][service]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  CAPTURE(backend);
  const testing::TempDir dir;
  MemoryService service(open_store({backend, dir.path()}));
  const Caller caller{"tester", "req-audit"};
  // Three records from last year, then today's.
  const auto add_old = [&](int day) {
    AuditRecord old;
    old.time = parse_time("2025-01-" + std::string(day < 10 ? "0" : "") + std::to_string(day) + "T00:00:00Z");
    old.request_id = "old-" + std::to_string(day);
    old.actor = "tester";
    old.operation = "get";
    old.outcome = "ok";
    service.store().append_audit(old, true);
  };
  for (int day = 1; day <= 3; ++day) {
    add_old(day);
  }
  merge_alice(service, caller, R"({"n": 1})");
  const auto config = RetentionConfig::parse(R"({"audit": {"keep_within": "30d"}})", "test");

  PruneOptions dry;
  dry.dry_run = true;
  CHECK(service.prune(caller, config, dry).audit_pruned == 3);
  CHECK(service.audit_log(caller, {}).records.size() >= 4);

  const auto report = service.prune(caller, config);
  CHECK(report.audit_pruned == 3);
  const auto log = service.audit_log(caller, {}).records;
  for (const auto& record : log) {
    CHECK_FALSE(record.request_id.starts_with("old-"));
  }
  CHECK(std::any_of(log.begin(), log.end(), [](const AuditRecord& r) { return r.operation == "prune_audit"; }));
  CHECK(service.verify(caller).ok());
  // Again, after records stamped in the past: the cut runs through the
  // newest of them, taking the first bridge with it, and leaves its own.
  add_old(4);
  CHECK(service.prune(caller, config).audit_pruned >= 3);
  CHECK(service.verify(caller).ok());
}

TEST_CASE("prune: the retention and versioning switches", "[retention][service][features]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  CAPTURE(backend);
  const testing::TempDir dir;
  const Caller caller{"tester", "req-switch"};
  ServiceOptions options;

  SECTION("retention off: prune is refused, clearly") {
    options.features.retention = false;
    MemoryService service(open_store({backend, dir.path()}), options);
    const Error error = error_of([&] { service.prune(caller, year_policy()); });
    CHECK(error.code() == ErrorCode::disabled);
    CHECK_THAT(error.what(), Catch::Contains("retention=on"));
  }
  SECTION("versioning off: only the head is kept, and verify passes") {
    options.features.versioning = false;
    MemoryService service(open_store({backend, dir.path()}), options);
    for (int i = 1; i <= 5; ++i) {
      CHECK(merge_alice(service, caller, R"({"n":)" + std::to_string(i) + "}").record.version ==
            static_cast<std::uint64_t>(i));
    }
    const auto history = service.history(caller, k_alice, {});
    REQUIRE(history.versions.size() == 1);
    CHECK(history.versions[0].version == 5);
    CHECK(service.get(caller, k_alice).data == R"({"n":5})");
    CHECK(error_of([&] { service.get(caller, k_alice, {2, std::nullopt}); }).code() == ErrorCode::not_found);
    const auto verified = service.verify(caller);
    CHECK(verified.ok());
    CHECK(verified.versions == 1);
    CHECK(verified.gaps == 1);
    // Batches too.
    std::vector<MemoryUpdate> updates(2);
    updates[0].user_id = updates[1].user_id = "alice";
    updates[0].delta = R"({"n": 6})";
    updates[1].delta = R"({"n": 7})";
    service.apply(caller, updates);
    CHECK(service.history(caller, k_alice, {}).versions.size() == 1);
    CHECK(service.verify(caller).ok());
  }
}

TEST_CASE("prune: versions an interrupted prune left under a gap are skipped, and removed by the next",
          "[retention][service]") {
  const testing::TempDir dir;
  MemoryService service(open_store({"json", dir.path()}));
  const Caller caller{"tester", "req-leftover"};
  for (int i = 1; i <= 6; ++i) {
    merge_alice(service, caller, R"({"n":)" + std::to_string(i) + "}");
  }
  // What a prune interrupted after writing its gap leaves: the gap, and
  // versions it stands for still on disk.
  const auto versions_dir = dir.path() / "contexts" / "alice" / "default";
  const auto third = versions_dir / "00000000000000000003.json";
  const auto kept_copy = dir.path() / "third.json";
  std::filesystem::copy_file(third, kept_copy);
  const auto config = RetentionConfig::parse(R"({"default": {"keep_last": 2}})", "test");
  REQUIRE(service.prune(caller, config).versions_pruned == 4);
  std::filesystem::copy_file(kept_copy, third);

  // Walks of the chain skip it; the history lists it until the next prune.
  CHECK(service.verify(caller).ok());
  CHECK(service.history(caller, k_alice, {}).versions.size() == 3);
  const auto report = service.prune(caller, config);
  CHECK(report.versions_pruned == 0);
  CHECK(report.contexts.at(0).pruned == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{1, 4}});
  CHECK_FALSE(std::filesystem::exists(third));
  CHECK(service.history(caller, k_alice, {}).versions.size() == 2);
  CHECK(service.verify(caller).ok());
}
