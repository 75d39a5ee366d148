#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace zsimem::daemon {

// A thread pool that grows on demand and shrinks back when idle. The daemon
// runs one job per connection for the connection's whole life (a keep-alive
// client, a stalled one, an event stream), so a fixed pool would let a few
// long jobs starve everybody else; this one starts a thread whenever no idle
// thread can take a job, up to `max_threads`, and lets threads above
// `min_threads` exit after `idle_timeout` without work.
class GrowingThreadPool {
public:
  GrowingThreadPool(std::size_t min_threads, std::size_t max_threads, std::chrono::milliseconds idle_timeout);
  // Shuts down (see shutdown()).
  ~GrowingThreadPool();
  GrowingThreadPool(const GrowingThreadPool&) = delete;
  GrowingThreadPool& operator=(const GrowingThreadPool&) = delete;

  // Runs `job` on an idle thread, on a new one while below max_threads, or
  // else as soon as a thread is free. Not after shutdown().
  void enqueue(std::function<void()> job);
  // Runs the jobs already queued, then joins every thread; jobs in flight
  // finish first.
  void shutdown();

  // Threads alive now (busy or idle), for tests and diagnostics.
  [[nodiscard]] std::size_t thread_count() const;
  // Threads running a job now.
  [[nodiscard]] std::size_t busy_count() const;

private:
  using Threads = std::list<std::thread>;

  void work(Threads::iterator self);
  // Starts one more thread; the caller holds m_mutex.
  void start_thread();
  // Joins threads that exited for idleness; the caller must not hold m_mutex.
  void join_finished();

  const std::size_t m_min_threads;
  const std::size_t m_max_threads;
  const std::chrono::milliseconds m_idle_timeout;

  mutable std::mutex m_mutex;
  std::condition_variable m_work_ready;
  std::deque<std::function<void()>> m_jobs;
  Threads m_threads;
  std::vector<std::thread> m_finished; // exited, not joined yet
  std::size_t m_idle = 0;              // threads waiting for a job
  std::size_t m_running = 0;           // jobs running
  bool m_shutdown = false;
};

} // namespace zsimem::daemon
