// Delivering versions to hooks: at least once, in order per context, past a
// receiver that is down, slow and failing; dead letters; the built-in
// processors' write-back; restarts and two workers sharing a store.

#include "support/error_of.hpp"
#include "support/loopback_server.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hook_worker.hpp>
#include <zsimem/hooks.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

using namespace zsimem;
using zsimem::testing::error_of;
using zsimem::testing::LoopbackServer;
using zsimem::testing::TempDir;

namespace {

constexpr std::string_view k_secret = "a-webhook-secret-of-32-bytes-0002";
using Clock = std::chrono::steady_clock;

// Records every event it accepts, per context, in arrival order, and
// checks each signature; its mode decides how it answers.
class Receiver {
public:
  enum class Mode { healthy, slow, failing };

  void set(Mode mode) {
    const std::lock_guard lock(m_mutex);
    m_mode = mode;
  }

  void routes(httplib::Server& server) {
    server.Post("/events", [this](const httplib::Request& req, httplib::Response& res) {
      Mode mode{};
      {
        const std::lock_guard lock(m_mutex);
        mode = m_mode;
        ++m_requests[mode];
        const auto now_seconds =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
        if (!verify_webhook_signature(k_secret, req.get_header_value("X-Zsimem-Signature"), req.body,
                                      now_seconds.count())) {
          ++m_bad_signatures;
        }
      }
      if (mode == Mode::slow) {
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
        return; // too late: the hook's timeout has passed
      }
      if (mode == Mode::failing) {
        res.status = 503;
        return;
      }
      const Json event = Json::parse(req.body);
      const std::uint64_t version = parse_version(event.at("version").get<std::string>());
      const std::lock_guard lock(m_mutex);
      m_received[event.at("user_id").get<std::string>() + "/" + event.at("namespace").get<std::string>()].push_back(
          version);
      // Catch2 checks only on the test's thread: count here, check there.
      m_wrong_data += event.at("data").value("counter", std::uint64_t{0}) == version ? 0 : 1;
    });
  }

  std::map<std::string, std::vector<std::uint64_t>> received() const {
    const std::lock_guard lock(m_mutex);
    return m_received;
  }
  int requests(Mode mode) const {
    const std::lock_guard lock(m_mutex);
    const auto it = m_requests.find(mode);
    return it == m_requests.end() ? 0 : it->second;
  }
  int bad_signatures() const {
    const std::lock_guard lock(m_mutex);
    return m_bad_signatures;
  }
  int wrong_data() const {
    const std::lock_guard lock(m_mutex);
    return m_wrong_data;
  }

private:
  mutable std::mutex m_mutex;
  Mode m_mode = Mode::healthy;
  std::map<std::string, std::vector<std::uint64_t>> m_received;
  std::map<Mode, int> m_requests;
  int m_bad_signatures = 0;
  int m_wrong_data = 0;
};

HookSpec webhook(const std::string& url) {
  HookSpec hook;
  hook.name = "nudges";
  hook.kind = HookKind::webhook;
  hook.url = url;
  hook.secret = std::string(k_secret);
  hook.timeout = std::chrono::milliseconds(300);
  return hook;
}

HookWorkerOptions fast_retries() {
  HookWorkerOptions options;
  options.backoff_base = std::chrono::milliseconds(50);
  options.backoff_cap = std::chrono::milliseconds(200);
  options.lease_margin = std::chrono::milliseconds(500);
  options.rescan_interval = std::chrono::milliseconds(200);
  return options;
}

std::unique_ptr<MemoryService> open_service(const TempDir& dir, std::string_view backend = "sqlite") {
  return std::make_unique<MemoryService>(open_store(testing::test_store_config(backend, dir, true)));
}

const Caller k_caller{"test", "req-test", {}};

// Sets the context's counter to its next version number, and returns how
// long the write took.
Clock::duration write_next(MemoryService& service, const std::string& user, const std::string& ns = "default") {
  const auto started = Clock::now();
  const std::uint64_t next = service.head_version({user, ns}) + 1;
  MemoryUpdate update;
  update.user_id = user;
  update.ns = ns;
  update.delta = R"({"counter":)" + std::to_string(next) + "}";
  update.expected_version = next - 1;
  update.strict = true;
  service.merge(k_caller, update);
  return Clock::now() - started;
}

// Waits (at most 30 s) until no hook has anything pending.
bool caught_up(MemoryService& service, const HooksConfig& config) {
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    const auto status = hooks_status(service, k_caller, config);
    if (std::all_of(status.begin(), status.end(), [](const HookStatus& hook) { return hook.pending == 0; })) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Every version 1..n arrived, and never one older than one before it.
void check_in_order(const std::vector<std::uint64_t>& received, std::uint64_t n) {
  CAPTURE(received);
  CHECK(std::is_sorted(received.begin(), received.end()));
  std::vector<std::uint64_t> distinct = received;
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::vector<std::uint64_t> expected(n);
  for (std::uint64_t v = 1; v <= n; ++v) {
    expected[v - 1] = v;
  }
  CHECK(distinct == expected);
}

std::vector<std::uint64_t> versions_in(const std::map<std::string, std::vector<std::uint64_t>>& received,
                                       const std::string& key) {
  const auto it = received.find(key);
  return it == received.end() ? std::vector<std::uint64_t>{} : it->second;
}

} // namespace

TEST_CASE("hook worker: a receiver down, then slow, then failing, then healthy gets every event in order",
          "[hooks][worker]") {
  TempDir dir;
  auto service = open_service(dir);
  Receiver receiver;
  // Learn a free port, then leave it closed: the receiver is down.
  int port = 0;
  {
    const LoopbackServer probe([](httplib::Server&) {});
    port = probe.port();
  }
  HooksConfig config;
  config.hooks.push_back(webhook("http://127.0.0.1:" + std::to_string(port) + "/events"));
  config.max_attempts = 1000;
  HookWorker worker(*service, config, fast_retries());
  worker.start();

  const std::vector<std::string> users{"alice", "bob", "carol"};
  std::map<std::string, std::uint64_t> written;
  Clock::duration slowest_write{};
  const auto write_round = [&] {
    for (const auto& user : users) {
      slowest_write = std::max(slowest_write, write_next(*service, user));
      ++written[user];
    }
  };
  const auto phase = [&](std::chrono::milliseconds length) {
    const auto end = Clock::now() + length;
    while (Clock::now() < end) {
      write_round();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };

  phase(std::chrono::milliseconds(700)); // down
  std::optional<LoopbackServer> server;
  receiver.set(Receiver::Mode::slow);
  server.emplace([&](httplib::Server& s) { receiver.routes(s); }, port);
  phase(std::chrono::milliseconds(1500));
  receiver.set(Receiver::Mode::failing);
  phase(std::chrono::milliseconds(700));
  receiver.set(Receiver::Mode::healthy);
  phase(std::chrono::milliseconds(500));

  REQUIRE(caught_up(*service, config));
  const auto received = receiver.received();
  for (const auto& user : users) {
    CAPTURE(user);
    check_in_order(versions_in(received, user + "/default"), written[user]);
  }
  CHECK(receiver.requests(Receiver::Mode::slow) > 0);
  CHECK(receiver.requests(Receiver::Mode::failing) > 0);
  CHECK(receiver.bad_signatures() == 0);
  CHECK(receiver.wrong_data() == 0);
  // A write costs what it costs without hooks: no delivery ran in it (the
  // slow receiver takes 600 ms, a timeout 300 ms).
  CHECK(slowest_write < std::chrono::milliseconds(250));

  const auto status = hooks_status(*service, k_caller, config);
  REQUIRE(status.size() == 1);
  CHECK(status[0].contexts == 3);
  CHECK(status[0].pending == 0);
  CHECK(status[0].failing == 0);
  CHECK(status[0].dead_letters == 0);
  worker.stop();
}

// The nice value of each of this process's threads named `name`, from /proc.
std::vector<int> nice_of_threads(const std::string& name) {
  std::vector<int> nice;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    if (comm != name) {
      continue;
    }
    std::string stat;
    std::getline(std::ifstream(task.path() / "stat"), stat);
    // After "(comm)": state is field 3, nice field 19.
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i) {
    }
    nice.push_back(std::stoi(field));
  }
  return nice;
}

TEST_CASE("hook worker: its threads are named, and run at the nice value asked for", "[hooks][worker]") {
  TempDir dir;
  auto service = open_service(dir);
  Receiver receiver;
  const LoopbackServer server([&](httplib::Server& s) { receiver.routes(s); });
  HooksConfig config;
  config.hooks.push_back(webhook(server.url("/events")));
  errno = 0;
  const int own = getpriority(PRIO_PROCESS, 0);
  REQUIRE(errno == 0);
  const int asked = GENERATE(0, 7);
  HookWorkerOptions options = fast_retries();
  options.threads = 2;
  options.nice = asked;
  HookWorker worker(*service, config, options);
  worker.start();
  write_next(*service, "alice");
  REQUIRE(caught_up(*service, config)); // the threads have started, and delivered
  const auto nice = nice_of_threads("zsimem-hooks");
  CHECK(nice.size() == 3); // two delivering, one looking for work
  for (const int value : nice) {
    CHECK(value == std::min(own + asked, 19));
  }
  CHECK(getpriority(PRIO_PROCESS, 0) == own); // the caller's own thread is left as it was
}

TEST_CASE("hook worker: a new worker catches up where a stopped one left off", "[hooks][worker]") {
  TempDir dir;
  auto service = open_service(dir);
  Receiver receiver;
  const LoopbackServer server([&](httplib::Server& s) { receiver.routes(s); });
  HooksConfig config;
  config.hooks.push_back(webhook(server.url("/events")));
  {
    // The default rescan interval (30 s): stopping does not wait for it.
    HookWorkerOptions options = fast_retries();
    options.rescan_interval = HookWorkerOptions{}.rescan_interval;
    HookWorker worker(*service, config, options);
    worker.start();
    for (int i = 0; i < 5; ++i) {
      write_next(*service, "alice");
    }
    REQUIRE(caught_up(*service, config));
    const auto stopping = Clock::now();
    worker.stop();
    CHECK(Clock::now() - stopping < std::chrono::seconds(5));
  }
  for (int i = 0; i < 5; ++i) {
    write_next(*service, "alice");
  }
  CHECK(hooks_status(*service, k_caller, config)[0].pending == 5);
  // Another process, after a restart: a worker of another owner.
  service = open_service(dir);
  HookWorker worker(*service, config, fast_retries());
  worker.start();
  REQUIRE(caught_up(*service, config));
  CHECK(versions_in(receiver.received(), "alice/default") == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("hook worker: two workers on one store hand each context's events over in order", "[hooks][worker]") {
  const std::string backend = GENERATE("sqlite", "json");
  CAPTURE(backend);
  TempDir dir;
  auto writer = open_service(dir, backend);
  auto other = open_service(dir, backend);
  Receiver receiver;
  const LoopbackServer server([&](httplib::Server& s) { receiver.routes(s); });
  HooksConfig config;
  config.hooks.push_back(webhook(server.url("/events")));
  HookWorker first(*writer, config, fast_retries());
  HookWorker second(*other, config, fast_retries());
  first.start();
  second.start();
  for (int round = 0; round < 15; ++round) {
    write_next(*writer, "alice");
    write_next(*writer, "bob", "health");
  }
  REQUIRE(caught_up(*writer, config));
  const auto received = receiver.received();
  check_in_order(versions_in(received, "alice/default"), 15);
  check_in_order(versions_in(received, "bob/health"), 15);
}

TEST_CASE("hook worker: an event that keeps failing becomes a dead letter, and the next ones go on",
          "[hooks][worker]") {
  TempDir dir;
  auto service = open_service(dir);
  // Fails for version 2 only; records the others.
  const auto log = dir.path() / "delivered";
  HookSpec hook;
  hook.name = "picky";
  hook.kind = HookKind::program;
  hook.command = {"/bin/sh", "-c",
                  "event=$(cat); case \"$event\" in *'\"version\":\"2\"'*) echo 'no version 2' >&2; exit 3;; esac; "
                  "echo \"$event\" >> " +
                      log.string()};
  HooksConfig config;
  config.hooks.push_back(hook);
  config.max_attempts = 3;
  for (int i = 0; i < 4; ++i) {
    write_next(*service, "alice");
  }
  HookWorker worker(*service, config, fast_retries());
  worker.start();
  REQUIRE(caught_up(*service, config));
  worker.stop();
  const auto status = hooks_status(*service, k_caller, config);
  REQUIRE(status[0].lagging.size() == 1);
  const auto& context = status[0].lagging[0];
  CHECK(context.delivered == 4);
  CHECK(context.dead_letters == 1);
  REQUIRE(context.recent_dead_letters.size() == 1);
  CHECK(context.recent_dead_letters[0].version == 2);
  CHECK_THAT(context.recent_dead_letters[0].error, Catch::Contains("no version 2"));
  CHECK(context.attempts == 0);
  const Json json = hooks_status_json(status);
  CHECK(json["hooks"][0]["dead_letters"] == 1);
  CHECK(json["hooks"][0]["lagging"][0]["recent_dead_letters"][0]["version"] == "2");
}

TEST_CASE("hook worker: trend and goal processors write back into a derived namespace, tagged with their source",
          "[hooks][worker]") {
  TempDir dir;
  auto service = open_service(dir);
  const HooksConfig config = HooksConfig::parse(R"({"hooks": [
      {"name": "weight-trend", "type": "trend", "field": "/weight", "window": 2, "threshold": 78.5,
       "namespaces": ["health"], "write_back": "insights"},
      {"name": "weight-goal", "type": "goal", "field": "/weight", "target": 70,
       "namespaces": ["health"], "write_back": "insights"},
      {"name": "echo", "type": "program", "command": ["/bin/sh", "-c", "cat >/dev/null; echo '{\"delta\": {\"echoed\": true}}'"],
       "namespaces": ["health"], "write_back": "echoes"}]})",
                                                "hooks.json");
  for (const double weight : {80.0, 79.0, 78.0, 77.0}) {
    MemoryUpdate update;
    update.user_id = "alice";
    update.ns = "health";
    update.delta = Json{{"weight", weight}}.dump();
    service->merge(k_caller, update);
  }
  // Another field's change is no sample.
  MemoryUpdate steps;
  steps.user_id = "alice";
  steps.ns = "health";
  steps.delta = R"({"steps": 9000})";
  service->merge(k_caller, steps);

  HookWorker worker(*service, config, fast_retries());
  const DrainReport report = worker.drain();
  CHECK(report.delivered == 15); // 5 versions, 3 hooks
  CHECK(report.failed == 0);

  const VersionRecord insights = service->get(k_caller, {"alice", "insights"});
  const Json data = Json::parse(insights.data);
  // Weights 80 79 78 77, window 2: averages 79.5, 78.5, 77.5 — below 78.5 at version 4.
  CHECK(data["trends"]["weight"]["crossed"] == "below");
  CHECK(data["trends"]["weight"]["version"] == "4");
  CHECK(data["trends"]["weight"]["moving_average"] == 77.5);
  CHECK(data["goals"]["weight"]["start"] == 80.0);
  CHECK(data["goals"]["weight"]["current"] == 77.0);
  CHECK(data["goals"]["weight"]["progress"] == Approx(0.3));
  CHECK(data["goals"]["weight"]["version"] == "4");
  // Tagged with the hook and the version each answer came from.
  const auto history = service->history(k_caller, {"alice", "insights"}, {});
  std::vector<std::string> sources;
  for (const auto& record : history.versions) {
    CHECK(record.actor == "hook:" + std::string(record.tags.at(0).substr(5)));
    sources.push_back(record.tags.at(0) + " " + record.tags.at(1));
  }
  std::sort(sources.begin(), sources.end());
  CHECK(sources == std::vector<std::string>{"hook:weight-goal source:health@1", "hook:weight-goal source:health@2",
                                            "hook:weight-goal source:health@3", "hook:weight-goal source:health@4",
                                            "hook:weight-trend source:health@4"});
  CHECK(Json::parse(service->get(k_caller, {"alice", "echoes"}).data) == Json{{"echoed", true}});
  CHECK(service->head_version({"alice", "echoes"}) == 1); // the same answer five times: one change

  // Delivered again from the start: the answers are not written twice.
  const std::uint64_t before = service->head_version({"alice", "insights"});
  CHECK(service->store().remove_hook_cursors("weight-goal") == 1);
  CHECK(worker.drain().delivered == 5);
  CHECK(service->head_version({"alice", "insights"}) == before);
}

TEST_CASE("hook worker: a context erased and written again is delivered from its new first version",
          "[hooks][worker]") {
  TempDir dir;
  auto service = open_service(dir);
  Receiver receiver;
  const LoopbackServer server([&](httplib::Server& s) { receiver.routes(s); });
  HooksConfig config;
  config.hooks.push_back(webhook(server.url("/events")));
  HookWorker worker(*service, config, fast_retries());
  for (int i = 0; i < 3; ++i) {
    write_next(*service, "alice");
  }
  CHECK(worker.drain().delivered == 3);
  service->erase(k_caller, "alice");
  CHECK(service->store().hook_cursors("nudges").empty());
  for (int i = 0; i < 2; ++i) {
    write_next(*service, "alice");
  }
  CHECK(worker.drain().delivered == 2);
  CHECK(versions_in(receiver.received(), "alice/default") == std::vector<std::uint64_t>{1, 2, 3, 1, 2});
}

TEST_CASE("hook worker: with the hooks feature off, status is refused as disabled", "[hooks][worker]") {
  TempDir dir;
  ServiceOptions options;
  options.features.hooks = false;
  MemoryService service(open_store(testing::test_store_config("json", dir)), options);
  const HooksConfig config;
  const zsimem::Error error = error_of([&] { hooks_status(service, k_caller, config); });
  CHECK(error.code() == ErrorCode::disabled);
  CHECK_THAT(error.what(), Catch::Contains("hooks=on"));
}
