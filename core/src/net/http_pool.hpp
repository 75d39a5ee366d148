#pragma once

// What the clients of the cloud stores' HTTP APIs (aws/dynamo_client,
// gcp/firestore_client) share: timeouts and retries, and a pool of
// keep-alive connections.

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace httplib {
class Client;
enum class Error;
} // namespace httplib

namespace zsimem::net {

// How long one attempt may take at each step.
struct HttpTimeouts {
  std::chrono::milliseconds connect{3'000};
  std::chrono::milliseconds read{10'000};
  std::chrono::milliseconds write{10'000};
};

// A client's timeouts and retries; each client's settings extend it.
struct HttpClientSettings {
  HttpTimeouts timeouts;
  // Attempts per call, the first included; at least 1.
  int max_attempts = 8;
  // Full-jitter exponential backoff: before attempt n+1 (n >= 1) the client
  // sleeps a uniform random time in [0, min(max_delay, base_delay * 2^(n-1))].
  std::chrono::milliseconds base_delay{25};
  std::chrono::milliseconds max_delay{1'000};

  std::chrono::milliseconds backoff(int failed_attempts) const;
};

// Idle keep-alive connections to one base URL ("http[s]://host[:port]"),
// each a cpp-httplib client holding one socket. Thread-safe.
class HttpPool {
public:
  HttpPool(std::string base_url, HttpTimeouts timeouts);
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  // An idle connection, or a new one: keep-alive, TCP_NODELAY, the
  // timeouts, and for https the server's certificate verified against the
  // system's CAs.
  std::unique_ptr<httplib::Client> take();
  // Back among the idle ones, after a complete answer. A connection that
  // failed is dropped instead, never reused.
  void give_back(std::unique_ptr<httplib::Client> client);

  // For a request on `client` that got no answer: throws Error{unavailable}
  // when the certificate is at fault (no retry can help), else returns
  // "cannot reach URL (...)" for the caller to retry. `where` starts the
  // thrown message ("DynamoDB PutItem").
  std::string unreached(const httplib::Client& client, httplib::Error error, const std::string& where) const;

private:
  const std::string m_base_url;
  const HttpTimeouts m_timeouts;
  std::mutex m_mutex;
  std::vector<std::unique_ptr<httplib::Client>> m_idle;
};

} // namespace zsimem::net
