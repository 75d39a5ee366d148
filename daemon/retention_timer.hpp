#pragma once

#include <zsimem/memory_service.hpp>
#include <zsimem/retention.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace zsimem::daemon {

// The daemon's side of retention (docs/retention.md): applies the policies
// once at start and then every `interval`, on a thread of its own, until
// destroyed. A failed run is logged and tried again at the next tick.
class RetentionTimer {
public:
  RetentionTimer(MemoryService& service, RetentionConfig config, std::chrono::microseconds interval);
  ~RetentionTimer();
  RetentionTimer(const RetentionTimer&) = delete;
  RetentionTimer& operator=(const RetentionTimer&) = delete;

private:
  void run();

  MemoryService& m_service;
  const RetentionConfig m_config;
  const std::chrono::microseconds m_interval;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false; // under m_mutex
  std::thread m_thread;    // last: starts once the rest is ready
};

} // namespace zsimem::daemon
