#include "audit_buffer.hpp"

#include <iostream>

namespace zsimem {

AuditBuffer::AuditBuffer(MemoryStore& store) : m_store(store), m_writer([this] { write_batches(); }) {}

AuditBuffer::~AuditBuffer() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_changed.notify_all();
  m_writer.join();
}

void AuditBuffer::add(AuditRecord record) {
  std::unique_lock lock(m_mutex);
  m_changed.wait(lock, [&] { return m_pending.size() < k_max_pending || m_stopping; });
  m_pending.push_back(std::move(record));
  ++m_added;
  if (m_pending.size() == 1) {
    m_changed.notify_all();
  }
}

void AuditBuffer::flush() {
  std::unique_lock lock(m_mutex);
  const std::uint64_t target = m_added;
  m_flush_now = true;
  m_changed.notify_all();
  m_changed.wait(lock, [&] { return m_written >= target || m_stopping; });
}

void AuditBuffer::write_batches() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_changed.wait(lock, [&] { return !m_pending.empty() || m_stopping; });
    if (m_pending.empty()) {
      return; // stopping, nothing left
    }
    // Let a batch gather, unless someone waits for it.
    m_changed.wait_for(lock, k_flush_delay, [&] { return m_flush_now || m_stopping; });
    m_flush_now = false;
    std::vector<AuditRecord> batch;
    batch.swap(m_pending);
    lock.unlock();
    m_changed.notify_all(); // room for readers waiting on a full buffer
    try {
      m_store.append_audit(batch, false);
    } catch (const std::exception& error) {
      // Reads' records are lost rather than the reads failed after the fact.
      std::cerr << "zsimem: lost the audit records of " << batch.size() << " reads: " << error.what() << std::endl;
    }
    lock.lock();
    m_written += batch.size();
    m_changed.notify_all();
  }
}

} // namespace zsimem
