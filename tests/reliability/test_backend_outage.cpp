// The server of a server-backed backend goes away under a running daemon
// and comes back: while it is down requests fail with a clear 503, nothing
// half-written appears, and the daemon serves again by itself, without a
// restart. The servers are this test's own (tests/services/run in its
// directory), so that stopping them disturbs no other test. The Firestore
// emulator keeps its data in memory only: its outage is that of the proxy
// in front of it (tests/services/tcp_proxy.js), as its clients see a stop.

#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

#include <zsimem/codec.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace zsimem;

namespace {

const std::string k_services = std::string(ZSIMEM_SOURCE_DIR) + "/tests/services/run";

// Servers of this test alone, stopped (and their data removed) at the end.
class OwnServices {
public:
  explicit OwnServices(std::filesystem::path dir) : m_dir(std::move(dir)) { control("start"); }
  ~OwnServices() { testing::run_process({k_services, "stop", m_dir.string()}); }
  OwnServices(const OwnServices&) = delete;
  OwnServices& operator=(const OwnServices&) = delete;

  void control(const std::string& action) const {
    const auto result = testing::run_process({k_services, action, m_dir.string()});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
  }

  // services.env's NAME=VALUE lines, as run_process takes them.
  std::vector<std::string> env() const {
    std::vector<std::string> lines;
    std::ifstream file(m_dir / "services.env");
    for (std::string line; std::getline(file, line);) {
      lines.push_back(line);
    }
    return lines;
  }

private:
  std::filesystem::path m_dir;
};

template <typename Predicate> bool wait_until(Predicate&& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

} // namespace

TEST_CASE("outage: a stopped backend server means 503s, nothing half-written, and service resumes by itself",
          "[reliability][outage]") {
  const std::string backend = GENERATE("postgres", "dynamo", "firestore");
  CAPTURE(backend);
  const testing::TempDir tmp;
  const OwnServices services(tmp.path() / "services");
  std::vector<std::string> env = services.env();
  const StoreConfig store = testing::test_store_config(backend, tmp);
  const auto store_args = testing::test_store_args(store, env);
  std::vector<std::string> init{ZSIMEM_BINARY};
  init.insert(init.end(), store_args.begin(), store_args.end());
  init.emplace_back("init");
  REQUIRE(testing::run_process(init, {}, env).exit_code == 0);

  testing::ServeProcess::Options options(backend, store.data_dir, tmp.path() / "serve.log");
  options.env = env;
  testing::ServeProcess daemon(options);

  // One writer merges n = 1, 2, 3 … and notes how each request ended.
  std::mutex mutex;
  std::set<int> acknowledged; // answered 200
  std::set<int> sent;         // every n sent, whatever the answer
  std::atomic<int> unavailable{0};
  std::atomic<bool> stop{false};
  std::string unexpected;
  std::thread writer([&] {
    httplib::Client client("127.0.0.1", daemon.port());
    client.set_read_timeout(30, 0);
    for (int n = 1; !stop; ++n) {
      const Json body{{"user_id", "alice"}, {"delta", {{"n", n}}}};
      {
        const std::lock_guard lock(mutex);
        sent.insert(n);
      }
      const auto result = client.Post("/api/v1/memory/alice", body.dump(), "application/json");
      const std::lock_guard lock(mutex);
      if (result && result->status == 200) {
        acknowledged.insert(n);
      } else if (result && result->status == 503 && Json::parse(result->body).contains("detail")) {
        ++unavailable;
      } else {
        unexpected = result ? std::to_string(result->status) + " " + result->body : "no answer";
        return;
      }
    }
  });
  const auto acknowledged_count = [&] {
    const std::lock_guard lock(mutex);
    return acknowledged.size();
  };

  CHECK(wait_until([&] { return acknowledged_count() >= 5; }, std::chrono::seconds(30)));
  services.control("pause");
  CHECK(wait_until([&] { return unavailable >= 2; }, std::chrono::seconds(60)));
  httplib::Client reader("127.0.0.1", daemon.port());
  reader.set_read_timeout(30, 0);
  const auto read_while_down = reader.Get("/api/v1/memory/alice");
  REQUIRE(read_while_down);
  CHECK(read_while_down->status == 503);
  const std::size_t before_resume = acknowledged_count();
  services.control("resume");
  CHECK(wait_until([&] { return acknowledged_count() >= before_resume + 5; }, std::chrono::seconds(60)));
  stop = true;
  writer.join();
  REQUIRE(unexpected.empty());

  // Every acknowledged n is stored; every stored version is whole, in one
  // contiguous verified chain, and holds an n that was sent (a write cut
  // off mid-commit may or may not have landed, never half).
  std::set<int> stored;
  std::uint64_t expected_version = 0;
  for (std::string cursor;;) {
    const auto page = reader.Get(("/api/v1/memory/alice/history?limit=1000" + cursor).c_str());
    REQUIRE(page);
    REQUIRE(page->status == 200);
    const Json body = Json::parse(page->body);
    for (const auto& version : body["versions"]) {
      const auto number = parse_version(version["version"].get<std::string>());
      CHECK((expected_version == 0 || number == expected_version));
      expected_version = number - 1;
      stored.insert(version["data"]["n"].get<int>());
    }
    if (body["next_cursor"].is_null()) {
      break;
    }
    cursor = "&cursor=" + body["next_cursor"].get<std::string>();
  }
  CHECK(expected_version == 0);
  for (const int n : acknowledged) {
    CHECK(stored.count(n) == 1);
  }
  for (const int n : stored) {
    CHECK(sent.count(n) == 1);
  }
  std::vector<std::string> verify{ZSIMEM_BINARY};
  verify.insert(verify.end(), store_args.begin(), store_args.end());
  verify.emplace_back("verify");
  const auto verified = testing::run_process(verify, {}, env);
  INFO(verified.out << verified.err);
  CHECK(verified.exit_code == 0);
}
