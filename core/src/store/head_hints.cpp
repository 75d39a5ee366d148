#include "store/head_hints.hpp"

#include <string>

namespace zsimem::store {

std::optional<VersionRecord> HeadHints::find(const ContextKey& key) const {
  const std::lock_guard lock(m_mutex);
  const auto it = m_heads.find(key);
  if (it == m_heads.end()) {
    return std::nullopt;
  }
  return it->second;
}

void HeadHints::after_append(std::span<const VersionRecord> records, bool appended) {
  const std::lock_guard lock(m_mutex);
  for (const auto& record : records) {
    const auto it = m_heads.find(record.key());
    // A gap (an import of a pruned history) is nothing to build on.
    if (!appended || record.is_gap()) {
      if (it != m_heads.end()) {
        drop(it);
      }
      continue;
    }
    if (it != m_heads.end()) {
      drop(it);
    }
    if (m_bytes + record.data.size() > m_max_bytes) {
      m_heads.clear(); // a crude bound: the hints refill with what is written
      m_bytes = 0;
    }
    m_heads.emplace(record.key(), record);
    m_bytes += record.data.size();
  }
}

void HeadHints::forget(std::string_view user_id, std::optional<std::string_view> ns) {
  const std::lock_guard lock(m_mutex);
  for (auto it = m_heads.lower_bound(ContextKey{std::string(user_id), ns ? std::string(*ns) : std::string{}});
       it != m_heads.end() && it->first.user_id == user_id && (!ns || it->first.ns == *ns);) {
    drop(it++);
  }
}

void HeadHints::drop(std::map<ContextKey, VersionRecord>::iterator it) {
  m_bytes -= it->second.data.size();
  m_heads.erase(it);
}

} // namespace zsimem::store
