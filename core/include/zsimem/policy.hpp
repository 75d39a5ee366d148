#pragma once

// Access policy: roles that allow or deny operations on contexts chosen by
// user id and namespace patterns, under conditions that compare the subject
// with the context (RBAC + ABAC). Once a policy is configured, what no rule
// allows is denied. The file format is in docs/security.md.

#include <zsimem/identity.hpp>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zsimem {

enum class Operation {
  read,     // a context's head, its namespaces, following it
  write,    // merge, apply
  history,  // past versions: history, as-of reads, diff, blame
  rollback, // rollback
  erase,    // delete a user or a namespace ("delete" in policies)
  audit,    // the audit log
  admin,    // whole-store work: users, verify, export, import
};

inline constexpr std::size_t k_operation_count = 7;

// "read", "write", …, "delete" for erase.
std::string_view to_string(Operation operation);
std::optional<Operation> parse_operation(std::string_view name);

// What an operation touches. An empty user id or namespace means all of them
// (the audit log unfiltered, every user's namespaces, the whole store).
struct Resource {
  std::string_view user_id;
  std::string_view ns;
};

struct Decision {
  bool allowed = false;
  std::string reason; // which rule allowed or denied it, or that none allowed it
};

class Policy {
public:
  // Parses a policy document; `origin` names it in errors. Key files named
  // in it are read relative to `base_dir`. Throws Error(invalid) naming the
  // offending field.
  static Policy parse(std::string_view text, const std::string& origin, const std::filesystem::path& base_dir = {});
  // Reads and parses a policy file (Error(unavailable) when it cannot be read).
  static Policy load(const std::filesystem::path& path);

  // Deny wins over allow; without a matching rule, denied. The subject's
  // roles are its own (a token's), those the policy gives its id, and the
  // default roles; its attributes, the policy's for its id over its own.
  Decision decide(const Subject& subject, Operation operation, Resource resource) const;

  // How bearer tokens are checked (the policy's "tokens" and "jwt").
  const IdentitySettings& identity() const { return m_identity; }

  struct Condition;
  struct Rule;
  struct Role;
  struct SubjectEntry;

  Policy();
  ~Policy();
  Policy(Policy&&) noexcept;
  Policy& operator=(Policy&&) noexcept;

private:
  std::vector<Role> m_roles;
  std::vector<SubjectEntry> m_subjects;
  std::vector<std::size_t> m_default_roles; // indexes into m_roles
  IdentitySettings m_identity;
};

} // namespace zsimem
