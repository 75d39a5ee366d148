#include "thread_pool.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using std::chrono::milliseconds;
using zsimem::daemon::GrowingThreadPool;

namespace {

// Jobs that hold their thread until released, as a long connection does.
class Gate {
public:
  void wait() {
    std::unique_lock lock(m_mutex);
    ++m_waiting;
    m_changed.notify_all();
    m_changed.wait(lock, [this] { return m_open; });
    --m_waiting;
  }
  // True once `count` jobs are waiting at the gate, within a second.
  bool waiting(int count) {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, std::chrono::seconds(1), [&] { return m_waiting == count; });
  }
  void open() {
    const std::lock_guard lock(m_mutex);
    m_open = true;
    m_changed.notify_all();
  }

private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  int m_waiting = 0;
  bool m_open = false;
};

// Polls `condition` for up to a second.
template <typename Condition> bool eventually(Condition condition) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

} // namespace

TEST_CASE("thread pool: grows past its ready threads while jobs hold them, up to the maximum", "[http][pool]") {
  GrowingThreadPool pool(2, 6, milliseconds(10'000));
  CHECK(pool.thread_count() == 2);
  Gate gate;
  for (int i = 0; i < 6; ++i) {
    pool.enqueue([&] { gate.wait(); });
  }
  CHECK(gate.waiting(6)); // all at once: none queued behind another
  CHECK(pool.thread_count() == 6);

  std::atomic<bool> seventh{false};
  pool.enqueue([&] { seventh = true; });
  std::this_thread::sleep_for(milliseconds(50));
  CHECK_FALSE(seventh); // at the maximum, a job waits for a free thread
  gate.open();
  CHECK(eventually([&] { return seventh.load(); }));
}

TEST_CASE("thread pool: threads above the ready ones exit when idle", "[http][pool]") {
  GrowingThreadPool pool(1, 8, milliseconds(50));
  Gate gate;
  for (int i = 0; i < 5; ++i) {
    pool.enqueue([&] { gate.wait(); });
  }
  REQUIRE(gate.waiting(5));
  CHECK(pool.busy_count() == 5);
  gate.open();
  CHECK(eventually([&] { return pool.thread_count() == 1; }));
  // And it grows again.
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) {
    pool.enqueue([&] { ++ran; });
  }
  CHECK(eventually([&] { return ran == 3; }));
}

TEST_CASE("thread pool: shutdown runs the queued jobs and joins", "[http][pool]") {
  std::atomic<int> ran{0};
  {
    GrowingThreadPool pool(1, 1, milliseconds(10'000));
    for (int i = 0; i < 20; ++i) {
      pool.enqueue([&] {
        std::this_thread::sleep_for(milliseconds(1));
        ++ran;
      });
    }
    pool.shutdown();
    CHECK(ran == 20);
  }
  CHECK(ran == 20);
}
