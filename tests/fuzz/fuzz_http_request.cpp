// The daemon's request handling, in process: the input is what a client
// sends on one connection (one or more pipelined requests). cpp-httplib
// parses it from a stream in memory, with the daemon's framing checks
// (request_framing), its pre-routing, error and post-routing handlers, and
// the routes of add_routes over the daemon's service (open_daemon_service)
// on a JSON store that holds a few known contexts. Every response must have
// a valid status other than 500, a request id, and a JSON body where it
// says so; errors must have the API's {"detail": ...} shape.
//
// The handlers below mirror http_server.cpp's (which keeps them private to
// a server bound to a socket); keep them in step.

#include "fuzz_support.hpp"
#include "http_errors.hpp"
#include "http_server.hpp"
#include "request_framing.hpp"
#include "routes.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/metrics.hpp>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/file.h>
#include <unistd.h>
#include <vector>

namespace {

using zsimem::Json;
using zsimem::daemon::BodyFraming;
using zsimem::daemon::ChunkedBodyScanner;
using zsimem::fuzz::require;

constexpr std::size_t k_max_requests = 8;
constexpr std::size_t k_max_body_bytes = 64 * 1024;

// One connection's bytes, read the way ConnectionStream reads a socket: the
// head freely, then the body only as far as its framing says.
class MemoryStream final : public httplib::Stream {
public:
  explicit MemoryStream(std::string_view input) : m_input(input) {}

  void begin_request() {
    m_in_body = false;
    m_framing = {};
    m_length_left = 0;
    m_chunked.reset();
    m_body_refused = false;
    m_writable_checks = 0;
  }
  void begin_body(const BodyFraming& framing) {
    m_in_body = true;
    m_framing = framing;
    if (framing.kind == BodyFraming::Kind::length) {
      m_length_left = framing.length;
    } else if (framing.kind == BodyFraming::Kind::chunked) {
      m_chunked.emplace(k_max_body_bytes);
    }
  }
  void refuse_body() {
    begin_body({});
    m_body_refused = true;
  }
  // Whether the connection can carry another request (ConnectionStream::must_close).
  bool must_close() const {
    if (m_failed || !m_in_body || m_body_refused) {
      return true;
    }
    switch (m_framing.kind) {
    case BodyFraming::Kind::none: return false;
    case BodyFraming::Kind::length: return m_length_left != 0;
    case BodyFraming::Kind::chunked: return m_chunked->verdict() != ChunkedBodyScanner::Verdict::done;
    }
    return true;
  }
  bool has_more() const { return m_pos < m_input.size(); }

  bool is_readable() const override { return has_more(); }
  // An event stream writes until the client is gone: let it write its
  // greeting, then be gone, rather than wait for versions.
  bool is_writable() const override { return ++m_writable_checks <= 1; }

  ssize_t read(char* ptr, std::size_t size) override {
    if (m_failed) {
      return -1;
    }
    if (m_in_body) {
      switch (m_framing.kind) {
      case BodyFraming::Kind::none: return 0;
      case BodyFraming::Kind::length:
        size = static_cast<std::size_t>(std::min<std::uint64_t>(size, m_length_left));
        break;
      case BodyFraming::Kind::chunked: size = m_chunked->readable(size); break;
      }
    }
    const std::size_t n = std::min(size, m_input.size() - m_pos);
    std::copy_n(m_input.data() + m_pos, n, ptr);
    m_pos += n;
    if (m_in_body && m_framing.kind == BodyFraming::Kind::length) {
      m_length_left -= n;
    } else if (m_in_body && m_framing.kind == BodyFraming::Kind::chunked && n > 0) {
      const auto verdict = m_chunked->scan(ptr, n);
      if (verdict == ChunkedBodyScanner::Verdict::malformed || verdict == ChunkedBodyScanner::Verdict::too_large) {
        m_failed = true;
        return -1;
      }
    }
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, std::size_t size) override {
    m_written += size;
    (void)ptr;
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 50000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return INVALID_SOCKET; }

private:
  std::string_view m_input;
  std::size_t m_pos = 0;
  bool m_in_body = false;
  BodyFraming m_framing;
  std::uint64_t m_length_left = 0;
  std::optional<ChunkedBodyScanner> m_chunked;
  bool m_body_refused = false;
  bool m_failed = false;
  mutable int m_writable_checks = 0;
  std::size_t m_written = 0;
};

// What the daemon answers before routing: a refused framing, TRACE and
// CONNECT, an encoded slash in a user id.
bool refuse_framing(const httplib::Request& req, httplib::Response& res) {
  const auto refusal = zsimem::daemon::check_framing(req, k_max_body_bytes).refusal;
  if (!refusal) {
    return false;
  }
  res.status = refusal->status;
  res.set_content(zsimem::daemon::detail_body(refusal->detail).dump(-1, ' ', false, Json::error_handler_t::replace),
                  "application/json");
  return true;
}

// Every response the daemon writes must keep the API's promises.
void check_response(const httplib::Request& req, const httplib::Response& res) {
  const std::string what = req.method + " " + req.target + " -> " + std::to_string(res.status);
  require(res.status >= 200 && res.status <= 599, "a final response has a valid status", what);
  // cpp-httplib names an exception that escaped a handler in this header.
  require(res.status != 500, "no request makes the daemon fail internally",
          what + ": " + res.body + " " + res.get_header_value("EXCEPTION_WHAT"));
  require(res.has_header("X-Request-ID"), "every response carries a request id", what);
  const std::string type = res.get_header_value("Content-Type");
  const bool json = type.starts_with("application/json");
  if (res.status >= 400) {
    require(json, "an error is JSON", what + " (" + type + ")");
  }
  if (json) {
    const Json body = Json::parse(res.body, nullptr, false);
    require(!body.is_discarded(), "a JSON response parses", what + ": " + res.body);
    if (res.status >= 400) {
      require(body.is_object() && body.contains("detail"), "an error has a detail", what + ": " + res.body);
    }
  }
}

class FuzzServer final : public httplib::Server {
public:
  FuzzServer(zsimem::MemoryService& service, zsimem::Metrics& metrics) {
    m_options.port = 0;
    m_options.max_body_bytes = k_max_body_bytes;
    set_payload_max_length(k_max_body_bytes);
    set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      zsimem::daemon::current_route() = "unmatched";
      res.set_header("X-Request-ID", zsimem::daemon::request_id_of(req));
      if (refuse_framing(req, res)) {
        return HandlerResponse::Handled;
      }
      if (req.method == "TRACE" || req.method == "CONNECT") {
        res.status = 405;
        res.set_content(zsimem::daemon::detail_body("Method Not Allowed").dump(), "application/json");
        return HandlerResponse::Handled;
      }
      return zsimem::daemon::refuse_encoded_slash(req, res, m_options) ? HandlerResponse::Handled
                                                                       : HandlerResponse::Unhandled;
    });
    set_expect_100_continue_handler([](const httplib::Request& req, httplib::Response& res) {
      return refuse_framing(req, res) ? res.status : 100;
    });
    set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.has_header("X-Request-ID")) {
        res.set_header("X-Request-ID", zsimem::daemon::request_id_of(req));
      }
      if (res.body.empty()) {
        res.set_content(zsimem::daemon::detail_body("Error").dump(), "application/json");
      }
    });
    set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
      if (m_stream != nullptr && m_stream->must_close()) {
        res.set_header("Connection", "close");
      }
    });
    set_logger([](const httplib::Request& req, const httplib::Response& res) { check_response(req, res); });
    zsimem::daemon::add_routes(*this, service, metrics, m_options);
  }

  // Serves the requests of one connection, as GuardedServer does.
  void serve(std::string_view input) {
    MemoryStream stream(input);
    m_stream = &stream;
    for (std::size_t left = k_max_requests; left > 0 && stream.has_more(); --left) {
      stream.begin_request();
      bool connection_closed = false;
      const bool ok = process_request(stream, left == 1, connection_closed, [&stream](httplib::Request& req) {
        const auto check = zsimem::daemon::check_framing(req, k_max_body_bytes);
        if (check.refusal) {
          stream.refuse_body();
          return;
        }
        if (check.framing.kind == BodyFraming::Kind::none &&
            (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
          req.set_header("Content-Length", "0");
        }
        stream.begin_body(check.framing);
      });
      if (!ok || connection_closed || stream.must_close()) {
        break;
      }
    }
    m_stream = nullptr;
  }

private:
  zsimem::daemon::ServerOptions m_options;
  MemoryStream* m_stream = nullptr;
};

// The daemon's service over a JSON store holding known contexts, brought
// back to them before each input so that every input sees the same store.
class Fixture {
public:
  Fixture()
      : m_service(zsimem::daemon::open_daemon_service({"json", m_dir.path() / "store"}, m_metrics, {})),
        m_server(m_service, m_metrics) {
    spdlog::set_level(spdlog::level::off);
    const zsimem::Caller caller{"fuzz", "seed"};
    const auto merge = [&](std::string user, std::string ns, std::string delta, std::vector<std::string> tags = {},
                           std::string key = {}) {
      zsimem::MemoryUpdate update;
      update.user_id = std::move(user);
      update.ns = std::move(ns);
      update.delta = std::move(delta);
      update.tags = std::move(tags);
      update.idempotency_key = std::move(key);
      m_service.merge(caller, update);
    };
    merge("alice", "default", R"({"name":"Ada","prefs":{"theme":"dark","lang":"en"}})", {"seed"});
    merge("alice", "default", R"({"city":"London","prefs":{"lang":null}})", {}, "key-1");
    merge("alice", "work", R"({"project":"engine"})");
    merge("bob", "default", R"({"list":[1,2,3],"n":null})");
    zsimem::MemoryStore& store = m_service.store();
    for (const auto& key : store.contexts()) {
      zsimem::HistoryQuery query;
      query.oldest_first = true;
      for (auto& record : store.history(key, query)) {
        m_seed.push_back(std::move(record));
      }
      m_heads.push_back(*store.head(key));
    }
    m_audit_bytes = audit_size();
  }

  void run(std::string_view input) {
    m_server.serve(input);
    reset();
  }

private:
  std::filesystem::path audit_path() const { return m_dir.path() / "store" / "audit.jsonl"; }

  off_t audit_size() const {
    std::error_code error;
    return static_cast<off_t>(std::filesystem::file_size(audit_path(), error));
  }

  void reset() {
    zsimem::MemoryStore& store = m_service.store();
    const auto contexts = store.contexts();
    bool same = contexts.size() == m_heads.size();
    for (std::size_t i = 0; same && i < contexts.size(); ++i) {
      const auto head = store.head(contexts[i]);
      same = contexts[i] == m_heads[i].key() && head && head->hash == m_heads[i].hash;
    }
    if (!same) {
      for (const auto& key : contexts) {
        store.erase(key.user_id, std::nullopt);
      }
      require(store.append(m_seed, {}), "the seed versions are written back");
    }
    // The store appends under a lock on the file itself: take it too.
    const int fd = ::open(audit_path().c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      ::flock(fd, LOCK_EX);
      [[maybe_unused]] const int truncated = ::ftruncate(fd, m_audit_bytes);
      ::close(fd);
    }
  }

  zsimem::fuzz::ScratchDir m_dir;
  zsimem::Metrics m_metrics;
  zsimem::MemoryService m_service;
  FuzzServer m_server;
  std::vector<zsimem::VersionRecord> m_seed;
  std::vector<zsimem::VersionRecord> m_heads;
  off_t m_audit_bytes = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  fixture.run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
