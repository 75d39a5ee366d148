#pragma once

#include <zsimem/model.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Hooks: domain processors that receive every committed version as an
// event (docs/hooks.md). This header holds what does not need a store: the
// hooks file, the event's form, the webhook signature, and the two built-in
// processors. Delivery (the durable outbox, retries, dead letters) builds
// on it.
namespace zsimem {

enum class HookKind {
  program, // runs a command with the event as JSON on standard input
  webhook, // POSTs the event, signed with HMAC-SHA256
  trend,   // built in: a numeric field's moving average crossing a threshold or turning
  goal,    // built in: a numeric field's progress toward a target
};
std::string_view to_string(HookKind kind);

struct HookSpec {
  std::string name;
  HookKind kind = HookKind::program;
  // The namespaces whose versions it receives; empty: every namespace that
  // is no hook's write-back namespace.
  std::vector<std::string> namespaces;
  // Where its answers are stored (a namespace of the same user); empty:
  // answers are ignored.
  std::string write_back;

  std::vector<std::string> command;          // program
  std::string url;                           // webhook
  std::string secret;                        // webhook: the HMAC key (from secret_env or secret_file)
  std::chrono::milliseconds timeout{10'000}; // program and webhook
  std::string field;                         // trend and goal: a JSON pointer
  std::size_t window = 7;                    // trend: samples in the moving average
  std::optional<double> threshold;           // trend
  double target = 0;                         // goal

  // Whether the events of namespace `ns` reach this hook.
  bool receives(std::string_view ns, std::span<const HookSpec> all) const;
};

struct HooksConfig {
  std::vector<HookSpec> hooks;
  int max_attempts = 10; // failures before an event goes to the dead letters

  // The JSON of a hooks file (docs/hooks.md); Error{invalid} naming
  // `source` and the member. A webhook's secret comes from the environment
  // variable its secret_env names, or the file its secret_file names
  // (relative to `base_dir`).
  static HooksConfig parse(std::string_view text, std::string_view source, const std::filesystem::path& base_dir = {});
  static HooksConfig load(const std::filesystem::path& path);
};

// The event of a committed version, as JSON text: user_id, namespace,
// version, previous_version (null for the first), updated_at, delta, data,
// tags, request_id.
std::string hook_event_json(const VersionRecord& record);

// The signature header of a webhook request: "t=UNIX_SECONDS,v1=HEX", the
// HMAC-SHA256 under `secret` of "UNIX_SECONDS." followed by the body.
std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body);

// What a receiver checks: a well-formed header whose v1 matches the body,
// signed no more than `tolerance` away from `now_seconds`.
bool verify_webhook_signature(std::string_view secret, std::string_view header, std::string_view body,
                              std::int64_t now_seconds, std::chrono::seconds tolerance = std::chrono::minutes(5));

// The trend detector. `values` are the field's samples, oldest first, the
// new one last. The moving average of the last `window` samples, compared
// with that one sample earlier: an answer (a merge patch for the write-back
// namespace, JSON text) when it crosses the threshold or changes direction;
// nullopt otherwise, and with fewer than window + 1 samples.
std::optional<std::string> trend_insight(const HookSpec& spec, std::span<const double> values, std::uint64_t version);

// The goal tracker: progress from the field's first sample `start` to the
// target, at `current`; always an answer.
std::string goal_insight(const HookSpec& spec, double start, double current, std::uint64_t version);

} // namespace zsimem
