#include "aws/dynamo_client.hpp"
#include "store/backends.hpp"
#include "support/dynalite.hpp"
#include "support/error_of.hpp"
#include "support/loopback_server.hpp"
#include "support/scoped_env.hpp"

#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <strings.h>
#include <thread>
#include <utility>
#include <vector>

namespace zsimem {
namespace {

using Json = nlohmann::json;
using testing::error_of;

constexpr std::int64_t k_t0 = 1'764'380'641'123'456;

Timestamp at(std::int64_t micros_after_t0) { return Timestamp{std::chrono::microseconds{k_t0 + micros_after_t0}}; }

// Points the AWS environment at `url` for this test case (each runs in its
// own process under ctest, and before any thread starts) and restores it.
class AwsEnv {
public:
  explicit AwsEnv(const std::string& url) {
    set("AWS_ENDPOINT_URL_DYNAMODB", url);
    set("AWS_REGION", "us-east-1");
    set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    set("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    set("AWS_MAX_ATTEMPTS", "4");
    unset("AWS_SESSION_TOKEN");
    unset("DYNAMO_TABLE");
  }
  // Newest first: a variable set twice gets its first value back last.
  ~AwsEnv() {
    while (!m_scoped.empty()) {
      m_scoped.pop_back();
    }
  }
  AwsEnv(const AwsEnv&) = delete;
  AwsEnv& operator=(const AwsEnv&) = delete;

  void set(const char* name, const std::string& value) {
    m_scoped.push_back(std::make_unique<testing::ScopedEnv>(name, value));
  }
  void unset(const char* name) { m_scoped.push_back(std::make_unique<testing::ScopedEnv>(name, std::nullopt)); }

private:
  std::vector<std::unique_ptr<testing::ScopedEnv>> m_scoped;
};

std::unique_ptr<MemoryStore> open_dynamo(const std::string& table, bool create = true) {
  StoreConfig config;
  config.backend = "dynamo";
  config.store_name = table;
  config.create = create;
  return store::make_dynamo_store(config);
}

aws::DynamoSettings settings_for(const std::string& url) {
  aws::DynamoSettings settings;
  settings.endpoint = aws::parse_dynamo_endpoint(url);
  settings.region = "us-east-1";
  settings.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  return settings;
}

Json raw(aws::DynamoClient& client, std::string_view operation, const Json& body) {
  return Json::parse(client.call(operation, body.dump()));
}

Json key_of(const std::string& partition, const std::string& sort) {
  return {{"user_id", {{"S", partition}}}, {"version", {{"S", sort}}}};
}

VersionRecord make_record(const std::string& user, const std::string& ns, std::uint64_t version) {
  VersionRecord record;
  record.user_id = user;
  record.ns = ns;
  record.version = version;
  record.updated_at = at(static_cast<std::int64_t>(version) * 1000);
  record.data = R"({"counter":)" + std::to_string(version) + "}";
  record.delta = record.data;
  record.actor = "cli:" + user;
  record.request_id = "req-" + std::to_string(version);
  record.derived_from = version - 1;
  record.prev_hash = version == 1 ? "" : "hash-" + std::to_string(version - 1);
  record.hash = "hash-" + std::to_string(version);
  return record;
}

AuditRecord make_audit(const std::string& user, const std::string& request_id) {
  AuditRecord record;
  record.time = at(0);
  record.request_id = request_id;
  record.actor = "cli:" + user;
  record.operation = "merge";
  record.user_id = user;
  record.ns = "default";
  record.outcome = "ok";
  return record;
}

// A proxy in front of dynalite that passes every request on, but answers
// the first `lost` PutItem requests with a 500 after dynalite has executed
// them: a write whose answer was lost, which the client retries.
class LossyProxy {
  // Headers that httplib sets itself on the way on.
  static bool is_hop_header(const std::string& name) {
    for (const char* hop : {"host", "content-length", "content-type", "connection", "remote_addr", "remote_port",
                            "local_addr", "local_port", "accept-encoding"}) {
      if (::strcasecmp(name.c_str(), hop) == 0) {
        return true;
      }
    }
    return false;
  }

public:
  LossyProxy(int dynalite_port, int lost)
      : m_lost(lost), m_upstream("127.0.0.1", dynalite_port),
        m_server([this](httplib::Server& server) { routes(server); }) {}
  LossyProxy(const LossyProxy&) = delete;
  LossyProxy& operator=(const LossyProxy&) = delete;

  std::string url() const { return m_server.url(); }
  void lose(int count) {
    std::lock_guard lock(m_mutex);
    m_lost = count;
  }
  // Runs `action` once, before the next PutItem reaches dynalite.
  void before_next_put(std::function<void()> action) {
    std::lock_guard lock(m_mutex);
    m_before_put = std::move(action);
  }
  int dropped() {
    std::lock_guard lock(m_mutex);
    return m_dropped;
  }

private:
  void routes(httplib::Server& server) {
    server.Post("/", [this](const httplib::Request& request, httplib::Response& response) {
      httplib::Headers headers;
      for (const auto& [name, value] : request.headers) {
        if (!is_hop_header(name)) {
          headers.emplace(name, value);
        }
      }
      std::lock_guard lock(m_mutex);
      const std::string target = request.get_header_value("X-Amz-Target");
      if (m_before_put && target.ends_with(".PutItem")) {
        std::exchange(m_before_put, nullptr)();
      }
      const auto answer = m_upstream.Post("/", headers, request.body, "application/x-amz-json-1.0");
      if (!answer) {
        response.status = 503;
        return;
      }
      if (target.ends_with(".PutItem") && m_lost > 0) {
        --m_lost;
        ++m_dropped;
        response.status = 500;
        response.set_content(R"({"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"lost"})",
                             "application/x-amz-json-1.0");
        return;
      }
      response.status = answer->status;
      response.set_content(answer->body, "application/x-amz-json-1.0");
    });
  }

  std::mutex m_mutex;
  int m_lost;
  int m_dropped = 0;
  std::function<void()> m_before_put;
  httplib::Client m_upstream;
  // Last: it stops serving before the members its handler uses go.
  zsimem::testing::LoopbackServer m_server;
};

} // namespace

TEST_CASE("the dynamo store names its table or refuses to open", "[store][dynamo]") {
  testing::Dynalite dynalite;
  AwsEnv env(dynalite.url());

  const Error none = error_of([] { open_dynamo(""); });
  CHECK(none.code() == ErrorCode::invalid);
  CHECK(none.field() == "DYNAMO_TABLE");
  CHECK(std::string(none.what()).find("set DYNAMO_TABLE") != std::string::npos);

  CHECK(error_of([] { open_dynamo("no/slashes"); }).code() == ErrorCode::invalid);

  // Without create, a missing table names itself and the remedy.
  const Error missing = error_of([] { open_dynamo("zsimem_missing", false); });
  CHECK(missing.code() == ErrorCode::unavailable);
  CHECK(std::string(missing.what()).find("'zsimem_missing'") != std::string::npos);
  CHECK(std::string(missing.what()).find("zsimem init") != std::string::npos);

  // DYNAMO_TABLE when the config names none; create makes it, twice is fine.
  env.set("DYNAMO_TABLE", "zsimem_from_env");
  CHECK(open_dynamo("")->backend_name() == "dynamo");
  CHECK(open_dynamo("zsimem_from_env", true) != nullptr);
  CHECK(open_dynamo("zsimem_from_env", false) != nullptr);

  // A table of another shape is not ours.
  aws::DynamoClient client(settings_for(dynalite.url()));
  raw(client, "CreateTable",
      {{"TableName", "zsimem_other"},
       {"AttributeDefinitions", {{{"AttributeName", "id"}, {"AttributeType", "S"}}}},
       {"KeySchema", {{{"AttributeName", "id"}, {"KeyType", "HASH"}}}},
       {"BillingMode", "PAY_PER_REQUEST"}});
  Error other = error_of([] { open_dynamo("zsimem_other", false); });
  for (int i = 0; i < 100 && std::string(other.what()).find("ACTIVE") != std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    other = error_of([] { open_dynamo("zsimem_other", false); });
  }
  CHECK(other.code() == ErrorCode::unavailable);
  CHECK(std::string(other.what()).find("not a zsimem table") != std::string::npos);
}

TEST_CASE("the dynamo store lays out versions and data keys and audit records as documented", "[store][dynamo]") {
  testing::Dynalite dynalite;
  AwsEnv env(dynalite.url());
  auto store = open_dynamo("zsimem_layout");

  DataKeyRecord key;
  key.user_id = "alice";
  key.generation = 3;
  key.master_key_id = "master-1";
  key.wrapped = "d3JhcHBlZA==";
  key.created_at = at(5);
  REQUIRE(store->add_data_key(key));

  auto record = make_record("alice", "work", 1);
  record.tags = {"a", "b"};
  record.idempotency_key = "idem";
  record.key_id = "3";
  record.delta = "";
  const auto audit = make_audit("alice", "req-1");
  REQUIRE(store->append({&record, 1}, {&audit, 1}));

  aws::DynamoClient client(settings_for(dynalite.url()));
  const Json version = raw(client, "GetItem",
                           {{"TableName", "zsimem_layout"},
                            {"Key", key_of("alice", "work#00000000000000000001")},
                            {"ConsistentRead", true}})["Item"];
  CHECK(version["data"] == Json{{"S", record.data}});
  CHECK(version["updated_at"] == Json{{"N", std::to_string(k_t0 + 1000)}});
  CHECK(version["tags"] == Json{{"L", {{{"S", "a"}}, {{"S", "b"}}}}});
  CHECK(version["key_id"] == Json{{"S", "3"}});
  CHECK(version["idempotency_key"] == Json{{"S", "idem"}});
  // Empty fields are left out.
  CHECK_FALSE(version.contains("delta"));
  CHECK_FALSE(version.contains("prev_hash"));
  CHECK_FALSE(version.contains("salt"));

  const Json stored_key = raw(client, "GetItem",
                              {{"TableName", "zsimem_layout"},
                               {"Key", key_of("alice", "$key#00000000000000000003")},
                               {"ConsistentRead", true}})["Item"];
  CHECK(stored_key["wrapped"] == Json{{"S", key.wrapped}});
  CHECK(stored_key["master_key_id"] == Json{{"S", "master-1"}});

  const Json audit_item = raw(client, "GetItem",
                              {{"TableName", "zsimem_layout"},
                               {"Key", key_of("$audit", "00000000000000000001")},
                               {"ConsistentRead", true}})["Item"];
  CHECK(audit_item["request_id"] == Json{{"S", "req-1"}});
  CHECK(audit_item["audit_user"] == Json{{"S", "alice"}});

  // Keys and the audit log are not contexts.
  CHECK(store->contexts() == std::vector<ContextKey>{{"alice", "work"}});
  CHECK(store->contexts("alice") == std::vector<ContextKey>{{"alice", "work"}});
  const auto head = store->head({"alice", "work"});
  REQUIRE(head);
  CHECK(head->tags == record.tags);
  CHECK(head->delta.empty());
  CHECK(head->key_id == "3");
}

TEST_CASE("the dynamo store lists many namespaces one query each", "[store][dynamo]") {
  testing::Dynalite dynalite;
  AwsEnv env(dynalite.url());
  auto store = open_dynamo("zsimem_namespaces");
  std::vector<ContextKey> expected;
  for (const std::string ns : {"a", "a-b", "a.b", "b", "z~", "0"}) {
    for (std::uint64_t v = 1; v <= 3; ++v) {
      const auto record = make_record("alice", ns, v);
      REQUIRE(store->append({&record, 1}, {}));
    }
    expected.push_back({"alice", ns});
  }
  DataKeyRecord key;
  key.user_id = "alice";
  key.generation = 1;
  REQUIRE(store->add_data_key(key));
  std::sort(expected.begin(), expected.end());
  CHECK(store->contexts("alice") == expected);
  CHECK(store->contexts() == expected);
  CHECK(store->erase("alice", std::nullopt) == 18);
  CHECK(store->contexts().empty());
  CHECK(store->data_keys("alice").empty());
}

TEST_CASE("the dynamo store refuses items over DynamoDB's 400 KB", "[store][dynamo]") {
  testing::Dynalite dynalite;
  AwsEnv env(dynalite.url());
  auto store = open_dynamo("zsimem_large");
  auto record = make_record("alice", "default", 1);
  record.data = R"({"big":")" + std::string(401 * 1024, 'x') + R"("})";
  const Error error = error_of([&] { store->append({&record, 1}, {}); });
  CHECK(error.code() == ErrorCode::too_large);
  CHECK(std::string(error.what()).find("version 1 of user 'alice' namespace 'default'") != std::string::npos);
  CHECK(std::string(error.what()).find("400 KB") != std::string::npos);
  CHECK_FALSE(store->head({"alice", "default"}));

  record.data = R"({"big":")" + std::string(300 * 1024, 'x') + R"("})";
  REQUIRE(store->append({&record, 1}, {}));
  CHECK(store->head({"alice", "default"})->data == record.data);
}

TEST_CASE("the dynamo store counts its writes", "[store][dynamo]") {
  testing::Dynalite dynalite;
  AwsEnv env(dynalite.url());
  auto store = open_dynamo("zsimem_stats");
  CHECK(store->write_stats().writes == 0);
  const auto record = make_record("alice", "default", 1);
  const auto audit = make_audit("alice", "req-1");
  REQUIRE(store->append({&record, 1}, {&audit, 1}));
  // One put for the version, one for its audit record.
  CHECK(store->write_stats().writes == 2);
  CHECK(store->write_stats().transactions == 2);
}

TEST_CASE("the dynamo store tells its own retried write from a rival's", "[store][dynamo]") {
  testing::Dynalite dynalite;
  AwsEnv env(dynalite.url());
  open_dynamo("zsimem_retry").reset();
  LossyProxy proxy(dynalite.port(), 0);
  env.set("AWS_ENDPOINT_URL_DYNAMODB", proxy.url());
  auto store = open_dynamo("zsimem_retry", false);

  // Each put reaches DynamoDB, its answer is lost and the retry fails its
  // condition against the first attempt: still a success, written once.
  proxy.lose(2);
  const auto first = make_record("alice", "default", 1);
  const auto audit = make_audit("alice", "req-1");
  CHECK(store->append({&first, 1}, {&audit, 1}));
  CHECK(proxy.dropped() == 2);
  CHECK(store->history({"alice", "default"}, {}).size() == 1);
  REQUIRE(store->audit_log({}).size() == 1);

  DataKeyRecord key;
  key.user_id = "alice";
  key.generation = 1;
  proxy.lose(1);
  CHECK(store->add_data_key(key));
  CHECK_FALSE(store->add_data_key(key));

  // A rival's version stays a conflict.
  auto rival = make_record("alice", "default", 1);
  rival.request_id = "req-rival";
  CHECK_FALSE(store->append({&rival, 1}, {}));
  CHECK(store->head({"alice", "default"})->request_id == "req-1");
}

TEST_CASE("dynamo stores sharing a table keep one audit chain", "[store][dynamo]") {
  testing::Dynalite dynalite;
  AwsEnv env(dynalite.url());
  auto first = open_dynamo("zsimem_chain");
  auto second = open_dynamo("zsimem_chain");
  // Identical records from two stores: each gets a seq of its own.
  for (int i = 0; i < 5; ++i) {
    first->append_audit(make_audit("alice", "same"), false);
    second->append_audit(make_audit("alice", "same"), true);
  }
  AuditQuery query;
  query.limit = 3;
  std::vector<AuditRecord> log;
  for (;;) {
    const auto page = first->audit_log(query);
    if (page.empty()) {
      break;
    }
    log.insert(log.end(), page.begin(), page.end());
    query.before_seq = page.back().seq;
  }
  REQUIRE(log.size() == 10);
  for (std::size_t i = 0; i < log.size(); ++i) {
    CHECK(log[i].seq == 10 - i);
    CHECK(log[i].hash == audit_hash(log[i]));
    CHECK(log[i].prev_hash == (i + 1 < log.size() ? log[i + 1].hash : std::string{}));
  }
}

TEST_CASE("an append that races with an erase leaves no version behind", "[store][dynamo]") {
  testing::Dynalite dynalite;
  AwsEnv env(dynalite.url());
  open_dynamo("zsimem_race").reset();
  LossyProxy proxy(dynalite.port(), 0);
  env.set("AWS_ENDPOINT_URL_DYNAMODB", proxy.url());
  auto store = open_dynamo("zsimem_race", false);
  auto eraser = open_dynamo("zsimem_race", false);
  for (std::uint64_t v = 1; v <= 2; ++v) {
    const auto record = make_record("alice", "default", v);
    REQUIRE(store->append({&record, 1}, {}));
  }
  DataKeyRecord key;
  key.user_id = "alice";
  key.generation = 1;
  REQUIRE(store->add_data_key(key));
  auto sealed = make_record("alice", "default", 1);
  sealed.key_id = "1";

  SECTION("the context goes between the checks and the put") {
    // The direct connection: the proxy's lock is held while this runs.
    aws::DynamoClient client(settings_for(dynalite.url()));
    proxy.before_next_put([&] {
      raw(client, "DeleteItem",
          {{"TableName", "zsimem_race"}, {"Key", key_of("alice", "default#00000000000000000002")}});
      raw(client, "DeleteItem",
          {{"TableName", "zsimem_race"}, {"Key", key_of("alice", "default#00000000000000000001")}});
    });
    const auto next = make_record("alice", "default", 3);
    CHECK_FALSE(store->append({&next, 1}, {}));
    CHECK_FALSE(store->head({"alice", "default"}));
    CHECK(store->contexts().empty());
  }
  SECTION("the data key goes between the checks and the put") {
    CHECK(eraser->erase("alice", std::nullopt) == 2);
    REQUIRE(store->add_data_key(key));
    aws::DynamoClient client(settings_for(dynalite.url()));
    proxy.before_next_put([&] {
      raw(client, "DeleteItem", {{"TableName", "zsimem_race"}, {"Key", key_of("alice", "$key#00000000000000000001")}});
    });
    CHECK_FALSE(store->append({&sealed, 1}, {}));
    CHECK_FALSE(store->head({"alice", "default"}));
    CHECK(store->data_keys("alice").empty());
  }
}

} // namespace zsimem
