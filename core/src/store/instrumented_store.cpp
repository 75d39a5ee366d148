#include "store/backends.hpp"

#include <zsimem/metrics.hpp>

#include <chrono>

namespace zsimem::store {

// Records how long one store operation took, however it ended.
class OperationTimer {
public:
  OperationTimer(Metrics& metrics, std::string_view operation)
      : m_metrics(metrics), m_operation(operation), m_start(std::chrono::steady_clock::now()) {}
  ~OperationTimer() {
    m_metrics.record_store_operation(m_operation,
                                     std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count());
  }
  OperationTimer(const OperationTimer&) = delete;
  OperationTimer& operator=(const OperationTimer&) = delete;

private:
  Metrics& m_metrics;
  std::string_view m_operation;
  std::chrono::steady_clock::time_point m_start;
};

// Times every call of the store it wraps and counts the versions written;
// the daemon's /metrics reads the results.
class InstrumentedStore final : public MemoryStore {
public:
  InstrumentedStore(std::unique_ptr<MemoryStore> inner, Metrics& metrics)
      : m_inner(std::move(inner)), m_metrics(metrics) {}

  std::string_view backend_name() const override { return m_inner->backend_name(); }
  bool listen_for_commits(CommitListener listener) override { return m_inner->listen_for_commits(std::move(listener)); }
  bool supports_atomic_batches() const override { return m_inner->supports_atomic_batches(); }
  WriteStats write_stats() const override { return m_inner->write_stats(); }

  std::optional<VersionRecord> head(const ContextKey& key) override {
    const OperationTimer timer(m_metrics, "head");
    return m_inner->head(key);
  }
  // Untimed: a guess from memory, not a store operation.
  std::optional<VersionRecord> head_hint(const ContextKey& key) override { return m_inner->head_hint(key); }
  std::optional<VersionRecord> version(const ContextKey& key, std::uint64_t number) override {
    const OperationTimer timer(m_metrics, "version");
    return m_inner->version(key, number);
  }
  std::optional<VersionRecord> version_at(const ContextKey& key, Timestamp at) override {
    const OperationTimer timer(m_metrics, "version_at");
    return m_inner->version_at(key, at);
  }
  std::vector<VersionRecord> history(const ContextKey& key, const HistoryQuery& query) override {
    const OperationTimer timer(m_metrics, "history");
    return m_inner->history(key, query);
  }
  std::optional<VersionRecord> find_idempotency_key(const ContextKey& key, std::string_view idempotency_key) override {
    const OperationTimer timer(m_metrics, "find_idempotency_key");
    return m_inner->find_idempotency_key(key, idempotency_key);
  }
  bool append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) override {
    const OperationTimer timer(m_metrics, "append");
    const bool appended = m_inner->append(records, audit);
    if (appended) {
      m_metrics.record_versions_written(records.size());
    }
    return appended;
  }
  std::size_t erase(std::string_view user_id, std::optional<std::string_view> ns) override {
    const OperationTimer timer(m_metrics, "erase");
    return m_inner->erase(user_id, ns);
  }
  std::size_t prune(const VersionRecord& gap) override {
    const OperationTimer timer(m_metrics, "prune");
    return m_inner->prune(gap);
  }
  std::size_t prune_audit(std::uint64_t through_seq) override {
    const OperationTimer timer(m_metrics, "prune_audit");
    return m_inner->prune_audit(through_seq);
  }
  std::vector<DataKeyRecord> data_keys(std::optional<std::string_view> user_id) override {
    const OperationTimer timer(m_metrics, "data_keys");
    return m_inner->data_keys(user_id);
  }
  bool add_data_key(const DataKeyRecord& key) override {
    const OperationTimer timer(m_metrics, "add_data_key");
    return m_inner->add_data_key(key);
  }
  bool rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) override {
    const OperationTimer timer(m_metrics, "rewrap_data_key");
    return m_inner->rewrap_data_key(key, expected_wrapped);
  }
  std::optional<HookCursor> hook_cursor(std::string_view hook, const ContextKey& context) override {
    const OperationTimer timer(m_metrics, "hook_cursor");
    return m_inner->hook_cursor(hook, context);
  }
  bool put_hook_cursor(const HookCursor& cursor) override {
    const OperationTimer timer(m_metrics, "put_hook_cursor");
    return m_inner->put_hook_cursor(cursor);
  }
  std::vector<HookCursor> hook_cursors(std::optional<std::string_view> hook) override {
    const OperationTimer timer(m_metrics, "hook_cursors");
    return m_inner->hook_cursors(hook);
  }
  std::size_t remove_hook_cursors(std::string_view hook) override {
    const OperationTimer timer(m_metrics, "remove_hook_cursors");
    return m_inner->remove_hook_cursors(hook);
  }
  std::vector<ContextKey> contexts(std::optional<std::string_view> user_id) override {
    const OperationTimer timer(m_metrics, "contexts");
    return m_inner->contexts(user_id);
  }
  void append_audit(std::span<const AuditRecord> records, bool durable) override {
    const OperationTimer timer(m_metrics, "append_audit");
    m_inner->append_audit(records, durable);
  }
  std::vector<AuditRecord> audit_log(const AuditQuery& query) override {
    const OperationTimer timer(m_metrics, "audit_log");
    return m_inner->audit_log(query);
  }

private:
  std::unique_ptr<MemoryStore> m_inner;
  Metrics& m_metrics;
};

} // namespace zsimem::store

namespace zsimem {

std::unique_ptr<MemoryStore> instrument_store(std::unique_ptr<MemoryStore> store, Metrics& metrics) {
  return std::make_unique<store::InstrumentedStore>(std::move(store), metrics);
}

} // namespace zsimem
