#include "serve_command.hpp"

#include "commands.hpp"
#include "session.hpp"

#include <CLI/CLI.hpp>

#include <memory>

namespace zsimem::cli {

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
  command->add_option("--threads", args->threads, "Worker threads")->type_name("N")->capture_default_str();
  command->add_option("--log-format", args->log_format, "Access log format on standard error")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  command->footer("Stops cleanly on SIGTERM or SIGINT. See docs/http-api.md.\nExample:\n"
                  "  MEMORY_BACKEND=sqlite zsimem serve --listen 127.0.0.1:8080");
  command->callback([&session, args] {
    const int status = run_serve(session, *args);
    if (status != 0) {
      throw CLI::RuntimeError(status);
    }
  });
}

} // namespace zsimem::cli
