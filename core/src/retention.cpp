#include "file_io.hpp"

#include <zsimem/error.hpp>
#include <zsimem/retention.hpp>
#include <zsimem/validate.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace zsimem {
namespace {

using Json = nlohmann::json;

constexpr std::pair<KeepReason, std::string_view> k_reason_names[] = {
    {keep_head, "head"},   {keep_last, "last"},     {keep_within, "within"},   {keep_hourly, "hourly"},
    {keep_daily, "daily"}, {keep_weekly, "weekly"}, {keep_monthly, "monthly"}, {keep_all, "no rule"},
};

// Keeps the newest version of each of the `count` newest periods that have
// one, walking from the newest version back.
void keep_per_period(std::span<const Timestamp> times, std::size_t count, Period period, KeepReason reason,
                     std::vector<unsigned>& decisions) {
  std::optional<Timestamp> last_period;
  std::size_t kept = 0;
  for (std::size_t i = times.size(); i-- > 0 && kept < count;) {
    const Timestamp start = period_start(times[i], period);
    if (start != last_period) {
      last_period = start;
      decisions[i] |= reason;
      ++kept;
    }
  }
}

[[noreturn]] void bad(std::string_view source, const std::string& where, const std::string& problem) {
  throw Error(ErrorCode::invalid, std::string(source) + ": " + where + ": " + problem, where);
}

std::size_t count_of(std::string_view source, const std::string& where, const Json& value) {
  if (!value.is_number_unsigned()) {
    bad(source, where, "must be a whole number, 0 or more");
  }
  return value.get<std::size_t>();
}

RetentionPolicy policy_of(std::string_view source, const std::string& where, const Json& json) {
  if (!json.is_object()) {
    bad(source, where,
        "must be an object of rules (keep_last, keep_within, keep_hourly, keep_daily, keep_weekly, "
        "keep_monthly)");
  }
  RetentionPolicy policy;
  for (const auto& [name, value] : json.items()) {
    const std::string at = where + "." + name;
    if (name == "keep_last") {
      policy.keep_last = count_of(source, at, value);
      if (*policy.keep_last == 0) {
        bad(source, at, "must be at least 1 (the head always stays)");
      }
    } else if (name == "keep_within") {
      if (!value.is_string()) {
        bad(source, at, "must be a duration such as \"30d\"");
      }
      try {
        policy.keep_within = parse_duration(value.get<std::string>(), at);
      } catch (const Error& error) {
        bad(source, at, error.what());
      }
    } else if (name == "keep_hourly") {
      policy.keep_hourly = count_of(source, at, value);
    } else if (name == "keep_daily") {
      policy.keep_daily = count_of(source, at, value);
    } else if (name == "keep_weekly") {
      policy.keep_weekly = count_of(source, at, value);
    } else if (name == "keep_monthly") {
      policy.keep_monthly = count_of(source, at, value);
    } else {
      bad(source, at, "is not a rule (keep_last, keep_within, keep_hourly, keep_daily, keep_weekly, keep_monthly)");
    }
  }
  return policy;
}

} // namespace

bool RetentionPolicy::keeps_everything() const {
  return !keep_last && !keep_within && keep_hourly == 0 && keep_daily == 0 && keep_weekly == 0 && keep_monthly == 0;
}

std::vector<std::string_view> keep_reason_names(unsigned reasons) {
  std::vector<std::string_view> names;
  for (const auto& [reason, name] : k_reason_names) {
    if ((reasons & reason) != 0) {
      names.push_back(name);
    }
  }
  return names;
}

std::string describe_keep_reasons(unsigned reasons) {
  std::string text;
  for (const auto name : keep_reason_names(reasons)) {
    text += (text.empty() ? "" : ", ") + std::string(name);
  }
  return text;
}

std::vector<unsigned> retention_decisions(const RetentionPolicy& policy, std::span<const Timestamp> given) {
  std::vector<unsigned> decisions(given.size(), 0);
  if (given.empty()) {
    return decisions;
  }
  // Time never runs backwards: a version stamped before its predecessor
  // counts at the predecessor's time.
  std::vector<Timestamp> times(given.begin(), given.end());
  for (std::size_t i = 1; i < times.size(); ++i) {
    times[i] = std::max(times[i], times[i - 1]);
  }
  if (policy.keeps_everything()) {
    std::fill(decisions.begin(), decisions.end(), keep_all);
  }
  decisions.back() |= keep_head;
  if (policy.keep_last) {
    for (std::size_t i = times.size() - std::min(*policy.keep_last, times.size()); i < times.size(); ++i) {
      decisions[i] |= keep_last;
    }
  }
  if (policy.keep_within) {
    const Timestamp from = times.back() - *policy.keep_within;
    for (std::size_t i = 0; i < times.size(); ++i) {
      if (times[i] >= from) {
        decisions[i] |= keep_within;
      }
    }
  }
  keep_per_period(times, policy.keep_hourly, Period::hour, keep_hourly, decisions);
  keep_per_period(times, policy.keep_daily, Period::day, keep_daily, decisions);
  keep_per_period(times, policy.keep_weekly, Period::week, keep_weekly, decisions);
  keep_per_period(times, policy.keep_monthly, Period::month, keep_monthly, decisions);
  return decisions;
}

const RetentionPolicy& RetentionConfig::policy_for(std::string_view ns) const {
  const auto it = namespaces.find(ns);
  return it == namespaces.end() ? defaults : it->second;
}

RetentionConfig RetentionConfig::parse(std::string_view text, std::string_view source) {
  const Json json = Json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    throw Error(ErrorCode::invalid, std::string(source) + ": not a JSON object (docs/retention.md)");
  }
  RetentionConfig config;
  for (const auto& [name, value] : json.items()) {
    if (name == "default") {
      config.defaults = policy_of(source, name, value);
    } else if (name == "namespaces") {
      if (!value.is_object()) {
        bad(source, name, "must be an object of namespace: policy");
      }
      for (const auto& [ns, policy] : value.items()) {
        const std::string where = "namespaces." + ns;
        try {
          validate_namespace(ns, where);
        } catch (const Error& error) {
          bad(source, where, error.what());
        }
        config.namespaces.emplace(ns, policy_of(source, where, policy));
      }
    } else if (name == "audit") {
      if (!value.is_object()) {
        bad(source, name, "must be an object: {\"keep_within\": \"400d\"}");
      }
      for (const auto& [rule, setting] : value.items()) {
        if (rule != "keep_within" || !setting.is_string()) {
          bad(source, "audit." + rule, "audit records take one rule, keep_within, a duration such as \"400d\"");
        }
        try {
          config.audit_keep_within = parse_duration(setting.get<std::string>(), "audit.keep_within");
        } catch (const Error& error) {
          bad(source, "audit.keep_within", error.what());
        }
      }
    } else {
      bad(source, name, "is not a section (default, namespaces, audit)");
    }
  }
  return config;
}

RetentionConfig RetentionConfig::load(const std::filesystem::path& path) {
  return parse(file_io::read_config_file(path, "retention file"), "retention file '" + path.string() + "'");
}

} // namespace zsimem
