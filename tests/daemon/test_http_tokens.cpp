// The daemon's bearer-token authentication, end to end: a real `zsimem
// serve` with a policy, JWTs minted at test time, a client on loopback.

#include "support/jwt_mint.hpp"
#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/hash_chain.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace zsimem;
using namespace std::chrono_literals;
using Catch::Contains;
using testing::RsaKey;

namespace {

const std::string k_memory = "/api/v1/memory";
const std::string k_secret = "the daemon tests' HS256 secret, longer than 32 bytes";
const std::string k_issuer = "https://idp.test/";
const std::string k_admin_token = "zsk_admin_6d1e0c2b9a8f7e6d5c4b3a29";
const std::string k_bot_token = "zsk_bot_1a2b3c4d5e6f7a8b9c0d1e2f";

// Generated once: a 2048-bit key takes a noticeable fraction of a second.
const RsaKey& idp_key() {
  static const RsaKey key;
  return key;
}
const RsaKey& other_key() {
  static const RsaKey key;
  return key;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The claims of a token for `sub` that is valid for the next hour.
Json claims_for(const std::string& sub) {
  return {{"sub", sub}, {"iss", k_issuer}, {"aud", "zsimem"}, {"iat", now_s()}, {"exp", now_s() + 3600}};
}
std::string hs256(const Json& claims, const std::string& secret = k_secret) {
  return testing::hs256_jwt(claims.dump(), secret);
}
std::string rs256(const Json& claims, const RsaKey& key = idp_key()) { return testing::rs256_jwt(claims.dump(), key); }

// Subjects act on their own context by default ("self"); the admin token's
// subject on everything. The API token of bot-user has no role of its own.
std::string policy_json() {
  Json policy = Json::parse(R"({
    "version": 1,
    "roles": {
      "self": [{"allow": ["read", "write", "history", "rollback"],
                "when": [{"equal": ["subject.sub", "resource.user_id"]}]}],
      "admin": [{"allow": "*"}]
    },
    "default_roles": ["self"],
    "jwt": {"hs256_secret_file": "jwt.secret", "rs256_public_key_file": "idp-public.pem", "audience": "zsimem"}
  })");
  policy["jwt"]["issuer"] = k_issuer;
  policy["tokens"] =
      Json::array({Json{{"sha256", sha256_hex(k_admin_token)}, {"sub", "ops-root"}, {"roles", Json::array({"admin"})}},
                   Json{{"sha256", sha256_hex(k_bot_token)}, {"sub", "bot-user"}}});
  return policy.dump(2);
}

httplib::Headers bearer(const std::string& token, const std::string& request_id = {}) {
  httplib::Headers headers{{"Authorization", "Bearer " + token}};
  if (!request_id.empty()) {
    headers.emplace("X-Request-ID", request_id);
  }
  return headers;
}

Json merge_body(const std::string& user, const Json& delta) { return {{"user_id", user}, {"delta", delta}}; }

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes the policy above into `dir`, with its HS256 secret and its RS256
// public key in files beside it; returns the policy's path.
std::filesystem::path write_policy(const std::filesystem::path& dir) {
  std::ofstream(dir / "jwt.secret") << k_secret;
  std::ofstream(dir / "idp-public.pem") << idp_key().public_pem();
  std::ofstream(dir / "policy.json") << policy_json();
  return dir / "policy.json";
}

// `zsimem serve` (json backend) on loopback with that policy.
struct AuthDaemon {
  AuthDaemon() {
    testing::ServeProcess::Options options("json", dir.path() / "data", log_path());
    options.env = {"ZSIMEM_POLICY=" + write_policy(dir.path()).string()};
    daemon.emplace(std::move(options));
  }

  std::filesystem::path log_path() const { return dir.path() / "serve.log"; }
  std::filesystem::path restarted_log_path() const { return dir.path() / "serve-restarted.log"; }

  // Stops the daemon and starts it again on the same port and store.
  void restart() {
    const int port = daemon->port();
    daemon.reset();
    testing::ServeProcess::Options options("json", dir.path() / "data", restarted_log_path());
    options.env = {"ZSIMEM_POLICY=" + (dir.path() / "policy.json").string()};
    options.port = port;
    daemon.emplace(std::move(options));
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(daemon->port()); }

  httplib::Client client() const {
    httplib::Client client("127.0.0.1", daemon->port());
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(10, 0);
    return client;
  }

  testing::TempDir dir;
  std::optional<testing::ServeProcess> daemon;
};

// The JSON body of an answer with this status.
Json body_of(const httplib::Result& result, int status) {
  REQUIRE(result);
  INFO(result->status << " " << result->body);
  REQUIRE(result->status == status);
  return Json::parse(result->body);
}

// Whether `text` shows `token` or any of its dot-separated parts of 8 bytes or more.
bool shows_token(const std::string& text, const std::string& token) {
  if (token.empty()) {
    return false;
  }
  if (text.find(token) != std::string::npos) {
    return true;
  }
  for (std::size_t start = 0; start <= token.size();) {
    const auto end = std::min(token.find('.', start), token.size());
    if (end - start >= 8 && text.find(token.substr(start, end - start)) != std::string::npos) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

// Checks a refusal: 401, the Bearer challenge, and a JSON message that names
// `reason` and shows nothing of `token`.
void check_refused(const httplib::Result& result, const std::string& reason, const std::string& token) {
  REQUIRE(result);
  INFO(result->status << " " << result->body);
  CHECK(result->status == 401);
  CHECK(result->get_header_value("WWW-Authenticate") == R"(Bearer realm="zsimem")");
  CHECK(result->get_header_value("Content-Type") == "application/json");
  const Json body = Json::parse(result->body);
  REQUIRE(body.contains("detail"));
  REQUIRE(body["detail"].is_string());
  CHECK_THAT(body["detail"].get<std::string>(), Contains(reason));
  CHECK_FALSE(shows_token(result->body, token));
}

// The audit records, newest first, as the admin reads them.
Json audit_records(httplib::Client& client) {
  return body_of(client.Get((k_memory + "/logs?limit=1000").c_str(), bearer(k_admin_token)), 200)["records"];
}

// The audit records of one request.
std::vector<Json> records_of(const Json& records, const std::string& request_id) {
  std::vector<Json> found;
  for (const auto& record : records) {
    if (record["request_id"] == request_id) {
      found.push_back(record);
    }
  }
  return found;
}

// One way to be refused: the Authorization header sent (none when empty),
// what the message must say, and the token that must not be shown.
struct BadCredential {
  std::string name;
  std::string authorization;
  std::string reason;
  std::string token;
};

std::vector<BadCredential> bad_credentials() {
  const std::string valid = hs256(claims_for("u1"));
  const auto first = valid.find('.');
  const auto second = valid.find('.', first + 1);
  const auto bearer_of = [](const std::string& name, const std::string& token, const std::string& reason) {
    return BadCredential{name, "Bearer " + token, reason, token};
  };

  Json expired = claims_for("u1");
  expired["exp"] = now_s() - 3600;
  Json not_yet = claims_for("u1");
  not_yet["nbf"] = now_s() + 3600;
  Json elsewhere = claims_for("u1");
  elsewhere["iss"] = "https://elsewhere.test/";
  const std::string basic = "Basic " + testing::base64url("u1:a password of u1");

  return {
      bearer_of("expired", hs256(expired), "the token has expired"),
      bearer_of("not yet valid", rs256(not_yet), "the token is not valid yet"),
      bearer_of("HS256 signed with another secret", hs256(claims_for("u1"), "another secret, also of 32 bytes or more"),
                "the token's signature does not verify"),
      bearer_of("RS256 signed with another key", rs256(claims_for("u1"), other_key()),
                "the token's signature does not verify"),
      bearer_of("alg none", testing::jwt_signing_input(R"({"alg":"none","typ":"JWT"})", claims_for("u1").dump()) + ".",
                "the token's algorithm none is not accepted"),
      bearer_of("another issuer", hs256(elsewhere), "the token's issuer (iss) is not " + k_issuer),
      bearer_of("two parts", valid.substr(0, second), "unknown API token"),
      bearer_of("bad base64url", "*" + valid.substr(1), "the token's header is not unpadded base64url"),
      bearer_of("a header that is not JSON",
                testing::hs256_jwt_over(testing::base64url(R"({"alg":"HS256")"),
                                        testing::base64url(claims_for("u1").dump()), k_secret),
                "the token's header is not a JSON object"),
      bearer_of("unknown API token", "zsk_unknown_00000000000000000000", "unknown API token"),
      BadCredential{"no Authorization header", "", "needs a bearer token", ""},
      BadCredential{"Basic scheme", basic, "needs a bearer token", basic.substr(6)},
      BadCredential{"Bearer without a token", "Bearer ", "needs a bearer token", ""},
  };
}

} // namespace

TEST_CASE("http auth: a missing, malformed, expired or wrongly signed token is refused with 401, changing nothing",
          "[http][auth]") {
  AuthDaemon d;
  auto client = d.client();
  const std::string u1 = k_memory + "/u1";
  body_of(client.Post(u1.c_str(), bearer(k_admin_token), merge_body("u1", {{"kcal", 1800}}).dump(), "application/json"),
          200);
  const Json before = body_of(client.Get(u1.c_str(), bearer(k_admin_token)), 200);

  int count = 0;
  const auto credentials = bad_credentials();
  for (const auto& bad : credentials) {
    INFO(bad.name);
    const std::string request_id = "refused-" + std::to_string(++count);
    httplib::Headers headers{{"X-Request-ID", request_id}};
    if (!bad.authorization.empty()) {
      headers.emplace("Authorization", bad.authorization);
    }
    check_refused(client.Get(u1.c_str(), headers), bad.reason, bad.token);
    check_refused(client.Post(u1.c_str(), headers, merge_body("u1", {{"kcal", 0}}).dump(), "application/json"),
                  bad.reason, bad.token);
    check_refused(client.Delete(u1.c_str(), headers), bad.reason, bad.token);
  }

  // The store is as it was, and no refused request reached it.
  CHECK(body_of(client.Get(u1.c_str(), bearer(k_admin_token)), 200) == before);
  CHECK(body_of(client.Get((u1 + "/history").c_str(), bearer(k_admin_token)), 200)["versions"].size() == 1);
  const Json records = audit_records(client);
  for (int i = 1; i <= count; ++i) {
    INFO("refused-" << i);
    CHECK(records_of(records, "refused-" + std::to_string(i)).empty());
  }
  // Nor does the daemon's log show any token.
  const std::string log = read_text(d.log_path());
  for (const auto& bad : credentials) {
    INFO(bad.name);
    CHECK_FALSE(shows_token(log, bad.token));
  }
}

TEST_CASE("http auth: valid HS256, RS256 and API tokens act as their subject", "[http][auth]") {
  AuthDaemon d;
  auto client = d.client();
  struct Holder {
    std::string subject;
    std::string token;
  };
  const std::vector<Holder> callers{
      {"hs-user", hs256(claims_for("hs-user"))},
      {"rs-user", rs256(claims_for("rs-user"))},
      {"bot-user", k_bot_token},
  };
  for (const auto& caller : callers) {
    INFO(caller.subject);
    const std::string own = k_memory + "/" + caller.subject;
    const Json written = body_of(client.Post(own.c_str(), bearer(caller.token, "by-" + caller.subject),
                                             merge_body(caller.subject, {{"steps", 9000}}).dump(), "application/json"),
                                 200);
    CHECK(written["version"] == "1");
    CHECK(body_of(client.Get(own.c_str(), bearer(caller.token)), 200)["data"] == Json{{"steps", 9000}});
    // The version records its writer.
    CHECK(body_of(client.Get((own + "/versions/1").c_str(), bearer(caller.token)), 200)["actor"] == caller.subject);
  }

  // The scheme's name in any case.
  const std::string lower = k_memory + "/hs-user";
  const auto lower_case = client.Get(lower.c_str(), httplib::Headers{{"Authorization", "bearer " + callers[0].token}});
  CHECK(body_of(lower_case, 200)["user_id"] == "hs-user");
  // RFC 6750 allows more than one space before the token.
  const auto spaced = client.Get(lower.c_str(), httplib::Headers{{"Authorization", "Bearer   " + callers[0].token}});
  CHECK(body_of(spaced, 200)["user_id"] == "hs-user");

  // A token's roles count: an RS256 token with the admin role reads the audit log.
  Json idp_admin = claims_for("idp-admin");
  idp_admin["roles"] = {"admin"};
  const Json seen_by_idp_admin =
      body_of(client.Get((k_memory + "/logs?limit=1000").c_str(), bearer(rs256(idp_admin))), 200)["records"];
  CHECK_FALSE(seen_by_idp_admin.empty());

  const Json records = audit_records(client);
  for (const auto& caller : callers) {
    INFO(caller.subject);
    const auto merges = records_of(records, "by-" + caller.subject);
    REQUIRE(merges.size() == 1);
    CHECK(merges[0]["actor"] == caller.subject);
    CHECK(merges[0]["operation"] == "merge");
    CHECK(merges[0]["outcome"] == "ok");
    CHECK(merges[0]["user_id"] == caller.subject);
  }
}

TEST_CASE("http auth: a valid token whose subject lacks the right is answered 403", "[http][auth]") {
  AuthDaemon d;
  auto client = d.client();
  const std::string u1 = k_memory + "/u1";
  body_of(client.Post(u1.c_str(), bearer(k_admin_token), merge_body("u1", {{"kcal", 1800}}).dump(), "application/json"),
          200);
  const Json before = body_of(client.Get(u1.c_str(), bearer(k_admin_token)), 200);

  const std::string u2 = hs256(claims_for("u2"));
  const auto check_denied = [&](const httplib::Result& result) {
    REQUIRE(result);
    INFO(result->status << " " << result->body);
    CHECK(result->status == 403);
    CHECK_FALSE(result->has_header("WWW-Authenticate"));
    const Json body = Json::parse(result->body);
    REQUIRE(body["detail"].is_string());
    CHECK_THAT(body["detail"].get<std::string>(), Contains("may not"));
    CHECK_FALSE(shows_token(result->body, u2));
  };
  check_denied(client.Get(u1.c_str(), bearer(u2, "denied-read")));
  check_denied(
      client.Post(u1.c_str(), bearer(u2, "denied-write"), merge_body("u1", {{"kcal", 0}}).dump(), "application/json"));
  check_denied(client.Delete(u1.c_str(), bearer(u2, "denied-delete")));
  check_denied(client.Get((k_memory + "/logs").c_str(), bearer(rs256(claims_for("u2")), "denied-audit")));
  check_denied(client.Get((k_memory + "/logs").c_str(), bearer(k_bot_token, "denied-bot-audit")));

  CHECK(body_of(client.Get(u1.c_str(), bearer(k_admin_token)), 200) == before);
  // Each denial is audited, with the subject as actor.
  const Json records = audit_records(client);
  for (const auto& [request_id, actor] :
       std::vector<std::pair<std::string, std::string>>{{"denied-read", "u2"},
                                                        {"denied-write", "u2"},
                                                        {"denied-delete", "u2"},
                                                        {"denied-audit", "u2"},
                                                        {"denied-bot-audit", "bot-user"}}) {
    INFO(request_id);
    const auto found = records_of(records, request_id);
    REQUIRE(found.size() == 1);
    CHECK(found[0]["actor"] == actor);
    CHECK(found[0]["outcome"] == "denied");
    CHECK_THAT(found[0]["detail"].get<std::string>(), Contains("may not"));
  }
}

TEST_CASE("http auth: /healthz is open; /metrics and /openapi.json need a valid token, of any subject",
          "[http][auth]") {
  AuthDaemon d;
  auto client = d.client();
  const auto healthz = client.Get("/healthz");
  CHECK(body_of(healthz, 200) == Json{{"status", "ok"}});
  CHECK_FALSE(healthz->has_header("WWW-Authenticate"));

  const std::string expired = [] {
    Json claims = claims_for("u1");
    claims["exp"] = now_s() - 3600;
    return hs256(claims);
  }();
  for (const char* path : {"/metrics", "/openapi.json"}) {
    INFO(path);
    check_refused(client.Get(path), "needs a bearer token", "");
    check_refused(client.Get(path, bearer(expired)), "expired", expired);
    for (const std::string& token :
         {hs256(claims_for("u2")), rs256(claims_for("nobody")), k_bot_token, k_admin_token}) {
      const auto result = client.Get(path, bearer(token));
      REQUIRE(result);
      CHECK(result->status == 200);
      CHECK_FALSE(result->body.empty());
    }
  }

  // The document served says so.
  const Json document = body_of(client.Get("/openapi.json", bearer(k_bot_token)), 200);
  CHECK(document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer");
  CHECK(document["security"] == Json::parse(R"([{"bearerAuth": []}])"));
  CHECK(document["paths"]["/healthz"]["get"]["security"] == Json::array());
  const Json& responses = document["paths"][k_memory + "/{user_id}"]["get"]["responses"];
  CHECK(responses.contains("401"));
  CHECK(responses.contains("403"));
  CHECK(document["paths"]["/metrics"]["get"]["responses"].contains("401"));
}

TEST_CASE("http auth: without a policy, serve listens beyond loopback only with --insecure", "[http][auth]") {
  const testing::TempDir dir;
  const std::vector<std::string> serve{
      ZSIMEM_BINARY, "--backend", "json",     "--data-dir", (dir.path() / "data").string(),
      "serve",       "--listen",  "0.0.0.0:0"};
  const auto refused = testing::run_process(serve, {}, {"ZSIMEM_POLICY"}, std::chrono::seconds(20));
  CHECK_FALSE(refused.timed_out);
  CHECK(refused.exit_code == 5);
  CHECK_THAT(refused.err, Contains("--insecure"));
  CHECK_THAT(refused.err, Contains("without a policy"));
  // A name other than localhost could resolve anywhere: it is not taken for loopback.
  for (const std::string listen : {"127.0.0.1.nip.example:0", "10.0.0.1:0", "[::ffff:10.0.0.1]:0"}) {
    auto named = serve;
    named.back() = listen;
    const auto result = testing::run_process(named, {}, {"ZSIMEM_POLICY"}, std::chrono::seconds(20));
    CHECK(result.exit_code == 5);
    CHECK_THAT(result.err, Contains("without a policy"));
  }

  SECTION("--insecure starts it, trusting every caller") {
    testing::ServeProcess::Options options("json", dir.path() / "data", dir.path() / "insecure.log");
    options.env = {"ZSIMEM_POLICY"};
    options.args = {"--listen", "0.0.0.0:0", "--insecure"};
    const testing::ServeProcess daemon(std::move(options));
    CHECK_THAT(read_text(dir.path() / "insecure.log"), Contains("listening on http://0.0.0.0:"));
    httplib::Client client("127.0.0.1", daemon.port());
    client.set_read_timeout(10, 0);
    CHECK(body_of(client.Get("/healthz"), 200) == Json{{"status", "ok"}});
    const std::string u1 = k_memory + "/u1";
    CHECK(body_of(client.Post(u1.c_str(), merge_body("u1", {{"kcal", 1}}).dump(), "application/json"),
                  200)["version"] == "1");
  }
  SECTION("a policy is enough") {
    testing::ServeProcess::Options options("json", dir.path() / "data", dir.path() / "policy.log");
    options.env = {"ZSIMEM_POLICY=" + write_policy(dir.path()).string()};
    options.args = {"--listen", "0.0.0.0:0"};
    const testing::ServeProcess daemon(std::move(options));
    httplib::Client client("127.0.0.1", daemon.port());
    client.set_read_timeout(10, 0);
    check_refused(client.Get((k_memory + "/u1").c_str()), "needs a bearer token", "");
    CHECK(body_of(client.Get((k_memory + "/u1").c_str(), bearer(k_admin_token)), 404).contains("detail"));
  }
}

namespace {

// `zsimem watch` with these arguments (after `-o json watch`), in an
// environment without a local policy or token but for `env`.
testing::ProcessResult watch(const std::vector<std::string>& global, const std::vector<std::string>& args,
                             std::vector<std::string> env = {}, std::chrono::milliseconds timeout = 30s) {
  std::vector<std::string> argv{ZSIMEM_BINARY};
  argv.insert(argv.end(), global.begin(), global.end());
  argv.insert(argv.end(), {"-o", "json", "watch"});
  argv.insert(argv.end(), args.begin(), args.end());
  env.insert(env.begin(), {"ZSIMEM_POLICY", "ZSIMEM_TOKEN"});
  return testing::run_process(argv, {}, env, timeout);
}

// The versions of the JSON lines watch printed.
std::vector<std::string> versions_of(const std::string& out) {
  std::vector<std::string> versions;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    versions.push_back(Json::parse(line)["version"]);
  }
  return versions;
}

} // namespace

TEST_CASE("cli: zsimem watch sends its bearer token to a daemon with a policy, reconnections included",
          "[http][auth][events][cli]") {
  AuthDaemon d;
  auto client = d.client();
  const std::string token = hs256(claims_for("u1"));
  const std::string u1 = k_memory + "/u1";
  const auto write_as_u1 = [&](int n) {
    return body_of(client.Post(u1.c_str(), bearer(token), merge_body("u1", {{"n", n}}).dump(), "application/json"),
                   200)["version"];
  };
  REQUIRE(write_as_u1(1) == "1");
  const auto token_file = d.dir.path() / "u1.token";
  std::ofstream(token_file) << token << "\n";

  // No local policy: the daemon checks the token, on each connection.
  // The URL is taken before the thread starts: the restart below replaces
  // the daemon object, and only the kernel orders the two threads after.
  testing::ProcessResult watched;
  const std::string url = d.url();
  std::thread watcher([&] {
    watched = watch({"--token-file", token_file.string(), "--request-id", "watch-u1"},
                    {"u1", "--url", url, "--after", "0", "--count", "3"});
  });
  const auto follows = [&] {
    std::size_t count = 0;
    for (const auto& record : records_of(audit_records(client), "watch-u1")) {
      count += record["operation"] == "follow" && record["outcome"] == "ok" ? 1U : 0U;
    }
    return count;
  };
  for (int i = 0; i < 500 && follows() == 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  const std::size_t followed_before_restart = follows();
  if (followed_before_restart == 1) {
    d.restart(); // the stream ends with the daemon; watch reconnects
    REQUIRE(write_as_u1(2) == "2");
    for (int i = 0; i < 500 && follows() < 2; ++i) {
      std::this_thread::sleep_for(20ms);
    }
    REQUIRE(write_as_u1(3) == "3");
  }
  watcher.join();
  REQUIRE(followed_before_restart == 1);
  INFO(watched.err);
  REQUIRE(watched.exit_code == 0);
  CHECK(versions_of(watched.out) == std::vector<std::string>{"1", "2", "3"});
  CHECK_THAT(watched.err, Contains("reconnecting after version 1"));
  CHECK_FALSE(shows_token(watched.out + watched.err, token));

  // Both connections were authenticated as the token's subject.
  const auto records = records_of(audit_records(client), "watch-u1");
  REQUIRE(records.size() == 2);
  for (const auto& record : records) {
    CHECK(record["actor"] == "u1");
    CHECK(record["operation"] == "follow");
  }

  // ZSIMEM_TOKEN works the same; a new version's event arrives (--after:
  // whether the watcher connects before the write or after it).
  int written = 0;
  std::thread writer([&] {
    std::this_thread::sleep_for(300ms);
    const auto result = client.Post(u1.c_str(), bearer(token), merge_body("u1", {{"n", 4}}).dump(), "application/json");
    written = result ? result->status : -1;
  });
  const auto from_env = watch({}, {"u1", "--url", d.url(), "--after", "3", "--count", "1"}, {"ZSIMEM_TOKEN=" + token});
  writer.join();
  REQUIRE(written == 200);
  INFO(from_env.err);
  REQUIRE(from_env.exit_code == 0);
  const Json line = Json::parse(from_env.out);
  CHECK(line["version"] == "4");
  CHECK(line["data"] == Json{{"n", 4}});
  CHECK(line["actor"] == "u1");

  // Neither daemon logged the token.
  CHECK_FALSE(shows_token(read_text(d.log_path()), token));
  CHECK_FALSE(shows_token(read_text(d.restarted_log_path()), token));
}

TEST_CASE("cli: zsimem watch without a token, or with one refused or denied, exits 6 at once",
          "[http][auth][events][cli]") {
  AuthDaemon d;
  auto client = d.client();
  const std::string u1 = k_memory + "/u1";
  body_of(client.Post(u1.c_str(), bearer(k_admin_token), merge_body("u1", {{"kcal", 1800}}).dump(), "application/json"),
          200);
  // No --count: a refusal must end it rather than be retried.
  const std::vector<std::string> follow_u1{"u1", "--url", d.url()};

  const auto none = watch({}, follow_u1);
  INFO(none.err);
  CHECK_FALSE(none.timed_out);
  CHECK(none.exit_code == 6);
  CHECK_THAT(none.err, Contains("401"));
  CHECK_THAT(none.err, Contains("needs a bearer token"));
  CHECK_THAT(none.err, Contains("--token-file FILE or ZSIMEM_TOKEN"));
  CHECK(none.out.empty());

  Json expired_claims = claims_for("u1");
  expired_claims["exp"] = now_s() - 3600;
  const std::string expired = hs256(expired_claims);
  const auto refused = watch({}, follow_u1, {"ZSIMEM_TOKEN=" + expired});
  INFO(refused.err);
  CHECK_FALSE(refused.timed_out);
  CHECK(refused.exit_code == 6);
  CHECK_THAT(refused.err, Contains("the token has expired"));
  CHECK_THAT(refused.err, Contains("refused the bearer token of ZSIMEM_TOKEN"));
  CHECK_FALSE(shows_token(refused.err, expired));

  const auto unknown_file = d.dir.path() / "unknown.token";
  std::ofstream(unknown_file) << "zsk_unknown_00000000000000000000\n";
  const auto unknown = watch({"--token-file", unknown_file.string()}, follow_u1);
  INFO(unknown.err);
  CHECK(unknown.exit_code == 6);
  CHECK_THAT(unknown.err, Contains("unknown API token"));
  CHECK_THAT(unknown.err, Contains("--token-file '" + unknown_file.string() + "'"));
  CHECK_FALSE(shows_token(unknown.err, "zsk_unknown_00000000000000000000"));

  // Valid tokens whose subjects may not read u1's context: 403.
  const std::string u2 = hs256(claims_for("u2"));
  const auto u2_file = d.dir.path() / "u2.token";
  std::ofstream(u2_file) << u2;
  for (const auto& [name, denied] : std::vector<std::pair<std::string, testing::ProcessResult>>{
           {"JWT", watch({"--token-file", u2_file.string()}, follow_u1)},
           {"API token", watch({}, follow_u1, {"ZSIMEM_TOKEN=" + k_bot_token})}}) {
    INFO(name << ": " << denied.err);
    CHECK_FALSE(denied.timed_out);
    CHECK(denied.exit_code == 6);
    CHECK_THAT(denied.err, Contains("403"));
    CHECK_THAT(denied.err, Contains("may not read"));
    CHECK_THAT(denied.err, Contains("acting with the bearer token of"));
    CHECK_FALSE(shows_token(denied.err, u2));
    CHECK_FALSE(shows_token(denied.err, k_bot_token));
    CHECK(denied.out.empty());
  }

  // Tokens that never leave the CLI.
  const auto empty_file = d.dir.path() / "empty.token";
  std::ofstream(empty_file) << " \n";
  const auto empty = watch({"--token-file", empty_file.string()}, follow_u1);
  CHECK(empty.exit_code == 6);
  CHECK_THAT(empty.err, Contains("is empty"));
  const auto absent = watch({"--token-file", (d.dir.path() / "absent.token").string()}, follow_u1);
  CHECK(absent.exit_code == 5);
  CHECK_THAT(absent.err, Contains("--token-file"));
  const auto two_lines_file = d.dir.path() / "two-lines.token";
  std::ofstream(two_lines_file) << k_bot_token << "\nX-Injected: 1\n";
  const auto two_lines = watch({"--token-file", two_lines_file.string()}, follow_u1);
  CHECK(two_lines.exit_code == 6);
  CHECK_THAT(two_lines.err, Contains("control characters"));
  CHECK_FALSE(shows_token(two_lines.err, k_bot_token));

  // Other commands still check a token against a local policy, and want one.
  const auto local = testing::run_process(
      {ZSIMEM_BINARY, "--backend", "json", "--data-dir", (d.dir.path() / "local").string(), "get", "u1"}, {},
      {"ZSIMEM_POLICY", "ZSIMEM_TOKEN=" + k_admin_token});
  CHECK(local.exit_code == 5);
  CHECK_THAT(local.err, Contains("checked against a policy"));

  CHECK_FALSE(shows_token(read_text(d.log_path()), expired));
  CHECK_FALSE(shows_token(read_text(d.log_path()), u2));
  CHECK_FALSE(shows_token(read_text(d.log_path()), k_bot_token));
}
