// The web console in a real browser: Debian's chromium, headless, driven by
// playwright-core (tests/ui/console.mjs) against a live daemon. Its
// screenshots are kept as test artifacts (test-artifacts/ beside the test
// binary's working directory).

#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/hash_chain.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace zsimem;

namespace {

const std::filesystem::path k_ui_tests = std::filesystem::path(ZSIMEM_SOURCE_DIR) / "tests" / "ui";

void post(httplib::Client& client, const std::string& user, const std::string& delta, const std::string& tags) {
  const auto posted = client.Post(("/api/v1/memory/" + user).c_str(),
                                  R"({"user_id": ")" + user + R"(", "delta": )" + delta + R"(, "tags": )" + tags + "}",
                                  "application/json");
  REQUIRE(posted);
  REQUIRE(posted->status == 200);
}

} // namespace

TEST_CASE("http: the console serves its embedded files, open to anyone, with a strict content policy", "[http][ui]") {
  testing::TempDir dir;
  const testing::ServeProcess daemon({"sqlite", dir.path() / "data", dir.path() / "serve.log"});
  httplib::Client client("127.0.0.1", daemon.port());
  const auto page = client.Get("/ui");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK_THAT(page->get_header_value("Content-Security-Policy"), Catch::Contains("default-src 'self'"));
  CHECK_THAT(page->body, Catch::Contains(R"(<meta name="zsimem-api-prefix" content="/api/v1">)"));
  CHECK_THAT(page->body, !Catch::Contains("https://")); // no CDN, no external fonts
  for (const auto& [asset, type] : {std::pair{"app.js", "text/javascript"}, std::pair{"app.css", "text/css"}}) {
    const auto file = client.Get((std::string("/ui/") + asset).c_str());
    REQUIRE(file);
    CHECK(file->status == 200);
    CHECK_THAT(file->get_header_value("Content-Type"), Catch::StartsWith(type));
    CHECK_FALSE(file->body.empty());
    CHECK_THAT(file->body, !Catch::Contains("https://"));
  }
  const auto missing = client.Get("/ui/secret.txt");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  const auto traversal = client.Get("/ui/..%2F..%2Fetc%2Fpasswd");
  REQUIRE(traversal);
  CHECK(traversal->status == 404);
}

TEST_CASE("http: the console in chromium: pick a user, diff, roll back, chart, audit log", "[http][ui][browser]") {
  if (!std::filesystem::exists(k_ui_tests / "node_modules" / "playwright-core")) {
    FAIL("playwright-core is not installed: run `npm ci --prefix tests/ui` (scripts/test does)");
  }
  if (!std::filesystem::exists("/usr/bin/chromium")) {
    FAIL("Debian's chromium is not installed: run scripts/deps");
  }
  testing::TempDir dir;
  testing::ServeProcess::Options options("sqlite", dir.path() / "data", dir.path() / "serve.log");
  // With an access policy, the page works only with the token entered once.
  const bool with_policy = GENERATE(false, true);
  CAPTURE(with_policy);
  const std::string token = "zsimem-console-test-token-0123456789";
  if (with_policy) {
    const auto policy = dir.path() / "policy.json";
    std::ofstream(policy) << R"({"version": 1, "roles": {"admin": [{"allow": "*"}]}, "tokens": [{"sha256": ")"
                          << sha256_hex(token) << R"(", "sub": "console-admin", "roles": ["admin"]}]})";
    options.args = {"--policy", policy.string()};
  }
  const testing::ServeProcess daemon(std::move(options));
  httplib::Client client("127.0.0.1", daemon.port());
  if (with_policy) {
    client.set_bearer_token_auth(token);
  }
  post(client, "alice", R"({"diet": {"kcal": 1800}})", R"(["nutrition"])");
  post(client, "alice", R"({"diet": {"kcal": 1650}, "steps": 9000})", "[]");
  post(client, "alice", R"({"diet": {"kcal": 1700}, "mood": "ok"})", R"(["checkin"])");
  post(client, "bob", R"({"steps": 100})", "[]");

  const auto artifacts = std::filesystem::absolute(with_policy ? "test-artifacts/with-policy" : "test-artifacts");
  std::vector<std::string> argv{"node", (k_ui_tests / "console.mjs").string(),
                                "http://127.0.0.1:" + std::to_string(daemon.port()), artifacts.string()};
  if (with_policy) {
    argv.push_back(token);
  }
  const auto result = testing::run_process(argv, {}, {}, std::chrono::seconds(120));
  INFO(result.out << result.err);
  CHECK(result.exit_code == 0);
  for (const char* name : {"console-diff.png", "console-chart.png", "console-audit.png", "console-phone.png"}) {
    CAPTURE(name);
    CHECK(std::filesystem::file_size(artifacts / name) > 1000);
  }
}
