#pragma once

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>

#include <string>
#include <string_view>

// The one table from error codes to HTTP statuses, and the FastAPI-shaped
// bodies ({"detail": ...}) that clients written against the spec expect.
namespace httplib {
struct Request;
}

namespace zsimem::daemon {

// Where a request input came from, for the `loc` of a validation error.
enum class InputSource { path, query, header, body };

int http_status(ErrorCode code);
// The other way, for a client of the API: the error code an error status means.
ErrorCode error_code_of_status(int status);

// The message of an error response's body, whatever its shape ({"detail":
// text}, a list of {msg}, {msg, current_version}); the body itself when it is
// not JSON.
std::string error_message(const std::string& body);

// The response body for an error: 422 gets FastAPI's list of
// {loc, msg, type}; 409 names the current version and clashing paths.
Json error_body(const Error& error, InputSource source);

// The request's X-Request-ID when it is a plain token of at most 128
// printable ASCII bytes (it is echoed back, so nothing else is trusted),
// else a fresh UUID.
std::string request_id_of(const httplib::Request& req);

// A plain {"detail": message} body (404, 405, 400 …).
Json detail_body(std::string_view message);

} // namespace zsimem::daemon
