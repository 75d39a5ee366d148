#include "daemon_commands.hpp"
#include "http_server.hpp"
#include "retention_timer.hpp"
#include "session.hpp"

#include <zsimem/config.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hook_worker.hpp>
#include <zsimem/identity.hpp>
#include <zsimem/metrics.hpp>
#include <zsimem/policy.hpp>
#include <zsimem/retention.hpp>
#include <zsimem/time.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <charconv>
#include <chrono>
#include <csignal>
#include <netinet/in.h>
#include <optional>
#include <pthread.h>

namespace zsimem::cli {

namespace {

// Whether a listening address is reachable from this machine only.
// Only addresses, and the name localhost: another name could resolve to
// anything when the server binds.
bool is_loopback(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) != 0 || (IN6_IS_ADDR_V4MAPPED(&v6) != 0 && v6.s6_addr[12] == 127);
  }
  return host == "localhost";
}

} // namespace

int run_serve(Session& session, const ServeArgs& args) {
  daemon::ServerOptions options;
  const auto colon = args.listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    const char* begin = args.listen.data() + colon + 1;
    const char* end = args.listen.data() + args.listen.size();
    const auto [ptr, ec] = std::from_chars(begin, end, port);
    if (ec != std::errc{} || ptr != end || begin == end) {
      port = -1;
    }
  }
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535) {
    throw Error(ErrorCode::invalid, "--listen: '" + args.listen + "' is not HOST:PORT (such as 127.0.0.1:8080)",
                "--listen");
  }
  options.host = args.listen.substr(0, colon);
  if (options.host.size() > 2 && options.host.front() == '[' && options.host.back() == ']') {
    options.host = options.host.substr(1, options.host.size() - 2); // [::1]:8080
  }
  options.port = port;
  if (args.api_prefix.empty() || args.api_prefix.front() != '/' || args.api_prefix.back() == '/') {
    throw Error(ErrorCode::invalid, "--api-prefix: '" + args.api_prefix + "' must start with '/' and not end with one",
                "--api-prefix");
  }
  options.api_prefix = args.api_prefix;
  options.threads = args.threads;
  options.max_connections = args.max_connections;
  options.json_logs = args.log_format == "json";
  options.tls_cert_file = args.tls_cert;
  options.tls_key_file = args.tls_key;
  // Read before anything starts: a bad file or interval stops the daemon.
  std::optional<RetentionConfig> retention;
  std::chrono::microseconds prune_interval{};
  if (!args.retention.empty()) {
    retention = RetentionConfig::load(args.retention);
    prune_interval = parse_duration(args.prune_interval, "--prune-interval");
  }
  if (!args.hooks.empty()) {
    options.hooks = std::make_shared<const HooksConfig>(HooksConfig::load(args.hooks));
  }
  ServiceOptions service_options = session.service_options();
  if (service_options.policy) {
    options.authenticator = std::make_shared<const Authenticator>(service_options.policy->identity());
  } else if (!is_loopback(options.host) && !args.insecure) {
    throw Error(ErrorCode::invalid,
                "--listen: refusing to serve " + options.host +
                    " without a policy: anyone who can reach it could read and write every context. Give --policy "
                    "(docs/security.md), listen on 127.0.0.1, or pass --insecure",
                "--listen");
  }
  // The store's threads inherit the stop signals blocked: serve_until_signalled
  // hands them to one thread of its own.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  Metrics metrics;
  MemoryService service = daemon::open_daemon_service(session.store_config(), metrics, std::move(service_options));
  // Other daemons' writes wake this one's event streams (postgres); other
  // backends' streams poll.
  service.relay_other_writers();
  options.max_body_bytes = service.options().max_delta_bytes * 2 + 64 * 1024;
  // The access log goes to standard error, beside the daemon's other messages.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("zsimemd"));
  spdlog::set_pattern(options.json_logs ? "%v" : "%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  std::optional<daemon::RetentionTimer> pruning;
  if (retention && !service.options().features.retention) {
    spdlog::warn("retention: --retention is ignored: the retention feature is switched off");
  } else if (retention) {
    pruning.emplace(service, std::move(*retention), prune_interval);
  }
  std::optional<HookWorker> hooks;
  if (options.hooks && !service.options().features.hooks) {
    spdlog::warn("hooks: --hooks is ignored: the hooks feature is switched off; versions wait in the history");
  } else if (options.hooks) {
    HookWorkerOptions worker_options;
    worker_options.on_problem = [](const std::string& message) { spdlog::warn("{}", message); };
    worker_options.metrics = &metrics;
    worker_options.nice = 10; // requests first: a write never waits for a delivery, nor for its CPU
    hooks.emplace(service, *options.hooks, std::move(worker_options));
    hooks->start();
    spdlog::info("hooks: delivering to {} hooks", options.hooks->hooks.size());
  }
  return daemon::serve_until_signalled(service, metrics, options);
}

} // namespace zsimem::cli
