// What the postgres backend promises beyond the conformance suite: its
// configuration errors, a server that is not there, concurrent creation of
// a schema, schema versions, recovery from broken connections, the audit
// chain computed by the server, and its notifications. Needs the server that
// tests/services/run starts (ctest does).

#include "support/error_of.hpp"
#include "support/scoped_env.hpp"

#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <libpq-fe.h>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace zsimem {
namespace {

using testing::error_of;

constexpr std::int64_t k_t0 = 1'764'380'641'123'456;

Timestamp at(std::int64_t micros_after_t0) { return Timestamp{std::chrono::microseconds{k_t0 + micros_after_t0}}; }

// The server's URL; a test without one fails: these tests must not pass
// silently where no server ran.
std::string database_url() {
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    FAIL("DATABASE_URL is not set: run the postgres tests through ctest, which starts PostgreSQL "
         "(tests/services/run start DIR writes DIR/services.env)");
  }
  return url;
}

using testing::ScopedEnv;

// A direct libpq connection, for what the tests do behind the store's back.
class Admin {
public:
  explicit Admin(const std::string& url) {
    const char* keywords[] = {"dbname", "application_name", nullptr};
    const char* values[] = {url.c_str(), "zsimem_test_admin", nullptr};
    m_conn = PQconnectdbParams(keywords, values, 1);
    REQUIRE(PQstatus(m_conn) == CONNECTION_OK);
    PQsetNoticeProcessor(
        m_conn, [](void*, const char*) {}, nullptr);
  }
  ~Admin() { PQfinish(m_conn); }
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Runs SQL; returns the first row's first value, if any.
  std::string exec(const std::string& sql) {
    PGresult* result = PQexec(m_conn, sql.c_str());
    const auto status = PQresultStatus(result);
    std::string value;
    std::string error = PQresultErrorMessage(result);
    if (status == PGRES_TUPLES_OK && PQntuples(result) > 0) {
      value = PQgetvalue(result, 0, 0);
    }
    PQclear(result);
    INFO(sql << ": " << error);
    REQUIRE((status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK));
    return value;
  }

  PGconn* conn() { return m_conn; }

private:
  PGconn* m_conn = nullptr;
};

// A fresh schema name per test, dropped with everything in it at the end.
class TestSchema {
public:
  TestSchema() : m_url(database_url()) {
    static std::atomic<int> counter{0};
    std::random_device random;
    m_name =
        "zt_" + std::to_string(::getpid()) + "_" + std::to_string(++counter) + "_" + std::to_string(random() % 100000);
  }
  ~TestSchema() {
    try {
      Admin(m_url).exec("DROP SCHEMA IF EXISTS " + m_name + " CASCADE");
    } catch (...) { // NOLINT(bugprone-empty-catch): a leftover schema only costs space
    }
  }
  TestSchema(const TestSchema&) = delete;
  TestSchema& operator=(const TestSchema&) = delete;

  const std::string& name() const { return m_name; }
  const std::string& url() const { return m_url; }

private:
  std::string m_url;
  std::string m_name;
};

std::unique_ptr<MemoryStore> open_postgres(const std::string& schema, bool long_lived = false) {
  StoreConfig config;
  config.backend = "postgres";
  config.store_name = schema;
  config.long_lived = long_lived;
  return open_store(config);
}

VersionRecord make_record(const std::string& user, const std::string& ns, std::uint64_t version) {
  VersionRecord record;
  record.user_id = user;
  record.ns = ns;
  record.version = version;
  record.updated_at = at(static_cast<std::int64_t>(version));
  record.data = R"({"n":)" + std::to_string(version) + "}";
  record.delta = record.data;
  record.actor = "cli:" + user;
  record.request_id = "req-" + std::to_string(version);
  record.derived_from = version - 1;
  record.hash = "hash-" + user + "-" + ns + "-" + std::to_string(version);
  record.prev_hash = version == 1 ? std::string{} : "hash-" + user + "-" + ns + "-" + std::to_string(version - 1);
  return record;
}

AuditRecord make_audit(const std::string& user, const std::string& operation, std::int64_t time) {
  AuditRecord record;
  record.time = at(time);
  record.request_id = "req-" + operation + "-" + std::to_string(time);
  record.actor = "cli:" + user;
  record.operation = operation;
  record.user_id = user;
  record.ns = "default";
  record.outcome = "ok";
  record.detail = "détail “quoted” 🙂";
  return record;
}

// A loopback port nothing listens on.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// `url` with a query parameter added.
std::string with_parameter(const std::string& url, const std::string& parameter) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + parameter;
}

} // namespace

TEST_CASE("postgres: DATABASE_URL missing is an invalid configuration", "[store][postgres]") {
  const ScopedEnv unset("DATABASE_URL", std::nullopt);
  const Error error = error_of([] { open_postgres("zsimem"); });
  CHECK(error.code() == ErrorCode::invalid);
  CHECK(error.field() == "DATABASE_URL");
  CHECK_THAT(error.what(), Catch::Contains("DATABASE_URL is not set"));
}

TEST_CASE("postgres: a schema name that is not a plain identifier is invalid", "[store][postgres]") {
  // No server is needed to refuse these.
  const ScopedEnv url("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none");
  for (const std::string& name : std::vector<std::string>{"Zsimem", "1abc", "a-b", "a;drop table x", "a b",
                                                          "\"quoted\"", "é", std::string(55, 'a')}) {
    CAPTURE(name);
    const Error error = error_of([&] { open_postgres(name); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.field() == "ZSIMEM_PG_SCHEMA");
  }
}

TEST_CASE("postgres: a server that is not there is unavailable, named without the password", "[store][postgres]") {
  const int port = closed_port();
  const ScopedEnv url("DATABASE_URL", "postgresql://someone:s3cret-Pa55@127.0.0.1:" + std::to_string(port) +
                                          "/zsimem_db?sslmode=disable");
  const auto start = std::chrono::steady_clock::now();
  const Error error = error_of([] { open_postgres("zsimem"); });
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(error.code() == ErrorCode::unavailable);
  const std::string message = error.what();
  CAPTURE(message);
  CHECK_THAT(message, Catch::Contains("127.0.0.1:" + std::to_string(port) + "/zsimem_db"));
  CHECK_THAT(message, !Catch::Contains("s3cret-Pa55"));
  CHECK_THAT(message, !Catch::Contains("postgresql://"));
}

TEST_CASE("postgres: stores opening a fresh schema at once all succeed", "[store][postgres]") {
  TestSchema schema;
  constexpr int k_openers = 6;
  std::vector<std::exception_ptr> failures(k_openers);
  std::vector<std::thread> openers;
  for (int i = 0; i < k_openers; ++i) {
    openers.emplace_back([&, i] {
      try {
        auto store = open_postgres(schema.name(), i % 2 == 0);
        const auto record = make_record("user" + std::to_string(i), "default", 1);
        if (!store->append({&record, 1}, {})) {
          throw std::runtime_error("append refused");
        }
      } catch (...) {
        failures[static_cast<std::size_t>(i)] = std::current_exception();
      }
    });
  }
  for (auto& opener : openers) {
    opener.join();
  }
  for (const auto& failure : failures) {
    if (failure) {
      std::rethrow_exception(failure);
    }
  }
  CHECK(open_postgres(schema.name())->contexts().size() == k_openers);
}

TEST_CASE("postgres: a schema version newer than this build is refused", "[store][postgres]") {
  TestSchema schema;
  open_postgres(schema.name()).reset();
  Admin(schema.url()).exec("UPDATE " + schema.name() + ".schema_version SET version = 999");
  const Error error = error_of([&] { open_postgres(schema.name()); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains("schema version 999") && Catch::Contains("upgrade zsimem"));
}

TEST_CASE("postgres: a schema holding other tables is not taken over", "[store][postgres]") {
  TestSchema schema;
  Admin admin(schema.url());
  admin.exec("CREATE SCHEMA " + schema.name() + "; CREATE TABLE " + schema.name() + ".customers (id int)");
  const Error error = error_of([&] { open_postgres(schema.name()); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains("not a zsimem store"));
  CHECK(admin.exec("SELECT count(*) FROM pg_tables WHERE schemaname = '" + schema.name() + "'") == "1");
}

TEST_CASE("postgres: schemas are separate stores", "[store][postgres]") {
  TestSchema first;
  TestSchema second;
  auto one = open_postgres(first.name());
  auto two = open_postgres(second.name());
  const auto record = make_record("alice", "default", 1);
  REQUIRE(one->append({&record, 1}, {}));
  CHECK(one->head({"alice", "default"}).has_value());
  CHECK_FALSE(two->head({"alice", "default"}).has_value());
  CHECK(two->contexts().empty());
}

TEST_CASE("postgres: a store recovers from connections the server ended", "[store][postgres]") {
  const bool long_lived = GENERATE(false, true);
  CAPTURE(long_lived);
  TestSchema schema;
  // A name of its own, so that only this store's connections are ended.
  const std::string application = schema.name() + "_app";
  const ScopedEnv url("DATABASE_URL", with_parameter(schema.url(), "application_name=" + application));
  auto store = open_postgres(schema.name(), long_lived);
  const ContextKey key{"alice", "default"};
  for (std::uint64_t v = 1; v <= 2; ++v) {
    const auto record = make_record("alice", "default", v);
    REQUIRE(store->append({&record, 1}, {}));
  }
  Admin admin(schema.url());
  const auto terminate = [&] {
    return admin.exec("SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                      " WHERE application_name = '" +
                      application + "') AS ended");
  };
  CHECK(terminate() != "0");

  SECTION("a read") { CHECK(store->head(key)->version == 2); }
  SECTION("a write") {
    const auto record = make_record("alice", "default", 3);
    CHECK(store->append({&record, 1}, {}));
  }
  SECTION("again and again") {
    for (std::uint64_t v = 3; v <= 5; ++v) {
      const auto record = make_record("alice", "default", v);
      CHECK(store->append({&record, 1}, {}));
      CHECK(store->head(key)->version == v);
      terminate();
    }
  }
  CHECK(store->history(key, {}).size() >= 2);
}

TEST_CASE("postgres: the server chains the audit log as hash_chain does", "[store][postgres]") {
  TestSchema schema;
  auto store = open_postgres(schema.name(), true);
  const auto record = make_record("alice", "default", 1);
  const std::vector<AuditRecord> with_version{make_audit("alice", "merge", 1), make_audit("alice", "tag", 2)};
  REQUIRE(store->append({&record, 1}, with_version));
  store->append_audit(make_audit("bob", "get", 3), false);
  store->append_audit(make_audit("", "retention", 4), true);
  // A refused append writes none of its audit records.
  CHECK_FALSE(store->append({&record, 1}, with_version));

  auto log = store->audit_log({});
  REQUIRE(log.size() == 4);
  std::reverse(log.begin(), log.end());
  std::string previous;
  for (std::size_t i = 0; i < log.size(); ++i) {
    CAPTURE(i);
    CHECK(log[i].seq == i + 1);
    CHECK(log[i].prev_hash == previous);
    CHECK(log[i].hash == audit_hash(log[i]));
    previous = log[i].hash;
  }
  CHECK(log[0].detail == "détail “quoted” 🙂");
}

TEST_CASE("postgres: committed appends and erasures are notified", "[store][postgres]") {
  TestSchema schema;
  auto store = open_postgres(schema.name());
  Admin listener(schema.url());
  listener.exec("LISTEN " + schema.name() + "_versions");

  const std::vector<VersionRecord> batch{make_record("alice", "default", 1), make_record("alice", "default", 2),
                                         make_record("bob", "work", 1)};
  REQUIRE(store->append(batch, {}));
  CHECK_FALSE(store->append({&batch[0], 1}, {})); // refused: rolled back, so not notified
  REQUIRE(store->erase("bob", "work") == 1);
  REQUIRE(store->erase("alice", std::nullopt) == 2);

  const std::vector<std::string> expected{"alice/default/1", "alice/default/2", "bob/work/1", "bob/work", "alice/"};
  std::vector<std::string> received;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (received.size() < expected.size() && std::chrono::steady_clock::now() < deadline) {
    pollfd descriptor{PQsocket(listener.conn()), POLLIN, 0};
    ::poll(&descriptor, 1, 100);
    REQUIRE(PQconsumeInput(listener.conn()) == 1);
    while (PGnotify* notice = PQnotifies(listener.conn())) {
      CHECK(std::string(notice->relname) == schema.name() + "_versions");
      received.emplace_back(notice->extra);
      PQfreemem(notice);
    }
  }
  CHECK(received == expected);
}

TEST_CASE("postgres: write stats count one transaction per write", "[store][postgres]") {
  TestSchema schema;
  auto store = open_postgres(schema.name());
  CHECK(store->write_stats().transactions == 0);
  const auto record = make_record("alice", "default", 1);
  const auto audit = make_audit("alice", "merge", 1);
  REQUIRE(store->append({&record, 1}, {&audit, 1}));
  store->append_audit(audit, false);
  const auto stats = store->write_stats();
  CHECK(stats.transactions == 2);
  CHECK(stats.writes == 2);
}

TEST_CASE("postgres: text PostgreSQL cannot keep is invalid, not a crash", "[store][postgres]") {
  TestSchema schema;
  auto store = open_postgres(schema.name());
  auto record = make_record("alice", "default", 1);
  record.actor = std::string("nul\0byte", 8);
  const Error error = error_of([&] { store->append({&record, 1}, {}); });
  CHECK(error.code() == ErrorCode::invalid);
  CHECK_FALSE(store->head({"alice", "default"}).has_value());
}

} // namespace zsimem
