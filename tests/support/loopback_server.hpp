#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace httplib {
class Server;
}

namespace zsimem::testing {

// An HTTP server on 127.0.0.1 for one test (a webhook receiver, a stand-in
// for a cloud API): `routes` registers its handlers; it serves from a
// thread of its own until destroyed. Port 0: any free port.
class LoopbackServer {
public:
  explicit LoopbackServer(const std::function<void(httplib::Server&)>& routes, int port = 0);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  int port() const { return m_port; }
  // "http://127.0.0.1:PORT" followed by `path`.
  std::string url(std::string_view path = {}) const;

private:
  std::unique_ptr<httplib::Server> m_server;
  int m_port = 0;
  std::thread m_thread;
};

} // namespace zsimem::testing
