#pragma once

#include "request_framing.hpp"

#include <httplib.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace zsimem::daemon {

// Milliseconds for poll(): rounded up, so that a wait ends at or after its
// deadline; 0 for one passed.
int poll_timeout(std::chrono::steady_clock::duration left);

// One client connection as cpp-httplib reads and writes it, with the limits
// its own socket stream lacks. cpp-httplib's read timeout bounds each wait
// for bytes, so a client trickling a byte now and then (slowloris) holds a
// worker forever; here the request head must arrive whole within the read
// timeout, and the body at a minimum rate after that. Reads never go past
// the end of the body its headers announced, so a request cannot eat into
// the next one and the connection knows whether it is fit for another
// request; a chunked body is held to the body limit as it arrives.
class ConnectionStream final : public httplib::Stream {
public:
  struct Limits {
    // The longest wait for bytes, and the time the whole request head has.
    std::chrono::milliseconds read_timeout{10'000};
    // The longest wait for the client to take bytes of a response.
    std::chrono::milliseconds write_timeout{10'000};
    // Request line and headers together (a head over it is refused).
    std::size_t max_head_bytes = 1024 * 1024;
    // A body after its head has the read timeout, plus a second for every
    // `min_body_bytes_per_second` bytes read (0: no limit but the read
    // timeout of each wait).
    std::size_t min_body_bytes_per_second = 16 * 1024;
    // Payload of a chunked body (a declared Content-Length is checked
    // before reading, see check_framing).
    std::size_t max_body_bytes = 2 * 1024 * 1024;
  };

  // Why reading stopped for good.
  enum class Failure {
    none,
    closed,         // the client closed its side
    timeout,        // a wait, the head or the body took too long
    head_too_large, // over max_head_bytes
    body_too_large, // a chunked body over max_body_bytes
    malformed,      // a chunked body off the grammar
    error,          // the socket failed
  };

  // What carries the bytes in place of the socket's own recv and send: a TLS
  // session over it. The socket is then non-blocking and still the one the
  // stream polls; the transport only turns its bytes into the request's.
  class Transport {
  public:
    virtual ~Transport() = default;
    // As recv(2) on a non-blocking socket: -1 with errno EAGAIN means "poll
    // for input and call again" (a partial record, or one without data).
    virtual ssize_t receive(char* ptr, std::size_t size) = 0;
    // Whether received bytes are ready without the socket becoming readable.
    [[nodiscard]] virtual bool has_pending() const = 0;
    // Sends all of [ptr, ptr + size) within `timeout`: size, or -1.
    virtual ssize_t send(const char* ptr, std::size_t size, std::chrono::milliseconds timeout) = 0;
    // Tells the peer nothing more will be sent, if it can be done at once.
    virtual void end_sending() = 0;
  };

  // Takes over `fd` (closed by close() or the destructor). `wake_fd` becomes
  // readable when the server stops, to end the wait between requests.
  // `transport`, when given, must outlive the stream.
  ConnectionStream(int fd, Limits limits, int wake_fd, Transport* transport = nullptr);
  ~ConnectionStream() override;
  ConnectionStream(const ConnectionStream&) = delete;
  ConnectionStream& operator=(const ConnectionStream&) = delete;

  // Waits up to `idle` for the next request to start arriving; false when
  // the wait ended otherwise (the client closed, the server is stopping).
  bool wait_for_request(std::chrono::milliseconds idle);
  // Starts the clock on a request whose first bytes are here.
  void begin_request();
  // The head has been read: from now on reads deliver the body `framing`
  // describes and nothing past it.
  void begin_body(const BodyFraming& framing);
  // The head has been read, and the body is refused unread (it is answered
  // before routing): reads deliver nothing and the connection closes after
  // the response.
  void refuse_body();

  [[nodiscard]] Failure failure() const { return m_failure; }
  // True when the connection cannot carry another request: reading failed
  // or the current request was not read to its end.
  [[nodiscard]] bool must_close() const;
  // Sends what write() held back (a response head waiting for its body);
  // false when that fails. Call once a response is written.
  bool flush();
  // Closes the socket. When bytes of the client may still be on their way
  // (a response sent before its request's body was read), first sends FIN
  // and reads for up to `linger`, so that the close does not become a reset
  // that destroys the response before the client has read it.
  void close(std::chrono::milliseconds linger = std::chrono::milliseconds(1000));

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, std::size_t size) override;
  ssize_t write(const char* ptr, std::size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return m_fd; }

private:
  enum class Phase { idle, head, body };
  using Clock = std::chrono::steady_clock;

  // Takes up to `size` bytes from the buffer, receiving when it is empty.
  ssize_t take(char* ptr, std::size_t size);
  // Receives into the empty buffer; false (with m_failure set) on failure.
  bool receive();
  // Until when the current phase may wait for bytes.
  [[nodiscard]] std::optional<Clock::time_point> deadline() const;
  [[nodiscard]] bool request_complete() const;
  ssize_t fail(Failure failure);
  // One end's address (`peer`: the client's), looked up into `cache` once.
  void cached_address(std::optional<std::pair<std::string, int>>& cache, bool peer, std::string& ip, int& port) const;
  // Sends [ptr, ptr + size) after the held head, in one system call.
  ssize_t send_with_held(const char* ptr, std::size_t size);

  int m_fd;
  int m_wake_fd;
  Transport* m_transport; // nullptr: the socket's own recv and send
  Limits m_limits;
  Phase m_phase = Phase::idle;
  Failure m_failure = Failure::none;
  bool m_body_refused = false;
  Clock::time_point m_phase_start{};
  std::size_t m_head_bytes = 0;
  BodyFraming m_framing{};
  std::uint64_t m_length_left = 0;             // of a Content-Length body
  std::optional<ChunkedBodyScanner> m_chunked; // of a chunked body
  std::uint64_t m_body_bytes = 0;              // read since the head
  std::array<char, 16 * 1024> m_buffer{};
  std::size_t m_buffer_start = 0;
  std::size_t m_buffer_end = 0;
  // A response head announcing a body, held back to go out with the body
  // in one segment (see write()).
  std::string m_held;
  // Whether the current response's first write checked the client can
  // take it (is_writable); the writes after it rely on the send timeout.
  bool m_response_checked = false;
  // The addresses of the socket's ends, looked up once.
  mutable std::optional<std::pair<std::string, int>> m_remote;
  mutable std::optional<std::pair<std::string, int>> m_local;
};

} // namespace zsimem::daemon
