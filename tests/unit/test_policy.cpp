// The access policy: its file format, its decisions and their explanations.

#include "support/error_of.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/error.hpp>
#include <zsimem/policy.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

namespace zsimem {
namespace {

using testing::error_of;

constexpr const char* k_policy = R"({
  "version": 1,
  "roles": {
    "self": [
      {"allow": ["read", "write", "history", "rollback"], "when": [{"equal": ["subject.sub", "resource.user_id"]}]}
    ],
    "tenant-admin": [
      {"allow": "*", "when": [{"prefix": ["resource.user_id", "subject.tenant"]}]},
      {"deny": ["admin"]}
    ],
    "support": [
      {"deny": ["read", "history"], "namespaces": "medical*"},
      {"allow": ["read", "history"], "users": ["*"], "namespaces": ["default", "prefs", "medical-notes"]}
    ],
    "auditor": [{"allow": ["audit"]}],
    "admin": [{"allow": ["*"]}]
  },
  "default_roles": ["self"],
  "subjects": {
    "carol": {"roles": ["support"]},
    "tina": {"roles": ["tenant-admin"], "attributes": {"tenant": "acme-"}}
  }
})";

Policy policy() { return Policy::parse(k_policy, "test"); }

Subject subject(std::string id, std::vector<std::string> roles = {}) {
  return Subject{std::move(id), std::move(roles), {}};
}

bool allowed(const Policy& p, const Subject& s, Operation op, std::string_view user, std::string_view ns = "default") {
  return p.decide(s, op, {user, ns}).allowed;
}

TEST_CASE("policy: operations have stable names", "[policy]") {
  for (const auto* name : {"read", "write", "history", "rollback", "delete", "audit", "admin"}) {
    const auto operation = parse_operation(name);
    REQUIRE(operation);
    CHECK(to_string(*operation) == name);
  }
  CHECK(parse_operation("erase") == std::nullopt);
  CHECK(parse_operation("*") == std::nullopt);
}

TEST_CASE("policy: default roles let a subject use only its own context", "[policy]") {
  const Policy p = policy();
  const Subject alice = subject("alice");
  for (const auto op : {Operation::read, Operation::write, Operation::history, Operation::rollback}) {
    CHECK(allowed(p, alice, op, "alice"));
    CHECK(allowed(p, alice, op, "alice", "prefs"));
    CHECK_FALSE(allowed(p, alice, op, "bob"));
  }
  for (const auto op : {Operation::erase, Operation::audit, Operation::admin}) {
    CHECK_FALSE(allowed(p, alice, op, "alice"));
  }
  // "alice2" is not alice: equality, not a prefix.
  CHECK_FALSE(allowed(p, alice, Operation::read, "alice2"));
}

TEST_CASE("policy: a tenant attribute limits a role to the tenant's users", "[policy]") {
  const Policy p = policy();
  const Subject tina = subject("tina");
  for (const auto op : {Operation::read, Operation::write, Operation::history, Operation::rollback, Operation::erase,
                        Operation::audit}) {
    CHECK(allowed(p, tina, op, "acme-bob"));
    CHECK_FALSE(allowed(p, tina, op, "globex-bob"));
  }
  // Deny wins: tenant-admin's second rule denies admin even on its tenant.
  CHECK_FALSE(allowed(p, tina, Operation::admin, "acme-bob"));
  // The whole audit log (no user) is not the tenant's.
  CHECK_FALSE(p.decide(tina, Operation::audit, {"", ""}).allowed);

  // From a token's claims rather than the policy's subjects.
  Subject token_subject = subject("tom", {"tenant-admin"});
  token_subject.attributes["tenant"] = "globex-";
  CHECK(allowed(p, token_subject, Operation::write, "globex-ann"));
  CHECK_FALSE(allowed(p, token_subject, Operation::write, "acme-ann"));
  // A missing or empty attribute makes the condition false, not a match of everything.
  CHECK_FALSE(allowed(p, subject("tom", {"tenant-admin"}), Operation::read, "acme-ann"));
  token_subject.attributes["tenant"] = "";
  CHECK_FALSE(allowed(p, token_subject, Operation::read, "acme-ann"));
}

TEST_CASE("policy: the policy's attributes for a subject override its token's", "[policy]") {
  const Policy p = policy();
  Subject tina = subject("tina");
  tina.attributes["tenant"] = "globex-";
  CHECK(allowed(p, tina, Operation::read, "acme-ann"));
  CHECK_FALSE(allowed(p, tina, Operation::read, "globex-ann"));
}

TEST_CASE("policy: namespace patterns and deny rules", "[policy]") {
  const Policy p = policy();
  const Subject carol = subject("carol");
  CHECK(allowed(p, carol, Operation::read, "bob", "default"));
  CHECK(allowed(p, carol, Operation::history, "bob", "prefs"));
  CHECK_FALSE(allowed(p, carol, Operation::read, "bob", "other"));
  CHECK_FALSE(allowed(p, carol, Operation::write, "bob", "default"));
  // Allowed by name, denied by the pattern: deny wins.
  const Decision medical = p.decide(carol, Operation::read, {"bob", "medical-notes"});
  CHECK_FALSE(medical.allowed);
  CHECK_THAT(medical.reason, Catch::Contains("denied by role support, rule 1 (deny read, history in namespaces "
                                             "medical*)"));
  // carol also has the default role: her own context is hers.
  CHECK(allowed(p, carol, Operation::write, "carol"));
}

TEST_CASE("policy: decisions explain themselves", "[policy]") {
  const Policy p = policy();
  const Decision own = p.decide(subject("alice"), Operation::write, {"alice", "default"});
  CHECK(own.allowed);
  CHECK(own.reason == "alice may write on alice/default: allowed by role self, rule 1 (allow read, write, history, "
                      "rollback when subject.sub equals resource.user_id)");
  const Decision other = p.decide(subject("alice"), Operation::write, {"bob", "default"});
  CHECK_FALSE(other.allowed);
  CHECK(other.reason == "alice may not write on bob/default: no rule of the roles self allows it");
  const Decision admin = p.decide(subject("root", {"admin"}), Operation::admin, {"", ""});
  CHECK(admin.allowed);
  CHECK(admin.reason == "root may admin on every user: allowed by role admin, rule 1 (allow *)");
}

TEST_CASE("policy: roles a token names that the policy lacks are ignored", "[policy]") {
  const Policy p = Policy::parse(R"({"roles": {"auditor": [{"allow": ["audit"]}]}})", "test");
  const Decision none = p.decide(subject("x", {"superuser"}), Operation::read, {"x", "default"});
  CHECK_FALSE(none.allowed);
  CHECK_THAT(none.reason, Catch::EndsWith("the subject has no role in the policy"));
  CHECK(p.decide(subject("x", {"superuser", "auditor"}), Operation::audit, {"", ""}).allowed);
}

TEST_CASE("policy: glob patterns", "[policy]") {
  const Policy p =
      Policy::parse(R"({"roles": {"r": [{"allow": ["read"], "users": ["a*c", "*-x-*", "exact"]}]}})", "test");
  const Subject s = subject("s", {"r"});
  for (const auto* user : {"ac", "abc", "abbbc", "a-x-b", "-x-", "exact"}) {
    CHECK(allowed(p, s, Operation::read, user));
  }
  for (const auto* user : {"ab", "bac", "acb", "a-x", "exact2", "xexact", ""}) {
    CHECK_FALSE(allowed(p, s, Operation::read, user));
  }
}

TEST_CASE("policy: malformed policies are refused naming the field", "[policy]") {
  const auto field_of = [](const std::string& text) {
    const Error error = error_of([&] { Policy::parse(text, "p.json"); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK_THAT(error.what(), Catch::StartsWith("policy p.json: "));
    return error.field();
  };
  CHECK(field_of("not json") == "policy");
  CHECK(field_of("[]") == "");
  CHECK(field_of(R"({})") == "roles");
  CHECK(field_of(R"({"roles": {}})") == "roles");
  CHECK(field_of(R"({"version": 2, "roles": {"r": [{"allow": "read"}]}})") == "version");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "extra": 1})") == "extra");
  CHECK(field_of(R"({"roles": {"r": []}})") == "roles.r");
  CHECK(field_of(R"({"roles": {"r": [{"users": "*"}]}})") == "roles.r[0]");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read", "deny": "write"}]}})") == "roles.r[0]");
  CHECK(field_of(R"({"roles": {"r": [{"allow": ["read", "erase"]}]}})") == "roles.r[0].allow[1]");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read", "user": "*"}]}})") == "roles.r[0].user");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read", "users": []}]}})") == "roles.r[0].users");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read", "when": {}}]}})") == "roles.r[0].when");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read", "when": [{"like": ["subject.sub", "resource.user_id"]}]}]}})") ==
        "roles.r[0].when[0].like");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read", "when": [{"equal": ["subject.sub"]}]}]}})") ==
        "roles.r[0].when[0].equal");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read", "when": [{"equal": ["subject.sub", "alice"]}]}]}})") ==
        "roles.r[0].when[0].equal[1]");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "default_roles": ["q"]})") == "default_roles[0]");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "subjects": {"a": {"roles": "q"}}})") ==
        "subjects.a.roles[0]");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "subjects": {"a": {"attributes": {"sub": "b"}}}})") ==
        "subjects.a.attributes.sub");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "tokens": [{"sha256": "abc", "sub": "x"}]})") ==
        "tokens[0].sha256");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "tokens": [{"sha256": ")" + std::string(64, 'a') +
                 R"("}]})") == "tokens[0].sub");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "jwt": {"issuer": "x"}})") == "jwt");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "jwt": {"hs256_secret": "inline"}})") == "jwt.hs256_secret");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "jwt": {"hs256_secret_env": "ZSIMEM_TEST_UNSET_VAR"}})") ==
        "jwt.hs256_secret_env");
  CHECK(field_of(R"({"roles": {"r": [{"allow": "read"}]}, "jwt": {"rs256_public_key_file": "/nonexistent.pem"}})") ==
        "jwt.rs256_public_key_file");
}

TEST_CASE("policy: tokens and JWT settings are read, secrets from files and the environment", "[policy]") {
  testing::TempDir dir;
  std::ofstream(dir.path() / "jwt.secret") << "s3cret";
  std::ofstream(dir.path() / "idp.pem") << "-----BEGIN PUBLIC KEY-----\n";
  const std::string hash(64, 'b');
  std::ofstream(dir.path() / "policy.json") << R"({
    "roles": {"admin": [{"allow": "*"}]},
    "tokens": [{"sha256": ")" + hash + R"(", "sub": "ci", "roles": ["admin"], "attributes": {"team": "infra"}}],
    "jwt": {"hs256_secret_file": "jwt.secret", "rs256_public_key_file": "idp.pem", "issuer": "https://idp",
            "audience": "zsimem", "roles_claim": "groups", "leeway_seconds": 5}
  })";
  const Policy p = Policy::load(dir.path() / "policy.json");
  REQUIRE(p.identity().tokens.size() == 1);
  CHECK(p.identity().tokens[0].sha256_hex == hash);
  CHECK(p.identity().tokens[0].subject.id == "ci");
  CHECK(p.identity().tokens[0].subject.roles == std::vector<std::string>{"admin"});
  CHECK(p.identity().tokens[0].subject.attributes.at("team") == "infra");
  REQUIRE(p.identity().jwt);
  CHECK(p.identity().jwt->hs256_secret == "s3cret");
  CHECK(p.identity().jwt->rs256_public_key_pem == "-----BEGIN PUBLIC KEY-----\n");
  CHECK(p.identity().jwt->issuer == "https://idp");
  CHECK(p.identity().jwt->audience == "zsimem");
  CHECK(p.identity().jwt->roles_claim == "groups");
  CHECK(p.identity().jwt->leeway == std::chrono::seconds(5));

  ::setenv("ZSIMEM_TEST_JWT_SECRET", "from-env", 1);
  const Policy from_env = Policy::parse(
      R"({"roles": {"r": [{"allow": "read"}]}, "jwt": {"hs256_secret_env": "ZSIMEM_TEST_JWT_SECRET"}})", "test");
  ::unsetenv("ZSIMEM_TEST_JWT_SECRET");
  CHECK(from_env.identity().jwt->hs256_secret == "from-env");

  const Error missing = error_of([&] { Policy::load(dir.path() / "absent.json"); });
  CHECK(missing.code() == ErrorCode::unavailable);
  CHECK_THAT(missing.what(), Catch::Contains("absent.json"));
}

} // namespace
} // namespace zsimem
