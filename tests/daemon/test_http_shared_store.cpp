// Several daemons serving one store: what a team does when one machine is
// not enough. Every backend that several processes can share is tried:
// the file backends on one data directory, the server-backed ones on one
// schema or table of the test run's servers (tests/services/run).

#include "support/temp_dir.hpp"
#include "support/test_daemon.hpp"
#include "support/test_store.hpp"

#include <zsimem/codec.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace zsimem;

namespace {

const std::string k_counter = "/api/v1/memory/counter";

// Increments the counter through `daemon` until it has succeeded `times`
// times, reading the head and writing with If-Match, retrying on 412.
// Returns false on anything but 200 and 412.
bool increment(const testing::TestDaemon& daemon, int times) {
  auto client = daemon.client();
  for (int done = 0; done < times;) {
    const auto current = client.Get(k_counter.c_str());
    if (!current || (current->status != 200 && current->status != 404)) {
      return false;
    }
    std::int64_t value = 0;
    std::string etag = "\"0\"";
    if (current->status == 200) {
      value = Json::parse(current->body)["data"]["counter"].get<std::int64_t>();
      etag = current->get_header_value("ETag");
    }
    const Json update{{"user_id", "counter"}, {"delta", {{"counter", value + 1}}}};
    const auto result = client.Post(k_counter.c_str(), {{"If-Match", etag}}, update.dump(), "application/json");
    if (!result || (result->status != 200 && result->status != 412)) {
      return false;
    }
    done += result->status == 200 ? 1 : 0;
  }
  return true;
}

} // namespace

TEST_CASE("http: two daemons on one store lose no update and number versions contiguously",
          "[http][concurrency][shared]") {
  const std::string backend(GENERATE(from_range(backend_names())));
  CAPTURE(backend);
  testing::TempDir dir;
  const StoreConfig store = testing::test_store_config(backend, dir);
  testing::TestDaemon first(store);
  testing::TestDaemon second(store);
  const int threads_per_daemon = 3;
  const int increments = 15;
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  for (int i = 0; i < threads_per_daemon; ++i) {
    for (const auto* daemon : {&first, &second}) {
      workers.emplace_back([&, daemon] {
        if (!increment(*daemon, increments)) {
          failed = true;
        }
      });
    }
  }
  for (auto& worker : workers) {
    worker.join();
  }
  REQUIRE_FALSE(failed);
  const std::int64_t total = 2 * threads_per_daemon * increments;
  for (auto* daemon : {&first, &second}) {
    const VersionRecord head = daemon->service.get({"test", "check"}, {"counter"});
    CHECK(head.version == static_cast<std::uint64_t>(total));
    CHECK(Json::parse(head.data)["counter"] == total);
  }
  // Versions total..1, each once, each holding its own number.
  HistoryQuery query;
  query.limit = static_cast<std::size_t>(total) + 1;
  const auto history = first.service.history({"test", "check"}, {"counter"}, query).versions;
  REQUIRE(history.size() == static_cast<std::size_t>(total));
  for (std::size_t i = 0; i < history.size(); ++i) {
    const auto expected = static_cast<std::uint64_t>(total) - i;
    CHECK(history[i].version == expected);
    CHECK(Json::parse(history[i].data)["counter"] == expected);
  }
  CHECK(second.service.verify({"test", "check"}).ok());
}

TEST_CASE("http events: versions written through one daemon arrive on the other's stream", "[http][events][shared]") {
  const std::string backend(GENERATE(from_range(backend_names())));
  CAPTURE(backend);
  testing::TempDir dir;
  const StoreConfig store = testing::test_store_config(backend, dir);
  testing::TestDaemon follower(store);
  testing::TestDaemon writer(store);
  auto client = writer.client();
  const auto post = [&](int n) {
    const Json update{{"user_id", "counter"}, {"delta", {{"counter", n}}}};
    const auto result = client.Post(k_counter.c_str(), update.dump(), "application/json");
    REQUIRE(result);
    REQUIRE(result->status == 200);
  };
  post(1);

  // Follows after version 1 until version 3 has come, writing 2 and 3
  // through the other daemon once the stream is open.
  std::string text;
  std::thread writes;
  auto stream = follower.client();
  const auto result = stream.Get((k_counter + "/events?after=1").c_str(), [&](const char* data, std::size_t length) {
    text.append(data, length);
    if (!writes.joinable()) {
      writes = std::thread([&] {
        post(2);
        post(3);
      });
    }
    return text.find("id: 3\n") == std::string::npos;
  });
  if (writes.joinable()) {
    writes.join();
  }
  CHECK(text.find("event: version\nid: 2\n") != std::string::npos);
  CHECK(text.find("event: version\nid: 3\n") != std::string::npos);
  CHECK(text.find("id: 1\n") == std::string::npos);
}

TEST_CASE("postgres: a daemon's followers wake at once for another daemon's commits (LISTEN/NOTIFY)",
          "[http][events][shared][postgres]") {
  testing::TempDir dir;
  const StoreConfig store = testing::test_store_config("postgres", dir);
  testing::TestDaemon follower(store);
  testing::TestDaemon writer(store);
  const ContextKey key{"counter", "default"};
  auto subscription = follower.service.changes().subscribe(key);
  MemoryUpdate update;
  update.user_id = "counter";
  update.delta = R"({"counter":1})";
  writer.service.merge({"test", "writer"}, update);
  // Without a notification the wait would time out: the follower's own
  // service wrote nothing.
  CHECK(subscription.wait_until(std::chrono::steady_clock::now() + std::chrono::minutes(1)));

  auto erased = follower.service.changes().subscribe(key);
  writer.service.erase({"test", "writer"}, "counter", std::nullopt);
  CHECK(erased.wait_until(std::chrono::steady_clock::now() + std::chrono::minutes(1)));
}
