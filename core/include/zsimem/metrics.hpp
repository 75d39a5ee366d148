#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace zsimem {

struct WriteStats;

// A latency histogram with Prometheus' cumulative buckets, in seconds.
class LatencyHistogram {
public:
  static constexpr std::array<double, 12> k_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  void observe(double seconds);
  // Appends the _bucket, _sum and _count lines of `name` with `labels`
  // (`key="value",…`, possibly empty).
  void render(std::string& out, std::string_view name, std::string_view labels) const;

private:
  std::array<std::atomic<std::uint64_t>, k_bounds.size() + 1> m_counts{}; // the last is +Inf
  std::atomic<std::uint64_t> m_sum_nanos{0};
};

// What the daemon exposes at /metrics: requests by route, method and status,
// their latency, store operation latency, versions written, conflicts, and
// deliveries to hooks.
class Metrics {
public:
  void record_request(std::string_view route, std::string_view method, int status, double seconds);
  void record_store_operation(std::string_view operation, double seconds);
  void record_versions_written(std::size_t count) { m_versions_written += count; }
  void record_conflict() { ++m_conflicts; }
  // One attempt to hand an event to a hook (docs/hooks.md): delivered or
  // failed; and an event set aside after its last failure.
  void record_hook_delivery(std::string_view hook, bool delivered, double seconds);
  void record_hook_dead_letter(std::string_view hook);

  // The Prometheus text exposition format, version 0.0.4, with the store's
  // own counts of its transactions.
  std::string prometheus_text(const WriteStats& store_writes) const;

private:
  LatencyHistogram& histogram(std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>>& map,
                              std::string_view key);

  mutable std::mutex m_mutex;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> m_requests;
  std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>> m_request_latency;
  std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>> m_store_latency;
  std::map<std::pair<std::string, std::string>, std::uint64_t> m_hook_deliveries;
  std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>> m_hook_latency;
  std::atomic<std::uint64_t> m_versions_written{0};
  std::atomic<std::uint64_t> m_conflicts{0};
};

} // namespace zsimem
