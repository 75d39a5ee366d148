#include "retention_timer.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace zsimem::daemon {

RetentionTimer::RetentionTimer(MemoryService& service, RetentionConfig config, std::chrono::microseconds interval)
    : m_service(service), m_config(std::move(config)), m_interval(interval), m_thread([this] { run(); }) {}

RetentionTimer::~RetentionTimer() {
  {
    const std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  m_thread.join();
}

void RetentionTimer::run() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    try {
      const Caller caller{"zsimem-retention", new_request_id(), {}};
      const PruneReport report = m_service.prune(caller, m_config);
      const auto took =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      spdlog::info("retention: pruned {} versions in {} contexts and {} audit records in {} ms (request {})",
                   report.versions_pruned, report.contexts.size(), report.audit_pruned, took.count(),
                   caller.request_id);
    } catch (const std::exception& error) {
      spdlog::error("retention: {}; trying again in {} s", error.what(),
                    std::chrono::duration_cast<std::chrono::seconds>(m_interval).count());
    }
    lock.lock();
    m_wake.wait_for(lock, m_interval, [this] { return m_stopping; });
  }
}

} // namespace zsimem::daemon
