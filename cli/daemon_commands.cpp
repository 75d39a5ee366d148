#include "daemon_commands.hpp"

#include "commands.hpp"
#include "session.hpp"

#include <CLI/CLI.hpp>

#include <memory>

namespace zsimem::cli {
namespace {

void add_serve_command(CLI::App& app, Session& session) {
  auto args = std::make_shared<ServeArgs>();
  auto* command = app.add_subcommand("serve", "Serve the HTTP API on the configured store");
  command->add_option("--listen", args->listen, "Address to listen on, HOST:PORT (port 0: any free port)")
      ->type_name("HOST:PORT")
      ->envname("ZSIMEM_LISTEN")
      ->capture_default_str();
  command->add_option("--api-prefix", args->api_prefix, "Base path of the memory endpoints")
      ->type_name("PATH")
      ->envname("API_PREFIX")
      ->capture_default_str();
  command
      ->add_option("--threads", args->threads,
                   "Worker threads kept ready; more start on demand, up to --max-connections")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}))
      ->capture_default_str();
  command
      ->add_option("--max-connections", args->max_connections,
                   "Connections served at once (each holds a thread); one more is answered 503")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}))
      ->capture_default_str();
  command->add_option("--log-format", args->log_format, "Access log format on standard error")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  command->add_flag("--insecure", args->insecure,
                    "Listen on an address beyond loopback without a policy (--policy): anyone who can reach it may "
                    "read and write every context");
  // Both or neither: CLI11 names the missing one, for flags and variables alike.
  auto* tls_cert =
      command
          ->add_option("--tls-cert", args->tls_cert,
                       "Serve HTTPS with this certificate (PEM: the server's, then any intermediates); needs --tls-key")
          ->type_name("FILE")
          ->envname("ZSIMEM_TLS_CERT");
  auto* tls_key = command
                      ->add_option("--tls-key", args->tls_key,
                                   "Private key of --tls-cert (PEM, unencrypted; keep it readable by the daemon only)")
                      ->type_name("FILE")
                      ->envname("ZSIMEM_TLS_KEY");
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  command
      ->add_option("--retention", args->retention,
                   "Apply this retention file's policies at start and every --prune-interval (docs/retention.md)")
      ->type_name("FILE")
      ->envname("ZSIMEM_RETENTION");
  command->add_option("--prune-interval", args->prune_interval, "How often to apply --retention (30s, 15m, 1h, 1d)")
      ->type_name("DURATION")
      ->envname("ZSIMEM_PRUNE_INTERVAL")
      ->capture_default_str();
  command
      ->add_option("--hooks", args->hooks,
                   "Deliver every committed version to this hooks file's hooks, from a worker of its own "
                   "(docs/hooks.md)")
      ->type_name("FILE")
      ->envname("ZSIMEM_HOOKS");
  command->footer("Stops cleanly on SIGTERM or SIGINT. See docs/http-api.md and docs/security.md.\nExample:\n"
                  "  MEMORY_BACKEND=sqlite zsimem serve --listen 127.0.0.1:8080");
  command->callback([&session, args] {
    const int status = run_serve(session, *args);
    if (status != 0) {
      throw CLI::RuntimeError(status);
    }
  });
}

void add_watch_command(CLI::App& app, Session& session) {
  auto args = std::make_shared<WatchArgs>();
  auto* command = app.add_subcommand("watch", "Follow a context's new versions from a daemon's event stream");
  command->add_option("user", args->user_id, "User id")->required();
  command->add_option("-n,--namespace", args->ns, "Namespace of the context")->type_name("NS")->capture_default_str();
  command->add_option("--url", args->url, "Base URL of the daemon")
      ->type_name("URL")
      ->envname("ZSIMEM_URL")
      ->capture_default_str();
  command->add_option("--api-prefix", args->api_prefix, "Base path of the memory endpoints")
      ->type_name("PATH")
      ->envname("API_PREFIX")
      ->capture_default_str();
  command->add_option("--after", args->after, "Start after this version (0: from the first); default: the head")
      ->type_name("VERSION");
  command->add_option("--count", args->count, "Exit after this many versions (0: follow until interrupted)")
      ->type_name("N")
      ->capture_default_str();
  command
      ->add_option("--ca-file", args->ca_file,
                   "For an https URL: trust the CA certificates (PEM) in FILE instead of the system's")
      ->type_name("FILE")
      ->envname("ZSIMEM_CA_FILE");
  command->footer("Prints each new version as it is committed, by any writer: as text on a terminal, as one\n"
                  "JSON object per line otherwise. Reconnects after a dropped connection without missing\n"
                  "a version. A daemon with a policy needs a bearer token (--token-file FILE or ZSIMEM_TOKEN):\n"
                  "it is sent with every request, reconnections included, and checked by the daemon, so no\n"
                  "--policy is needed here; its subject needs the read right on the context. A token refused\n"
                  "(401) or denied (403) ends it with exit status 6. See docs/http-api.md (events) and\n"
                  "docs/security.md.\nExamples:\n"
                  "  zsimem watch alice --url http://127.0.0.1:8080 -o json | jq .data\n"
                  "  zsimem --token-file ~/.config/zsimem/token watch alice --url https://zsimem.example.com:8443");
  command->callback([&session, args] {
    const int status = run_watch(session, *args);
    if (status != 0) {
      throw CLI::RuntimeError(status);
    }
  });
}

} // namespace

void add_daemon_commands(CLI::App& app, Session& session) {
  add_serve_command(app, session);
  add_watch_command(app, session);
}

} // namespace zsimem::cli
