#pragma once

#include <zsimem/hooks.hpp>
#include <zsimem/identity.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/metrics.hpp>

#include <cstddef>
#include <memory>
#include <string>

// The HTTP daemon behind `zsimem serve`: the spec's endpoints over the same
// MemoryService the CLI uses. This header stays free of cpp-httplib.
namespace zsimem::daemon {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080; // 0: any free port (see HttpServer::bind)
  std::string api_prefix = "/api/v1";
  // Worker threads kept ready. Each connection holds a thread for its whole
  // life (keep-alive, an event stream), so more start on demand, up to
  // max_connections, and exit again after 30 s idle.
  std::size_t threads = 16;
  // Connections served at once; one more is answered 503 and closed.
  std::size_t max_connections = 512;
  std::size_t max_body_bytes = 2 * 1024 * 1024;
  // The longest wait for bytes of a request, and the time its whole head
  // (request line and headers) has; a body has it too, plus a second per
  // 16 KiB. A stalled or trickling client frees its worker after it.
  int read_timeout_seconds = 10;
  bool json_logs = false;
  // HTTPS with this certificate (PEM: the server's, then any intermediates)
  // and its unencrypted private key (PEM); both or neither. Empty: HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // With one, every request but /healthz and /ui must carry a bearer token it
  // accepts (401 otherwise); its subject is the caller the policy judges.
  std::shared_ptr<const Authenticator> authenticator;
  // The hooks file the daemon delivers to: GET {api_prefix}/hooks reports
  // their lag and failures. None: it reports no hooks.
  std::shared_ptr<const HooksConfig> hooks;
};

// One server: bind, then run until stop() (or SIGTERM/SIGINT with
// run_until_signalled). In-flight requests finish before run returns.
class HttpServer {
public:
  // `metrics` (which must outlive the server) receives every request; the
  // service's store should be instrumented with the same object.
  // Error{invalid} when the TLS files cannot be used (before binding).
  HttpServer(MemoryService& service, Metrics& metrics, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port (useful with port 0).
  // Error{unavailable} when the address cannot be bound.
  int bind();
  // Serves until stop() is called.
  void run();
  // Stops accepting, lets in-flight requests finish; safe from any thread.
  void stop();

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// The service as the daemon runs it: the store opened long-lived (more
// connections, housekeeping on threads of its own) and instrumented into
// `metrics`, reads' audit records written in batches. The tests' daemon uses
// it too, so that they exercise what `zsimem serve` runs.
MemoryService open_daemon_service(StoreConfig store, Metrics& metrics, ServiceOptions options);

// Binds, prints the address, serves until SIGTERM or SIGINT, then exits
// cleanly. Returns the process exit status.
int serve_until_signalled(MemoryService& service, Metrics& metrics, const ServerOptions& options);

} // namespace zsimem::daemon
