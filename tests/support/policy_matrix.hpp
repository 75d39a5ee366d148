#pragma once

// The authorization matrix the CLI and HTTP tests share: a policy with one
// API token per role, the subjects holding them, the users they act on and
// what each role may do to each (written out by hand, not computed by the
// policy engine under test).

#include <zsimem/policy.hpp>

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace zsimem::testing {

// Whose context a subject acts on.
enum class Target { own, same_tenant, other_tenant };
inline constexpr std::array k_targets{Target::own, Target::same_tenant, Target::other_tenant};
std::string_view to_string(Target target);

struct MatrixSubject {
  std::string role; // "" for a subject without a role
  std::string id;
  std::string token; // an API token whose hash is in the policy
};

const std::vector<MatrixSubject>& matrix_subjects();

// The policy document (its tokens' hashes included).
std::string matrix_policy_json();

// The user id `subject` acts on for `target`.
std::string target_user(const MatrixSubject& subject, Target target);

// Whether `role` may do `operation` on `target`'s context.
bool expected_allowed(std::string_view role, Operation operation, Target target);

inline constexpr std::array k_operations{Operation::read,  Operation::write, Operation::history, Operation::rollback,
                                         Operation::erase, Operation::audit, Operation::admin};

} // namespace zsimem::testing
