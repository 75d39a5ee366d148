#include "thread_pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace zsimem::daemon {

GrowingThreadPool::GrowingThreadPool(std::size_t min_threads, std::size_t max_threads,
                                     std::chrono::milliseconds idle_timeout)
    : m_min_threads(min_threads), m_max_threads(std::max<std::size_t>({1, min_threads, max_threads})),
      m_idle_timeout(idle_timeout) {
  const std::lock_guard lock(m_mutex);
  for (std::size_t i = 0; i < m_min_threads; ++i) {
    start_thread();
  }
}

GrowingThreadPool::~GrowingThreadPool() { shutdown(); }

void GrowingThreadPool::enqueue(std::function<void()> job) {
  join_finished();
  const std::lock_guard lock(m_mutex);
  m_jobs.push_back(std::move(job));
  // Every idle thread takes one queued job; start a thread for the rest.
  if (m_jobs.size() > m_idle && m_threads.size() < m_max_threads) {
    start_thread();
  } else {
    m_work_ready.notify_one();
  }
}

void GrowingThreadPool::shutdown() {
  Threads threads;
  {
    const std::lock_guard lock(m_mutex);
    m_shutdown = true;
    // After the flag no thread touches the lists, so they can leave the lock.
    threads.swap(m_threads);
  }
  m_work_ready.notify_all();
  for (auto& thread : threads) {
    thread.join();
  }
  join_finished();
}

std::size_t GrowingThreadPool::thread_count() const {
  const std::lock_guard lock(m_mutex);
  return m_threads.size();
}

std::size_t GrowingThreadPool::busy_count() const {
  const std::lock_guard lock(m_mutex);
  return m_running;
}

void GrowingThreadPool::start_thread() {
  if (m_shutdown) {
    return;
  }
  try {
    m_threads.emplace_front();
    m_threads.front() = std::thread([this, self = m_threads.begin()] { work(self); });
  } catch (const std::system_error& error) {
    // Out of threads: the job waits for a busy thread to become free.
    m_threads.pop_front();
    spdlog::warn("cannot start a worker thread ({} running): {}", m_threads.size(), error.what());
    if (m_threads.empty()) {
      throw;
    }
  }
}

void GrowingThreadPool::join_finished() {
  std::vector<std::thread> finished;
  {
    const std::lock_guard lock(m_mutex);
    finished.swap(m_finished);
  }
  for (auto& thread : finished) {
    thread.join();
  }
}

void GrowingThreadPool::work(Threads::iterator self) {
  std::unique_lock lock(m_mutex);
  for (;;) {
    ++m_idle;
    const bool woken = m_work_ready.wait_for(lock, m_idle_timeout, [this] { return !m_jobs.empty() || m_shutdown; });
    --m_idle;
    if (m_jobs.empty()) {
      if (m_shutdown) {
        return;
      }
      if (!woken && m_threads.size() > m_min_threads) {
        // Idle too long: leave the pool; a later enqueue or shutdown joins us.
        m_finished.push_back(std::move(*self));
        m_threads.erase(self);
        return;
      }
      continue;
    }
    auto job = std::move(m_jobs.front());
    m_jobs.pop_front();
    ++m_running;
    lock.unlock();
    job();
    job = nullptr; // release what the job holds before waiting again
    lock.lock();
    --m_running;
  }
}

} // namespace zsimem::daemon
