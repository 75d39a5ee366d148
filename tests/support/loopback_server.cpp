#include "support/loopback_server.hpp"

#include <httplib.h>

#include <chrono>
#include <stdexcept>

namespace zsimem::testing {

LoopbackServer::LoopbackServer(const std::function<void(httplib::Server&)>& routes, int port)
    : m_server(std::make_unique<httplib::Server>()) {
  routes(*m_server);
  m_port =
      port == 0 ? m_server->bind_to_any_port("127.0.0.1") : (m_server->bind_to_port("127.0.0.1", port) ? port : -1);
  if (m_port <= 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port));
  }
  m_thread = std::thread([this] { m_server->listen_after_bind(); });
  while (!m_server->is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

LoopbackServer::~LoopbackServer() {
  m_server->stop();
  m_thread.join();
}

std::string LoopbackServer::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(m_port) + std::string(path);
}

} // namespace zsimem::testing
