// The daemon's hook worker: `zsimem serve --hooks FILE` hands every version
// to a webhook on loopback, catches up after being killed, and reports its
// progress at GET {P}/hooks.

#include "support/loopback_server.hpp"
#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/hooks.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace zsimem;

namespace {

constexpr std::string_view k_secret = "a-webhook-secret-of-32-bytes-0003";

// The versions of alice/default it got, in arrival order, and how many
// requests were not signed right.
struct Received {
  std::mutex mutex;
  std::vector<std::uint64_t> versions;
  int bad_signatures = 0;

  std::vector<std::uint64_t> snapshot() {
    const std::lock_guard lock(mutex);
    return versions;
  }
};

void receive(httplib::Server& server, Received& received) {
  server.Post("/events", [&received](const httplib::Request& req, httplib::Response&) {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    const Json event = Json::parse(req.body);
    const std::lock_guard lock(received.mutex);
    if (!verify_webhook_signature(k_secret, req.get_header_value("X-Zsimem-Signature"), req.body, now.count())) {
      ++received.bad_signatures;
    }
    received.versions.push_back(parse_version(event.at("version").get<std::string>()));
  });
}

// Waits (at most 40 s: a killed daemon's leases last 11 s) until versions
// 1..n have arrived.
bool arrived(Received& received, std::uint64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (std::chrono::steady_clock::now() < deadline) {
    auto versions = received.snapshot();
    std::sort(versions.begin(), versions.end());
    versions.erase(std::unique(versions.begin(), versions.end()), versions.end());
    if (versions.size() == n) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A hooks file with one webhook, "nudges", to `receiver`, signing with the
// secret of secret_env().
std::filesystem::path write_hooks_file(const testing::TempDir& dir, const testing::LoopbackServer& receiver) {
  const auto path = dir.path() / "hooks.json";
  std::ofstream(path) << R"({"hooks": [{"name": "nudges", "type": "webhook", "url": ")" << receiver.url("/events")
                      << R"(", "secret_env": "ZSIMEM_TEST_WEBHOOK_SECRET", "timeout_ms": 1000}]})";
  return path;
}

std::string secret_env() { return "ZSIMEM_TEST_WEBHOOK_SECRET=" + std::string(k_secret); }

void post(httplib::Client& client, int n) {
  const auto posted = client.Post(
      "/api/v1/memory/alice", R"({"user_id": "alice", "delta": {"n": )" + std::to_string(n) + "}}", "application/json");
  REQUIRE(posted);
  REQUIRE(posted->status == 200);
}

} // namespace

TEST_CASE("http: the daemon delivers to its hooks, reports them, and catches up after a kill", "[http][hooks]") {
  testing::TempDir dir;
  Received received;
  const testing::LoopbackServer receiver([&](httplib::Server& server) { receive(server, received); });
  const auto hooks = write_hooks_file(dir, receiver);
  const auto start = [&] {
    testing::ServeProcess::Options options("sqlite", dir.path() / "data", dir.path() / "serve.log");
    options.args = {"--hooks", hooks.string()};
    options.env = {secret_env()};
    return std::make_unique<testing::ServeProcess>(std::move(options));
  };

  auto daemon = start();
  {
    httplib::Client client("127.0.0.1", daemon->port());
    for (int i = 1; i <= 5; ++i) {
      post(client, i);
    }
    REQUIRE(arrived(received, 5));
    // Caught up: the status shows nothing pending once the cursor is stored.
    Json status;
    for (int tries = 0; tries < 200; ++tries) {
      const auto answer = client.Get("/api/v1/hooks");
      REQUIRE(answer);
      REQUIRE(answer->status == 200);
      status = Json::parse(answer->body);
      if (status["hooks"][0]["pending"] == 0) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(status["hooks"][0]["name"] == "nudges");
    CHECK(status["hooks"][0]["type"] == "webhook");
    CHECK(status["hooks"][0]["contexts"] == 1);
    CHECK(status["hooks"][0]["pending"] == 0);
    const auto metrics = client.Get("/metrics");
    REQUIRE(metrics);
    CHECK_THAT(metrics->body, Catch::Contains(R"(zsimem_hook_deliveries_total{hook="nudges",outcome="delivered"} 5)"));
  }
  daemon->kill_now();

  // Written while no daemon runs: the next one delivers them.
  for (int i = 6; i <= 8; ++i) {
    const auto merged =
        testing::run_process({ZSIMEM_BINARY, "--backend", "sqlite", "--data-dir", (dir.path() / "data").string(),
                              "merge", "alice", R"({"n": )" + std::to_string(i) + "}"});
    REQUIRE(merged.exit_code == 0);
  }
  daemon = start();
  REQUIRE(arrived(received, 8));
  const auto versions = received.snapshot();
  CAPTURE(versions);
  CHECK(std::is_sorted(versions.begin(), versions.end()));
  std::lock_guard lock(received.mutex);
  CHECK(received.bad_signatures == 0);
}

TEST_CASE("http: with the hooks feature off the daemon delivers nothing and GET /hooks answers 501", "[http][hooks]") {
  testing::TempDir dir;
  Received received;
  const testing::LoopbackServer receiver([&](httplib::Server& server) { receive(server, received); });
  const auto hooks = write_hooks_file(dir, receiver);
  testing::ServeProcess::Options options("json", dir.path() / "data", dir.path() / "serve.log");
  options.args = {"--hooks", hooks.string()};
  options.env = {secret_env(), "ZSIMEM_FEATURES=hooks=off"};
  const testing::ServeProcess daemon(std::move(options));
  httplib::Client client("127.0.0.1", daemon.port());
  post(client, 1);
  const auto answer = client.Get("/api/v1/hooks");
  REQUIRE(answer);
  CHECK(answer->status == 501);
  CHECK_THAT(answer->body, Catch::Contains("hooks=on"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(received.snapshot().empty());
  std::ifstream log(dir.path() / "serve.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("--hooks is ignored"));
}

TEST_CASE("http: a bad hooks file stops the daemon before it serves", "[http][hooks]") {
  testing::TempDir dir;
  const auto hooks = dir.path() / "hooks.json";
  std::ofstream(hooks) << R"({"hooks": [{"name": "x", "type": "webhook", "url": "ftp://nowhere"}]})";
  const auto result = testing::run_process({ZSIMEM_BINARY, "--data-dir", (dir.path() / "data").string(), "serve",
                                            "--listen", "127.0.0.1:0", "--hooks", hooks.string()});
  CHECK(result.exit_code == 5);
  CHECK_THAT(result.err, Catch::Contains("hooks[0].url"));
}
