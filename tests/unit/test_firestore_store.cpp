// What the firestore backend promises beyond the conformance suite: its
// configuration errors, the documented document layout, the 1 MiB limit,
// one commit per append, a commit whose answer was lost, two store objects
// on one audit chain; the client's retries; service-account tokens. The
// store's tests need the emulator that tests/services/run starts (ctest
// does); the client's and the tokens' run against loopback servers of
// their own.

#include "gcp/firestore_client.hpp"
#include "gcp/service_account.hpp"
#include "store/backends.hpp"
#include "support/error_of.hpp"
#include "support/scoped_env.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace zsimem {
namespace {

using Json = nlohmann::json;
using testing::error_of;

constexpr std::int64_t k_t0 = 1'764'380'641'123'456;

Timestamp at(std::int64_t micros_after_t0) { return Timestamp{std::chrono::microseconds{k_t0 + micros_after_t0}}; }

// The emulator's host:port; a test without one fails: these tests must not
// pass silently where no emulator ran.
std::string emulator_host() {
  const char* host = std::getenv("FIRESTORE_EMULATOR_HOST");
  if (host == nullptr || *host == '\0') {
    FAIL("FIRESTORE_EMULATOR_HOST is not set: run the firestore tests through ctest, which starts the emulator "
         "(tests/services/run start DIR writes DIR/services.env)");
  }
  return host;
}

using testing::ScopedEnv;

VersionRecord record(const std::string& user, const std::string& ns, std::uint64_t version,
                     const std::string& prev_hash) {
  VersionRecord r;
  r.user_id = user;
  r.ns = ns;
  r.version = version;
  r.updated_at = at(static_cast<std::int64_t>(version) * 1000);
  r.data = R"({"n":)" + std::to_string(version) + "}";
  r.delta = r.data;
  r.actor = "tester";
  r.request_id = "req-" + std::to_string(version);
  r.derived_from = version - 1;
  r.prev_hash = prev_hash;
  r.hash = version_hash(r);
  return r;
}

AuditRecord audit(const std::string& user, const std::string& version) {
  AuditRecord a;
  a.time = at(5);
  a.request_id = "req";
  a.actor = "tester";
  a.operation = "merge";
  a.user_id = user;
  a.ns = "default";
  a.version = version;
  a.outcome = "ok";
  return a;
}

// A document of the store's project as the emulator returns it.
Json get_document(const std::string& project, const std::string& path) {
  httplib::Client client("http://" + emulator_host());
  const auto result = client.Get("/v1/projects/" + project + "/databases/(default)/documents/" + path,
                                 httplib::Headers{{"Authorization", "Bearer owner"}});
  REQUIRE(result);
  INFO(result->body);
  REQUIRE(result->status == 200);
  return Json::parse(result->body);
}

std::string string_of(const Json& document, const std::string& name) {
  return document["fields"][name]["stringValue"].get<std::string>();
}

std::string integer_of(const Json& document, const std::string& name) {
  return document["fields"][name]["integerValue"].get<std::string>();
}

} // namespace

TEST_CASE("firestore: a store name is a project id; none, or a bad one, is invalid", "[store][firestore]") {
  CHECK(store::firestore_project_id("t_0a1b") == "t-0a1b");
  CHECK(store::firestore_project_id("my-project") == "my-project");
  CHECK(gcp::is_valid_project_id("example.com:my-project"));
  CHECK_FALSE(gcp::is_valid_project_id("My-Project"));
  CHECK_FALSE(gcp::is_valid_project_id("1project"));
  CHECK_FALSE(gcp::is_valid_project_id(""));

  const ScopedEnv no_project("FIRESTORE_PROJECT", std::nullopt);
  StoreConfig config;
  config.backend = "firestore";
  const Error none = error_of([&] { open_store(config); });
  CHECK(none.code() == ErrorCode::invalid);
  CHECK(none.field() == "FIRESTORE_PROJECT");
  CHECK(std::string(none.what()).find("FIRESTORE_PROJECT") != std::string::npos);

  config.store_name = "Not/A Project";
  CHECK(error_of([&] { open_store(config); }).code() == ErrorCode::invalid);

  // Outside the emulator a service account's key file is needed.
  const ScopedEnv no_emulator("FIRESTORE_EMULATOR_HOST", std::nullopt);
  const ScopedEnv no_key("GOOGLE_APPLICATION_CREDENTIALS", std::nullopt);
  config.store_name = "my-project";
  const Error no_credentials = error_of([&] { open_store(config); });
  CHECK(no_credentials.code() == ErrorCode::invalid);
  CHECK(no_credentials.field() == "GOOGLE_APPLICATION_CREDENTIALS");
}

TEST_CASE("firestore: an emulator that is not there is unavailable, naming the host", "[store][firestore]") {
  const ScopedEnv nowhere("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1");
  StoreConfig config;
  config.backend = "firestore";
  config.store_name = "zsimem-nowhere";
  const Error error = error_of([&] { open_store(config); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK(std::string(error.what()).find("127.0.0.1:1") != std::string::npos);
}

TEST_CASE("firestore: documents are laid out as documented", "[store][firestore]") {
  emulator_host();
  testing::TempDir dir;
  const StoreConfig config = testing::test_store_config("firestore", dir);
  const std::string project = store::firestore_project_id(config.store_name);
  auto store = open_store(config);

  DataKeyRecord key{"alice@example.com", 1, "master-1", "wrapped-1", at(1)};
  REQUIRE(store->add_data_key(key));
  auto v1 = record("alice@example.com", "work:notes", 1, "");
  v1.tags = {"a", "b"};
  v1.idempotency_key = "k-1";
  auto v2 = record("alice@example.com", "work:notes", 2, v1.hash);
  v2.rollback_of = 1;
  v2.key_id = "1";
  v2.salt = "00ff";
  const auto stats_before = store->write_stats();
  REQUIRE(store->append(std::vector{v1}, std::vector{audit("alice@example.com", "1")}));
  const auto stats_after = store->write_stats();
  CHECK(stats_after.transactions - stats_before.transactions == 1); // one commit: version, head, audit
  CHECK(stats_after.writes - stats_before.writes == 3);
  REQUIRE(store->append(std::vector{v2}, {}));

  const std::string context = "users/alice@example.com/namespaces/work!notes"; // ":" is written "!"
  const Json head = get_document(project, context);
  CHECK(integer_of(head, "version") == "2");
  CHECK(string_of(head, "hash") == v2.hash);

  const Json first = get_document(project, context + "/versions/00000000000000000001");
  CHECK(integer_of(first, "version") == "1");
  CHECK(integer_of(first, "updated_at") == std::to_string(k_t0 + 1000));
  CHECK(string_of(first, "data") == v1.data);
  CHECK(string_of(first, "idempotency_key") == "k-1");
  CHECK(first["fields"]["tags"]["arrayValue"]["values"][1]["stringValue"] == "b");
  CHECK_FALSE(first["fields"].contains("rollback_of"));

  const Json second = get_document(project, context + "/versions/00000000000000000002");
  CHECK(integer_of(second, "rollback_of") == "1");
  CHECK(string_of(second, "key_id") == "1");
  CHECK(string_of(second, "salt") == "00ff");
  // The head was written by the commit that wrote its version.
  CHECK(second["updateTime"] == head["updateTime"]);

  const Json data_key = get_document(project, "users/alice@example.com/data_keys/00000000000000000001");
  CHECK(string_of(data_key, "wrapped") == "wrapped-1");
  CHECK(integer_of(data_key, "generation") == "1");

  const Json audit_record = get_document(project, "audit/00000000000000000001");
  CHECK(integer_of(audit_record, "seq") == "1");
  CHECK(string_of(audit_record, "user_id") == "alice@example.com");
  CHECK(string_of(audit_record, "operation") == "merge");

  // A sealed version needs its key at the commit: the precondition-only
  // write leaves the key document as it was.
  CHECK(get_document(project, "users/alice@example.com/data_keys/00000000000000000001")["updateTime"] ==
        data_key["updateTime"]);
  CHECK(store->erase("alice@example.com", std::nullopt) == 2);
  CHECK(store->contexts().empty());
  CHECK(store->data_keys(std::nullopt).empty());
}

TEST_CASE("firestore: a version over 1 MiB is too_large and nothing is written", "[store][firestore]") {
  emulator_host();
  testing::TempDir dir;
  auto store = open_store(testing::test_store_config("firestore", dir));
  auto big = record("bob", "default", 1, "");
  big.data = R"({"blob":")" + std::string(1024 * 1024, 'x') + R"("})";
  big.hash = version_hash(big);
  const Error error = error_of([&] { store->append(std::vector{big}, {}); });
  CHECK(error.code() == ErrorCode::too_large);
  CHECK(std::string(error.what()).find("1 MiB") != std::string::npos);
  CHECK_FALSE(store->head({"bob", "default"}).has_value());

  auto fits = record("bob", "default", 1, "");
  fits.data = R"({"blob":")" + std::string(1000 * 1000, 'x') + R"("})";
  fits.hash = version_hash(fits);
  REQUIRE(store->append(std::vector{fits}, {}));
  CHECK(store->head({"bob", "default"})->data == fits.data);
}

TEST_CASE("firestore: a commit whose answer is lost is the store's own success, not a conflict", "[store][firestore]") {
  const std::string upstream = "http://" + emulator_host();
  // A proxy that passes everything on, but answers the first commit with a
  // 503 after the emulator ran it: the client retries, the retry fails its
  // preconditions against the first run.
  std::atomic<int> commits{0};
  httplib::Server proxy;
  proxy.Post(R"(/.*)", [&](const httplib::Request& request, httplib::Response& response) {
    httplib::Client client(upstream);
    httplib::Headers headers{{"Authorization", "Bearer owner"}};
    const auto result = client.Post(request.path, headers, request.body, "application/json");
    if (!result) {
      response.status = 502;
      return;
    }
    if (request.path.ends_with(":commit") && commits.fetch_add(1) == 1) {
      response.status = 503;
      response.set_content(R"({"error":{"code":503,"status":"UNAVAILABLE","message":"lost"}})", "application/json");
      return;
    }
    response.status = result->status;
    response.set_content(result->body, "application/json");
  });
  const int port = proxy.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { proxy.listen_after_bind(); });
  while (!proxy.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  {
    const ScopedEnv via_proxy("FIRESTORE_EMULATOR_HOST", "127.0.0.1:" + std::to_string(port));
    testing::TempDir dir;
    auto store = open_store(testing::test_store_config("firestore", dir));
    const auto v1 = record("carol", "default", 1, "");
    REQUIRE(store->append(std::vector{v1}, {})); // commit 0
    const auto v2 = record("carol", "default", 2, v1.hash);
    CHECK(store->append(std::vector{v2}, std::vector{audit("carol", "2")})); // commit 1: answer lost
    CHECK(commits >= 3);
    CHECK(store->head({"carol", "default"})->hash == v2.hash);
    CHECK(store->audit_log({}).size() == 1);
    // A rival's version 3 is still a conflict.
    const auto v3 = record("carol", "default", 3, v2.hash);
    REQUIRE(store->append(std::vector{v3}, {}));
    auto rival = record("carol", "default", 3, v2.hash);
    rival.actor = "rival";
    rival.hash = version_hash(rival);
    CHECK_FALSE(store->append(std::vector{rival}, {}));
  }
  proxy.stop();
  serving.join();
}

TEST_CASE("firestore: two store objects share one hash-chained audit log", "[store][firestore]") {
  emulator_host();
  testing::TempDir dir;
  const StoreConfig config = testing::test_store_config("firestore", dir);
  auto first = open_store(config);
  auto second = open_store(config);
  for (int i = 0; i < 5; ++i) {
    first->append_audit(audit("dave", std::to_string(i)), true);
    second->append_audit(audit("erin", std::to_string(i)), false);
  }
  REQUIRE(first->append(std::vector{record("dave", "default", 1, "")}, std::vector{audit("dave", "1")}));
  const auto log = second->audit_log({});
  REQUIRE(log.size() == 11);
  for (std::size_t i = 0; i < log.size(); ++i) {
    CHECK(log[i].seq == log.size() - i);
    AuditRecord check = log[i];
    chain_audit(check, i + 1 < log.size() ? log[i + 1].hash : std::string{});
    CHECK(check.hash == log[i].hash);
  }
  AuditQuery only_erin;
  only_erin.user_id = "erin";
  only_erin.limit = 2;
  const auto erin = first->audit_log(only_erin);
  REQUIRE(erin.size() == 2);
  CHECK(erin[0].version == "4");
}

TEST_CASE("firestore client: retries 429 and 5xx with backoff, never a failed precondition", "[firestore]") {
  std::atomic<int> calls{0};
  std::atomic<int> failures_left{2};
  std::string failure_status = "UNAVAILABLE";
  int failure_code = 503;
  httplib::Server server;
  server.Post(R"(/.*)", [&](const httplib::Request& request, httplib::Response& response) {
    ++calls;
    if (request.get_header_value("Authorization") != "Bearer owner") {
      response.status = 401;
      return;
    }
    if (failures_left.fetch_sub(1) > 0) {
      response.status = failure_code;
      response.set_content(
          Json{{"error", {{"code", failure_code}, {"status", failure_status}, {"message", "m"}}}}.dump(),
          "application/json");
      return;
    }
    response.set_content(R"({"ok":true})", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  gcp::FirestoreSettings settings;
  settings.base_url = "http://127.0.0.1:" + std::to_string(port);
  settings.project = "demo";
  settings.max_attempts = 4;
  settings.base_delay = std::chrono::milliseconds{1};
  gcp::FirestoreClient client(settings);
  CHECK(client.documents_root() == "projects/demo/databases/(default)/documents");

  CHECK(client.post("commit", ":commit", "{}") == R"({"ok":true})");
  CHECK(calls == 3);

  failures_left = 2;
  failure_code = 429;
  failure_status = "RESOURCE_EXHAUSTED";
  CHECK_NOTHROW(client.post("commit", ":commit", "{}"));

  calls = 0;
  failures_left = 1;
  failure_code = 409;
  failure_status = "ALREADY_EXISTS";
  CHECK_THROWS_AS(client.post("commit", ":commit", "{}"), gcp::PreconditionFailed);
  CHECK(calls == 1);

  calls = 0;
  failures_left = 10;
  failure_code = 503;
  failure_status = "UNAVAILABLE";
  const Error exhausted = error_of([&] { client.post("commit", ":commit", "{}"); });
  CHECK(exhausted.code() == ErrorCode::unavailable);
  CHECK(calls == 4);
  CHECK(std::string(exhausted.what()).find("4 attempts") != std::string::npos);
  CHECK(std::string(exhausted.what()).find("127.0.0.1") != std::string::npos);

  calls = 0;
  failures_left = 1;
  failure_code = 400;
  failure_status = "INVALID_ARGUMENT";
  CHECK(error_of([&] { client.post("commit", ":commit", "{}"); }).code() == ErrorCode::invalid);
  CHECK(calls == 1);

  server.stop();
  serving.join();
}

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::string base64url_decode(const std::string& text) {
  std::string b64 = text;
  for (char& c : b64) {
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  while (b64.size() % 4 != 0) {
    b64 += '=';
  }
  std::string out(b64.size(), '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  REQUIRE(length >= 0);
  out.resize(static_cast<std::size_t>(length) - (text.size() % 4 == 2 ? 2 : text.size() % 4 == 3 ? 1 : 0));
  return out;
}

bool verify_rs256(EVP_PKEY* key, const std::string& signing_input, const std::string& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

} // namespace

TEST_CASE("service account: a signed JWT buys an access token, which is cached", "[firestore][gcp]") {
  std::unique_ptr<EVP_PKEY, PkeyFree> pair(EVP_RSA_gen(2048));
  REQUIRE(pair);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, pair.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* pem_data = nullptr;
  const long pem_size = BIO_get_mem_data(bio, &pem_data);
  const std::string pem(pem_data, static_cast<std::size_t>(pem_size));
  BIO_free(bio);

  std::atomic<int> token_requests{0};
  std::string failure;
  httplib::Server server;
  std::string token_uri;
  server.Post("/token", [&](const httplib::Request& request, httplib::Response& response) {
    ++token_requests;
    const auto grant = request.get_param_value("grant_type");
    const auto assertion = request.get_param_value("assertion");
    const auto dot1 = assertion.find('.');
    const auto dot2 = assertion.rfind('.');
    if (grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" || dot1 == std::string::npos || dot1 == dot2) {
      failure = "bad request: " + request.body;
      response.status = 400;
      return;
    }
    const Json header = Json::parse(base64url_decode(assertion.substr(0, dot1)));
    const Json claims = Json::parse(base64url_decode(assertion.substr(dot1 + 1, dot2 - dot1 - 1)));
    const std::string signature = base64url_decode(assertion.substr(dot2 + 1));
    if (header["alg"] != "RS256" || !verify_rs256(pair.get(), assertion.substr(0, dot2), signature)) {
      failure = "bad signature";
      response.status = 400;
      response.set_content(R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})",
                           "application/json");
      return;
    }
    const auto now_s =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (claims["iss"] != "zsimem@demo.iam.gserviceaccount.com" || claims["sub"] != claims["iss"] ||
        claims["aud"] != token_uri || claims["scope"] != "https://www.googleapis.com/auth/datastore" ||
        std::abs(claims["iat"].get<std::int64_t>() - now_s) > 60 ||
        claims["exp"].get<std::int64_t>() - claims["iat"].get<std::int64_t>() != 3600) {
      failure = "bad claims: " + claims.dump();
      response.status = 400;
      return;
    }
    response.set_content(R"({"access_token":"tok-1","expires_in":3599,"token_type":"Bearer"})", "application/json");
  });
  std::atomic<int> firestore_calls{0};
  server.Post(R"(/v1/.*)", [&](const httplib::Request& request, httplib::Response& response) {
    ++firestore_calls;
    if (request.get_header_value("Authorization") != "Bearer tok-1") {
      response.status = 401;
      response.set_content(R"({"error":{"code":401,"status":"UNAUTHENTICATED","message":"no"}})", "application/json");
      return;
    }
    response.set_content("[]", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  token_uri = "http://127.0.0.1:" + std::to_string(port) + "/token";

  const Json key_file{{"type", "service_account"},
                      {"project_id", "demo"},
                      {"private_key_id", "abc"},
                      {"private_key", pem},
                      {"client_email", "zsimem@demo.iam.gserviceaccount.com"},
                      {"token_uri", token_uri}};
  const auto key = gcp::parse_service_account_key(key_file.dump(), "the test's key");
  auto tokens = std::make_shared<gcp::AccessTokenSource>(key, std::string(gcp::k_datastore_scope));
  CHECK(tokens->token() == "tok-1");
  INFO(failure);
  CHECK(tokens->token() == "tok-1");
  CHECK(tokens->fetches() == 1);

  gcp::FirestoreSettings settings;
  settings.base_url = "http://127.0.0.1:" + std::to_string(port);
  settings.project = "demo";
  settings.tokens = tokens;
  gcp::FirestoreClient client(settings);
  CHECK(client.post("runQuery", ":runQuery", "{}") == "[]");
  CHECK(client.post("runQuery", ":runQuery", "{}") == "[]");
  CHECK(firestore_calls == 2);
  CHECK(token_requests == 1);

  // A key that is not a service account's, or has no private key.
  CHECK(error_of([] { gcp::parse_service_account_key(R"({"type":"authorized_user"})", "f"); }).code() ==
        ErrorCode::invalid);
  CHECK(error_of([] {
          gcp::parse_service_account_key(R"({"type":"service_account","client_email":"a"})", "f");
        }).code() == ErrorCode::invalid);

  server.stop();
  serving.join();
}

} // namespace zsimem
