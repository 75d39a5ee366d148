#include "support/error_of.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/summary.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <thread>

using namespace zsimem;
using Approx = Catch::Detail::Approx;
using zsimem::testing::error_of;

namespace {

// Midnight UTC of a date, plus `hours`.
Timestamp at(const char* date, int hours = 0) {
  return parse_time(std::string(date) + "T00:00:00Z") + std::chrono::hours(hours);
}

std::string weight(double value) { return R"({"weight": )" + std::to_string(value) + "}"; }

// Merges `delta` into alice's default context, then waits 2 ms so that
// versions get distinct times.
VersionRecord merge_alice(MemoryService& service, const Caller& caller, const std::string& delta) {
  MemoryUpdate update;
  update.user_id = "alice";
  update.delta = delta;
  VersionRecord record = service.merge(caller, update).record;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return record;
}

} // namespace

TEST_CASE("summary: exact linear data gives its statistics, its line and the day the goal is reached", "[summary]") {
  // 80 kg losing 0.5 kg a day for ten days: 80, 79.5 … 75.5.
  SummaryBuilder builder({{"/weight"}, SummaryBucket::none, {{"/weight", 75.0}}});
  for (int day = 0; day < 10; ++day) {
    builder.add(at("2026-03-01") + std::chrono::days(day), weight(80 - 0.5 * day), weight(80 - 0.5 * day));
  }
  const Summary summary = builder.finish();
  CHECK(summary.versions == 10);
  REQUIRE(summary.fields.size() == 1);
  const FieldSummary& field = summary.fields.front();
  CHECK(field.field == "/weight");
  CHECK(field.overall.count == 10);
  CHECK(field.overall.first == 80);
  CHECK(field.overall.last == 75.5);
  CHECK(field.overall.min == 75.5);
  CHECK(field.overall.max == 80);
  CHECK(field.overall.mean == Approx(77.75)); // (80 + 75.5) / 2
  CHECK(field.overall.change == Approx(-4.5));
  CHECK(field.overall.first_at == at("2026-03-01"));
  CHECK(field.overall.last_at == at("2026-03-10"));
  CHECK(field.buckets.empty());
  REQUIRE(field.trend);
  CHECK(field.trend->slope_per_day == Approx(-0.5));
  CHECK(field.trend->intercept == Approx(80));
  REQUIRE(field.goal);
  CHECK(field.goal->target == 75);
  CHECK(field.goal->progress == Approx(0.9)); // 4.5 of 5 kg
  CHECK_FALSE(field.goal->reached);
  REQUIRE(field.goal->forecast);
  CHECK(*field.goal->forecast == at("2026-03-11")); // one more day at 0.5 a day
}

TEST_CASE("summary: a goal reached, a trend leading away and a flat one have no forecast", "[summary]") {
  const auto summarize = [](std::vector<double> values, double goal) {
    SummaryBuilder builder({{"/weight"}, SummaryBucket::none, {{"/weight", goal}}});
    for (std::size_t i = 0; i < values.size(); ++i) {
      builder.add(at("2026-01-05") + std::chrono::days(i), weight(values[i]), weight(values[i]));
    }
    return builder.finish().fields.front();
  };
  const auto reached = summarize({80, 78, 74}, 75);
  REQUIRE(reached.goal);
  CHECK(reached.goal->reached);
  CHECK(reached.goal->progress == Approx(1.2)); // 6 of 5 kg
  CHECK_FALSE(reached.goal->forecast);

  const auto away = summarize({80, 81, 82}, 75);
  CHECK(away.trend->slope_per_day == Approx(1));
  CHECK(away.goal->progress == Approx(-0.4));
  CHECK_FALSE(away.goal->reached);
  CHECK_FALSE(away.goal->forecast);

  // Up and down again: the line is flat.
  const auto flat = summarize({80, 82, 80}, 75);
  CHECK(flat.trend->slope_per_day == Approx(0).margin(1e-12));
  CHECK_FALSE(flat.goal->forecast);

  // One sample: statistics, no line, so no forecast; a goal of the first
  // value is reached at once.
  const auto single = summarize({80}, 80);
  CHECK(single.overall.count == 1);
  CHECK_FALSE(single.trend);
  CHECK(single.goal->reached);
  CHECK(single.goal->progress == 1);
}

TEST_CASE("summary: samples are the versions that set the field", "[summary]") {
  SummaryBuilder builder({{"/weight", "/steps/daily"}, SummaryBucket::none, {}});
  // 1: both set. 2: another field changes: no sample. 3: the delta names
  // the weight again, same value: a sample (a reading). 4: steps change.
  // 5: the weight is gone. 6: it is back, same as before: a sample.
  builder.add(at("2026-05-01", 1), R"({"weight": 70, "steps": {"daily": 1000}})",
              R"({"weight": 70, "steps": {"daily": 1000}})");
  builder.add(at("2026-05-01", 2), R"({"weight": 70, "steps": {"daily": 1000}, "mood": "ok"})", R"({"mood": "ok"})");
  builder.add(at("2026-05-01", 3), R"({"weight": 70, "steps": {"daily": 1000}, "mood": "ok"})", R"({"weight": 70})");
  builder.add(at("2026-05-01", 4), R"({"weight": 70, "steps": {"daily": 3000}, "mood": "ok"})",
              R"({"steps": {"daily": 3000}})");
  builder.add(at("2026-05-01", 5), R"({"steps": {"daily": 3000}, "mood": "ok"})", R"({"weight": null})");
  // A rollback or an import: no delta; the value differs from the previous
  // version's (none), so it is a sample.
  builder.add(at("2026-05-01", 6), R"({"weight": 70, "steps": {"daily": "lots"}})", "");
  const Summary summary = builder.finish();
  CHECK(summary.versions == 6);
  const FieldSummary& weight_field = summary.fields[0];
  CHECK(weight_field.overall.count == 3);
  CHECK(weight_field.overall.mean == 70);
  CHECK(weight_field.overall.last_at == at("2026-05-01", 6));
  CHECK(weight_field.trend->slope_per_day == Approx(0).margin(1e-12));
  const FieldSummary& steps = summary.fields[1];
  CHECK(steps.field == "/steps/daily");
  CHECK(steps.overall.count == 2); // 1000, 3000; "lots" is not a number
  CHECK(steps.overall.change == 2000);
  CHECK(steps.overall.last_at == at("2026-05-01", 4));
  // 2000 steps in 3 hours: 16,000 a day.
  CHECK(steps.trend->slope_per_day == Approx(16000));
}

TEST_CASE("summary: buckets by UTC day, ISO week and calendar month", "[summary]") {
  const auto buckets_of = [](SummaryBucket bucket) {
    SummaryBuilder builder({{"/n"}, bucket, {}});
    int n = 0;
    // Sunday 2025-12-28 is in 2025-W52; Monday 2025-12-29 starts 2026-W01
    // (the week of Thursday 2026-01-01).
    for (const char* date : {"2025-12-28", "2025-12-28", "2025-12-29", "2026-01-01", "2026-01-04", "2026-02-01"}) {
      ++n;
      const std::string data = R"({"n": )" + std::to_string(n) + "}";
      builder.add(at(date, n), data, data);
    }
    return builder.finish().fields.front().buckets;
  };

  const auto by_day = buckets_of(SummaryBucket::day);
  REQUIRE(by_day.size() == 5);
  CHECK(by_day[0].label == "2025-12-28");
  CHECK(by_day[0].start == at("2025-12-28"));
  CHECK(by_day[0].stats.count == 2);
  CHECK(by_day[0].stats.mean == 1.5);
  CHECK(by_day[4].label == "2026-02-01");

  const auto by_week = buckets_of(SummaryBucket::week);
  REQUIRE(by_week.size() == 3);
  CHECK(by_week[0].label == "2025-W52");
  CHECK(by_week[0].start == at("2025-12-22"));
  CHECK(by_week[1].label == "2026-W01");
  CHECK(by_week[1].start == at("2025-12-29"));
  CHECK(by_week[1].stats.count == 3); // Monday, Thursday, Sunday
  CHECK(by_week[1].stats.first == 3);
  CHECK(by_week[1].stats.last == 5);
  CHECK(by_week[1].stats.change == 2);
  CHECK(by_week[2].label == "2026-W05"); // Sunday 2026-02-01

  const auto by_month = buckets_of(SummaryBucket::month);
  REQUIRE(by_month.size() == 3);
  CHECK(by_month[0].label == "2025-12");
  CHECK(by_month[0].start == at("2025-12-01"));
  CHECK(by_month[0].stats.count == 3);
  CHECK(by_month[1].label == "2026-01");
  CHECK(by_month[1].stats.min == 4);
  CHECK(by_month[1].stats.max == 5);
  CHECK(by_month[2].label == "2026-02");

  // 2020 has 53 ISO weeks: Sunday 2021-01-03 is in 2020-W53.
  SummaryBuilder builder({{"/n"}, SummaryBucket::week, {}});
  builder.add(at("2021-01-03"), R"({"n": 1})", R"({"n": 1})");
  CHECK(builder.finish().fields.front().buckets.front().label == "2020-W53");
}

TEST_CASE("summary: the same versions give the same summary", "[summary]") {
  const auto run = [] {
    SummaryBuilder builder({{"/x"}, SummaryBucket::week, {{"/x", 100}}});
    for (int i = 0; i < 1000; ++i) {
      const std::string data = R"({"x": )" + std::to_string((i * 37) % 101) + "}";
      builder.add(at("2026-01-01") + std::chrono::hours(7 * i), data, data);
    }
    return builder.finish();
  };
  const Summary a = run();
  const Summary b = run();
  const FieldSummary& x = a.fields.front();
  const FieldSummary& y = b.fields.front();
  CHECK(x.overall.mean == y.overall.mean);
  CHECK(x.trend->slope_per_day == y.trend->slope_per_day);
  CHECK(x.buckets.size() == y.buckets.size());
  CHECK(x.goal->forecast == y.goal->forecast);
}

TEST_CASE("summary: bad requests and bad input are clear errors", "[summary]") {
  CHECK(error_of([] { SummaryBuilder({{}, SummaryBucket::none, {}}); }).code() == ErrorCode::invalid);
  CHECK(error_of([] { SummaryBuilder({{"weight"}, SummaryBucket::none, {}}); }).code() == ErrorCode::invalid);
  CHECK(error_of([] { SummaryBuilder({{"/a~2"}, SummaryBucket::none, {}}); }).code() == ErrorCode::invalid);
  CHECK(error_of([] { SummaryBuilder({{"/a", "/a"}, SummaryBucket::none, {}}); }).code() == ErrorCode::invalid);
  CHECK(error_of([] { SummaryBuilder({{"/a"}, SummaryBucket::none, {{"/b", 1}}}); }).code() == ErrorCode::invalid);
  const Error unknown_goal = error_of([] { SummaryBuilder({{"/a"}, SummaryBucket::none, {{"/b", 1}}}); });
  CHECK(unknown_goal.field() == "goal");
  CHECK_THAT(unknown_goal.what(), Catch::Contains("'/b'"));

  CHECK(parse_summary_bucket("week") == SummaryBucket::week);
  CHECK(error_of([] { parse_summary_bucket("fortnight"); }).code() == ErrorCode::invalid);

  SummaryBuilder builder({{"/a"}, SummaryBucket::none, {}});
  builder.add(at("2026-01-02"), R"({"a": 1})", "");
  CHECK(error_of([&] { builder.add(at("2026-01-03"), "[1, 2]", ""); }).code() == ErrorCode::invalid);
  CHECK(error_of([&] { builder.add(at("2026-01-03"), "{not json", ""); }).code() == ErrorCode::invalid);
  // Nothing of the refused versions was taken.
  const Summary summary = builder.finish();
  CHECK(summary.versions == 1);
  CHECK(summary.fields.front().overall.count == 1);
}

TEST_CASE("summary: a version stamped before its predecessor counts at the predecessor's time", "[summary]") {
  SummaryBuilder builder({{"/a"}, SummaryBucket::day, {}});
  builder.add(at("2026-01-02", 12), R"({"a": 1})", R"({"a": 1})");
  builder.add(at("2026-01-01", 12), R"({"a": 3})", R"({"a": 3})"); // the clock stepped back a day
  builder.add(at("2026-01-03", 12), R"({"a": 5})", R"({"a": 5})");
  const FieldSummary field = builder.finish().fields.front();
  CHECK(field.overall.count == 3);
  REQUIRE(field.buckets.size() == 2);
  CHECK(field.buckets[0].label == "2026-01-02");
  CHECK(field.buckets[0].stats.count == 2);
  CHECK(field.buckets[0].stats.last_at == at("2026-01-02", 12));
  // Samples at days 0, 0 and 1: the line through (0, 1), (0, 3), (1, 5).
  CHECK(field.trend->slope_per_day == Approx(3));
}

TEST_CASE("service summary: a window of a context's versions, the same until a past time, audited",
          "[summary][service]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  CAPTURE(backend);
  const testing::TempDir dir;
  MemoryService service(open_store({backend, dir.path()}));
  const Caller caller{"tester", "req-summary"};
  const auto merge = [&](const std::string& delta) { return merge_alice(service, caller, delta); };
  merge(R"({"weight": 80})");
  const VersionRecord second = merge(R"({"weight": 79, "mood": "ok"})");
  merge(R"({"mood": "good"})");
  const SummaryRequest request{{"/weight"}, SummaryBucket::none, {{"/weight", 75}}};
  const ContextKey alice{"alice"};

  const Summary all = service.summary(caller, alice, request);
  CHECK(all.versions == 3);
  CHECK(all.fields.front().overall.count == 2);
  CHECK(all.fields.front().overall.first == 80);
  CHECK(all.fields.front().overall.last == 79);
  CHECK(all.fields.front().goal->progress == Approx(0.2));

  const Summary from_second = service.summary(caller, alice, request, second.updated_at);
  CHECK(from_second.versions == 2);
  CHECK(from_second.fields.front().overall.count == 1);
  CHECK(from_second.fields.front().overall.first == 79);

  // Until a past time: later writes change nothing.
  const Summary before = service.summary(caller, alice, request, std::nullopt, second.updated_at);
  merge(R"({"weight": 70})");
  const Summary again = service.summary(caller, alice, request, std::nullopt, second.updated_at);
  CHECK(before.versions == 2);
  CHECK(again.versions == before.versions);
  CHECK(again.fields.front().overall.last == before.fields.front().overall.last);
  CHECK(again.fields.front().trend->slope_per_day == before.fields.front().trend->slope_per_day);
  CHECK(service.summary(caller, alice, request).fields.front().overall.last == 70);

  CHECK(error_of([&] { service.summary(caller, {"nobody"}, request); }).code() == ErrorCode::not_found);
  CHECK(error_of([&] {
          service.summary(caller, alice, request, second.updated_at, second.updated_at - std::chrono::seconds(1));
        }).code() == ErrorCode::invalid);
  CHECK(error_of([&] {
          service.summary(caller, alice, SummaryRequest{{"weight"}, SummaryBucket::none, {}});
        }).code() == ErrorCode::invalid);

  AuditQuery query;
  query.user_id = "alice";
  const auto records = service.audit_log(caller, query).records;
  const auto summaries = std::count_if(records.begin(), records.end(), [](const AuditRecord& record) {
    return record.operation == "summary" && record.outcome == "ok" && record.request_id == "req-summary";
  });
  CHECK(summaries == 5);
}

TEST_CASE("summary: a field's goal stored in the context under /goals counts when the request names none",
          "[summary]") {
  SummaryBuilder builder({{"/weight", "/steps/daily"}, SummaryBucket::none, {{"/steps/daily", 10000}}});
  builder.add(at("2026-03-01"), R"({"weight": 80, "steps": {"daily": 4000}})", "");
  builder.add(at("2026-03-02"), R"({"weight": 79, "steps": {"daily": 5000}, "goals": {"weight": 70}})", "");
  builder.add(at("2026-03-03"), R"({"weight": 78, "steps": {"daily": 6000},
                                    "goals": {"weight": 76, "steps": {"daily": 1}}})",
              "");
  const Summary summary = builder.finish();
  // The last version's /goals/weight, 76: not reached at 78.
  const GoalProgress weight = *summary.fields[0].goal;
  CHECK(weight.source == GoalSource::context);
  CHECK(weight.target == 76);
  CHECK(weight.progress == Approx(0.5)); // 2 of 4 kg
  REQUIRE(weight.forecast);
  CHECK(*weight.forecast == at("2026-03-05")); // two more days at -1 a day
  // The request's goal wins over the stored one.
  const GoalProgress steps = *summary.fields[1].goal;
  CHECK(steps.source == GoalSource::request);
  CHECK(steps.target == 10000);
  CHECK(steps.progress == Approx(2000.0 / 6000));

  // A goal that is no longer stored in the last version is no goal.
  SummaryBuilder dropped({{"/weight"}, SummaryBucket::none, {}});
  dropped.add(at("2026-03-01"), R"({"weight": 80, "goals": {"weight": 70}})", "");
  dropped.add(at("2026-03-02"), R"({"weight": 79, "goals": {"weight": "soon"}})", "");
  CHECK_FALSE(dropped.finish().fields[0].goal);
}

TEST_CASE("summary: goals and ranges as the query and the command line give them", "[summary]") {
  const auto goals = parse_summary_goals({"/weight:70.5", "/a:b:-3", "/steps/daily:1e4"});
  CHECK(goals == std::map<std::string, double>{{"/weight", 70.5}, {"/a:b", -3}, {"/steps/daily", 10000}});
  for (const char* bad :
       {"weight:70", "/weight", "/weight:", ":70", "/weight:7O", "/weight:inf", "/w:nan", "/weight=70"}) {
    CAPTURE(bad);
    const Error error = error_of([&] { parse_summary_goals({bad}, "--goal"); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.field() == "--goal");
  }
  CHECK_THAT(error_of([] { parse_summary_goals({"/a:1", "/a:2"}); }).what(), Catch::Contains("two goals"));

  const Timestamp now = at("2026-03-10", 12);
  const auto days = [](int n) { return std::chrono::microseconds(std::chrono::days(n)); };
  // A window ends now, at until, or at as_of, whichever applies.
  SummaryRange range = summary_range(std::nullopt, std::nullopt, days(7), std::nullopt, now);
  CHECK(range.since == now - days(7));
  CHECK_FALSE(range.until);
  range = summary_range(std::nullopt, at("2026-03-05"), days(2), std::nullopt, now);
  CHECK(range.since == at("2026-03-03"));
  CHECK(range.until == at("2026-03-05"));
  range = summary_range(std::nullopt, std::nullopt, days(2), at("2026-03-04"), now);
  CHECK(range.since == at("2026-03-02"));
  CHECK(range.until == at("2026-03-04"));
  // as_of caps until, and leaves an earlier until alone.
  CHECK(summary_range(at("2026-01-01"), at("2026-03-08"), std::nullopt, at("2026-03-04"), now).until ==
        at("2026-03-04"));
  CHECK(summary_range(std::nullopt, at("2026-03-01"), std::nullopt, at("2026-03-04"), now).until == at("2026-03-01"));
  // A window longer than time itself starts at the first time there is.
  CHECK(summary_range(std::nullopt, std::nullopt, parse_duration("520000w"), std::nullopt, now).since ==
        parse_time("0000-01-01T00:00:00Z"));
  const Error both = error_of([&] { summary_range(at("2026-01-01"), std::nullopt, days(7), std::nullopt, now); });
  CHECK(both.field() == "window");
}

TEST_CASE("service summary: goals stored in the context, and as_of gives the same answer after more writes",
          "[summary][service]") {
  const testing::TempDir dir;
  MemoryService service(open_store({std::string(file_backend_names().front()), dir.path()}));
  const Caller caller{"tester", "req-as-of"};
  const auto merge = [&](const std::string& delta) { return merge_alice(service, caller, delta); };
  merge(R"({"weight": 80, "goals": {"weight": 70}})");
  const VersionRecord second = merge(R"({"weight": 78})");
  const SummaryRequest request{{"/weight"}, SummaryBucket::day, {}};
  const auto summary_as_of = [&](Timestamp as_of) {
    const SummaryRange range = summary_range(std::nullopt, std::nullopt, std::nullopt, as_of, now());
    return summary_json(ContextKey{"alice"}, range, request.bucket,
                        service.summary(caller, {"alice"}, request, range.since, range.until));
  };
  const Json before = summary_as_of(second.updated_at);
  CHECK(before["fields"][0]["goal"]["source"] == "context");
  CHECK(before["fields"][0]["goal"]["progress"] == Approx(0.2));
  merge(R"({"weight": 75, "goals": {"weight": 74}})");
  merge(R"({"weight": 73})");
  CHECK(summary_as_of(second.updated_at) == before); // byte for byte the same summary
  const Json later = summary_as_of(now());
  CHECK(later["fields"][0]["goal"]["target"] == 74);
  CHECK(later["fields"][0]["goal"]["outlook"] == "reached");
  CHECK(later["fields"][0]["count"] == 4);
}
