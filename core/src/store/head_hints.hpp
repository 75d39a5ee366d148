#pragma once

// What a store's head_hint() answers: the head this process last wrote to
// each context, so that a writer can build on it without reading it back.
// Internal to the backends. A hint is stale once another process (or an
// erase) moved the context; the store's append refuses a version built on
// it, so a wrong hint costs a retry, never a fork of the chain.

#include <zsimem/model.hpp>

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>

namespace zsimem::store {

// Thread-safe; bounded by the size of the data it holds.
class HeadHints {
public:
  explicit HeadHints(std::size_t max_bytes = std::size_t{32} << 20) : m_max_bytes(max_bytes) {}

  std::optional<VersionRecord> find(const ContextKey& key) const;
  // After an append of `records`: remembers them when `appended`, else
  // forgets their contexts (they were built on a head that moved, so what
  // is remembered may be stale too).
  void after_append(std::span<const VersionRecord> records, bool appended);
  // Runs `append()`, the store's append of `records` (true when it wrote
  // them), and remembers or forgets their heads by how it went; forgets
  // them when it throws (the outcome may be unknown).
  template <typename Append> bool track(std::span<const VersionRecord> records, Append&& append) {
    bool appended = false;
    try {
      appended = append();
    } catch (...) {
      after_append(records, false);
      throw;
    }
    after_append(records, appended);
    return appended;
  }
  // After an erase of one namespace, or of every namespace of the user.
  void forget(std::string_view user_id, std::optional<std::string_view> ns);

private:
  void drop(std::map<ContextKey, VersionRecord>::iterator it);

  const std::size_t m_max_bytes;
  mutable std::mutex m_mutex;
  std::map<ContextKey, VersionRecord> m_heads;
  std::size_t m_bytes = 0; // of the data held
};

} // namespace zsimem::store
