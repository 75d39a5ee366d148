#include <zsimem/metrics.hpp>
#include <zsimem/store.hpp>

#include <cstdio>

namespace zsimem {
namespace {

std::string number(double value) {
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%.9g", value);
  return buffer.data();
}

// Label values escape backslash, quote and newline.
std::string escape_label(std::string_view value) {
  std::string escaped;
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      escaped += '\\';
      escaped += c;
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

} // namespace

void LatencyHistogram::observe(double seconds) {
  std::size_t bucket = 0;
  while (bucket < k_bounds.size() && seconds > k_bounds[bucket]) {
    ++bucket;
  }
  ++m_counts[bucket];
  m_sum_nanos += static_cast<std::uint64_t>(seconds * 1e9);
}

void LatencyHistogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string prefix = labels.empty() ? std::string{} : std::string(labels) + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= k_bounds.size(); ++i) {
    cumulative += m_counts[i].load();
    const std::string bound = i < k_bounds.size() ? number(k_bounds[i]) : "+Inf";
    out += std::string(name) + "_bucket{" + prefix + "le=\"" + bound + "\"} " + std::to_string(cumulative) + "\n";
  }
  const std::string braces = labels.empty() ? std::string{} : "{" + std::string(labels) + "}";
  out += std::string(name) + "_sum" + braces + " " + number(static_cast<double>(m_sum_nanos.load()) / 1e9) + "\n";
  out += std::string(name) + "_count" + braces + " " + std::to_string(cumulative) + "\n";
}

LatencyHistogram& Metrics::histogram(std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>>& map,
                                     std::string_view key) {
  auto it = map.find(key);
  if (it == map.end()) {
    it = map.emplace(std::string(key), std::make_unique<LatencyHistogram>()).first;
  }
  return *it->second;
}

void Metrics::record_request(std::string_view route, std::string_view method, int status, double seconds) {
  std::lock_guard lock(m_mutex);
  ++m_requests[{std::string(route), std::string(method), status}];
  histogram(m_request_latency, route).observe(seconds);
  if (status == 409 || status == 412) {
    ++m_conflicts;
  }
}

void Metrics::record_store_operation(std::string_view operation, double seconds) {
  std::lock_guard lock(m_mutex);
  histogram(m_store_latency, operation).observe(seconds);
}

void Metrics::record_hook_delivery(std::string_view hook, bool delivered, double seconds) {
  std::lock_guard lock(m_mutex);
  ++m_hook_deliveries[{std::string(hook), delivered ? "delivered" : "failed"}];
  histogram(m_hook_latency, hook).observe(seconds);
}

void Metrics::record_hook_dead_letter(std::string_view hook) {
  std::lock_guard lock(m_mutex);
  ++m_hook_deliveries[{std::string(hook), "dead_letter"}];
}

std::string Metrics::prometheus_text(const WriteStats& store_writes) const {
  std::lock_guard lock(m_mutex);
  std::string out;
  out += "# HELP zsimem_http_requests_total HTTP requests by route, method and status.\n";
  out += "# TYPE zsimem_http_requests_total counter\n";
  for (const auto& [key, count] : m_requests) {
    const auto& [route, method, status] = key;
    out += "zsimem_http_requests_total{route=\"" + escape_label(route) + "\",method=\"" + escape_label(method) +
           "\",status=\"" + std::to_string(status) + "\"} " + std::to_string(count) + "\n";
  }
  out += "# HELP zsimem_http_request_duration_seconds Time to answer a request, by route.\n";
  out += "# TYPE zsimem_http_request_duration_seconds histogram\n";
  for (const auto& [route, histogram] : m_request_latency) {
    histogram->render(out, "zsimem_http_request_duration_seconds", "route=\"" + escape_label(route) + "\"");
  }
  out += "# HELP zsimem_store_operation_duration_seconds Time of one store operation, by operation.\n";
  out += "# TYPE zsimem_store_operation_duration_seconds histogram\n";
  for (const auto& [operation, histogram] : m_store_latency) {
    histogram->render(out, "zsimem_store_operation_duration_seconds", "operation=\"" + escape_label(operation) + "\"");
  }
  out += "# HELP zsimem_versions_written_total Versions appended to the store.\n";
  out += "# TYPE zsimem_versions_written_total counter\n";
  out += "zsimem_versions_written_total " + std::to_string(m_versions_written.load()) + "\n";
  out += "# HELP zsimem_conflicts_total Writes refused by optimistic locking (409 and 412).\n";
  out += "# TYPE zsimem_conflicts_total counter\n";
  out += "zsimem_conflicts_total " + std::to_string(m_conflicts.load()) + "\n";
  out += "# HELP zsimem_hook_deliveries_total Attempts to hand events to hooks, by hook and outcome "
         "(delivered, failed), and events set aside (dead_letter).\n";
  out += "# TYPE zsimem_hook_deliveries_total counter\n";
  for (const auto& [key, count] : m_hook_deliveries) {
    out += "zsimem_hook_deliveries_total{hook=\"" + escape_label(key.first) + "\",outcome=\"" +
           escape_label(key.second) + "\"} " + std::to_string(count) + "\n";
  }
  out += "# HELP zsimem_hook_delivery_duration_seconds Time of one attempt to hand an event to a hook, by hook.\n";
  out += "# TYPE zsimem_hook_delivery_duration_seconds histogram\n";
  for (const auto& [hook, histogram] : m_hook_latency) {
    histogram->render(out, "zsimem_hook_delivery_duration_seconds", "hook=\"" + escape_label(hook) + "\"");
  }
  out += "# HELP zsimem_store_transactions_total Store transactions committed (0: not counted by this backend).\n";
  out += "# TYPE zsimem_store_transactions_total counter\n";
  out += "zsimem_store_transactions_total " + std::to_string(store_writes.transactions) + "\n";
  out += "# HELP zsimem_store_writes_total Appends and audit records committed in them; more writes than "
         "transactions is group commit at work.\n";
  out += "# TYPE zsimem_store_writes_total counter\n";
  out += "zsimem_store_writes_total " + std::to_string(store_writes.writes) + "\n";
  return out;
}

} // namespace zsimem
