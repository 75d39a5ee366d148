#pragma once

#include <zsimem/model.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace zsimem {

// Tells whoever follows a context (a Server-Sent Events stream) that this
// process committed to it, so that followers need not poll the store for
// their own process's writes. Only contexts with a follower are tracked.
// Commits by other processes on the same store are not seen here: a follower
// waits with a deadline and then looks at the store anyway.
class ChangeFeed {
public:
  using Clock = std::chrono::steady_clock;

  // One follower's registration for one context; unregisters when destroyed.
  class Subscription {
  public:
    Subscription(ChangeFeed& feed, std::string key);
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Waits until the context changes after the previous wait returned or
    // the deadline passes. Returns whether it changed.
    bool wait_until(Clock::time_point deadline);

  private:
    ChangeFeed& m_feed;
    std::string m_key;
    std::uint64_t m_seen_changes;
  };

  ChangeFeed() = default;
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  Subscription subscribe(const ContextKey& key) { return Subscription(*this, feed_key(key.user_id, key.ns)); }

  // A version of the context was committed (or, with no namespace, every
  // context of the user was erased).
  void publish(std::string_view user_id, std::optional<std::string_view> ns);

  // Calls `observer` on every publish, from the publishing thread (so it
  // must be quick, and must not publish), until unobserve() with the id it
  // returns: the hook worker learns of every commit this way.
  using Observer = std::function<void(std::string_view user_id, std::optional<std::string_view> ns)>;
  std::uint64_t observe(Observer observer);
  void unobserve(std::uint64_t id);

private:
  struct Entry {
    std::uint64_t changes = 0;
    std::size_t followers = 0;
  };

  static std::string feed_key(std::string_view user_id, std::string_view ns);

  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::map<std::string, Entry, std::less<>> m_entries;

  std::mutex m_observers_mutex;
  std::uint64_t m_last_observer = 0;
  std::map<std::uint64_t, Observer> m_observers;
};

} // namespace zsimem
