#include "file_io.hpp"
#include "store/backends.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/error.hpp>
#include <zsimem/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using zsimem::AuditQuery;
using zsimem::AuditRecord;
using zsimem::ContextKey;
using zsimem::DataKeyRecord;
using zsimem::Error;
using zsimem::ErrorCode;
using zsimem::HistoryQuery;
using zsimem::MemoryStore;
using zsimem::Timestamp;
using zsimem::VersionRecord;
using zsimem::testing::TempDir;

namespace {

Timestamp at(std::int64_t seconds) { return Timestamp{std::chrono::seconds{1'800'000'000 + seconds}}; }

VersionRecord make_version(const std::string& user, const std::string& ns, std::uint64_t version) {
  VersionRecord record;
  record.user_id = user;
  record.ns = ns;
  record.version = version;
  record.updated_at = at(static_cast<std::int64_t>(version) * 10);
  record.data = R"({"n":)" + std::to_string(version) + "}";
  record.delta = record.data;
  record.actor = "tester";
  record.request_id = "req-" + std::to_string(version);
  record.derived_from = version - 1;
  return record;
}

AuditRecord make_audit(const std::string& user, const std::string& operation, std::int64_t seconds = 0) {
  AuditRecord record;
  record.time = at(seconds);
  record.request_id = "req";
  record.actor = "tester";
  record.operation = operation;
  record.user_id = user;
  record.ns = "default";
  record.outcome = "ok";
  return record;
}

bool append_one(MemoryStore& store, const VersionRecord& record) {
  return store.append(std::span<const VersionRecord>(&record, 1), {});
}

fs::path version_path(const fs::path& dir, const std::string& user, const std::string& ns, std::uint64_t version) {
  std::string digits = std::to_string(version);
  return dir / "contexts" / user / ns / (std::string(20 - digits.size(), '0') + digits + ".json");
}

void put(const fs::path& path, const std::string& text, bool append = false) {
  std::ofstream out(path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out << text;
}

std::string slurp(const fs::path& path) { return zsimem::file_io::read_file(path); }

fs::path key_path(const fs::path& dir, const std::string& user, std::uint64_t generation) {
  std::string digits = std::to_string(generation);
  return dir / "keys" / user / (std::string(20 - digits.size(), '0') + digits + ".json");
}

// Whether `text` occurs in any file under `dir`.
bool found_under(const fs::path& dir, const std::string& text) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && slurp(entry.path()).find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::size_t entries(const fs::path& dir) {
  return zsimem::file_io::list_dir(dir).value_or(std::vector<std::string>{}).size();
}

// Checks that `call` fails with Error{unavailable} naming `path`.
template <typename Call> void check_damaged(Call call, const fs::path& path) {
  try {
    call();
    FAIL("no error for " << path);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unavailable);
    CHECK_THAT(e.what(), Catch::Contains(path.string()));
    CHECK_THAT(e.what(), Catch::Contains("damaged version file"));
  }
}

// Runs `child` in a forked process and returns its exit status; the child
// never returns into the test runner.
template <typename Child> int run_in_child(Child child) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int status = 99;
    try {
      status = child();
    } catch (...) {
    }
    ::_exit(status);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

} // namespace

TEST_CASE("json store writes the documented layout", "[store][json]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path() / "data"});
  CHECK(store->backend_name() == "json");
  CHECK_FALSE(store->supports_atomic_batches());
  CHECK(slurp(dir.path() / "data" / "FORMAT") == "zsimem-json 1\n");

  std::vector<VersionRecord> records{make_version("alice", "default", 1)};
  std::vector<AuditRecord> audit{make_audit("alice", "merge")};
  REQUIRE(store->append(records, audit));
  fs::path file = version_path(dir.path() / "data", "alice", "default", 1);
  std::string text = slurp(file);
  CHECK(text.back() == '\n');
  CHECK(text.find("\n  ") != std::string::npos); // pretty-printed for people
  std::string log = slurp(dir.path() / "data" / "audit.jsonl");
  CHECK(std::count(log.begin(), log.end(), '\n') == 1);
  CHECK(entries(dir.path() / "data" / "tmp") == 0);

  auto head = store->head({"alice", "default"});
  REQUIRE(head);
  CHECK(head->version == 1);
  CHECK(head->data == records[0].data);
  CHECK(head->updated_at == records[0].updated_at);
}

TEST_CASE("json store refuses to replace an existing version", "[store][json]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  REQUIRE(append_one(*store, make_version("alice", "default", 1)));
  std::string before = slurp(version_path(dir.path(), "alice", "default", 1));
  VersionRecord other = make_version("alice", "default", 1);
  other.data = R"({"other":true})";
  std::vector<AuditRecord> audit{make_audit("alice", "merge")};
  CHECK_FALSE(store->append(std::span<const VersionRecord>(&other, 1), audit));
  CHECK(slurp(version_path(dir.path(), "alice", "default", 1)) == before);
  CHECK(store->audit_log({}).empty());
  CHECK(entries(dir.path() / "tmp") == 0);
}

TEST_CASE("json store reports a damaged version file by name and keeps other contexts usable", "[store][json]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  REQUIRE(append_one(*store, make_version("alice", "default", 1)));
  REQUIRE(append_one(*store, make_version("alice", "default", 2)));
  REQUIRE(append_one(*store, make_version("bob", "default", 1)));
  fs::path damaged = version_path(dir.path(), "alice", "default", 2);

  SECTION("truncated") {
    std::string text = slurp(damaged);
    put(damaged, text.substr(0, text.size() / 2));
  }
  SECTION("empty") { put(damaged, ""); }
  SECTION("garbage") { put(damaged, "\x01\xff not json at all"); }
  SECTION("valid JSON of the wrong shape") { put(damaged, R"({"hello":"world"})"); }

  check_damaged([&] { store->head({"alice", "default"}); }, damaged);
  check_damaged([&] { store->version({"alice", "default"}, 2); }, damaged);
  check_damaged([&] { store->history({"alice", "default"}, {}); }, damaged);
  auto first = store->version({"alice", "default"}, 1);
  REQUIRE(first);
  CHECK(first->version == 1);
  auto bob = store->head({"bob", "default"});
  REQUIRE(bob);
  CHECK(bob->user_id == "bob");
  CHECK(store->contexts().size() == 2);
}

TEST_CASE("json store rejects a version file whose contents disagree with its name", "[store][json]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  REQUIRE(append_one(*store, make_version("alice", "default", 1)));
  REQUIRE(append_one(*store, make_version("bob", "default", 1)));

  SECTION("another version number") {
    fs::path copy = version_path(dir.path(), "alice", "default", 2);
    fs::copy_file(version_path(dir.path(), "alice", "default", 1), copy);
    check_damaged([&] { store->head({"alice", "default"}); }, copy);
    check_damaged([&] { store->version({"alice", "default"}, 2); }, copy);
  }
  SECTION("another user") {
    fs::create_directories(dir.path() / "contexts" / "carol" / "default");
    fs::path copy = version_path(dir.path(), "carol", "default", 1);
    fs::copy_file(version_path(dir.path(), "bob", "default", 1), copy);
    check_damaged([&] { store->head({"carol", "default"}); }, copy);
  }
  SECTION("another namespace") {
    fs::create_directories(dir.path() / "contexts" / "alice" / "work");
    fs::path copy = version_path(dir.path(), "alice", "work", 1);
    fs::copy_file(version_path(dir.path(), "alice", "default", 1), copy);
    check_damaged([&] { store->version({"alice", "work"}, 1); }, copy);
  }
}

TEST_CASE("json store ignores leftover temp files and names outside its scheme", "[store][json]") {
  TempDir dir;
  {
    auto store = zsimem::store::make_json_store({"json", dir.path()});
    REQUIRE(append_one(*store, make_version("alice", "default", 1)));
  }
  fs::path ctx = dir.path() / "contexts" / "alice" / "default";
  put(ctx / "notes.txt", "hello");
  put(ctx / "00000000000000000002.json.tmp", "half");
  put(ctx / "2.json", "{}");
  put(ctx / "00000000000000000000.json", "{}");
  put(ctx / "0000000000000000000x.json", "{}");
  put(ctx / "99999999999999999999.json", "{}"); // beyond 2^64
  fs::create_directories(dir.path() / "contexts" / ".hidden" / "default");
  fs::create_directories(dir.path() / "contexts" / "bad..name" / "default");
  fs::create_directories(dir.path() / "contexts" / "alice" / "-dash");
  fs::create_directories(dir.path() / "contexts" / "empty" / "default");
  put(dir.path() / "contexts" / "stray-file", "x");
  put(dir.path() / "contexts" / "alice" / "stray-file", "x");
  put(dir.path() / "tmp" / "fresh.tmp", "x");
  put(dir.path() / "tmp" / "stale.tmp", "x");
  fs::create_directories(dir.path() / "tmp" / "erased.stale" / "default");
  timespec old_times[2] = {{::time(nullptr) - 7200, 0}, {::time(nullptr) - 7200, 0}};
  REQUIRE(::utimensat(AT_FDCWD, (dir.path() / "tmp" / "stale.tmp").c_str(), old_times, 0) == 0);
  REQUIRE(::utimensat(AT_FDCWD, (dir.path() / "tmp" / "erased.stale").c_str(), old_times, 0) == 0);

  auto store = zsimem::store::make_json_store({"json", dir.path()});
  CHECK(fs::exists(dir.path() / "tmp" / "fresh.tmp"));
  CHECK_FALSE(fs::exists(dir.path() / "tmp" / "stale.tmp"));
  CHECK_FALSE(fs::exists(dir.path() / "tmp" / "erased.stale"));

  auto head = store->head({"alice", "default"});
  REQUIRE(head);
  CHECK(head->version == 1);
  CHECK(store->history({"alice", "default"}, {}).size() == 1);
  CHECK(store->contexts() == std::vector<ContextKey>{{"alice", "default"}});
  CHECK(store->contexts("stray-file").empty());
  CHECK_FALSE(store->head({"..", "default"}).has_value());
  CHECK_FALSE(store->head({"alice", "../alice/default"}).has_value());
  CHECK(store->erase("..", std::nullopt) == 0);
  REQUIRE(append_one(*store, make_version("alice", "default", 2)));
  CHECK(store->head({"alice", "default"})->version == 2);
}

TEST_CASE("json store refuses names that could escape its directory", "[store][json]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  CHECK_THROWS_AS(append_one(*store, make_version("../x", "default", 1)), Error);
  CHECK_THROWS_AS(append_one(*store, make_version("alice", "a/b", 1)), Error);
  CHECK_THROWS_AS(append_one(*store, make_version("alice", "default", 0)), Error);
  CHECK(store->contexts().empty());
}

TEST_CASE("json store refuses a directory of an unknown format", "[store][json]") {
  TempDir dir;
  put(dir.path() / "FORMAT", "zsimem-json 2\n");
  try {
    zsimem::store::make_json_store({"json", dir.path()});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unavailable);
    CHECK_THAT(e.what(), Catch::Contains((dir.path() / "FORMAT").string()));
    CHECK_THAT(e.what(), Catch::Contains("zsimem-json 2"));
  }
  CHECK_FALSE(fs::exists(dir.path() / "contexts"));
}

TEST_CASE("json store skips a torn last audit line", "[store][json]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  store->append_audit(make_audit("alice", "get", 1), false);
  store->append_audit(make_audit("alice", "merge", 2), true);
  put(dir.path() / "audit.jsonl", R"({"operation":"torn","user_id":"ali)", true);

  auto log = store->audit_log({});
  REQUIRE(log.size() == 2);
  CHECK(log[0].operation == "merge");
  CHECK(log[1].operation == "get");
  CHECK(log[0].seq > log[1].seq);

  // The next append closes the torn line off and stays readable.
  store->append_audit(make_audit("alice", "history", 3), true);
  log = store->audit_log({});
  REQUIRE(log.size() == 3);
  CHECK(log[0].operation == "history");
  CHECK(log[1].operation == "merge");
  CHECK(log[0].seq > log[1].seq);
}

TEST_CASE("json store pages through a large audit log backwards", "[store][json]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  constexpr int k_records = 1500; // several read blocks
  for (int i = 0; i < k_records; ++i) {
    auto record = make_audit(i % 3 == 0 ? "alice" : "bob", "op" + std::to_string(i), i);
    record.detail = std::string(static_cast<std::size_t>(i % 200), 'x');
    store->append_audit(record, false);
  }

  std::vector<std::string> seen;
  AuditQuery query;
  query.limit = 97;
  std::uint64_t last_seq = UINT64_MAX;
  for (;;) {
    auto page = store->audit_log(query);
    if (page.empty()) {
      break;
    }
    for (const auto& record : page) {
      CHECK(record.seq < last_seq);
      last_seq = record.seq;
      seen.push_back(record.operation);
    }
    query.before_seq = page.back().seq;
  }
  REQUIRE(seen.size() == static_cast<std::size_t>(k_records));
  for (int i = 0; i < k_records; ++i) {
    CHECK(seen[static_cast<std::size_t>(k_records - 1 - i)] == "op" + std::to_string(i));
  }

  AuditQuery filtered;
  filtered.user_id = "alice";
  filtered.since = at(300);
  filtered.until = at(599);
  filtered.limit = 1000;
  auto alice = store->audit_log(filtered);
  CHECK(alice.size() == 100);
  for (const auto& record : alice) {
    CHECK(record.user_id == "alice");
  }

  // A cursor that points inside a line still includes that line.
  auto newest = store->audit_log({});
  AuditQuery inside;
  inside.before_seq = newest[1].seq + 5;
  inside.limit = 1;
  auto page = store->audit_log(inside);
  REQUIRE(page.size() == 1);
  CHECK(page[0].seq == newest[1].seq);
}

TEST_CASE("json store erases a namespace or a user, idempotently", "[store][json]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  for (std::uint64_t v = 1; v <= 3; ++v) {
    REQUIRE(append_one(*store, make_version("alice", "default", v)));
  }
  REQUIRE(append_one(*store, make_version("alice", "work", 1)));
  REQUIRE(append_one(*store, make_version("bob", "default", 1)));

  CHECK(store->erase("alice", "default") == 3);
  CHECK(store->erase("alice", "default") == 0);
  CHECK_FALSE(store->head({"alice", "default"}).has_value());
  CHECK(store->head({"alice", "work"}).has_value());
  CHECK(store->erase("alice", std::nullopt) == 1);
  CHECK(store->erase("alice", std::nullopt) == 0);
  CHECK(store->contexts() == std::vector<ContextKey>{{"bob", "default"}});
  CHECK_FALSE(fs::exists(dir.path() / "contexts" / "alice"));
  CHECK(entries(dir.path() / "tmp") == 0);

  // An erased context starts again at version 1.
  REQUIRE(append_one(*store, make_version("alice", "default", 1)));
  CHECK(store->head({"alice", "default"})->version == 1);
}

TEST_CASE("json store finds versions by time and pages history", "[store][json]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  ContextKey key{"alice", "default"};
  for (std::uint64_t v = 1; v <= 9; ++v) {
    REQUIRE(append_one(*store, make_version("alice", "default", v))); // updated_at = 10 * v
  }
  CHECK_FALSE(store->version_at(key, at(9)).has_value());
  CHECK(store->version_at(key, at(10))->version == 1);
  CHECK(store->version_at(key, at(55))->version == 5);
  CHECK(store->version_at(key, at(1000))->version == 9);

  auto versions = [](const std::vector<VersionRecord>& records) {
    std::vector<std::uint64_t> out;
    for (const auto& record : records) {
      out.push_back(record.version);
    }
    return out;
  };
  HistoryQuery query;
  query.limit = 3;
  CHECK(versions(store->history(key, query)) == std::vector<std::uint64_t>{9, 8, 7});
  query.before_version = 7;
  CHECK(versions(store->history(key, query)) == std::vector<std::uint64_t>{6, 5, 4});
  query.since = at(30);
  query.until = at(45);
  CHECK(versions(store->history(key, query)) == std::vector<std::uint64_t>{4, 3});

  HistoryQuery oldest;
  oldest.oldest_first = true;
  oldest.limit = 4;
  CHECK(versions(store->history(key, oldest)) == std::vector<std::uint64_t>{1, 2, 3, 4});
  oldest.after_version = 4;
  CHECK(versions(store->history(key, oldest)) == std::vector<std::uint64_t>{5, 6, 7, 8});
  oldest.since = at(60);
  oldest.until = at(80);
  CHECK(versions(store->history(key, oldest)) == std::vector<std::uint64_t>{6, 7, 8});

  VersionRecord keyed = make_version("alice", "default", 10);
  keyed.idempotency_key = "once";
  REQUIRE(append_one(*store, keyed));
  REQUIRE(append_one(*store, make_version("alice", "default", 11)));
  CHECK(store->find_idempotency_key(key, "once")->version == 10);
  CHECK_FALSE(store->find_idempotency_key(key, "twice").has_value());
  CHECK_FALSE(store->find_idempotency_key(key, "").has_value());
}

TEST_CASE("json store keeps versions and audit records consistent across processes", "[store][json]") {
  TempDir dir;
  zsimem::store::make_json_store({"json", dir.path()});
  constexpr int k_writers = 2;
  constexpr int k_updates = 20;
  std::vector<pid_t> children;
  for (int writer = 0; writer < k_writers; ++writer) {
    children.push_back(run_in_child([&] {
      auto store = zsimem::store::make_json_store({"json", dir.path()});
      ContextKey key{"shared", "default"};
      for (int done = 0; done < k_updates;) {
        auto head = store->head(key);
        VersionRecord next = make_version("shared", "default", head ? head->version + 1 : 1);
        next.actor = "writer" + std::to_string(writer);
        std::vector<AuditRecord> audit{make_audit("shared", "merge")};
        if (store->append(std::span<const VersionRecord>(&next, 1), audit)) {
          ++done;
        }
        store->append_audit(make_audit("shared", "get"), false);
      }
      return 0;
    }));
  }
  for (pid_t child : children) {
    REQUIRE(child > 0);
    CHECK(wait_for(child) == 0);
  }

  auto store = zsimem::store::make_json_store({"json", dir.path()});
  HistoryQuery all;
  all.limit = 1000;
  auto history = store->history({"shared", "default"}, all);
  REQUIRE(history.size() == static_cast<std::size_t>(k_writers * k_updates));
  for (std::size_t i = 0; i < history.size(); ++i) {
    CHECK(history[i].version == history.size() - i);
  }
  AuditQuery audit_query;
  audit_query.limit = 10000;
  auto log = store->audit_log(audit_query);
  std::set<std::uint64_t> seqs;
  std::size_t merges = 0;
  for (const auto& record : log) {
    seqs.insert(record.seq);
    merges += record.operation == "merge" ? 1U : 0U;
  }
  CHECK(seqs.size() == log.size());
  CHECK(merges == static_cast<std::size_t>(k_writers * k_updates));
  CHECK(entries(dir.path() / "tmp") == 0);
}

TEST_CASE("json store survives a writer killed at any moment", "[store][json]") {
  TempDir dir;
  zsimem::store::make_json_store({"json", dir.path()});
  pid_t child = run_in_child([&] {
    auto store = zsimem::store::make_json_store({"json", dir.path()});
    ContextKey key{"alice", "default"};
    for (;;) {
      auto head = store->head(key);
      VersionRecord next = make_version("alice", "default", head ? head->version + 1 : 1);
      std::vector<AuditRecord> audit{make_audit("alice", "merge")};
      store->append(std::span<const VersionRecord>(&next, 1), audit);
      store->append_audit(make_audit("alice", "get"), false);
    }
    return 0;
  });
  REQUIRE(child > 0);
  // Let it write a few versions, then kill it wherever it is.
  for (int i = 0; i < 2000 && !fs::exists(version_path(dir.path(), "alice", "default", 5)); ++i) {
    ::usleep(1000);
  }
  ::usleep(static_cast<useconds_t>(std::rand() % 5000));
  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));

  auto store = zsimem::store::make_json_store({"json", dir.path()});
  auto head = store->head({"alice", "default"});
  REQUIRE(head);
  CHECK(head->version >= 5);
  HistoryQuery all;
  all.limit = 100'000;
  auto history = store->history({"alice", "default"}, all);
  REQUIRE(history.size() == head->version);
  AuditQuery audit_query;
  audit_query.limit = 100'000;
  CHECK(store->audit_log(audit_query).size() >= 5);
  REQUIRE(append_one(*store, make_version("alice", "default", head->version + 1)));
  CHECK(store->head({"alice", "default"})->version == head->version + 1);
}

TEST_CASE("json store: a long-lived store's remembered head follows other processes' writes and erasures",
          "[store][json]") {
  TempDir dir;
  auto daemon = zsimem::store::make_json_store({"json", dir.path(), true});
  auto cli = zsimem::store::make_json_store({"json", dir.path()}); // as another process would
  const ContextKey key{"alice", "default"};
  const auto append = [](zsimem::MemoryStore& store, VersionRecord record) { REQUIRE(store.append({&record, 1}, {})); };
  append(*daemon, make_version("alice", "default", 1));
  append(*daemon, make_version("alice", "default", 2));
  REQUIRE(daemon->head(key)->version == 2); // remembered from here on
  CHECK(daemon->head(key)->data == make_version("alice", "default", 2).data);

  append(*cli, make_version("alice", "default", 3));
  CHECK(daemon->head(key)->version == 3);

  // Erased and written again up to the same version, with other contents.
  REQUIRE(cli->erase("alice", std::nullopt) == 3);
  CHECK_FALSE(daemon->head(key).has_value());
  for (std::uint64_t v = 1; v <= 3; ++v) {
    VersionRecord record = make_version("alice", "default", v);
    record.data = R"({"rewritten":)" + std::to_string(v) + "}";
    append(*cli, record);
  }
  CHECK(daemon->head(key)->data == R"({"rewritten":3})");
  CHECK(daemon->head(key)->data == R"({"rewritten":3})");
}

TEST_CASE("json store keeps each data key in a file of its own", "[store][json][keys]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  const DataKeyRecord key{"alice", 12, "master-1", "d3JhcHBlZA==", at(5)};
  REQUIRE(store->add_data_key(key));
  const std::string text = slurp(key_path(dir.path(), "alice", 12));
  CHECK_THAT(text, Catch::Contains(R"("generation": "12")"));
  CHECK_THAT(text, Catch::Contains(R"("created_at": ")" + zsimem::format_rfc3339(at(5)) + R"(")"));
  CHECK_THAT(text, Catch::Contains(R"("wrapped": "d3JhcHBlZA==")"));
  CHECK_THAT(text, Catch::Contains(R"("master_key_id": "master-1")"));
  CHECK(entries(dir.path() / "keys" / "alice") == 1); // no temp file left beside it
  CHECK(entries(dir.path() / "tmp") == 0);

  // Names outside the scheme are not keys.
  put(dir.path() / "keys" / "alice" / "00000000000000000001.json.4242.0.abc.tmp", "{}");
  put(dir.path() / "keys" / "alice" / "1.json", "{}");
  fs::create_directories(dir.path() / "keys" / "bad..name");
  put(key_path(dir.path(), "bad..name", 1), "{}");
  CHECK(store->data_keys(std::nullopt) == std::vector<DataKeyRecord>{key});

  CHECK_THROWS_AS(store->add_data_key({"../escape", 1, "m", "w", at(0)}), Error);
  CHECK_THROWS_AS(store->add_data_key({"alice", 0, "m", "w", at(0)}), Error);
  CHECK(store->data_keys("../escape").empty());
  CHECK_FALSE(store->rewrap_data_key({"../escape", 1, "m", "w", at(0)}, "w"));
}

TEST_CASE("json store reports a damaged data key file by name", "[store][json][keys]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  REQUIRE(store->add_data_key({"alice", 1, "master-1", "d3JhcHBlZA==", at(0)}));
  const fs::path path = key_path(dir.path(), "alice", 1);
  const auto check_damaged_key = [&](const std::string& contents) {
    CAPTURE(contents);
    put(path, contents);
    for (const auto& call : std::vector<std::function<void()>>{
             [&] { store->data_keys(std::nullopt); }, [&] { store->data_keys("alice"); },
             [&] {
               store->rewrap_data_key({"alice", 1, "master-2", "x", at(0)}, "d3JhcHBlZA==");
             }}) {
      try {
        call();
        FAIL("no error for " << path);
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::unavailable);
        CHECK_THAT(e.what(), Catch::Contains(path.string()));
        CHECK_THAT(e.what(), Catch::Contains("damaged data key file"));
      }
    }
  };
  check_damaged_key(R"({"user_id": "alice", "generation": "1", "master_key_id": "m", "wrapped": "w")");
  check_damaged_key("[]");
  check_damaged_key(R"({"user_id": "alice", "generation": 1, "master_key_id": "m", "wrapped": "w", )"
                    R"("created_at": "2025-01-01T00:00:00Z"})");
  check_damaged_key(R"({"user_id": "alice", "generation": "1", "master_key_id": "m", "wrapped": "w", )"
                    R"("created_at": "yesterday"})");
  // Another key's contents in this key's place.
  check_damaged_key(R"({"user_id": "alice", "generation": "2", "master_key_id": "m", "wrapped": "w", )"
                    R"("created_at": "2025-01-01T00:00:00Z"})");
  check_damaged_key(R"({"user_id": "bob", "generation": "1", "master_key_id": "m", "wrapped": "w", )"
                    R"("created_at": "2025-01-01T00:00:00Z"})");
}

TEST_CASE("json store: erasing a user leaves no copy of its data keys under the data directory",
          "[store][json][keys]") {
  TempDir dir;
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  const std::string first = "Rmlyc3Qgd3JhcHBpbmcgb2YgYWxpY2Uncw+key/1==";
  const std::string second = "U2Vjb25kIHdyYXBwaW5nIG9mIGFsaWNlJ3M+key/1==";
  const std::string other = "QWxpY2UncyBzZWNvbmQgZ2VuZXJhdGlvbg+key/2==";
  const std::string bobs = "Qm9iJ3Mga2V5IHN0YXlzIHdoZXJlIGl0IGlz+key/1==";
  REQUIRE(store->add_data_key({"alice", 1, "master-1", first, at(0)}));
  REQUIRE(store->add_data_key({"bob", 1, "master-1", bobs, at(0)}));
  for (std::uint64_t v = 1; v <= 3; ++v) {
    auto sealed = make_version("alice", v == 3 ? "work" : "default", v == 3 ? 1 : v);
    sealed.data = "c2VhbGVk";
    sealed.delta.clear();
    sealed.key_id = "1";
    REQUIRE(append_one(*store, sealed));
  }
  REQUIRE(store->rewrap_data_key({"alice", 1, "master-2", second, at(0)}, first));
  REQUIRE(store->add_data_key({"alice", 2, "master-2", other, at(0)}));
  // A temp file a writer killed mid-write left beside the keys.
  put(dir.path() / "keys" / "alice" / "00000000000000000003.json.4242.0.abc.tmp", first);
  REQUIRE(found_under(dir.path(), first));
  REQUIRE(found_under(dir.path(), second));

  CHECK(store->erase("alice", std::nullopt) == 3);
  for (const auto& gone : {first, second, other}) {
    CAPTURE(gone);
    CHECK_FALSE(found_under(dir.path(), gone));
  }
  CHECK(found_under(dir.path(), bobs));
  CHECK_FALSE(fs::exists(dir.path() / "keys" / "alice"));
  CHECK(entries(dir.path() / "tmp") == 0);
  CHECK(store->erase("alice", std::nullopt) == 0);
}

TEST_CASE("json store removes erased keys a killed eraser left in tmp at once", "[store][json][keys]") {
  TempDir dir;
  zsimem::store::make_json_store({"json", dir.path()}).reset();
  // Fresh, unlike other leftovers, which wait an hour.
  fs::create_directories(dir.path() / "tmp" / "erased-keys.4242.0.abc");
  put(dir.path() / "tmp" / "erased-keys.4242.0.abc" / "00000000000000000001.json", "{}");
  put(dir.path() / "tmp" / "fresh.tmp", "x");
  auto store = zsimem::store::make_json_store({"json", dir.path()});
  CHECK_FALSE(fs::exists(dir.path() / "tmp" / "erased-keys.4242.0.abc"));
  CHECK(fs::exists(dir.path() / "tmp" / "fresh.tmp"));
}
