#include <zsimem/change_feed.hpp>

namespace zsimem {

std::string ChangeFeed::feed_key(std::string_view user_id, std::string_view ns) {
  // Names never contain NUL, so one user's contexts sort together after "user\0".
  std::string key(user_id);
  key += '\0';
  key += ns;
  return key;
}

ChangeFeed::Subscription::Subscription(ChangeFeed& feed, std::string key) : m_feed(feed), m_key(std::move(key)) {
  std::lock_guard lock(m_feed.m_mutex);
  Entry& entry = m_feed.m_entries[m_key];
  ++entry.followers;
  m_seen_changes = entry.changes;
}

ChangeFeed::Subscription::~Subscription() {
  std::lock_guard lock(m_feed.m_mutex);
  const auto it = m_feed.m_entries.find(m_key);
  if (it != m_feed.m_entries.end() && --it->second.followers == 0) {
    m_feed.m_entries.erase(it);
  }
}

bool ChangeFeed::Subscription::wait_until(Clock::time_point deadline) {
  std::unique_lock lock(m_feed.m_mutex);
  const Entry& entry = m_feed.m_entries.at(m_key);
  const bool changed = m_feed.m_changed.wait_until(lock, deadline, [&] { return entry.changes != m_seen_changes; });
  m_seen_changes = entry.changes;
  return changed;
}

void ChangeFeed::publish(std::string_view user_id, std::optional<std::string_view> ns) {
  bool anyone = false;
  {
    std::lock_guard lock(m_mutex);
    if (ns) {
      if (const auto it = m_entries.find(feed_key(user_id, *ns)); it != m_entries.end()) {
        ++it->second.changes;
        anyone = true;
      }
    } else {
      const std::string prefix = feed_key(user_id, {});
      for (auto it = m_entries.lower_bound(prefix); it != m_entries.end() && it->first.starts_with(prefix); ++it) {
        ++it->second.changes;
        anyone = true;
      }
    }
  }
  if (anyone) {
    m_changed.notify_all();
  }
  std::lock_guard lock(m_observers_mutex);
  for (const auto& [id, observer] : m_observers) {
    observer(user_id, ns);
  }
}

std::uint64_t ChangeFeed::observe(Observer observer) {
  std::lock_guard lock(m_observers_mutex);
  m_observers.emplace(++m_last_observer, std::move(observer));
  return m_last_observer;
}

void ChangeFeed::unobserve(std::uint64_t id) {
  std::lock_guard lock(m_observers_mutex);
  m_observers.erase(id);
}

} // namespace zsimem
