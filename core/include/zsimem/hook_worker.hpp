#pragma once

#include <zsimem/hooks.hpp>
#include <zsimem/model.hpp>
#include <zsimem/time.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// Delivering committed versions to hooks (docs/hooks.md): at least once, in
// version order per hook and context, retried with backoff, and set aside
// as dead letters after HooksConfig::max_attempts failures.
//
// The versions are the outbox: a write adds nothing for hooks but an
// in-memory notification, so a hook that is down, slow or failing never
// slows or fails a write. How far each hook has got in each context is a
// HookCursor in the store, replaced by compare and set, and holds a lease
// while a worker delivers: several daemons sharing one store hand each
// event over once (at least once across crashes), never out of order.
namespace zsimem {

class MemoryService;
class Metrics;
struct Caller;

struct HookWorkerOptions {
  // Who holds leases; "HOST:PID:N" when empty.
  std::string owner;
  std::size_t threads = 4; // hook and context pairs delivered at once
  // Added to the nice value of the worker's threads (Linux sets it per
  // thread; 0 to 19): with a higher one, writes get the CPU first when it
  // is short, and deliveries catch up when the load drops. The daemon uses
  // 10; 0 leaves the threads as they are.
  int nice = 0;
  // The wait after the first failure, doubled after each further one, at
  // most backoff_cap.
  std::chrono::milliseconds backoff_base{1'000};
  std::chrono::milliseconds backoff_cap{300'000};
  // A lease lasts a hook's timeout and this much more, so that another
  // worker takes over a crashed one's contexts after that long.
  std::chrono::milliseconds lease_margin{10'000};
  // How often every context is looked at: commits of other processes the
  // store cannot tell of, leases that ran out.
  std::chrono::milliseconds rescan_interval{30'000};
  // Told of each failed delivery, dead letter and store error (the daemon
  // logs them), from the worker's threads; may be empty.
  std::function<void(const std::string& message)> on_problem;
  // Counts every attempt (the daemon's /metrics); may be null.
  Metrics* metrics = nullptr;
};

// One dead letter: a version handed over max_attempts times in vain.
struct DeadLetter {
  std::uint64_t version = 0;
  std::string error;
  Timestamp at{};
};

// One hook's progress through one context.
struct HookContextStatus {
  ContextKey context;
  std::uint64_t head = 0;      // the context's newest version (0: none)
  std::uint64_t delivered = 0; // the last version handed over, or dead, or pruned before delivery
  std::uint64_t pending = 0;   // versions after it
  int attempts = 0;            // failed attempts at the next version
  std::string last_error;
  std::optional<Timestamp> retry_at;
  std::uint64_t pruned = 0;                    // versions retention removed before they were delivered
  std::uint64_t dead_letters = 0;              // in all
  std::vector<DeadLetter> recent_dead_letters; // the newest, oldest first
};

struct HookStatus {
  std::string name;
  HookKind kind = HookKind::program;
  std::size_t contexts = 0;  // contexts it follows
  std::uint64_t pending = 0; // versions not yet handed over, in all of them
  std::size_t failing = 0;   // contexts waiting to retry
  std::uint64_t dead_letters = 0;
  std::vector<HookContextStatus> lagging; // contexts with pending versions, failures or dead letters
};

// Every configured hook's lag and failures, from the store: the whole
// store's business (the admin operation of a policy). Error{disabled}
// with the hooks feature off.
std::vector<HookStatus> hooks_status(MemoryService& service, const Caller& caller, const HooksConfig& config);

// Error{disabled} with the hooks feature off; Error{denied} unless the
// policy lets `caller` do admin: what hooks_status checks, for
// deliveries started by hand (zsimem hooks deliver).
void check_hooks_allowed(MemoryService& service, const Caller& caller);

// What a drain() did.
struct DrainReport {
  std::uint64_t delivered = 0;    // events handed over
  std::uint64_t failed = 0;       // failed attempts
  std::uint64_t dead_letters = 0; // events set aside
  std::uint64_t written_back = 0; // answers stored in write-back namespaces
};

class HookWorker {
public:
  HookWorker(MemoryService& service, HooksConfig config, HookWorkerOptions options = {});
  ~HookWorker(); // stops
  HookWorker(const HookWorker&) = delete;
  HookWorker& operator=(const HookWorker&) = delete;

  // Delivers from threads of its own until stopped: what is pending now,
  // each version the service commits, and what a rescan finds.
  void start();
  // Finishes the deliveries in progress (each within its hook's timeout)
  // and stops.
  void stop();

  // Delivers, on the calling thread, everything pending whose retry is due
  // (zsimem hooks deliver): returns when every context is caught up or
  // waits for a retry or another worker's lease.
  DrainReport drain();

private:
  class Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace zsimem
