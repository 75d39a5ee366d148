#include "http_errors.hpp"

#include <zsimem/memory_service.hpp>

#include <httplib.h>

#include <algorithm>

namespace zsimem::daemon {
namespace {

std::string_view source_name(InputSource source) {
  switch (source) {
  case InputSource::path: return "path";
  case InputSource::query: return "query";
  case InputSource::header: return "header";
  case InputSource::body: return "body";
  }
  return "body";
}

} // namespace

int http_status(ErrorCode code) {
  switch (code) {
  case ErrorCode::invalid: return 422;
  case ErrorCode::too_large: return 413;
  case ErrorCode::not_found: return 404;
  case ErrorCode::conflict: return 409;
  case ErrorCode::unauthenticated: return 401;
  case ErrorCode::denied: return 403;
  case ErrorCode::unavailable: return 503;
  case ErrorCode::timeout: return 504;
  case ErrorCode::disabled: return 501;
  case ErrorCode::internal: return 500;
  }
  return 500;
}

ErrorCode error_code_of_status(int status) {
  switch (status) {
  case 400:
  case 412:
  case 422: return ErrorCode::invalid;
  case 413: return ErrorCode::too_large;
  case 404: return ErrorCode::not_found;
  case 409: return ErrorCode::conflict;
  case 401: return ErrorCode::unauthenticated;
  case 403: return ErrorCode::denied;
  case 503: return ErrorCode::unavailable;
  case 504: return ErrorCode::timeout;
  case 501: return ErrorCode::disabled;
  default: return ErrorCode::internal;
  }
}

std::string error_message(const std::string& body) {
  const Json json = Json::parse(body, nullptr, false);
  if (!json.is_object() || !json.contains("detail")) {
    return body;
  }
  const Json& detail = json["detail"];
  if (detail.is_string()) {
    return detail.get<std::string>();
  }
  std::string message;
  for (const Json& item : detail.is_array() ? detail : Json::array({detail})) {
    if (item.is_object() && item.contains("msg") && item["msg"].is_string()) {
      message += (message.empty() ? "" : "; ") + item["msg"].get<std::string>();
    }
  }
  return message.empty() ? detail.dump() : message;
}

Json error_body(const Error& error, InputSource source) {
  switch (error.code()) {
  case ErrorCode::invalid: {
    Json loc = Json::array({source_name(source)});
    if (!error.field().empty()) {
      loc.push_back(error.field());
    }
    return Json{{"detail", Json::array({Json{{"loc", loc}, {"msg", error.what()}, {"type", "value_error"}}})}};
  }
  case ErrorCode::conflict:
    return Json{{"detail", Json{{"msg", error.what()},
                                {"current_version", error.current_version()},
                                {"conflicting_paths", error.conflicting_paths()}}}};
  default: return detail_body(error.what());
  }
}

std::string request_id_of(const httplib::Request& req) {
  constexpr std::size_t k_max_bytes = 128;
  const std::string given = req.get_header_value("X-Request-ID");
  const auto is_token_char = [](char c) { return c > 0x20 && c < 0x7f; };
  if (!given.empty() && given.size() <= k_max_bytes && std::all_of(given.begin(), given.end(), is_token_char)) {
    return given;
  }
  return new_request_id();
}

Json detail_body(std::string_view message) { return Json{{"detail", message}}; }

} // namespace zsimem::daemon
