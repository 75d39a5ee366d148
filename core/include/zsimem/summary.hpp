#pragma once

#include <zsimem/time.hpp>

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Summaries of numeric fields over a context's history (docs/summaries.md):
// counts, extremes, means and change, per bucket of time, with a
// least-squares trend and the date it reaches a goal. Computed from the
// versions alone, in one pass, with no randomness: the same versions give
// the same summary, so a summary as of a past time never changes.
namespace zsimem {

// How samples are grouped in time (UTC): not at all, by day, by ISO week
// (Monday to Sunday), or by calendar month.
enum class SummaryBucket { none, day, week, month };

// "none", "day", "week", "month"; parse_summary_bucket throws Error{invalid}
// naming `field` for anything else.
std::string_view to_string(SummaryBucket bucket);
SummaryBucket parse_summary_bucket(std::string_view text, std::string_view field = "bucket");

struct SummaryRequest {
  // JSON pointers (RFC 6901) to numeric fields of the context: "/weight",
  // "/steps/daily". At least one; each once.
  std::vector<std::string> fields;
  SummaryBucket bucket = SummaryBucket::none;
  // Targets by field pointer: a field with one gets its goal progress and,
  // from its trend, a forecast of the date it is reached. A field without
  // one here takes the number the context holds under /goals at the same
  // pointer (/goals/weight for /weight), as of the last version summed up.
  std::map<std::string, double> goals;
};

// Goals as the query string and the command line give them, each
// "POINTER:NUMBER" (/weight:70). Throws Error{invalid} naming `field` for
// anything else and for two goals of one field.
std::map<std::string, double> parse_summary_goals(const std::vector<std::string>& texts,
                                                  std::string_view field = "goal");

// The versions a summary covers: those updated in [since, until], either
// end open.
struct SummaryRange {
  std::optional<Timestamp> since;
  std::optional<Timestamp> until;
};

// The range of a request that gives some of: since, until, a window (a span
// ending at until, or at as_of, or at `now`), and as_of (the time the
// summary is asked as of: until is no later). Throws Error{invalid} naming
// "window" when both a window and since are given.
SummaryRange summary_range(std::optional<Timestamp> since, std::optional<Timestamp> until,
                           std::optional<std::chrono::microseconds> window, std::optional<Timestamp> as_of,
                           Timestamp now);

// Statistics of a field's samples.
struct SeriesStats {
  std::size_t count = 0;
  double first = 0;
  double last = 0;
  double min = 0;
  double max = 0;
  double mean = 0;
  double change = 0; // last - first
  Timestamp first_at{};
  Timestamp last_at{};
};

struct BucketStats {
  std::string label; // "2026-11-29", "2026-W48", "2026-11"
  Timestamp start{}; // the bucket's first microsecond
  SeriesStats stats;
};

// The least-squares line through the samples, time in days: value =
// intercept + slope_per_day * (days since the first sample).
struct Trend {
  double slope_per_day = 0;
  double intercept = 0;
};

// Where a goal's target came from.
enum class GoalSource { request, context };
std::string_view to_string(GoalSource source); // "request", "context"

struct GoalProgress {
  double target = 0;
  GoalSource source = GoalSource::request;
  // (last - first) / (target - first): 0 at the window's first sample, 1 at
  // the target; 1 when the first sample is the target already.
  double progress = 0;
  bool reached = false; // the last sample is at or past the target, seen from the first
  // When the trend, from the last sample on at its slope, reaches the
  // target; absent when it is reached, or the trend is flat or leads away
  // from it (or there is no trend: fewer than two samples, or all at one time).
  std::optional<Timestamp> forecast;
};

struct FieldSummary {
  std::string field;
  SeriesStats overall;              // count 0: no samples
  std::vector<BucketStats> buckets; // oldest first; empty with SummaryBucket::none
  std::optional<Trend> trend;       // two samples or more at different times
  std::optional<GoalProgress> goal; // when there is a target and there are samples
};

struct Summary {
  std::size_t versions = 0; // versions read
  std::vector<FieldSummary> fields;
};

// Builds a summary from versions handed to it oldest first. A field's
// samples are the versions that set it to a number: the first version that
// holds a number there, then each version whose delta names the field or
// whose number there differs from its predecessor's. A version where the
// field is missing or not a number gives no sample (and a later number
// there is a sample again).
class SummaryBuilder {
public:
  // Throws Error{invalid} naming "field" for no field, a repeated one or
  // one that is not a JSON pointer, and naming "goal" for a goal of a
  // field not asked for.
  explicit SummaryBuilder(SummaryRequest request);
  ~SummaryBuilder();
  SummaryBuilder(const SummaryBuilder&) = delete;
  SummaryBuilder& operator=(const SummaryBuilder&) = delete;

  // One version: its time, its data and its delta (JSON text; the delta may
  // be empty). A time before the previous version's counts as that one's
  // (a clock stepped back). Throws Error{invalid} when the data is not a
  // JSON object, counting nothing of it.
  void add(Timestamp at, std::string_view data, std::string_view delta);

  Summary finish() const;

private:
  struct State;
  std::unique_ptr<State> m_state;
};

} // namespace zsimem
