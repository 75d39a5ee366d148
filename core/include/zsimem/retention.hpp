#pragma once

#include <zsimem/time.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Retention: which versions of a context a policy keeps (docs/retention.md).
// The rules are restic's: the last N, everything within a span of the head,
// and the newest version of each of the last K hours, days, ISO weeks and
// months that have one. A version stays when any rule keeps it; the head
// always stays. Decided from the versions' times alone, so the same history
// and policy always keep the same versions.
namespace zsimem {

struct RetentionPolicy {
  std::optional<std::size_t> keep_last;
  // Every version updated at most this long before the head was.
  std::optional<std::chrono::microseconds> keep_within;
  std::size_t keep_hourly = 0;
  std::size_t keep_daily = 0;
  std::size_t keep_weekly = 0;
  std::size_t keep_monthly = 0;

  // No rule at all: nothing is ever removed.
  bool keeps_everything() const;
};

// Why a version stays: the rules that keep it, as bits; 0 means it goes.
enum KeepReason : unsigned {
  keep_head = 1U << 0,
  keep_last = 1U << 1,
  keep_within = 1U << 2,
  keep_hourly = 1U << 3,
  keep_daily = 1U << 4,
  keep_weekly = 1U << 5,
  keep_monthly = 1U << 6,
  keep_all = 1U << 7, // the policy has no rule
};

// The names of the reasons in `reasons` ("head", "last", "daily", …).
std::vector<std::string_view> keep_reason_names(unsigned reasons);
// "head, last, daily": the same, as text.
std::string describe_keep_reasons(unsigned reasons);

// For versions oldest first, by their update times, the reasons each one
// stays (parallel to `times`). A time before its predecessor's (a clock
// stepped back) counts as the predecessor's.
std::vector<unsigned> retention_decisions(const RetentionPolicy& policy, std::span<const Timestamp> times);

// A deployment's policies: one per namespace, a default for the others,
// and how long audit records are kept.
struct RetentionConfig {
  RetentionPolicy defaults; // keeps everything unless the file says otherwise
  std::map<std::string, RetentionPolicy, std::less<>> namespaces;
  std::optional<std::chrono::microseconds> audit_keep_within; // absent: audit records are kept forever

  const RetentionPolicy& policy_for(std::string_view ns) const;

  // The JSON of a retention file (docs/retention.md). Throws Error{invalid}
  // naming `source` and the offending member.
  static RetentionConfig parse(std::string_view text, std::string_view source);
  // Reads and parses a retention file; Error{invalid} when it cannot be read.
  static RetentionConfig load(const std::filesystem::path& path);
};

} // namespace zsimem
