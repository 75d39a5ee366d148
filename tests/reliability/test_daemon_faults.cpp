// The daemon under faults: a kill loop that checks an acknowledgement
// ledger after every SIGKILL, and a history run (kills, pauses, a skewed
// clock) judged by the history checker. Both embedded backends.

#include "reliability/history_checker.hpp"
#include "support/exported.hpp"
#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/stress_scale.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/store.hpp>
#include <zsimem/time.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

using namespace zsimem;
using namespace std::chrono_literals;
using testing::HistoryOp;

namespace {

const std::string k_memory = "/api/v1/memory/";

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Every version of a user's default context, oldest first, read with the CLI.
std::vector<Json> stored_versions(const std::string& backend, const std::filesystem::path& dir,
                                  const std::string& user) {
  const auto result =
      testing::run_process({ZSIMEM_BINARY, "--backend", backend, "--data-dir", dir.string(), "export", user});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  return testing::default_namespace_versions(result.out);
}

void require_verified(const std::string& backend, const std::filesystem::path& dir) {
  const auto result = testing::run_process({ZSIMEM_BINARY, "--backend", backend, "--data-dir", dir.string(), "verify"});
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
}

// Debian's libfaketime (package faketime), wherever the architecture puts it.
std::filesystem::path libfaketime() {
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib")) {
    const auto candidate = entry.path() / "faketime" / "libfaketime.so.1";
    if (std::filesystem::exists(candidate)) {
      return candidate;
    }
  }
  FAIL("libfaketime.so.1 not found under /usr/lib: install the faketime package (scripts/deps)");
  return {};
}

// A daemon that can be killed and started again on the same port.
class RestartableDaemon {
public:
  RestartableDaemon(std::string backend, std::filesystem::path data_dir, std::filesystem::path logs)
      : m_backend(std::move(backend)), m_data_dir(std::move(data_dir)), m_logs(std::move(logs)) {}

  // Starts it, under faketime when `clock_offset` is not empty.
  void start(const std::string& clock_offset = {}) {
    testing::ServeProcess::Options options(m_backend, m_data_dir,
                                           m_logs / ("serve-" + std::to_string(m_starts++) + ".log"));
    options.port = m_port;
    if (!clock_offset.empty()) {
      // libfaketime preloaded directly: the faketime program would fork, and
      // a SIGKILL meant for the daemon would orphan it instead. A sanitizer
      // runtime must then not insist on coming first.
      options.env = {"LD_PRELOAD=" + libfaketime().string(), "FAKETIME=" + clock_offset,
                     "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0"};
    }
    m_process.emplace(options);
    m_port = m_process->port();
  }
  void kill() { m_process->kill_now(); }
  void stop() { m_process.reset(); }
  void pause() { m_process->pause(); }
  void resume() { m_process->resume(); }
  int port() const { return m_port; }
  int starts() const { return m_starts; }

private:
  std::string m_backend;
  std::filesystem::path m_data_dir;
  std::filesystem::path m_logs;
  std::optional<testing::ServeProcess> m_process;
  int m_port = 0;
  int m_starts = 0;
};

} // namespace

TEST_CASE("kill loop: every version the daemon acknowledged survives SIGKILL", "[reliability][kill_loop]") {
  const std::string backend(GENERATE(from_range(file_backend_names())));
  CAPTURE(backend);
  const testing::TempDir tmp;
  const auto data_dir = tmp.path() / "store";
  RestartableDaemon daemon(backend, data_dir, tmp.path());
  const int rounds = std::max(5, static_cast<int>(40 * testing::stress_scale()));
  constexpr int k_writers = 4;
  std::mt19937 random(std::random_device{}());
  // (user, version) -> the data its writer was answered with.
  std::map<std::pair<std::string, std::uint64_t>, Json> ledger;
  // Every version checked so far, as stored: stored versions never change.
  std::map<std::pair<std::string, std::uint64_t>, Json> seen;
  std::size_t acknowledged = 0;
  int next_value = 0;

  for (int round = 0; round < rounds; ++round) {
    daemon.start();
    const int port = daemon.port();
    std::atomic<bool> stop{false};
    std::mutex ledger_mutex;
    std::vector<std::thread> writers;
    for (int w = 0; w < k_writers; ++w) {
      writers.emplace_back([&, w, first = next_value + w * 100'000] {
        httplib::Client client("127.0.0.1", port);
        client.set_read_timeout(5, 0);
        const std::string user = "k" + std::to_string(w);
        for (int value = first; !stop; ++value) {
          const Json body{{"user_id", user},
                          {"delta", {{"w", value}, {"pad", std::string(static_cast<std::size_t>(value % 700), 'p')}}}};
          const auto result = client.Post((k_memory + user).c_str(), body.dump(), "application/json");
          if (!result) {
            return; // killed
          }
          if (result->status == 200) {
            const Json answer = Json::parse(result->body);
            const std::lock_guard lock(ledger_mutex);
            ledger[{user, std::stoull(answer["version"].get<std::string>())}] = answer["data"];
          }
        }
      });
    }
    next_value += k_writers * 100'000;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution(5, 80)(random)));
    daemon.kill();
    stop = true;
    for (auto& writer : writers) {
      writer.join();
    }

    // After each kill: the store opens and verifies, nothing acknowledged is lost or changed.
    require_verified(backend, data_dir);
    for (int w = 0; w < k_writers; ++w) {
      const std::string user = "k" + std::to_string(w);
      const auto versions = stored_versions(backend, data_dir, user);
      for (std::size_t i = 0; i < versions.size(); ++i) {
        const std::pair key{user, i + 1};
        REQUIRE(versions[i]["version"] == std::to_string(i + 1));
        if (const auto it = seen.find(key); it != seen.end()) {
          REQUIRE(it->second == versions[i]);
        }
        seen[key] = versions[i];
      }
    }
    for (const auto& [key, data] : ledger) {
      INFO(key.first << " version " << key.second);
      const auto it = seen.find(key);
      REQUIRE(it != seen.end());
      REQUIRE(canonical_json(it->second["data"]) == canonical_json(data));
    }
    acknowledged = ledger.size();
  }
  WARN(backend << ": " << rounds << " kills, " << acknowledged << " acknowledged versions checked after each, "
               << seen.size() << " versions stored");
  CHECK(acknowledged > 0);
}

TEST_CASE("history checker: accepts a consistent history", "[reliability][history]") {
  using K = HistoryOp::Kind;
  using O = HistoryOp::Outcome;
  const std::vector<HistoryOp> history{
      {"a", "u", K::read, O::ok, 0, 10, 1, 1, 0},        {"a", "u", K::write, O::ok, 11, 20, 2, 2, 1},
      {"b", "u", K::read, O::ok, 21, 30, 2, 2, 0},       {"b", "u", K::write, O::failed, 31, 40, 0, 2, 1},
      {"b", "u", K::write, O::unknown, 41, 50, 0, 3, 2}, {"a", "u", K::read, O::ok, 60, 70, 3, 3, 0},
  };
  const std::map<std::string, std::vector<testing::StoredVersion>> stored{
      {"u", {{1, 1, 100}, {2, 2, 100}, {3, 3, 200}}}};
  const auto report = testing::check_history(history, stored);
  for (const auto& problem : report.problems) {
    UNSCOPED_INFO(problem);
  }
  CHECK(report.problems.empty());
  CHECK(report.writes_acknowledged == 1);
  CHECK(report.writes_unknown == 1);
  CHECK(report.reads_checked == 3);
}

TEST_CASE("history checker: finds lost updates, gaps, stale reads and a clock going back", "[reliability][history]") {
  using K = HistoryOp::Kind;
  using O = HistoryOp::Outcome;
  using V = std::vector<testing::StoredVersion>;
  const auto problems = [](const std::vector<HistoryOp>& history, const V& stored) {
    return testing::check_history(history, {{"u", stored}}).problems;
  };
  // Two acknowledged increments from version 1: one was lost.
  CHECK_FALSE(problems({{"a", "u", K::write, O::ok, 0, 10, 2, 2, 1}, {"b", "u", K::write, O::ok, 0, 10, 2, 2, 1}},
                       V{{1, 1, 0}, {2, 2, 0}})
                  .empty());
  // An acknowledged write that is not stored.
  CHECK_FALSE(problems({{"a", "u", K::write, O::ok, 0, 10, 2, 2, 1}}, V{{1, 1, 0}}).empty());
  // A gap in the stored versions.
  CHECK_FALSE(problems({}, V{{1, 1, 0}, {3, 3, 0}}).empty());
  // An increment applied twice.
  CHECK_FALSE(problems({}, V{{1, 1, 0}, {2, 3, 0}}).empty());
  // A read that began after version 2 was acknowledged, yet saw version 1.
  CHECK_FALSE(problems({{"a", "u", K::write, O::ok, 0, 10, 2, 2, 1}, {"b", "u", K::read, O::ok, 20, 30, 1, 1, 0}},
                       V{{1, 1, 0}, {2, 2, 0}})
                  .empty());
  // A client that saw version 2, then version 1.
  CHECK_FALSE(problems({{"a", "u", K::read, O::ok, 0, 10, 2, 2, 0}, {"a", "u", K::read, O::ok, 5, 30, 1, 1, 0}},
                       V{{1, 1, 0}, {2, 2, 0}})
                  .empty());
  // A read of a value the store does not hold at that version.
  CHECK_FALSE(problems({{"a", "u", K::read, O::ok, 0, 10, 1, 7, 0}}, V{{1, 1, 0}}).empty());
  // More versions than writes that may have made them.
  CHECK(problems({{"a", "u", K::write, O::failed, 0, 10, 0, 2, 1}}, V{{1, 1, 0}, {2, 2, 0}}).size() == 1);
  // updated_at going back.
  CHECK_FALSE(problems({}, V{{1, 1, 50}, {2, 2, 40}}).empty());
}

TEST_CASE("history: compare-and-set clients against a daemon that is killed, paused and clock-skewed",
          "[reliability][history]") {
  const std::string backend(GENERATE(from_range(file_backend_names())));
  CAPTURE(backend);
  const testing::TempDir tmp;
  const auto data_dir = tmp.path() / "store";
  const std::vector<std::string> users{"h0", "h1", "h2"};
  for (const auto& user : users) {
    const auto seeded = testing::run_process(
        {ZSIMEM_BINARY, "--backend", backend, "--data-dir", data_dir.string(), "merge", user, R"({"counter":1})"});
    REQUIRE(seeded.exit_code == 0);
  }
  RestartableDaemon daemon(backend, data_dir, tmp.path());
  daemon.start();
  const int port = daemon.port(); // the same across restarts
  const auto run_for = std::chrono::milliseconds(static_cast<int>(8000 * testing::stress_scale()));
  const auto deadline = std::chrono::steady_clock::now() + std::max(run_for, std::chrono::milliseconds(2000));
  constexpr int k_clients = 5;
  std::vector<std::vector<HistoryOp>> histories(k_clients);
  std::vector<std::thread> clients;
  for (int c = 0; c < k_clients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 random(static_cast<unsigned>(c) * 7919u + 1u);
      const std::string name = "c" + std::to_string(c);
      auto& ops = histories[static_cast<std::size_t>(c)];
      while (std::chrono::steady_clock::now() < deadline) {
        httplib::Client client("127.0.0.1", port);
        client.set_connection_timeout(1, 0);
        client.set_read_timeout(2, 0);
        const std::string& user = users[random() % users.size()];
        HistoryOp read{name, user, HistoryOp::Kind::read, HistoryOp::Outcome::unknown, now_us(), 0, 0, 0, 0};
        const auto got = client.Get((k_memory + user).c_str());
        read.completed_us = now_us();
        if (!got || got->status != 200) {
          std::this_thread::sleep_for(20ms); // down, paused or restarting
          continue;
        }
        const Json context = Json::parse(got->body);
        read.outcome = HistoryOp::Outcome::ok;
        read.version = std::stoull(context["version"].get<std::string>());
        read.counter = context["data"]["counter"].get<std::int64_t>();
        ops.push_back(read);
        if (random() % 3 == 0) {
          continue; // reads alone too
        }
        HistoryOp write{
            name,        user, HistoryOp::Kind::write, HistoryOp::Outcome::unknown, now_us(), 0, 0, read.counter + 1,
            read.version};
        const Json body{{"user_id", user}, {"delta", {{"counter", write.counter}}}};
        const httplib::Headers if_match{{"If-Match", "\"" + std::to_string(read.version) + "\""}};
        const auto posted = client.Post((k_memory + user).c_str(), if_match, body.dump(), "application/json");
        write.completed_us = now_us();
        if (posted && posted->status == 200) {
          write.outcome = HistoryOp::Outcome::ok;
          write.version = std::stoull(Json::parse(posted->body)["version"].get<std::string>());
        } else if (posted && (posted->status == 412 || posted->status == 409)) {
          write.outcome = HistoryOp::Outcome::failed;
        }
        ops.push_back(write);
      }
    });
  }

  // The nemesis: kill and restart, pause, or restart with the clock moved.
  std::mt19937 random(std::random_device{}());
  int kills = 0;
  int pauses = 0;
  int skews = 0;
  const std::vector<std::string> offsets{"-3h", "+2d", "-10m", "+0"};
  while (std::chrono::steady_clock::now() + 800ms < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution(150, 500)(random)));
    switch (random() % 3) {
    case 0:
      daemon.kill();
      daemon.start();
      ++kills;
      break;
    case 1:
      daemon.pause();
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution(50, 400)(random)));
      daemon.resume();
      ++pauses;
      break;
    default:
      daemon.kill();
      daemon.start(offsets[random() % offsets.size()]);
      ++skews;
      break;
    }
  }
  for (auto& client : clients) {
    client.join();
  }
  daemon.stop();

  std::vector<HistoryOp> history;
  for (const auto& ops : histories) {
    history.insert(history.end(), ops.begin(), ops.end());
  }
  std::map<std::string, std::vector<testing::StoredVersion>> stored;
  for (const auto& user : users) {
    for (const auto& version : stored_versions(backend, data_dir, user)) {
      stored[user].push_back({std::stoull(version["version"].get<std::string>()),
                              version["data"]["counter"].get<std::int64_t>(),
                              to_micros(parse_time(version["updated_at"].get<std::string>()))});
    }
  }
  require_verified(backend, data_dir);
  const auto report = testing::check_history(history, stored);
  for (const auto& problem : report.problems) {
    UNSCOPED_INFO(problem);
  }
  CHECK(report.problems.empty());
  WARN(backend << ": " << history.size() << " operations, " << report.reads_checked << " reads checked, "
               << report.writes_acknowledged << " writes acknowledged, " << report.writes_unknown << " unknown; "
               << kills << " kills, " << pauses << " pauses, " << skews << " clock-skewed restarts");
  CHECK(report.writes_acknowledged > 0);
}
