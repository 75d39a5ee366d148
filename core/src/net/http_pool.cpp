#include "net/http_pool.hpp"

#include <zsimem/error.hpp>

#include <httplib.h>

#include <algorithm>
#include <cstdint>
#include <openssl/x509.h>
#include <random>

namespace zsimem::net {
namespace {

// Idle connections kept per pool; more concurrent calls open more, and
// close them afterwards.
constexpr std::size_t k_max_idle = 16;

} // namespace

std::chrono::milliseconds HttpClientSettings::backoff(int failed_attempts) const {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const auto base = std::max<std::int64_t>(base_delay.count(), 0);
  const auto cap = std::max<std::int64_t>(max_delay.count(), 0);
  std::int64_t ceiling = std::min(base, cap);
  for (int doubled = 1; doubled < failed_attempts && ceiling < cap; ++doubled) {
    ceiling = std::min(cap, ceiling * 2);
  }
  std::uniform_int_distribution<std::int64_t> pick(0, ceiling);
  return std::chrono::milliseconds(pick(random));
}

HttpPool::HttpPool(std::string base_url, HttpTimeouts timeouts)
    : m_base_url(std::move(base_url)), m_timeouts(timeouts) {}

HttpPool::~HttpPool() = default;

std::unique_ptr<httplib::Client> HttpPool::take() {
  {
    const std::lock_guard lock(m_mutex);
    if (!m_idle.empty()) {
      auto client = std::move(m_idle.back());
      m_idle.pop_back();
      return client;
    }
  }
  auto client = std::make_unique<httplib::Client>(m_base_url);
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);
  client->set_connection_timeout(m_timeouts.connect);
  client->set_read_timeout(m_timeouts.read);
  client->set_write_timeout(m_timeouts.write);
  if (m_base_url.starts_with("https://")) {
    client->enable_server_certificate_verification(true); // against the system's CAs
  }
  return client;
}

void HttpPool::give_back(std::unique_ptr<httplib::Client> client) {
  const std::lock_guard lock(m_mutex);
  if (m_idle.size() < k_max_idle) {
    m_idle.push_back(std::move(client));
  }
}

std::string HttpPool::unreached(const httplib::Client& client, httplib::Error error, const std::string& where) const {
  if (error == httplib::Error::SSLServerVerification) {
    throw Error(ErrorCode::unavailable, where + ": the certificate of " + m_base_url + " is not trusted (" +
                                            X509_verify_cert_error_string(client.get_openssl_verify_result()) + ")");
  }
  if (error == httplib::Error::SSLLoadingCerts) {
    throw Error(ErrorCode::unavailable, where + ": the system's CA certificates cannot be loaded");
  }
  return "cannot reach " + m_base_url + " (" + httplib::to_string(error) + " error)";
}

} // namespace zsimem::net
