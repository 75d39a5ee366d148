#include "http_server.hpp"

#include "http_errors.hpp"
#include "routes.hpp"

#include <zsimem/error.hpp>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <pthread.h>
#include <thread>

namespace zsimem::daemon {
namespace {

// When this thread started on the current request, for the access log.
thread_local std::chrono::steady_clock::time_point t_request_start;

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
  case 413: return "Request Entity Too Large";
  case 414: return "URI Too Long";
  default: return "Error";
  }
}

} // namespace

struct HttpServer::Impl {
  Impl(MemoryService& s, Metrics& m, ServerOptions o) : service(s), metrics(m), options(std::move(o)) {}

  MemoryService& service;
  Metrics& metrics;
  ServerOptions options;
  httplib::Server server;
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
  const std::size_t threads = std::max<std::size_t>(1, opts.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_request_start = std::chrono::steady_clock::now();
    current_route() = "unmatched";
    // Every response and log line carries the request id, even a 404's.
    res.set_header("X-Request-ID", request_id_of(req));
    return refuse_encoded_slash(req, res, m_impl->options) ? httplib::Server::HandlerResponse::Handled
                                                           : httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib raises itself (no route, body too large) get FastAPI's shape.
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(detail_body(reason(res.status)).dump(), "application/json");
    }
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
    return port;
  }
  if (!impl.server.bind_to_port(impl.options.host, impl.options.port)) {
    throw Error(ErrorCode::unavailable, "cannot listen on " + impl.options.host + ":" +
                                            std::to_string(impl.options.port) +
                                            " (address in use, or not an address of this machine)");
  }
  return impl.options.port;
}

void HttpServer::run() { m_impl->server.listen_after_bind(); }

void HttpServer::stop() { m_impl->server.stop(); }

int serve_until_signalled(MemoryService& service, Metrics& metrics, const ServerOptions& options) {
  // Block the stop signals in every thread; one thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  HttpServer server(service, metrics, options);
  const int port = server.bind();
  std::cerr << "zsimem: listening on http://" << options.host << ":" << port << options.api_prefix << std::endl;
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    spdlog::info("signal {}: finishing in-flight requests", signal);
    server.stop();
  });
  server.run();
  // Wake the waiter if the server stopped for another reason.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  spdlog::info("stopped");
  return 0;
}

} // namespace zsimem::daemon
