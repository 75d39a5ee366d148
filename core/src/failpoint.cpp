#include <zsimem/error.hpp>
#include <zsimem/failpoint.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace zsimem::failpoint {
namespace {

// Where each point is: see the hit() calls in core/src and daemon/.
constexpr std::array<std::string_view, 13> k_names{
    "file.before_publish",   // an atomic file write: data synced, not yet linked to its name
    "file.after_publish",    // linked to its name, the directory not yet synced
    "json.before_append",    // a JSON-store append, checks done, nothing written
    "json.between_records",  // between two versions of one JSON-store append
    "json.before_audit",     // versions written, their audit line not yet
    "json.erase.after_move", // an erased context moved aside, not yet removed
    "sqlite.before_commit",  // rows inserted, COMMIT not yet run
    "sqlite.between_writes", // inside a group commit, between two callers' writes
    "sqlite.after_commit",   // committed, not yet reported to the callers
    "sqlite.wal_write",      // a commit's WAL frames, gathered in memory, about to be written
    "sqlite.checkpoint",     // a WAL checkpoint about to run
    "service.after_append",  // a version appended, the result not yet returned
    "http.before_response",  // a request handled, its response not yet sent
};

enum class Action { crash, error, sleep };

struct Rule {
  std::string_view name;
  Action action = Action::crash;
  int sleep_ms = 0;
  std::uint64_t only_hit = 0; // 0: every time
  std::unique_ptr<std::atomic<std::uint64_t>> hits = std::make_unique<std::atomic<std::uint64_t>>(0);
};

struct Config {
  std::vector<Rule> rules;
  std::optional<std::string> problem; // a malformed ZSIMEM_FAILPOINTS
};

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// One "NAME=ACTION[@N]"; nullopt with `problem` set when malformed.
std::optional<Rule> parse_rule(std::string_view item, std::string& problem) {
  const auto equals = item.find('=');
  if (equals == std::string_view::npos) {
    problem = "'" + std::string(item) + "' is not NAME=ACTION";
    return std::nullopt;
  }
  Rule rule;
  const std::string_view name = item.substr(0, equals);
  const auto known = std::find(k_names.begin(), k_names.end(), name);
  if (known == k_names.end()) {
    problem = "no failpoint is named '" + std::string(name) + "'";
    return std::nullopt;
  }
  rule.name = *known;
  std::string_view action = item.substr(equals + 1);
  if (const auto at = action.find('@'); at != std::string_view::npos) {
    const auto nth = parse_number(action.substr(at + 1));
    if (!nth || *nth == 0) {
      problem = "'" + std::string(item) + "': @N needs a positive number";
      return std::nullopt;
    }
    rule.only_hit = *nth;
    action = action.substr(0, at);
  }
  if (action == "crash") {
    rule.action = Action::crash;
  } else if (action == "error") {
    rule.action = Action::error;
  } else if (action.starts_with("sleep(") && action.ends_with(")")) {
    const auto ms = parse_number(action.substr(6, action.size() - 7));
    if (!ms || *ms > 600'000) {
      problem = "'" + std::string(item) + "': sleep(MS) needs milliseconds up to 600000";
      return std::nullopt;
    }
    rule.action = Action::sleep;
    rule.sleep_ms = static_cast<int>(*ms);
  } else {
    problem = "'" + std::string(item) + "': the action is crash, error or sleep(MS)";
    return std::nullopt;
  }
  return rule;
}

Config parse(const char* spec) {
  Config config;
  if (spec == nullptr) {
    return config;
  }
  std::string_view rest(spec);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (item.empty()) {
      continue;
    }
    std::string problem;
    auto rule = parse_rule(item, problem);
    if (!rule) {
      config.problem = "ZSIMEM_FAILPOINTS: " + problem;
      return config;
    }
    config.rules.push_back(std::move(*rule));
  }
  return config;
}

const Config& config() {
  static const Config parsed = parse(std::getenv("ZSIMEM_FAILPOINTS"));
  return parsed;
}

} // namespace

std::span<const std::string_view> names() { return k_names; }

void hit(std::string_view name) {
  const Config& active = config();
  if (active.rules.empty() && !active.problem) {
    return;
  }
  if (active.problem) {
    throw Error(ErrorCode::invalid, *active.problem);
  }
  for (const Rule& rule : active.rules) {
    if (rule.name != name) {
      continue;
    }
    const std::uint64_t count = ++*rule.hits;
    if (rule.only_hit != 0 && count != rule.only_hit) {
      continue;
    }
    switch (rule.action) {
    case Action::crash: std::raise(SIGKILL); break;
    case Action::error:
      throw Error(ErrorCode::unavailable,
                  "failpoint " + std::string(name) + " failed this operation (ZSIMEM_FAILPOINTS)");
    case Action::sleep: std::this_thread::sleep_for(std::chrono::milliseconds(rule.sleep_ms)); break;
    }
  }
}

} // namespace zsimem::failpoint
