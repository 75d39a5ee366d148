#include "support/error_of.hpp"

#include <zsimem/error.hpp>
#include <zsimem/retention.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

using namespace zsimem;
using zsimem::testing::error_of;

namespace {

// Every hour of 2025 at half past: 8,760 times.
std::vector<Timestamp> hourly_2025() {
  std::vector<Timestamp> times;
  for (Timestamp t = parse_time("2025-01-01T00:30:00Z"); t < parse_time("2026-01-01T00:00:00Z");
       t += std::chrono::hours(1)) {
    times.push_back(t);
  }
  return times;
}

std::set<std::string> kept_times(const std::vector<Timestamp>& times, const std::vector<unsigned>& decisions) {
  std::set<std::string> kept;
  for (std::size_t i = 0; i < times.size(); ++i) {
    if (decisions[i] != 0) {
      kept.insert(format_rfc3339(times[i]).substr(0, 16));
    }
  }
  return kept;
}

} // namespace

TEST_CASE("retention: a year of hourly versions keeps exactly what the rules name", "[retention]") {
  const auto times = hourly_2025();
  REQUIRE(times.size() == 8760);
  RetentionPolicy policy;
  policy.keep_last = 5;
  policy.keep_within = parse_duration("2d");
  policy.keep_daily = 7;
  policy.keep_weekly = 4;
  policy.keep_monthly = 12;
  const auto decisions = retention_decisions(policy, times);
  REQUIRE(decisions.size() == times.size());

  std::set<std::string> expected;
  // Within 2 days of the head (2025-12-31T23:30): 29 Dec 23:30 to 31 Dec 23:30,
  // which holds the last 5 too.
  for (Timestamp t = parse_time("2025-12-29T23:30:00Z"); t <= times.back(); t += std::chrono::hours(1)) {
    expected.insert(format_rfc3339(t).substr(0, 16));
  }
  CHECK(expected.size() == 49);
  // The newest of each of the last 7 days, 25 to 31 December; of the last 4
  // ISO weeks (Sundays 14, 21, 28 December, and Wednesday 31 December in
  // 2026-W01); of each of the 12 months.
  for (const char* day : {"2025-12-25", "2025-12-26", "2025-12-27", "2025-12-28", "2025-12-14", "2025-12-21",
                          "2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31", "2025-06-30",
                          "2025-07-31", "2025-08-31", "2025-09-30", "2025-10-31", "2025-11-30"}) {
    expected.insert(std::string(day) + "T23:30");
  }
  CHECK(expected.size() == 66);
  CHECK(kept_times(times, decisions) == expected);

  // The reasons of a few.
  CHECK(decisions.back() == (keep_head | keep_last | keep_within | keep_daily | keep_weekly | keep_monthly));
  CHECK(describe_keep_reasons(decisions.back()) == "head, last, within, daily, weekly, monthly");
  const auto index_of = [&](const char* time) {
    return static_cast<std::size_t>(std::find(times.begin(), times.end(), parse_time(time)) - times.begin());
  };
  CHECK(decisions[index_of("2025-12-28T23:30:00Z")] == (keep_daily | keep_weekly));
  CHECK(decisions[index_of("2025-06-30T23:30:00Z")] == keep_monthly);
  CHECK(decisions[index_of("2025-06-30T22:30:00Z")] == 0);

  // Hourly: the last 24 hours have one version each.
  RetentionPolicy hourly;
  hourly.keep_hourly = 24;
  const auto per_hour = retention_decisions(hourly, times);
  CHECK(std::count_if(per_hour.begin(), per_hour.end(), [](unsigned d) { return d != 0; }) == 24);
  CHECK(per_hour[times.size() - 25] == 0);
}

TEST_CASE("retention: no rule keeps everything; the head always stays; skewed clocks keep order", "[retention]") {
  const std::vector<Timestamp> times{parse_time("2026-01-01T10:00:00Z"), parse_time("2026-01-01T11:00:00Z"),
                                     parse_time("2026-01-01T09:00:00Z"), // the clock stepped back
                                     parse_time("2026-01-02T10:00:00Z")};
  const auto all = retention_decisions(RetentionPolicy{}, times);
  CHECK(std::all_of(all.begin(), all.end(), [](unsigned d) { return (d & keep_all) != 0; }));

  RetentionPolicy daily;
  daily.keep_daily = 2;
  // 1 January's newest is the third version, counted at 11:00.
  CHECK(retention_decisions(daily, times) == std::vector<unsigned>{0, 0, keep_daily, keep_head | keep_daily});
  RetentionPolicy last;
  last.keep_last = 1;
  CHECK(retention_decisions(last, times) == std::vector<unsigned>{0, 0, 0, keep_head | keep_last});
  CHECK(retention_decisions(last, std::vector<Timestamp>{}).empty());
}

TEST_CASE("retention: the file's policies, and clear errors for bad ones", "[retention]") {
  const RetentionConfig config = RetentionConfig::parse(R"({
    "default": {"keep_last": 100, "keep_within": "30d"},
    "namespaces": {"health": {"keep_daily": 30, "keep_weekly": 12, "keep_monthly": 24}},
    "audit": {"keep_within": "400d"}})",
                                                        "retention.json");
  CHECK(config.policy_for("prefs").keep_last == 100);
  CHECK(config.policy_for("prefs").keep_within == parse_duration("30d"));
  CHECK_FALSE(config.policy_for("health").keep_last);
  CHECK(config.policy_for("health").keep_daily == 30);
  CHECK(config.audit_keep_within == parse_duration("400d"));
  CHECK(RetentionConfig::parse("{}", "empty").defaults.keeps_everything());

  for (const auto& [text, where] : std::vector<std::pair<std::string, std::string>>{
           {R"([])", ""},
           {R"({"defaults": {}})", "defaults"},
           {R"({"default": {"keep_dayly": 3}})", "default.keep_dayly"},
           {R"({"default": {"keep_last": 0}})", "default.keep_last"},
           {R"({"default": {"keep_daily": -1}})", "default.keep_daily"},
           {R"({"default": {"keep_within": "a month"}})", "default.keep_within"},
           {R"({"namespaces": {"bad/ns": {}}})", "namespaces.bad/ns"},
           {R"({"audit": {"keep_last": 3}})", "audit.keep_last"}}) {
    CAPTURE(text);
    const Error error = error_of([&] { RetentionConfig::parse(text, "retention.json"); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.field() == where);
    CHECK_THAT(error.what(), Catch::StartsWith("retention.json: "));
  }
  CHECK(error_of([] { RetentionConfig::load("/nonexistent/retention.json"); }).code() == ErrorCode::invalid);
}
