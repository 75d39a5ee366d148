#include "http_server.hpp"
#include "support/temp_dir.hpp"
#include "support/test_daemon.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/metrics.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <unistd.h>
#include <vector>

// Hostile clients against a live daemon: every request is written byte for
// byte over a raw socket, so it can be anything httplib::Client would refuse
// to send. After each one the daemon must still answer normal requests.
using namespace zsimem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// The test server's limits (mirrored in Daemon::options()).
constexpr std::size_t k_kib = 1024;
constexpr std::size_t k_max_body_bytes = 64 * k_kib;
// Comfortably over the body limit.
constexpr std::size_t k_over_limit_bytes = 100 * k_kib;
// The detail of a 413 for the body limit.
const std::string k_too_large = "request body over the limit of " + std::to_string(k_max_body_bytes) + " bytes";
constexpr int k_read_timeout_seconds = 2;
// Threads kept ready; more start when connections hold them all.
constexpr std::size_t k_worker_threads = 8;
// How long a request that should be answered at once may take.
constexpr milliseconds k_prompt{1000};
// Slack on top of the read timeout before a stalled client counts as not dropped.
constexpr milliseconds k_drop_slack{1000};

const std::string k_memory = "/api/v1/memory";
const std::string k_known = k_memory + "/known";
// The known user's head after seeding; every row is followed by a read of it.
const std::string k_known_version = "2";

// The test daemon with the limits these cases are written against, and a
// client that gives up quickly.
struct Daemon : testing::TestDaemon {
  static daemon::ServerOptions options() {
    daemon::ServerOptions options = default_options();
    options.threads = k_worker_threads;
    options.max_body_bytes = k_max_body_bytes;
    options.read_timeout_seconds = k_read_timeout_seconds;
    return options;
  }

  explicit Daemon(std::string_view name, daemon::ServerOptions with = options()) : TestDaemon(name, std::move(with)) {}

  httplib::Client client() const {
    httplib::Client client = TestDaemon::client();
    client.set_read_timeout(3, 0);
    return client;
  }
};

// What came back on a raw connection.
struct RawResponse {
  int status = -1; // -1: no complete status line and headers arrived
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers; // names lower-cased
  std::string body;
  bool closed = false; // the server closed or reset the connection

  [[nodiscard]] std::optional<std::string> header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) {
        return value;
      }
    }
    return std::nullopt;
  }
};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  return text;
}

// A plain TCP connection to the daemon; no HTTP logic beyond reading one
// response, so nothing is normalised on the way out.
class RawConnection {
public:
  explicit RawConnection(int port) : m_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(m_fd >= 0);
    // A server that stops reading must not hang the test in send().
    const timeval send_timeout{3, 0};
    ::setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    REQUIRE(::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr) == 1);
    REQUIRE(::connect(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  }
  ~RawConnection() { ::close(m_fd); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // False when the server stopped accepting bytes (closed or reset).
  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) {
        continue;
      }
      if (sent <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Half-closes: the server sees EOF after the bytes sent.
  void finish_sending() { ::shutdown(m_fd, SHUT_WR); }

  // One response: status line, headers, then Content-Length bytes of body
  // (or everything up to EOF without one), whatever arrives by `timeout`.
  RawResponse read_response(milliseconds timeout) {
    RawResponse response;
    const auto deadline = Clock::now() + timeout;
    std::size_t header_end = std::string::npos;
    std::optional<std::size_t> content_length;
    for (;;) {
      if (header_end == std::string::npos) {
        header_end = m_buffer.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          content_length = parse_head(m_buffer.substr(0, header_end), response);
        }
      }
      if (header_end != std::string::npos && content_length && m_buffer.size() >= header_end + 4 + *content_length) {
        break;
      }
      if (!receive_some(deadline)) {
        break;
      }
    }
    response.closed = m_closed;
    if (header_end == std::string::npos) {
      response.status = -1;
      response.body = m_buffer; // whatever partial bytes came, for the failure message
      return response;
    }
    const std::size_t body_start = header_end + 4;
    const std::size_t body_size =
        content_length ? std::min(*content_length, m_buffer.size() - body_start) : m_buffer.size() - body_start;
    response.body = m_buffer.substr(body_start, body_size);
    m_buffer.erase(0, body_start + body_size);
    return response;
  }

  // Buffers what arrives until the server closes or `deadline` passes.
  void wait_closed(Clock::time_point deadline) {
    while (receive_some(deadline)) {
    }
  }
  [[nodiscard]] bool closed() const { return m_closed; }

  // The bytes of exactly one recv, once some arrive within `timeout` (""
  // on timeout or close); what read_response buffered is left alone.
  std::string receive_once(milliseconds timeout) {
    pollfd poll_fd{m_fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(timeout.count())) <= 0) {
      return {};
    }
    char chunk[64 * 1024];
    const ssize_t got = ::recv(m_fd, chunk, sizeof chunk, 0);
    return got > 0 ? std::string(chunk, static_cast<std::size_t>(got)) : std::string{};
  }

  // True when the server has sent something or closed, without waiting.
  bool server_spoke() {
    pollfd poll_fd{m_fd, POLLIN, 0};
    return ::poll(&poll_fd, 1, 0) > 0;
  }

private:
  // Reads what is available before `deadline`; false on timeout or close.
  bool receive_some(Clock::time_point deadline) {
    if (m_closed) {
      return false;
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd poll_fd{m_fd, POLLIN, 0};
    if (left <= 0 || ::poll(&poll_fd, 1, static_cast<int>(left)) <= 0) {
      return false;
    }
    char chunk[16 * 1024];
    const ssize_t got = ::recv(m_fd, chunk, sizeof chunk, 0);
    if (got <= 0) {
      m_closed = true; // EOF or reset
      return false;
    }
    m_buffer.append(chunk, static_cast<std::size_t>(got));
    return true;
  }

  // Fills status and headers; returns the Content-Length if there is one.
  static std::optional<std::size_t> parse_head(const std::string& head, RawResponse& response) {
    std::optional<std::size_t> content_length;
    std::size_t line_start = 0;
    bool first = true;
    while (line_start <= head.size()) {
      std::size_t line_end = head.find("\r\n", line_start);
      if (line_end == std::string::npos) {
        line_end = head.size();
      }
      const std::string line = head.substr(line_start, line_end - line_start);
      if (first) {
        response.status_line = line;
        const auto space = line.find(' ');
        if (line.starts_with("HTTP/1.") && space != std::string::npos && line.size() >= space + 4) {
          response.status = std::stoi(line.substr(space + 1, 3));
        }
        first = false;
      } else if (const auto colon = line.find(':'); colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        response.headers.emplace_back(lower(line.substr(0, colon)), value);
        if (response.headers.back().first == "content-length") {
          content_length = static_cast<std::size_t>(std::stoull(value));
        }
      }
      line_start = line_end + 2;
    }
    return content_length;
  }

  int m_fd;
  std::string m_buffer;
  bool m_closed = false;
};

// ---- Request builders: exact bytes, nothing added but what is written here.

std::string request_head(std::string_view method, std::string_view target) {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
}

std::string get_request(std::string_view target, std::string_view headers = "") {
  return request_head("GET", target) + std::string(headers) + "\r\n";
}

std::string body_request(std::string_view method, std::string_view target, std::string_view body,
                         std::string_view headers = "") {
  return request_head(method, target) +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(headers) + "\r\n" + std::string(body);
}

std::string post_request(std::string_view target, std::string_view body, std::string_view headers = "") {
  return body_request("POST", target, body, headers);
}

// A body in chunked transfer coding, 4 KiB per chunk.
std::string chunked(std::string_view body) {
  std::string out;
  constexpr std::size_t k_chunk = 4096;
  for (std::size_t at = 0; at < body.size(); at += k_chunk) {
    const auto part = body.substr(at, k_chunk);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    out += size;
    out += part;
    out += "\r\n";
  }
  return out + "0\r\n\r\n";
}

// A literal with embedded NUL bytes, all of it.
template <std::size_t N> std::string bytes(const char (&text)[N]) { return std::string(text, N - 1); }

std::string repeat(std::string_view text, std::size_t times) {
  std::string out;
  out.reserve(text.size() * times);
  for (std::size_t i = 0; i < times; ++i) {
    out += text;
  }
  return out;
}

// A valid MemoryUpdate for `user`, with one field of `filler_bytes` bytes.
std::string update_json(std::string_view user, std::size_t filler_bytes = 1) {
  return R"({"user_id":")" + std::string(user) + R"(","delta":{"filler":")" + std::string(filler_bytes, 'x') + R"("}})";
}

// ---- The table.

// What the body must be. httplib's own errors (framing, size) go through the
// daemon's error handler, so they are {"detail": "<reason>"} too.
struct BodyCheck {
  enum class Kind { detail_text, validation, any_json };
  Kind kind = Kind::detail_text;
  std::string text; // detail_text: the exact detail, or empty for "any string"
  Json loc;         // validation: `loc` of the first error
};

BodyCheck detail(std::string text = {}) { return {BodyCheck::Kind::detail_text, std::move(text), nullptr}; }
BodyCheck validation(std::string_view source, std::string_view field) {
  return {BodyCheck::Kind::validation, {}, Json::array({source, field})};
}
// Any JSON object; the row's `also` checks the rest.
BodyCheck any_json() { return {BodyCheck::Kind::any_json, {}, nullptr}; }

// The member at `pointer` in a response body, or null when there is none.
Json body_at(const RawResponse& r, const std::string& pointer) {
  const Json body = Json::parse(r.body, nullptr, false);
  const Json::json_pointer at(pointer);
  return body.is_object() && body.contains(at) ? body[at] : Json();
}

// Status of a row whose connection must be closed without any response
// (allowed for an incomplete request, RFC 9112 section 8).
constexpr int k_closed_without_response = -1;

struct HostileCase {
  std::string name;
  std::string bytes; // written to the socket exactly
  int status;
  BodyCheck body{}; // not checked for k_closed_without_response
  // Shut our sending side after the bytes, so the server sees EOF at once
  // (httplib then never answers: it does not write to a half-closed peer).
  bool half_close = false;
  // Non-empty: the daemon currently gets this row wrong; the text says how.
  // Such rows run in a [!mayfail] test case so the expectation stays right.
  std::string known_bug{};
  std::function<void(const Daemon&, const RawResponse&)> also{};
};

// An extra check: the rejected write did not reach the store.
std::function<void(const Daemon&, const RawResponse&)> not_stored(std::string user) {
  return [user = std::move(user)](const Daemon& d, const RawResponse&) {
    // A server reading the body to EOF handles it only once we have closed.
    std::this_thread::sleep_for(milliseconds(100));
    auto client = d.client();
    const auto result = client.Get(k_memory + "/" + user);
    REQUIRE(result);
    CHECK(result->status == 404);
  };
}

std::vector<HostileCase> hostile_cases() {
  const std::string update = update_json("known");
  const std::string rollback = k_known + "/rollback";
  const std::string json_head = "Content-Type: application/json\r\n";
  return {
      // -- Malformed JSON and wrong types in bodies.
      {.name = "malformed JSON (cut off)",
       .bytes = post_request(k_known, R"({"user_id":"known","delta":)"),
       .status = 400,
       .body = detail()},
      {.name = "empty body", .bytes = post_request(k_known, ""), .status = 400, .body = detail()},
      {.name = "trailing garbage after the JSON",
       .bytes = post_request(k_known, R"({"user_id":"known","delta":{}} x)"),
       .status = 400,
       .body = detail()},
      {.name = "delta as a string",
       .bytes = post_request(k_known, R"({"user_id":"known","delta":"a=1"})"),
       .status = 422,
       .body = validation("body", "delta")},
      {.name = "delta as an array",
       .bytes = post_request(k_known, R"({"user_id":"known","delta":[1,2]})"),
       .status = 422,
       .body = validation("body", "delta")},
      {.name = "delta as a number",
       .bytes = post_request(k_known, R"({"user_id":"known","delta":7})"),
       .status = 422,
       .body = validation("body", "delta")},
      {.name = "user_id as a number",
       .bytes = post_request(k_known, R"({"user_id":7,"delta":{}})"),
       .status = 422,
       .body = validation("body", "user_id")},
      {.name = "tags as an object",
       .bytes = post_request(k_known, R"({"user_id":"known","delta":{},"tags":{"a":"b"}})"),
       .status = 422,
       .body = validation("body", "tags")},
      {.name = "body a JSON array",
       .bytes = post_request(k_known, "[1,2,3]"),
       .status = 422,
       .body = validation("body", "body")},
      {.name = "expected_version negative",
       .bytes = post_request(k_known, R"({"user_id":"known","delta":{},"expected_version":-1})"),
       .status = 422,
       .body = validation("body", "expected_version")},
      {.name = "rollback version as an object",
       .bytes = post_request(rollback, R"({"version":{"v":1}})"),
       .status = 422,
       .body = validation("body", "version")},
      {.name = "rollback version negative",
       .bytes = post_request(rollback, R"({"version":-1})"),
       .status = 422,
       .body = validation("body", "version")},
      {.name = "rollback expected_version as an array",
       .bytes = post_request(rollback, R"({"version":"1","expected_version":[2]})"),
       .status = 422,
       .body = validation("body", "expected_version")},
      {.name = "number overflow (1e999) in the delta",
       .bytes = post_request(k_known, R"({"user_id":"known","delta":{"a":1e999}})"),
       .status = 400,
       .body = detail()},
      {.name = "JSON nested 10,000 levels",
       .bytes = post_request(k_known,
                             R"({"user_id":"known","delta":{"a":)" + repeat("[", 10000) + repeat("]", 10000) + "}}"),
       .status = 413,
       .body = detail()},
      {.name = "invalid UTF-8 in a JSON string",
       .bytes = post_request(k_known, "{\"user_id\":\"known\",\"delta\":{\"a\":\"\xff\xfe\"}}"),
       .status = 400,
       .body = detail()},
      {.name = "raw NUL byte in a JSON string",
       .bytes = post_request(k_known, bytes("{\"user_id\":\"known\",\"delta\":{\"a\":\"x\0y\"}}")),
       .status = 400,
       .body = detail()},
      {.name = "escaped NUL (\\u0000) is data: stored and read back",
       .bytes = post_request(k_memory + "/nul", R"({"user_id":"nul","delta":{"a":"x\u0000y"}})"),
       .status = 200,
       .body = any_json(),
       .also = [](const Daemon&, const RawResponse& r) { CHECK(body_at(r, "/data/a") == std::string("x\0y", 3)); }},

      // -- Body sizes, and lengths that lie. Headers that frame the body
      // wrongly are refused before a byte of it is read (RFC 9112 section 6),
      // and the connection closes after the answer.
      {.name = "body over the limit with Content-Length",
       .bytes = post_request(k_known, update_json("known", k_over_limit_bytes)),
       .status = 413,
       .body = detail(k_too_large)},
      {.name = "Content-Length of 10^15, body never sent",
       .bytes = request_head("POST", k_known) + json_head + "Content-Length: 1000000000000000\r\n\r\n",
       .status = 413,
       .body = detail(k_too_large)},
      {.name = "Content-Length past 2^64",
       .bytes = request_head("POST", k_known) + json_head + "Content-Length: 99999999999999999999999\r\n\r\n",
       .status = 413,
       .body = detail(k_too_large)},
      {.name = "Content-Length over the limit with Expect: 100-continue: refused instead of continued",
       .bytes = request_head("POST", k_known) + json_head + "Expect: 100-continue\r\nContent-Length: 200000\r\n\r\n",
       .status = 413,
       .body = detail(k_too_large)},
      // A request without Content-Length or Transfer-Encoding has no body
      // (RFC 9112 6.3, rule 7): this one is an empty update, and the bytes
      // after its head would be the next request.
      {.name = "body over the limit without Content-Length (RFC 9112 6.3: no body)",
       .bytes = request_head("POST", k_memory + "/nolength") + json_head + "\r\n" +
                update_json("nolength", k_over_limit_bytes),
       .status = 400,
       .body = detail(),
       .also = not_stored("nolength")},
      {.name = "chunked body over the limit",
       .bytes =
           request_head("POST", k_memory + "/chunked") + json_head + "Transfer-Encoding: chunked\r\n\r\n" +
           chunked(R"({"user_id":"chunked","delta":{"a":1},"junk":")" + std::string(k_over_limit_bytes, 'x') + "\"}"),
       .status = 413,
       .body = detail(k_too_large),
       .also = not_stored("chunked")},
      {.name = "chunk size over the limit, data never sent",
       .bytes = request_head("POST", k_memory + "/chunked") + json_head + "Transfer-Encoding: chunked\r\n\r\n" +
                "fffffffffff\r\n",
       .status = 413,
       .body = detail(k_too_large),
       .also = not_stored("chunked")},
      {.name = "Content-Length larger than the body, then EOF",
       .bytes = request_head("POST", k_known) + json_head + "Content-Length: 500\r\n\r\n" + update,
       .status = k_closed_without_response,
       .half_close = true},
      {.name = "Content-Length smaller than the body (cuts the JSON)",
       .bytes = request_head("POST", k_known) + json_head + "Content-Length: 10\r\n\r\n" + update,
       .status = 400,
       .body = detail()},
      {.name = "Content-Length not a number",
       .bytes = request_head("POST", k_known) + json_head + "Content-Length: abc\r\n\r\n" + update,
       .status = 400,
       .body = detail()},
      {.name = "two different Content-Length headers",
       .bytes = request_head("POST", k_memory + "/smuggled") + json_head +
                "Content-Length: " + std::to_string(update_json("smuggled").size()) + "\r\nContent-Length: 5\r\n\r\n" +
                update_json("smuggled"),
       .status = 400,
       .body = detail(),
       .also = not_stored("smuggled")},
      {.name = "two equal Content-Length headers",
       .bytes = request_head("POST", k_memory + "/smuggled") + json_head +
                repeat("Content-Length: " + std::to_string(update_json("smuggled").size()) + "\r\n", 2) + "\r\n" +
                update_json("smuggled"),
       .status = 400,
       .body = detail(),
       .also = not_stored("smuggled")},
      {.name = "Content-Length as a list (5, 5)",
       .bytes = request_head("POST", k_known) + json_head + "Content-Length: 5, 5\r\n\r\n{}{}{",
       .status = 400,
       .body = detail()},
      {.name = "negative Content-Length",
       .bytes = request_head("POST", k_known) + json_head + "Content-Length: -1\r\n\r\n" + update,
       .status = 400,
       .body = detail()},
      {.name = "Content-Length with a plus sign",
       .bytes = request_head("POST", k_known) + json_head + "Content-Length: +" + std::to_string(update.size()) +
                "\r\n\r\n" + update,
       .status = 400,
       .body = detail()},

      // -- Transfer codings.
      {.name = "unknown Transfer-Encoding (gzip) with a valid body",
       .bytes = request_head("POST", k_memory + "/coded") + json_head + "Transfer-Encoding: gzip\r\n\r\n" +
                update_json("coded"),
       .status = 501,
       .body = detail(),
       .also = not_stored("coded")},
      {.name = "gzip, then chunked",
       .bytes = request_head("POST", k_memory + "/coded") + json_head + "Transfer-Encoding: gzip, chunked\r\n\r\n" +
                chunked(update_json("coded")),
       .status = 501,
       .body = detail(),
       .also = not_stored("coded")},
      {.name = "a transfer coding that is not UTF-8 (quoted in the detail; found by fuzz_http_request)",
       .bytes = request_head("POST", k_memory + "/coded") + json_head + "Transfer-Encoding: \xfe\xff chunked\r\n\r\n" +
                chunked(update_json("coded")),
       .status = 501,
       .body = detail(),
       .also = not_stored("coded")},
      {.name = "chunked twice",
       .bytes = request_head("POST", k_memory + "/coded") + json_head +
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(update_json("coded")),
       .status = 400,
       .body = detail(),
       .also = not_stored("coded")},
      {.name = "Transfer-Encoding and Content-Length together (a smuggling classic)",
       .bytes = request_head("POST", k_memory + "/smuggled") + json_head + "Content-Length: 4\r\n" +
                "Transfer-Encoding: chunked\r\n\r\n" + chunked(update_json("smuggled")),
       .status = 400,
       .body = detail(),
       .also = not_stored("smuggled")},
      {.name = "Transfer-Encoding in an HTTP/1.0 request",
       .bytes = "POST " + k_memory + "/coded HTTP/1.0\r\nHost: 127.0.0.1\r\n" + json_head +
                "Transfer-Encoding: chunked\r\n\r\n" + chunked(update_json("coded")),
       .status = 400,
       .body = detail(),
       .also = not_stored("coded")},
      {.name = "chunked body within the limit, with a chunk extension",
       .bytes = request_head("POST", k_memory + "/chunky") + json_head + "Transfer-Encoding: chunked\r\n\r\n" +
                "5;name=value\r\n" + update_json("chunky").substr(0, 5) + "\r\n" +
                chunked(update_json("chunky").substr(5)),
       .status = 200,
       .body = any_json(),
       .also = [](const Daemon&, const RawResponse& r) { CHECK(body_at(r, "/user_id") == "chunky"); }},
      {.name = "chunked body with a trailer field",
       .bytes = request_head("POST", k_memory + "/trailer") + json_head + "Transfer-Encoding: chunked\r\n\r\n" +
                chunked(update_json("trailer")).substr(0, chunked(update_json("trailer")).size() - 2) +
                "X-Trailer: 1\r\n\r\n",
       .status = 400,
       .body = detail(),
       .also = not_stored("trailer")},
      {.name = "chunked body with a broken chunk size",
       .bytes = request_head("POST", k_known) + json_head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + update +
                "\r\n0\r\n\r\n",
       .status = 400,
       .body = detail()},
      {.name = "chunked body with a chunk shorter than its size, then EOF",
       .bytes = request_head("POST", k_known) + json_head + "Transfer-Encoding: chunked\r\n\r\nfff\r\n" + update +
                "\r\n0\r\n\r\n",
       .status = k_closed_without_response,
       .half_close = true},

      // -- Paths: traversal, encoded separators, sizes, control bytes. An encoded
      // slash in the user-id segment is a user id containing '/': 422.
      {.name = "path traversal ..%2F..%2Fetc",
       .bytes = get_request(k_memory + "/..%2F..%2Fetc"),
       .status = 422,
       .body = validation("path", "user_id")},
      {.name = "path traversal in a write",
       .bytes = post_request(k_memory + "/..%2F..%2Fpwned", update_json("pwned")),
       .status = 422,
       .body = validation("path", "user_id")},
      {.name = "user id %2e%2e",
       .bytes = get_request(k_memory + "/%2e%2e"),
       .status = 422,
       .body = validation("path", "user_id")},
      {.name = "user id with an encoded ../ inside",
       .bytes = get_request(k_memory + "/a%2e%2e%2fb"),
       .status = 422,
       .body = validation("path", "user_id")},
      {.name = "encoded slash in a user id (known%2Fhistory)",
       .bytes = get_request(k_known + "%2Fhistory"),
       .status = 422,
       .body = validation("path", "user_id")},
      {.name = "10 KB user id",
       .bytes = get_request(k_memory + "/" + std::string(10 * k_kib, 'a')),
       .status = 414,
       .body = detail("URI Too Long")},
      {.name = "200-byte user id",
       .bytes = get_request(k_memory + "/" + std::string(200, 'a')),
       .status = 422,
       .body = validation("path", "user_id")},
      {.name = "CR LF in a user id via percent-encoding",
       .bytes = get_request(k_memory + "/a%0d%0aSet-Cookie:%20x=1"),
       .status = 422,
       .body = validation("path", "user_id"),
       .also = [](const Daemon&, const RawResponse& r) { CHECK_FALSE(r.header("set-cookie").has_value()); }},
      {.name = "NUL in a user id via percent-encoding",
       .bytes = get_request(k_memory + "/a%00b"),
       .status = 422,
       .body = validation("path", "user_id")},
      {.name = "invalid UTF-8 in a user id",
       .bytes = get_request(k_memory + "/a%ff%fe"),
       .status = 422,
       .body = validation("path", "user_id")},
      {.name = "raw NUL byte in the request line",
       .bytes = bytes("GET /healthz\0 HTTP/1.1\r\nHost: x\r\n\r\n"),
       .status = 400,
       .body = detail("Bad Request")},

      // -- Query values.
      {.name = "limit=-1",
       .bytes = get_request(k_known + "/history?limit=-1"),
       .status = 422,
       .body = validation("query", "limit")},
      {.name = "limit=99999999999999999999",
       .bytes = get_request(k_known + "/history?limit=99999999999999999999"),
       .status = 422,
       .body = validation("query", "limit")},
      {.name = "audit log limit=-1",
       .bytes = get_request(k_memory + "/logs?limit=-1"),
       .status = 422,
       .body = validation("query", "limit")},
      {.name = "version=0",
       .bytes = get_request(k_known + "?version=0"),
       .status = 422,
       .body = validation("query", "version")},
      {.name = "date=garbage",
       .bytes = get_request(k_known + "?date=garbage"),
       .status = 422,
       .body = validation("query", "date")},
      {.name = "namespace=..%2F..%2Fetc",
       .bytes = get_request(k_known + "?namespace=..%2F..%2Fetc"),
       .status = 422,
       .body = validation("query", "namespace")},
      {.name = "version 0 in the path",
       .bytes = get_request(k_known + "/versions/0"),
       .status = 422,
       .body = validation("path", "version")},
      {.name = "invalid UTF-8 in a query version (version=%ff)",
       .bytes = get_request(k_known + "?version=%ff"),
       .status = 422,
       .body = validation("query", "version")},

      // -- Headers.
      {.name = "CR LF in X-Request-ID via percent-encoding",
       .bytes = get_request(k_known, "X-Request-ID: abc%0d%0aSet-Cookie:x=1\r\n"),
       .status = 200,
       .body = any_json(),
       .also =
           [](const Daemon&, const RawResponse& r) {
             CHECK_FALSE(r.header("set-cookie").has_value());
             CHECK(r.header("x-request-id") != "abc");
           }},
      {.name = "bare CR in X-Request-ID",
       .bytes = get_request(k_known, "X-Request-ID: abc\rSet-Cookie: x=1\r\n"),
       .status = 200,
       .body = any_json(),
       .also =
           [](const Daemon&, const RawResponse& r) {
             CHECK_FALSE(r.header("set-cookie").has_value());
             CHECK(r.header("x-request-id") != "abc");
           }},
      {.name = "tab (a control character) in Idempotency-Key",
       .bytes = post_request(k_known, update, "Idempotency-Key: a\tb\r\n"),
       .status = 422,
       .body = validation("header", "Idempotency-Key")},
      {.name = "LF in Idempotency-Key via percent-encoding",
       .bytes = post_request(k_known, update, "Idempotency-Key: a%0ab\r\n"),
       .status = 422,
       .body = validation("header", "Idempotency-Key")},
      {.name = "300-byte Idempotency-Key",
       .bytes = post_request(k_known, update, "Idempotency-Key: " + std::string(300, 'k') + "\r\n"),
       .status = 422,
       .body = validation("header", "Idempotency-Key")},
      {.name = "a 10 KB header line",
       .bytes = get_request(k_known, "X-Big: " + std::string(10 * k_kib, 'h') + "\r\n"),
       .status = 400,
       .body = detail("Bad Request")},
      {.name = "3,000 headers",
       .bytes = get_request(k_known, repeat("X-Filler: 0123456789\r\n", 3000)),
       .status = 200,
       .body = any_json()},
      {.name = "headers over 1 MiB in all",
       .bytes = get_request(k_known, repeat("X-Filler: " + std::string(1000, 'f') + "\r\n", 1100)),
       .status = 431,
       .body = detail("Request Header Fields Too Large")},
      {.name = "GET with a body: answered, and the unread body closes the connection",
       .bytes = body_request("GET", k_known, "{}"),
       .status = 200,
       .body = any_json(),
       .also = [](const Daemon&, const RawResponse& r) { CHECK(r.header("connection") == "close"); }},
      {.name = "If-Match not a version",
       .bytes = post_request(k_known, update, "If-Match: \"abc\"\r\n"),
       .status = 422,
       .body = validation("header", "If-Match")},
      {.name = "If-Match weak",
       .bytes = post_request(k_known, update, "If-Match: W/\"2\"\r\n"),
       .status = 422,
       .body = validation("header", "If-Match")},
      {.name = "If-Match negative",
       .bytes = post_request(k_known, update, "If-Match: -1\r\n"),
       .status = 422,
       .body = validation("header", "If-Match")},
      {.name = "If-Match past 2^64",
       .bytes = post_request(k_known, update, "If-Match: \"99999999999999999999\"\r\n"),
       .status = 422,
       .body = validation("header", "If-Match")},
      {.name = "If-Match empty quotes",
       .bytes = post_request(k_known, update, "If-Match: \"\"\r\n"),
       .status = 422,
       .body = validation("header", "If-Match")},
      {.name = "If-Match stale",
       .bytes = post_request(k_known, update, "If-Match: \"1\"\r\n"),
       .status = 412,
       .body = any_json(),
       .also = [](const Daemon&,
                  const RawResponse& r) { CHECK(body_at(r, "/detail/current_version") == k_known_version); }},
      {.name = "If-Match with invalid UTF-8",
       .bytes = post_request(k_known, update, "If-Match: \"\xff\"\r\n"),
       .status = 422,
       .body = validation("header", "If-Match")},

      // -- Methods.
      {.name = "PUT on a user",
       .bytes = body_request("PUT", k_known, update),
       .status = 405,
       .body = detail("Method Not Allowed")},
      {.name = "PATCH on a user",
       .bytes = body_request("PATCH", k_known, update),
       .status = 405,
       .body = detail("Method Not Allowed")},
      {.name = "DELETE on history",
       .bytes = body_request("DELETE", k_known + "/history", ""),
       .status = 405,
       .body = detail("Method Not Allowed")},
      {.name = "GET on rollback", .bytes = get_request(rollback), .status = 405, .body = detail("Method Not Allowed")},
      {.name = "POST on the audit log",
       .bytes = post_request(k_memory + "/logs", "{}"),
       .status = 405,
       .body = detail("Method Not Allowed")},
      {.name = "OPTIONS on a user",
       .bytes = request_head("OPTIONS", k_known) + "\r\n",
       .status = 405,
       .body = detail("Method Not Allowed")},
      {.name = "TRACE on a user",
       .bytes = request_head("TRACE", k_known) + "\r\n",
       .status = 405,
       .body = detail("Method Not Allowed")},
      {.name = "CONNECT",
       .bytes = request_head("CONNECT", "127.0.0.1:22") + "\r\n",
       .status = 405,
       .body = detail("Method Not Allowed")},
      {.name = "POST on /healthz",
       .bytes = post_request("/healthz", "{}"),
       .status = 405,
       .body = detail("Method Not Allowed")},

      {.name = "GET on batch",
       .bytes = get_request(k_memory + "/batch"),
       .status = 405,
       .body = detail("Method Not Allowed")},

      // -- The batch endpoint.
      {.name = "batch updates as an object",
       .bytes = post_request(k_memory + "/batch", R"({"updates":{"user_id":"known"}})"),
       .status = 422,
       .body = validation("body", "updates")},
      {.name = "batch atomic as a string",
       .bytes = post_request(k_memory + "/batch", R"({"updates":[],"atomic":"yes"})"),
       .status = 422,
       .body = validation("body", "atomic")},
      {.name = "batch of 1,001 updates",
       .bytes = post_request(k_memory + "/batch", R"({"updates":[{})" + repeat(",{}", 1000) + "]}"),
       .status = 413,
       .body = detail()},
      {.name = "batch body nested 10,000 levels",
       .bytes = post_request(k_memory + "/batch", R"({"reads":)" + repeat("[", 10000) + repeat("]", 10000) + "}"),
       .status = 413,
       .body = detail()},
      {.name = "batch items of the wrong types, one by one",
       .bytes = post_request(
           k_memory + "/batch",
           R"({"updates":[7,{"user_id":"..","delta":{}}],)"
           R"("reads":[{"user_id":7},{"user_id":"known","version":{"v":1}},{"user_id":"known","date":[]}]})"),
       .status = 200,
       .body = any_json(),
       .also =
           [](const Daemon&, const RawResponse& r) {
             // Each bad item fails on its own with 422; nothing else happens.
             for (const char* item :
                  {"/updates/0/status", "/updates/1/status", "/reads/0/status", "/reads/1/status", "/reads/2/status"}) {
               INFO(item);
               CHECK(body_at(r, item) == 422);
             }
           }},
      {.name = "atomic batch with one bad update writes nothing",
       .bytes = post_request(k_memory + "/batch", R"({"atomic":true,"updates":[{"user_id":"atomic","delta":{"a":1}},)"
                                                  R"({"user_id":"atomic","delta":"oops"}]})"),
       .status = 422,
       .body = validation("body", "updates[1].delta"),
       .also = not_stored("atomic")},

      // -- Broken request lines.
      {.name = "garbage request line",
       .bytes = bytes("\x16\x03\x01\x02\x00 garbage\r\n\r\n"),
       .status = 400,
       .body = detail("Bad Request")},
      {.name = "HTTP/0.9 request", .bytes = "GET /healthz\r\n", .status = 400, .body = detail("Bad Request")},
  };
}

// ---- Running rows.

RawResponse send_case(const Daemon& d, const HostileCase& c) {
  RawConnection connection(d.port);
  connection.send_all(c.bytes); // the server may answer before it has read everything
  if (c.half_close) {
    connection.finish_sending();
  }
  return connection.read_response(k_prompt);
}

void seed(const Daemon& d) {
  auto client = d.client();
  for (int n = 1; n <= 2; ++n) {
    const Json update{{"user_id", "known"}, {"delta", {{"n", n}}}};
    const auto result = client.Post(k_known, update.dump(), "application/json");
    REQUIRE(result);
    REQUIRE(result->status == 200);
  }
}

// The daemon still answers health checks and reads of the known context.
void check_still_serves(const Daemon& d) {
  auto client = d.client();
  const auto health = client.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  const auto known = client.Get(k_known);
  REQUIRE(known);
  CHECK(known->status == 200);
  CHECK(Json::parse(known->body, nullptr, false).value("version", "") == k_known_version);
}

void check_case(const Daemon& d, const HostileCase& c) {
  INFO("request: " << c.name << " (" << d.backend << ")" << (c.known_bug.empty() ? "" : "; known bug: ")
                   << c.known_bug);
  const RawResponse r = send_case(d, c);
  INFO("status line: '" << r.status_line << "'" << (r.closed ? ", closed" : ""));
  INFO("body: " << r.body.substr(0, 300));
  if (std::getenv("ZSIMEM_HOSTILE_TABLE") != nullptr) { // the table for reports: row, expected, actual
    std::fprintf(stderr, "%s | %d | %d %s\n", c.name.c_str(), c.status, r.status, r.body.substr(0, 120).c_str());
  }
  CHECK(r.status == c.status);
  if (c.status == k_closed_without_response) {
    CHECK(r.closed);
  } else if (r.status == c.status) { // a wrong status has failed already; its body says nothing more
    const Json body = Json::parse(r.body, nullptr, false);
    CHECK(body.is_object());
    const Json detail = body.is_object() ? body.value("detail", Json()) : Json();
    switch (c.body.kind) {
    case BodyCheck::Kind::detail_text:
      CHECK(detail.is_string());
      if (!c.body.text.empty()) {
        CHECK(detail == c.body.text);
      }
      break;
    case BodyCheck::Kind::validation:
      CHECK(detail.is_array());
      if (detail.is_array() && !detail.empty()) {
        CHECK(detail[0]["loc"] == c.body.loc);
        CHECK(detail[0]["type"] == "value_error");
      }
      break;
    case BodyCheck::Kind::any_json: break;
    }
    // Even httplib's own answers to broken framing carry a request id.
    CHECK_FALSE(r.header("x-request-id").value_or("").empty());
    CHECK_FALSE(r.header("exception_what").has_value()); // internal errors must not leak
  }
  if (c.also) {
    c.also(d, r);
  }
  check_still_serves(d);
}

} // namespace

TEST_CASE("http hostile: each hostile request gets its documented status and the daemon keeps serving",
          "[http][hostile]") {
  const Daemon d(GENERATE(from_range(file_backend_names())));
  seed(d);
  const auto cases = hostile_cases();
  REQUIRE(cases.size() >= 30);
  for (const auto& c : cases) {
    if (c.known_bug.empty()) {
      check_case(d, c);
    }
  }
}

// The rows the daemon gets wrong today, with the right expectation kept;
// [!mayfail] reports them without failing the run. Move a row back (clear
// its known_bug) once it is fixed.
TEST_CASE("http hostile: known bugs", "[http][hostile][!mayfail]") {
  const auto cases = hostile_cases();
  if (std::none_of(cases.begin(), cases.end(), [](const auto& c) { return !c.known_bug.empty(); })) {
    return; // none today
  }
  // HTTP-layer bugs, the same for every backend; one keeps the run short.
  const Daemon d("sqlite");
  seed(d);
  for (const auto& c : cases) {
    if (!c.known_bug.empty()) {
      check_case(d, c);
    }
  }
}

namespace {

// A connection that sent part of a request and then went quiet, or keeps
// trickling a byte every half second so that no single wait times out.
struct StalledClient {
  std::string what;
  std::string bytes;
  // The daemon's answer once it gives up: 408 {"detail":"Request Timeout"},
  // or (no request line yet) closing without a response.
  bool expect_answer = true;
  bool trickle = false;
  std::unique_ptr<RawConnection> connection{};
  std::optional<milliseconds> gave_up_after{};
  RawResponse response{};
};

// How long a normal request took, or nullopt if it failed.
std::optional<milliseconds> timed_health_check(const Daemon& d) {
  auto client = d.client();
  const auto start = Clock::now();
  const auto result = client.Get("/healthz");
  if (!result || result->status != 200) {
    return std::nullopt;
  }
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

const std::string k_half_headers = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ";

} // namespace

TEST_CASE("http hostile: stalled and slowloris clients are dropped within the read timeout while others are served",
          "[http][hostile]") {
  const Daemon d("sqlite"); // transport behaviour; the backend does not matter
  seed(d);
  std::vector<StalledClient> stalled;
  stalled.push_back({.what = "half the headers", .bytes = k_half_headers});
  stalled.push_back({.what = "request line only", .bytes = "GET /healthz HTTP/1.1\r\n"});
  stalled.push_back({.what = "half the request line", .bytes = "GET /heal", .expect_answer = false});
  stalled.push_back({.what = "half the body", .bytes = post_request(k_known, update_json("known")).substr(0, 150)});
  stalled.push_back(
      {.what = "headers without the blank line", .bytes = "POST /api/v1/memory/known HTTP/1.1\r\nHost: 127.0.0.1\r\n"});
  // Each wait for a byte is short; the request head as a whole is not.
  stalled.push_back({.what = "headers trickled (slowloris)", .bytes = k_half_headers, .trickle = true});
  stalled.push_back({.what = "body trickled",
                     .bytes = request_head("POST", k_known) + "Content-Length: 1000\r\n\r\n{",
                     .trickle = true});

  const auto start = Clock::now();
  for (auto& s : stalled) {
    s.connection = std::make_unique<RawConnection>(d.port);
    REQUIRE(s.connection->send_all(s.bytes));
  }
  // Normal clients keep coming while the stalled ones wait out the timeout.
  const auto deadline = start + std::chrono::seconds(k_read_timeout_seconds) + k_drop_slack;
  auto next_trickle = start + milliseconds(500);
  milliseconds slowest{0};
  int served = 0;
  int failed = 0;
  while (Clock::now() < deadline &&
         std::any_of(stalled.begin(), stalled.end(), [](const auto& s) { return !s.gave_up_after; })) {
    if (const auto took = timed_health_check(d)) {
      ++served;
      slowest = std::max(slowest, *took);
    } else {
      ++failed;
    }
    const bool trickle_now = Clock::now() >= next_trickle;
    if (trickle_now) {
      next_trickle += milliseconds(500);
    }
    for (auto& s : stalled) {
      if (!s.gave_up_after && s.connection->server_spoke()) {
        s.gave_up_after = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        s.response = s.connection->read_response(milliseconds(500));
      } else if (!s.gave_up_after && s.trickle && trickle_now) {
        s.connection->send_all(s.what.starts_with("body") ? " " : "a");
      }
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  CHECK(failed == 0);
  CHECK(served >= 5);
  // Well under the read timeout: nobody waited for the stalled clients.
  CHECK(slowest < milliseconds(1000));
  for (const auto& s : stalled) {
    INFO(s.what << ": status line '" << s.response.status_line << "', body " << s.response.body);
    REQUIRE(s.gave_up_after.has_value());
    // Not before the timeout (the request might still have completed), not long after.
    CHECK(*s.gave_up_after >= std::chrono::seconds(k_read_timeout_seconds) - milliseconds(500));
    CHECK(*s.gave_up_after <= std::chrono::seconds(k_read_timeout_seconds) + k_drop_slack);
    if (s.expect_answer) {
      CHECK(s.response.status == 408);
      CHECK(Json::parse(s.response.body, nullptr, false) == Json{{"detail", "Request Timeout"}});
      CHECK(s.response.header("connection") == "close");
      CHECK_FALSE(s.response.header("x-request-id").value_or("").empty());
    } else {
      CHECK(s.response.status == -1);
    }
    // The worker lets go of the connection at once, not after a keep-alive wait.
    s.connection->wait_closed(Clock::now() + milliseconds(500));
    CHECK(s.connection->closed());
  }
  check_still_serves(d);
}

TEST_CASE("http hostile: stalled connections beyond the ready workers do not hold up others", "[http][hostile]") {
  const Daemon d("sqlite");
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (std::size_t i = 0; i < 3 * k_worker_threads; ++i) {
    stalled.push_back(std::make_unique<RawConnection>(d.port));
    REQUIRE(stalled.back()->send_all(k_half_headers));
  }
  std::this_thread::sleep_for(milliseconds(100)); // let workers pick them up
  // Each takes a thread (as a long event stream would); the pool grows.
  for (int i = 0; i < 3; ++i) {
    const auto took = timed_health_check(d);
    INFO(3 * k_worker_threads << " stalled connections");
    REQUIRE(took.has_value());
    CHECK(*took < k_prompt);
  }
}

TEST_CASE("http hostile: connections over max_connections are answered 503 and closed", "[http][hostile]") {
  constexpr std::size_t k_max_connections = 4;
  daemon::ServerOptions options = Daemon::options();
  options.threads = 2;
  options.max_connections = k_max_connections;
  const Daemon d("sqlite", options);
  std::vector<std::unique_ptr<RawConnection>> held;
  for (std::size_t i = 0; i < k_max_connections; ++i) {
    held.push_back(std::make_unique<RawConnection>(d.port));
    REQUIRE(held.back()->send_all(k_half_headers));
  }
  std::this_thread::sleep_for(milliseconds(100));
  {
    RawConnection over(d.port);
    over.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const auto start = Clock::now();
    const RawResponse r = over.read_response(k_prompt);
    INFO("status line '" << r.status_line << "', body " << r.body);
    CHECK(r.status == 503);
    CHECK(Clock::now() - start < k_prompt);
    CHECK(r.header("connection") == "close");
    CHECK(r.header("retry-after") == "1");
    CHECK_FALSE(r.header("x-request-id").value_or("").empty());
    CHECK(Json::parse(r.body, nullptr, false).value("detail", "").find("too many connections") != std::string::npos);
    over.wait_closed(Clock::now() + k_prompt);
    CHECK(over.closed());
  }
  // Once the held connections go, new ones are served again.
  held.clear();
  const auto until = Clock::now() + k_prompt;
  std::optional<milliseconds> took;
  while (!took && Clock::now() < until) {
    took = timed_health_check(d);
  }
  CHECK(took.has_value());
  auto client = d.client();
  const auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("status=\"503\"") != std::string::npos);
}

TEST_CASE("http hostile: a connection carries another request only when the last one was read to its end",
          "[http][hostile]") {
  const Daemon d("sqlite");
  seed(d);
  const std::string keep_alive_head = "Host: 127.0.0.1\r\nContent-Type: application/json\r\n";
  const auto get_known = "GET " + k_known + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const auto is_known = [](const RawResponse& r) {
    return r.status == 200 && Json::parse(r.body, nullptr, false).value("user_id", "") == "known";
  };

  SECTION("requests read to their end keep the connection; pipelined ones are answered in order") {
    RawConnection connection(d.port);
    const std::string update = update_json("other");
    const std::string chunked_update = update_json("chunky");
    REQUIRE(connection.send_all("POST " + k_memory + "/other HTTP/1.1\r\n" + keep_alive_head +
                                "Content-Length: " + std::to_string(update.size()) + "\r\n\r\n" + update + "POST " +
                                k_memory + "/chunky HTTP/1.1\r\n" + keep_alive_head +
                                "Transfer-Encoding: chunked\r\n\r\n" + chunked(chunked_update) + get_known));
    for (const char* user : {"other", "chunky", "known"}) {
      INFO(user);
      const RawResponse r = connection.read_response(k_prompt);
      CHECK(r.status == 200);
      CHECK(Json::parse(r.body, nullptr, false).value("user_id", "") == user);
      CHECK(r.header("connection") != "close");
    }
    CHECK_FALSE(connection.closed());
  }
  SECTION("a POST without Content-Length has no body: what follows is the next request") {
    RawConnection connection(d.port);
    REQUIRE(connection.send_all("POST " + k_known + " HTTP/1.1\r\n" + keep_alive_head + "\r\n" + get_known));
    CHECK(connection.read_response(k_prompt).status == 400); // an empty body is not JSON
    CHECK(is_known(connection.read_response(k_prompt)));
  }
  SECTION("an answer given before the body was read closes the connection") {
    for (const std::string& head :
         {"POST " + k_known + " HTTP/1.1\r\n" + keep_alive_head + "Content-Length: 1000000000\r\n\r\n",
          "POST " + k_memory + "/a%2Fb HTTP/1.1\r\n" + keep_alive_head + "Content-Length: 5\r\n\r\n",
          "GET " + k_known + " HTTP/1.1\r\n" + keep_alive_head + "Content-Length: 5\r\n\r\n"}) {
      INFO(head);
      RawConnection connection(d.port);
      // The body (with a request hidden in it) is sent, but never read.
      REQUIRE(connection.send_all(head + "12345" + get_known));
      const RawResponse r = connection.read_response(k_prompt);
      CHECK((r.status != 200 || head.starts_with("GET")));
      CHECK(r.header("connection") == "close");
      connection.wait_closed(Clock::now() + k_prompt);
      CHECK(connection.closed());
      CHECK(connection.read_response(milliseconds(0)).status == -1); // the hidden request got no answer
    }
  }
}

TEST_CASE("http: a response's head and body leave together; a HEAD response is its head alone", "[http]") {
  const Daemon d("sqlite");
  seed(d);
  RawConnection connection(d.port);
  const auto request = [&](std::string_view method) {
    REQUIRE(connection.send_all(std::string(method) + " " + k_known + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  };
  // Sent in one piece, the whole answer comes out of the first recv.
  request("GET");
  const std::string whole = connection.receive_once(k_prompt);
  const auto head_end = whole.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  CHECK(Json::parse(whole.substr(head_end + 4), nullptr, false).value("user_id", "") == "known");
  // The same head for HEAD, with its Content-Length but no body: the next
  // answer on the connection starts right after it.
  request("HEAD");
  request("GET");
  std::string both;
  while (both.find("\r\n\r\n", both.find("\r\n\r\n") + 4) == std::string::npos) {
    const std::string more = connection.receive_once(k_prompt);
    REQUIRE_FALSE(more.empty());
    both += more;
  }
  const auto first_end = both.find("\r\n\r\n");
  const std::string head_only = both.substr(0, first_end + 4);
  CHECK_THAT(head_only, Catch::StartsWith("HTTP/1.1 200"));
  CHECK_THAT(lower(head_only), Catch::Contains("content-length: " + std::to_string(whole.size() - head_end - 4)));
  CHECK_THAT(both.substr(first_end + 4), Catch::StartsWith("HTTP/1.1 200"));
}

TEST_CASE("http hostile: malformed requests neither add metric series nor borrow a route", "[http][hostile]") {
  const Daemon d("sqlite");
  auto client = d.client();
  constexpr int k_garbage_methods = 20;
  for (int i = 0; i < k_garbage_methods; ++i) {
    // One keep-alive connection, so one worker: a normal request, then garbage.
    RawConnection connection(d.port);
    REQUIRE(connection.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    CHECK(connection.read_response(k_prompt).status == 200);
    REQUIRE(connection.send_all("X" + std::to_string(i) + " /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    CHECK(connection.read_response(k_prompt).status == 400);
  }
  const auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  std::size_t series_400 = 0;
  std::size_t series_400_unmatched = 0;
  std::istringstream lines(metrics->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("zsimem_http_requests_total{") && line.find("status=\"400\"") != std::string::npos) {
      ++series_400;
      if (line.find("route=\"unmatched\"") != std::string::npos) {
        ++series_400_unmatched;
      }
    }
  }
  INFO(metrics->body);
  // The method label must not be whatever the client wrote, or every new
  // garbage method would add a series forever.
  CHECK(series_400 < static_cast<std::size_t>(k_garbage_methods));
  // Requests rejected before routing must not keep the route label of the
  // worker's previous request.
  CHECK(series_400_unmatched == series_400);
}
