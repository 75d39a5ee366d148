// The backend conformance suite: every case runs against every backend
// compiled in, so a new backend is correct when this file passes on it.

#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

#include <zsimem/error.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace zsimem {
namespace {

using testing::TempDir;

// 2025-11-29T01:44:01.123456Z: realistic microsecond timestamps.
constexpr std::int64_t k_t0 = 1'764'380'641'123'456;

Timestamp at(std::int64_t micros_after_t0) { return Timestamp{std::chrono::microseconds{k_t0 + micros_after_t0}}; }

std::int64_t micros(Timestamp t) { return t.time_since_epoch().count(); }

constexpr std::string_view k_long_lived = " (long-lived)";

// Every backend, opened as a one-shot CLI command does and as the daemon
// does (more connections, housekeeping on threads of its own).
std::vector<std::string> store_variants() {
  std::vector<std::string> variants;
  for (const auto name : backend_names()) {
    variants.emplace_back(name);
    variants.push_back(std::string(name) + std::string(k_long_lived));
  }
  return variants;
}

std::unique_ptr<MemoryStore> open(const std::string& variant, const TempDir& dir) {
  const bool long_lived = variant.ends_with(k_long_lived);
  const std::string backend = long_lived ? variant.substr(0, variant.size() - k_long_lived.size()) : variant;
  return open_store(testing::test_store_config(backend, dir, long_lived));
}

// A stand-in for a SHA-256 hex digest; stores keep hashes without checking them.
std::string fake_hash(const std::string& user, const std::string& ns, std::uint64_t version) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : user + "/" + ns + "/" + std::to_string(version)) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 64; ++i) {
    out += k_hex[(h >> ((i % 16) * 4)) & 0xfU];
  }
  return out;
}

VersionRecord make_record(const std::string& user, const std::string& ns, std::uint64_t version, Timestamp updated_at) {
  VersionRecord record;
  record.user_id = user;
  record.ns = ns;
  record.version = version;
  record.updated_at = updated_at;
  record.data = R"({"counter":)" + std::to_string(version) + R"(,"name":"Zoë","prefs":{"lang":"ja"}})";
  record.delta = R"({"counter":)" + std::to_string(version) + "}";
  record.actor = "cli:" + user;
  record.request_id = "req-" + user + "-" + ns + "-" + std::to_string(version);
  record.tags = {"import"};
  record.derived_from = version - 1;
  record.prev_hash = version == 1 ? "" : fake_hash(user, ns, version - 1);
  record.hash = fake_hash(user, ns, version);
  return record;
}

AuditRecord make_audit(const std::string& user, const std::string& ns, const std::string& operation, Timestamp time,
                       const std::string& version = "") {
  AuditRecord record;
  record.time = time;
  record.request_id = "req-" + operation + "-" + std::to_string(micros(time));
  record.actor = "cli:" + (user.empty() ? std::string("admin") : user);
  record.operation = operation;
  record.user_id = user;
  record.ns = ns;
  record.version = version;
  record.outcome = "ok";
  return record;
}

bool append_one(MemoryStore& store, const VersionRecord& record) {
  const AuditRecord audit =
      make_audit(record.user_id, record.ns, "merge", record.updated_at, std::to_string(record.version));
  return store.append({&record, 1}, {&audit, 1});
}

// Appends versions 1..count of a context, one per millisecond after t0.
void append_versions(MemoryStore& store, const std::string& user, const std::string& ns, std::uint64_t count) {
  for (std::uint64_t v = 1; v <= count; ++v) {
    REQUIRE(append_one(store, make_record(user, ns, v, at(static_cast<std::int64_t>(v) * 1000))));
  }
}

void check_same(const VersionRecord& actual, const VersionRecord& expected) {
  INFO("version " << expected.user_id << "/" << expected.ns << "/" << expected.version);
  CHECK(actual.user_id == expected.user_id);
  CHECK(actual.ns == expected.ns);
  CHECK(actual.version == expected.version);
  CHECK(micros(actual.updated_at) == micros(expected.updated_at));
  CHECK(actual.data == expected.data);
  CHECK(actual.delta == expected.delta);
  CHECK(actual.actor == expected.actor);
  CHECK(actual.request_id == expected.request_id);
  CHECK(actual.tags == expected.tags);
  CHECK(actual.derived_from == expected.derived_from);
  CHECK(actual.rollback_of.has_value() == expected.rollback_of.has_value());
  CHECK(actual.rollback_of.value_or(0) == expected.rollback_of.value_or(0));
  CHECK(actual.idempotency_key == expected.idempotency_key);
  CHECK(actual.prev_hash == expected.prev_hash);
  CHECK(actual.hash == expected.hash);
  CHECK(actual.salt == expected.salt);
  CHECK(actual.key_id == expected.key_id);
  CHECK(actual.pruned_through.value_or(0) == expected.pruned_through.value_or(0));
}

void check_same(const std::optional<VersionRecord>& actual, const VersionRecord& expected) {
  REQUIRE(actual.has_value());
  check_same(*actual, expected);
}

void check_same(const AuditRecord& actual, const AuditRecord& expected) {
  INFO("audit " << expected.request_id);
  CHECK(micros(actual.time) == micros(expected.time));
  CHECK(actual.request_id == expected.request_id);
  CHECK(actual.actor == expected.actor);
  CHECK(actual.operation == expected.operation);
  CHECK(actual.user_id == expected.user_id);
  CHECK(actual.ns == expected.ns);
  CHECK(actual.version == expected.version);
  CHECK(actual.outcome == expected.outcome);
  CHECK(actual.detail == expected.detail);
}

// The version number, 0 for none, so that a missing record fails a check
// instead of crashing the suite.
std::uint64_t number(const std::optional<VersionRecord>& record) { return record ? record->version : 0; }

std::vector<std::uint64_t> versions_of(const std::vector<VersionRecord>& records) {
  std::vector<std::uint64_t> out;
  for (const auto& record : records) {
    out.push_back(record.version);
  }
  return out;
}

std::vector<std::string> names_of(const std::vector<ContextKey>& keys) {
  std::vector<std::string> out;
  for (const auto& key : keys) {
    out.push_back(key.user_id + "/" + key.ns);
  }
  return out;
}

std::vector<std::string> request_ids_of(const std::vector<AuditRecord>& records) {
  std::vector<std::string> out;
  for (const auto& record : records) {
    out.push_back(record.request_id);
  }
  return out;
}

std::vector<std::uint64_t> sequence(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> out;
  if (from <= to) {
    for (std::uint64_t v = from; v <= to; ++v) {
      out.push_back(v);
    }
  } else {
    for (std::uint64_t v = from; v >= to; --v) {
      out.push_back(v);
    }
  }
  return out;
}

using Versions = std::vector<std::uint64_t>;

// The gap record retention leaves for versions first..last of records made
// by make_record at `time_of_first`.
VersionRecord make_gap(const std::string& user, const std::string& ns, std::uint64_t first, std::uint64_t last,
                       Timestamp time_of_first) {
  VersionRecord gap;
  gap.user_id = user;
  gap.ns = ns;
  gap.version = first;
  gap.pruned_through = last;
  gap.updated_at = time_of_first;
  gap.prev_hash = first == 1 ? "" : fake_hash(user, ns, first - 1);
  gap.hash = fake_hash(user, ns, last);
  return gap;
}

// The version numbers of records, gaps shown as "first-last".
std::vector<std::string> spans_of(const std::vector<VersionRecord>& records) {
  std::vector<std::string> out;
  for (const auto& record : records) {
    out.push_back(record.is_gap() ? std::to_string(record.version) + "-" + std::to_string(*record.pruned_through)
                                  : std::to_string(record.version));
  }
  return out;
}

using Spans = std::vector<std::string>;

DataKeyRecord make_key(const std::string& user, std::uint64_t generation, Timestamp created_at = at(0)) {
  DataKeyRecord key;
  key.user_id = user;
  key.generation = generation;
  key.master_key_id = "master-1";
  // Base64-like text, distinct per key.
  key.wrapped = "d3JhcHBlZA+/" + user + "=" + std::to_string(generation) + "==";
  key.created_at = created_at;
  return key;
}

// A version as an encrypting store keeps it: a sealed box instead of data,
// no delta, and the generation of the data key that sealed it.
VersionRecord make_sealed(const std::string& user, const std::string& ns, std::uint64_t version, Timestamp updated_at,
                          const std::string& key_id = "1") {
  VersionRecord record = make_record(user, ns, version, updated_at);
  record.data = "c2VhbGVk+Ym94/" + std::to_string(version) + "AAECAwQFBgcICQoLDA0ODw==";
  record.delta.clear();
  record.key_id = key_id;
  return record;
}

std::vector<std::string> key_names_of(const std::vector<DataKeyRecord>& keys) {
  std::vector<std::string> out;
  for (const auto& key : keys) {
    out.push_back(key.user_id + "/" + std::to_string(key.generation));
  }
  return out;
}

// Waits for every thread, then rethrows the first failure one of them kept.
void join_all(std::vector<std::thread>& threads, const std::vector<std::exception_ptr>& failures) {
  for (auto& thread : threads) {
    thread.join();
  }
  for (const auto& failure : failures) {
    if (failure) {
      std::rethrow_exception(failure);
    }
  }
}

} // namespace

TEST_CASE("a store returns appended records byte for byte", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  REQUIRE(store->backend_name() == backend.substr(0, backend.find(" ")));
  const ContextKey key{"alice", "default"};
  CHECK_FALSE(store->head(key).has_value());

  auto first = make_record("alice", "default", 1, at(0));
  first.data = R"({"bio":"line one\nline \"two\" \\ end","emoji":"🙂","greeting":"こんにちは",)"
               R"("long":")" +
               std::string(20000, 'x') + R"(","name":"Zoë"})";
  first.delta = first.data;
  first.tags = {"onboarding", "größe 🙂", "with space"};
  first.idempotency_key = "idem-2025-11-29-001";
  auto second = make_record("alice", "default", 2, at(1500));
  second.data = R"({"name":null,"nested":{"a":[1,2.5,true,null,"ü"]}})";
  second.delta = R"({"name":null})";
  second.tags = {};
  second.actor = "daemon:svc-agent";
  auto third = make_record("alice", "default", 3, at(2750));
  third.data = first.data;
  third.delta = R"({"long":"x"})";
  third.rollback_of = 1;
  third.derived_from = 2;
  third.actor = "";

  for (const auto& record : {first, second, third}) {
    REQUIRE(append_one(*store, record));
  }

  check_same(store->head(key), third);
  check_same(store->version(key, 1), first);
  check_same(store->version(key, 2), second);
  check_same(store->version(key, 3), third);
  CHECK_FALSE(store->version(key, 0).has_value());
  CHECK_FALSE(store->version(key, 4).has_value());
  CHECK_FALSE(store->head({"alice", "other"}).has_value());
  CHECK_FALSE(store->head({"bob", "default"}).has_value());
  CHECK_FALSE(store->version({"alice", "other"}, 1).has_value());

  HistoryQuery query;
  query.oldest_first = true;
  const auto all = store->history(key, query);
  REQUIRE(all.size() == 3);
  check_same(all[0], first);
  check_same(all[1], second);
  check_same(all[2], third);
}

TEST_CASE("a store finds the version current at a time", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey key{"alice", "default"};
  CHECK_FALSE(store->version_at(key, at(0)).has_value());

  // Versions 2 and 3 share a timestamp: the newer one is current then.
  const std::int64_t times[] = {0, 1000, 1000, 5000};
  for (std::uint64_t v = 1; v <= 4; ++v) {
    REQUIRE(append_one(*store, make_record("alice", "default", v, at(times[v - 1]))));
  }

  CHECK_FALSE(store->version_at(key, at(-1)).has_value());
  CHECK(number(store->version_at(key, at(0))) == 1);
  CHECK(number(store->version_at(key, at(999))) == 1);
  CHECK(number(store->version_at(key, at(1000))) == 3);
  CHECK(number(store->version_at(key, at(4999))) == 3);
  CHECK(number(store->version_at(key, at(5000))) == 4);
  check_same(store->version_at(key, at(86'400'000'000)), make_record("alice", "default", 4, at(5000)));
  CHECK_FALSE(store->version_at({"alice", "work"}, at(5000)).has_value());
  CHECK(number(store->head(key)) == 4);
}

TEST_CASE("a store pages and filters history", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey key{"alice", "default"};
  CHECK(store->history(key, {}).empty());
  append_versions(*store, "alice", "default", 10); // version v at t0 + v ms
  append_versions(*store, "alice", "work", 2);

  auto newest = [&](std::optional<std::uint64_t> before, std::size_t limit) {
    HistoryQuery query;
    query.before_version = before;
    query.limit = limit;
    return versions_of(store->history(key, query));
  };
  auto oldest = [&](std::optional<std::uint64_t> after, std::size_t limit) {
    HistoryQuery query;
    query.oldest_first = true;
    query.after_version = after;
    query.limit = limit;
    return versions_of(store->history(key, query));
  };

  CHECK(newest(std::nullopt, 100) == sequence(10, 1));
  CHECK(newest(std::nullopt, 3) == Versions{10, 9, 8});
  CHECK(newest(8, 3) == Versions{7, 6, 5});
  CHECK(newest(2, 3) == Versions{1});
  CHECK(newest(1, 3).empty());
  CHECK(newest(100, 2) == Versions{10, 9});

  CHECK(oldest(std::nullopt, 100) == sequence(1, 10));
  CHECK(oldest(std::nullopt, 4) == Versions{1, 2, 3, 4});
  CHECK(oldest(4, 4) == Versions{5, 6, 7, 8});
  CHECK(oldest(8, 4) == Versions{9, 10});
  CHECK(oldest(10, 4).empty());

  SECTION("oldest first ignores before_version") {
    HistoryQuery query;
    query.oldest_first = true;
    query.before_version = 3;
    query.limit = 2;
    CHECK(versions_of(store->history(key, query)) == Versions{1, 2});
  }

  SECTION("a cursor walks the whole history once") {
    Versions seen;
    std::optional<std::uint64_t> cursor;
    for (int page = 0; page < 10; ++page) {
      const auto chunk = newest(cursor, 3);
      if (chunk.empty()) {
        break;
      }
      seen.insert(seen.end(), chunk.begin(), chunk.end());
      cursor = chunk.back();
    }
    CHECK(seen == sequence(10, 1));
  }

  SECTION("since and until bound updated_at, inclusive") {
    HistoryQuery query;
    query.since = at(3000);
    query.until = at(6000);
    CHECK(versions_of(store->history(key, query)) == Versions{6, 5, 4, 3});
    query.limit = 2;
    CHECK(versions_of(store->history(key, query)) == Versions{6, 5});
    query.before_version = 5;
    CHECK(versions_of(store->history(key, query)) == Versions{4, 3});

    HistoryQuery forward;
    forward.oldest_first = true;
    forward.since = at(3000);
    forward.until = at(6000);
    CHECK(versions_of(store->history(key, forward)) == Versions{3, 4, 5, 6});
    forward.after_version = 4;
    CHECK(versions_of(store->history(key, forward)) == Versions{5, 6});

    HistoryQuery since_only;
    since_only.since = at(8500);
    CHECK(versions_of(store->history(key, since_only)) == Versions{10, 9});
    HistoryQuery until_only;
    until_only.until = at(1999);
    CHECK(versions_of(store->history(key, until_only)) == Versions{1});
    HistoryQuery inverted;
    inverted.since = at(6000);
    inverted.until = at(3000);
    CHECK(store->history(key, inverted).empty());
  }

  SECTION("history returns whole records") {
    HistoryQuery query;
    query.limit = 1;
    const auto records = store->history(key, query);
    REQUIRE(records.size() == 1);
    check_same(records[0], make_record("alice", "default", 10, at(10'000)));
  }
}

TEST_CASE("appending an existing version fails and writes nothing", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey alice{"alice", "default"};
  const ContextKey bob{"bob", "work"};
  append_versions(*store, "alice", "default", 2);
  const auto original = make_record("alice", "default", 2, at(2000));

  auto rival = make_record("alice", "default", 2, at(9000));
  rival.data = R"({"counter":"rival"})";
  rival.request_id = "req-rival";
  rival.hash = fake_hash("rival", "default", 2);

  SECTION("one record") { CHECK_FALSE(append_one(*store, rival)); }
  SECTION("the first record of a batch") {
    const auto newcomer = make_record("bob", "work", 1, at(9000));
    const std::vector<VersionRecord> batch{rival, newcomer};
    CHECK_FALSE(store->append(batch, {}));
    // Nothing of a failed batch is written when its first record clashes.
    CHECK_FALSE(store->head(bob).has_value());
  }
  SECTION("the second record of a batch") {
    const auto newcomer = make_record("bob", "work", 1, at(9000));
    const std::vector<VersionRecord> batch{newcomer, rival};
    const std::vector<AuditRecord> audit{make_audit("bob", "work", "merge", at(9000), "1")};
    CHECK_FALSE(store->append(batch, audit));
    if (store->supports_atomic_batches()) {
      CHECK_FALSE(store->head(bob).has_value());
      CHECK(names_of(store->contexts()) == std::vector<std::string>{"alice/default"});
    }
  }

  check_same(store->version(alice, 2), original);
  check_same(store->version(alice, 1), make_record("alice", "default", 1, at(1000)));
  CHECK(store->history(alice, {}).size() == 2);
  CHECK_FALSE(store->find_idempotency_key(alice, "never-used").has_value());

  // The store stays usable after a failed append.
  CHECK(append_one(*store, make_record("alice", "default", 3, at(3000))));
  CHECK(number(store->head(alice)) == 3);
}

TEST_CASE("an append that does not follow the stored head fails and writes nothing", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey alice{"alice", "default"};
  append_versions(*store, "alice", "default", 2);

  // Built on a version 2 that is not the stored one.
  auto forked = make_record("alice", "default", 3, at(3000));
  forked.prev_hash = fake_hash("someone-else", "default", 2);
  CHECK_FALSE(append_one(*store, forked));
  CHECK(number(store->head(alice)) == 2);

  // Built on a head that was erased meanwhile: no orphan version 3.
  const auto hint = store->head_hint(alice);
  if (hint) {
    check_same(hint, make_record("alice", "default", 2, at(2000)));
  }
  REQUIRE(store->erase("alice", std::nullopt) == 2);
  CHECK_FALSE(store->head_hint(alice).has_value());
  CHECK_FALSE(append_one(*store, make_record("alice", "default", 3, at(3000))));
  CHECK_FALSE(store->head(alice).has_value());
  CHECK(store->contexts().empty());

  // A batch whose second context does not follow writes nothing there.
  append_versions(*store, "bob", "work", 1);
  const std::vector<VersionRecord> batch{make_record("bob", "work", 2, at(5000)),
                                         make_record("alice", "default", 5, at(5000))};
  CHECK_FALSE(store->append(batch, {}));
  CHECK_FALSE(store->head(alice).has_value());
  if (store->supports_atomic_batches()) {
    CHECK(number(store->head({"bob", "work"})) == 1);
  }

  // The context starts again at version 1, and grows from there.
  append_versions(*store, "alice", "default", 3);
  CHECK(number(store->head(alice)) == 3);
  CHECK(versions_of(store->history(alice, {})) == Versions{3, 2, 1});
}

TEST_CASE("one append can write to two contexts", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  append_versions(*store, "alice", "default", 1);

  const std::vector<VersionRecord> batch{make_record("alice", "default", 2, at(5000)),
                                         make_record("bob", "work", 1, at(5000))};
  const std::vector<AuditRecord> audit{make_audit("alice", "default", "import", at(5000), "2"),
                                       make_audit("bob", "work", "import", at(5001), "1")};
  REQUIRE(store->append(batch, audit));

  check_same(store->head({"alice", "default"}), batch[0]);
  check_same(store->head({"bob", "work"}), batch[1]);
  const auto log = store->audit_log({});
  REQUIRE(log.size() == 3);
  check_same(log[0], audit[1]);
  check_same(log[1], audit[0]);
}

TEST_CASE("a store finds the version that recorded an idempotency key", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey key{"alice", "default"};
  CHECK_FALSE(store->find_idempotency_key(key, "k-1").has_value());

  auto first = make_record("alice", "default", 1, at(1000));
  first.idempotency_key = "k-1";
  const auto second = make_record("alice", "default", 2, at(2000)); // no key
  auto third = make_record("alice", "default", 3, at(3000));
  third.idempotency_key = "9f1c2d7e-3b4a-4c5d-8e6f-a1b2c3d4e5f6";
  for (const auto& record : {first, second, third}) {
    REQUIRE(append_one(*store, record));
  }
  auto other = make_record("alice", "work", 1, at(4000));
  other.idempotency_key = "k-other";
  REQUIRE(append_one(*store, other));

  check_same(store->find_idempotency_key(key, "k-1"), first);
  check_same(store->find_idempotency_key(key, "9f1c2d7e-3b4a-4c5d-8e6f-a1b2c3d4e5f6"), third);
  CHECK_FALSE(store->find_idempotency_key(key, "k-2").has_value());
  CHECK_FALSE(store->find_idempotency_key(key, "K-1").has_value());
  // Keys belong to their context.
  CHECK_FALSE(store->find_idempotency_key(key, "k-other").has_value());
  CHECK_FALSE(store->find_idempotency_key({"bob", "default"}, "k-1").has_value());
  check_same(store->find_idempotency_key({"alice", "work"}, "k-other"), other);
  // An empty key means "none given": it finds nothing, not version 2.
  CHECK_FALSE(store->find_idempotency_key(key, "").has_value());
}

TEST_CASE("erase removes one namespace or a whole user", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  append_versions(*store, "alice", "default", 3);
  append_versions(*store, "alice", "work", 2);
  append_versions(*store, "alice2", "work", 1); // shares a prefix with alice
  append_versions(*store, "bob", "work", 4);

  CHECK(store->erase("alice", "work") == 2);
  CHECK_FALSE(store->head({"alice", "work"}).has_value());
  CHECK(store->history({"alice", "work"}, {}).empty());
  CHECK(names_of(store->contexts("alice")) == std::vector<std::string>{"alice/default"});
  CHECK(number(store->head({"alice", "default"})) == 3);
  CHECK(store->erase("alice", "work") == 0);
  CHECK(store->erase("alice", "missing") == 0);

  CHECK(store->erase("alice", std::nullopt) == 3);
  CHECK_FALSE(store->head({"alice", "default"}).has_value());
  CHECK(store->contexts("alice").empty());
  CHECK(store->erase("alice", std::nullopt) == 0);
  CHECK(store->erase("nobody", std::nullopt) == 0);

  CHECK(names_of(store->contexts()) == std::vector<std::string>{"alice2/work", "bob/work"});
  check_same(store->head({"alice2", "work"}), make_record("alice2", "work", 1, at(1000)));
  CHECK(versions_of(store->history({"bob", "work"}, {})) == Versions{4, 3, 2, 1});

  // An erased context can start again at version 1.
  REQUIRE(append_one(*store, make_record("alice", "work", 1, at(90'000))));
  CHECK(number(store->head({"alice", "work"})) == 1);
}

TEST_CASE("a store lists its contexts sorted", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  CHECK(store->contexts().empty());

  std::vector<ContextKey> keys{{"bob", "default"}, {"alice", "work"},   {"alice", "default"}, {"Carol", "default"},
                               {"alice2", "a"},    {"alice", "work-2"}, {"alice", "Work"},    {"user_42", "agent.x"}};
  std::uint64_t count = 1;
  for (const auto& key : keys) {
    append_versions(*store, key.user_id, key.ns, count % 3 + 1);
    ++count;
  }
  std::sort(keys.begin(), keys.end());

  CHECK(names_of(store->contexts()) == names_of(keys));
  CHECK(names_of(store->contexts("alice")) ==
        std::vector<std::string>{"alice/Work", "alice/default", "alice/work", "alice/work-2"});
  CHECK(names_of(store->contexts("Carol")) == std::vector<std::string>{"Carol/default"});
  CHECK(store->contexts("carol").empty());
  CHECK(store->contexts("nobody").empty());
}

TEST_CASE("a store keeps and queries audit records", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  CHECK(store->audit_log({}).empty());

  std::vector<AuditRecord> written{
      make_audit("alice", "default", "get", at(1000), "1"),      make_audit("bob", "work", "merge", at(2000), "3"),
      make_audit("alice", "work", "history", at(3000)),          make_audit("", "", "retention", at(4000)),
      make_audit("alice", "default", "rollback", at(5000), "2"), make_audit("bob", "default", "get", at(6000)),
  };
  written[3].detail = "kept 10 of 12 versions — “quotes” too";
  written[5].outcome = "not_found";
  written[5].detail = "no such context";
  for (std::size_t i = 0; i < written.size(); ++i) {
    store->append_audit(written[i], i % 2 == 0);
  }
  const auto merged = make_record("alice", "default", 1, at(7000));
  const AuditRecord merge_audit = make_audit("alice", "default", "merge", at(7000), "1");
  REQUIRE(store->append({&merged, 1}, {&merge_audit, 1}));
  written.push_back(merge_audit);

  const auto log = store->audit_log({});
  REQUIRE(log.size() == written.size());
  for (std::size_t i = 0; i < log.size(); ++i) {
    check_same(log[i], written[written.size() - 1 - i]);
    if (i > 0) {
      CHECK(log[i].seq < log[i - 1].seq);
    }
  }
  CHECK(log.back().seq > 0);

  auto ids = [&](const AuditQuery& query) { return request_ids_of(store->audit_log(query)); };
  auto ids_of = [&](std::initializer_list<std::size_t> indexes) {
    std::vector<std::string> out;
    for (const auto i : indexes) {
      out.push_back(written[i].request_id);
    }
    return out;
  };

  SECTION("filters") {
    AuditQuery by_user;
    by_user.user_id = "alice";
    CHECK(ids(by_user) == ids_of({6, 4, 2, 0}));
    AuditQuery by_ns;
    by_ns.ns = "default";
    CHECK(ids(by_ns) == ids_of({6, 5, 4, 0}));
    AuditQuery by_both;
    by_both.user_id = "alice";
    by_both.ns = "default";
    CHECK(ids(by_both) == ids_of({6, 4, 0}));
    AuditQuery by_time;
    by_time.since = at(2000);
    by_time.until = at(5000);
    CHECK(ids(by_time) == ids_of({4, 3, 2, 1}));
    by_time.user_id = "bob";
    CHECK(ids(by_time) == ids_of({1}));
    AuditQuery nobody;
    nobody.user_id = "nobody";
    CHECK(ids(nobody).empty());
    AuditQuery limited;
    limited.limit = 2;
    CHECK(ids(limited) == ids_of({6, 5}));
  }

  SECTION("a cursor pages through the log") {
    std::vector<std::string> seen;
    AuditQuery query;
    query.limit = 3;
    for (int page = 0; page < 10; ++page) {
      const auto chunk = store->audit_log(query);
      if (chunk.empty()) {
        break;
      }
      for (const auto& record : chunk) {
        seen.push_back(record.request_id);
      }
      query.before_seq = chunk.back().seq;
    }
    CHECK(seen == ids_of({6, 5, 4, 3, 2, 1, 0}));

    AuditQuery alice_page;
    alice_page.user_id = "alice";
    alice_page.limit = 2;
    alice_page.before_seq = log[1].seq; // seq of written[5]
    CHECK(ids(alice_page) == ids_of({4, 2}));
  }

  SECTION("new records get higher seq") {
    const auto later = make_audit("carol", "default", "get", at(100));
    store->append_audit(later, false);
    const auto now_log = store->audit_log({});
    REQUIRE(now_log.size() == written.size() + 1);
    check_same(now_log[0], later);
    CHECK(now_log[0].seq > log[0].seq);
  }
}

TEST_CASE("a store keeps everything across reopening", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto expected = make_record("alice", "default", 2, at(2000));
  expected.tags = {"a", "b"};
  expected.idempotency_key = "idem";
  expected.rollback_of = 1;
  const auto durable_audit = make_audit("alice", "default", "delete", at(3000));
  const auto read_audit = make_audit("alice", "default", "get", at(4000), "2");
  {
    auto store = open(backend, dir);
    append_versions(*store, "alice", "default", 1);
    REQUIRE(append_one(*store, expected));
    append_versions(*store, "bob", "work", 3);
    store->append_audit(durable_audit, true);
    store->append_audit(read_audit, false);
  }
  auto store = open(backend, dir);
  check_same(store->head({"alice", "default"}), expected);
  check_same(store->find_idempotency_key({"alice", "default"}, "idem"), expected);
  CHECK(versions_of(store->history({"bob", "work"}, {})) == Versions{3, 2, 1});
  CHECK(names_of(store->contexts()) == std::vector<std::string>{"alice/default", "bob/work"});
  const auto log = store->audit_log({});
  REQUIRE(log.size() == 7);
  check_same(log[0], read_audit);
  check_same(log[1], durable_audit);
  REQUIRE(append_one(*store, make_record("bob", "work", 4, at(9000))));
}

TEST_CASE("store objects on one directory see each other's writes", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto first = open(backend, dir);
  auto second = open(backend, dir);
  const ContextKey key{"alice", "default"};
  append_versions(*first, "alice", "default", 1);
  check_same(second->head(key), make_record("alice", "default", 1, at(1000)));

  const auto next = make_record("alice", "default", 2, at(2000));
  REQUIRE(append_one(*second, next));
  auto rival = next;
  rival.data = R"({"counter":"rival"})";
  CHECK_FALSE(append_one(*first, rival));
  check_same(first->head(key), next);
  CHECK(first->audit_log({}).size() == second->audit_log({}).size());
}

TEST_CASE("racing writers each win distinct versions", "[store][conformance]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  constexpr std::uint64_t k_total = 24;
  constexpr std::size_t k_writers = 4;
  const ContextKey key{"alice", "default"};
  open(backend, dir).reset(); // create the store before the race

  std::vector<std::vector<std::uint64_t>> won(k_writers);
  std::vector<std::exception_ptr> failures(k_writers);
  std::atomic<std::size_t> audits{0};
  std::vector<std::thread> writers;
  for (std::size_t w = 0; w < k_writers; ++w) {
    writers.emplace_back([&, w] {
      try {
        auto store = open(backend, dir);
        for (;;) {
          const auto head = store->head(key);
          const std::uint64_t next = head ? head->version + 1 : 1;
          if (next > k_total) {
            return;
          }
          auto record = make_record("alice", "default", next, at(static_cast<std::int64_t>(next)));
          record.actor = "writer-" + std::to_string(w);
          // No audit with the version: what a failed append does with it is unspecified.
          if (store->append({&record, 1}, {})) {
            won[w].push_back(next);
          }
          store->append_audit(make_audit("alice", "default", "get", at(0)), false);
          ++audits;
        }
      } catch (...) {
        failures[w] = std::current_exception();
      }
    });
  }
  join_all(writers, failures);

  std::multiset<std::uint64_t> all;
  for (const auto& versions : won) {
    all.insert(versions.begin(), versions.end());
  }
  CHECK(Versions(all.begin(), all.end()) == sequence(1, k_total));

  auto store = open(backend, dir);
  HistoryQuery query;
  query.oldest_first = true;
  query.limit = 1000;
  const auto history = store->history(key, query);
  CHECK(versions_of(history) == sequence(1, k_total));
  for (std::size_t w = 0; w < k_writers; ++w) {
    for (const auto v : won[w]) {
      const auto record = store->version(key, v);
      CHECK((record && record->actor == "writer-" + std::to_string(w)));
    }
  }

  // Every audit record kept once, under its own seq.
  AuditQuery audit_query;
  audit_query.limit = 100'000;
  const auto log = store->audit_log(audit_query);
  std::set<std::uint64_t> seqs;
  for (const auto& record : log) {
    seqs.insert(record.seq);
  }
  CHECK(seqs.size() == log.size());
  CHECK(log.size() == audits.load());
}

TEST_CASE("a store keeps sealed versions and salts byte for byte", "[store][conformance][keys]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  const ContextKey key{"alice", "default"};
  auto salted = make_record("alice", "default", 1, at(1000));
  salted.salt = "5f0c2a9be1d34478a0c1f2e3d4b5a697";
  auto sealed = make_sealed("alice", "default", 2, at(2000));
  sealed.idempotency_key = "idem-sealed";
  auto resealed = make_sealed("alice", "default", 3, at(3000), "2");
  resealed.rollback_of = 1;
  {
    auto store = open(backend, dir);
    REQUIRE(store->add_data_key(make_key("alice", 1)));
    REQUIRE(store->add_data_key(make_key("alice", 2)));
    for (const auto& record : {salted, sealed, resealed}) {
      REQUIRE(append_one(*store, record));
    }
    check_same(store->head(key), resealed);
    check_same(store->version(key, 1), salted);
    check_same(store->version(key, 2), sealed);
    check_same(store->version_at(key, at(2500)), sealed);
    check_same(store->find_idempotency_key(key, "idem-sealed"), sealed);
    const auto all = store->history(key, {});
    REQUIRE(all.size() == 3);
    check_same(all[0], resealed);
    check_same(all[1], sealed);
    check_same(all[2], salted);
  }
  auto store = open(backend, dir);
  check_same(store->head(key), resealed);
  check_same(store->version(key, 2), sealed);
  check_same(store->version(key, 1), salted);
}

TEST_CASE("a store keeps data keys sorted by user and generation", "[store][conformance][keys]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  CHECK(store->data_keys(std::nullopt).empty());
  CHECK(store->data_keys("alice").empty());

  // Out of order, and generations 9 and 10 sort as numbers.
  const std::vector<DataKeyRecord> added{make_key("bob", 1, at(10)),    make_key("alice", 10, at(20)),
                                         make_key("alice2", 1, at(30)), make_key("alice", 9, at(40)),
                                         make_key("Carol", 3, at(50)),  make_key("alice", 1, at(60))};
  for (const auto& key : added) {
    REQUIRE(store->add_data_key(key));
  }
  const auto all = store->data_keys(std::nullopt);
  CHECK(key_names_of(all) ==
        std::vector<std::string>{"Carol/3", "alice/1", "alice/9", "alice/10", "alice2/1", "bob/1"});
  for (const auto& key : added) {
    CHECK(std::count(all.begin(), all.end(), key) == 1);
  }
  CHECK(store->data_keys("alice") == std::vector<DataKeyRecord>{added[5], added[3], added[1]});
  CHECK(store->data_keys("bob") == std::vector<DataKeyRecord>{added[0]});
  CHECK(store->data_keys("carol").empty());
  CHECK(store->data_keys("nobody").empty());

  // A generation the user has already: the first writer's key stays.
  auto rival = make_key("alice", 9, at(99));
  rival.wrapped = "cml2YWw=";
  rival.master_key_id = "master-2";
  CHECK_FALSE(store->add_data_key(rival));
  CHECK(store->data_keys("alice") == std::vector<DataKeyRecord>{added[5], added[3], added[1]});
  // Another user may have the same generation.
  CHECK(store->add_data_key(make_key("bob", 9)));
}

TEST_CASE("rewrapping a data key replaces it only if it is still as expected", "[store][conformance][keys]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const auto original = make_key("alice", 1, at(5));
  REQUIRE(store->add_data_key(original));
  REQUIRE(store->add_data_key(make_key("alice", 2)));
  REQUIRE(store->add_data_key(make_key("bob", 1)));

  auto rewrapped = original;
  rewrapped.master_key_id = "master-2";
  rewrapped.wrapped = "bmV3bHkgd3JhcHBlZA==";
  rewrapped.created_at = at(999); // ignored: a rewrap keeps when the key was made
  CHECK(store->rewrap_data_key(rewrapped, original.wrapped));
  auto expected = original;
  expected.master_key_id = "master-2";
  expected.wrapped = rewrapped.wrapped;
  CHECK(store->data_keys("alice") == std::vector<DataKeyRecord>{expected, make_key("alice", 2)});

  // Someone else rewrapped it meanwhile: the stale expectation fails.
  auto late = original;
  late.master_key_id = "master-3";
  late.wrapped = "bGF0ZQ==";
  CHECK_FALSE(store->rewrap_data_key(late, original.wrapped));
  CHECK(store->data_keys("alice").front() == expected);

  // No such key.
  CHECK_FALSE(store->rewrap_data_key(make_key("alice", 3), make_key("alice", 3).wrapped));
  CHECK_FALSE(store->rewrap_data_key(make_key("nobody", 1), make_key("nobody", 1).wrapped));
  CHECK(store->data_keys("bob") == std::vector<DataKeyRecord>{make_key("bob", 1)});

  // Rewrapped keys survive reopening.
  store.reset();
  store = open(backend, dir);
  CHECK(store->data_keys("alice") == std::vector<DataKeyRecord>{expected, make_key("alice", 2)});
}

TEST_CASE("an append sealed with a data key its user lacks fails and writes nothing", "[store][conformance][keys]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey key{"alice", "default"};
  REQUIRE(store->add_data_key(make_key("bob", 2)));

  CHECK_FALSE(append_one(*store, make_sealed("alice", "default", 1, at(1000), "1")));
  CHECK_FALSE(append_one(*store, make_sealed("alice", "default", 1, at(1000), "2"))); // bob's, not alice's
  REQUIRE(store->add_data_key(make_key("alice", 1)));
  // Only canonical decimal names a generation.
  for (const std::string key_id : {"2", "01", "+1", "1 ", "one", "0", "18446744073709551617"}) {
    CAPTURE(key_id);
    CHECK_FALSE(append_one(*store, make_sealed("alice", "default", 1, at(1000), key_id)));
  }
  // A batch with one such record fails as a whole.
  const std::vector<VersionRecord> batch{make_record("carol", "default", 1, at(1000)),
                                         make_sealed("alice", "default", 1, at(1000), "2")};
  const AuditRecord audit = make_audit("alice", "default", "import", at(1000));
  CHECK_FALSE(store->append(batch, {&audit, 1}));
  CHECK_FALSE(store->head(key).has_value());
  CHECK(store->contexts().empty());
  CHECK(store->audit_log({}).empty());

  const auto sealed = make_sealed("alice", "default", 1, at(1000), "1");
  REQUIRE(append_one(*store, sealed));
  check_same(store->head(key), sealed);
  REQUIRE(store->add_data_key(make_key("alice", 2)));
  const std::vector<VersionRecord> next{make_sealed("alice", "default", 2, at(2000), "2"),
                                        make_record("carol", "default", 1, at(2000))};
  CHECK(store->append(next, {&audit, 1}));
  CHECK(names_of(store->contexts()) == std::vector<std::string>{"alice/default", "carol/default"});
  CHECK(number(store->head(key)) == 2);
}

TEST_CASE("erasing a user destroys its data keys; erasing a namespace keeps them", "[store][conformance][keys]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  for (const auto& key : {make_key("alice", 1), make_key("alice", 2), make_key("alice2", 1), make_key("bob", 1)}) {
    REQUIRE(store->add_data_key(key));
  }
  REQUIRE(append_one(*store, make_sealed("alice", "default", 1, at(1000), "1")));
  REQUIRE(append_one(*store, make_sealed("alice", "work", 1, at(1000), "2")));
  REQUIRE(append_one(*store, make_sealed("bob", "default", 1, at(1000), "1")));

  CHECK(store->erase("alice", "work") == 1);
  CHECK(key_names_of(store->data_keys("alice")) == std::vector<std::string>{"alice/1", "alice/2"});
  CHECK(store->erase("alice", "missing") == 0);
  CHECK(store->data_keys("alice").size() == 2);

  CHECK(store->erase("alice", std::nullopt) == 1);
  CHECK(store->data_keys("alice").empty());
  CHECK(key_names_of(store->data_keys(std::nullopt)) == std::vector<std::string>{"alice2/1", "bob/1"});
  check_same(store->head({"bob", "default"}), make_sealed("bob", "default", 1, at(1000), "1"));
  // Nothing may be sealed with a destroyed key.
  CHECK_FALSE(append_one(*store, make_sealed("alice", "default", 1, at(2000), "1")));
  CHECK_FALSE(store->rewrap_data_key(make_key("alice", 1), make_key("alice", 1).wrapped));

  // A user with keys and no versions left: the keys still go.
  REQUIRE(store->add_data_key(make_key("alice", 1)));
  CHECK(store->erase("alice", std::nullopt) == 0);
  CHECK(store->data_keys("alice").empty());

  // Gone for good: not back after reopening.
  store.reset();
  store = open(backend, dir);
  CHECK(key_names_of(store->data_keys(std::nullopt)) == std::vector<std::string>{"alice2/1", "bob/1"});
  CHECK(store->contexts("alice").empty());
}

TEST_CASE("data keys survive reopening", "[store][conformance][keys]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  const std::vector<DataKeyRecord> keys{make_key("alice", 1, at(1)), make_key("alice", 2, at(2)),
                                        make_key("bob", 1, at(3))};
  {
    auto store = open(backend, dir);
    for (const auto& key : keys) {
      REQUIRE(store->add_data_key(key));
    }
  }
  auto store = open(backend, dir);
  CHECK(store->data_keys(std::nullopt) == keys);
  // Still the lock on a generation, and still what sealed appends check.
  CHECK_FALSE(store->add_data_key(make_key("alice", 2, at(9))));
  CHECK(append_one(*store, make_sealed("alice", "default", 1, at(1000), "2")));
}

TEST_CASE("racing writers of one data key generation: exactly one wins", "[store][conformance][keys]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  constexpr std::size_t k_writers = 4;
  open(backend, dir).reset(); // create the store before the race
  std::vector<int> won(k_writers, 0);
  std::vector<std::exception_ptr> failures(k_writers);
  std::vector<std::thread> writers;
  for (std::size_t w = 0; w < k_writers; ++w) {
    writers.emplace_back([&, w] {
      try {
        auto store = open(backend, dir);
        for (std::uint64_t generation = 1; generation <= 5; ++generation) {
          auto key = make_key("alice", generation);
          key.wrapped = "writer-" + std::to_string(w);
          won[w] += store->add_data_key(key) ? 1 : 0;
        }
      } catch (...) {
        failures[w] = std::current_exception();
      }
    });
  }
  join_all(writers, failures);
  int total = 0;
  for (const int count : won) {
    total += count;
  }
  CHECK(total == 5);
  const auto keys = open(backend, dir)->data_keys("alice");
  REQUIRE(keys.size() == 5);
  for (const auto& key : keys) {
    CHECK(key.wrapped.starts_with("writer-"));
  }
}

TEST_CASE("pruning replaces a range of versions by a gap record", "[store][conformance][retention]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey key{"alice", "default"};
  append_versions(*store, "alice", "default", 8);
  append_versions(*store, "bob", "default", 3);

  const auto gap = make_gap("alice", "default", 3, 5, at(3000));
  CHECK(store->prune(gap) == 3);
  check_same(store->version(key, 3), gap);
  CHECK_FALSE(store->version(key, 4).has_value());
  CHECK_FALSE(store->version(key, 5).has_value());
  check_same(store->version(key, 6), make_record("alice", "default", 6, at(6000)));
  check_same(store->head(key), make_record("alice", "default", 8, at(8000)));
  CHECK(spans_of(store->history(key, {})) == Spans{"8", "7", "6", "3-5", "2", "1"});
  HistoryQuery oldest_first;
  oldest_first.oldest_first = true;
  CHECK(spans_of(store->history(key, oldest_first)) == Spans{"1", "2", "3-5", "6", "7", "8"});
  // The gap takes the first removed version's time: what was current then is gone.
  check_same(store->version_at(key, at(4500)), gap);
  check_same(store->version_at(key, at(2500)), make_record("alice", "default", 2, at(2000)));
  CHECK(versions_of(store->history({"bob", "default"}, {})) == Versions{3, 2, 1});
  // A writer that last saw version 2 or 4 cannot append into the gap.
  CHECK_FALSE(append_one(*store, make_record("alice", "default", 3, at(3000))));
  CHECK_FALSE(append_one(*store, make_record("alice", "default", 5, at(5000))));
  CHECK(spans_of(store->history(key, {})) == Spans{"8", "7", "6", "3-5", "2", "1"});

  SECTION("a later gap swallows an adjacent one") {
    const auto wider = make_gap("alice", "default", 3, 7, at(3000));
    CHECK(store->prune(wider) == 3);
    CHECK(spans_of(store->history(key, {})) == Spans{"8", "3-7", "2", "1"});
    CHECK_FALSE(store->version(key, 7).has_value());
    check_same(store->version(key, 3), wider);
  }
  SECTION("a gap swallows an adjacent later one") {
    const auto wider = make_gap("alice", "default", 2, 5, at(2000));
    CHECK(store->prune(wider) == 2);
    CHECK(spans_of(store->history(key, {})) == Spans{"8", "7", "6", "2-5", "1"});
    CHECK_FALSE(store->version(key, 3).has_value());
    check_same(store->version(key, 2), wider);
  }
  SECTION("a narrower gap never replaces a wider one") {
    const auto wider = make_gap("alice", "default", 3, 7, at(3000));
    CHECK(store->prune(wider) == 3);
    CHECK(store->prune(gap) == 0);
    check_same(store->version(key, 3), wider);
    CHECK(spans_of(store->history(key, {})) == Spans{"8", "3-7", "2", "1"});
  }
  SECTION("pruning again what is gone changes nothing") {
    store->prune(gap);
    CHECK(spans_of(store->history(key, {})) == Spans{"8", "7", "6", "3-5", "2", "1"});
  }
  SECTION("the context goes on after its head") {
    REQUIRE(append_one(*store, make_record("alice", "default", 9, at(9000))));
    CHECK(number(store->head(key)) == 9);
  }
  SECTION("gaps survive reopening") {
    store.reset();
    store = open(backend, dir);
    check_same(store->version(key, 3), gap);
    CHECK(spans_of(store->history(key, {})) == Spans{"8", "7", "6", "3-5", "2", "1"});
  }
  SECTION("erasing removes gaps with the versions") {
    CHECK(store->erase("alice", "default") == 6);
    CHECK(store->history(key, {}).empty());
  }
}

TEST_CASE("a pruned history can be appended, gaps and all", "[store][conformance][retention]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey key{"alice", "default"};
  const auto first_gap = make_gap("alice", "default", 1, 4, at(1000));
  const auto fifth = make_record("alice", "default", 5, at(5000));
  const auto second_gap = make_gap("alice", "default", 6, 7, at(6000));
  const auto eighth = make_record("alice", "default", 8, at(8000));

  SECTION("in one append") {
    const std::vector<VersionRecord> records{first_gap, fifth, second_gap, eighth};
    REQUIRE(store->append(records, {}));
  }
  SECTION("one record at a time") {
    for (const auto& record : {first_gap, fifth, second_gap, eighth}) {
      REQUIRE(store->append({&record, 1}, {}));
    }
  }
  CHECK(spans_of(store->history(key, {})) == Spans{"8", "6-7", "5", "1-4"});
  check_same(store->version(key, 6), second_gap);
  CHECK_FALSE(store->version(key, 7).has_value());
  check_same(store->head(key), eighth);
}

TEST_CASE("a gap that does not follow the stored head is refused", "[store][conformance][retention]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey key{"alice", "default"};
  append_versions(*store, "alice", "default", 2);
  // Versions 2..4 as a gap: version 2 exists already.
  CHECK_FALSE(append_one(*store, make_gap("alice", "default", 2, 4, at(2000))));
  // Versions 4..5: version 3 is missing.
  CHECK_FALSE(append_one(*store, make_gap("alice", "default", 4, 5, at(4000))));
  auto wrong_link = make_gap("alice", "default", 3, 5, at(3000));
  wrong_link.prev_hash = fake_hash("alice", "default", 1);
  CHECK_FALSE(append_one(*store, wrong_link));
  CHECK(versions_of(store->history(key, {})) == Versions{2, 1});
  REQUIRE(append_one(*store, make_gap("alice", "default", 3, 5, at(3000))));
  // The gap's last version is the one a next version follows.
  CHECK_FALSE(append_one(*store, make_record("alice", "default", 4, at(4000))));
  REQUIRE(append_one(*store, make_record("alice", "default", 6, at(6000))));
  CHECK(spans_of(store->history(key, {})) == Spans{"6", "3-5", "2", "1"});
}

TEST_CASE("audit retention removes the oldest records and keeps the others' seq", "[store][conformance][retention]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  std::vector<AuditRecord> written;
  for (int i = 0; i < 6; ++i) {
    written.push_back(make_audit(i % 2 == 0 ? "alice" : "bob", "default", "merge", at(i * 1000)));
    store->append_audit(written.back(), i % 3 == 0);
  }
  const auto before = store->audit_log({});
  REQUIRE(before.size() == 6);
  CHECK(store->prune_audit(0) == 0);
  // Through the third oldest record.
  CHECK(store->prune_audit(before[3].seq) == 3);
  const auto after = store->audit_log({});
  REQUIRE(after.size() == 3);
  for (std::size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].seq == before[i].seq);
    CHECK(after[i].hash == before[i].hash);
    check_same(after[i], written[5 - i]);
  }
  AuditQuery alice;
  alice.user_id = "alice";
  CHECK(request_ids_of(store->audit_log(alice)) == std::vector<std::string>{written[4].request_id});
  CHECK(store->prune_audit(before[3].seq) == 0);

  const auto later = make_audit("carol", "default", "merge", at(9000));
  store->append_audit(later, true);
  auto log = store->audit_log({});
  REQUIRE(log.size() == 4);
  CHECK(log[0].seq > before[0].seq);
  CHECK(log[0].prev_hash == before[0].hash);

  store.reset();
  store = open(backend, dir);
  CHECK(request_ids_of(store->audit_log({})) == request_ids_of(log));
}

HookCursor make_cursor(const std::string& hook, const std::string& user, const std::string& ns,
                       std::uint64_t revision) {
  return HookCursor{hook, ContextKey{user, ns}, revision,
                    R"({"delivered":")" + std::to_string(revision) + R"(","note":"Zoë \"quoted\"\n"})"};
}

std::vector<std::string> cursor_names_of(const std::vector<HookCursor>& cursors) {
  std::vector<std::string> names;
  for (const auto& cursor : cursors) {
    names.push_back(cursor.hook + ":" + cursor.context.user_id + "/" + cursor.context.ns + "@" +
                    std::to_string(cursor.revision));
  }
  return names;
}

TEST_CASE("a store replaces a hook cursor only from the revision its writer read", "[store][conformance][hooks]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  const ContextKey key{"alice", "health"};
  CHECK_FALSE(store->hook_cursor("nudges", key).has_value());
  CHECK_FALSE(store->put_hook_cursor(make_cursor("nudges", "alice", "health", 2)));
  REQUIRE(store->put_hook_cursor(make_cursor("nudges", "alice", "health", 1)));
  CHECK_FALSE(store->put_hook_cursor(make_cursor("nudges", "alice", "health", 1)));
  CHECK_FALSE(store->put_hook_cursor(make_cursor("nudges", "alice", "health", 3)));
  REQUIRE(store->put_hook_cursor(make_cursor("nudges", "alice", "health", 2)));
  CHECK(store->hook_cursor("nudges", key) == make_cursor("nudges", "alice", "health", 2));
  // Another hook, and another context, have cursors of their own.
  CHECK_FALSE(store->hook_cursor("trend", key).has_value());
  CHECK_FALSE(store->hook_cursor("nudges", {"alice", "work"}).has_value());
  REQUIRE(store->put_hook_cursor(make_cursor("trend", "alice", "health", 1)));
  REQUIRE(store->put_hook_cursor(make_cursor("nudges", "alice2", "health", 1)));
  REQUIRE(store->put_hook_cursor(make_cursor("nudges", "alice", "work", 1)));
  REQUIRE(store->put_hook_cursor(make_cursor("nudges", "alice", "default", 1)));

  const std::vector<std::string> all{"nudges:alice/default@1", "nudges:alice/health@2", "nudges:alice/work@1",
                                     "nudges:alice2/health@1", "trend:alice/health@1"};
  CHECK(cursor_names_of(store->hook_cursors(std::nullopt)) == all);
  CHECK(cursor_names_of(store->hook_cursors("trend")) == std::vector<std::string>{"trend:alice/health@1"});
  CHECK(store->hook_cursors("nobody").empty());
  CHECK(store->hook_cursors(std::nullopt)[1] == make_cursor("nudges", "alice", "health", 2));

  store.reset();
  store = open(backend, dir);
  CHECK(cursor_names_of(store->hook_cursors(std::nullopt)) == all);
  CHECK(store->hook_cursor("nudges", key) == make_cursor("nudges", "alice", "health", 2));

  CHECK(store->remove_hook_cursors("nudges") == 4);
  CHECK(store->remove_hook_cursors("nudges") == 0);
  CHECK(cursor_names_of(store->hook_cursors(std::nullopt)) == std::vector<std::string>{"trend:alice/health@1"});
  // A removed cursor starts again at revision 1.
  CHECK_FALSE(store->put_hook_cursor(make_cursor("nudges", "alice", "health", 3)));
  REQUIRE(store->put_hook_cursor(make_cursor("nudges", "alice", "health", 1)));
}

TEST_CASE("erase removes the hook cursors of what it erases", "[store][conformance][hooks]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  auto store = open(backend, dir);
  append_versions(*store, "alice", "work", 2);
  append_versions(*store, "bob", "work", 1);
  for (const auto& [user, ns] : std::vector<std::pair<std::string, std::string>>{
           {"alice", "work"}, {"alice", "default"}, {"alice2", "work"}, {"bob", "work"}}) {
    // Cursors of contexts with no versions (erased, or never written) go too.
    REQUIRE(store->put_hook_cursor(make_cursor("nudges", user, ns, 1)));
    REQUIRE(store->put_hook_cursor(make_cursor("trend", user, ns, 1)));
  }
  CHECK(store->erase("alice", "work") == 2);
  CHECK(cursor_names_of(store->hook_cursors("nudges")) ==
        std::vector<std::string>{"nudges:alice/default@1", "nudges:alice2/work@1", "nudges:bob/work@1"});
  CHECK(store->erase("alice", std::nullopt) == 0);
  CHECK(
      cursor_names_of(store->hook_cursors(std::nullopt)) ==
      std::vector<std::string>{"nudges:alice2/work@1", "nudges:bob/work@1", "trend:alice2/work@1", "trend:bob/work@1"});
  // The erased context's cursor starts again at revision 1.
  REQUIRE(store->put_hook_cursor(make_cursor("nudges", "alice", "work", 1)));
}

TEST_CASE("racing writers of one hook cursor: each revision is won once", "[store][conformance][hooks]") {
  const std::string backend{GENERATE(from_range(store_variants()))};
  CAPTURE(backend);
  TempDir dir;
  constexpr std::size_t k_writers = 4;
  constexpr int k_increments = 8;
  open(backend, dir).reset(); // create the store before the race
  const ContextKey key{"alice", "health"};
  std::vector<std::exception_ptr> failures(k_writers);
  std::vector<std::thread> writers;
  for (std::size_t w = 0; w < k_writers; ++w) {
    writers.emplace_back([&, w] {
      try {
        auto store = open(backend, dir);
        for (int done = 0; done < k_increments;) {
          const auto seen = store->hook_cursor("counter", key);
          const std::uint64_t count = seen ? std::stoull(seen->state) : 0;
          HookCursor next{"counter", key, seen ? seen->revision + 1 : 1, std::to_string(count + 1)};
          done += store->put_hook_cursor(next) ? 1 : 0;
        }
      } catch (...) {
        failures[w] = std::current_exception();
      }
    });
  }
  join_all(writers, failures);
  const auto final_cursor = open(backend, dir)->hook_cursor("counter", key);
  REQUIRE(final_cursor.has_value());
  CHECK(final_cursor->revision == k_writers * k_increments);
  CHECK(final_cursor->state == std::to_string(k_writers * k_increments));
}

} // namespace zsimem
