// Handing events to hooks: a webhook receiver on loopback (healthy, failing,
// slow, down) and programs (answering, failing, hanging).

#include "support/error_of.hpp"
#include "support/loopback_server.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/error.hpp>
#include <zsimem/hook_delivery.hpp>
#include <zsimem/hooks.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace zsimem;
using zsimem::testing::error_of;

namespace {

constexpr std::string_view k_secret = "a-webhook-secret-of-32-bytes-0001";
constexpr std::int64_t k_now = 1'764'380'641;
const std::string k_event = R"({"user_id":"alice","namespace":"default","version":"2"})";

// A receiver whose behaviour a test sets: it checks each request's signature.
class Receiver {
public:
  Receiver() : m_server([this](httplib::Server& server) { routes(server); }) {}

  std::string url() const { return m_server.url("/events"); }
  void set(std::string mode) {
    const std::lock_guard lock(m_mutex);
    m_mode = std::move(mode);
  }
  std::vector<std::string> bodies() const {
    const std::lock_guard lock(m_mutex);
    return m_bodies;
  }
  std::vector<bool> verified() const {
    const std::lock_guard lock(m_mutex);
    return m_verified;
  }
  std::vector<std::string> hook_names() const {
    const std::lock_guard lock(m_mutex);
    return m_hook_names;
  }

private:
  void routes(httplib::Server& server) {
    server.Post("/events", [this](const httplib::Request& req, httplib::Response& res) {
      std::string mode;
      {
        const std::lock_guard lock(m_mutex);
        mode = m_mode;
        m_bodies.push_back(req.body);
        m_verified.push_back(
            verify_webhook_signature(k_secret, req.get_header_value("X-Zsimem-Signature"), req.body, k_now));
        m_hook_names.push_back(req.get_header_value("X-Zsimem-Hook"));
      }
      if (mode == "slow") {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      }
      if (mode == "failing") {
        res.status = 500;
        res.set_content(R"({"detail": "boom"})", "application/json");
        return;
      }
      res.set_content(mode == "garbage" ? "<html>" : R"({"delta": {"seen": 2}})", "application/json");
    });
  }

  mutable std::mutex m_mutex;
  std::string m_mode = "healthy";
  std::vector<std::string> m_bodies;
  std::vector<bool> m_verified;
  std::vector<std::string> m_hook_names;
  // Last: it stops serving before the members its handler uses go.
  testing::LoopbackServer m_server;
};

HookSpec webhook(const std::string& url) {
  HookSpec hook;
  hook.name = "nudges";
  hook.kind = HookKind::webhook;
  hook.url = url;
  hook.secret = std::string(k_secret);
  hook.timeout = std::chrono::milliseconds(500);
  return hook;
}

HookSpec program(std::vector<std::string> command) {
  HookSpec hook;
  hook.name = "script";
  hook.kind = HookKind::program;
  hook.command = std::move(command);
  hook.timeout = std::chrono::milliseconds(500);
  return hook;
}

} // namespace

TEST_CASE("hook delivery: a webhook gets the event signed; failures are errors that name the hook", "[hooks]") {
  Receiver receiver;
  const HookSpec hook = webhook(receiver.url());

  const HookAnswer answer = deliver_event(hook, k_event, k_now);
  REQUIRE(answer.delta.has_value());
  CHECK(*answer.delta == R"({"seen":2})");
  CHECK(receiver.bodies() == std::vector<std::string>{k_event});
  CHECK(receiver.verified() == std::vector<bool>{true});
  CHECK(receiver.hook_names() == std::vector<std::string>{"nudges"});

  receiver.set("failing");
  const Error failing = error_of([&] { deliver_event(hook, k_event, k_now); });
  CHECK(failing.code() == ErrorCode::unavailable);
  CHECK_THAT(failing.what(), Catch::Contains("hook 'nudges'") && Catch::Contains("answered 500"));

  receiver.set("garbage");
  CHECK_THAT(error_of([&] { deliver_event(hook, k_event, k_now); }).what(), Catch::Contains("not a JSON object"));

  receiver.set("slow");
  const auto started = std::chrono::steady_clock::now();
  CHECK(error_of([&] { deliver_event(hook, k_event, k_now); }).code() == ErrorCode::timeout);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(1400));

  receiver.set("healthy");
  CHECK(deliver_event(hook, k_event, k_now).delta.has_value());
  CHECK(receiver.verified() == std::vector<bool>(5, true));
}

TEST_CASE("hook delivery: a webhook that is down is unavailable, at once", "[hooks]") {
  int port = 0;
  {
    Receiver gone;
    port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }
  const Error down =
      error_of([&] { deliver_event(webhook("http://127.0.0.1:" + std::to_string(port) + "/events"), k_event, k_now); });
  CHECK(down.code() == ErrorCode::unavailable);
  CHECK_THAT(down.what(), Catch::Contains("hook 'nudges'"));
}

TEST_CASE("hook delivery: a program reads the event on stdin and may answer a delta", "[hooks]") {
  const testing::TempDir dir;
  const auto seen = dir.path() / "seen.json";
  const HookAnswer answer =
      deliver_event(program({"sh", "-c", "cat > '" + seen.string() + "'; printf '{\"delta\": {\"insight\": \"up\"}}'"}),
                    k_event, k_now);
  REQUIRE(answer.delta.has_value());
  CHECK(*answer.delta == R"({"insight":"up"})");
  std::ifstream file(seen);
  CHECK(std::string(std::istreambuf_iterator<char>(file), {}) == k_event);

  CHECK_FALSE(deliver_event(program({"sh", "-c", "cat > /dev/null"}), k_event, k_now).delta.has_value());

  const Error failing = error_of([&] {
    deliver_event(program({"sh", "-c", "echo 'no model' >&2; exit 3"}), k_event, k_now);
  });
  CHECK(failing.code() == ErrorCode::unavailable);
  CHECK_THAT(failing.what(), Catch::Contains("exit status 3: no model"));

  // A program that exits without reading a large event: no SIGPIPE kills the caller.
  const std::string large(1 << 20, ' ');
  CHECK(error_of([&] {
          deliver_event(program({"sh", "-c", "exit 4"}), large + k_event, k_now);
        }).code() == ErrorCode::unavailable);

  const Error bad = error_of([&] { deliver_event(program({"sh", "-c", "echo hello"}), k_event, k_now); });
  CHECK_THAT(bad.what(), Catch::Contains("not a JSON object"));

  const Error missing = error_of([&] { deliver_event(program({"/nonexistent/hook"}), k_event, k_now); });
  CHECK(missing.code() == ErrorCode::unavailable);
  CHECK_THAT(missing.what(), Catch::Contains("/nonexistent/hook"));
}

TEST_CASE("hook delivery: a program that hangs is killed at its timeout, children included", "[hooks]") {
  const auto started = std::chrono::steady_clock::now();
  const Error hung = error_of([&] { deliver_event(program({"sh", "-c", "sleep 31.5 & sleep 31.5"}), k_event, k_now); });
  CHECK(hung.code() == ErrorCode::timeout);
  CHECK_THAT(hung.what(), Catch::Contains("hook 'script'") && Catch::Contains("500 ms"));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  // Its whole process group went: no sleep of it is left.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(testing::run_process({"pgrep", "-f", "sleep 31.5"}).exit_code == 1);

  HookSpec trend;
  trend.name = "weight-trend";
  trend.kind = HookKind::trend;
  CHECK(error_of([&] { deliver_event(trend, k_event, k_now); }).code() == ErrorCode::invalid);
}
