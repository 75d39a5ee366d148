#include "support/error_of.hpp"

#include <zsimem/error.hpp>
#include <zsimem/time.hpp>

#include <catch2/catch.hpp>

using namespace zsimem;
using zsimem::testing::error_of;

TEST_CASE("RFC 3339 times round-trip with microseconds", "[time]") {
  const Timestamp t = parse_time("2026-11-29T02:44:01.123456Z");
  CHECK(format_rfc3339(t) == "2026-11-29T02:44:01.123456Z");
  CHECK(to_micros(t) == 1795920241123456);
  CHECK(from_micros(to_micros(t)) == t);
}

TEST_CASE("times parse with or without fractions and with offsets", "[time]") {
  CHECK(format_rfc3339(parse_time("2026-11-29T02:44:01Z")) == "2026-11-29T02:44:01.000000Z");
  CHECK(format_rfc3339(parse_time("2026-11-29T02:44:01.5Z")) == "2026-11-29T02:44:01.500000Z");
  CHECK(format_rfc3339(parse_time("2026-11-29T04:44:01+02:00")) == "2026-11-29T02:44:01.000000Z");
  CHECK(format_rfc3339(parse_time("2026-11-28T23:44:01-03:00")) == "2026-11-29T02:44:01.000000Z");
  // More than six fractional digits are truncated, not rejected.
  CHECK(format_rfc3339(parse_time("2026-11-29T02:44:01.1234567Z")) == "2026-11-29T02:44:01.123456Z");
}

TEST_CASE("a bare date means the end of that UTC day", "[time]") {
  CHECK(format_rfc3339(parse_time("2026-02-28")) == "2026-02-28T23:59:59.999999Z");
}

TEST_CASE("malformed times are rejected naming the field", "[time]") {
  for (const char* bad : {"", "yesterday", "2026-13-01", "2026-02-30", "2026-11-29T25:00:00Z", "2026-11-29T02:44:01",
                          "2026-11-29T02:44:01.Z", "2026-11-29T02:44:01Zjunk", "2026-11-29 junk", "2026/11/29"}) {
    INFO(bad);
    try {
      parse_time(bad, "--at");
      FAIL("accepted");
    } catch (const Error& error) {
      CHECK(error.code() == ErrorCode::invalid);
      CHECK(error.field() == "--at");
      CHECK_THAT(error.what(), Catch::Contains("--at"));
    }
  }
}

TEST_CASE("times whose offset carries them out of the years 0000 to 9999 are rejected", "[time]") {
  // format_rfc3339 would write them as "-001-..." or "10000-...", which no
  // parse reads back: an imported version would leave an unreadable file.
  for (const char* bad : {"0000-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:60Z"}) {
    INFO(bad);
    try {
      parse_time(bad, "updated_at");
      FAIL("accepted");
    } catch (const Error& error) {
      CHECK(error.code() == ErrorCode::invalid);
      CHECK(error.field() == "updated_at");
      CHECK_THAT(error.what(), Catch::Contains("outside the years 0000 to 9999"));
    }
  }
  CHECK(format_rfc3339(parse_time("0000-01-01T00:00:00Z")) == "0000-01-01T00:00:00.000000Z");
  CHECK(format_rfc3339(parse_time("9999-12-31T23:59:59.999999Z")) == "9999-12-31T23:59:59.999999Z");
  CHECK(format_rfc3339(parse_time("9999-12-31")) == "9999-12-31T23:59:59.999999Z");
}

TEST_CASE("durations are whole numbers of seconds, minutes, hours, days and weeks", "[time]") {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  CHECK(parse_duration("30s") == seconds(30));
  CHECK(parse_duration("15m") == minutes(15));
  CHECK(parse_duration("1h30m") == minutes(90));
  CHECK(parse_duration("12h") == hours(12));
  CHECK(parse_duration("7d") == hours(7 * 24));
  CHECK(parse_duration("8w") == hours(8 * 7 * 24));
  CHECK(parse_duration("1w3d2h") == hours(24 * 10 + 2));
  CHECK(parse_duration("0d1h") == hours(1));
  for (const char* bad : {"", "7", "d", "7x", "7 d", "-7d", "0d", "7d ", "1.5d", "999999999999999999w", "600000w", "5M",
                          "99999999999999s"}) {
    CAPTURE(bad);
    const Error error = error_of([&] { parse_duration(bad, "--window"); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.field() == "--window");
  }
}
