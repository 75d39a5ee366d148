#include "commands.hpp"
#include "render.hpp"
#include "session.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hook_worker.hpp>

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace zsimem::cli {
namespace {

struct HooksArgs {
  std::string action;
  std::string hook;
  std::string file;
};

HooksConfig load_hooks(const HooksArgs& args) {
  if (args.file.empty()) {
    throw Error(ErrorCode::invalid, "no hooks file: give --hooks FILE or set ZSIMEM_HOOKS", "--hooks");
  }
  return HooksConfig::load(args.file);
}

void print_status(const std::vector<HookStatus>& hooks) {
  std::vector<std::vector<std::string>> rows{{"HOOK", "TYPE", "CONTEXTS", "PENDING", "FAILING", "DEAD LETTERS"}};
  for (const auto& hook : hooks) {
    rows.push_back({hook.name, std::string(to_string(hook.kind)), std::to_string(hook.contexts),
                    std::to_string(hook.pending), std::to_string(hook.failing), std::to_string(hook.dead_letters)});
  }
  print_table(rows);
  for (const auto& hook : hooks) {
    for (const auto& context : hook.lagging) {
      std::cout << '\n'
                << hook.name << " · " << context.context.user_id << "/" << context.context.ns << ": delivered "
                << context.delivered << " of " << context.head;
      if (context.pruned > 0) {
        std::cout << ", " << context.pruned << " pruned before delivery";
      }
      std::cout << '\n';
      if (context.attempts > 0) {
        std::cout << "  version " << context.delivered + 1 << " failed " << context.attempts
                  << (context.attempts == 1 ? " time" : " times");
        if (context.retry_at) {
          std::cout << ", retry at " << format_rfc3339(*context.retry_at);
        }
        std::cout << ": " << context.last_error << '\n';
      }
      for (const auto& letter : context.recent_dead_letters) {
        std::cout << "  dead letter: version " << letter.version << " at " << format_rfc3339(letter.at) << ": "
                  << letter.error << '\n';
      }
      if (context.dead_letters > context.recent_dead_letters.size()) {
        std::cout << "  (" << context.dead_letters << " dead letters in all)\n";
      }
    }
  }
}

} // namespace

// One command whose first argument is the action, as `policy` does, so
// that the generated man page and completions cover it.
void add_hook_commands(CLI::App& app, Session& session) {
  auto args = std::make_shared<HooksArgs>();
  auto* command = app.add_subcommand(
      "hooks", "Deliver versions to the hooks, or show their lag and failures: hooks status|deliver|reset [HOOK]");
  command
      ->add_option("action", args->action,
                   "status: each hook's pending versions, failures and dead letters; deliver: hand over what is "
                   "pending now, then exit; reset HOOK: forget HOOK's progress, so that it gets every version again")
      ->check(CLI::IsMember({"status", "deliver", "reset"}))
      ->required();
  command->add_option("hook", args->hook, "The hook to reset (its name in the hooks file)");
  command->add_option("--hooks", args->file, "The hooks file (docs/hooks.md)")
      ->type_name("FILE")
      ->envname("ZSIMEM_HOOKS");
  command->footer("The daemon delivers on its own (zsimem serve --hooks FILE); deliver serves a store without one.\n"
                  "Example:\n"
                  "  zsimem hooks status --hooks /etc/zsimem/hooks.json");
  command->callback([&session, args] {
    MemoryService& service = session.service();
    check_hooks_allowed(service, session.caller());
    if (args->action == "status") {
      const auto status = hooks_status(service, session.caller(), load_hooks(*args));
      if (session.json_output()) {
        print_json(hooks_status_json(status));
      } else {
        print_status(status);
      }
    } else if (args->action == "deliver") {
      HookWorkerOptions options;
      options.on_problem = [](const std::string& message) { std::cerr << "zsimem: " << message << '\n'; };
      const DrainReport report = HookWorker(service, load_hooks(*args), options).drain();
      if (session.json_output()) {
        print_json(drain_report_json(report));
      } else {
        std::cout << "delivered: " << report.delivered << " events, failed attempts: " << report.failed
                  << ", dead letters: " << report.dead_letters << ", answers written back: " << report.written_back
                  << '\n';
      }
    } else {
      // A hook no longer in the hooks file may be reset too: no file needed.
      if (args->hook.empty()) {
        throw Error(ErrorCode::invalid, "hooks reset: name the hook to reset", "hook");
      }
      const std::size_t removed = service.store().remove_hook_cursors(args->hook);
      if (session.json_output()) {
        print_json(Json{{"hook", args->hook}, {"cursors_removed", removed}});
      } else {
        std::cout << "hook " << args->hook << ": " << removed
                  << " cursors removed; it gets every version again from the first\n";
      }
    }
  });
}

} // namespace zsimem::cli
