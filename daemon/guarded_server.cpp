#include "guarded_server.hpp"

#include "http_errors.hpp"
#include "thread_pool.hpp"

#include <zsimem/memory_service.hpp>

#include <cstdint>
#include <optional>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace zsimem::daemon {
namespace {

// Threads beyond max_connections, for answering the connections over it.
constexpr std::size_t k_refusal_threads = 8;
// How long a refused connection is read after the 503: short, as refusing
// happens under load.
constexpr std::chrono::milliseconds k_refusal_linger{200};
// How long a refused connection's TLS handshake may take: long enough for a
// client on a busy machine, short enough not to hold a refusing thread.
constexpr std::chrono::milliseconds k_refusal_handshake{1000};

thread_local ConnectionStream* t_connection = nullptr;

// Makes `stream` the calling thread's current connection while it lives.
class CurrentConnection {
public:
  explicit CurrentConnection(ConnectionStream& stream) { t_connection = &stream; }
  ~CurrentConnection() { t_connection = nullptr; }
  CurrentConnection(const CurrentConnection&) = delete;
  CurrentConnection& operator=(const CurrentConnection&) = delete;
};

// cpp-httplib's task queue over the growing pool.
class PoolQueue final : public httplib::TaskQueue {
public:
  PoolQueue(std::size_t min_threads, std::size_t max_threads, std::chrono::milliseconds idle_timeout)
      : m_pool(min_threads, max_threads, idle_timeout) {}
  void enqueue(std::function<void()> fn) override { m_pool.enqueue(std::move(fn)); }
  void shutdown() override { m_pool.shutdown(); }

private:
  GrowingThreadPool m_pool;
};

} // namespace

GuardedServer::GuardedServer(Limits limits, std::shared_ptr<const TlsServerContext> tls)
    : m_limits(limits), m_tls(std::move(tls)), m_wake_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  new_task_queue = [this] {
    return new PoolQueue(m_limits.min_threads, m_limits.max_connections + k_refusal_threads,
                         m_limits.idle_thread_timeout);
  };
  // Every response passes here last, after httplib has chosen its
  // Connection and Keep-Alive headers.
  set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    if (t_connection != nullptr && t_connection->must_close()) {
      res.set_header("Connection", "close");
      res.headers.erase("Keep-Alive");
    }
  });
}

GuardedServer::~GuardedServer() {
  if (m_wake_fd >= 0) {
    ::close(m_wake_fd);
  }
}

ConnectionStream* GuardedServer::current_connection() { return t_connection; }

void GuardedServer::widen_listen_backlog() {
  if (svr_sock_ != INVALID_SOCKET) {
    ::listen(svr_sock_, SOMAXCONN);
  }
}

void GuardedServer::stop() {
  if (m_wake_fd >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(m_wake_fd, &one, sizeof one);
  }
  httplib::Server::stop();
}

void GuardedServer::begin_body(ConnectionStream& stream, httplib::Request& req) const {
  const FramingCheck check = check_framing(req, m_limits.connection.max_body_bytes);
  if (check.refusal) {
    stream.refuse_body(); // answered before routing
    return;
  }
  if (check.framing.kind == BodyFraming::Kind::none &&
      (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
    // No framing means no body (RFC 9112 6.3); httplib would read to EOF.
    req.set_header("Content-Length", "0");
  }
  stream.begin_body(check.framing);
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  struct Count {
    std::atomic<std::size_t>& active;
    std::size_t now = ++active;
    ~Count() { --active; }
  } count{m_active};
  const bool over_limit = count.now > m_limits.max_connections;
  std::optional<TlsTransport> tls;
  if (m_tls) {
    tls.emplace(*m_tls, sock, m_limits.connection.write_timeout);
  }
  ConnectionStream stream(sock, m_limits.connection, m_wake_fd, tls ? &*tls : nullptr);
  if (tls && !tls->accept(over_limit ? k_refusal_handshake : m_limits.connection.read_timeout, m_wake_fd)) {
    stream.close(std::chrono::milliseconds(0));
    return false;
  }
  if (over_limit) {
    refuse(stream);
    return false;
  }
  const CurrentConnection current(stream);
  bool ok = true;
  const std::chrono::milliseconds idle = std::chrono::seconds(keep_alive_timeout_sec_);
  for (std::size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    if (!stream.wait_for_request(idle)) {
      break;
    }
    stream.begin_request();
    bool connection_closed = false;
    ok = process_request(stream, left == 1, connection_closed,
                         [this, &stream](httplib::Request& req) { begin_body(stream, req); });
    ok = stream.flush() && ok;
    if (!ok || connection_closed || stream.must_close()) {
      break;
    }
  }
  stream.close();
  return ok;
}

void GuardedServer::refuse(ConnectionStream& stream) {
  const std::string body = detail_body("too many connections; retry later").dump();
  std::string response = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n";
  response += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  response += "Connection: close\r\nRetry-After: 1\r\n";
  response += "X-Request-ID: " + new_request_id() + "\r\n\r\n";
  response += body;
  if (m_on_refusal) {
    m_on_refusal();
  }
  // Whatever request the client sent stays unread: closing lingers for it.
  stream.begin_request();
  stream.write(response.data(), response.size());
  stream.close(k_refusal_linger);
}

} // namespace zsimem::daemon
