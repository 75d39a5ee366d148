#pragma once

namespace CLI {
class App;
}

namespace zsimem::cli {

class Session;

// Commands on one user's contexts: get, merge, history, rollback, diff,
// blame, summary, delete, namespaces.
void add_context_commands(CLI::App& app, Session& session);

// Commands on the whole store: users, log, verify, export, import, apply,
// rekey, features.
void add_store_commands(CLI::App& app, Session& session);

// `serve` (the HTTP daemon) and `watch` (follows a daemon's event stream).
void add_daemon_commands(CLI::App& app, Session& session);

// `hooks status|deliver|reset`: the hooks' lag and failures, and delivery
// without a daemon.
void add_hook_commands(CLI::App& app, Session& session);

// `policy check`: explains the policy's decisions.
void add_policy_commands(CLI::App& app, Session& session);

// The hidden generator of the man page and the shell completions from this
// very command table, so that the docs cannot drift from the code.
void add_docs_command(CLI::App& app);

// Builds the whole command line; main() and the docs generator share it.
void build_app(CLI::App& app, Session& session);

} // namespace zsimem::cli
