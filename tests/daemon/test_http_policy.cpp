// The daemon under an access policy: every role × operation × whose
// context over HTTP, each denial a 403 and an audit record.

#include "support/policy_matrix.hpp"
#include "support/test_daemon.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/identity.hpp>
#include <zsimem/policy.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <optional>

using namespace zsimem;

namespace {

const std::string k_memory = "/api/v1/memory/";

// A daemon whose every request is judged by the matrix policy.
struct PolicyDaemon {
  std::shared_ptr<const Policy> policy;
  testing::TestDaemon daemon;

  static std::shared_ptr<const Policy> load() {
    return std::make_shared<const Policy>(Policy::parse(testing::matrix_policy_json(), "matrix"));
  }
  static daemon::ServerOptions server_options(const std::shared_ptr<const Policy>& policy) {
    auto options = testing::TestDaemon::default_options();
    options.authenticator = std::make_shared<const Authenticator>(policy->identity());
    return options;
  }
  static ServiceOptions service_options(std::shared_ptr<const Policy> policy) {
    ServiceOptions options;
    options.policy = std::move(policy);
    return options;
  }

  explicit PolicyDaemon(std::string_view backend)
      : policy(load()), daemon(backend, server_options(policy), service_options(policy)) {}
};

// The request doing `operation` on `user`; nullopt where HTTP has no
// endpoint for it (admin: the CLI's users, verify, export, import).
std::optional<httplib::Result> request(httplib::Client& client, Operation operation, const std::string& user,
                                       const httplib::Headers& headers) {
  switch (operation) {
  case Operation::read: return client.Get((k_memory + user).c_str(), headers);
  case Operation::write:
    return client.Post((k_memory + user).c_str(), headers, R"({"user_id": ")" + user + R"(", "delta": {"visits": 3}})",
                       "application/json");
  case Operation::history: return client.Get((k_memory + user + "/history").c_str(), headers);
  case Operation::rollback:
    return client.Post((k_memory + user + "/rollback").c_str(), headers, R"({"version": "1"})", "application/json");
  case Operation::erase: return client.Delete((k_memory + user).c_str(), headers);
  case Operation::audit: return client.Get((k_memory + "logs?user_id=" + user).c_str(), headers);
  case Operation::admin: return std::nullopt;
  }
  return std::nullopt;
}

} // namespace

TEST_CASE("policy: every role × operation × whose context over HTTP, each denial a 403 and audited", "[http][policy]") {
  PolicyDaemon d(GENERATE(from_range(file_backend_names())));
  auto client = d.daemon.client();
  const auto& subjects = testing::matrix_subjects();
  const auto admin = std::find_if(subjects.begin(), subjects.end(), [](const auto& s) { return s.role == "admin"; });
  REQUIRE(admin != subjects.end());
  const httplib::Headers as_admin{{"Authorization", "Bearer " + admin->token}};
  int allowed = 0;
  int denials = 0;
  for (const auto& subject : subjects) {
    for (const auto target : testing::k_targets) {
      const std::string user = testing::target_user(subject, target);
      for (const int visits : {1, 2}) {
        const auto seeded =
            client.Post((k_memory + user).c_str(), as_admin,
                        R"({"user_id": ")" + user + R"(", "delta": {"visits": )" + std::to_string(visits) + "}}",
                        "application/json");
        REQUIRE(seeded);
        REQUIRE(seeded->status == 200);
      }
      for (const auto operation : testing::k_operations) {
        const std::string request_id = "matrix-" + subject.id + "-" + std::string(to_string(operation)) + "-" + user;
        const httplib::Headers headers{{"Authorization", "Bearer " + subject.token}, {"X-Request-ID", request_id}};
        const auto result = request(client, operation, user, headers);
        if (!result) {
          continue;
        }
        REQUIRE(*result);
        const auto& response = **result;
        INFO(subject.id << " (" << subject.role << ") " << to_string(operation) << " on " << user << " ("
                        << to_string(target) << "): " << response.status << " " << response.body);
        if (testing::expected_allowed(subject.role, operation, target)) {
          CHECK(response.status == 200);
          ++allowed;
          continue;
        }
        CHECK(response.status == 403);
        CHECK_THAT(response.body, Catch::Contains(subject.id + " may not " + std::string(to_string(operation))));
        ++denials;
        // The audit log, as the admin reads it, has the denial.
        const auto log = client.Get((k_memory + "logs?user_id=" + user + "&limit=1000").c_str(), as_admin);
        REQUIRE(log);
        REQUIRE(log->status == 200);
        const Json records = Json::parse(log->body)["records"];
        const auto record =
            std::find_if(records.begin(), records.end(), [&](const Json& r) { return r["request_id"] == request_id; });
        REQUIRE(record != records.end());
        CHECK((*record)["outcome"] == "denied");
        CHECK((*record)["actor"] == subject.id);
        CHECK_THAT((*record)["detail"].get<std::string>(), Catch::Contains("may not"));
      }
      const auto erased = client.Delete((k_memory + user).c_str(), as_admin);
      REQUIRE(erased);
      REQUIRE(erased->status == 200);
    }
  }
  // 6 subjects × 3 targets × 6 operations (admin has no HTTP endpoint), as
  // the table says.
  CHECK(allowed + denials == 108);
  CHECK(allowed == 46 - 3); // the admin role's three admin operations are the CLI's
}
