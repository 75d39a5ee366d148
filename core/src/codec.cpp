#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/validate.hpp>

#include <string>

namespace zsimem {
namespace {

[[noreturn]] void bad_field(std::string_view field, const std::string& problem) {
  throw Error(ErrorCode::invalid, std::string(field) + ": " + problem, std::string(field));
}

const Json& member(const Json& object, std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end()) {
    bad_field(name, "field required");
  }
  return *it;
}

std::string string_member(const Json& object, std::string_view name) {
  const Json& value = member(object, name);
  if (!value.is_string()) {
    bad_field(name, "must be a string");
  }
  return value.get<std::string>();
}

// Optional string members: absent and null both read as "".
std::string optional_string_member(const Json& object, std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    return {};
  }
  if (!it->is_string()) {
    bad_field(name, "must be a string");
  }
  return it->get<std::string>();
}

// Versions are strings in JSON (the spec's `version: str`); integers are
// accepted on input for convenience.
std::optional<std::uint64_t> optional_version_member(const Json& object, std::string_view name, bool allow_zero) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    return std::nullopt;
  }
  if (it->is_number_unsigned()) {
    const auto value = it->get<std::uint64_t>();
    if (value == 0 && !allow_zero) {
      bad_field(name, "must be a positive integer");
    }
    return value;
  }
  if (it->is_string()) {
    const auto text = it->get<std::string>();
    if (allow_zero && text == "0") {
      return 0;
    }
    return parse_version(text, name);
  }
  bad_field(name, "must be a version string such as \"3\"");
}

// A member that must be a JSON object, in canonical text.
std::string object_member(const Json& object, std::string_view name, std::string_view problem) {
  const Json& value = member(object, name);
  if (!value.is_object()) {
    bad_field(name, std::string(problem));
  }
  return canonical_json(value);
}

std::vector<std::string> tags_member(const Json& object, std::string_view name) {
  std::vector<std::string> tags;
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    return tags;
  }
  if (!it->is_array()) {
    bad_field(name, "must be a list of strings");
  }
  for (const auto& tag : *it) {
    if (!tag.is_string()) {
      bad_field(name, "must be a list of strings");
    }
    tags.push_back(tag.get<std::string>());
  }
  return tags;
}

Json nullable_string(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

} // namespace

Json parse_json(std::string_view text, std::string_view field) {
  // The callback bounds nesting while parsing, before anything recursive
  // (merging, path walks) sees the value.
  const auto limit_depth = [field](int depth, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        static_cast<std::size_t>(depth) >= k_max_json_depth) {
      throw Error(ErrorCode::too_large,
                  std::string(field) + ": JSON nested deeper than " + std::to_string(k_max_json_depth) + " levels",
                  std::string(field));
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), limit_depth);
  } catch (const Json::parse_error& error) {
    std::string message = error.what();
    // Drop the library's "[json.exception.parse_error.101] " prefix.
    if (const auto close = message.find("] "); message.starts_with("[json.exception") && close != std::string::npos) {
      message.erase(0, close + 2);
    }
    throw Error(ErrorCode::invalid, std::string(field) + ": malformed JSON: " + message, std::string(field));
  } catch (const Json::exception& error) {
    // Numbers out of range (1e999) and the like.
    throw Error(ErrorCode::invalid, std::string(field) + ": unusable JSON: " + error.what(), std::string(field));
  }
}

std::string canonical_json(const Json& value) {
  // nlohmann's object type is a std::map, so dump() already sorts keys.
  return value.dump(-1, ' ', false, Json::error_handler_t::strict);
}

Json user_context_json(const VersionRecord& record) {
  return Json{{"user_id", record.user_id},
              {"namespace", record.ns},
              {"version", version_string(record.version)},
              {"data", Json::parse(record.data)},
              {"updated_at", format_rfc3339(record.updated_at)}};
}

void check_stored_json(const VersionRecord& record, std::string_view field, std::string_view json) {
  // Checked, not parsed: a store damaged in place must not answer with broken JSON.
  if (!Json::accept(json)) {
    throw Error(ErrorCode::unavailable, "the " + std::string(field) + " of version " + version_string(record.version) +
                                            " of " + record.user_id + "/" + record.ns +
                                            " is not valid JSON: the store is damaged (run zsimem verify)");
  }
}

void append_version_stamp(std::string& text, const VersionRecord& record) {
  text += R"(,"updated_at":")";
  text += format_rfc3339(record.updated_at);
  text += R"(","user_id":)";
  text += Json(record.user_id).dump();
  text += R"(,"version":")";
  text += version_string(record.version);
  text += R"("})";
}

std::string user_context_text(const VersionRecord& record, DataCheck check) {
  if (check == DataCheck::check) {
    check_stored_json(record, "data", record.data);
  }
  // Members in the order dump() gives them: nlohmann's objects are sorted maps.
  std::string text;
  text.reserve(record.data.size() + record.user_id.size() + record.ns.size() + 96);
  text += R"({"data":)";
  text += record.data;
  text += R"(,"namespace":)";
  text += Json(record.ns).dump();
  append_version_stamp(text, record);
  return text;
}

Json version_json(const VersionRecord& record, bool with_data) {
  Json json{{"user_id", record.user_id},
            {"namespace", record.ns},
            {"version", version_string(record.version)},
            {"updated_at", format_rfc3339(record.updated_at)},
            {"actor", record.actor},
            {"request_id", record.request_id},
            {"tags", record.tags},
            {"derived_from", record.derived_from == 0 ? Json(nullptr) : Json(version_string(record.derived_from))},
            {"rollback_of", record.rollback_of ? Json(version_string(*record.rollback_of)) : Json(nullptr)},
            {"idempotency_key", nullable_string(record.idempotency_key)},
            {"prev_hash", nullable_string(record.prev_hash)},
            {"hash", record.hash}};
  if (record.pruned_through) {
    json["pruned_through"] = version_string(*record.pruned_through);
  }
  if (!record.salt.empty()) {
    json["salt"] = record.salt;
  }
  if (!record.key_id.empty()) {
    // Sealed, as an encrypting store keeps it: the box replaces data and delta.
    json["key_id"] = record.key_id;
    if (with_data) {
      json["sealed"] = record.data;
    }
  } else if (with_data) {
    json["data"] = Json::parse(record.data);
    json["delta"] = Json::parse(record.delta);
  }
  return json;
}

VersionRecord version_from_json(const Json& json) {
  if (!json.is_object()) {
    bad_field("version", "a version record must be a JSON object");
  }
  VersionRecord record;
  record.user_id = string_member(json, "user_id");
  validate_user_id(record.user_id);
  record.ns = string_member(json, "namespace");
  validate_namespace(record.ns);
  record.version = parse_version(string_member(json, "version"));
  record.updated_at = parse_time(string_member(json, "updated_at"), "updated_at");
  record.key_id = optional_string_member(json, "key_id");
  if (record.key_id.empty()) {
    record.data = object_member(json, "data", "must be a JSON object");
    record.delta = object_member(json, "delta", "must be a JSON object");
  } else {
    record.data = string_member(json, "sealed");
    record.delta.clear();
  }
  record.salt = optional_string_member(json, "salt");
  record.actor = optional_string_member(json, "actor");
  record.request_id = optional_string_member(json, "request_id");
  record.tags = tags_member(json, "tags");
  record.derived_from = optional_version_member(json, "derived_from", true).value_or(0);
  record.rollback_of = optional_version_member(json, "rollback_of", false);
  record.idempotency_key = optional_string_member(json, "idempotency_key");
  record.prev_hash = optional_string_member(json, "prev_hash");
  record.hash = string_member(json, "hash");
  record.pruned_through = optional_version_member(json, "pruned_through", false);
  if (record.pruned_through && *record.pruned_through < record.version) {
    bad_field("pruned_through", "a gap's last version must not come before its first");
  }
  return record;
}

MemoryUpdate memory_update_from_json(const Json& json) {
  if (!json.is_object()) {
    bad_field("body", "a MemoryUpdate must be a JSON object");
  }
  MemoryUpdate update;
  update.user_id = string_member(json, "user_id");
  validate_user_id(update.user_id);
  if (const auto ns = optional_string_member(json, "namespace"); !ns.empty()) {
    update.ns = ns;
  }
  validate_namespace(update.ns);
  update.delta = object_member(json, "delta", "must be a JSON object (a merge patch)");
  update.tags = tags_member(json, "tags");
  validate_tags(update.tags);
  update.expected_version = optional_version_member(json, "expected_version", true);
  if (const auto it = json.find("strict"); it != json.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      bad_field("strict", "must be true or false");
    }
    update.strict = it->get<bool>();
  }
  update.idempotency_key = optional_string_member(json, "idempotency_key");
  validate_idempotency_key(update.idempotency_key);
  return update;
}

Json audit_json(const AuditRecord& record) {
  return Json{{"seq", record.seq},
              {"time", format_rfc3339(record.time)},
              {"request_id", record.request_id},
              {"actor", record.actor},
              {"operation", record.operation},
              {"user_id", nullable_string(record.user_id)},
              {"namespace", nullable_string(record.ns)},
              {"version", nullable_string(record.version)},
              {"outcome", record.outcome},
              {"detail", nullable_string(record.detail)},
              {"prev_hash", nullable_string(record.prev_hash)},
              {"hash", nullable_string(record.hash)}};
}

Json history_page_json(const HistoryPage& page) {
  Json versions = Json::array();
  for (const auto& record : page.versions) {
    versions.push_back(version_json(record));
  }
  return Json{{"versions", versions},
              {"next_cursor", page.next_cursor ? Json(version_string(*page.next_cursor)) : Json(nullptr)}};
}

Json audit_page_json(const AuditPage& page) {
  Json records = Json::array();
  for (const auto& record : page.records) {
    records.push_back(audit_json(record));
  }
  return Json{{"records", records},
              {"next_cursor", page.next_cursor ? Json(std::to_string(*page.next_cursor)) : Json(nullptr)}};
}

Json diff_json(const ContextKey& key, const DiffResult& diff) {
  return Json{{"user_id", key.user_id},
              {"namespace", key.ns},
              {"from", version_string(diff.from)},
              {"to", version_string(diff.to)},
              {"patch", Json::parse(diff.patch)},
              {"merge_patch", Json::parse(diff.merge_patch)}};
}

namespace {

Json optional_time(const std::optional<Timestamp>& at) { return at ? Json(format_rfc3339(*at)) : Json(nullptr); }

// The statistics of a series: numbers, or nulls when it has no sample.
void add_stats_json(Json& out, const SeriesStats& stats) {
  out["count"] = stats.count;
  const auto number = [&](double value) { return stats.count > 0 ? Json(value) : Json(nullptr); };
  out["first"] = number(stats.first);
  out["last"] = number(stats.last);
  out["min"] = number(stats.min);
  out["max"] = number(stats.max);
  out["mean"] = number(stats.mean);
  out["change"] = number(stats.change);
  out["first_at"] = stats.count > 0 ? Json(format_rfc3339(stats.first_at)) : Json(nullptr);
  out["last_at"] = stats.count > 0 ? Json(format_rfc3339(stats.last_at)) : Json(nullptr);
}

Json goal_json(const GoalProgress& goal) {
  const char* outlook = goal.reached ? "reached" : goal.forecast ? "on current trend" : "not on current trend";
  return Json{{"target", goal.target},   {"source", to_string(goal.source)},         {"progress", goal.progress},
              {"reached", goal.reached}, {"forecast", optional_time(goal.forecast)}, {"outlook", outlook}};
}

} // namespace

Json features_json(const Features& features) {
  Json out = Json::object();
  for (const auto& [name, on] : feature_states(features)) {
    out[std::string(name)] = on;
  }
  return out;
}

Json hooks_status_json(std::span<const HookStatus> hooks) {
  Json out = Json::array();
  for (const auto& hook : hooks) {
    Json lagging = Json::array();
    for (const auto& context : hook.lagging) {
      Json dead = Json::array();
      for (const auto& letter : context.recent_dead_letters) {
        dead.push_back(Json{
            {"version", version_string(letter.version)}, {"error", letter.error}, {"at", format_rfc3339(letter.at)}});
      }
      lagging.push_back(Json{{"user_id", context.context.user_id},
                             {"namespace", context.context.ns},
                             {"head", version_string(context.head)},
                             {"delivered", version_string(context.delivered)},
                             {"pending", context.pending},
                             {"attempts", context.attempts},
                             {"last_error", context.last_error},
                             {"retry_at", context.retry_at ? Json(format_rfc3339(*context.retry_at)) : Json(nullptr)},
                             {"pruned", context.pruned},
                             {"dead_letters", context.dead_letters},
                             {"recent_dead_letters", dead}});
    }
    out.push_back(Json{{"name", hook.name},
                       {"type", to_string(hook.kind)},
                       {"contexts", hook.contexts},
                       {"pending", hook.pending},
                       {"failing", hook.failing},
                       {"dead_letters", hook.dead_letters},
                       {"lagging", lagging}});
  }
  return Json{{"hooks", out}};
}

Json drain_report_json(const DrainReport& report) {
  return Json{{"delivered", report.delivered},
              {"failed", report.failed},
              {"dead_letters", report.dead_letters},
              {"written_back", report.written_back}};
}

Json prune_report_json(const PruneReport& report) {
  Json contexts = Json::array();
  for (const auto& context : report.contexts) {
    Json kept = Json::array();
    for (const auto& version : context.kept) {
      Json reasons = Json::array();
      for (const auto name : keep_reason_names(version.reasons)) {
        reasons.push_back(name);
      }
      kept.push_back(Json{{"version", version_string(version.version)},
                          {"updated_at", format_rfc3339(version.updated_at)},
                          {"reasons", reasons}});
    }
    Json pruned = Json::array();
    for (const auto& [first, last] : context.pruned) {
      pruned.push_back(Json{{"from", version_string(first)}, {"to", version_string(last)}});
    }
    contexts.push_back(Json{{"user_id", context.key.user_id},
                            {"namespace", context.key.ns},
                            {"versions", context.versions},
                            {"kept", kept},
                            {"pruned", pruned},
                            {"pruned_versions", context.pruned_versions}});
  }
  Json audit = nullptr;
  if (report.audit_through_seq) {
    audit = Json{{"through_seq", *report.audit_through_seq}, {"records", report.audit_pruned}};
  }
  return Json{{"dry_run", report.dry_run},
              {"contexts", contexts},
              {"versions_pruned", report.versions_pruned},
              {"audit", audit}};
}

Json summary_json(const ContextKey& key, const SummaryRange& range, SummaryBucket bucket, const Summary& summary) {
  Json fields = Json::array();
  for (const auto& field : summary.fields) {
    Json out{{"field", field.field}};
    add_stats_json(out, field.overall);
    Json buckets = Json::array();
    for (const auto& b : field.buckets) {
      Json item{{"label", b.label}, {"start", format_rfc3339(b.start)}};
      add_stats_json(item, b.stats);
      buckets.push_back(std::move(item));
    }
    out["buckets"] = std::move(buckets);
    out["trend"] = field.trend
                       ? Json{{"slope_per_day", field.trend->slope_per_day}, {"intercept", field.trend->intercept}}
                       : Json(nullptr);
    out["goal"] = field.goal ? goal_json(*field.goal) : Json(nullptr);
    fields.push_back(std::move(out));
  }
  return Json{{"user_id", key.user_id},
              {"namespace", key.ns},
              {"since", optional_time(range.since)},
              {"until", optional_time(range.until)},
              {"bucket", to_string(bucket)},
              {"versions", summary.versions},
              {"fields", std::move(fields)}};
}

Json blame_json(const std::vector<BlameEntry>& entries) {
  Json list = Json::array();
  for (const auto& entry : entries) {
    list.push_back(Json{{"path", entry.path},
                        {"version", version_string(entry.version)},
                        {"updated_at", format_rfc3339(entry.updated_at)},
                        {"actor", entry.actor},
                        {"request_id", entry.request_id}});
  }
  return list;
}

Json erase_json(std::string_view user_id, std::optional<std::string_view> ns, std::size_t removed_versions) {
  return Json{
      {"user_id", user_id}, {"namespace", ns ? Json(*ns) : Json(nullptr)}, {"removed_versions", removed_versions}};
}

AuditRecord audit_from_json(const Json& json) {
  if (!json.is_object()) {
    bad_field("audit", "an audit record must be a JSON object");
  }
  AuditRecord record;
  if (const auto it = json.find("seq"); it != json.end() && it->is_number_unsigned()) {
    record.seq = it->get<std::uint64_t>();
  }
  record.time = parse_time(string_member(json, "time"), "time");
  record.request_id = optional_string_member(json, "request_id");
  record.actor = optional_string_member(json, "actor");
  record.operation = string_member(json, "operation");
  record.user_id = optional_string_member(json, "user_id");
  record.ns = optional_string_member(json, "namespace");
  record.version = optional_string_member(json, "version");
  record.outcome = string_member(json, "outcome");
  record.detail = optional_string_member(json, "detail");
  record.prev_hash = optional_string_member(json, "prev_hash");
  record.hash = optional_string_member(json, "hash");
  return record;
}

} // namespace zsimem
