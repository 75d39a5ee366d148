#pragma once

#include "http_server.hpp"

#include <zsimem/metrics.hpp>

#include <string_view>

namespace httplib {
class Server;
}

namespace zsimem::daemon {

// The route template of the request this thread is handling ("unmatched"
// until a route's handler runs), for the metrics' route label.
std::string_view& current_route();

// Registers every endpoint of the API (docs/http-api.md) on `server`.
void add_routes(httplib::Server& server, MemoryService& service, Metrics& metrics, const ServerOptions& options);

} // namespace zsimem::daemon
