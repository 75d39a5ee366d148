#pragma once

#include <zsimem/memory_service.hpp>

#include <chrono>
#include <cstdint>

namespace httplib {
struct Response;
} // namespace httplib

namespace zsimem::daemon {

// How often an idle stream looks at the store for versions written by other
// processes, and how often it sends a comment to keep proxies from closing it.
struct EventStreamTiming {
  std::chrono::milliseconds poll{1000};
  std::chrono::milliseconds heartbeat{15000};
};

// Makes `res` a Server-Sent Events stream of the context's versions after
// `after`, each as an event `version` with the version's number as its id
// (what a client sends back in Last-Event-ID), until the client leaves or the
// server stops. An erased context gets an event `erased` (id 0) and the
// stream continues with whatever is written next.
void stream_versions(httplib::Response& res, MemoryService& service, const Caller& caller, const ContextKey& key,
                     std::optional<std::uint64_t> after, EventStreamTiming timing = {});

} // namespace zsimem::daemon
