#include <zsimem/error.hpp>
#include <zsimem/time.hpp>

#include <array>
#include <cstdio>
#include <string>

namespace zsimem {
namespace {

using namespace std::chrono;

// Reads exactly `width` digits at `pos`; false when they are not digits.
bool read_digits(std::string_view text, std::size_t& pos, std::size_t width, int& out) {
  if (pos + width > text.size()) {
    return false;
  }
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  pos += width;
  out = value;
  return true;
}

bool expect(std::string_view text, std::size_t& pos, char c) {
  if (pos < text.size() && text[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

[[noreturn]] void bad_time(std::string_view text, std::string_view field) {
  throw Error(ErrorCode::invalid,
              std::string(field) + ": '" + std::string(text) +
                  "' is not a time: use RFC 3339 (2026-11-29T08:30:00Z) or a date (2026-11-29)",
              std::string(field));
}

} // namespace

Timestamp now() { return time_point_cast<microseconds>(system_clock::now()); }

std::string format_rfc3339(Timestamp t) {
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> hms{t - day};
  std::array<char, 40> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%04d-%02u-%02uT%02ld:%02ld:%02ld.%06ldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                static_cast<long>(hms.seconds().count()), static_cast<long>(hms.subseconds().count()));
  return buffer.data();
}

Timestamp parse_time(std::string_view text, std::string_view field) {
  std::size_t pos = 0;
  int year = 0;
  int month = 0;
  int day = 0;
  if (!read_digits(text, pos, 4, year) || !expect(text, pos, '-') || !read_digits(text, pos, 2, month) ||
      !expect(text, pos, '-') || !read_digits(text, pos, 2, day)) {
    bad_time(text, field);
  }
  const year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                           std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) {
    bad_time(text, field);
  }
  const sys_days date{ymd};
  if (pos == text.size()) {
    // A bare date means the whole day: its last microsecond.
    return Timestamp{date + days{1}} - microseconds{1};
  }
  if (!(expect(text, pos, 'T') || expect(text, pos, 't') || expect(text, pos, ' '))) {
    bad_time(text, field);
  }
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!read_digits(text, pos, 2, hour) || !expect(text, pos, ':') || !read_digits(text, pos, 2, minute) ||
      !expect(text, pos, ':') || !read_digits(text, pos, 2, second) || hour > 23 || minute > 59 || second > 60) {
    bad_time(text, field);
  }
  std::int64_t micros = 0;
  if (expect(text, pos, '.')) {
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (text[pos] - '0');
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) {
      bad_time(text, field);
    }
    for (std::size_t i = digits; i < 6; ++i) {
      micros *= 10;
    }
  }
  minutes offset{0};
  if (expect(text, pos, 'Z') || expect(text, pos, 'z')) {
    // UTC
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool negative = text[pos] == '-';
    ++pos;
    int offset_hours = 0;
    int offset_minutes = 0;
    if (!read_digits(text, pos, 2, offset_hours) || !expect(text, pos, ':') ||
        !read_digits(text, pos, 2, offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      bad_time(text, field);
    }
    offset = minutes{offset_hours * 60 + offset_minutes};
    if (negative) {
      offset = -offset;
    }
  } else {
    bad_time(text, field);
  }
  if (pos != text.size()) {
    bad_time(text, field);
  }
  // A leap second (:60) is read as the first instant of the next minute.
  const Timestamp time =
      Timestamp{date} + hours{hour} + minutes{minute} + seconds{second} + microseconds{micros} - offset;
  // An offset can carry the instant out of the years format_rfc3339 writes
  // as four digits, and what it writes must read back.
  if (time < Timestamp{sys_days{std::chrono::year{0} / January / 1}} ||
      time >= Timestamp{sys_days{std::chrono::year{10000} / January / 1}}) {
    throw Error(ErrorCode::invalid,
                std::string(field) + ": '" + std::string(text) + "' is outside the years 0000 to 9999 in UTC",
                std::string(field));
  }
  return time;
}

std::chrono::microseconds parse_duration(std::string_view text, std::string_view field) {
  const auto bad = [&]() {
    throw Error(ErrorCode::invalid,
                std::string(field) + ": '" + std::string(text) +
                    "' is not a duration: a number and a unit, s, m, h, d or w (30s, 15m, 12h, 7d, 8w, 1w3d)",
                std::string(field));
  };
  constexpr std::int64_t k_max_seconds = 10'000LL * 366 * 24 * 3600;
  std::int64_t total_seconds = 0;
  std::size_t pos = 0;
  if (text.empty()) {
    bad();
  }
  while (pos < text.size()) {
    std::int64_t count = 0;
    const std::size_t digits_at = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      count = count * 10 + (text[pos++] - '0');
      if (count > k_max_seconds) {
        bad();
      }
    }
    if (pos == digits_at || pos == text.size()) {
      bad();
    }
    const char unit = text[pos++];
    const std::int64_t seconds_per_unit = unit == 's'   ? 1
                                          : unit == 'm' ? 60
                                          : unit == 'h' ? 3600
                                          : unit == 'd' ? 24 * 3600
                                          : unit == 'w' ? 7 * 24 * 3600
                                                        : 0;
    if (seconds_per_unit == 0 || count > k_max_seconds / seconds_per_unit) {
      bad();
    }
    total_seconds += count * seconds_per_unit;
    if (total_seconds > k_max_seconds) {
      bad();
    }
  }
  if (total_seconds == 0) {
    bad();
  }
  return std::chrono::seconds{total_seconds};
}

Timestamp period_start(Timestamp t, Period period) {
  const sys_days day = floor<days>(t);
  switch (period) {
  case Period::hour: return floor<hours>(t);
  case Period::day: return Timestamp{day};
  case Period::week: return Timestamp{day - days{weekday{day}.iso_encoding() - 1}};
  case Period::month: {
    const year_month_day date{day};
    return Timestamp{sys_days{date.year() / date.month() / 1}};
  }
  }
  return t;
}

std::int64_t to_micros(Timestamp t) { return t.time_since_epoch().count(); }

Timestamp from_micros(std::int64_t micros) { return Timestamp{microseconds{micros}}; }

} // namespace zsimem
