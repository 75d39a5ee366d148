#include "request_framing.hpp"

#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <string_view>
#include <system_error>

namespace zsimem::daemon {
namespace {

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

FramingCheck refused(int status, std::string detail) { return {{}, FramingRefusal{status, std::move(detail)}}; }

FramingCheck check_transfer_encoding(const httplib::Request& req) {
  if (req.version == "HTTP/1.0") {
    return refused(400, "Transfer-Encoding: not allowed in an HTTP/1.0 request");
  }
  if (req.has_header("Content-Length")) {
    return refused(400, "Transfer-Encoding and Content-Length: only one of them may frame the body");
  }
  std::size_t chunked = 0;
  const std::size_t fields = req.get_header_value_count("Transfer-Encoding");
  for (std::size_t field = 0; field < fields; ++field) {
    const std::string value = req.get_header_value("Transfer-Encoding", field);
    std::string_view rest = value;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view coding = trimmed(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (coding.empty()) {
        continue;
      }
      if (!equals_ignoring_case(coding, "chunked")) {
        return refused(501, "Transfer-Encoding: only chunked is supported, not '" + std::string(coding) + "'");
      }
      ++chunked;
    }
  }
  if (chunked != 1) {
    return refused(400, "Transfer-Encoding: must be chunked, once");
  }
  return {{BodyFraming::Kind::chunked, 0}, std::nullopt};
}

} // namespace

FramingCheck check_framing(const httplib::Request& req, std::size_t max_body_bytes) {
  if (req.has_header("Transfer-Encoding")) {
    return check_transfer_encoding(req);
  }
  const std::size_t lengths = req.get_header_value_count("Content-Length");
  if (lengths == 0) {
    return {};
  }
  if (lengths > 1) {
    return refused(400, "Content-Length: given more than once");
  }
  const std::string value = req.get_header_value("Content-Length");
  std::uint64_t length = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), length);
  const bool digits_only = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only || (error != std::errc{} && error != std::errc::result_out_of_range) ||
      end != value.data() + value.size()) {
    return refused(400, "Content-Length: must be a number of bytes");
  }
  if (error == std::errc::result_out_of_range || length > max_body_bytes) {
    return refused(413, body_too_large(max_body_bytes));
  }
  return {{BodyFraming::Kind::length, length}, std::nullopt};
}

std::string body_too_large(std::size_t max_body_bytes) {
  return "request body over the limit of " + std::to_string(max_body_bytes) + " bytes";
}

namespace {

// A chunk-size line (with extensions) longer than this is not a chunked body.
constexpr std::size_t k_max_line_bytes = 4096;

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

} // namespace

std::size_t ChunkedBodyScanner::readable(std::size_t wanted) const {
  switch (m_state) {
  case State::data: return static_cast<std::size_t>(std::min<std::uint64_t>(wanted, m_chunk_size));
  case State::done:
  case State::malformed:
  case State::too_large: return 0;
  default: return std::min<std::size_t>(wanted, 1);
  }
}

ChunkedBodyScanner::Verdict ChunkedBodyScanner::scan(const char* data, std::size_t size) {
  std::size_t at = 0;
  while (at < size && m_state != State::done && m_state != State::malformed && m_state != State::too_large) {
    if (m_state == State::data) {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(size - at, m_chunk_size));
      m_chunk_size -= take;
      at += take;
      if (m_chunk_size == 0) {
        m_state = State::data_cr;
      }
      continue;
    }
    m_state = step(data[at]);
    ++at;
  }
  if (at < size && m_state == State::done) {
    m_state = State::malformed; // read past the end: not ours to read
  }
  return verdict();
}

ChunkedBodyScanner::Verdict ChunkedBodyScanner::verdict() const {
  switch (m_state) {
  case State::done: return Verdict::done;
  case State::malformed: return Verdict::malformed;
  case State::too_large: return Verdict::too_large;
  default: return Verdict::more;
  }
}

ChunkedBodyScanner::State ChunkedBodyScanner::step(char byte) {
  const bool line_state = m_state == State::size || m_state == State::extension;
  if (line_state && ++m_line_bytes > k_max_line_bytes) {
    return State::malformed;
  }
  switch (m_state) {
  case State::size:
    if (const int digit = hex_value(byte); digit >= 0) {
      m_size_digits = true;
      if (m_chunk_size > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
        return State::too_large;
      }
      m_chunk_size = m_chunk_size * 16 + static_cast<std::uint64_t>(digit);
      return m_chunk_size > m_max_payload - m_payload ? State::too_large : State::size;
    }
    if (!m_size_digits) {
      return State::malformed;
    }
    if (byte == ';' || byte == ' ' || byte == '\t') {
      return State::extension;
    }
    return byte == '\r' ? State::size_lf : State::malformed;
  case State::extension:
    if (byte == '\r') {
      return State::size_lf;
    }
    return byte == '\n' ? State::malformed : State::extension;
  case State::size_lf:
    if (byte != '\n') {
      return State::malformed;
    }
    m_line_bytes = 0;
    m_size_digits = false;
    if (m_chunk_size == 0) {
      return State::trailer_start;
    }
    m_payload += m_chunk_size;
    return State::data;
  case State::data_cr: return byte == '\r' ? State::data_lf : State::malformed;
  case State::data_lf: return byte == '\n' ? State::size : State::malformed;
  case State::trailer_start:
    // cpp-httplib refuses trailer fields (400); so does this.
    return byte == '\r' ? State::final_lf : State::malformed;
  case State::final_lf: return byte == '\n' ? State::done : State::malformed;
  default: return m_state;
  }
}

} // namespace zsimem::daemon
