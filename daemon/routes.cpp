#include "routes.hpp"

#include "event_stream.hpp"
#include "http_errors.hpp"
#include "openapi.hpp"
#include "ui_assets.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/failpoint.hpp>
#include <zsimem/hook_worker.hpp>
#include <zsimem/identity.hpp>
#include <zsimem/validate.hpp>

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <memory>

namespace zsimem::daemon {
namespace {

// An error together with where its input came from.
struct SourcedError {
  Error error;
  InputSource source;
};

// Runs `parse` and tags any Error it throws with the input's source.
template <typename Parse> auto from(InputSource source, Parse&& parse) {
  try {
    return parse();
  } catch (const Error& error) {
    throw SourcedError{error, source};
  }
}

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  // Messages may quote client bytes that are not UTF-8: replace, never fail.
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

std::string query(const httplib::Request& req, const std::string& name) {
  return req.has_param(name.c_str()) ? req.get_param_value(name.c_str()) : std::string{};
}

std::string namespace_param(const httplib::Request& req) {
  auto ns = query(req, "namespace");
  if (ns.empty()) {
    return std::string(k_default_namespace);
  }
  from(InputSource::query, [&] {
    validate_namespace(ns, "namespace");
    return 0;
  });
  return ns;
}

ContextKey path_key(const httplib::Request& req) {
  std::string user = req.matches[1];
  from(InputSource::path, [&] {
    validate_user_id(user, "user_id");
    return 0;
  });
  return {user, namespace_param(req)};
}

std::optional<std::uint64_t> version_param(const httplib::Request& req, const std::string& name) {
  const auto text = query(req, name);
  if (text.empty()) {
    return std::nullopt;
  }
  return from(InputSource::query, [&] { return parse_version(text, name); });
}

std::optional<Timestamp> time_param(const httplib::Request& req, const std::string& name) {
  const auto text = query(req, name);
  if (text.empty()) {
    return std::nullopt;
  }
  return from(InputSource::query, [&] { return parse_time(text, name); });
}

std::size_t limit_param(const httplib::Request& req, std::size_t fallback) {
  const auto text = query(req, "limit");
  if (text.empty()) {
    return fallback;
  }
  std::size_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) {
    throw SourcedError{Error(ErrorCode::invalid, "limit: must be an integer between 1 and 1000", "limit"),
                       InputSource::query};
  }
  return value;
}

// Every value of a parameter that may repeat (?field=/a&field=/b).
std::vector<std::string> repeated_param(const httplib::Request& req, const std::string& name) {
  std::vector<std::string> values;
  const auto [begin, end] = req.params.equal_range(name);
  for (auto it = begin; it != end; ++it) {
    values.push_back(it->second);
  }
  return values;
}

// GET {P}/memory/{user_id}/summary: the query names the fields, the bucket,
// goals and the range (docs/summaries.md).
Json summary(MemoryService& service, const httplib::Request& req, const Caller& caller) {
  const ContextKey key = path_key(req);
  // Not a structured binding: clang before 16 cannot capture one in the lambda below.
  SummaryRequest request;
  SummaryRange range;
  from(InputSource::query, [&] {
    request.fields = repeated_param(req, "field");
    if (const auto bucket = query(req, "bucket"); !bucket.empty()) {
      request.bucket = parse_summary_bucket(bucket, "bucket");
    }
    request.goals = parse_summary_goals(repeated_param(req, "goal"), "goal");
    const auto window = query(req, "window");
    range = summary_range(time_param(req, "since"), time_param(req, "until"),
                          window.empty() ? std::nullopt : std::optional(parse_duration(window, "window")),
                          time_param(req, "as_of"), now());
    return 0;
  });
  return summary_json(key, range, request.bucket, from(InputSource::query, [&] {
                        return service.summary(caller, key, request, range.since, range.until);
                      }));
}

bool flag_param(const httplib::Request& req, const std::string& name) {
  const auto text = query(req, name);
  return text == "true" || text == "1";
}

// A JSON body; malformed JSON is a 400 the way FastAPI answers it.
Json json_body(const httplib::Request& req) {
  try {
    return parse_json(req.body, "body");
  } catch (const Error& error) {
    if (error.code() == ErrorCode::invalid) {
      throw SourcedError{Error(ErrorCode::invalid, error.what(), "__malformed__"), InputSource::body};
    }
    throw SourcedError{error, InputSource::body};
  }
}

// A version in a JSON body: "3" (the spec's string) or 3.
std::uint64_t version_member(const Json& value, const std::string& name) {
  if (value.is_number_unsigned()) {
    return parse_version(std::to_string(value.get<std::uint64_t>()), name);
  }
  return parse_version(value.is_string() ? value.get<std::string>() : value.dump(), name);
}

// If-Match: "3" (or 3): the write must apply to exactly that head.
std::optional<std::uint64_t> if_match(const httplib::Request& req) {
  std::string text = req.get_header_value("If-Match");
  if (text.empty() || text == "*") {
    return std::nullopt;
  }
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  if (text == "0") {
    return 0;
  }
  return from(InputSource::header, [&] { return parse_version(text, "If-Match"); });
}

// Where an event stream resumes: Last-Event-ID (sent by a reconnecting
// EventSource) or ?after=; 0 replays every version.
std::optional<std::uint64_t> resume_after(const httplib::Request& req) {
  const auto parse = [](const std::string& text, const char* name) -> std::uint64_t {
    return text == "0" ? 0 : parse_version(text, name);
  };
  if (req.has_header("Last-Event-ID")) {
    const std::string text = req.get_header_value("Last-Event-ID");
    return from(InputSource::header, [&] { return parse(text, "Last-Event-ID"); });
  }
  if (req.has_param("after")) {
    const std::string text = query(req, "after");
    return from(InputSource::query, [&] { return parse(text, "after"); });
  }
  return std::nullopt;
}

// Runs a write made conditional by If-Match: its conflicts are the header's
// failure (412); any other error keeps its own source.
template <typename Write> auto failing_if_match(Write&& write) {
  try {
    return write();
  } catch (const Error& error) {
    if (error.code() == ErrorCode::conflict) {
      throw SourcedError{error, InputSource::header};
    }
    throw;
  }
}

void set_etag(httplib::Response& res, const VersionRecord& record) {
  res.set_header("ETag", "\"" + version_string(record.version) + "\"");
}

void send_context(httplib::Response& res, const VersionRecord& record, DataCheck check = DataCheck::check) {
  set_etag(res, record);
  res.status = 200;
  res.set_content(user_context_text(record, check), "application/json");
}

void send_context(httplib::Response& res, const MergeResult& result) {
  res.set_header("X-Zsimem-Outcome", std::string(to_string(result.outcome)));
  // A version merged or rolled back to here has data the service made or
  // parsed; an unchanged or replayed one has the stored data.
  const bool made_here =
      result.outcome == MergeResult::Outcome::created || result.outcome == MergeResult::Outcome::dry_run;
  send_context(res, result.record, made_here ? DataCheck::known_json : DataCheck::check);
}

using Body = std::function<void(const httplib::Request&, httplib::Response&, const Caller&)>;

// The caller of a request: with an authenticator, the subject of its bearer
// token (Error(unauthenticated) without one it accepts); else the client's
// address.
Caller caller_of(const httplib::Request& req, const httplib::Response& res, const Authenticator* authenticator) {
  // The pre-routing handler (http_server.cpp) chose the request id.
  Caller caller{"http:" + req.remote_addr, res.get_header_value("X-Request-ID"), {}};
  if (authenticator == nullptr) {
    caller.subject.id = caller.actor;
    return caller;
  }
  // RFC 6750: "Bearer", its case free, then one or more spaces and the token.
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view k_scheme = "Bearer";
  const auto token_at = header.find_first_not_of(' ', k_scheme.size());
  if (header.size() <= k_scheme.size() || header[k_scheme.size()] != ' ' || token_at == std::string_view::npos ||
      !std::equal(k_scheme.begin(), k_scheme.end(), header.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      })) {
    throw Error(ErrorCode::unauthenticated, "this server needs a bearer token: send Authorization: Bearer TOKEN");
  }
  caller.subject = authenticator->authenticate(std::string_view(header).substr(token_at), now());
  caller.actor = caller.subject.id;
  return caller;
}

void send_error(httplib::Response& res, const Error& error, InputSource source) {
  if (error.code() == ErrorCode::unauthenticated) {
    res.set_header("WWW-Authenticate", R"(Bearer realm="zsimem")");
  }
  send_json(res, http_status(error.code()), error_body(error, source));
}

// Every handler: a request id and caller, and errors become responses here,
// in one place.
httplib::Server::Handler handle_with(const Authenticator* authenticator, Body body) {
  return [authenticator, body = std::move(body)](const httplib::Request& req, httplib::Response& res) {
    try {
      const Caller caller = caller_of(req, res, authenticator);
      body(req, res, caller);
      failpoint::hit("http.before_response");
    } catch (const SourcedError& sourced) {
      if (sourced.error.field() == "__malformed__") {
        send_json(res, 400, detail_body(sourced.error.what()));
      } else if (sourced.error.code() == ErrorCode::conflict && sourced.source == InputSource::header) {
        send_json(res, 412, error_body(sourced.error, sourced.source)); // If-Match failed
      } else {
        send_error(res, sourced.error, sourced.source);
      }
    } catch (const Error& error) {
      send_error(res, error, error.code() == ErrorCode::unauthenticated ? InputSource::header : InputSource::body);
    } catch (const std::exception& error) {
      send_json(res, 500, detail_body(std::string("internal error: ") + error.what()));
    }
  };
}

void method_not_allowed(const httplib::Request&, httplib::Response& res) {
  send_json(res, 405, detail_body("Method Not Allowed"));
}

// One route: its regular expression, its readable template (the metrics'
// label) and its handlers; every other method gets a 405.
struct Route {
  std::string pattern;
  std::string label;
  httplib::Server::Handler get;
  httplib::Server::Handler post;
  httplib::Server::Handler del;
};

void add(httplib::Server& server, const Route& route) {
  // The label must outlive every request: routes live as long as the server.
  auto label = std::make_shared<const std::string>(route.label);
  const auto labelled = [label](httplib::Server::Handler handler) {
    return [label, handler = handler ? std::move(handler) : method_not_allowed](const httplib::Request& req,
                                                                                httplib::Response& res) {
      current_route() = *label;
      handler(req, res);
    };
  };
  server.Get(route.pattern, labelled(route.get));
  server.Post(route.pattern, labelled(route.post));
  server.Delete(route.pattern, labelled(route.del));
  server.Put(route.pattern, labelled(nullptr));
  server.Patch(route.pattern, labelled(nullptr));
  server.Options(route.pattern, labelled(nullptr));
}

MergeResult merge_body(MemoryService& service, const httplib::Request& req, const Caller& caller) {
  const ContextKey key = path_key(req);
  const Json body = json_body(req);
  MemoryUpdate update = from(InputSource::body, [&] {
    Json patched = body;
    // The namespace and idempotency key may come from the query or a header.
    if (patched.is_object() && !patched.contains("namespace") && req.has_param("namespace")) {
      patched["namespace"] = key.ns;
    }
    return memory_update_from_json(patched);
  });
  if (update.user_id != key.user_id) {
    throw SourcedError{Error(ErrorCode::invalid,
                             "user_id: '" + update.user_id + "' does not match the path's '" + key.user_id + "'",
                             "user_id"),
                       InputSource::body};
  }
  if (update.idempotency_key.empty()) {
    update.idempotency_key = req.get_header_value("Idempotency-Key");
    from(InputSource::header, [&] {
      validate_idempotency_key(update.idempotency_key, "Idempotency-Key");
      return 0;
    });
  }
  const auto expected = if_match(req);
  if (expected) {
    update.expected_version = expected;
    update.strict = true;
    return failing_if_match([&] { return service.merge(caller, update, flag_param(req, "dry_run")); });
  }
  return service.merge(caller, update, flag_param(req, "dry_run"));
}

constexpr std::size_t k_max_batch_items = 1000;

// One batch item's failure: its status and the body a single request would get.
Json item_error(const Error& error) {
  Json item = error_body(error, InputSource::body);
  item["status"] = http_status(error.code());
  return item;
}

// A read in a batch: {"user_id", "namespace"?, "version"?, "date"?}.
Json batch_read(MemoryService& service, const Caller& caller, const Json& read) {
  try {
    if (!read.is_object()) {
      throw Error(ErrorCode::invalid, "a read must be an object", "reads");
    }
    ContextKey key;
    key.user_id = read.value("user_id", std::string{});
    key.ns = read.value("namespace", std::string(k_default_namespace));
    ReadSelector selector;
    if (const auto it = read.find("version"); it != read.end() && !it->is_null()) {
      selector.version = version_member(*it, "version");
    }
    if (const auto it = read.find("date"); it != read.end() && !it->is_null()) {
      selector.at = parse_time(it->is_string() ? it->get<std::string>() : it->dump(), "date");
    }
    return Json{{"status", 200}, {"context", user_context_json(service.get(caller, key, selector))}};
  } catch (const Error& error) {
    return item_error(error);
  } catch (const Json::exception& error) {
    return item_error(Error(ErrorCode::invalid, std::string("read: ") + error.what()));
  }
}

Json merge_result_json(const MergeResult& result) {
  return Json{{"status", 200}, {"outcome", to_string(result.outcome)}, {"context", user_context_json(result.record)}};
}

// POST {P}/memory/batch: many reads and updates in one request, each item's
// result reported on its own; with "atomic": true the updates commit all
// together or not at all (where the backend allows), and a failure fails the
// request.
void batch(MemoryService& service, const httplib::Request& req, httplib::Response& res, const Caller& caller) {
  const Json body = json_body(req);
  const auto list = [&](const char* name) {
    return from(InputSource::body, [&] {
      if (!body.is_object()) {
        throw Error(ErrorCode::invalid, "body: must be an object with reads and updates", "body");
      }
      const auto it = body.find(name);
      if (it == body.end() || it->is_null()) {
        return Json::array();
      }
      if (!it->is_array()) {
        throw Error(ErrorCode::invalid, std::string(name) + ": must be a list", name);
      }
      if (it->size() > k_max_batch_items) {
        throw Error(ErrorCode::too_large,
                    std::string(name) + ": at most " + std::to_string(k_max_batch_items) + " items per batch", name);
      }
      return *it;
    });
  };
  const Json reads = list("reads");
  const Json updates = list("updates");
  const bool atomic = from(InputSource::body, [&] {
    const auto it = body.find("atomic");
    if (it != body.end() && !it->is_null() && !it->is_boolean()) {
      throw Error(ErrorCode::invalid, "atomic: must be true or false", "atomic");
    }
    return it != body.end() && it->is_boolean() && it->get<bool>();
  });

  Json update_results = Json::array();
  if (atomic) {
    std::vector<MemoryUpdate> parsed;
    for (std::size_t i = 0; i < updates.size(); ++i) {
      parsed.push_back(from(InputSource::body, [&] {
        try {
          return memory_update_from_json(updates[i]);
        } catch (const Error& error) {
          const std::string item = "updates[" + std::to_string(i) + "]";
          throw Error(error.code(), item + ": " + error.what(), item + "." + error.field());
        }
      }));
    }
    for (const auto& result : service.apply(caller, parsed)) {
      update_results.push_back(merge_result_json(result));
    }
  } else {
    for (const auto& update : updates) {
      try {
        update_results.push_back(merge_result_json(service.merge(caller, memory_update_from_json(update))));
      } catch (const Error& error) {
        update_results.push_back(item_error(error));
      }
    }
  }
  Json read_results = Json::array();
  for (const auto& read : reads) {
    read_results.push_back(batch_read(service, caller, read));
  }
  send_json(res, 200, Json{{"reads", read_results}, {"updates", update_results}});
}

// One file of the web console, or 404. The page learns the API prefix
// from a meta tag; the policy forbids anything not from this daemon.
void send_ui_asset(httplib::Response& res, const std::string& name, const std::string& api_prefix) {
  for (const auto& asset : ui_assets()) {
    if (asset.name != name) {
      continue;
    }
    std::string body(asset.bytes);
    if (name == "index.html") {
      const std::string placeholder = "@API_PREFIX@";
      body.replace(body.find(placeholder), placeholder.size(), api_prefix);
    }
    res.set_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(body, std::string(asset.content_type));
    return;
  }
  send_json(res, 404, detail_body("Not Found"));
}

} // namespace

bool refuse_encoded_slash(const httplib::Request& req, httplib::Response& res, const ServerOptions& options) {
  const std::string memory = options.api_prefix + "/memory/";
  const std::string_view target = req.target;
  if (!target.starts_with(memory)) {
    return false;
  }
  const std::string_view segment =
      target.substr(memory.size(), target.find_first_of("/?", memory.size()) - memory.size());
  if (segment.find("%2F") == std::string_view::npos && segment.find("%2f") == std::string_view::npos) {
    return false;
  }
  const Error error(ErrorCode::invalid, "user_id: contains '/'; allowed are letters, digits and _ - . @ + = : ~",
                    "user_id");
  send_json(res, http_status(error.code()), error_body(error, InputSource::path));
  return true;
}

std::string_view& current_route() {
  thread_local std::string_view route = "unmatched";
  return route;
}

void add_routes(httplib::Server& server, MemoryService& service, Metrics& metrics, const ServerOptions& options) {
  const std::string memory = options.api_prefix + "/memory";
  const std::string user = memory + "/([^/]+)";
  const std::string user_label = options.api_prefix + "/memory/{user_id}";
  const auto handle = [authenticator = options.authenticator.get()](Body body) {
    return handle_with(authenticator, std::move(body));
  };

  // The one route open to anyone: a load balancer's probe has no token.
  add(server, {"/healthz", "/healthz",
               [](const httplib::Request&, httplib::Response& res) {
                 send_json(res, 200, Json{{"status", "ok"}});
               },
               nullptr, nullptr});
  add(server, {"/metrics", "/metrics", handle([&metrics, &service](const auto&, auto& res, const Caller&) {
                 res.set_content(metrics.prometheus_text(service.store().write_stats()),
                                 "text/plain; version=0.0.4; charset=utf-8");
               }),
               nullptr, nullptr});

  // Rendered once: the document depends only on the options.
  const auto openapi = std::make_shared<const std::string>(openapi_document(options).dump());
  add(server, {"/openapi.json", "/openapi.json", handle([openapi](const auto&, auto& res, const Caller&) {
                 res.set_content(*openapi, "application/json");
               }),
               nullptr, nullptr});

  // The web console (docs/console.md): static files, open to anyone like
  // /healthz; the data it shows comes from the API, with the API's token.
  add(server, {"/ui", "/ui",
               [api_prefix = options.api_prefix](const httplib::Request&, httplib::Response& res) {
                 send_ui_asset(res, "index.html", api_prefix);
               },
               nullptr, nullptr});
  add(server, {"/ui/([^/]+)", "/ui/{asset}",
               [api_prefix = options.api_prefix](const httplib::Request& req, httplib::Response& res) {
                 send_ui_asset(res, req.matches[1].str(), api_prefix);
               },
               nullptr, nullptr});

  add(server,
      {options.api_prefix + "/users", options.api_prefix + "/users",
       handle([&service](const auto&, auto& res, const Caller& caller) { send_json(res, 200, service.users(caller)); }),
       nullptr, nullptr});

  add(server, {options.api_prefix + "/features", options.api_prefix + "/features",
               handle([&service](const auto&, auto& res, const Caller&) {
                 send_json(res, 200, features_json(service.options().features));
               }),
               nullptr, nullptr});

  add(server, {options.api_prefix + "/hooks", options.api_prefix + "/hooks",
               handle([&service, hooks = options.hooks](const auto&, auto& res, const Caller& caller) {
                 send_json(res, 200, hooks_status_json(hooks_status(service, caller, hooks ? *hooks : HooksConfig{})));
               }),
               nullptr, nullptr});

  // Registered before the user routes: `batch` and `logs` are reserved user ids.
  add(server,
      {memory + "/batch", memory + "/batch", nullptr,
       handle([&service](const auto& req, auto& res, const Caller& caller) { batch(service, req, res, caller); }),
       nullptr});
  add(server, {memory + "/logs", memory + "/logs", handle([&service](const auto& req, auto& res, const Caller& caller) {
                 AuditQuery q;
                 if (const auto user_id = query(req, "user_id"); !user_id.empty()) {
                   q.user_id = user_id;
                 }
                 if (const auto ns = query(req, "namespace"); !ns.empty()) {
                   q.ns = ns;
                 }
                 q.since = time_param(req, "since");
                 q.until = time_param(req, "until");
                 q.limit = limit_param(req, 100);
                 if (const auto cursor = version_param(req, "cursor")) {
                   q.before_seq = *cursor;
                 }
                 send_json(res, 200,
                           audit_page_json(from(InputSource::query, [&] { return service.audit_log(caller, q); })));
               }),
               nullptr, nullptr});

  // The most used route early: httplib tries the patterns in order.
  add(server, {user, user_label, handle([&service](const auto& req, auto& res, const Caller& caller) {
                 const ContextKey key = path_key(req);
                 ReadSelector selector;
                 selector.version = version_param(req, "version");
                 selector.at = time_param(req, "date");
                 if (!selector.at) {
                   selector.at = time_param(req, "at");
                 }
                 send_context(res, service.get(caller, key, selector));
               }),
               handle([&service](const auto& req, auto& res, const Caller& caller) {
                 send_context(res, merge_body(service, req, caller));
               }),
               handle([&service](const auto& req, auto& res, const Caller& caller) {
                 const ContextKey key = path_key(req);
                 const auto ns = req.has_param("namespace") ? std::optional<std::string_view>(key.ns) : std::nullopt;
                 send_json(res, 200, erase_json(key.user_id, ns, service.erase(caller, key.user_id, ns)));
               })});

  add(server,
      {user + "/history", user_label + "/history", handle([&service](const auto& req, auto& res, const Caller& caller) {
         const ContextKey key = path_key(req);
         HistoryQuery q;
         q.limit = limit_param(req, 100);
         q.before_version = version_param(req, "cursor");
         q.since = time_param(req, "since");
         q.until = time_param(req, "until");
         send_json(res, 200,
                   history_page_json(from(InputSource::query, [&] { return service.history(caller, key, q); })));
       }),
       nullptr, nullptr});

  add(server,
      {user + "/rollback", user_label + "/rollback", nullptr,
       handle([&service](const auto& req, auto& res, const Caller& caller) {
         const ContextKey key = path_key(req);
         const Json body = json_body(req);
         const auto [target, expected, tags] = from(InputSource::body, [&] {
           if (!body.is_object() || !body.contains("version")) {
             throw Error(ErrorCode::invalid, "version: field required", "version");
           }
           const std::uint64_t parsed = version_member(body["version"], "version");
           std::optional<std::uint64_t> expected_version;
           if (const auto it = body.find("expected_version"); it != body.end() && !it->is_null()) {
             expected_version = version_member(*it, "expected_version");
           }
           std::vector<std::string> tag_list;
           if (const auto it = body.find("tags"); it != body.end() && !it->is_null()) {
             if (!it->is_array() || !std::all_of(it->begin(), it->end(), [](const Json& t) { return t.is_string(); })) {
               throw Error(ErrorCode::invalid, "tags: must be a list of strings", "tags");
             }
             tag_list = it->get<std::vector<std::string>>();
           }
           return std::tuple{parsed, expected_version, tag_list};
         });
         auto header_expected = if_match(req);
         const MergeResult result =
             header_expected
                 // Named captures: clang before 16 cannot capture structured bindings implicitly.
                 ? failing_if_match([&, target = target, &tags = tags] {
                     return service.rollback(caller, key, target, header_expected, tags);
                   })
                 : service.rollback(caller, key, target, expected, tags);
         send_context(res, result);
       }),
       nullptr});

  add(server, {user + "/versions/([^/]+)", user_label + "/versions/{version}",
               handle([&service](const auto& req, auto& res, const Caller& caller) {
                 const ContextKey key = path_key(req);
                 const std::string text = req.matches[2];
                 const auto version = from(InputSource::path, [&] { return parse_version(text, "version"); });
                 const VersionRecord record = service.get(caller, key, {version, std::nullopt});
                 set_etag(res, record);
                 send_json(res, 200, version_json(record));
               }),
               nullptr, nullptr});

  add(server,
      {user + "/diff", user_label + "/diff", handle([&service](const auto& req, auto& res, const Caller& caller) {
         const ContextKey key = path_key(req);
         const auto from_version = version_param(req, "from");
         if (!from_version) {
           throw SourcedError{Error(ErrorCode::invalid, "from: field required", "from"), InputSource::query};
         }
         send_json(res, 200, diff_json(key, service.diff(caller, key, *from_version, version_param(req, "to"))));
       }),
       nullptr, nullptr});

  add(server,
      {user + "/blame", user_label + "/blame", handle([&service](const auto& req, auto& res, const Caller& caller) {
         const ContextKey key = path_key(req);
         const auto path = query(req, "path");
         send_json(res, 200, blame_json(from(InputSource::query, [&] { return service.blame(caller, key, path); })));
       }),
       nullptr, nullptr});

  add(server,
      {user + "/events", user_label + "/events", handle([&service](const auto& req, auto& res, const Caller& caller) {
         stream_versions(res, service, caller, path_key(req), resume_after(req));
       }),
       nullptr, nullptr});

  add(server,
      {user + "/summary", user_label + "/summary", handle([&service](const auto& req, auto& res, const Caller& caller) {
         send_json(res, 200, summary(service, req, caller));
       }),
       nullptr, nullptr});

  add(server, {user + "/namespaces", user_label + "/namespaces",
               handle([&service](const auto& req, auto& res, const Caller& caller) {
                 const ContextKey key = path_key(req);
                 send_json(res, 200, service.namespaces(caller, key.user_id));
               }),
               nullptr, nullptr});
}

} // namespace zsimem::daemon
