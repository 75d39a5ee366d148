#pragma once

#include "http_server.hpp"

namespace httplib {
class Server;
}

namespace zsimem::daemon {

// Registers every endpoint of the API (docs/http-api.md) on `server`.
void add_routes(httplib::Server& server, MemoryService& service, const ServerOptions& options);

} // namespace zsimem::daemon
