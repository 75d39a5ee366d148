#pragma once

#include <zsimem/store.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace zsimem {

// The audit records of reads, written to the store in batches by a thread of
// their own, so that a read waits for no write (the daemon). A record reaches
// the store within about k_flush_delay of its read; a crash loses at most the
// reads of that window. Destruction writes what is left.
class AuditBuffer {
public:
  static constexpr std::chrono::milliseconds k_flush_delay{5};
  // Past this many buffered records (the store is slow or down), reads wait
  // for the writer rather than grow the buffer without bound.
  static constexpr std::size_t k_max_pending = 1 << 16;

  explicit AuditBuffer(MemoryStore& store);
  ~AuditBuffer();
  AuditBuffer(const AuditBuffer&) = delete;
  AuditBuffer& operator=(const AuditBuffer&) = delete;

  void add(AuditRecord record);
  // Returns once every record added before the call is in the store (or its
  // write failed), so that a reader of the log sees its own reads.
  void flush();

private:
  void write_batches();

  MemoryStore& m_store;
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::vector<AuditRecord> m_pending;
  std::uint64_t m_added = 0;   // records ever added
  std::uint64_t m_written = 0; // records ever taken to the store
  bool m_flush_now = false;
  bool m_stopping = false;
  std::thread m_writer;
};

} // namespace zsimem
