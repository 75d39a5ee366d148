#include "commands.hpp"
#include "exit_codes.hpp"
#include "session.hpp"

#include <zsimem/error.hpp>
#include <zsimem/store.hpp>

#include <CLI/CLI.hpp>

#include <iostream>

namespace zsimem::cli {

void build_app(CLI::App& app, Session& session) {
  app.description("zsimem: a versioned store of per-user JSON context for copilot and agent frameworks");
  app.set_version_flag("--version", std::string("zsimem ") + ZSIMEM_VERSION);
  std::string backends;
  for (const auto name : backend_names()) {
    backends += (backends.empty() ? "" : ", ") + std::string(name);
  }
  app.add_option("--backend", session.options.backend, "Storage backend: " + backends + " (default json)")
      ->type_name("NAME")
      ->envname("MEMORY_BACKEND");
  app.add_option("--data-dir", session.options.data_dir,
                 "Directory of the embedded stores (default $XDG_DATA_HOME/zsimem)")
      ->type_name("DIR")
      ->envname("ZSIMEM_DATA_DIR");
  app.add_option("-o,--output", session.options.output, "Output format: auto (text on a terminal), text or json")
      ->check(CLI::IsMember({"auto", "text", "json"}))
      ->capture_default_str();
  app.add_option("--request-id", session.options.request_id,
                 "Request id recorded in the audit log (default: a new UUID)")
      ->type_name("ID")
      ->envname("ZSIMEM_REQUEST_ID");
  app.add_option("--policy", session.options.policy,
                 "Access policy file: every operation must be allowed by it (docs/security.md)")
      ->type_name("FILE")
      ->envname("ZSIMEM_POLICY");
  app.add_option("--token-file", session.options.token_file,
                 "Act as the subject of the bearer token in FILE (or in ZSIMEM_TOKEN), checked against the policy; "
                 "watch sends it to the daemon")
      ->type_name("FILE");
  app.add_option("--master-key-file", session.options.master_key_file,
                 "Encrypt at rest with the master keys in FILE, the current one first (or ZSIMEM_MASTER_KEY, "
                 "ZSIMEM_MASTER_KEY_FILE)")
      ->type_name("FILE");
  app.add_option("--feature", session.options.feature_settings,
                 "Switch a feature on or off: NAME=on|off, repeatable, over ZSIMEM_FEATURES (zsimem features)")
      ->type_name("NAME=on|off");
  app.require_subcommand(1);
  app.fallthrough();
  add_context_commands(app, session);
  add_store_commands(app, session);
  add_daemon_commands(app, session);
  add_hook_commands(app, session);
  add_policy_commands(app, session);
  add_docs_command(app);
}

// What `zsimem` alone prints: the shape of a command line and the commands
// most runs use, described as their --help describes them.
void print_short_usage(CLI::App& app, std::ostream& out) {
  static constexpr std::string_view k_common[] = {"get",     "merge", "history", "diff",   "rollback",
                                                  "summary", "watch", "serve",   "verify", "prune"};
  out << app.get_description() << "\n\nUsage: zsimem [OPTIONS] COMMAND [ARGS]...\n\nCommon commands:\n";
  for (const auto name : k_common) {
    const CLI::App* command = app.get_subcommand(std::string(name));
    out << "  " << name << std::string(10 - name.size(), ' ') << command->get_description() << '\n';
  }
  out << "\nStores: json files by default (--backend, --data-dir, MEMORY_BACKEND, ZSIMEM_DATA_DIR).\n"
         "Every command: zsimem --help. One command: zsimem COMMAND --help. All of it: man zsimem.\n";
}

} // namespace zsimem::cli

int main(int argc, char** argv) {
  using namespace zsimem::cli;
  Session session;
  session.argv.assign(argv, argv + argc);
  CLI::App app{"zsimem", "zsimem"};
  build_app(app, session);
  if (argc == 1) {
    print_short_usage(app, std::cout);
    return k_exit_ok;
  }
  try {
    app.parse(argc, argv);
    return k_exit_ok;
  } catch (const CLI::RuntimeError& stop) {
    return stop.get_exit_code(); // a command chose its exit status (verify)
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return k_exit_usage;
  } catch (const zsimem::Error& error) {
    std::cerr << "zsimem: " << error.what() << '\n';
    if (error.code() == zsimem::ErrorCode::conflict && !error.current_version().empty()) {
      std::cerr << "zsimem: current version: " << error.current_version() << '\n';
    }
    return exit_code(error.code());
  } catch (const std::exception& error) {
    std::cerr << "zsimem: internal error: " << error.what() << '\n';
    return k_exit_other;
  }
}
