#pragma once

#include "http_server.hpp"

#include <zsimem/codec.hpp>

// The OpenAPI 3.1 description of the HTTP API (docs/http-api.md), served as
// GET /openapi.json. It must list exactly what routes.cpp serves:
// tests/daemon/test_openapi.cpp probes a live daemon with it, and validates
// it with tests/daemon/openapi/validate.mjs.
namespace zsimem::daemon {

// The document for a server with these options: the paths carry
// options.api_prefix; /healthz and /openapi.json stay at the root.
Json openapi_document(const ServerOptions& options);

} // namespace zsimem::daemon
