#include "connection_stream.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <poll.h>
#include <string_view>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace zsimem::daemon {

int poll_timeout(std::chrono::steady_clock::duration left) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::clamp<decltype(ms)>(ms, 0, 24 * 60 * 60 * 1000));
}

namespace {

using std::chrono::milliseconds;

// Waits for `events` on `fd`; 1 ready, 0 timed out, -1 failed.
int wait_for(int fd, short events, std::chrono::steady_clock::duration timeout) {
  for (;;) {
    pollfd poll_fd{fd, events, 0};
    const int ready = ::poll(&poll_fd, 1, poll_timeout(timeout));
    if (ready >= 0 || errno != EINTR) {
      return ready > 0 ? 1 : ready;
    }
  }
}

// Whether `bytes` are a whole response head whose Content-Length announces
// a body (cpp-httplib spells the header so).
bool announces_body(std::string_view bytes) {
  if (!bytes.starts_with("HTTP/1.1 ") || !bytes.ends_with("\r\n\r\n")) {
    return false;
  }
  constexpr std::string_view k_length = "\r\nContent-Length: ";
  const auto at = bytes.find(k_length);
  if (at == std::string_view::npos) {
    return false;
  }
  const auto value = bytes.substr(at + k_length.size());
  return !value.empty() && value.front() >= '1' && value.front() <= '9';
}

void ip_and_port(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t size = sizeof address;
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if ((peer ? ::getpeername(fd, generic, &size) : ::getsockname(fd, generic, &size)) != 0) {
    return;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  } else {
    return;
  }
  ip = text;
}

} // namespace

ConnectionStream::ConnectionStream(int fd, Limits limits, int wake_fd, Transport* transport)
    : m_fd(fd), m_wake_fd(wake_fd), m_transport(transport), m_limits(limits) {}

ConnectionStream::~ConnectionStream() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

bool ConnectionStream::wait_for_request(milliseconds idle) {
  m_phase = Phase::idle;
  if (m_failure != Failure::none) {
    return false;
  }
  if (m_buffer_start < m_buffer_end || (m_transport != nullptr && m_transport->has_pending())) {
    return true; // the client sent it with the previous one
  }
  const auto until = Clock::now() + idle;
  for (;;) {
    const auto left = until - Clock::now();
    if (left <= Clock::duration::zero()) {
      return false;
    }
    std::array<pollfd, 2> fds{{{m_fd, POLLIN, 0}, {m_wake_fd, POLLIN, 0}}};
    const int ready = ::poll(fds.data(), m_wake_fd >= 0 ? 2 : 1, poll_timeout(left));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    // Bytes, or a close that reading the request will find.
    return ready > 0 && fds[1].revents == 0 && fds[0].revents != 0;
  }
}

void ConnectionStream::begin_request() {
  m_response_checked = false;
  m_phase = Phase::head;
  m_phase_start = Clock::now();
  m_head_bytes = 0;
  m_framing = {};
  m_length_left = 0;
  m_chunked.reset();
  m_body_bytes = 0;
  m_body_refused = false;
}

void ConnectionStream::refuse_body() {
  begin_body({});
  m_body_refused = true;
}

void ConnectionStream::begin_body(const BodyFraming& framing) {
  m_phase = Phase::body;
  m_phase_start = Clock::now();
  m_framing = framing;
  if (framing.kind == BodyFraming::Kind::length) {
    m_length_left = framing.length;
  } else if (framing.kind == BodyFraming::Kind::chunked) {
    m_chunked.emplace(m_limits.max_body_bytes);
  }
}

bool ConnectionStream::request_complete() const {
  if (m_phase != Phase::body || m_body_refused) {
    return false;
  }
  switch (m_framing.kind) {
  case BodyFraming::Kind::none: return true;
  case BodyFraming::Kind::length: return m_length_left == 0;
  case BodyFraming::Kind::chunked: return m_chunked->verdict() == ChunkedBodyScanner::Verdict::done;
  }
  return false;
}

bool ConnectionStream::must_close() const { return m_failure != Failure::none || !request_complete(); }

void ConnectionStream::close(milliseconds linger) {
  if (m_fd < 0) {
    return;
  }
  const bool client_may_be_sending = m_phase != Phase::idle && !request_complete() && m_failure != Failure::closed &&
                                     m_failure != Failure::timeout && m_failure != Failure::error;
  if (m_transport != nullptr) {
    m_transport->end_sending();
  }
  if (client_may_be_sending && ::shutdown(m_fd, SHUT_WR) == 0) {
    const auto until = Clock::now() + linger;
    while (wait_for(m_fd, POLLIN, until - Clock::now()) > 0 && ::recv(m_fd, m_buffer.data(), m_buffer.size(), 0) > 0) {
    }
  }
  ::shutdown(m_fd, SHUT_RDWR);
  ::close(m_fd);
  m_fd = -1;
}

std::optional<ConnectionStream::Clock::time_point> ConnectionStream::deadline() const {
  switch (m_phase) {
  case Phase::head: return m_phase_start + m_limits.read_timeout;
  case Phase::body:
    if (m_limits.min_body_bytes_per_second == 0) {
      return std::nullopt;
    }
    return m_phase_start + m_limits.read_timeout +
           milliseconds(m_body_bytes * 1000 / m_limits.min_body_bytes_per_second);
  case Phase::idle: return std::nullopt;
  }
  return std::nullopt;
}

ssize_t ConnectionStream::fail(Failure failure) {
  m_failure = failure;
  return -1;
}

bool ConnectionStream::receive() {
  // The bytes are usually here already (the client sent the request whole,
  // or the wait between requests saw them): poll only when they are not.
  bool poll_first = m_transport != nullptr;
  for (;;) {
    auto wait = std::chrono::duration_cast<Clock::duration>(m_limits.read_timeout);
    if (const auto until = deadline()) {
      wait = std::min(wait, *until - Clock::now());
      if (wait <= Clock::duration::zero()) {
        m_failure = Failure::timeout;
        return false;
      }
    }
    if (poll_first) {
      const bool pending = m_transport != nullptr && m_transport->has_pending();
      const int ready = pending ? 1 : wait_for(m_fd, POLLIN, wait);
      if (ready <= 0) {
        m_failure = ready == 0 ? Failure::timeout : Failure::error;
        return false;
      }
    }
    poll_first = true;
    const ssize_t got = m_transport != nullptr ? m_transport->receive(m_buffer.data(), m_buffer.size())
                                               : ::recv(m_fd, m_buffer.data(), m_buffer.size(), MSG_DONTWAIT);
    if (got > 0) {
      m_buffer_start = 0;
      m_buffer_end = static_cast<std::size_t>(got);
      return true;
    }
    if (got == 0) {
      m_failure = Failure::closed;
      return false;
    }
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      m_failure = Failure::error;
      return false;
    }
  }
}

ssize_t ConnectionStream::take(char* ptr, std::size_t size) {
  if (m_buffer_start == m_buffer_end && !receive()) {
    return m_failure == Failure::closed ? 0 : -1;
  }
  const std::size_t n = std::min(size, m_buffer_end - m_buffer_start);
  std::copy_n(m_buffer.data() + m_buffer_start, n, ptr);
  m_buffer_start += n;
  return static_cast<ssize_t>(n);
}

ssize_t ConnectionStream::read(char* ptr, std::size_t size) {
  if (m_failure != Failure::none) {
    return m_failure == Failure::closed ? 0 : -1;
  }
  switch (m_phase) {
  case Phase::idle: return 0; // nothing is read between requests
  case Phase::head: {
    const ssize_t n = take(ptr, size);
    if (n > 0) {
      m_head_bytes += static_cast<std::size_t>(n);
      if (m_head_bytes > m_limits.max_head_bytes) {
        return fail(Failure::head_too_large);
      }
    }
    return n;
  }
  case Phase::body: break;
  }
  switch (m_framing.kind) {
  case BodyFraming::Kind::none: return 0;
  case BodyFraming::Kind::length: {
    if (m_length_left == 0) {
      return 0;
    }
    const ssize_t n = take(ptr, static_cast<std::size_t>(std::min<std::uint64_t>(size, m_length_left)));
    if (n > 0) {
      m_length_left -= static_cast<std::uint64_t>(n);
      m_body_bytes += static_cast<std::uint64_t>(n);
    }
    return n;
  }
  case BodyFraming::Kind::chunked: {
    const std::size_t wanted = m_chunked->readable(size);
    if (wanted == 0) {
      return 0; // the end: what follows is the next request
    }
    const ssize_t n = take(ptr, wanted);
    if (n > 0) {
      m_body_bytes += static_cast<std::uint64_t>(n);
      switch (m_chunked->scan(ptr, static_cast<std::size_t>(n))) {
      case ChunkedBodyScanner::Verdict::malformed: return fail(Failure::malformed);
      case ChunkedBodyScanner::Verdict::too_large: return fail(Failure::body_too_large);
      default: break;
      }
    }
    return n;
  }
  }
  return -1;
}

bool ConnectionStream::is_readable() const {
  return m_buffer_start < m_buffer_end || (m_transport != nullptr && m_transport->has_pending()) ||
         wait_for(m_fd, POLLIN, m_limits.read_timeout) > 0;
}

bool ConnectionStream::is_writable() const {
  if (wait_for(m_fd, POLLOUT, m_limits.write_timeout) <= 0) {
    return false;
  }
  // A client that has closed (or half-closed) its side gets nothing more.
  if (wait_for(m_fd, POLLIN, Clock::duration::zero()) == 0) {
    return true;
  }
  char byte = 0;
  return ::recv(m_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

ssize_t ConnectionStream::write(const char* ptr, std::size_t size) {
  if (!m_response_checked) {
    if (!is_writable()) {
      return -1;
    }
    m_response_checked = true;
    // cpp-httplib writes a response's head, then its body: a head that
    // announces a body waits for it, so that both leave in one segment
    // (the peer is woken once, not twice). flush() sends a head whose body
    // never comes (a HEAD request's).
    if (m_transport == nullptr && announces_body({ptr, size})) {
      m_held.assign(ptr, size);
      return static_cast<ssize_t>(size);
    }
  }
  if (!m_held.empty()) {
    return send_with_held(ptr, size);
  }
  if (m_transport != nullptr) {
    return m_transport->send(ptr, size, m_limits.write_timeout);
  }
  for (;;) {
    const ssize_t sent = ::send(m_fd, ptr, size, MSG_NOSIGNAL);
    if (sent >= 0 || errno != EINTR) {
      return sent;
    }
  }
}

ssize_t ConnectionStream::send_with_held(const char* ptr, std::size_t size) {
  std::array<iovec, 2> parts{{{m_held.data(), m_held.size()}, {const_cast<char*>(ptr), size}}};
  std::size_t part = 0;
  const std::size_t total = m_held.size() + size;
  std::size_t sent_total = 0;
  // sendmsg may send part of it (a send timeout, a signal): go on from there.
  while (sent_total < total) {
    msghdr message{};
    message.msg_iov = parts.data() + part;
    message.msg_iovlen = parts.size() - part;
    const ssize_t sent = ::sendmsg(m_fd, &message, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) {
        continue;
      }
      m_held.clear();
      return -1;
    }
    sent_total += static_cast<std::size_t>(sent);
    for (auto left = static_cast<std::size_t>(sent); left > 0 && part < parts.size();) {
      const std::size_t used = std::min(left, parts[part].iov_len);
      parts[part].iov_base = static_cast<char*>(parts[part].iov_base) + used;
      parts[part].iov_len -= used;
      left -= used;
      if (parts[part].iov_len == 0) {
        ++part;
      }
    }
  }
  m_held.clear();
  return static_cast<ssize_t>(size);
}

bool ConnectionStream::flush() {
  if (m_held.empty()) {
    return true;
  }
  return send_with_held(nullptr, 0) >= 0;
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  cached_address(m_remote, true, ip, port);
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  cached_address(m_local, false, ip, port);
}

void ConnectionStream::cached_address(std::optional<std::pair<std::string, int>>& cache, bool peer, std::string& ip,
                                      int& port) const {
  if (!cache) {
    cache.emplace();
    ip_and_port(m_fd, peer, cache->first, cache->second);
  }
  ip = cache->first;
  port = cache->second;
}

} // namespace zsimem::daemon
