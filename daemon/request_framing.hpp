#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace httplib {
struct Request;
}

// How a request says where its body ends (RFC 9112 section 6), checked from
// its headers before a byte of the body is read. cpp-httplib trusts the
// first Content-Length, reads "-1" as 2^64-1, ignores codings other than
// chunked and reads a body without either header until the client closes:
// each of those lets one request be read two ways (request smuggling behind
// a proxy) or holds a worker. Here the first three are refused, and a
// request with neither header has no body.
namespace zsimem::daemon {

// Where the body ends.
struct BodyFraming {
  enum class Kind {
    none,    // no Content-Length and no Transfer-Encoding: no body (RFC 9112 6.3, rule 7)
    length,  // Content-Length bytes
    chunked, // Transfer-Encoding: chunked
  };
  Kind kind = Kind::none;
  std::uint64_t length = 0; // for Kind::length
};

// Why a request is answered without reading its body.
struct FramingRefusal {
  int status; // 400, 413 or 501
  std::string detail;
};

// The request's framing, or why it is refused: more than one Content-Length
// or one that is not a plain decimal number (400), Content-Length together
// with Transfer-Encoding or Transfer-Encoding in HTTP/1.0 (400), a transfer
// coding other than one `chunked` (501), a declared length over
// `max_body_bytes` (413).
struct FramingCheck {
  BodyFraming framing;
  std::optional<FramingRefusal> refusal;
};
FramingCheck check_framing(const httplib::Request& req, std::size_t max_body_bytes);

// The detail of a 413 for a body over `max_body_bytes`, however it is framed.
std::string body_too_large(std::size_t max_body_bytes);

// Follows a chunked body (RFC 9112 section 7.1) as it is read, so that its
// payload is held to the limit as it arrives (a chunked body declares no
// size) and its end is known: whatever follows belongs to the next request.
// Strict: anything off the grammar is malformed, and so are trailer fields
// (cpp-httplib would refuse them too).
class ChunkedBodyScanner {
public:
  enum class Verdict { more, done, malformed, too_large };

  explicit ChunkedBodyScanner(std::size_t max_payload_bytes) : m_max_payload(max_payload_bytes) {}

  // How many of the next `wanted` bytes to read: within one chunk's data,
  // else one byte at a time, none after the end.
  [[nodiscard]] std::size_t readable(std::size_t wanted) const;
  // Follows `size` bytes just read; a chunk whose size line would take the
  // payload over the limit is too large before its data is read.
  Verdict scan(const char* data, std::size_t size);
  [[nodiscard]] Verdict verdict() const;

private:
  enum class State {
    size,
    extension,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer_start,
    final_lf,
    done,
    malformed,
    too_large,
  };

  State step(char byte);

  std::uint64_t m_max_payload;
  State m_state = State::size;
  std::uint64_t m_chunk_size = 0; // while reading a size line; then what is left of the chunk
  std::uint64_t m_payload = 0;
  std::size_t m_line_bytes = 0; // of the current chunk-size line
  bool m_size_digits = false;   // the size line has at least one digit
};

} // namespace zsimem::daemon
