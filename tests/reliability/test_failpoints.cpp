// The failpoint suite: every failpoint (core/include/zsimem/failpoint.hpp)
// in every mode, on the operations that reach it, through the real CLI and
// daemon. After each case the store must open and verify, keep every version
// acknowledged before, show the interrupted operation whole or not at all,
// and accept a retry and new writes.

#include "support/exported.hpp"
#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/stress_scale.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/failpoint.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace zsimem;
using namespace std::chrono_literals;
using testing::ProcessResult;

namespace {

constexpr int k_exit_killed = 128 + 9;
constexpr int k_exit_unavailable = 7;
constexpr auto k_sleep = 300ms;

enum class Workload {
  merge,       // a CLI merge onto an existing context
  apply,       // a CLI apply of two updates, to an existing and a new context
  erase,       // a CLI delete of a user
  large_apply, // a CLI apply large enough that its commit checkpoints the WAL
  import,      // a CLI import of versions of two new contexts
  daemon,      // concurrent POSTs to a zsimem serve
};

struct Case {
  std::string_view point;
  std::string backend;
  Workload operation;
};

// Which operations reach each failpoint.
const std::vector<Case>& cases() {
  static const std::vector<Case> all{
      {"file.before_publish", "json", Workload::merge},      {"file.after_publish", "json", Workload::merge},
      {"json.before_append", "json", Workload::merge},       {"json.between_records", "json", Workload::import},
      {"json.before_audit", "json", Workload::merge},        {"json.erase.after_move", "json", Workload::erase},
      {"sqlite.before_commit", "sqlite", Workload::merge},   {"sqlite.before_commit", "sqlite", Workload::daemon},
      {"sqlite.between_writes", "sqlite", Workload::daemon}, {"sqlite.after_commit", "sqlite", Workload::apply},
      {"sqlite.after_commit", "sqlite", Workload::daemon},   {"sqlite.checkpoint", "sqlite", Workload::large_apply},
      {"sqlite.wal_write", "sqlite", Workload::merge},       {"sqlite.wal_write", "sqlite", Workload::daemon},
      {"service.after_append", "json", Workload::merge},     {"service.after_append", "sqlite", Workload::merge},
      {"http.before_response", "json", Workload::daemon},    {"http.before_response", "sqlite", Workload::daemon},
  };
  return all;
}

// What an operation that fails at the point reports: the failpoint, but for
// the one inside SQLite's I/O, which fails as a disk write does.
std::string expected_error(const Case& c) {
  return c.point == "sqlite.wal_write" ? "disk I/O error" : "failpoint " + std::string(c.point);
}

std::string describe(const Case& c, std::string_view mode) {
  static const std::map<Workload, std::string> names{
      {Workload::merge, "merge"},   {Workload::apply, "apply"},
      {Workload::erase, "delete"},  {Workload::large_apply, "large apply"},
      {Workload::import, "import"}, {Workload::daemon, "daemon POSTs"}};
  return std::string(c.point) + "=" + std::string(mode) + " on " + c.backend + " " + names.at(c.operation);
}

// The CLI on one store.
struct Store {
  std::string backend;
  std::filesystem::path dir;

  ProcessResult run(std::vector<std::string> args, const std::vector<std::string>& env = {}) const {
    std::vector<std::string> argv{ZSIMEM_BINARY, "--backend", backend, "--data-dir", dir.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, {}, env, 60s);
  }
  void must(std::vector<std::string> args) const {
    const auto result = run(args);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
  }
  // Every version of a user's default context, oldest first, as stored.
  std::vector<Json> versions(const std::string& user) const {
    const auto result = run({"export", user});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    return testing::default_namespace_versions(result.out);
  }
};

// Checks what must hold of a user's history whatever happened: versions
// 1..N without a gap, the first `kept` as they were.
void check_history(const Store& store, const std::string& user, const std::vector<Json>& kept) {
  const auto now = store.versions(user);
  INFO(user);
  REQUIRE(now.size() >= kept.size());
  for (std::size_t i = 0; i < now.size(); ++i) {
    CHECK(now[i]["version"] == std::to_string(i + 1));
  }
  for (std::size_t i = 0; i < kept.size(); ++i) {
    CHECK(now[i] == kept[i]);
  }
}

std::filesystem::path write_lines(const std::filesystem::path& path, const std::vector<Json>& lines) {
  std::ofstream out(path);
  for (const auto& line : lines) {
    out << line.dump() << "\n";
  }
  return path;
}

// Updates with idempotency keys, so that a retry makes no second version.
std::vector<Json> small_batch() {
  return {Json{{"user_id", "alice"}, {"delta", {{"n", 4}}}, {"idempotency_key", "batch-alice"}},
          Json{{"user_id", "carol"}, {"delta", {{"c", 1}}}, {"idempotency_key", "batch-carol"}}};
}

std::vector<Json> large_batch() {
  std::vector<Json> lines;
  for (int i = 0; i < 300; ++i) {
    lines.push_back(Json{{"user_id", "big" + std::to_string(i)},
                         {"delta", {{"notes", std::string(2000, static_cast<char>('a' + i % 26))}}},
                         {"idempotency_key", "big-" + std::to_string(i)}});
  }
  return lines;
}

// Runs one CLI operation with the failpoint, checks its exit, then checks
// the store and retries the operation without it.
void run_cli_case(const Case& c, std::string_view mode) {
  testing::TempDir tmp;
  const Store store{c.backend, tmp.path() / "store"};
  for (int n = 1; n <= 3; ++n) {
    store.must({"merge", "alice", Json{{"n", n}}.dump()});
  }
  store.must({"merge", "bob", R"({"b":1})"});
  const auto alice = store.versions("alice");
  const auto bob = store.versions("bob");

  std::vector<std::string> operation;
  switch (c.operation) {
  case Workload::merge: operation = {"merge", "alice", R"({"n":4})", "--idempotency-key", "op-1"}; break;
  case Workload::apply: operation = {"apply", write_lines(tmp.path() / "batch.jsonl", small_batch()).string()}; break;
  case Workload::erase: operation = {"delete", "bob", "--yes"}; break;
  case Workload::large_apply:
    operation = {"apply", write_lines(tmp.path() / "large.jsonl", large_batch()).string()};
    break;
  case Workload::import: {
    const Store source{c.backend, tmp.path() / "source"};
    source.must({"merge", "carol", R"({"c":1})"});
    source.must({"merge", "carol", R"({"c":2})"});
    source.must({"merge", "dave", R"({"d":1})"});
    const auto exported = source.run({"export"});
    REQUIRE(exported.exit_code == 0);
    std::ofstream(tmp.path() / "import.jsonl") << exported.out;
    operation = {"import", (tmp.path() / "import.jsonl").string()};
    break;
  }
  case Workload::daemon: FAIL("not a CLI case");
  }
  const auto started = std::chrono::steady_clock::now();
  const auto result = store.run(operation, {"ZSIMEM_FAILPOINTS=" + std::string(c.point) + "=" + std::string(mode)});
  const auto took = std::chrono::steady_clock::now() - started;
  INFO(result.err);
  if (mode == "crash") {
    CHECK(result.exit_code == k_exit_killed);
  } else if (mode == "error" && c.point != "sqlite.checkpoint") {
    CHECK(result.exit_code == k_exit_unavailable);
    CHECK_THAT(result.err, Catch::Contains(expected_error(c)));
  } else {
    // A sleep only delays; a failed checkpoint leaves the WAL longer, after a commit that succeeded.
    CHECK(result.exit_code == 0);
    if (mode != "error") {
      CHECK(took >= k_sleep);
    }
  }

  // Whatever happened: the store opens, verifies, and kept what it had.
  const auto verified = store.run({"verify"});
  INFO(verified.out << verified.err);
  CHECK(verified.exit_code == 0);
  check_history(store, "alice", alice);
  if (c.operation != Workload::erase) {
    check_history(store, "bob", bob);
  }
  // The interrupted operation is there whole or not at all.
  const auto alice_now = store.versions("alice");
  CHECK(alice_now.size() <= 4);
  if (alice_now.size() == 4) {
    CHECK(alice_now[3]["data"]["n"] == 4);
  }
  if (c.operation == Workload::erase) {
    const auto bob_now = store.versions("bob");
    CHECK((bob_now.empty() || bob_now == bob));
  }
  if (c.operation == Workload::apply && c.backend == "sqlite") {
    CHECK((alice_now.size() == 4) == !store.versions("carol").empty()); // one transaction
  }

  // A retry finishes it exactly once, and the store takes new writes.
  const auto retried = store.run(operation);
  INFO(retried.err);
  CHECK(retried.exit_code == 0);
  switch (c.operation) {
  case Workload::merge: CHECK(store.versions("alice").size() == 4); break;
  case Workload::apply:
    CHECK(store.versions("alice").size() == 4);
    CHECK(store.versions("carol").size() == 1);
    break;
  case Workload::erase: CHECK(store.versions("bob").empty()); break;
  case Workload::large_apply:
    CHECK(store.versions("big0").size() == 1);
    CHECK(store.versions("big299").size() == 1);
    break;
  case Workload::import:
    CHECK(store.versions("carol").size() == 2);
    CHECK(store.versions("dave").size() == 1);
    break;
  case Workload::daemon: break;
  }
  store.must({"merge", "alice", R"({"n":5})"});
  CHECK(store.run({"verify"}).exit_code == 0);
}

// What one POST got back.
struct Posted {
  std::string user;
  int n = 0;
  std::optional<Json> acknowledged; // the UserContext of a 200
};

// Concurrent POSTs to a daemon running with the failpoint, until it dies or
// every client is done; then the store is checked offline and every POST
// retried with its idempotency key: each lands exactly once.
void run_daemon_case(const Case& c, std::string_view mode) {
  testing::TempDir tmp;
  const Store store{c.backend, tmp.path() / "store"};
  store.must({"merge", "alice", R"({"n":1})"});
  const auto alice = store.versions("alice");
  // A later hit, so that the daemon has acknowledged writes before it dies.
  const std::string spec = std::string(c.point) + "=" + std::string(mode) + (mode == "crash" ? "@3" : "");
  std::vector<Posted> posts;
  std::mutex posts_mutex;
  std::atomic<int> failed_with_failpoint{0};
  {
    testing::ServeProcess::Options options(c.backend, store.dir, tmp.path() / "serve.log");
    options.env = {"ZSIMEM_FAILPOINTS=" + spec};
    testing::ServeProcess daemon(options);
    constexpr int k_clients = 6;
    constexpr int k_posts = 8;
    std::vector<std::thread> clients;
    for (int t = 0; t < k_clients; ++t) {
      clients.emplace_back([&, t] {
        httplib::Client client("127.0.0.1", daemon.port());
        client.set_read_timeout(10, 0);
        const std::string user = "d" + std::to_string(t);
        for (int n = 1; n <= k_posts; ++n) {
          Posted post{user, n, std::nullopt};
          const Json body{
              {"user_id", user}, {"delta", {{"n", n}}}, {"idempotency_key", user + "-" + std::to_string(n)}};
          const auto result = client.Post(("/api/v1/memory/" + user).c_str(), body.dump(), "application/json");
          if (result && result->status == 200) {
            post.acknowledged = Json::parse(result->body);
          } else if (result && result->status == 503 && result->body.find(expected_error(c)) != std::string::npos) {
            ++failed_with_failpoint;
          }
          const std::lock_guard lock(posts_mutex);
          posts.push_back(std::move(post));
          if (!result) {
            return; // the daemon is gone
          }
        }
      });
    }
    for (auto& client : clients) {
      client.join();
    }
    if (mode == "crash") {
      const int status = daemon.wait_for_exit(10'000);
      CHECK(status != -1);
      CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    } else if (mode == "error") {
      CHECK(failed_with_failpoint > 0);
    } else {
      CHECK(std::all_of(posts.begin(), posts.end(), [](const Posted& p) { return p.acknowledged.has_value(); }));
    }
  }

  const auto verified = store.run({"verify"});
  INFO(verified.out << verified.err);
  CHECK(verified.exit_code == 0);
  check_history(store, "alice", alice);
  // Every acknowledged POST is stored as it was answered.
  std::map<std::string, std::vector<Json>> stored;
  for (const auto& post : posts) {
    if (!stored.contains(post.user)) {
      stored[post.user] = store.versions(post.user);
      check_history(store, post.user, {});
    }
    if (post.acknowledged) {
      const auto& list = stored[post.user];
      const auto version = std::stoul((*post.acknowledged)["version"].get<std::string>());
      REQUIRE(version <= list.size());
      CHECK(list[version - 1]["data"] == (*post.acknowledged)["data"]);
    }
  }
  // Retried with their keys, all POSTs land exactly once.
  std::map<std::string, int> posted;
  for (const auto& post : posts) {
    store.must({"merge", post.user, Json{{"n", post.n}}.dump(), "--idempotency-key",
                post.user + "-" + std::to_string(post.n)});
    ++posted[post.user];
  }
  for (const auto& [user, count] : posted) {
    CHECK(store.versions(user).size() == static_cast<std::size_t>(count));
  }
  CHECK(store.run({"verify"}).exit_code == 0);
}

} // namespace

TEST_CASE("every failpoint is exercised by the suite", "[reliability][failpoints]") {
  std::set<std::string_view> covered;
  for (const auto& c : cases()) {
    covered.insert(c.point);
  }
  for (const auto name : failpoint::names()) {
    INFO(name);
    CHECK(covered.contains(name));
  }
}

TEST_CASE("a malformed ZSIMEM_FAILPOINTS is an error, not ignored", "[reliability][failpoints]") {
  testing::TempDir tmp;
  const Store store{"json", tmp.path() / "store"};
  for (const std::string spec :
       {"no.such.point=crash", "file.after_publish=explode", "file.after_publish=crash@0", "file.after_publish"}) {
    const auto result = store.run({"merge", "alice", R"({"a":1})"}, {"ZSIMEM_FAILPOINTS=" + spec});
    INFO(spec << ": " << result.err);
    CHECK(result.exit_code == 5); // invalid
    CHECK_THAT(result.err, Catch::Contains("ZSIMEM_FAILPOINTS"));
  }
  CHECK(store.versions("alice").empty());
}

// The modes each point runs in. The sanitizer runs (a stress scale below 1)
// leave out the sleep, which only delays: the normal run has it.
std::vector<std::string> modes() {
  std::vector<std::string> all{"crash", "error"};
  if (testing::stress_scale() >= 1) {
    all.push_back("sleep(" + std::to_string(k_sleep.count()) + ")");
  }
  return all;
}

TEST_CASE("failpoints: every point in every mode leaves a consistent store", "[reliability][failpoints]") {
  const auto& c = GENERATE(from_range(cases()));
  const std::string mode = GENERATE(from_range(modes()));
  INFO(describe(c, mode));
  if (c.operation == Workload::daemon) {
    run_daemon_case(c, mode);
  } else {
    run_cli_case(c, mode);
  }
}
