#include "request_framing.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <initializer_list>
#include <string>
#include <utility>

using zsimem::daemon::BodyFraming;
using zsimem::daemon::check_framing;
using zsimem::daemon::ChunkedBodyScanner;
using Verdict = ChunkedBodyScanner::Verdict;

namespace {

httplib::Request request(std::initializer_list<std::pair<const char*, const char*>> headers,
                         std::string version = "HTTP/1.1") {
  httplib::Request req;
  req.method = "POST";
  req.version = std::move(version);
  for (const auto& [name, value] : headers) {
    req.headers.emplace(name, value);
  }
  return req;
}

// The status of the refusal, or 0 when the framing is accepted.
int refusal_status(const httplib::Request& req) {
  const auto check = check_framing(req, 100);
  return check.refusal ? check.refusal->status : 0;
}

// Feeds `body` byte by byte, as httplib reads a chunked body's lines.
Verdict scan_bytewise(ChunkedBodyScanner& scanner, const std::string& body) {
  Verdict verdict = Verdict::more;
  for (const char byte : body) {
    verdict = scanner.scan(&byte, 1);
  }
  return verdict;
}

} // namespace

TEST_CASE("request framing: one plain Content-Length or chunked, nothing else", "[http][framing]") {
  CHECK(check_framing(request({}), 100).framing.kind == BodyFraming::Kind::none);
  const auto length = check_framing(request({{"Content-Length", "42"}}), 100);
  CHECK_FALSE(length.refusal);
  CHECK(length.framing.kind == BodyFraming::Kind::length);
  CHECK(length.framing.length == 42);
  CHECK(check_framing(request({{"Transfer-Encoding", "Chunked"}}), 100).framing.kind == BodyFraming::Kind::chunked);

  CHECK(refusal_status(request({{"Content-Length", "101"}})) == 413);
  CHECK(refusal_status(request({{"Content-Length", "99999999999999999999999"}})) == 413);
  for (const char* bad : {"-1", "+1", "1.0", "0x10", "5, 5", "abc"}) {
    INFO(bad);
    CHECK(refusal_status(request({{"Content-Length", bad}})) == 400);
  }
  CHECK(refusal_status(request({{"Content-Length", "5"}, {"Content-Length", "5"}})) == 400);
  CHECK(refusal_status(request({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}})) == 400);
  CHECK(refusal_status(request({{"Transfer-Encoding", "chunked"}}, "HTTP/1.0")) == 400);
  CHECK(refusal_status(request({{"Transfer-Encoding", "chunked, chunked"}})) == 400);
  CHECK(refusal_status(request({{"Transfer-Encoding", "gzip"}})) == 501);
  CHECK(refusal_status(request({{"Transfer-Encoding", "gzip, chunked"}})) == 501);
}

TEST_CASE("request framing: a chunked body is followed to its end and held to the limit", "[http][framing]") {
  SECTION("the end is where the last chunk and the blank line are") {
    ChunkedBodyScanner scanner(100);
    CHECK(scan_bytewise(scanner, "5;ext=1\r\n") == Verdict::more);
    CHECK(scanner.readable(4096) == 5); // never past the chunk's data
    CHECK(scanner.scan("hello", 5) == Verdict::more);
    CHECK(scan_bytewise(scanner, "\r\n0\r\n") == Verdict::more);
    CHECK(scan_bytewise(scanner, "\r\n") == Verdict::done);
    CHECK(scanner.readable(4096) == 0);
  }
  SECTION("a size line over the limit is too large before its data") {
    ChunkedBodyScanner scanner(100);
    CHECK(scan_bytewise(scanner, "40\r\n") == Verdict::more);
    CHECK(scanner.scan(std::string(64, 'x').data(), 64) == Verdict::more);
    CHECK(scan_bytewise(scanner, "\r\n25") == Verdict::too_large); // 64 + 37 > 100
  }
  SECTION("anything off the grammar is malformed") {
    for (const char* body : {"zz\r\n", "\r\n", "5\n", "5 x\n", "1\r\nab", "0\r\nX-Trailer: 1\r\n\r\n"}) {
      INFO(body);
      ChunkedBodyScanner scanner(100);
      Verdict verdict = Verdict::more;
      for (const char* at = body; *at != '\0' && verdict == Verdict::more; ++at) {
        const std::size_t n = scanner.readable(1);
        verdict = n == 0 ? Verdict::malformed : scanner.scan(at, n);
      }
      CHECK(verdict == Verdict::malformed);
    }
  }
}
