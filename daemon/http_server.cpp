#include "http_server.hpp"

#include "guarded_server.hpp"
#include "http_errors.hpp"
#include "request_framing.hpp"
#include "routes.hpp"

#include <zsimem/error.hpp>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <iostream>
#include <poll.h>
#include <pthread.h>
#include <string>
#include <thread>
#include <unistd.h>

namespace zsimem::daemon {
namespace {

// Where a stop signal's handler writes the signal's number.
volatile std::sig_atomic_t g_stop_pipe = -1;

extern "C" void on_stop_signal(int signal) {
  const int saved_errno = errno;
  const auto byte = static_cast<unsigned char>(signal);
  [[maybe_unused]] const auto written = ::write(g_stop_pipe, &byte, 1);
  errno = saved_errno;
}

// SIGTERM and SIGINT while it lives, taken by one thread, the one in wait():
// the calling thread blocks them, so that every thread it starts from then on
// inherits them blocked (as do the store's, when the caller blocked them
// before opening it, as run_serve does). A thread started earlier without the
// mask may still take one; the handler works there too.
class StopSignals {
public:
  StopSignals() {
    if (::pipe2(m_pipe.data(), O_CLOEXEC) != 0) {
      throw Error(ErrorCode::internal, "cannot create a pipe for the stop signals");
    }
    g_stop_pipe = m_pipe[1];
    sigemptyset(&m_signals);
    sigaddset(&m_signals, SIGTERM);
    sigaddset(&m_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &m_signals, &m_previous_mask);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, &m_previous_term);
    sigaction(SIGINT, &action, &m_previous_int);
  }

  ~StopSignals() {
    // Signals that came during the shutdown are spent, not left to the
    // previous handlers.
    const timespec no_wait{};
    while (sigtimedwait(&m_signals, nullptr, &no_wait) > 0) {
    }
    sigaction(SIGTERM, &m_previous_term, nullptr);
    sigaction(SIGINT, &m_previous_int, nullptr);
    pthread_sigmask(SIG_SETMASK, &m_previous_mask, nullptr);
    g_stop_pipe = -1;
    ::close(m_pipe[0]);
    ::close(m_pipe[1]);
  }

  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Takes the signals on the calling thread until one comes (its number) or
  // wake() is called (0). poll, not read: ThreadSanitizer runs a handler only
  // once its thread is in a call it deems blocking, and read is not one.
  int wait() {
    pthread_sigmask(SIG_UNBLOCK, &m_signals, nullptr);
    unsigned char signal = 0;
    for (;;) {
      pollfd readable{m_pipe[0], POLLIN, 0};
      if (::poll(&readable, 1, -1) < 0 && errno != EINTR) {
        break;
      }
      if (::read(m_pipe[0], &signal, 1) >= 0 || errno != EINTR) {
        break;
      }
    }
    pthread_sigmask(SIG_BLOCK, &m_signals, nullptr);
    return signal;
  }

  // Ends wait().
  void wake() {
    const unsigned char none = 0;
    [[maybe_unused]] const auto written = ::write(m_pipe[1], &none, 1);
  }

private:
  std::array<int, 2> m_pipe{-1, -1};
  sigset_t m_signals{};
  sigset_t m_previous_mask{};
  struct sigaction m_previous_term {};
  struct sigaction m_previous_int {};
};

// When this thread started on the current request, for the access log.
// Set on first use, so that a thread's first request, when httplib rejects
// it before routing, is not timed from the clock's epoch.
thread_local std::chrono::steady_clock::time_point t_request_start = std::chrono::steady_clock::now();

// The method as a metrics label: whatever a client writes must not become a
// new series, so unknown methods share one.
std::string_view method_label(std::string_view method) {
  for (const std::string_view known : {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"}) {
    if (method == known) {
      return known;
    }
  }
  return "other";
}

void log_request(const ServerOptions& options, Metrics& metrics, const httplib::Request& req,
                 const httplib::Response& res) {
  const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_request_start);
  metrics.record_request(current_route(), method_label(req.method), res.status, elapsed.count() / 1000.0);
  // A request httplib rejects before routing skips the pre-routing handler:
  // make it count as unmatched, timed from the end of this one.
  current_route() = "unmatched";
  t_request_start = std::chrono::steady_clock::now();
  const std::string request_id = res.get_header_value("X-Request-ID");
  if (options.json_logs) {
    const Json line{{"method", req.method},           {"path", req.path},         {"status", res.status},
                    {"duration_ms", elapsed.count()}, {"request_id", request_id}, {"remote", req.remote_addr}};
    spdlog::info("{}", line.dump(-1, ' ', false, Json::error_handler_t::replace));
  } else {
    spdlog::info("{} {} {} {:.2f} ms {}", req.method, req.path, res.status, elapsed.count(), request_id);
  }
}

std::string_view reason(int status) {
  switch (status) {
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Request Entity Too Large";
  case 414: return "URI Too Long";
  case 431: return "Request Header Fields Too Large";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  default: return "Error";
  }
}

GuardedServer::Limits limits_of(const ServerOptions& options) {
  GuardedServer::Limits limits;
  limits.connection.read_timeout = std::chrono::seconds(options.read_timeout_seconds);
  limits.connection.write_timeout = std::chrono::seconds(options.read_timeout_seconds);
  limits.connection.max_body_bytes = options.max_body_bytes;
  limits.max_connections = std::max<std::size_t>(1, options.max_connections);
  limits.min_threads = std::max<std::size_t>(1, options.threads);
  return limits;
}

// Answers a request whose framing headers are refused (check_framing), before
// its body is read; the connection closes after the answer.
bool refuse_framing(const httplib::Request& req, httplib::Response& res, std::size_t max_body_bytes) {
  const auto refusal = check_framing(req, max_body_bytes).refusal;
  if (!refusal) {
    return false;
  }
  res.status = refusal->status;
  // The detail may quote the client's bytes, which need not be UTF-8.
  res.set_content(detail_body(refusal->detail).dump(-1, ' ', false, Json::error_handler_t::replace),
                  "application/json");
  return true;
}

// What httplib answers 400 when reading a request failed, told apart.
void explain_read_failure(httplib::Response& res, std::size_t max_body_bytes) {
  const ConnectionStream* connection = GuardedServer::current_connection();
  if (connection == nullptr || res.status != 400 || !res.body.empty()) {
    return;
  }
  switch (connection->failure()) {
  case ConnectionStream::Failure::timeout: res.status = 408; break;
  case ConnectionStream::Failure::head_too_large: res.status = 431; break;
  case ConnectionStream::Failure::body_too_large:
    res.status = 413;
    res.set_content(detail_body(body_too_large(max_body_bytes)).dump(), "application/json");
    break;
  case ConnectionStream::Failure::malformed:
    res.set_content(detail_body("Transfer-Encoding: the body does not follow the chunked coding").dump(),
                    "application/json");
    break;
  default: break;
  }
}

// The TLS context `options` ask for, or nullptr for plain HTTP.
std::shared_ptr<const TlsServerContext> tls_context_of(const ServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    const std::string missing = options.tls_cert_file.empty() ? "--tls-cert" : "--tls-key";
    throw Error(ErrorCode::invalid, missing + ": needed with " + (missing == "--tls-cert" ? "--tls-key" : "--tls-cert"),
                missing);
  }
  if (options.tls_cert_file.empty()) {
    return nullptr;
  }
  return std::make_shared<const TlsServerContext>(options.tls_cert_file, options.tls_key_file);
}

// Logs a refused connection, at most once a second (a flood must not flood the log).
void log_refusal(std::size_t max_connections) {
  static std::atomic<std::int64_t> last_logged{0};
  static std::atomic<std::uint64_t> refused{0};
  const std::uint64_t total = ++refused;
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_logged.load();
  if (now > last && last_logged.compare_exchange_strong(last, now)) {
    spdlog::warn("connection limit ({}) reached: new connections are answered 503 ({} so far)", max_connections, total);
  }
}

} // namespace

struct HttpServer::Impl {
  Impl(MemoryService& s, Metrics& m, ServerOptions o)
      : service(s), metrics(m), options(std::move(o)), server(limits_of(options), tls_context_of(options)) {}

  MemoryService& service;
  Metrics& metrics;
  ServerOptions options;
  GuardedServer server;
};

HttpServer::HttpServer(MemoryService& service, Metrics& metrics, ServerOptions options)
    : m_impl(std::make_unique<Impl>(service, metrics, std::move(options))) {
  auto& server = m_impl->server;
  const auto& opts = m_impl->options;
  // Without TCP_NODELAY, Nagle and delayed ACKs stall every response ~40 ms.
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(10000);
  server.set_read_timeout(opts.read_timeout_seconds, 0);
  server.set_write_timeout(opts.read_timeout_seconds, 0);
  server.set_payload_max_length(opts.max_body_bytes);
  // Runs once the headers are read and before the body is: a request
  // refused for its framing is answered here (the body never read).
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_request_start = std::chrono::steady_clock::now();
    current_route() = "unmatched";
    // Every response and log line carries the request id, even a 404's.
    res.set_header("X-Request-ID", request_id_of(req));
    const auto& server_options = m_impl->options;
    if (refuse_framing(req, res, server_options.max_body_bytes)) {
      return httplib::Server::HandlerResponse::Handled;
    }
    // httplib has no routes for these two and would answer 400.
    if (req.method == "TRACE" || req.method == "CONNECT") {
      res.status = 405;
      res.set_content(detail_body(reason(405)).dump(), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return refuse_encoded_slash(req, res, server_options) ? httplib::Server::HandlerResponse::Handled
                                                          : httplib::Server::HandlerResponse::Unhandled;
  });
  // A client waiting for 100 Continue hears of a refused framing instead.
  server.set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
    return refuse_framing(req, res, m_impl->options.max_body_bytes) ? res.status : 100;
  });
  // Errors httplib raises itself (framing, no route, a failed read) get
  // FastAPI's shape and a request id.
  server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    explain_read_failure(res, m_impl->options.max_body_bytes);
    if (!res.has_header("X-Request-ID")) {
      res.set_header("X-Request-ID", request_id_of(req));
    }
    if (res.body.empty()) {
      res.set_content(detail_body(reason(res.status)).dump(), "application/json");
    }
  });
  server.set_refusal_observer([this] {
    m_impl->metrics.record_request("unmatched", "other", 503, 0.0);
    log_refusal(m_impl->options.max_connections);
  });
  server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    log_request(m_impl->options, m_impl->metrics, req, res);
  });
  add_routes(server, m_impl->service, m_impl->metrics, m_impl->options);
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  auto& impl = *m_impl;
  if (impl.options.port == 0) {
    const int port = impl.server.bind_to_any_port(impl.options.host);
    if (port < 0) {
      throw Error(ErrorCode::unavailable, "cannot listen on " + impl.options.host);
    }
    impl.server.widen_listen_backlog();
    return port;
  }
  if (!impl.server.bind_to_port(impl.options.host, impl.options.port)) {
    throw Error(ErrorCode::unavailable, "cannot listen on " + impl.options.host + ":" +
                                            std::to_string(impl.options.port) +
                                            " (address in use, or not an address of this machine)");
  }
  impl.server.widen_listen_backlog();
  return impl.options.port;
}

void HttpServer::run() { m_impl->server.listen_after_bind(); }

void HttpServer::stop() { m_impl->server.stop(); }

MemoryService open_daemon_service(StoreConfig store, Metrics& metrics, ServiceOptions options) {
  store.long_lived = true;
  options.batch_read_audit = true;
  return MemoryService(instrument_store(open_store(store), metrics), options);
}

int serve_until_signalled(MemoryService& service, Metrics& metrics, const ServerOptions& options) {
  StopSignals stop_signals;
  HttpServer server(service, metrics, options);
  const int port = server.bind();
  const char* scheme = options.tls_cert_file.empty() ? "http" : "https";
  // One write: a line in pieces would interleave with what other threads
  // log meanwhile (the retention timer's first prune), and scripts read the
  // port from it.
  const std::string listening = std::string("zsimem: listening on ") + scheme + "://" + options.host + ":" +
                                std::to_string(port) + options.api_prefix + "\n";
  std::cerr << listening << std::flush;
  std::thread waiter([&] {
    if (const int signal = stop_signals.wait(); signal != 0) {
      spdlog::info("signal {}: finishing in-flight requests", signal);
      server.stop();
    }
  });
  server.run();
  stop_signals.wake(); // in case the server stopped for another reason
  waiter.join();
  spdlog::info("stopped");
  return 0;
}

} // namespace zsimem::daemon
