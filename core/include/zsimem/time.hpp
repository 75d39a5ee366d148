#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace zsimem {

// Every time in zsimem is UTC with microsecond precision.
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

// The current time.
Timestamp now();

// RFC 3339 in UTC with microseconds: 2026-11-29T02:44:01.123456Z.
std::string format_rfc3339(Timestamp t);

// Parses RFC 3339 (fractional seconds optional, `Z` or a numeric offset) or
// a bare date YYYY-MM-DD, which means the last microsecond of that UTC day.
// Throws Error{invalid} naming `field` when the text is not such a time.
Timestamp parse_time(std::string_view text, std::string_view field = "time");

// A span of time as people write it: a whole number and a unit, s, m
// (minutes), h, d or w (weeks), or several such terms: 30s, 12h, 7d, 1w3d. Throws
// Error{invalid} naming `field` for anything else, for no time at all and
// for more than 10,000 years.
std::chrono::microseconds parse_duration(std::string_view text, std::string_view field = "duration");

// Calendar periods in UTC: hours, days, ISO weeks (Monday to Sunday) and
// months.
enum class Period { hour, day, week, month };

// The first microsecond of the period `t` falls in.
Timestamp period_start(Timestamp t, Period period);

// Microseconds since the Unix epoch, the form stores persist.
std::int64_t to_micros(Timestamp t);
Timestamp from_micros(std::int64_t micros);

} // namespace zsimem
