#pragma once

#include <string_view>
#include <utility>
#include <vector>

// The capabilities a deployment may switch off (docs/features.md), from
// ZSIMEM_FEATURES and the --feature flags. A switched-off feature's
// operations fail with Error{disabled}, never silently.
namespace zsimem {

struct Features {
  bool summaries = true;  // summaries of numeric fields (GET .../summary, zsimem summary)
  bool read_audit = true; // audit records of reads; writes and refusals are always audited
  bool versioning = true; // off: each write prunes every version but the new head
  bool retention = true;  // retention policies (zsimem prune, the daemon's timer)
  bool hooks = true;      // delivering versions to hooks (zsimem hooks, serve --hooks)
};

// Each feature's name and whether it is on, in a fixed order.
std::vector<std::pair<std::string_view, bool>> feature_states(const Features& features);

// Applies settings "NAME=on,NAME=off" (on/off, true/false, 1/0). Throws
// Error{invalid} naming `field` for an unknown feature or value, changing
// nothing.
void apply_feature_settings(Features& features, std::string_view settings, std::string_view field);

} // namespace zsimem
