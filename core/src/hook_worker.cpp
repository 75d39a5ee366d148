#include <zsimem/change_feed.hpp>
#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hook_delivery.hpp>
#include <zsimem/hook_worker.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/metrics.hpp>
#include <zsimem/policy.hpp>
#include <zsimem/store.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <map>
#include <mutex>
#include <pthread.h>
#include <set>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace zsimem {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Versions read from the store at a time.
constexpr std::size_t k_batch = 100;
// Dead letters a cursor keeps (the count goes on).
constexpr std::size_t k_recent_dead_letters = 20;
// How often a worker stores its progress while it delivers: a crash
// delivers again what it handed over since (at least once).
constexpr auto k_flush_interval = std::chrono::milliseconds(200);
// Versions a trend detector looks back through for its samples, per sample.
constexpr std::size_t k_trend_lookback = 20;

// What a cursor's state holds (docs/hooks.md). No data of the context:
// versions, hashes, times and the hooks' own error messages.
struct DeliveryState {
  std::uint64_t delivered = 0; // handed over, dead, or pruned before delivery
  std::string hash;            // of version `delivered`: tells a context erased and written again
  int attempts = 0;            // failures of version delivered + 1
  std::string last_error;
  std::optional<Timestamp> retry_at;
  std::uint64_t pruned = 0;
  std::uint64_t dead_letters = 0;
  std::vector<DeadLetter> recent_dead_letters;
  std::string lease_owner; // empty: nobody delivers
  std::optional<Timestamp> lease_until;
};

Json optional_time(const std::optional<Timestamp>& t) { return t ? Json(format_rfc3339(*t)) : Json(nullptr); }

std::string encode_state(const DeliveryState& state) {
  Json dead = Json::array();
  for (const auto& letter : state.recent_dead_letters) {
    dead.push_back({{"version", letter.version}, {"error", letter.error}, {"at", format_rfc3339(letter.at)}});
  }
  return Json{{"delivered", state.delivered},
              {"hash", state.hash},
              {"attempts", state.attempts},
              {"last_error", state.last_error},
              {"retry_at", optional_time(state.retry_at)},
              {"pruned", state.pruned},
              {"dead_letters", state.dead_letters},
              {"recent_dead_letters", dead},
              {"lease_owner", state.lease_owner},
              {"lease_until", optional_time(state.lease_until)}}
      .dump(-1, ' ', false, Json::error_handler_t::replace);
}

DeliveryState decode_state(const HookCursor& cursor) {
  try {
    const Json json = Json::parse(cursor.state);
    const auto time_of = [&](const char* name) -> std::optional<Timestamp> {
      const Json& value = json.at(name);
      return value.is_null() ? std::nullopt : std::optional(parse_time(value.get<std::string>(), name));
    };
    DeliveryState state;
    state.delivered = json.at("delivered").get<std::uint64_t>();
    state.hash = json.at("hash").get<std::string>();
    state.attempts = json.at("attempts").get<int>();
    state.last_error = json.at("last_error").get<std::string>();
    state.retry_at = time_of("retry_at");
    state.pruned = json.at("pruned").get<std::uint64_t>();
    state.dead_letters = json.at("dead_letters").get<std::uint64_t>();
    for (const auto& letter : json.at("recent_dead_letters")) {
      state.recent_dead_letters.push_back({letter.at("version").get<std::uint64_t>(),
                                           letter.at("error").get<std::string>(),
                                           parse_time(letter.at("at").get<std::string>(), "at")});
    }
    state.lease_owner = json.at("lease_owner").get<std::string>();
    state.lease_until = time_of("lease_until");
    return state;
  } catch (const std::exception& error) {
    throw Error(ErrorCode::unavailable, "the cursor of hook " + cursor.hook + " in " + cursor.context.user_id + "/" +
                                            cursor.context.ns + " is damaged: " + error.what());
  }
}

std::string default_owner() {
  static std::atomic<std::uint64_t> workers{0};
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + std::to_string(++workers);
}

// The field's number in a document, if it holds one there.
std::optional<double> number_at(const Json& document, const Json::json_pointer& pointer) {
  try {
    if (document.contains(pointer)) {
      const Json& value = document.at(pointer);
      if (value.is_number()) {
        return value.get<double>();
      }
    }
  } catch (const Json::exception&) {
    // A pointer into something else than it names ("/a/b" where a is a number).
  }
  return std::nullopt;
}

// A version is a sample of a field when its delta set the field to a number.
std::optional<double> sample_of(const VersionRecord& record, const Json::json_pointer& pointer) {
  const Json delta = Json::parse(record.delta.empty() ? std::string("{}") : record.delta, nullptr, false);
  return delta.is_discarded() ? std::nullopt : number_at(delta, pointer);
}

} // namespace

class HookWorker::Impl {
public:
  Impl(MemoryService& service, HooksConfig config, HookWorkerOptions options)
      : m_service(service), m_config(std::move(config)), m_options(std::move(options)),
        m_owner(m_options.owner.empty() ? default_owner() : m_options.owner) {}

  ~Impl() { stop(); }

  void start() {
    std::lock_guard lock(m_mutex);
    if (!m_threads.empty() || m_config.hooks.empty()) {
      return;
    }
    m_stopping = false;
    m_observer = m_service.changes().observe([this](std::string_view user_id, std::optional<std::string_view> ns) {
      if (ns) {
        schedule_context(ContextKey{std::string(user_id), std::string(*ns)}, SteadyClock::now());
      }
    });
    for (std::size_t i = 0; i < std::max<std::size_t>(1, m_options.threads); ++i) {
      m_threads.emplace_back([this] { deliver_loop(); });
    }
    m_threads.emplace_back([this] { rescan_loop(); });
  }

  void stop() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(m_mutex);
      if (m_threads.empty()) {
        return;
      }
      m_stopping = true;
      threads = std::move(m_threads);
      m_threads.clear();
    }
    m_service.changes().unobserve(m_observer);
    m_wake.notify_all();
    m_wake_rescan.notify_all();
    for (auto& thread : threads) {
      thread.join();
    }
    release_held();
    std::lock_guard lock(m_mutex);
    m_due.clear();
    m_queue.clear();
  }

  DrainReport drain() {
    DrainReport report;
    // Write-backs make versions that other hooks may follow: go round
    // until a pass hands nothing over.
    for (int pass = 0; pass < 8; ++pass) {
      const std::uint64_t before = report.delivered + report.dead_letters;
      for (const auto& key : m_service.store().contexts()) {
        for (std::size_t hook = 0; hook < m_config.hooks.size(); ++hook) {
          if (m_config.hooks[hook].receives(key.ns, m_config.hooks)) {
            process(m_config.hooks[hook], key, report);
          }
        }
      }
      if (report.delivered + report.dead_letters == before) {
        break;
      }
    }
    release_held();
    return report;
  }

private:
  struct Task {
    std::size_t hook = 0;
    ContextKey key;
    friend auto operator<=>(const Task&, const Task&) = default;
  };

  // When process() wants to look at a task again: nullopt when caught up.
  using Wake = std::optional<Timestamp>;

  // ---- scheduling ----

  void schedule_context(const ContextKey& key, SteadyClock::time_point when) {
    for (std::size_t hook = 0; hook < m_config.hooks.size(); ++hook) {
      if (m_config.hooks[hook].receives(key.ns, m_config.hooks)) {
        schedule(Task{hook, key}, when);
      }
    }
  }

  void schedule(const Task& task, SteadyClock::time_point when) {
    {
      std::lock_guard lock(m_mutex);
      if (m_stopping) {
        return;
      }
      const auto [it, inserted] = m_due.try_emplace(task, when);
      if (!inserted) {
        if (it->second <= when) {
          return;
        }
        m_queue.erase({it->second, task});
        it->second = when;
      }
      m_queue.insert({when, task});
    }
    m_wake.notify_one();
  }

  // Names the calling thread "zsimem-hooks" (as top -H and /proc show it)
  // and lowers its priority by the options' nice, best effort.
  void become_worker_thread() const {
    pthread_setname_np(pthread_self(), "zsimem-hooks");
    if (m_options.nice > 0) {
      const auto thread = static_cast<id_t>(gettid());
      errno = 0;
      const int current = getpriority(PRIO_PROCESS, thread);
      if (errno == 0) {
        setpriority(PRIO_PROCESS, thread, std::min(current + m_options.nice, 19));
      }
    }
  }

  void deliver_loop() {
    become_worker_thread();
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
      // The first due task no other thread is delivering.
      auto next = std::find_if(m_queue.begin(), m_queue.end(),
                               [&](const auto& entry) { return !m_running.contains(entry.second); });
      if (next == m_queue.end()) {
        m_wake.wait(lock);
        continue;
      }
      if (next->first > SteadyClock::now()) {
        // A copy: the wait lets go of the lock, and another thread may
        // erase the entry meanwhile.
        const SteadyClock::time_point due = next->first;
        m_wake.wait_until(lock, due);
        continue;
      }
      const Task task = next->second;
      m_due.erase(task);
      m_queue.erase(next);
      m_running.insert(task);
      lock.unlock();
      const auto again = run(task);
      lock.lock();
      m_running.erase(task);
      if (again) {
        lock.unlock();
        schedule(task, *again);
        lock.lock();
      }
      // Another thread may wait for this task to be free.
      m_wake.notify_all();
    }
  }

  // Delivers one task; when to look at it again.
  std::optional<SteadyClock::time_point> run(const Task& task) {
    DrainReport report;
    try {
      const Wake wake = process(m_config.hooks[task.hook], task.key, report);
      if (!wake) {
        return std::nullopt;
      }
      return SteadyClock::now() +
             std::chrono::duration_cast<SteadyClock::duration>(std::max(*wake - now(), Timestamp::duration::zero()));
    } catch (const std::exception& error) {
      // The store failed (unreachable): look again a little later.
      problem("hook " + m_config.hooks[task.hook].name + ": " + task.key.user_id + "/" + task.key.ns + ": " +
              error.what());
      return SteadyClock::now() + m_options.backoff_base;
    }
  }

  void rescan_loop() {
    become_worker_thread();
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
      lock.unlock();
      try {
        for (const auto& key : m_service.store().contexts()) {
          schedule_context(key, SteadyClock::now());
        }
      } catch (const std::exception& error) {
        problem(std::string("hooks: cannot list the contexts: ") + error.what());
      }
      lock.lock();
      m_wake_rescan.wait_for(lock, m_options.rescan_interval, [&] { return m_stopping; });
    }
  }

  bool stopping() {
    std::lock_guard lock(m_mutex);
    return m_stopping;
  }

  void count_attempt(const HookSpec& hook, bool delivered, double seconds) const {
    if (m_options.metrics != nullptr) {
      m_options.metrics->record_hook_delivery(hook.name, delivered, seconds);
    }
  }

  void problem(const std::string& message) const {
    if (m_options.on_problem) {
      m_options.on_problem(message);
    }
  }

  // ---- delivering ----

  std::chrono::microseconds lease_span(const HookSpec& hook) const {
    return std::chrono::duration_cast<std::chrono::microseconds>(hook.timeout + m_options.lease_margin);
  }

  std::chrono::microseconds backoff(int attempts) const {
    auto wait = std::chrono::duration_cast<std::chrono::microseconds>(m_options.backoff_base);
    for (int i = 1; i < attempts && wait < m_options.backoff_cap; ++i) {
      wait *= 2;
    }
    return std::min(wait, std::chrono::duration_cast<std::chrono::microseconds>(m_options.backoff_cap));
  }

  // Remembers a lease this worker took, for release_held().
  void hold(const HookSpec& hook, const ContextKey& key) {
    std::lock_guard lock(m_held_mutex);
    m_held.emplace(hook.name, key);
  }

  // Gives back every lease this worker may still hold, so that another
  // worker (a restarted daemon) need not wait for them to run out.
  void release_held() {
    std::set<std::pair<std::string, ContextKey>> held;
    {
      std::lock_guard lock(m_held_mutex);
      held.swap(m_held);
    }
    MemoryStore& store = m_service.store();
    for (const auto& [hook, key] : held) {
      try {
        const auto cursor = store.hook_cursor(hook, key);
        if (!cursor) {
          continue;
        }
        DeliveryState state = decode_state(*cursor);
        if (state.lease_owner != m_owner) {
          continue;
        }
        state.lease_owner.clear();
        state.lease_until.reset();
        // Lost to another worker meanwhile: it is theirs, nothing to give back.
        store.put_hook_cursor(HookCursor{hook, key, cursor->revision + 1, encode_state(state)});
      } catch (const std::exception& error) {
        problem("hook " + hook + ": " + key.user_id + "/" + key.ns + ": cannot give its lease back: " + error.what());
      }
    }
  }

  // Stores `state` over revision `revision`; false when another worker (or
  // an erasure) replaced or removed the cursor meanwhile.
  bool put(const HookSpec& hook, const ContextKey& key, std::uint64_t& revision, const DeliveryState& state) {
    if (!m_service.store().put_hook_cursor(HookCursor{hook.name, key, revision + 1, encode_state(state)})) {
      return false;
    }
    ++revision;
    return true;
  }

  // Whether version `state.delivered` is still the one the cursor saw: an
  // erased context written again starts from its new version 1.
  static bool still_stands(MemoryStore& store, const ContextKey& key, const VersionRecord& head,
                           const DeliveryState& state) {
    if (head.last_version() < state.delivered) {
      return false;
    }
    const auto record = store.version(key, state.delivered);
    // Pruned, or inside a gap: its hash is gone, and retention never
    // removes the versions after it.
    if (!record || record->last_version() != state.delivered) {
      return true;
    }
    return record->hash == state.hash;
  }

  static void advance(DeliveryState& state, const VersionRecord& record) {
    state.delivered = record.last_version();
    state.hash = record.hash;
  }

  // Hands the versions after the cursor to the hook, in order, until it
  // is caught up, a delivery fails, or another worker holds the lease.
  Wake process(const HookSpec& hook, const ContextKey& key, DrainReport& report) {
    MemoryStore& store = m_service.store();
    for (;;) {
      const auto cursor = store.hook_cursor(hook.name, key);
      DeliveryState state = cursor ? decode_state(*cursor) : DeliveryState{};
      std::uint64_t revision = cursor ? cursor->revision : 0;
      const Timestamp started = now();
      if (!state.lease_owner.empty() && state.lease_owner != m_owner && state.lease_until &&
          *state.lease_until > started) {
        return state.lease_until;
      }
      if (state.retry_at && *state.retry_at > started) {
        return state.retry_at;
      }
      const auto head = store.head(key);
      if (!head) {
        return std::nullopt; // erased
      }
      if (state.delivered > 0 && !still_stands(store, key, *head, state)) {
        const std::uint64_t dead_letters = state.dead_letters;
        state = DeliveryState{};
        state.dead_letters = dead_letters;
      }
      if (head->last_version() <= state.delivered) {
        return std::nullopt; // caught up; a lease this worker holds runs out, or stop() gives it back
      }
      state.retry_at.reset();
      // A worker keeps its lease after a batch, so that the next one costs
      // one write of the cursor (progress and lease together), not two;
      // it claims it again when half of it has run out.
      const bool holding =
          state.lease_owner == m_owner && state.lease_until && *state.lease_until > started + lease_span(hook) / 2;
      if (!holding) {
        state.lease_owner = m_owner;
        state.lease_until = started + lease_span(hook);
        if (!put(hook, key, revision, state)) {
          continue; // another worker got there first: look again
        }
        hold(hook, key);
      }
      return deliver_pending(hook, key, state, revision, report);
    }
  }

  Wake deliver_pending(const HookSpec& hook, const ContextKey& key, DeliveryState& state, std::uint64_t revision,
                       DrainReport& report) {
    MemoryStore& store = m_service.store();
    auto flushed = SteadyClock::now();
    Wake wake;
    for (bool more = true; more && !wake;) {
      HistoryQuery query;
      query.oldest_first = true;
      query.after_version = state.delivered;
      query.limit = k_batch;
      const auto batch = store.history(key, query);
      more = batch.size() == k_batch;
      for (const auto& record : batch) {
        if (record.last_version() <= state.delivered) {
          continue; // left under a gap by an interrupted prune
        }
        if (stopping()) {
          wake = now();
          break;
        }
        if (record.is_gap()) {
          state.pruned += record.last_version() - std::max(record.version, state.delivered + 1) + 1;
          advance(state, record);
          continue;
        }
        const auto attempt = SteadyClock::now();
        const auto took = [&] { return std::chrono::duration<double>(SteadyClock::now() - attempt).count(); };
        try {
          hand_over(hook, record, report);
          count_attempt(hook, true, took());
          ++report.delivered;
          state.attempts = 0;
          state.last_error.clear();
          advance(state, record);
        } catch (const std::exception& error) {
          ++report.failed;
          count_attempt(hook, false, took());
          ++state.attempts;
          state.last_error = error.what();
          if (state.attempts >= m_config.max_attempts) {
            ++report.dead_letters;
            if (m_options.metrics != nullptr) {
              m_options.metrics->record_hook_dead_letter(hook.name);
            }
            ++state.dead_letters;
            state.recent_dead_letters.push_back({record.version, state.last_error, now()});
            if (state.recent_dead_letters.size() > k_recent_dead_letters) {
              state.recent_dead_letters.erase(state.recent_dead_letters.begin());
            }
            problem("hook " + hook.name + ": " + key.user_id + "/" + key.ns + " version " +
                    version_string(record.version) + " is a dead letter after " + std::to_string(state.attempts) +
                    " attempts: " + state.last_error);
            state.attempts = 0;
            advance(state, record);
          } else {
            state.retry_at = now() + backoff(state.attempts);
            wake = state.retry_at;
            problem("hook " + hook.name + ": " + key.user_id + "/" + key.ns + " version " +
                    version_string(record.version) + " failed (attempt " + std::to_string(state.attempts) +
                    "), retrying at " + format_rfc3339(*state.retry_at) + ": " + state.last_error);
            break;
          }
        }
        if (SteadyClock::now() - flushed >= k_flush_interval) {
          state.lease_until = now() + lease_span(hook);
          if (!put(hook, key, revision, state)) {
            return std::nullopt; // the lease ran out and another worker carries on
          }
          flushed = SteadyClock::now();
        }
      }
    }
    state.lease_until = now() + lease_span(hook);
    if (!put(hook, key, revision, state)) {
      return std::nullopt;
    }
    // Versions committed meanwhile have notified, and a rescan finds the rest.
    return wake;
  }

  void hand_over(const HookSpec& hook, const VersionRecord& record, DrainReport& report) {
    std::optional<std::string> answer;
    switch (hook.kind) {
    case HookKind::program:
    case HookKind::webhook:
      answer = deliver_event(hook, hook_event_json(record),
                             std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count())
                   .delta;
      break;
    case HookKind::trend: answer = trend_answer(hook, record); break;
    case HookKind::goal: answer = goal_answer(hook, record); break;
    }
    if (answer && !hook.write_back.empty()) {
      write_back(hook, record, *answer);
      ++report.written_back;
    }
  }

  // The trend detector's samples: the field's values in the versions that
  // set it, up to this one, oldest first.
  std::optional<std::string> trend_answer(const HookSpec& hook, const VersionRecord& record) {
    const Json::json_pointer pointer(hook.field);
    if (!sample_of(record, pointer)) {
      return std::nullopt;
    }
    const std::size_t wanted = hook.window + 2;
    std::vector<double> samples;
    HistoryQuery query;
    query.before_version = record.version + 1;
    query.limit = std::min<std::size_t>(wanted * k_trend_lookback, 1000);
    for (const auto& earlier : m_service.store().history(record.key(), query)) {
      if (samples.size() == wanted) {
        break;
      }
      if (const auto sample = earlier.is_gap() ? std::nullopt : sample_of(earlier, pointer)) {
        samples.push_back(*sample);
      }
    }
    std::reverse(samples.begin(), samples.end());
    return trend_insight(hook, samples, record.version);
  }

  // The goal tracker: from the field's first number in the context.
  std::optional<std::string> goal_answer(const HookSpec& hook, const VersionRecord& record) {
    const Json::json_pointer pointer(hook.field);
    const auto current = sample_of(record, pointer);
    if (!current) {
      return std::nullopt;
    }
    std::optional<double> start;
    HistoryQuery query;
    query.oldest_first = true;
    query.after_version = 0;
    query.limit = k_batch;
    while (!start) {
      const auto page = m_service.store().history(record.key(), query);
      for (const auto& earlier : page) {
        if (!earlier.is_gap() && earlier.version <= record.version) {
          start = number_at(Json::parse(earlier.data), pointer);
          if (start) {
            break;
          }
        }
      }
      if (page.size() < k_batch || page.back().last_version() >= record.version) {
        break;
      }
      query.after_version = page.back().last_version();
    }
    return goal_insight(hook, start.value_or(*current), *current, record.version);
  }

  // Stores an answer in the write-back namespace, tagged with the version
  // it came from, once: a delivery repeated after a crash finds its key.
  void write_back(const HookSpec& hook, const VersionRecord& source, const std::string& delta) {
    MemoryUpdate update;
    update.user_id = source.user_id;
    update.ns = hook.write_back;
    update.delta = delta;
    update.tags = {"hook:" + hook.name, "source:" + source.ns + "@" + version_string(source.version)};
    update.idempotency_key = "hook:" + hook.name + ":" + source.ns + "@" + version_string(source.version);
    if (m_service.store().find_idempotency_key({update.user_id, update.ns}, update.idempotency_key)) {
      return;
    }
    const Caller caller{"hook:" + hook.name, source.request_id, Subject{"hook:" + hook.name, {}, {}}};
    m_service.merge(caller, update);
  }

  MemoryService& m_service;
  const HooksConfig m_config;
  const HookWorkerOptions m_options;
  const std::string m_owner;

  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::condition_variable m_wake_rescan;
  bool m_stopping = false;
  std::vector<std::thread> m_threads;
  std::uint64_t m_observer = 0;
  std::map<Task, SteadyClock::time_point> m_due;
  std::set<std::pair<SteadyClock::time_point, Task>> m_queue;
  std::set<Task> m_running;
  std::mutex m_held_mutex;
  std::set<std::pair<std::string, ContextKey>> m_held; // leases taken: (hook, context)
};

HookWorker::HookWorker(MemoryService& service, HooksConfig config, HookWorkerOptions options)
    : m_impl(std::make_unique<Impl>(service, std::move(config), std::move(options))) {}

HookWorker::~HookWorker() = default;

void HookWorker::start() { m_impl->start(); }
void HookWorker::stop() { m_impl->stop(); }
DrainReport HookWorker::drain() { return m_impl->drain(); }

void check_hooks_allowed(MemoryService& service, const Caller& caller) {
  if (!service.options().features.hooks) {
    throw Error(ErrorCode::disabled, "hooks are switched off in this deployment (ZSIMEM_FEATURES, --feature hooks=on)");
  }
  service.authorize(caller, Operation::admin, {});
}

std::vector<HookStatus> hooks_status(MemoryService& service, const Caller& caller, const HooksConfig& config) {
  check_hooks_allowed(service, caller);
  MemoryStore& store = service.store();
  const auto contexts = store.contexts();
  std::vector<HookStatus> out;
  for (const auto& hook : config.hooks) {
    HookStatus status{hook.name, hook.kind, 0, 0, 0, 0, {}};
    std::map<ContextKey, HookCursor> cursors;
    for (auto& cursor : store.hook_cursors(hook.name)) {
      cursors.emplace(cursor.context, std::move(cursor));
    }
    for (const auto& key : contexts) {
      if (!hook.receives(key.ns, config.hooks)) {
        continue;
      }
      ++status.contexts;
      const auto head = store.head(key);
      const auto cursor = cursors.find(key);
      const DeliveryState state = cursor == cursors.end() ? DeliveryState{} : decode_state(cursor->second);
      HookContextStatus context{key,
                                head ? head->last_version() : 0,
                                state.delivered,
                                0,
                                state.attempts,
                                state.last_error,
                                state.retry_at,
                                state.pruned,
                                state.dead_letters,
                                state.recent_dead_letters};
      context.pending = context.head > context.delivered ? context.head - context.delivered : 0;
      status.pending += context.pending;
      status.failing += context.attempts > 0 ? 1 : 0;
      status.dead_letters += context.dead_letters;
      if (context.pending > 0 || context.attempts > 0 || context.dead_letters > 0) {
        status.lagging.push_back(std::move(context));
      }
    }
    out.push_back(std::move(status));
  }
  return out;
}

} // namespace zsimem
