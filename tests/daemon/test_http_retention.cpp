// The daemon's retention timer: `zsimem serve --retention FILE` prunes at
// start and then every --prune-interval, while it serves.

#include "support/serve_process.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

using namespace zsimem;

namespace {

std::size_t versions_listed(httplib::Client& client) {
  const auto listed = client.Get("/api/v1/memory/alice/history?limit=100");
  REQUIRE(listed);
  REQUIRE(listed->status == 200);
  return Json::parse(listed->body)["versions"].size();
}

// Whether the audit log holds a prune by the daemon's timer that removed something.
bool pruned_by_timer(httplib::Client& client) {
  const auto logs = client.Get("/api/v1/memory/logs?limit=1000");
  REQUIRE(logs);
  REQUIRE(logs->status == 200);
  const Json log = Json::parse(logs->body);
  for (const auto& record : log["records"]) {
    if (record["operation"] == "prune" && record["actor"] == "zsimem-retention" &&
        !record["detail"].get<std::string>().starts_with("0 versions")) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("http: the daemon applies its retention file on a timer", "[http][retention]") {
  testing::TempDir dir;
  const auto policy = dir.path() / "retention.json";
  std::ofstream(policy) << R"({"default": {"keep_last": 2}})";
  testing::ServeProcess::Options options("sqlite", dir.path() / "data", dir.path() / "serve.log");
  options.args = {"--retention", policy.string()};
  options.env = {"ZSIMEM_PRUNE_INTERVAL=1s"};
  const testing::ServeProcess daemon(std::move(options));
  httplib::Client client("127.0.0.1", daemon.port());
  for (int i = 1; i <= 6; ++i) {
    const auto posted =
        client.Post("/api/v1/memory/alice", R"({"user_id": "alice", "delta": {"n": )" + std::to_string(i) + "}}",
                    "application/json");
    REQUIRE(posted);
    REQUIRE(posted->status == 200);
  }
  // Within a tick or two, the four oldest are gone.
  for (int wait = 0; wait < 100 && (versions_listed(client) > 2 || !pruned_by_timer(client)); ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(pruned_by_timer(client));
  CHECK(versions_listed(client) == 2);
  const auto pruned = client.Get("/api/v1/memory/alice?version=1");
  REQUIRE(pruned);
  CHECK(pruned->status == 404);
  CHECK_THAT(Json::parse(pruned->body)["detail"].get<std::string>(), Catch::Contains("pruned by retention"));
}

TEST_CASE("http: a bad retention file stops the daemon before it serves", "[http][retention]") {
  testing::TempDir dir;
  const auto policy = dir.path() / "retention.json";
  std::ofstream(policy) << R"({"default": {"keep_dayly": 2}})";
  testing::ServeProcess::Options options("sqlite", dir.path() / "data", dir.path() / "serve.log");
  options.args = {"--retention", policy.string()};
  try {
    const testing::ServeProcess daemon(std::move(options));
    FAIL("the daemon started");
  } catch (const std::runtime_error& error) {
    CHECK_THAT(error.what(), Catch::Contains("keep_dayly"));
  }
}
