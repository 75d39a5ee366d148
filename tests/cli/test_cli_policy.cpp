// The CLI under an access policy: as the OS user or a token's subject,
// every role × operation × whose context, each denial audited.

#include "support/policy_matrix.hpp"
#include "support/run_process.hpp"
#include "support/stress_scale.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <pwd.h>
#include <unistd.h>

using namespace zsimem;
using testing::ProcessResult;

namespace {

constexpr int k_exit_denied = 6;

std::string os_user() {
  const passwd* entry = getpwuid(geteuid());
  return entry != nullptr ? entry->pw_name : "uid:" + std::to_string(geteuid());
}

// A store of one backend and a policy file beside it.
struct PolicyCli {
  testing::TempDir dir;
  std::string backend;

  PolicyCli(std::string_view name, const std::string& policy) : backend(name) {
    std::ofstream(dir.path() / "policy.json") << policy;
  }

  std::string policy_path() const { return (dir.path() / "policy.json").string(); }

  // Without a policy: the operator setting things up.
  ProcessResult unchecked(std::vector<std::string> args, const std::vector<std::string>& env = {}) const {
    std::vector<std::string> argv{ZSIMEM_BINARY, "--backend", backend, "--data-dir", (dir.path() / "store").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, {}, env);
  }

  ProcessResult run(std::vector<std::string> args, const std::vector<std::string>& env = {}) const {
    args.insert(args.begin(), {"--policy", policy_path()});
    return unchecked(std::move(args), env);
  }

  // The audit record of a request id (as the operator sees the log).
  Json audit_record(const std::string& request_id) const {
    const auto log = unchecked({"log", "-o", "json", "--limit", "1000"});
    INFO(log.err);
    REQUIRE(log.exit_code == 0);
    const Json page = Json::parse(log.out);
    for (const auto& record : page["records"]) {
      if (record["request_id"] == request_id) {
        return record;
      }
    }
    return nullptr;
  }
};

// The CLI command doing `operation` on `user`.
std::vector<std::string> command_for(Operation operation, const std::string& user) {
  switch (operation) {
  case Operation::read: return {"get", user};
  case Operation::write: return {"merge", user, R"({"visits": 3})"};
  case Operation::history: return {"history", user};
  case Operation::rollback: return {"rollback", user, "1"};
  case Operation::erase: return {"delete", user, "--yes"};
  case Operation::audit: return {"log", "--user", user};
  case Operation::admin: return {"export", user};
  }
  return {};
}

// The backends the matrix runs on. The sanitizer runs (a stress scale below
// 1) take the first only: the policy is the same on each, and every command
// of the matrix is a process of its own.
std::vector<std::string_view> matrix_backends() {
  std::vector<std::string_view> names = file_backend_names();
  if (testing::stress_scale() < 1) {
    names.resize(1);
  }
  return names;
}

} // namespace

TEST_CASE("policy: every role × operation × whose context over the CLI, each denial audited", "[cli][policy]") {
  PolicyCli cli(GENERATE(from_range(matrix_backends())), testing::matrix_policy_json());
  int denials = 0;
  int allowed = 0;
  for (const auto& subject : testing::matrix_subjects()) {
    for (const auto target : testing::k_targets) {
      const std::string user = testing::target_user(subject, target);
      // Two versions to roll back between; the delete, if allowed, comes last.
      REQUIRE(cli.unchecked({"merge", user, R"({"visits": 1})"}).exit_code == 0);
      REQUIRE(cli.unchecked({"merge", user, R"({"visits": 2})"}).exit_code == 0);
      for (const auto operation : testing::k_operations) {
        const bool expected = testing::expected_allowed(subject.role, operation, target);
        const std::string request_id = "matrix-" + subject.id + "-" + std::string(to_string(operation)) + "-" + user;
        auto args = command_for(operation, user);
        args.insert(args.end(), {"--request-id", request_id});
        const auto result = cli.run(args, {"ZSIMEM_TOKEN=" + subject.token});
        INFO(subject.id << " (" << subject.role << ") " << to_string(operation) << " on " << user << " ("
                        << to_string(target) << "): exit " << result.exit_code << ", " << result.err);
        if (expected) {
          CHECK(result.exit_code == 0);
          ++allowed;
        } else {
          CHECK(result.exit_code == k_exit_denied);
          CHECK_THAT(result.err, Catch::Contains(subject.id + " may not " + std::string(to_string(operation))));
          const Json record = cli.audit_record(request_id);
          REQUIRE(record.is_object());
          CHECK(record["outcome"] == "denied");
          CHECK(record["actor"] == subject.id);
          CHECK(record["user_id"] == user);
          CHECK_THAT(record["detail"].get<std::string>(), Catch::Contains("may not"));
          ++denials;
        }
      }
      REQUIRE(cli.unchecked({"delete", user, "--yes"}).exit_code == 0);
    }
  }
  // 6 subjects × 3 targets × 7 operations, as the table says.
  CHECK(allowed + denials == 126);
  CHECK(allowed == 46);
}

TEST_CASE("policy: the CLI acts as the OS user, with the policy's roles for it", "[cli][policy]") {
  const std::string me = os_user();
  PolicyCli cli("json", R"({"roles": {"self": [{"allow": ["read", "write"],
                              "when": [{"equal": ["subject.sub", "resource.user_id"]}]}],
                              "auditor": [{"allow": "audit"}]},
                            "default_roles": ["self"],
                            "subjects": {")" +
                            me + R"(": {"roles": ["auditor"]}}})");
  CHECK(cli.run({"merge", me, R"({"a": 1})"}).exit_code == 0);
  CHECK(cli.run({"get", me}).exit_code == 0);
  const auto other = cli.run({"merge", "someone-else", R"({"a": 1})"});
  CHECK(other.exit_code == k_exit_denied);
  CHECK_THAT(other.err, Catch::Contains(me + " may not write on someone-else/default: no rule of the roles auditor, "
                                             "self allows it"));
  CHECK(cli.run({"history", me}).exit_code == k_exit_denied);
  CHECK(cli.run({"log"}).exit_code == 0); // auditor, from the policy's subjects
  // ZSIMEM_POLICY is the same as --policy.
  CHECK(cli.unchecked({"merge", "someone-else", "{}"}, {"ZSIMEM_POLICY=" + cli.policy_path()}).exit_code ==
        k_exit_denied);
}

TEST_CASE("policy: bad tokens and policies are refused before the store is touched", "[cli][policy]") {
  PolicyCli cli("sqlite", testing::matrix_policy_json());
  const auto& admin = testing::matrix_subjects()[4];
  REQUIRE(admin.role == "admin");

  const auto unknown = cli.run({"get", "acme-bob"}, {"ZSIMEM_TOKEN=not-a-known-token"});
  CHECK(unknown.exit_code == k_exit_denied);
  CHECK_THAT(unknown.err, Catch::Contains("unknown API token"));
  CHECK_THAT(unknown.err, !Catch::Contains("not-a-known-token"));

  // A token file, with its trailing newline, wins over ZSIMEM_TOKEN.
  std::ofstream(cli.dir.path() / "token") << admin.token << "\n";
  CHECK(cli.run({"--token-file", (cli.dir.path() / "token").string(), "merge", "acme-bob", "{}"},
                {"ZSIMEM_TOKEN=not-a-known-token"})
            .exit_code == 0);
  CHECK(cli.run({"--token-file", (cli.dir.path() / "absent").string(), "get", "acme-bob"}).exit_code == 5);

  // A token without a policy to check it against.
  const auto no_policy = cli.unchecked({"get", "acme-bob"}, {"ZSIMEM_TOKEN=" + admin.token});
  CHECK(no_policy.exit_code == 5);
  CHECK_THAT(no_policy.err, Catch::Contains("checked against a policy"));

  std::ofstream(cli.dir.path() / "bad.json") << R"({"roles": {"r": [{"allow": "fly"}]}})";
  const auto bad = cli.unchecked({"--policy", (cli.dir.path() / "bad.json").string(), "get", "acme-bob"});
  CHECK(bad.exit_code == 5);
  CHECK_THAT(bad.err, Catch::Contains("roles.r[0].allow[0]"));
  const auto missing = cli.unchecked({"--policy", (cli.dir.path() / "absent.json").string(), "get", "acme-bob"});
  CHECK(missing.exit_code == 7);
}

TEST_CASE("policy check explains decisions and exits 0 or 6", "[cli][policy]") {
  PolicyCli cli("json", testing::matrix_policy_json());
  const auto allowed = cli.run({"policy", "check", "acme-tina", "write", "acme-bob", "--role", "tenant-admin",
                                "--attribute", "tenant=acme-", "-o", "text"});
  CHECK(allowed.exit_code == 0);
  CHECK(allowed.out == "allowed: acme-tina may write on acme-bob/*: allowed by role tenant-admin, rule 1 (allow * "
                       "when resource.user_id starts with subject.tenant)\n");
  const auto denied = cli.run({"policy", "check", "acme-tina", "admin", "-", "--role", "tenant-admin", "-o", "json"});
  CHECK(denied.exit_code == k_exit_denied);
  const Json decision = Json::parse(denied.out);
  CHECK(decision["allowed"] == false);
  CHECK(decision["reason"] ==
        "acme-tina may not admin on every user: denied by role tenant-admin, rule 2 (deny admin)");
  CHECK(cli.run({"policy", "check", "x", "fly", "u"}).exit_code == 5);
  CHECK(cli.run({"policy", "check", "x", "read", "u", "--attribute", "novalue"}).exit_code == 5);
  CHECK(cli.unchecked({"policy", "check", "x", "read", "u"}).exit_code == 5);
}
