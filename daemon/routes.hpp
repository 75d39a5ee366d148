#pragma once

#include "http_server.hpp"

#include <zsimem/metrics.hpp>

#include <string_view>

namespace httplib {
class Server;
struct Request;
struct Response;
} // namespace httplib

namespace zsimem::daemon {

// The route template of the request this thread is handling ("unmatched"
// until a route's handler runs), for the metrics' route label.
std::string_view& current_route();

// httplib decodes the path before routing, so an encoded slash (%2F) in a
// user id would split it into two segments and reach another route. Answers
// such a request (422, the user id contains '/') and returns true.
bool refuse_encoded_slash(const httplib::Request& req, httplib::Response& res, const ServerOptions& options);

// Registers every endpoint of the API (docs/http-api.md) on `server`.
void add_routes(httplib::Server& server, MemoryService& service, Metrics& metrics, const ServerOptions& options);

} // namespace zsimem::daemon
