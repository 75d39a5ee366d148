#include "support/policy_matrix.hpp"

#include <zsimem/hash_chain.hpp>

#include <stdexcept>

namespace zsimem::testing {
namespace {

// Per role, one string per target (own, same tenant, other tenant), one
// letter per operation in k_operations' order when allowed, '-' when not:
// Read, Write, History, Back (rollback), Delete, Audit, adMin.
struct Expected {
  std::string_view role;
  std::array<std::string_view, 3> by_target;
};

constexpr std::array k_expected{
    Expected{"self", {"RWHB---", "-------", "-------"}},    Expected{"tenant-admin", {"RWHBDA-", "RWHBDA-", "-------"}},
    Expected{"support", {"R-H----", "R-H----", "R-H----"}}, Expected{"auditor", {"-----A-", "-----A-", "-----A-"}},
    Expected{"admin", {"RWHBDAM", "RWHBDAM", "RWHBDAM"}},   Expected{"", {"-------", "-------", "-------"}},
};

} // namespace

std::string_view to_string(Target target) {
  switch (target) {
  case Target::own: return "own";
  case Target::same_tenant: return "same tenant";
  case Target::other_tenant: return "other tenant";
  }
  return "own";
}

const std::vector<MatrixSubject>& matrix_subjects() {
  static const std::vector<MatrixSubject> subjects{
      {"self", "acme-alice", "token-of-alice-7c1f"}, {"tenant-admin", "acme-tina", "token-of-tina-2b9e"},
      {"support", "acme-sam", "token-of-sam-91d0"},  {"auditor", "acme-audrey", "token-of-audrey-5e3a"},
      {"admin", "ops-root", "token-of-root-0f4c"},   {"", "acme-nobody", "token-of-nobody-8a62"},
  };
  return subjects;
}

std::string matrix_policy_json() {
  std::string tokens;
  for (const auto& subject : matrix_subjects()) {
    tokens += std::string(tokens.empty() ? "" : ",\n") + R"(    {"sha256": ")" + sha256_hex(subject.token) +
              R"(", "sub": ")" + subject.id + R"(")" +
              (subject.role.empty() ? std::string{} : R"(, "roles": [")" + subject.role + R"("])") +
              (subject.role == "tenant-admin" ? R"(, "attributes": {"tenant": "acme-"})" : "") + "}";
  }
  return R"({
  "roles": {
    "self": [{"allow": ["read", "write", "history", "rollback"],
              "when": [{"equal": ["subject.sub", "resource.user_id"]}]}],
    "tenant-admin": [{"allow": "*", "when": [{"prefix": ["resource.user_id", "subject.tenant"]}]},
                     {"deny": "admin"}],
    "support": [{"allow": ["read", "history"], "namespaces": "default"}],
    "auditor": [{"allow": "audit"}],
    "admin": [{"allow": "*"}]
  },
  "tokens": [
)" + tokens +
         R"(
  ]
})";
}

std::string target_user(const MatrixSubject& subject, Target target) {
  switch (target) {
  case Target::own: return subject.id;
  case Target::same_tenant: return "acme-bob";
  case Target::other_tenant: return "globex-carol";
  }
  return subject.id;
}

bool expected_allowed(std::string_view role, Operation operation, Target target) {
  for (const auto& expected : k_expected) {
    if (expected.role == role) {
      return expected.by_target[static_cast<std::size_t>(target)][static_cast<std::size_t>(operation)] != '-';
    }
  }
  throw std::logic_error("no expectations for role " + std::string(role));
}

} // namespace zsimem::testing
