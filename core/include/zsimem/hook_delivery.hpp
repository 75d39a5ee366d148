#pragma once

#include <zsimem/hooks.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// Handing one event to one hook (docs/hooks.md): a program run with the
// event on standard input, or a webhook POSTed the event with its
// signature. The worker that orders, retries and records deliveries
// builds on this.
namespace zsimem {

struct HookAnswer {
  // A merge patch for the hook's write-back namespace (JSON text), when
  // the hook answered {"delta": {...}}.
  std::optional<std::string> delta;
};

// Delivers `event` (hook_event_json) to a program or webhook hook, signed
// at `unix_seconds`. An answer is empty, or a JSON object with an optional
// "delta" object. Throws Error{timeout} when the hook takes longer than its
// timeout (a program is then killed), Error{unavailable} naming the hook
// for any other failure: not started or not reachable, an exit status
// other than 0, an HTTP status other than 2xx, an answer that is not such
// an object; Error{invalid} for a built-in hook, which runs in-process.
HookAnswer deliver_event(const HookSpec& hook, std::string_view event, std::int64_t unix_seconds);

} // namespace zsimem
