// The CLI on every backend, the server-backed ones included (on the test
// run's servers: tests/services/run): moving a store between backends,
// creating a DynamoDB table, and the errors of a store that is not set up.

#include "support/run_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_store.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace zsimem;
using zsimem::testing::ProcessResult;

namespace {

// The CLI on one test store.
struct StoreCli {
  testing::TempDir dir;
  StoreConfig store;

  explicit StoreCli(std::string_view backend) : store(testing::test_store_config(backend, dir)) {}

  ProcessResult run(const std::vector<std::string>& args, const std::string& input = {},
                    std::vector<std::string> env = {}) const {
    std::vector<std::string> argv{ZSIMEM_BINARY};
    const auto store_args = testing::test_store_args(store, env);
    argv.insert(argv.end(), store_args.begin(), store_args.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, input, env);
  }

  void ok(const std::vector<std::string>& args, const std::string& input = {}) const {
    const auto result = run(args, input);
    INFO(store.backend << ": zsimem " << args.front() << ": " << result.err);
    REQUIRE(result.exit_code == 0);
  }
};

} // namespace

TEST_CASE("cli: export from each backend and import into the next reproduces every version",
          "[cli][backends][export]") {
  // A ring through every backend: json -> sqlite -> postgres -> dynamo -> json.
  std::vector<std::unique_ptr<StoreCli>> ring;
  for (const auto name : backend_names()) {
    ring.push_back(std::make_unique<StoreCli>(name));
  }
  ring.push_back(std::make_unique<StoreCli>(backend_names().front())); // a fresh one, to close the ring
  const StoreCli& first = *ring.front();
  first.ok({"init"});
  first.ok({"merge", "alice", R"({"name":"Zoë","prefs":{"lang":"ja"}})", "--tag", "onboarding"});
  first.ok({"merge", "alice", R"({"prefs":{"lang":"fr"},"weight":71.5})", "--idempotency-key", "k-1"});
  first.ok({"merge", "alice", R"({"weight":null})", "-n", "health"});
  first.ok({"rollback", "alice", "1"});
  first.ok({"merge", "bob", R"({"steps":[1,2,3],"note":"line\nbreak \u0000 \"quoted\""})", "-n", "work"});
  const std::string exported = first.run({"export"}).out;
  REQUIRE(exported.find("\"alice\"") != std::string::npos);

  std::string carried = exported;
  for (std::size_t i = 1; i < ring.size(); ++i) {
    const StoreCli& next = *ring[i];
    CAPTURE(next.store.backend);
    next.ok({"init"});
    next.ok({"import"}, carried);
    const auto again = next.run({"export"});
    REQUIRE(again.exit_code == 0);
    CHECK(again.out == exported);
    CHECK(next.run({"verify"}).exit_code == 0);
    carried = again.out;
  }
}

TEST_CASE("cli: init creates a DynamoDB table; until then commands say to run it", "[cli][backends][dynamo]") {
  const StoreCli cli("dynamo");
  const auto before = cli.run({"get", "alice"});
  CHECK(before.exit_code == 7);
  CHECK(before.err.find(cli.store.store_name) != std::string::npos);
  CHECK(before.err.find("zsimem init") != std::string::npos);

  const auto init = cli.run({"init", "-o", "text"});
  REQUIRE(init.exit_code == 0);
  CHECK(init.out == "dynamo store " + cli.store.store_name + " is ready\n");
  CHECK(cli.run({"init"}).exit_code == 0); // nothing to do the second time
  cli.ok({"merge", "alice", R"({"a":1})"});
  CHECK(Json::parse(cli.run({"get", "alice", "-o", "json"}).out)["data"] == Json{{"a", 1}});
}

TEST_CASE("cli: a server-backed store that is not configured is a clear error", "[cli][backends]") {
  const StoreCli postgres("postgres");
  const auto no_url = postgres.run({"get", "alice"}, {}, {"DATABASE_URL"});
  CHECK(no_url.exit_code == 5);
  CHECK(no_url.err.find("DATABASE_URL") != std::string::npos);

  const StoreCli dynamo("dynamo");
  const auto no_region = dynamo.run({"get", "alice"}, {}, {"AWS_REGION", "AWS_DEFAULT_REGION"});
  CHECK(no_region.exit_code == 5);
  CHECK(no_region.err.find("AWS_REGION") != std::string::npos);

  const auto unknown = testing::run_process({ZSIMEM_BINARY, "get", "alice"}, {}, {"MEMORY_BACKEND=mongo"});
  CHECK(unknown.exit_code == 5);
  CHECK(unknown.err.find("unknown backend 'mongo'") != std::string::npos);
  CHECK(unknown.err.find("supabase (postgres)") != std::string::npos);

  const auto refused = postgres.run({"get", "alice"}, {}, {"DATABASE_URL=postgresql://zsimem:s3cret@127.0.0.1:1/x"});
  CHECK(refused.exit_code == 7);
  CHECK(refused.err.find("127.0.0.1") != std::string::npos);
  CHECK(refused.err.find("s3cret") == std::string::npos);
}
