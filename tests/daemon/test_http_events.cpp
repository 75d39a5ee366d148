#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_daemon.hpp"

#include <zsimem/codec.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace zsimem;
using Daemon = zsimem::testing::TestDaemon;
using namespace std::chrono_literals;

namespace {

const std::string k_memory = "/api/v1/memory";

struct Event {
  std::string name;
  std::string id;
  Json data;
};

// Reads an event stream on its own thread, as a browser's EventSource would.
class EventReader {
public:
  EventReader(const Daemon& d, std::string path, httplib::Headers headers = {}) : m_client(d.client()) {
    m_thread = std::thread([this, path = std::move(path), headers = std::move(headers)] {
      const auto result = m_client.Get(
          path.c_str(), headers,
          [this](const httplib::Response& response) {
            std::lock_guard lock(m_mutex);
            m_status = response.status;
            m_content_type = response.get_header_value("Content-Type");
            return true;
          },
          [this](const char* data, std::size_t length) {
            std::lock_guard lock(m_mutex);
            m_text.append(data, length);
            parse();
            m_arrived.notify_all();
            return true;
          });
      std::lock_guard lock(m_mutex);
      m_ended = true;
      m_arrived.notify_all();
    });
  }

  ~EventReader() {
    m_client.stop();
    m_thread.join();
  }

  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Whether the stream is open and following (its first comment arrived).
  bool following() {
    std::unique_lock lock(m_mutex);
    return m_arrived.wait_for(lock, 5s, [&] { return m_text.find(": following") != std::string::npos || m_ended; }) &&
           !m_ended;
  }

  // The first `count` events, once they arrived (fewer after the timeout).
  std::vector<Event> wait_for(std::size_t count, std::chrono::seconds timeout = 10s) {
    std::unique_lock lock(m_mutex);
    m_arrived.wait_for(lock, timeout, [&] { return m_events.size() >= count || m_ended; });
    return m_events;
  }

  int status() {
    std::unique_lock lock(m_mutex);
    m_arrived.wait_for(lock, 5s, [&] { return m_status != 0 || m_ended; });
    return m_status;
  }

  std::string content_type() {
    std::lock_guard lock(m_mutex);
    return m_content_type;
  }

private:
  // Events are separated by a blank line; this server writes no CRs.
  void parse() {
    for (std::size_t end; (end = m_text.find("\n\n", m_parsed)) != std::string::npos; m_parsed = end + 2) {
      Event event;
      bool has_data = false;
      std::size_t start = m_parsed;
      while (start < end) {
        const std::size_t line_end = std::min(m_text.find('\n', start), end);
        const std::string line = m_text.substr(start, line_end - start);
        start = line_end + 1;
        if (line.starts_with("event: ")) {
          event.name = line.substr(7);
        } else if (line.starts_with("id: ")) {
          event.id = line.substr(4);
        } else if (line.starts_with("data: ")) {
          event.data = Json::parse(line.substr(6));
          has_data = true;
        }
      }
      if (has_data) {
        m_events.push_back(std::move(event));
      }
    }
  }

  httplib::Client m_client;
  std::mutex m_mutex;
  std::condition_variable m_arrived;
  std::string m_text;
  std::size_t m_parsed = 0;
  std::vector<Event> m_events;
  int m_status = 0;
  std::string m_content_type;
  bool m_ended = false;
  std::thread m_thread;
};

void merge(const Daemon& d, const std::string& user, const Json& delta, const std::string& ns = "default") {
  auto client = d.client();
  const auto result = client.Post((k_memory + "/" + user + "?namespace=" + ns).c_str(),
                                  Json{{"user_id", user}, {"delta", delta}}.dump(), "application/json");
  REQUIRE(result);
  REQUIRE(result->status == 200);
}

std::vector<std::string> ids(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) {
    out.push_back(event.name + " " + event.id);
  }
  return out;
}

} // namespace

TEST_CASE("http events: a follower gets each new version, from the daemon and from a CLI process", "[http][events]") {
  Daemon d(GENERATE(from_range(file_backend_names())));
  merge(d, "alice", {{"n", 0}});
  EventReader reader(d, k_memory + "/alice/events");
  REQUIRE(reader.following());
  CHECK(reader.status() == 200);
  CHECK(reader.content_type() == "text/event-stream");

  merge(d, "alice", {{"n", 1}});
  merge(d, "alice", {{"other", "namespace"}}, "notes"); // another context: not in this stream
  // A CLI process on the same files: seen by polling, not by the change feed.
  const auto cli = zsimem::testing::run_process(
      {ZSIMEM_BINARY, "--backend", d.backend, "--data-dir", d.dir.path().string(), "merge", "alice", R"({"n": 2})"});
  REQUIRE(cli.exit_code == 0);
  merge(d, "alice", {{"n", 3}});

  const auto events = reader.wait_for(3);
  REQUIRE(ids(events) == std::vector<std::string>{"version 2", "version 3", "version 4"});
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].data["user_id"] == "alice");
    CHECK(events[i].data["namespace"] == "default");
    CHECK(events[i].data["version"] == events[i].id);
    CHECK(events[i].data["data"]["n"] == static_cast<int>(i + 1));
    CHECK(events[i].data["delta"] == Json{{"n", i + 1}});
  }
  CHECK(events[1].data["actor"] != events[0].data["actor"]); // the CLI's own actor
  CHECK(events[2].data["prev_hash"] == events[1].data["hash"]);
}

TEST_CASE("http events: Last-Event-ID and ?after= resume after a version", "[http][events]") {
  Daemon d(GENERATE(from_range(file_backend_names())));
  for (int i = 1; i <= 5; ++i) {
    merge(d, "bob", {{"n", i}});
  }
  {
    EventReader reader(d, k_memory + "/bob/events", {{"Last-Event-ID", "2"}});
    CHECK(ids(reader.wait_for(3)) == std::vector<std::string>{"version 3", "version 4", "version 5"});
  }
  {
    EventReader reader(d, k_memory + "/bob/events?after=4");
    CHECK(ids(reader.wait_for(1)) == std::vector<std::string>{"version 5"});
    merge(d, "bob", {{"n", 6}});
    CHECK(ids(reader.wait_for(2)) == std::vector<std::string>{"version 5", "version 6"});
  }
  {
    // Last-Event-ID wins over ?after=, as a reconnecting EventSource keeps its URL.
    EventReader reader(d, k_memory + "/bob/events?after=5", {{"Last-Event-ID", "0"}});
    const auto events = reader.wait_for(6);
    REQUIRE(events.size() == 6);
    CHECK(events.front().id == "1");
    CHECK(events.back().id == "6");
  }
  {
    // A user with no context yet can be followed: its first version arrives.
    EventReader reader(d, k_memory + "/carol/events");
    REQUIRE(reader.following());
    merge(d, "carol", {{"hello", true}});
    CHECK(ids(reader.wait_for(1)) == std::vector<std::string>{"version 1"});
  }
}

TEST_CASE("http events: an erased context is announced and followed afresh", "[http][events]") {
  Daemon d(GENERATE(from_range(file_backend_names())));
  merge(d, "dave", {{"n", 1}});
  EventReader reader(d, k_memory + "/dave/events?after=0");
  REQUIRE(reader.wait_for(1).size() == 1);
  auto client = d.client();
  REQUIRE(client.Delete((k_memory + "/dave").c_str())->status == 200);
  merge(d, "dave", {{"n", "new"}});
  const auto events = reader.wait_for(3);
  REQUIRE(ids(events) == std::vector<std::string>{"version 1", "erased 0", "version 1"});
  CHECK(events[1].data == Json{{"user_id", "dave"}, {"namespace", "default"}});
  CHECK(events[2].data["data"] == Json{{"n", "new"}});
}

TEST_CASE("http events: bad requests get the API's errors", "[http][events]") {
  Daemon d("sqlite");
  auto client = d.client();
  const auto bad_id = client.Get((k_memory + "/erin/events").c_str(), {{"Last-Event-ID", "x"}});
  REQUIRE(bad_id);
  CHECK(bad_id->status == 422);
  CHECK(Json::parse(bad_id->body)["detail"][0]["loc"] == Json{"header", "Last-Event-ID"});
  const auto bad_after = client.Get((k_memory + "/erin/events?after=-1").c_str());
  REQUIRE(bad_after);
  CHECK(bad_after->status == 422);
  CHECK(Json::parse(bad_after->body)["detail"][0]["loc"] == Json{"query", "after"});
  const auto bad_namespace = client.Get((k_memory + "/erin/events?namespace=..").c_str());
  REQUIRE(bad_namespace);
  CHECK(bad_namespace->status == 422);
  const auto post = client.Post((k_memory + "/erin/events").c_str(), "{}", "application/json");
  REQUIRE(post);
  CHECK(post->status == 405);
}

TEST_CASE("http events: open streams do not keep the daemon from stopping", "[http][events]") {
  std::optional<Daemon> d(std::in_place, "json");
  std::vector<std::unique_ptr<EventReader>> readers;
  for (int i = 0; i < 3; ++i) {
    readers.push_back(std::make_unique<EventReader>(*d, k_memory + "/frank/events"));
    REQUIRE(readers.back()->following());
  }
  const auto start = std::chrono::steady_clock::now();
  d.reset(); // stops the server with the streams still open
  // Each stream notices within one poll of the store (1 s); idle keep-alive
  // connections take up to httplib's keep-alive timeout (5 s).
  CHECK(std::chrono::steady_clock::now() - start < 8s);
}

TEST_CASE("cli: zsimem watch prints the versions a daemon streams", "[http][events][cli]") {
  Daemon d("sqlite");
  merge(d, "gina", {{"n", 1}});
  merge(d, "gina", {{"n", 2}});
  const std::string url = "http://127.0.0.1:" + std::to_string(d.port);
  // The writer's outcome is asserted on this thread: Catch2 is not thread-safe.
  int written = 0;
  std::thread writer([&] {
    std::this_thread::sleep_for(300ms);
    auto client = d.client();
    const auto result = client.Post((k_memory + "/gina").c_str(),
                                    Json{{"user_id", "gina"}, {"delta", {{"n", 3}}}}.dump(), "application/json");
    written = result ? result->status : -1;
  });
  const auto watched = zsimem::testing::run_process(
      {ZSIMEM_BINARY, "-o", "json", "watch", "gina", "--url", url, "--after", "1", "--count", "2"}, {}, {}, 20s);
  writer.join();
  REQUIRE(written == 200);
  REQUIRE(watched.exit_code == 0);
  std::vector<Json> lines;
  std::istringstream out(watched.out);
  for (std::string line; std::getline(out, line);) {
    lines.push_back(Json::parse(line));
  }
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["version"] == "2");
  CHECK(lines[1]["version"] == "3");
  CHECK(lines[1]["data"] == Json{{"n", 3}});

  const auto text = zsimem::testing::run_process(
      {ZSIMEM_BINARY, "-o", "text", "watch", "gina", "--url", url, "--after", "2", "--count", "1"}, {}, {}, 20s);
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("gina · default · version 3") != std::string::npos);

  // Errors map to the CLI's exit codes.
  const auto bad_user =
      zsimem::testing::run_process({ZSIMEM_BINARY, "watch", "no/slash", "--url", url, "--count", "1"}, {}, {}, 20s);
  CHECK(bad_user.exit_code == 5);
  const auto not_found = zsimem::testing::run_process(
      {ZSIMEM_BINARY, "watch", "gina", "--url", url, "--api-prefix", "/nope", "--count", "1"}, {}, {}, 20s);
  CHECK(not_found.exit_code == 3);
  CHECK(not_found.err.find("404") != std::string::npos);
  const auto no_daemon = zsimem::testing::run_process(
      {ZSIMEM_BINARY, "watch", "gina", "--url", "http://127.0.0.1:1", "--count", "1"}, {}, {}, 20s);
  CHECK(no_daemon.exit_code == 7);
  const auto bad_url =
      zsimem::testing::run_process({ZSIMEM_BINARY, "watch", "gina", "--url", "ftp://x", "--count", "1"}, {}, {}, 20s);
  CHECK(bad_url.exit_code == 5);
}

namespace {

void merge_at(int port, const std::string& user, int n) {
  httplib::Client client("127.0.0.1", port);
  const auto result = client.Post((k_memory + "/" + user).c_str(),
                                  Json{{"user_id", user}, {"delta", {{"n", n}}}}.dump(), "application/json");
  REQUIRE(result);
  REQUIRE(result->status == 200);
}

// A write by a CLI process while no daemon runs.
void merge_at_offline(const std::filesystem::path& data_dir, const std::string& user, int n) {
  const auto result = testing::run_process(
      {ZSIMEM_BINARY, "--backend", "sqlite", "--data-dir", data_dir.string(), "merge", user, Json{{"n", n}}.dump()});
  REQUIRE(result.exit_code == 0);
}

} // namespace

TEST_CASE("cli: zsimem watch reconnects after the daemon restarts, missing no version", "[http][events][cli]") {
  const testing::TempDir dir;
  std::optional<testing::ServeProcess> daemon;
  daemon.emplace(testing::ServeProcess::Options("sqlite", dir.path() / "data", dir.path() / "first.log"));
  const int port = daemon->port();
  merge_at(port, "hana", 1);
  testing::ProcessResult watched;
  std::thread watcher([&] {
    watched = testing::run_process({ZSIMEM_BINARY, "-o", "json", "watch", "hana", "--url",
                                    "http://127.0.0.1:" + std::to_string(port), "--after", "0", "--count", "3"},
                                   {}, {}, 30s);
  });
  // Opening the stream is audited: once it is, the watcher has version 1.
  httplib::Client client("127.0.0.1", port);
  const auto following = [&] {
    const auto logs = client.Get((k_memory + "/logs?user_id=hana").c_str());
    return logs && logs->body.find(R"("operation":"follow")") != std::string::npos;
  };
  for (int i = 0; i < 500 && !following(); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(following());
  daemon.reset(); // the stream ends with the daemon
  merge_at_offline(dir.path() / "data", "hana", 2);
  testing::ServeProcess::Options again("sqlite", dir.path() / "data", dir.path() / "second.log");
  again.port = port;
  daemon.emplace(again);
  merge_at(port, "hana", 3);
  watcher.join();
  INFO(watched.err);
  REQUIRE(watched.exit_code == 0);
  std::vector<std::string> versions;
  std::istringstream out(watched.out);
  for (std::string line; std::getline(out, line);) {
    versions.push_back(Json::parse(line)["version"]);
  }
  CHECK(versions == std::vector<std::string>{"1", "2", "3"});
  CHECK(watched.err.find("reconnecting after version 1") != std::string::npos);
}
