#include "aws/dynamo_client.hpp"
#include "support/dynalite.hpp"
#include "support/error_of.hpp"
#include "support/loopback_server.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/error.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Json = nlohmann::json;
using zsimem::Error;
using zsimem::ErrorCode;
using zsimem::aws::ConditionalCheckFailed;
using zsimem::aws::DynamoClient;
using zsimem::aws::DynamoError;
using zsimem::aws::DynamoSettings;
using zsimem::testing::error_of;

constexpr const char* k_table = "zsimem_test";

DynamoSettings settings_for(const std::string& url, int max_attempts = 5) {
  DynamoSettings settings;
  settings.endpoint = zsimem::aws::parse_dynamo_endpoint(url);
  settings.region = "us-east-1";
  settings.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  settings.max_attempts = max_attempts;
  // Short waits: the tests count attempts, not milliseconds.
  settings.base_delay = std::chrono::milliseconds(1);
  settings.max_delay = std::chrono::milliseconds(5);
  return settings;
}

Json call(DynamoClient& client, std::string_view operation, const Json& body) {
  return Json::parse(client.call(operation, body.dump()));
}

// The layout the backend will use: partition key user_id, sort key version.
void create_table(DynamoClient& client) {
  const Json created = call(
      client, "CreateTable",
      {{"TableName", k_table},
       {"AttributeDefinitions",
        {{{"AttributeName", "user_id"}, {"AttributeType", "S"}},
         {{"AttributeName", "version"}, {"AttributeType", "N"}}}},
       {"KeySchema",
        {{{"AttributeName", "user_id"}, {"KeyType", "HASH"}}, {{"AttributeName", "version"}, {"KeyType", "RANGE"}}}},
       {"BillingMode", "PAY_PER_REQUEST"}});
  REQUIRE(created["TableDescription"]["TableName"] == k_table);
  // dynalite makes it ACTIVE after --createTableMs (0), on its next tick.
  for (int i = 0; i < 200; ++i) {
    if (call(client, "DescribeTable", {{"TableName", k_table}})["Table"]["TableStatus"] == "ACTIVE") {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("the table did not become ACTIVE");
}

Json item(const std::string& user, int version, const std::string& data) {
  return {{"user_id", {{"S", user}}}, {"version", {{"N", std::to_string(version)}}}, {"data", {{"S", data}}}};
}

Json key(const std::string& user, int version) {
  return {{"user_id", {{"S", user}}}, {"version", {{"N", std::to_string(version)}}}};
}

// An HTTP server on loopback that plays DynamoDB: `answer` gives the status
// and body of the n-th request (from 1).
class FakeDynamo {
public:
  using Answer = std::function<std::pair<int, std::string>(int n)>;

  explicit FakeDynamo(Answer answer)
      : m_answer(std::move(answer)), m_server([this](httplib::Server& server) { routes(server); }) {}
  FakeDynamo(const FakeDynamo&) = delete;
  FakeDynamo& operator=(const FakeDynamo&) = delete;

  std::string url() const { return m_server.url(); }
  int requests() const { return m_requests.load(); }
  std::string header(const std::string& name) const {
    std::lock_guard lock(m_mutex);
    const auto at = m_last_headers.find(name);
    return at == m_last_headers.end() ? std::string() : at->second;
  }
  std::size_t connections() const {
    std::lock_guard lock(m_mutex);
    return m_remote_ports.size();
  }

private:
  void routes(httplib::Server& server) {
    server.Post("/", [this](const httplib::Request& request, httplib::Response& response) {
      const int n = ++m_requests;
      {
        std::lock_guard lock(m_mutex);
        m_last_headers = request.headers;
        m_remote_ports.insert(request.remote_port);
      }
      const auto [status, body] = m_answer(n);
      response.status = status;
      response.set_content(body, "application/x-amz-json-1.0");
    });
  }

  Answer m_answer;
  std::atomic<int> m_requests{0};
  mutable std::mutex m_mutex;
  httplib::Headers m_last_headers;
  std::set<int> m_remote_ports;
  // Last: it stops serving before the members its handler uses go.
  zsimem::testing::LoopbackServer m_server;
};

std::string error_body(const std::string& type, const std::string& message) {
  return Json{{"__type", "com.amazonaws.dynamodb.v20120810#" + type}, {"message", message}}.dump();
}

// Sets environment variables for one test and restores them afterwards.
class EnvGuard {
public:
  EnvGuard() {
    for (const char* name : k_names) {
      if (const char* value = std::getenv(name)) {
        m_saved[name] = value;
      }
      ::unsetenv(name);
    }
  }
  ~EnvGuard() {
    for (const char* name : k_names) {
      if (const auto at = m_saved.find(name); at != m_saved.end()) {
        ::setenv(name, at->second.c_str(), 1);
      } else {
        ::unsetenv(name);
      }
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

  void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

private:
  static constexpr const char* k_names[] = {"AWS_REGION",
                                            "AWS_DEFAULT_REGION",
                                            "AWS_ENDPOINT_URL_DYNAMODB",
                                            "AWS_ENDPOINT_URL",
                                            "AWS_ACCESS_KEY_ID",
                                            "AWS_SECRET_ACCESS_KEY",
                                            "AWS_SESSION_TOKEN",
                                            "AWS_SHARED_CREDENTIALS_FILE",
                                            "AWS_PROFILE",
                                            "AWS_MAX_ATTEMPTS",
                                            "HOME"};
  std::map<std::string, std::string> m_saved;
};

} // namespace

TEST_CASE("the DynamoDB client creates a table, puts and gets items in dynalite", "[dynamo]") {
  zsimem::testing::Dynalite dynalite;
  DynamoClient client(settings_for(dynalite.url()));
  create_table(client);

  const std::uint64_t before = client.attempts();
  CHECK(call(client, "PutItem", {{"TableName", k_table}, {"Item", item("alice", 1, R"({"a":1})")}}).is_object());
  const Json got =
      call(client, "GetItem", {{"TableName", k_table}, {"Key", key("alice", 1)}, {"ConsistentRead", true}});
  CHECK(got["Item"] == item("alice", 1, R"({"a":1})"));
  // A key that holds nothing: an answer without "Item".
  const Json missing = call(client, "GetItem", {{"TableName", k_table}, {"Key", key("alice", 2)}});
  CHECK_FALSE(missing.contains("Item"));
  // Each call went out once.
  CHECK(client.attempts() - before == 3);
}

TEST_CASE("a failed condition in dynalite is ConditionalCheckFailed and is not retried", "[dynamo]") {
  zsimem::testing::Dynalite dynalite;
  DynamoClient client(settings_for(dynalite.url()));
  create_table(client);
  const Json put_if_absent = {{"TableName", k_table},
                              {"Item", item("alice", 1, "second")},
                              {"ConditionExpression", "attribute_not_exists(user_id)"}};

  // The first conditional write wins; the same write again loses.
  Json first = put_if_absent;
  first["Item"] = item("alice", 1, "first");
  call(client, "PutItem", first);
  const std::uint64_t before = client.attempts();
  try {
    client.call("PutItem", put_if_absent.dump());
    FAIL("the condition did not fail");
  } catch (const ConditionalCheckFailed& failed) {
    CHECK(failed.code() == ErrorCode::conflict);
    CHECK(failed.aws_type() == "ConditionalCheckFailedException");
    CHECK(std::string(failed.what()).find("PutItem") != std::string::npos);
  }
  CHECK(client.attempts() - before == 1);
  const Json got =
      call(client, "GetItem", {{"TableName", k_table}, {"Key", key("alice", 1)}, {"ConsistentRead", true}});
  CHECK(got["Item"]["data"]["S"] == "first");
  // The next version's key is free: the same condition passes there.
  Json next = put_if_absent;
  next["Item"] = item("alice", 2, "second");
  CHECK_NOTHROW(call(client, "PutItem", next));
}

TEST_CASE("Query in dynalite pages newest first with Limit and LastEvaluatedKey", "[dynamo]") {
  zsimem::testing::Dynalite dynalite;
  DynamoClient client(settings_for(dynalite.url()));
  create_table(client);
  for (int version = 1; version <= 7; ++version) {
    call(client, "PutItem", {{"TableName", k_table}, {"Item", item("bob", version, "v" + std::to_string(version))}});
  }
  call(client, "PutItem", {{"TableName", k_table}, {"Item", item("carol", 1, "other user")}});

  Json request = {{"TableName", k_table},
                  {"KeyConditionExpression", "user_id = :u"},
                  {"ExpressionAttributeValues", {{":u", {{"S", "bob"}}}}},
                  {"ScanIndexForward", false},
                  {"Limit", 3},
                  {"ConsistentRead", true}};
  std::vector<std::vector<int>> pages;
  for (int guard = 0; guard < 10; ++guard) {
    const Json page = call(client, "Query", request);
    std::vector<int> versions;
    for (const auto& found : page["Items"]) {
      versions.push_back(std::stoi(found["version"]["N"].get<std::string>()));
    }
    pages.push_back(versions);
    if (!page.contains("LastEvaluatedKey")) {
      break;
    }
    request["ExclusiveStartKey"] = page["LastEvaluatedKey"];
  }
  CHECK(pages == std::vector<std::vector<int>>{{7, 6, 5}, {4, 3, 2}, {1}});

  // An as-of read: the newest version at or below 5, in one item.
  const Json as_of = call(client, "Query",
                          {{"TableName", k_table},
                           {"KeyConditionExpression", "user_id = :u AND version <= :v"},
                           {"ExpressionAttributeValues", {{":u", {{"S", "bob"}}}, {":v", {{"N", "5"}}}}},
                           {"ScanIndexForward", false},
                           {"Limit", 1}});
  REQUIRE(as_of["Items"].size() == 1);
  CHECK(as_of["Items"][0]["version"]["N"] == "5");
}

TEST_CASE("BatchWriteItem writes 25 items in dynalite, and a 26th is a validation error", "[dynamo]") {
  zsimem::testing::Dynalite dynalite;
  DynamoClient client(settings_for(dynalite.url()));
  create_table(client);
  Json puts = Json::array();
  for (int version = 1; version <= 25; ++version) {
    puts.push_back({{"PutRequest", {{"Item", item("dave", version, std::string(100, 'x'))}}}});
  }
  Json unprocessed = {{k_table, puts}};
  for (int round = 0; round < 10 && !unprocessed.empty(); ++round) {
    const Json answer = call(client, "BatchWriteItem", {{"RequestItems", unprocessed}});
    unprocessed = answer.value("UnprocessedItems", Json::object());
  }
  CHECK(unprocessed.empty());
  const Json counted = call(client, "Query",
                            {{"TableName", k_table},
                             {"KeyConditionExpression", "user_id = :u"},
                             {"ExpressionAttributeValues", {{":u", {{"S", "dave"}}}}},
                             {"Select", "COUNT"}});
  CHECK(counted["Count"] == 25);

  // DynamoDB takes at most 25 writes per batch: AWS's ValidationException.
  puts.push_back({{"PutRequest", {{"Item", item("dave", 26, "x")}}}});
  const std::uint64_t before = client.attempts();
  const Error too_many = error_of([&] { call(client, "BatchWriteItem", {{"RequestItems", {{k_table, puts}}}}); });
  CHECK(too_many.code() == ErrorCode::invalid);
  CHECK(std::string(too_many.what()).find("BatchWriteItem") != std::string::npos);
  CHECK(std::string(too_many.what()).find("ValidationException") != std::string::npos);
  CHECK(client.attempts() - before == 1);

  // An item without its sort key: another validation error, with AWS's words.
  try {
    call(client, "PutItem", {{"TableName", k_table}, {"Item", {{"user_id", {{"S", "dave"}}}}}});
    FAIL("no error");
  } catch (const DynamoError& error) {
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.aws_type() == "ValidationException");
    CHECK(error.http_status() == 400);
    CHECK(std::string(error.what()).find("key") != std::string::npos);
  }
  // A table that does not exist: the store cannot serve, said at once.
  try {
    call(client, "GetItem", {{"TableName", "no_such_table"}, {"Key", key("dave", 1)}});
    FAIL("no error");
  } catch (const DynamoError& error) {
    CHECK(error.code() == ErrorCode::unavailable);
    CHECK(error.aws_type() == "ResourceNotFoundException");
  }
}

TEST_CASE("the DynamoDB client signs its requests and reuses its connection", "[dynamo]") {
  FakeDynamo fake([](int) { return std::pair{200, std::string("{}")}; });
  DynamoSettings settings = settings_for(fake.url());
  settings.credentials.session_token = "SESSIONTOKENEXAMPLE";
  DynamoClient client(settings);
  for (int i = 0; i < 5; ++i) {
    CHECK(client.call("GetItem", R"({"TableName":"t"})") == "{}");
  }
  CHECK(fake.requests() == 5);
  CHECK(fake.connections() == 1);
  CHECK(fake.header("X-Amz-Target") == "DynamoDB_20120810.GetItem");
  CHECK(fake.header("Content-Type") == "application/x-amz-json-1.0");
  CHECK(fake.header("X-Amz-Security-Token") == "SESSIONTOKENEXAMPLE");
  const std::string authorization = fake.header("Authorization");
  CHECK(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
  CHECK(authorization.find("/us-east-1/dynamodb/aws4_request, SignedHeaders="
                           "content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=") !=
        std::string::npos);
  CHECK(fake.header("X-Amz-Date").size() == 16);
}

TEST_CASE("the DynamoDB client retries 5xx and throttling with backoff, then succeeds", "[dynamo]") {
  const int failures = 3;
  SECTION("HTTP 500") {
    FakeDynamo fake([&](int n) {
      return n <= failures ? std::pair{500, error_body("InternalServerError", "Internal server error")}
                           : std::pair{200, std::string(R"({"Item":{}})")};
    });
    DynamoClient client(settings_for(fake.url()));
    CHECK(client.call("GetItem", "{}") == R"({"Item":{}})");
    CHECK(fake.requests() == failures + 1);
    CHECK(client.attempts() == failures + 1);
  }
  SECTION("HTTP 503 without a body") {
    FakeDynamo fake([&](int n) {
      return n <= failures ? std::pair{503, std::string()} : std::pair{200, std::string("{}")};
    });
    DynamoClient client(settings_for(fake.url()));
    CHECK(client.call("GetItem", "{}") == "{}");
    CHECK(fake.requests() == failures + 1);
  }
  SECTION("a throttling error with 400") {
    const char* type =
        GENERATE("ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded");
    FakeDynamo fake([&](int n) {
      return n <= failures ? std::pair{400, error_body(type, "Rate of requests exceeds the allowed throughput.")}
                           : std::pair{200, std::string("{}")};
    });
    DynamoClient client(settings_for(fake.url()));
    CHECK(client.call("PutItem", "{}") == "{}");
    CHECK(fake.requests() == failures + 1);
  }
}

TEST_CASE("the DynamoDB client gives up after max_attempts with Error{unavailable}", "[dynamo]") {
  SECTION("a server that always answers 500") {
    FakeDynamo fake([](int) { return std::pair{500, error_body("InternalServerError", "the disk is on fire")}; });
    DynamoClient client(settings_for(fake.url(), 4));
    try {
      client.call("Query", "{}");
      FAIL("no error");
    } catch (const DynamoError& error) {
      CHECK(error.code() == ErrorCode::unavailable);
      const std::string message = error.what();
      CHECK(message.find("Query") != std::string::npos);
      CHECK(message.find("4 attempts") != std::string::npos);
      CHECK(message.find("the disk is on fire") != std::string::npos);
    }
    CHECK(fake.requests() == 4);
  }
  SECTION("nothing listening") {
    int port = 0;
    {
      FakeDynamo gone([](int) { return std::pair{200, std::string("{}")}; });
      port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
    }
    DynamoClient client(settings_for("http://127.0.0.1:" + std::to_string(port), 3));
    const Error error = error_of([&] { client.call("GetItem", "{}"); });
    CHECK(error.code() == ErrorCode::unavailable);
    CHECK(std::string(error.what()).find("3 attempts") != std::string::npos);
    CHECK(client.attempts() == 3);
  }
}

TEST_CASE("the DynamoDB client never retries a failed condition or a client error", "[dynamo]") {
  SECTION("ConditionalCheckFailedException") {
    const std::string body = error_body("ConditionalCheckFailedException", "The conditional request failed");
    FakeDynamo fake([&](int) { return std::pair{400, body}; });
    DynamoClient client(settings_for(fake.url()));
    try {
      client.call("PutItem", "{}");
      FAIL("no error");
    } catch (const ConditionalCheckFailed& failed) {
      CHECK(failed.code() == ErrorCode::conflict);
      CHECK(failed.body() == body);
    }
    CHECK(fake.requests() == 1);
  }
  SECTION("ValidationException") {
    FakeDynamo fake([](int) {
      return std::pair{400, Json{{"__type", "com.amazon.coral.validate#ValidationException"},
                                 {"message", "1 validation error detected"}}
                                .dump()};
    });
    DynamoClient client(settings_for(fake.url()));
    const Error error = error_of([&] { client.call("PutItem", "{}"); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(std::string(error.what()) == "DynamoDB PutItem: ValidationException: 1 validation error detected");
    CHECK(fake.requests() == 1);
  }
  SECTION("a refused signature, whose message never quotes a secret") {
    FakeDynamo fake([](int) {
      return std::pair{400, error_body("InvalidSignatureException",
                                       "The Canonical String for this request should have been\n"
                                       "x-amz-security-token:SESSIONTOKENEXAMPLE")};
    });
    DynamoSettings settings = settings_for(fake.url());
    settings.credentials.session_token = "SESSIONTOKENEXAMPLE";
    DynamoClient client(settings);
    const Error error = error_of([&] { client.call("PutItem", "{}"); });
    CHECK(error.code() == ErrorCode::unavailable);
    const std::string message = error.what();
    CHECK(message.find("SESSIONTOKENEXAMPLE") == std::string::npos);
    CHECK(message.find(settings.credentials.secret_access_key) == std::string::npos);
    CHECK(fake.requests() == 1);
  }
}

TEST_CASE("DynamoDB endpoints parse from URLs", "[dynamo]") {
  const auto local = zsimem::aws::parse_dynamo_endpoint("http://127.0.0.1:8000/");
  CHECK(local.scheme == "http");
  CHECK(local.host == "127.0.0.1");
  CHECK(local.port == 8000);
  CHECK(local.host_header() == "127.0.0.1:8000");
  const auto aws = zsimem::aws::parse_dynamo_endpoint("https://dynamodb.eu-west-1.amazonaws.com");
  CHECK(aws.port == 443);
  CHECK(aws.host_header() == "dynamodb.eu-west-1.amazonaws.com");
  CHECK(aws.url() == "https://dynamodb.eu-west-1.amazonaws.com:443");
  CHECK(zsimem::aws::parse_dynamo_endpoint("http://[::1]:8000").host == "[::1]");
  for (const char* bad : {"dynamodb.amazonaws.com", "ftp://x", "http://", "http://h:0", "http://h:99999", "http://h:x",
                          "http://h/path", "http://user@h", "http://h?q", "http://h:"}) {
    INFO(bad);
    const Error error = error_of([&] { zsimem::aws::parse_dynamo_endpoint(bad, "AWS_ENDPOINT_URL"); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.field() == "AWS_ENDPOINT_URL");
  }
}

TEST_CASE("DynamoDB settings come from the AWS environment variables and credentials file", "[dynamo]") {
  EnvGuard env;
  zsimem::testing::TempDir dir;
  env.set("HOME", dir.path().string()); // no ~/.aws/credentials of the machine's

  SECTION("variables") {
    env.set("AWS_REGION", "eu-west-1");
    env.set("AWS_DEFAULT_REGION", "us-east-2");
    env.set("AWS_ACCESS_KEY_ID", "AKIDENV");
    env.set("AWS_SECRET_ACCESS_KEY", "secret-env");
    env.set("AWS_SESSION_TOKEN", "token-env");
    env.set("AWS_ENDPOINT_URL", "http://127.0.0.1:9999");
    env.set("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000");
    env.set("AWS_MAX_ATTEMPTS", "3");
    const DynamoSettings settings = zsimem::aws::dynamo_settings_from_env();
    CHECK(settings.region == "eu-west-1");
    CHECK(settings.endpoint.url() == "http://localhost:8000");
    CHECK(settings.credentials.access_key_id == "AKIDENV");
    CHECK(settings.credentials.secret_access_key == "secret-env");
    CHECK(settings.credentials.session_token == "token-env");
    CHECK(settings.max_attempts == 3);
  }
  SECTION("fallbacks: AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, then AWS's own endpoint") {
    env.set("AWS_DEFAULT_REGION", "us-east-2");
    env.set("AWS_ACCESS_KEY_ID", "AKIDENV");
    env.set("AWS_SECRET_ACCESS_KEY", "secret-env");
    CHECK(zsimem::aws::dynamo_settings_from_env().endpoint.url() == "https://dynamodb.us-east-2.amazonaws.com:443");
    env.set("AWS_ENDPOINT_URL", "http://127.0.0.1:9999");
    const DynamoSettings settings = zsimem::aws::dynamo_settings_from_env();
    CHECK(settings.region == "us-east-2");
    CHECK(settings.endpoint.url() == "http://127.0.0.1:9999");
    CHECK(settings.credentials.session_token.empty());
  }
  SECTION("the shared credentials file, default and named profiles") {
    env.set("AWS_REGION", "eu-west-1");
    const auto file = dir.path() / "credentials";
    std::ofstream(file) << "# comment\n"
                           "[default]\n"
                           "aws_access_key_id = AKIDDEFAULT\n"
                           "aws_secret_access_key=secret-default\n"
                           "\n"
                           "[work]\n"
                           "; another comment\n"
                           "aws_access_key_id = AKIDWORK\n"
                           "aws_secret_access_key = secret-work\n"
                           "aws_session_token = token-work\n"
                           "region = ignored\n";
    env.set("AWS_SHARED_CREDENTIALS_FILE", file.string());
    DynamoSettings settings = zsimem::aws::dynamo_settings_from_env();
    CHECK(settings.credentials.access_key_id == "AKIDDEFAULT");
    CHECK(settings.credentials.secret_access_key == "secret-default");
    CHECK(settings.credentials.session_token.empty());
    env.set("AWS_PROFILE", "work");
    settings = zsimem::aws::dynamo_settings_from_env();
    CHECK(settings.credentials.access_key_id == "AKIDWORK");
    CHECK(settings.credentials.secret_access_key == "secret-work");
    CHECK(settings.credentials.session_token == "token-work");

    env.set("AWS_PROFILE", "nope");
    const Error missing = error_of([] { zsimem::aws::dynamo_settings_from_env(); });
    CHECK(missing.code() == ErrorCode::invalid);
    CHECK(std::string(missing.what()).find("'nope'") != std::string::npos);
    CHECK(std::string(missing.what()).find("secret") == std::string::npos);
  }
  SECTION("~/.aws/credentials without AWS_SHARED_CREDENTIALS_FILE") {
    env.set("AWS_REGION", "eu-west-1");
    std::filesystem::create_directories(dir.path() / ".aws");
    std::ofstream(dir.path() / ".aws" / "credentials") << "[default]\naws_access_key_id=AKIDHOME\n"
                                                          "aws_secret_access_key=secret-home\n";
    CHECK(zsimem::aws::dynamo_settings_from_env().credentials.access_key_id == "AKIDHOME");
  }
  SECTION("what is missing is named") {
    Error error = error_of([] { zsimem::aws::dynamo_settings_from_env(); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.field() == "AWS_REGION");

    env.set("AWS_REGION", "eu-west-1");
    error = error_of([] { zsimem::aws::dynamo_settings_from_env(); });
    CHECK(error.field() == "AWS_ACCESS_KEY_ID");
    CHECK(std::string(error.what()).find("AWS_SECRET_ACCESS_KEY") != std::string::npos);

    env.set("AWS_ACCESS_KEY_ID", "AKIDENV");
    error = error_of([] { zsimem::aws::dynamo_settings_from_env(); });
    CHECK(error.field() == "AWS_SECRET_ACCESS_KEY");

    env.set("AWS_SECRET_ACCESS_KEY", "secret-env");
    env.set("AWS_ENDPOINT_URL_DYNAMODB", "localhost:8000");
    error = error_of([] { zsimem::aws::dynamo_settings_from_env(); });
    CHECK(error.field() == "AWS_ENDPOINT_URL_DYNAMODB");

    ::unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
    env.set("AWS_MAX_ATTEMPTS", "0");
    error = error_of([] { zsimem::aws::dynamo_settings_from_env(); });
    CHECK(error.field() == "AWS_MAX_ATTEMPTS");

    ::unsetenv("AWS_MAX_ATTEMPTS");
    env.set("AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "absent").string());
    ::unsetenv("AWS_ACCESS_KEY_ID");
    ::unsetenv("AWS_SECRET_ACCESS_KEY");
    error = error_of([] { zsimem::aws::dynamo_settings_from_env(); });
    CHECK(error.field() == "AWS_SHARED_CREDENTIALS_FILE");
  }
}
