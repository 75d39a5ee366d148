#include "render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <iterator>

namespace zsimem::cli {

void print_json(const Json& value) { std::cout << value.dump(2) << '\n'; }

std::string context_heading(const VersionRecord& record) {
  return record.user_id + " · " + record.ns + " · version " + version_string(record.version) + " · " +
         format_rfc3339(record.updated_at);
}

void print_context_text(const VersionRecord& record) {
  std::cout << context_heading(record) << '\n' << Json::parse(record.data).dump(2) << '\n';
}

void print_patch_text(const Json& patch) {
  if (patch.empty()) {
    std::cout << "(no changes)\n";
    return;
  }
  for (const auto& op : patch) {
    const std::string kind = op.value("op", "");
    const std::string path = op.value("path", "");
    if (kind == "add") {
      std::cout << "+ " << path << ": " << op["value"].dump() << '\n';
    } else if (kind == "remove") {
      std::cout << "- " << path << '\n';
    } else if (kind == "replace") {
      std::cout << "~ " << path << ": " << op["value"].dump() << '\n';
    } else {
      std::cout << "  " << op.dump() << '\n';
    }
  }
}

namespace {

// Six significant digits: what a person reads of a measurement.
std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

std::string signed_number_text(double value) { return (value > 0 ? "+" : "") + number_text(value); }

std::string date_of(Timestamp at) { return format_rfc3339(at).substr(0, 10); }

void print_goal_text(const GoalProgress& goal) {
  char percent[32];
  std::snprintf(percent, sizeof percent, "%.0f%%", goal.progress * 100);
  std::cout << "  goal " << number_text(goal.target) << (goal.source == GoalSource::context ? " (from /goals)" : "")
            << ": " << percent << " of the way";
  if (goal.reached) {
    std::cout << ", reached\n";
  } else if (goal.forecast) {
    std::cout << ", on current trend by " << date_of(*goal.forecast) << '\n';
  } else {
    std::cout << ", not on current trend\n";
  }
}

} // namespace

std::string sparkline(const std::vector<double>& values) {
  static constexpr std::string_view k_levels[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  constexpr std::size_t k_top = std::size(k_levels) - 1;
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  std::string line;
  for (const double value : values) {
    // A flat series sits in the middle.
    const double position = *high > *low ? (value - *low) / (*high - *low) : 0.5;
    line += k_levels[static_cast<std::size_t>(std::lround(position * static_cast<double>(k_top)))];
  }
  return line;
}

void print_summary_text(const ContextKey& key, const SummaryRange& range, SummaryBucket bucket,
                        const Summary& summary) {
  std::cout << key.user_id << " · " << key.ns << " · " << (range.since ? format_rfc3339(*range.since) : "the start")
            << " → " << (range.until ? format_rfc3339(*range.until) : "the head") << " · " << summary.versions
            << (summary.versions == 1 ? " version" : " versions") << '\n';
  for (const auto& field : summary.fields) {
    const SeriesStats& s = field.overall;
    std::cout << '\n' << field.field;
    if (s.count == 0) {
      std::cout << ": no numbers in this range\n";
      continue;
    }
    std::cout << ": " << s.count << (s.count == 1 ? " sample, " : " samples, ") << number_text(s.first) << " → "
              << number_text(s.last) << " (" << signed_number_text(s.change) << "), min " << number_text(s.min)
              << ", max " << number_text(s.max) << ", mean " << number_text(s.mean) << '\n';
    if (!field.buckets.empty()) {
      std::vector<double> means;
      for (const auto& b : field.buckets) {
        means.push_back(b.stats.mean);
      }
      const char* per = bucket == SummaryBucket::day ? "daily" : bucket == SummaryBucket::week ? "weekly" : "monthly";
      std::cout << "  " << sparkline(means) << "  " << per << " means, " << field.buckets.front().label << " to "
                << field.buckets.back().label << '\n';
    }
    if (field.trend) {
      std::cout << "  trend " << signed_number_text(field.trend->slope_per_day) << " a day\n";
    }
    if (field.goal) {
      print_goal_text(*field.goal);
    }
    if (!field.buckets.empty()) {
      std::vector<std::vector<std::string>> rows{
          {"  BUCKET", "COUNT", "FIRST", "LAST", "MIN", "MAX", "MEAN", "CHANGE"}};
      for (const auto& b : field.buckets) {
        rows.push_back({"  " + b.label, std::to_string(b.stats.count), number_text(b.stats.first),
                        number_text(b.stats.last), number_text(b.stats.min), number_text(b.stats.max),
                        number_text(b.stats.mean), signed_number_text(b.stats.change)});
      }
      print_table(rows);
    }
  }
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
    }
    std::cout << line << '\n';
  }
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string joined;
  for (const auto& item : items) {
    joined += (joined.empty() ? "" : separator) + item;
  }
  return joined;
}

} // namespace zsimem::cli
