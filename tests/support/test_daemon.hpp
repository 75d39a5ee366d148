#pragma once

#include "http_server.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/metrics.hpp>

#include <httplib.h>

#include <string>
#include <string_view>
#include <thread>

namespace zsimem::testing {

// A real daemon on a free loopback port, serving a fresh store of one
// backend from a thread of the test process.
class TestDaemon {
public:
  // Port 0, 8 workers, a 64 KiB body limit and a 2 s read timeout, so that
  // limits and stalls show quickly.
  static daemon::ServerOptions default_options();

  explicit TestDaemon(std::string_view backend, daemon::ServerOptions options = default_options(),
                      ServiceOptions service_options = {});
  // Serves the store `store` names (one that other daemons may serve too).
  explicit TestDaemon(const StoreConfig& store, daemon::ServerOptions options = default_options(),
                      ServiceOptions service_options = {});
  ~TestDaemon();
  TestDaemon(const TestDaemon&) = delete;
  TestDaemon& operator=(const TestDaemon&) = delete;

  // A client of this daemon (connect timeout 2 s, read timeout 10 s).
  httplib::Client client() const;

  TempDir dir;
  std::string backend;
  Metrics metrics;
  MemoryService service;
  int port = 0;

private:
  daemon::HttpServer m_server;
  std::thread m_thread;
};

} // namespace zsimem::testing
