#pragma once

#include "connection_stream.hpp"
#include "tls_transport.hpp"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace zsimem::daemon {

// cpp-httplib's server with each connection served over a ConnectionStream
// (deadlines for the request head and body, reads held to the framing the
// headers announce) by a pool that grows with the connections, up to a
// limit beyond which a connection is answered 503 and closed. A connection
// closes after any response to a request that was not read to its end,
// with `Connection: close` on that response (this class owns the
// post-routing handler for it). With a TLS context every connection is TLS:
// its handshake has the read timeout, and its records then pass through
// the same stream, under the same limits.
class GuardedServer : public httplib::Server {
public:
  struct Limits {
    ConnectionStream::Limits connection;
    // Connections served at once, each on its own thread; more get 503.
    std::size_t max_connections = 512;
    // Threads kept ready when idle.
    std::size_t min_threads = 16;
    // Threads above min_threads exit after this long without work.
    std::chrono::milliseconds idle_thread_timeout{30'000};
  };

  // `tls`: serve HTTPS with it; nullptr: plain HTTP.
  explicit GuardedServer(Limits limits, std::shared_ptr<const TlsServerContext> tls = nullptr);
  ~GuardedServer() override;
  GuardedServer(const GuardedServer&) = delete;
  GuardedServer& operator=(const GuardedServer&) = delete;

  // The connection being served by the calling thread, or nullptr outside
  // of one; for handlers that must close it or ask why reading failed.
  static ConnectionStream* current_connection();

  // Called (on a worker thread) for each connection refused for the limit.
  void set_refusal_observer(std::function<void()> observer) { m_on_refusal = std::move(observer); }
  // Once bound: lets the kernel queue more than cpp-httplib's 5 connections
  // while the accepting thread is busy.
  void widen_listen_backlog();
  // Stops accepting, ends the waits of idle keep-alive connections and lets
  // requests in flight finish (httplib::Server::stop, which is not virtual,
  // plus the wake-up). A stopped server is not started again.
  void stop();

  // Connections being served now (including those being refused).
  [[nodiscard]] std::size_t active_connections() const { return m_active; }

private:
  bool process_and_close_socket(socket_t sock) override;
  // Answers 503 on a connection over the limit and closes it.
  void refuse(ConnectionStream& stream);
  // Once the head is read: where the body ends, for the stream.
  void begin_body(ConnectionStream& stream, httplib::Request& req) const;

  Limits m_limits;
  std::shared_ptr<const TlsServerContext> m_tls;
  int m_wake_fd;
  std::atomic<std::size_t> m_active{0};
  std::function<void()> m_on_refusal;
};

} // namespace zsimem::daemon
