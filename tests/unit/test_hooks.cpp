#include "crypto.hpp"
#include "support/error_of.hpp"
#include "support/scoped_env.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hooks.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace zsimem;
using zsimem::testing::error_of;

TEST_CASE("hooks: HMAC-SHA256 matches RFC 4231, and webhook signatures verify only untouched and fresh", "[hooks]") {
  // RFC 4231, test case 2.
  CHECK(crypto::to_hex(crypto::hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const std::string secret = "a-secret-of-32-bytes-for-signing";
  const std::string body = R"({"user_id":"alice","version":"3"})";
  const std::string header = webhook_signature(secret, 1'800'000'000, body);
  CHECK(header == "t=1800000000,v1=" + crypto::to_hex(crypto::hmac_sha256(secret, "1800000000." + body)));
  CHECK(verify_webhook_signature(secret, header, body, 1'800'000'100));
  CHECK_FALSE(verify_webhook_signature(secret, header, body + " ", 1'800'000'100)); // body changed
  CHECK_FALSE(verify_webhook_signature("another-secret-of-32-bytes-long!", header, body, 1'800'000'100)); // key
  CHECK_FALSE(verify_webhook_signature(secret, header, body, 1'800'000'000 + 301));                       // too old
  CHECK_FALSE(verify_webhook_signature(secret, "t=1800000001" + header.substr(12), body, 1'800'000'000)); // stamp
  for (const char* malformed : {"", "v1=00", "t=,v1=00", "t=x,v1=00", "t=1800000000"}) {
    CHECK_FALSE(verify_webhook_signature(secret, malformed, body, 1'800'000'000));
  }
}

TEST_CASE("hooks: the hooks file, its defaults and its errors", "[hooks]") {
  const testing::ScopedEnv secret("ZSIMEM_TEST_HOOK_SECRET", "0123456789abcdef0123");
  const HooksConfig config = HooksConfig::parse(R"({
    "max_attempts": 5,
    "hooks": [
      {"name": "nudges", "type": "webhook", "url": "http://127.0.0.1:9/events",
       "secret_env": "ZSIMEM_TEST_HOOK_SECRET", "namespaces": ["health"], "timeout_ms": 2000},
      {"name": "analyzer", "type": "program", "command": ["/usr/bin/analyze", "--json"], "write_back": "insights"},
      {"name": "weight-trend", "type": "trend", "field": "/weight", "window": 3, "threshold": 75,
       "namespaces": ["health"], "write_back": "insights"},
      {"name": "weight-goal", "type": "goal", "field": "/weight", "target": 70, "write_back": "goals"}
    ]})",
                                                "hooks.json");
  CHECK(config.max_attempts == 5);
  REQUIRE(config.hooks.size() == 4);
  CHECK(config.hooks[0].kind == HookKind::webhook);
  CHECK(config.hooks[0].secret == "0123456789abcdef0123");
  CHECK(config.hooks[0].timeout == std::chrono::milliseconds(2000));
  CHECK(config.hooks[1].command == std::vector<std::string>{"/usr/bin/analyze", "--json"});
  CHECK(config.hooks[1].timeout == std::chrono::seconds(10));
  CHECK(config.hooks[2].window == 3);
  CHECK(config.hooks[2].threshold == 75);
  CHECK(config.hooks[3].target == 70);
  // A hook without namespaces receives every namespace but the write-back ones.
  CHECK(config.hooks[1].receives("health", config.hooks));
  CHECK(config.hooks[1].receives("prefs", config.hooks));
  CHECK_FALSE(config.hooks[1].receives("insights", config.hooks));
  CHECK_FALSE(config.hooks[1].receives("goals", config.hooks));
  CHECK(config.hooks[0].receives("health", config.hooks));
  CHECK_FALSE(config.hooks[0].receives("prefs", config.hooks));
  CHECK(HooksConfig::parse("{}", "empty").hooks.empty());

  for (const auto& [text, where] : std::vector<std::pair<std::string, std::string>>{
           {R"({"hook": []})", "hook"},
           {R"({"hooks": [{"type": "cron"}]})", "hooks[0].type"},
           {R"({"hooks": [{"type": "program"}]})", "hooks[0].command"},
           {R"({"hooks": [{"type": "program", "command": []}]})", "hooks[0].command"},
           {R"({"hooks": [{"type": "program", "command": ["x"], "url": "http://a"}]})", "hooks[0].url"},
           {R"({"hooks": [{"type": "webhook", "url": "ftp://a", "secret_env": "ZSIMEM_TEST_HOOK_SECRET"}]})",
            "hooks[0].url"},
           {R"({"hooks": [{"type": "webhook", "url": "http://a"}]})", "hooks[0].secret_env"},
           {R"({"hooks": [{"type": "webhook", "url": "http://a", "secret_env": "ZSIMEM_TEST_UNSET_VARIABLE"}]})",
            "hooks[0].secret_env"},
           {R"({"hooks": [{"type": "webhook", "url": "http://a", "secret_file": "/nonexistent/secret"}]})",
            "hooks[0].secret_file"},
           {R"({"hooks": [{"type": "trend", "field": "/w"}]})", "hooks[0].write_back"},
           {R"({"hooks": [{"type": "trend", "field": "w", "write_back": "i"}]})", "hooks[0].field"},
           {R"({"hooks": [{"type": "trend", "field": "/w", "write_back": "i", "window": 1}]})", "hooks[0].window"},
           {R"({"hooks": [{"type": "goal", "field": "/w", "write_back": "i"}]})", "hooks[0].target"},
           {R"({"hooks": [{"type": "goal", "field": "/w", "target": 1, "write_back": "i", "namespaces": ["i"]}]})",
            "hooks[0].write_back"},
           {R"({"hooks": [{"type": "program", "command": ["x"], "timeout_ms": 0}]})", "hooks[0].timeout_ms"},
           {R"({"hooks": [{"name": "a", "type": "program", "command": ["x"]},
                          {"name": "a", "type": "program", "command": ["y"]}]})",
            "hooks[1].name"},
           {R"({"hooks": [{"type": "program", "command": ["x"]}]})", "hooks[0].name"},
           {R"({"hooks": [{"name": "../a", "type": "program", "command": ["x"]}]})", "hooks[0].name"},
           {R"({"max_attempts": 0})", "max_attempts"}}) {
    CAPTURE(text);
    const Error error = error_of([&] { HooksConfig::parse(text, "hooks.json"); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.field() == where);
    CHECK_THAT(error.what(), Catch::StartsWith("hooks.json: "));
  }
}

TEST_CASE("hooks: an event carries the version, its predecessor, delta, data, tags and request id", "[hooks]") {
  VersionRecord record;
  record.user_id = "alice";
  record.ns = "health";
  record.version = 3;
  record.updated_at = parse_time("2026-11-30T08:00:00Z");
  record.data = R"({"weight":79})";
  record.delta = R"({"weight":79})";
  record.tags = {"scale"};
  record.request_id = "req-3";
  const Json event = Json::parse(hook_event_json(record));
  CHECK(event == Json::parse(R"({"user_id": "alice", "namespace": "health", "version": "3",
    "previous_version": "2", "updated_at": "2026-11-30T08:00:00.000000Z", "delta": {"weight": 79},
    "data": {"weight": 79}, "tags": ["scale"], "request_id": "req-3"})"));
  record.version = 1;
  CHECK(Json::parse(hook_event_json(record))["previous_version"].is_null());
}

TEST_CASE("hooks: an event's text is the compact JSON of its members, sorted, whatever the strings hold", "[hooks]") {
  VersionRecord record;
  record.user_id = "zoë \"quoted\"";
  record.ns = "name\\space";
  record.updated_at = parse_time("2026-11-30T08:00:00.123456Z");
  record.data = R"({"a":[1,2.5,"é"],"b":{"c":null}})";
  record.tags = {"tag \"one\"", "ünï"};
  record.request_id = "req\n1";
  // Stored data and deltas are canonical JSON: compact, keys sorted, UTF-8 unescaped.
  for (const std::uint64_t version : std::initializer_list<std::uint64_t>{1, 2, 18446744073709551615ULL}) {
    for (const std::string delta : {"", R"({"a":[1,2.5,"é"]})"}) {
      record.version = version;
      record.delta = delta;
      CAPTURE(version, delta);
      // What parsing the stored texts and dumping the whole event gives.
      const Json event{{"user_id", record.user_id},
                       {"namespace", record.ns},
                       {"version", std::to_string(version)},
                       {"previous_version", version > 1 ? Json(std::to_string(version - 1)) : Json(nullptr)},
                       {"updated_at", "2026-11-30T08:00:00.123456Z"},
                       {"delta", delta.empty() ? Json::object() : Json::parse(delta)},
                       {"data", Json::parse(record.data)},
                       {"tags", record.tags},
                       {"request_id", record.request_id}};
      CHECK(hook_event_json(record) == event.dump());
    }
  }
  record.data = R"({"a":)";
  CHECK_THROWS_AS(hook_event_json(record), Error);
}

TEST_CASE("hooks: the trend detector answers a threshold crossed or a turn, and the goal tracker its progress",
          "[hooks]") {
  HookSpec trend;
  trend.kind = HookKind::trend;
  trend.field = "/weight";
  trend.window = 3;
  trend.threshold = 78.5;
  // Too few samples for two averages.
  CHECK_FALSE(trend_insight(trend, std::vector<double>{80, 79, 78}, 3));
  // Averages of three: 79, then 78: down through 78.5.
  const auto crossed = trend_insight(trend, std::vector<double>{80, 79, 78, 77}, 4);
  REQUIRE(crossed);
  CHECK(Json::parse(*crossed) == Json::parse(R"({"trends": {"weight": {"moving_average": 78.0, "window": 3,
    "direction": "down", "crossed": "below", "threshold": 78.5, "version": "4"}}})"));
  // Still going down, below the threshold: nothing new.
  CHECK_FALSE(trend_insight(trend, std::vector<double>{80, 79, 78, 77, 76}, 5));

  HookSpec turns;
  turns.kind = HookKind::trend;
  turns.field = "/steps/daily";
  turns.window = 2;
  // Averages of two: 79, 77.5, 78: down, then up.
  const auto turned = trend_insight(turns, std::vector<double>{80, 78, 77, 79}, 9);
  REQUIRE(turned);
  const Json finding = Json::parse(*turned)["trends"]["steps/daily"];
  CHECK(finding["turned"] == "up");
  CHECK(finding["moving_average"] == 78);
  CHECK_FALSE(finding.contains("crossed"));
  // Down, then flat: no turn.
  CHECK_FALSE(trend_insight(turns, std::vector<double>{80, 78, 77, 78}, 10));

  HookSpec goal;
  goal.kind = HookKind::goal;
  goal.field = "/weight";
  goal.target = 70;
  CHECK(Json::parse(goal_insight(goal, 80, 77, 6)) == Json::parse(R"({"goals": {"weight": {"target": 70.0,
    "start": 80.0, "current": 77.0, "progress": 0.3, "reached": false, "version": "6"}}})"));
  CHECK(Json::parse(goal_insight(goal, 80, 69.5, 7))["goals"]["weight"]["reached"] == true);
}
