#include "support/history.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/merge_patch.hpp>

namespace zsimem::testing {

std::vector<VersionRecord> make_history(const ContextKey& key,
                                        const std::vector<std::pair<Timestamp, std::string>>& writes) {
  std::vector<VersionRecord> history;
  history.reserve(writes.size());
  Json data = Json::object();
  for (const auto& [at, delta] : writes) {
    const Json patch = Json::parse(delta);
    apply_merge_patch(data, patch);
    VersionRecord record;
    record.user_id = key.user_id;
    record.ns = key.ns;
    record.version = history.size() + 1;
    record.updated_at = at;
    record.data = canonical_json(data);
    record.delta = canonical_json(patch);
    record.actor = "history";
    record.request_id = "history-" + std::to_string(record.version);
    record.derived_from = record.version - 1;
    record.prev_hash = history.empty() ? "" : history.back().hash;
    record.hash = version_hash(record);
    history.push_back(std::move(record));
  }
  return history;
}

} // namespace zsimem::testing
