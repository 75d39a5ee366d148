#include <zsimem/error.hpp>
#include <zsimem/summary.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

namespace zsimem {
namespace {

using Json = nlohmann::json;
using std::chrono::days;
using std::chrono::sys_days;

constexpr double k_micros_per_day = 86'400'000'000.0;
// The last day a forecast may fall on: RFC 3339 has four-digit years.
constexpr sys_days k_last_forecast_day = std::chrono::year{9999} / std::chrono::December / 31;

// Running statistics of one series of samples.
class Accumulator {
public:
  void add(Timestamp at, double value) {
    if (m_stats.count == 0) {
      m_stats.first = value;
      m_stats.min = value;
      m_stats.max = value;
      m_stats.first_at = at;
    }
    ++m_stats.count;
    m_stats.last = value;
    m_stats.last_at = at;
    m_stats.min = std::min(m_stats.min, value);
    m_stats.max = std::max(m_stats.max, value);
    m_sum += value;
  }

  SeriesStats stats() const {
    SeriesStats out = m_stats;
    if (out.count > 0) {
      out.mean = m_sum / static_cast<double>(out.count);
      out.change = out.last - out.first;
    }
    return out;
  }

private:
  SeriesStats m_stats;
  double m_sum = 0;
};

// Sums of the least-squares fit, x in days since the first sample.
class LineFit {
public:
  void add(double x, double y) {
    ++m_n;
    m_sx += x;
    m_sy += y;
    m_sxx += x * x;
    m_sxy += x * y;
  }

  std::optional<Trend> trend() const {
    const double n = static_cast<double>(m_n);
    const double spread = n * m_sxx - m_sx * m_sx;
    if (m_n < 2 || spread <= 0) {
      return std::nullopt; // fewer than two samples, or all at one time
    }
    Trend out;
    out.slope_per_day = (n * m_sxy - m_sx * m_sy) / spread;
    out.intercept = (m_sy - out.slope_per_day * m_sx) / n;
    return out;
  }

private:
  std::size_t m_n = 0;
  double m_sx = 0;
  double m_sy = 0;
  double m_sxx = 0;
  double m_sxy = 0;
};

std::string two_digits(unsigned value) {
  char text[8];
  std::snprintf(text, sizeof text, "%02u", value % 100U);
  return text;
}

// The bucket `at` falls in: its label and first microsecond.
std::pair<std::string, Timestamp> bucket_of(SummaryBucket bucket, Timestamp at) {
  const Period period = bucket == SummaryBucket::day    ? Period::day
                        : bucket == SummaryBucket::week ? Period::week
                                                        : Period::month;
  const Timestamp start = period_start(at, period);
  const sys_days first_day = std::chrono::floor<days>(start);
  const std::chrono::year_month_day date{first_day};
  const std::string year = std::to_string(static_cast<int>(date.year()));
  const std::string month = two_digits(static_cast<unsigned>(date.month()));
  switch (bucket) {
  case SummaryBucket::day: return {year + "-" + month + "-" + two_digits(static_cast<unsigned>(date.day())), start};
  case SummaryBucket::week: {
    // ISO 8601: a week belongs to the year of its Thursday.
    const sys_days thursday = first_day + days{3};
    const std::chrono::year iso_year = std::chrono::year_month_day{thursday}.year();
    const auto week = (thursday - sys_days{iso_year / std::chrono::January / 1}).count() / 7 + 1;
    return {std::to_string(static_cast<int>(iso_year)) + "-W" + two_digits(static_cast<unsigned>(week)), start};
  }
  case SummaryBucket::month: return {year + "-" + month, start};
  case SummaryBucket::none: break;
  }
  return {"", at};
}

[[noreturn]] void reject(const std::string& field, const std::string& problem) {
  throw Error(ErrorCode::invalid, field + ": " + problem, field);
}

std::optional<double> number_at(const Json& document, const Json::json_pointer& pointer) {
  if (!document.contains(pointer)) {
    return std::nullopt;
  }
  const Json& value = document.at(pointer);
  if (!value.is_number()) {
    return std::nullopt;
  }
  const double number = value.get<double>();
  return std::isfinite(number) ? std::optional<double>(number) : std::nullopt;
}

} // namespace

std::map<std::string, double> parse_summary_goals(const std::vector<std::string>& texts, std::string_view field) {
  std::map<std::string, double> goals;
  for (const std::string_view text : texts) {
    // The last ':': a number has none, a JSON pointer may.
    const auto colon = text.rfind(':');
    const std::string_view pointer = text.substr(0, colon == std::string_view::npos ? 0 : colon);
    const std::string_view number = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
    double target = 0;
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), target);
    if (!pointer.starts_with('/') || number.empty() || error != std::errc{} || end != number.data() + number.size() ||
        !std::isfinite(target)) {
      reject(std::string(field), "'" + std::string(text) + "' is not a goal: a field and a target, such as /weight:70");
    }
    if (!goals.emplace(pointer, target).second) {
      reject(std::string(field), "'" + std::string(pointer) + "' has two goals");
    }
  }
  return goals;
}

SummaryRange summary_range(std::optional<Timestamp> since, std::optional<Timestamp> until,
                           std::optional<std::chrono::microseconds> window, std::optional<Timestamp> as_of,
                           Timestamp now) {
  if (window && since) {
    reject("window", "give either a window or since, not both");
  }
  SummaryRange range{since, until};
  if (as_of && (!range.until || *as_of < *range.until)) {
    range.until = as_of;
  }
  if (window) {
    // No earlier than the first time there is (0000-01-01), which any version is after.
    const Timestamp earliest{sys_days{std::chrono::year{0} / std::chrono::January / 1}};
    const Timestamp end = range.until.value_or(now);
    range.since = end - earliest > *window ? end - *window : earliest;
  }
  return range;
}

std::string_view to_string(GoalSource source) { return source == GoalSource::context ? "context" : "request"; }

std::string_view to_string(SummaryBucket bucket) {
  switch (bucket) {
  case SummaryBucket::none: return "none";
  case SummaryBucket::day: return "day";
  case SummaryBucket::week: return "week";
  case SummaryBucket::month: return "month";
  }
  return "none";
}

SummaryBucket parse_summary_bucket(std::string_view text, std::string_view field) {
  for (const auto bucket : {SummaryBucket::none, SummaryBucket::day, SummaryBucket::week, SummaryBucket::month}) {
    if (text == to_string(bucket)) {
      return bucket;
    }
  }
  reject(std::string(field), "'" + std::string(text) + "' is not a bucket (none, day, week or month)");
}

struct SummaryBuilder::State {
  struct Field {
    std::string name;
    Json::json_pointer pointer;
    std::optional<double> goal;        // the request's target
    Json::json_pointer goal_pointer;   // where the context may hold one: /goals + the field
    std::optional<double> stored_goal; // the number there in the last version
    std::optional<double> previous;    // the number there in the previous version
    std::optional<Timestamp> origin;   // the first sample's time: day 0 of the fit
    Accumulator overall;
    LineFit fit;
    std::vector<std::pair<BucketStats, Accumulator>> buckets;
  };

  SummaryBucket bucket = SummaryBucket::none;
  std::vector<Field> fields;
  std::size_t versions = 0;
  std::optional<Timestamp> last_at;
};

SummaryBuilder::SummaryBuilder(SummaryRequest request) : m_state(std::make_unique<State>()) {
  m_state->bucket = request.bucket;
  if (request.fields.empty()) {
    reject("field", "name at least one field, as a JSON pointer such as /weight");
  }
  std::set<std::string> seen;
  for (const auto& name : request.fields) {
    if (!seen.insert(name).second) {
      reject("field", "'" + name + "' is named twice");
    }
    if (name.empty() || name.front() != '/') {
      reject("field", "'" + name + "' is not a JSON pointer to a field (such as /weight or /steps/daily)");
    }
    State::Field field;
    field.name = name;
    try {
      field.pointer = Json::json_pointer(name);
      field.goal_pointer = Json::json_pointer("/goals" + name);
    } catch (const Json::exception&) {
      reject("field", "'" + name + "' is not a JSON pointer (RFC 6901: '~' only as ~0 or ~1)");
    }
    if (const auto goal = request.goals.find(name); goal != request.goals.end()) {
      if (!std::isfinite(goal->second)) {
        reject("goal", "the goal of '" + name + "' is not a finite number");
      }
      field.goal = goal->second;
    }
    m_state->fields.push_back(std::move(field));
  }
  for (const auto& [name, target] : request.goals) {
    if (!seen.contains(name)) {
      reject("goal", "a goal for '" + name + "', which is not among the fields");
    }
  }
}

SummaryBuilder::~SummaryBuilder() = default;

void SummaryBuilder::add(Timestamp at, std::string_view data, std::string_view delta) {
  State& state = *m_state;
  // A version stamped before its predecessor (a clock stepped back) counts
  // at its predecessor's time: time never runs backwards in a summary.
  if (state.last_at && at < *state.last_at) {
    at = *state.last_at;
  }
  const Json document = Json::parse(data, nullptr, false);
  if (!document.is_object()) {
    throw Error(ErrorCode::invalid, "a version's data is not a JSON object", "data");
  }
  const Json patch = delta.empty() ? Json::object() : Json::parse(delta, nullptr, false);
  state.last_at = at;
  ++state.versions;
  // The version's bucket, the same for every field: worked out once, when a
  // field first takes a sample of it.
  std::optional<std::pair<std::string, Timestamp>> bucket;
  for (auto& field : state.fields) {
    const std::optional<double> value = number_at(document, field.pointer);
    const bool named = patch.is_object() && patch.contains(field.pointer);
    const bool sample = value && (!field.previous || named || *value != *field.previous);
    field.previous = value;
    if (!field.goal) { // the request's goal wins: the stored one is not needed
      field.stored_goal = number_at(document, field.goal_pointer);
    }
    if (!sample) {
      continue;
    }
    if (!field.origin) {
      field.origin = at;
    }
    field.overall.add(at, *value);
    field.fit.add(static_cast<double>((at - *field.origin).count()) / k_micros_per_day, *value);
    if (state.bucket != SummaryBucket::none) {
      if (!bucket) {
        bucket = bucket_of(state.bucket, at);
      }
      const auto& [label, start] = *bucket;
      if (field.buckets.empty() || field.buckets.back().first.label != label) {
        field.buckets.push_back({BucketStats{label, start, {}}, Accumulator{}});
      }
      field.buckets.back().second.add(at, *value);
    }
  }
}

Summary SummaryBuilder::finish() const {
  Summary out;
  out.versions = m_state->versions;
  for (const auto& field : m_state->fields) {
    FieldSummary summary;
    summary.field = field.name;
    summary.overall = field.overall.stats();
    for (const auto& [bucket, accumulator] : field.buckets) {
      BucketStats stats = bucket;
      stats.stats = accumulator.stats();
      summary.buckets.push_back(std::move(stats));
    }
    summary.trend = field.fit.trend();
    const std::optional<double> target = field.goal ? field.goal : field.stored_goal;
    if (target && summary.overall.count > 0) {
      const SeriesStats& s = summary.overall;
      GoalProgress goal;
      goal.target = *target;
      goal.source = field.goal ? GoalSource::request : GoalSource::context;
      goal.progress = goal.target == s.first ? 1.0 : (s.last - s.first) / (goal.target - s.first);
      goal.reached = goal.target >= s.first ? s.last >= goal.target : s.last <= goal.target;
      if (!goal.reached && summary.trend && summary.trend->slope_per_day != 0) {
        const double days_left = (goal.target - s.last) / summary.trend->slope_per_day;
        const double micros = days_left * k_micros_per_day;
        const double room = static_cast<double>((Timestamp{k_last_forecast_day} - s.last_at).count());
        if (days_left > 0 && micros <= room) {
          goal.forecast = s.last_at + std::chrono::microseconds(std::llround(micros));
        }
      }
      summary.goal = goal;
    }
    out.fields.push_back(std::move(summary));
  }
  return out;
}

} // namespace zsimem
