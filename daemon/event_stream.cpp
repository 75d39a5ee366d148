#include "event_stream.hpp"

#include <zsimem/codec.hpp>

#include <httplib.h>

#include <algorithm>
#include <memory>

namespace zsimem::daemon {
namespace {

using Clock = ChangeFeed::Clock;

// Versions sent per look at the store; a follower far behind catches up in
// steps of this many.
constexpr std::size_t k_versions_per_step = 100;

std::string event(std::string_view name, std::uint64_t id, const Json& data) {
  std::string text = "event: ";
  text += name;
  text += "\nid: ";
  text += version_string(id);
  text += "\ndata: ";
  // One line: a JSON text without newlines is a single SSE data field.
  text += data.dump(-1, ' ', false, Json::error_handler_t::replace);
  text += "\n\n";
  return text;
}

// One stream's state, shared by the calls httplib makes to the provider.
class Follower {
public:
  Follower(MemoryService& service, const ContextKey& key, EventStreamTiming timing)
      : m_service(service), m_key(key), m_timing(timing), m_subscription(service.changes().subscribe(key)) {}

  // Subscribed before the starting version is read, so that no commit falls
  // between the two.
  void start(const Caller& caller, std::optional<std::uint64_t> after) {
    m_last = m_service.follow(caller, m_key, after);
  }

  // Writes what is new, or waits a little for it. Returns false when the
  // client is gone.
  bool step(httplib::DataSink& sink) {
    try {
      if (!m_greeted) {
        m_greeted = true;
        m_next_heartbeat = Clock::now() + m_timing.heartbeat;
        return send(sink, "retry: 1000\n: following '" + m_key.user_id + "' (namespace '" + m_key.ns +
                              "') after version " + version_string(m_last) + "\n\n");
      }
      auto versions = m_service.versions_after(m_key, m_last, k_versions_per_step);
      // A version that does not continue the chain we followed (or a head
      // behind it) means the context was erased and perhaps written again.
      const bool rewritten = !versions.empty() && !m_last_hash.empty() && versions.front().prev_hash != m_last_hash;
      if (rewritten || (versions.empty() && m_last > 0 && m_service.head_version(m_key) < m_last)) {
        m_last = 0;
        m_last_hash.clear();
        return send(sink, event("erased", 0, Json{{"user_id", m_key.user_id}, {"namespace", m_key.ns}}));
      }
      if (!versions.empty()) {
        std::string events;
        for (const auto& record : versions) {
          events += event("version", record.version, version_json(record, true));
        }
        m_last = versions.back().version;
        m_last_hash = versions.back().hash;
        m_next_heartbeat = Clock::now() + m_timing.heartbeat;
        return send(sink, events);
      }
      const auto now = Clock::now();
      if (now >= m_next_heartbeat) {
        m_next_heartbeat = now + m_timing.heartbeat;
        // A comment: ignored by clients, but finds a client that has gone.
        return send(sink, ": keep-alive\n\n");
      }
      m_subscription.wait_until(std::min(now + m_timing.poll, m_next_heartbeat));
      return true;
    } catch (const std::exception& error) {
      send(sink, event("error", m_last, Json{{"detail", error.what()}}));
      sink.done();
      return true;
    }
  }

private:
  static bool send(httplib::DataSink& sink, const std::string& text) { return sink.write(text.data(), text.size()); }

  MemoryService& m_service;
  ContextKey m_key;
  EventStreamTiming m_timing;
  ChangeFeed::Subscription m_subscription;
  std::uint64_t m_last = 0;
  std::string m_last_hash; // empty until a version was sent: a resumed stream cannot check the first one
  bool m_greeted = false;
  Clock::time_point m_next_heartbeat{};
};

} // namespace

void stream_versions(httplib::Response& res, MemoryService& service, const Caller& caller, const ContextKey& key,
                     std::optional<std::uint64_t> after, EventStreamTiming timing) {
  auto follower = std::make_shared<Follower>(service, key, timing);
  follower->start(caller, after);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no"); // tells nginx not to buffer the stream
  res.set_chunked_content_provider("text/event-stream",
                                   [follower](std::size_t, httplib::DataSink& sink) { return follower->step(sink); });
}

} // namespace zsimem::daemon
