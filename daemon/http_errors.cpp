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
  case ErrorCode::denied: return 403;
  case ErrorCode::unavailable: return 503;
  case ErrorCode::timeout: return 504;
  case ErrorCode::internal: return 500;
  }
  return 500;
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
