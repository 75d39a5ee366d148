#pragma once

#include <zsimem/model.hpp>

#include <string>
#include <utility>
#include <vector>

namespace zsimem::testing {

// A context's history as a store would have written it: version i + 1
// merges writes[i].second (a merge patch) at the time writes[i].first,
// hash-chained, for import_versions or `zsimem import`. Lets tests lay down
// years of versions at exact times.
std::vector<VersionRecord> make_history(const ContextKey& key,
                                        const std::vector<std::pair<Timestamp, std::string>>& writes);

} // namespace zsimem::testing
