#include "tls_transport.hpp"

#include <zsimem/error.hpp>

#include <climits>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <poll.h>
#include <sys/socket.h>

namespace zsimem::daemon {
namespace {

// TLS 1.2's ciphers: ECDHE key exchange (forward secrecy) with an AEAD.
// TLS 1.3's suites are all of that kind already.
constexpr const char* k_tls12_ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";

// The reason of this thread's last OpenSSL error, clearing the queue.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  const char* reason = code == 0 ? nullptr : ERR_reason_error_string(code);
  return reason != nullptr ? reason : "unknown error";
}

Error file_error(const std::string& option, const std::string& file, const std::string& what) {
  return {ErrorCode::invalid, option + ": '" + file + "' " + what, option};
}

// Opens `file` for reading, or says why it cannot be read.
std::unique_ptr<std::FILE, decltype(&std::fclose)> open_for_option(const std::string& option, const std::string& file) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> opened(std::fopen(file.c_str(), "re"), &std::fclose);
  if (!opened) {
    throw file_error(option, file, std::string("cannot be read: ") + std::strerror(errno));
  }
  return opened;
}

// A key's passphrase is never asked for: a daemon has no one to ask.
int no_passphrase(char* /*buffer*/, int /*size*/, int /*writing*/, void* /*data*/) { return 0; }

// A socket BIO whose writes never raise SIGPIPE (OpenSSL's own uses write(2)
// on the socket, which does when the client has gone).
int socket_of(BIO* bio) { return *static_cast<const int*>(BIO_get_data(bio)); }

bool should_retry() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t sent = ::send(socket_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (sent < 0 && should_retry()) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(sent);
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t got = ::recv(socket_of(bio), data, static_cast<std::size_t>(size), 0);
  if (got < 0 && should_retry()) {
    BIO_set_retry_read(bio);
  }
  return static_cast<int>(got);
}

long bio_ctrl(BIO* /*bio*/, int command, long /*number*/, void* /*pointer*/) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

const BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* created = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "zsimem socket");
    if (created != nullptr) {
      BIO_meth_set_write(created, bio_write);
      BIO_meth_set_read(created, bio_read);
      BIO_meth_set_ctrl(created, bio_ctrl);
    }
    return created;
  }();
  return method;
}

} // namespace

TlsServerContext::TlsServerContext(const std::string& cert_file, const std::string& key_file)
    : m_ctx(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free) {
  if (!m_ctx) {
    throw Error(ErrorCode::internal, "cannot set up TLS: " + openssl_reason());
  }
  SSL_CTX* ctx = m_ctx.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A client that closes without close_notify ends the connection like a
  // FIN would; HTTP frames its messages itself, so nothing is truncated
  // unnoticed.
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_set_cipher_list(ctx, k_tls12_ciphers) != 1) {
    throw Error(ErrorCode::internal, "cannot set up TLS: " + openssl_reason());
  }

  open_for_option("--tls-cert", cert_file); // OpenSSL would not say why it cannot be read
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    throw file_error("--tls-cert", cert_file, "holds no usable certificate in PEM form (" + openssl_reason() + ")");
  }
  const auto key_stream = open_for_option("--tls-key", key_file);
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_PrivateKey(key_stream.get(), nullptr, no_passphrase, nullptr), &EVP_PKEY_free);
  if (!key) {
    throw file_error("--tls-key", key_file, "holds no unencrypted private key in PEM form (" + openssl_reason() + ")");
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    throw file_error("--tls-key", key_file,
                     "is not the key of the certificate in '" + cert_file + "' (" + openssl_reason() + ")");
  }
}

TlsTransport::TlsTransport(const TlsServerContext& context, int fd, std::chrono::milliseconds wait_limit)
    : m_ssl(SSL_new(context.get()), &SSL_free), m_fd(fd), m_wait_limit(wait_limit) {
  BIO* bio = socket_method() == nullptr ? nullptr : BIO_new(socket_method());
  if (!m_ssl || bio == nullptr) {
    BIO_free(bio);
    m_ssl.reset(); // accept() fails
    ERR_clear_error();
    return;
  }
  BIO_set_data(bio, &m_fd);
  BIO_set_init(bio, 1);
  SSL_set_bio(m_ssl.get(), bio, bio);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

bool TlsTransport::accept(std::chrono::milliseconds timeout, int wake_fd) {
  if (!m_ssl) {
    return false;
  }
  const auto until = Clock::now() + timeout;
  for (;;) {
    ERR_clear_error();
    const int result = SSL_accept(m_ssl.get());
    if (result == 1) {
      m_open = true;
      return true;
    }
    if (!wait_to_retry(result, until, wake_fd)) {
      ERR_clear_error();
      return false;
    }
  }
}

ssize_t TlsTransport::receive(char* ptr, std::size_t size) {
  const auto until = Clock::now() + m_wait_limit;
  while (m_open) {
    ERR_clear_error();
    const int got = SSL_read(m_ssl.get(), ptr, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
    if (got > 0) {
      return got;
    }
    switch (SSL_get_error(m_ssl.get(), got)) {
    case SSL_ERROR_ZERO_RETURN: return 0; // close_notify, or the end of the stream
    case SSL_ERROR_WANT_READ: errno = EAGAIN; return -1;
    default:
      if (!wait_to_retry(got, until)) {
        m_open = false;
      }
    }
  }
  ERR_clear_error();
  errno = EIO;
  return -1;
}

bool TlsTransport::has_pending() const { return m_open && SSL_pending(m_ssl.get()) > 0; }

ssize_t TlsTransport::send(const char* ptr, std::size_t size, std::chrono::milliseconds timeout) {
  if (size == 0) {
    return 0;
  }
  const auto until = Clock::now() + timeout;
  while (m_open) {
    ERR_clear_error();
    const int sent = SSL_write(m_ssl.get(), ptr, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
    if (sent > 0) {
      return sent;
    }
    if (!wait_to_retry(sent, until)) {
      m_open = false; // a record may be half sent: nothing can follow it
    }
  }
  ERR_clear_error();
  errno = EPIPE;
  return -1;
}

void TlsTransport::end_sending() {
  if (m_open) {
    ERR_clear_error();
    SSL_shutdown(m_ssl.get()); // sends close_notify; not waiting for the client's
    ERR_clear_error();
    m_open = false;
  }
}

bool TlsTransport::wait_to_retry(int result, Clock::time_point until, int wake_fd) {
  const int error = SSL_get_error(m_ssl.get(), result);
  const auto events = static_cast<short>(error == SSL_ERROR_WANT_READ    ? POLLIN
                                         : error == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                                         : 0);
  if (events == 0) {
    return false;
  }
  for (;;) {
    const auto left = until - Clock::now();
    if (left <= Clock::duration::zero()) {
      return false;
    }
    std::array<pollfd, 2> fds{{{m_fd, events, 0}, {wake_fd, POLLIN, 0}}};
    const int ready = ::poll(fds.data(), wake_fd >= 0 ? 2 : 1, poll_timeout(left));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    // An error or hang-up on the socket counts as ready: the retry finds it.
    return ready > 0 && fds[1].revents == 0;
  }
}

} // namespace zsimem::daemon
