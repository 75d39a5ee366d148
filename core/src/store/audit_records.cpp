#include "store/audit_records.hpp"

#include <zsimem/validate.hpp>

#include <nlohmann/json.hpp>

namespace zsimem::store {

AuditRecord as_stored(const AuditRecord& record) {
  using Json = nlohmann::json;
  AuditRecord stored = record;
  for (std::string* text : {&stored.request_id, &stored.actor, &stored.operation, &stored.user_id, &stored.ns,
                            &stored.version, &stored.outcome, &stored.detail}) {
    if (!is_valid_utf8(*text)) {
      *text = Json::parse(Json(*text).dump(-1, ' ', false, Json::error_handler_t::replace)).get<std::string>();
    }
  }
  return stored;
}

bool matches(const AuditRecord& record, const AuditQuery& query) {
  return (!query.user_id || record.user_id == *query.user_id) && (!query.ns || record.ns == *query.ns) &&
         (!query.since || record.time >= *query.since) && (!query.until || record.time <= *query.until);
}

} // namespace zsimem::store
