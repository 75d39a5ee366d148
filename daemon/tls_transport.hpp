#pragma once

#include "connection_stream.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <openssl/ssl.h>
#include <string>

namespace zsimem::daemon {

// The daemon's side of TLS: its certificate (with any intermediates) and
// private key, TLS 1.2 or newer, and for TLS 1.2 only forward-secret AEAD
// ciphers; no compression, no renegotiation.
class TlsServerContext {
public:
  // Loads the PEM files. Error{invalid}, naming --tls-cert or --tls-key,
  // when a file cannot be read, holds no certificate or no unencrypted key,
  // or the key is not the certificate's.
  TlsServerContext(const std::string& cert_file, const std::string& key_file);

  [[nodiscard]] SSL_CTX* get() const { return m_ctx.get(); }

private:
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> m_ctx;
};

// One connection's TLS session, as the transport of its ConnectionStream:
// the stream keeps its deadlines and limits, and polls the socket (made
// non-blocking here), so a client trickling records is held to them too.
class TlsTransport final : public ConnectionStream::Transport {
public:
  // A session on `fd`, which the caller still owns. `wait_limit` bounds a
  // wait to send that reading requires (a TLS 1.3 key update's answer).
  TlsTransport(const TlsServerContext& context, int fd, std::chrono::milliseconds wait_limit);
  ~TlsTransport() override = default;
  TlsTransport(const TlsTransport&) = delete; // the session reads m_fd where it is
  TlsTransport& operator=(const TlsTransport&) = delete;

  // Runs the server's side of the handshake: false when it failed, did not
  // end within `timeout`, or `wake_fd` became readable (the server stops).
  bool accept(std::chrono::milliseconds timeout, int wake_fd);

  ssize_t receive(char* ptr, std::size_t size) override;
  [[nodiscard]] bool has_pending() const override;
  ssize_t send(const char* ptr, std::size_t size, std::chrono::milliseconds timeout) override;
  void end_sending() override;

private:
  using Clock = std::chrono::steady_clock;

  // Waits until the socket is ready for what the failed call `result` asks
  // (and `wake_fd`, if any, is not): false on a fatal error or at `until`.
  bool wait_to_retry(int result, Clock::time_point until, int wake_fd = -1);

  std::unique_ptr<SSL, decltype(&SSL_free)> m_ssl;
  int m_fd;
  std::chrono::milliseconds m_wait_limit;
  // From the handshake until a fatal error or end_sending: after those,
  // nothing more may be sent or read.
  bool m_open = false;
};

} // namespace zsimem::daemon
