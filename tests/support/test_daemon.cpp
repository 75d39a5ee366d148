#include "support/test_daemon.hpp"

#include <spdlog/spdlog.h>

namespace zsimem::testing {

daemon::ServerOptions TestDaemon::default_options() {
  daemon::ServerOptions options;
  options.port = 0;
  options.threads = 8;
  options.max_body_bytes = 64 * 1024;
  options.read_timeout_seconds = 2;
  return options;
}

namespace {

// The store, with its files in `dir` unless it names a data directory.
StoreConfig in_dir(StoreConfig store, const TempDir& dir) {
  if (store.data_dir.empty()) {
    store.data_dir = dir.path();
  }
  return store;
}

} // namespace

TestDaemon::TestDaemon(std::string_view name, daemon::ServerOptions options, ServiceOptions service_options)
    : TestDaemon(StoreConfig{std::string(name), {}}, std::move(options), std::move(service_options)) {}

TestDaemon::TestDaemon(const StoreConfig& store, daemon::ServerOptions options, ServiceOptions service_options)
    : backend(store.backend),
      service(daemon::open_daemon_service(in_dir(store, dir), metrics, std::move(service_options))),
      m_server(service, metrics, std::move(options)) {
  spdlog::set_level(spdlog::level::warn); // keep the access log out of test output
  service.relay_other_writers();
  port = m_server.bind();
  m_thread = std::thread([this] { m_server.run(); });
}

TestDaemon::~TestDaemon() {
  m_server.stop();
  m_thread.join();
}

httplib::Client TestDaemon::client() const {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(10, 0);
  return client;
}

} // namespace zsimem::testing
