#include "commands.hpp"
#include "exit_codes.hpp"
#include "render.hpp"
#include "session.hpp"

#include <zsimem/error.hpp>
#include <zsimem/policy.hpp>

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace zsimem::cli {
namespace {

struct CheckArgs {
  std::string action;
  std::string subject;
  std::string operation;
  std::string user_id;
  std::string ns;
  std::vector<std::string> roles;
  std::vector<std::string> attributes; // NAME=VALUE
};

} // namespace

// One command whose first argument is the action, so that the generated man
// page and completions, which know one level of commands, cover it.
void add_policy_commands(CLI::App& app, Session& session) {
  auto args = std::make_shared<CheckArgs>();
  auto* command =
      app.add_subcommand("policy", "Explain the access policy's decisions: policy check SUBJECT OPERATION USER [NS]");
  command->add_option("action", args->action, "check: whether the policy lets the subject do the operation")
      ->check(CLI::IsMember({"check"}))
      ->required();
  command->add_option("subject", args->subject, "The subject's id (its token's sub, or an OS user)")->required();
  command->add_option("operation", args->operation, "read, write, history, rollback, delete, audit or admin")
      ->required();
  command->add_option("user", args->user_id, "The user id operated on; - for every user (the whole store)")->required();
  command->add_option("namespace", args->ns, "The namespace (default: every namespace)");
  command->add_option("--role", args->roles, "A role the subject's token carries (repeatable)")->type_name("ROLE");
  command->add_option("--attribute", args->attributes, "A claim of the subject's token, NAME=VALUE (repeatable)")
      ->type_name("NAME=VALUE");
  command->footer("Exits with 0 when allowed and 6 when denied, and says which rule decided (docs/security.md).\n"
                  "Example:\n"
                  "  zsimem --policy policy.json policy check alice write bob --role support");
  command->callback([&session, args] {
    const auto policy = session.policy();
    if (!policy) {
      throw Error(ErrorCode::invalid, "no policy to check: give --policy or ZSIMEM_POLICY", "--policy");
    }
    const auto operation = parse_operation(args->operation);
    if (!operation) {
      throw Error(ErrorCode::invalid,
                  "operation: '" + args->operation +
                      "' is not one of read, write, history, rollback, delete, audit, admin",
                  "operation");
    }
    Subject subject{args->subject, args->roles, {}};
    for (const auto& attribute : args->attributes) {
      const auto equals = attribute.find('=');
      if (equals == std::string::npos || equals == 0) {
        throw Error(ErrorCode::invalid, "--attribute: '" + attribute + "' is not NAME=VALUE", "--attribute");
      }
      subject.attributes[attribute.substr(0, equals)] = attribute.substr(equals + 1);
    }
    const std::string user_id = args->user_id == "-" ? std::string{} : args->user_id;
    const Decision decision = policy->decide(subject, *operation, {user_id, args->ns});
    if (session.json_output()) {
      print_json(Json{{"allowed", decision.allowed}, {"reason", decision.reason}});
    } else {
      std::cout << (decision.allowed ? "allowed: " : "denied: ") << decision.reason << '\n';
    }
    if (!decision.allowed) {
      throw CLI::RuntimeError(k_exit_denied);
    }
  });
}

} // namespace zsimem::cli
