#include "aws/dynamo_client.hpp"
#include "store/audit_records.hpp"
#include "store/backends.hpp"
#include "store/document_keys.hpp"
#include "store/head_hints.hpp"

#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/time.hpp>
#include <zsimem/validate.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

// The `dynamo` backend: one DynamoDB table (docs/dynamo.md).
//
//   partition key user_id (S)   sort key version (S)
//   <user_id>                   <ns>#<version, 20 digits>      one version
//   <user_id>                   $key#<generation, 20 digits>   one data key
//   $audit                      <seq, 20 digits>               one audit record
//   $audit                      <0, 20 digits>                 the audit floor
//   $hooks#<user_id>            <ns>#<hook>                    one hook cursor
//
// A user's cursors have a partition of their own, so that an erase finds
// them (of a namespace: by the sort key's prefix) with one Query, and
// listing the user's contexts never meets them; listing a hook's cursors,
// across users, is a Scan (hook names the `hook` attribute).
//
// A gap record (retention) is a version item with a pruned_through
// attribute, keyed by the first version it stands for, so that the key
// stays taken. The audit floor keeps the seq and hash of the newest audit
// record once audit retention has removed it, so that the chain goes on
// from it; seq 0 sorts before every record's.
//
// User ids, namespaces and hook names are letters, digits and
// `_ - . @ + = : ~`, so `#` ends a namespace, `$` starts none of them, and
// the zero-padded numbers sort as numbers. DynamoDB Local's stand-ins lack
// TransactWriteItems, so every write is a single-item conditional put: a
// version's own key is the lock, and the checks around it (predecessor,
// data key) are reads before and after the put.
namespace zsimem::store {
namespace {

using Json = nlohmann::json;

constexpr std::string_view k_pk = "user_id";
constexpr std::string_view k_sk = "version";
constexpr std::string_view k_audit_partition = "$audit";
constexpr std::string_view k_key_prefix = "$key#";
constexpr std::string_view k_cursor_partition_prefix = "$hooks#";
constexpr std::string_view k_write_id = "write_id";
// DynamoDB's limit on an item: names and values of all its attributes.
constexpr std::size_t k_max_item_bytes = 400 * 1024;
constexpr std::size_t k_max_batch_write = 25;
constexpr std::size_t k_max_batch_get = 100;
// Rounds of an erase (query, delete) before it gives up on writers that keep
// adding to what it erases.
constexpr int k_max_erase_rounds = 100;
constexpr int k_max_unprocessed_rounds = 12;
// How long opening waits for a table it created to become ACTIVE.
constexpr std::chrono::seconds k_table_wait{120};

const std::string k_max_padded(k_padded_digits, '9');
constexpr std::uint64_t k_max_version = std::numeric_limits<std::uint64_t>::max();

std::string version_sort_key(std::string_view ns, std::uint64_t version) {
  return std::string(ns) + "#" + padded(version);
}

std::string key_sort_key(std::uint64_t generation) { return std::string(k_key_prefix) + padded(generation); }

std::string cursor_partition(std::string_view user_id) {
  return std::string(k_cursor_partition_prefix) + std::string(user_id);
}

std::string cursor_sort_key(std::string_view ns, std::string_view hook) {
  return std::string(ns) + "#" + std::string(hook);
}

std::string describe(const ContextKey& key) { return "user '" + key.user_id + "' namespace '" + key.ns + "'"; }

// Throws Error{invalid} for a gap record no store could keep: it stands
// for versions version..pruned_through, version 1 or more.
void check_gap(const VersionRecord& record) {
  if (record.pruned_through && (record.version == 0 || *record.pruned_through < record.version)) {
    throw Error(ErrorCode::invalid,
                "gap record " + std::to_string(record.version) + ".." + std::to_string(*record.pruned_through) +
                    " of " + describe(record.key()) + " is not a range of versions",
                "pruned_through");
  }
}

Json s_value(std::string_view value) { return Json{{"S", std::string(value)}}; }

template <typename Integer> Json n_value(Integer value) { return Json{{"N", std::to_string(value)}}; }

Json item_key(std::string_view partition, std::string_view sort) {
  return Json{{k_pk, s_value(partition)}, {k_sk, s_value(sort)}};
}

// Empty strings are left out, so that an item holds only what it has.
void put_s(Json& item, std::string_view name, std::string_view value) {
  if (!value.empty()) {
    item[std::string(name)] = s_value(value);
  }
}

const std::string* s_attr(const Json& item, std::string_view name) {
  const auto it = item.find(name);
  if (it == item.end() || !it->is_object()) {
    return nullptr;
  }
  const auto s = it->find("S");
  return s != it->end() && s->is_string() ? &s->get_ref<const std::string&>() : nullptr;
}

std::string s_or_empty(const Json& item, std::string_view name) {
  const std::string* value = s_attr(item, name);
  return value ? *value : std::string{};
}

template <typename Integer> std::optional<Integer> n_attr(const Json& item, std::string_view name) {
  const auto it = item.find(name);
  if (it == item.end() || !it->is_object()) {
    return std::nullopt;
  }
  const auto n = it->find("N");
  if (n == it->end() || !n->is_string()) {
    return std::nullopt;
  }
  const auto& text = n->get_ref<const std::string&>();
  Integer value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// The size DynamoDB counts for a value (numbers counted as their text, a
// little over DynamoDB's own count).
std::size_t value_size(const Json& value) {
  std::size_t size = 0;
  for (const auto& [type, inner] : value.items()) {
    if (inner.is_string()) {
      size += inner.get_ref<const std::string&>().size();
    } else if (type == "L") {
      size += 3;
      for (const auto& element : inner) {
        size += 1 + value_size(element);
      }
    } else if (type == "M") {
      size += 3;
      for (const auto& [name, element] : inner.items()) {
        size += 1 + name.size() + value_size(element);
      }
    } else {
      size += 1;
    }
  }
  return size;
}

std::size_t item_size(const Json& item) {
  std::size_t size = 0;
  for (const auto& [name, value] : item.items()) {
    size += name.size() + value_size(value);
  }
  return size;
}

Json version_item(const VersionRecord& record, const std::string& write_id) {
  Json item = item_key(record.user_id, version_sort_key(record.ns, record.version));
  item["updated_at"] = n_value(to_micros(record.updated_at));
  put_s(item, "data", record.data);
  put_s(item, "delta", record.delta);
  put_s(item, "actor", record.actor);
  put_s(item, "request_id", record.request_id);
  if (!record.tags.empty()) {
    Json list = Json::array();
    for (const auto& tag : record.tags) {
      list.push_back(s_value(tag));
    }
    item["tags"] = Json{{"L", std::move(list)}};
  }
  if (record.derived_from != 0) {
    item["derived_from"] = n_value(record.derived_from);
  }
  if (record.rollback_of) {
    item["rollback_of"] = n_value(*record.rollback_of);
  }
  put_s(item, "idempotency_key", record.idempotency_key);
  put_s(item, "prev_hash", record.prev_hash);
  put_s(item, "hash", record.hash);
  put_s(item, "salt", record.salt);
  put_s(item, "key_id", record.key_id);
  if (record.pruned_through) {
    item["pruned_through"] = n_value(*record.pruned_through);
  }
  item[std::string(k_write_id)] = s_value(write_id);
  return item;
}

Json audit_item(const AuditRecord& record, const std::string& write_id) {
  Json item = item_key(k_audit_partition, padded(record.seq));
  item["time"] = n_value(to_micros(record.time));
  put_s(item, "request_id", record.request_id);
  put_s(item, "actor", record.actor);
  put_s(item, "operation", record.operation);
  put_s(item, "audit_user", record.user_id);
  put_s(item, "ns", record.ns);
  put_s(item, "audit_version", record.version);
  put_s(item, "outcome", record.outcome);
  put_s(item, "detail", record.detail);
  put_s(item, "prev_hash", record.prev_hash);
  put_s(item, "hash", record.hash);
  item[std::string(k_write_id)] = s_value(write_id);
  return item;
}

Json data_key_item(const DataKeyRecord& key, const std::string& write_id) {
  Json item = item_key(key.user_id, key_sort_key(key.generation));
  put_s(item, "master_key_id", key.master_key_id);
  put_s(item, "wrapped", key.wrapped);
  item["created_at"] = n_value(to_micros(key.created_at));
  item[std::string(k_write_id)] = s_value(write_id);
  return item;
}

Json hook_cursor_item(const HookCursor& cursor, const std::string& write_id) {
  Json item = item_key(cursor_partition(cursor.context.user_id), cursor_sort_key(cursor.context.ns, cursor.hook));
  item["hook"] = s_value(cursor.hook);
  item["revision"] = n_value(cursor.revision);
  put_s(item, "state", cursor.state);
  item[std::string(k_write_id)] = s_value(write_id);
  return item;
}

// Adds `name = :value` (or, for an empty value, which is never stored, the
// attribute's absence) to a filter expression.
void add_equals(Json& body, std::string& filter, const std::string& placeholder, std::string_view attribute,
                const std::string& value) {
  body["ExpressionAttributeNames"]["#" + placeholder] = std::string(attribute);
  filter += filter.empty() ? "" : " AND ";
  if (value.empty()) {
    filter += "attribute_not_exists(#" + placeholder + ")";
  } else {
    filter += "#" + placeholder + " = :" + placeholder;
    body["ExpressionAttributeValues"][":" + placeholder] = s_value(value);
  }
}

class DynamoStore final : public MemoryStore {
public:
  DynamoStore(aws::DynamoSettings settings, std::string table, bool create)
      : m_client(std::move(settings)), m_table(std::move(table)) {
    open_table(create);
  }

  std::string_view backend_name() const override { return "dynamo"; }

  std::optional<VersionRecord> head(const ContextKey& key) override {
    if (!is_valid_key(key)) {
      return std::nullopt;
    }
    Json body = context_query(key, true);
    body["Limit"] = 1;
    const Json answer = call("Query", body);
    const auto& items = answer.value("Items", Json::array());
    if (items.empty()) {
      return std::nullopt;
    }
    return decode_version(items.front(), key);
  }

  std::optional<VersionRecord> version(const ContextKey& key, std::uint64_t version) override {
    if (!is_valid_key(key) || version == 0) {
      return std::nullopt;
    }
    auto item = get_item(item_key(key.user_id, version_sort_key(key.ns, version)));
    if (!item) {
      return std::nullopt;
    }
    return decode_version(*item, key);
  }

  std::optional<VersionRecord> version_at(const ContextKey& key, Timestamp at) override {
    if (!is_valid_key(key)) {
      return std::nullopt;
    }
    // Newest first, in growing pages: an as-of read usually asks for a
    // recent time. updated_at never decreases within a context.
    std::optional<VersionRecord> found;
    Json body = context_query(key, true);
    int page = 8;
    for_each_page(
        "Query", body,
        [&](const Json& items) {
          for (const auto& item : items) {
            VersionRecord record = decode_version(item, key);
            if (record.updated_at <= at) {
              found = std::move(record);
              return false;
            }
          }
          page = std::min(page * 4, 1000);
          return true;
        },
        &page);
    return found;
  }

  std::vector<VersionRecord> history(const ContextKey& key, const HistoryQuery& query) override {
    std::vector<VersionRecord> out;
    if (!is_valid_key(key) || query.limit == 0) {
      return out;
    }
    std::uint64_t low = 1;
    std::uint64_t high = std::numeric_limits<std::uint64_t>::max();
    if (query.oldest_first && query.after_version) {
      if (*query.after_version == high) {
        return out;
      }
      low = *query.after_version + 1;
    } else if (!query.oldest_first && query.before_version) {
      if (*query.before_version <= 1) {
        return out;
      }
      high = *query.before_version - 1;
    }
    Json body = range_query(key, low, high);
    body.erase("ProjectionExpression"); // whole records
    body["ScanIndexForward"] = query.oldest_first;
    // updated_at never decreases within a context, so a time range is a
    // contiguous run: skip up to its start, stop past its end.
    int page = static_cast<int>(std::min<std::size_t>(query.limit + 1, 1000));
    for_each_page(
        "Query", body,
        [&](const Json& items) {
          for (const auto& item : items) {
            VersionRecord record = decode_version(item, key);
            const bool before_range = query.oldest_first ? (query.since && record.updated_at < *query.since)
                                                         : (query.until && record.updated_at > *query.until);
            const bool past_range = query.oldest_first ? (query.until && record.updated_at > *query.until)
                                                       : (query.since && record.updated_at < *query.since);
            if (past_range) {
              return false;
            }
            if (!before_range) {
              out.push_back(std::move(record));
              if (out.size() >= query.limit) {
                return false;
              }
            }
          }
          return true;
        },
        &page);
    return out;
  }

  std::optional<VersionRecord> find_idempotency_key(const ContextKey& key, std::string_view idempotency_key) override {
    if (!is_valid_key(key) || idempotency_key.empty()) {
      return std::nullopt;
    }
    // Newest first: a replay usually repeats a recent update.
    Json body = context_query(key, true);
    body["FilterExpression"] = "#i = :i";
    body["ExpressionAttributeNames"]["#i"] = "idempotency_key";
    body["ExpressionAttributeValues"][":i"] = s_value(idempotency_key);
    std::optional<VersionRecord> found;
    for_each_page("Query", body, [&](const Json& items) {
      for (const auto& item : items) {
        VersionRecord record = decode_version(item, key);
        if (record.idempotency_key == idempotency_key) {
          found = std::move(record);
          return false;
        }
      }
      return true;
    });
    return found;
  }

  std::optional<VersionRecord> head_hint(const ContextKey& key) override { return m_hints.find(key); }

  bool append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) override {
    return m_hints.track(records, [&] { return append_unhinted(records, audit); });
  }

  bool supports_atomic_batches() const override { return false; }

  WriteStats write_stats() const override {
    return {m_transactions.load(std::memory_order_relaxed), m_writes.load(std::memory_order_relaxed)};
  }

  std::size_t erase(std::string_view user_id, std::optional<std::string_view> ns) override {
    if (!is_valid_name(user_id) || (ns && !is_valid_name(*ns))) {
      return 0;
    }
    m_hints.forget(user_id, ns);
    // The cursors first: an erase interrupted after them redelivers what
    // is left, never skips a new version 1.
    erase_hook_cursors(user_id, ns);
    std::size_t removed = 0;
    // Until a consistent query finds nothing left: versions written by
    // appends that raced with this erase go too (their writers re-check the
    // predecessor and the data key after their put).
    for (int round = 0; round < k_max_erase_rounds; ++round) {
      Json body = base_body();
      body["ConsistentRead"] = true;
      body["ProjectionExpression"] = "#u, #k";
      body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#k", k_sk}};
      body["ExpressionAttributeValues"] = {{":u", s_value(user_id)}};
      if (ns) {
        body["KeyConditionExpression"] = "#u = :u AND begins_with(#k, :p)";
        body["ExpressionAttributeValues"][":p"] = s_value(std::string(*ns) + "#");
      } else {
        body["KeyConditionExpression"] = "#u = :u";
      }
      std::vector<Json> versions;
      std::vector<Json> keys;
      for_each_page("Query", body, [&](const Json& items) {
        for (const auto& item : items) {
          const std::string sort = s_or_empty(item, k_sk);
          (sort.starts_with(k_key_prefix) ? keys : versions).push_back(item_key(user_id, sort));
        }
        return true;
      });
      if (versions.empty() && keys.empty()) {
        return removed;
      }
      // Versions first, then the keys that sealed them: an interrupted erase
      // leaves keys (harmless, and the next erase removes them), never
      // versions without their key.
      batch_delete(versions);
      removed += versions.size();
      batch_delete(keys);
    }
    throw Error(ErrorCode::unavailable, "could not erase user '" + std::string(user_id) + "'" +
                                            (ns ? " namespace '" + std::string(*ns) + "'" : std::string{}) +
                                            " in DynamoDB table '" + m_table + "': writers kept adding versions");
  }

  // DynamoDB Local's stand-ins lack transactions: the gap is put first,
  // over the range's first version, then the rest of the range is deleted,
  // so that an interruption leaves records the gap covers
  // (docs/retention.md), never a hole in the chain. An append that slips
  // into the range meanwhile meets the gap, or what remains of the range,
  // in its check after its put, and withdraws.
  std::size_t prune(const VersionRecord& gap) override {
    if (!gap.is_gap() || !is_valid_key(gap.key())) {
      throw Error(ErrorCode::invalid, "prune: version " + std::to_string(gap.version) + " of " + describe(gap.key()) +
                                          " is not a gap record that can be stored");
    }
    check_gap(gap);
    const std::uint64_t through = *gap.pruned_through;
    // The head stays, but a hint of this store may be older than the
    // versions that go: forgotten, the next writer reads the head.
    if (const auto hint = m_hints.find(gap.key()); hint && hint->version <= through) {
      m_hints.forget(gap.user_id, gap.ns);
    }
    // The keys in the range, by one query (a year of hourly versions is
    // thousands), up to the first key past it: the head's, or a later gap's.
    const std::string gap_sort = version_sort_key(gap.ns, gap.version);
    const std::string last_sort = version_sort_key(gap.ns, through);
    std::vector<Json> in_range;
    bool followed = false;
    const int page = static_cast<int>(std::min<std::uint64_t>(through - gap.version, 998) + 2);
    for_each_page(
        "Query", range_query(gap.key(), gap.version, k_max_version),
        [&](const Json& items) {
          for (const auto& item : items) {
            const std::string sort = s_or_empty(item, k_sk);
            if (sort > last_sort) {
              followed = true;
              return false;
            }
            in_range.push_back(item_key(gap.user_id, sort));
          }
          return true;
        },
        &page);
    if (in_range.empty()) {
      return 0; // gone already (an earlier gap stands for them), or erased
    }
    if (!followed) {
      throw Error(ErrorCode::invalid, "cannot prune versions " + std::to_string(gap.version) + " to " +
                                          std::to_string(through) + " of " + describe(gap.key()) +
                                          ": they hold its head");
    }
    const std::string write_id = new_write_id();
    const Json item = version_item(gap, write_id);
    Json put = base_body();
    put["Item"] = item;
    // Never narrow a gap that another prune widened meanwhile: the versions
    // it stands for beyond this one's may be deleted already.
    put["ConditionExpression"] = "attribute_not_exists(#pt) OR #pt <= :pt";
    put["ExpressionAttributeNames"] = {{"#pt", "pruned_through"}};
    put["ExpressionAttributeValues"] = {{":pt", n_value(through)}};
    count_write(1);
    try {
      call("PutItem", put);
    } catch (const aws::ConditionalCheckFailed&) {
      return 0;
    }
    // An erase that ran meanwhile took the head: the gap goes too, since the
    // erase may have looked before it was put.
    Json after = range_query(gap.key(), through + 1, k_max_version);
    after["Limit"] = 1;
    if (call("Query", after).value("Items", Json::array()).empty()) {
      delete_own(item, write_id);
      return 0;
    }
    std::vector<Json> others;
    for (const auto& key : in_range) {
      if (s_or_empty(key, k_sk) != gap_sort) {
        others.push_back(key);
      }
    }
    batch_delete(others);
    return in_range.size();
  }

  std::size_t prune_audit(std::uint64_t through_seq) override {
    // Never past the newest record as read now: one appended meanwhile stays.
    const AuditTail tail = read_audit_tail();
    const std::uint64_t last = std::min(through_seq, tail.seq);
    if (last == 0) {
      return 0;
    }
    Json body = base_body();
    body["KeyConditionExpression"] = "#u = :u AND #k BETWEEN :low AND :high";
    body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#k", k_sk}};
    body["ExpressionAttributeValues"] = {
        {":u", s_value(k_audit_partition)}, {":low", s_value(padded(1))}, {":high", s_value(padded(last))}};
    body["ProjectionExpression"] = "#u, #k";
    body["ConsistentRead"] = true;
    std::vector<Json> keys;
    for_each_page("Query", body, [&](const Json& items) {
      for (const auto& item : items) {
        keys.push_back(item_key(k_audit_partition, s_or_empty(item, k_sk)));
      }
      return true;
    });
    if (!keys.empty() && s_or_empty(keys.back(), k_sk) == padded(tail.seq)) {
      raise_audit_floor(tail);
    }
    batch_delete(keys);
    return keys.size();
  }

  std::vector<DataKeyRecord> data_keys(std::optional<std::string_view> user_id) override {
    std::vector<DataKeyRecord> out;
    Json body = base_body();
    body["ExpressionAttributeNames"] = {{"#k", k_sk}};
    body["ExpressionAttributeValues"] = {{":p", s_value(k_key_prefix)}};
    body["ConsistentRead"] = true;
    std::string operation = "Scan";
    if (user_id) {
      if (!is_valid_name(*user_id)) {
        return out;
      }
      operation = "Query";
      body["KeyConditionExpression"] = "#u = :u AND begins_with(#k, :p)";
      body["ExpressionAttributeNames"]["#u"] = k_pk;
      body["ExpressionAttributeValues"][":u"] = s_value(*user_id);
    } else {
      // Every user's keys: a scan of the whole table (zsimem rekey, export).
      body["FilterExpression"] = "begins_with(#k, :p)";
    }
    for_each_page(operation, body, [&](const Json& items) {
      for (const auto& item : items) {
        out.push_back(decode_data_key(item));
      }
      return true;
    });
    std::sort(out.begin(), out.end(), [](const DataKeyRecord& a, const DataKeyRecord& b) {
      return std::tie(a.user_id, a.generation) < std::tie(b.user_id, b.generation);
    });
    return out;
  }

  bool add_data_key(const DataKeyRecord& key) override {
    check_data_key(key);
    const std::string write_id = new_write_id();
    return put_new(data_key_item(key, write_id), write_id);
  }

  bool rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) override {
    if (!is_valid_name(key.user_id) || !is_valid_generation(key.generation)) {
      return false;
    }
    const std::string write_id = new_write_id();
    Json body = base_body();
    body["Key"] = item_key(key.user_id, key_sort_key(key.generation));
    body["UpdateExpression"] = "SET #m = :m, #w = :w, #id = :id";
    body["ConditionExpression"] = "attribute_exists(#u) AND #w = :expected";
    body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#m", "master_key_id"}, {"#w", "wrapped"}, {"#id", k_write_id}};
    body["ExpressionAttributeValues"] = {{":m", s_value(key.master_key_id)},
                                         {":w", s_value(key.wrapped)},
                                         {":id", s_value(write_id)},
                                         {":expected", s_value(expected_wrapped)}};
    count_write(1);
    try {
      call("UpdateItem", body);
      return true;
    } catch (const aws::ConditionalCheckFailed&) {
      // Our own earlier attempt, retried after its answer was lost?
      const auto item = get_item(item_key(key.user_id, key_sort_key(key.generation)));
      return item && s_or_empty(*item, k_write_id) == write_id;
    }
  }

  std::optional<HookCursor> hook_cursor(std::string_view hook, const ContextKey& context) override {
    if (!is_valid_name(hook) || !is_valid_key(context)) {
      return std::nullopt;
    }
    const auto item = get_item(item_key(cursor_partition(context.user_id), cursor_sort_key(context.ns, hook)));
    if (!item) {
      return std::nullopt;
    }
    return decode_hook_cursor(*item);
  }

  // One conditional put: of a new item for revision 1, else over the item
  // as it was at the revision before, so that one writer wins each revision.
  bool put_hook_cursor(const HookCursor& cursor) override {
    check_hook_cursor(cursor);
    const std::string write_id = new_write_id();
    const Json item = hook_cursor_item(cursor, write_id);
    if (const std::size_t size = item_size(item); size > k_max_item_bytes) {
      throw Error(ErrorCode::too_large,
                  "the cursor of hook '" + cursor.hook + "' for " + describe(cursor.context) + " is " +
                      std::to_string(size) + " bytes as a DynamoDB item, over DynamoDB's limit of 400 KB (" +
                      std::to_string(k_max_item_bytes) + " bytes)",
                  "state");
    }
    if (cursor.revision == 1) {
      return put_new(item, write_id);
    }
    Json body = base_body();
    body["Item"] = item;
    body["ConditionExpression"] = "#r = :previous";
    body["ExpressionAttributeNames"] = {{"#r", "revision"}};
    body["ExpressionAttributeValues"] = {{":previous", n_value(cursor.revision - 1)}};
    count_write(1);
    try {
      call("PutItem", body);
      return true;
    } catch (const aws::ConditionalCheckFailed&) {
      // Our own earlier attempt, retried after its answer was lost?
      const auto stored = get_item(item_key(s_or_empty(item, k_pk), s_or_empty(item, k_sk)));
      return stored && s_or_empty(*stored, k_write_id) == write_id;
    }
  }

  std::vector<HookCursor> hook_cursors(std::optional<std::string_view> hook) override {
    std::vector<HookCursor> out;
    if (hook && !is_valid_name(*hook)) {
      return out;
    }
    for_each_page("Scan", cursor_scan(hook, false), [&](const Json& items) {
      for (const auto& item : items) {
        out.push_back(decode_hook_cursor(item));
      }
      return true;
    });
    std::sort(out.begin(), out.end(), [](const HookCursor& a, const HookCursor& b) {
      return std::tie(a.hook, a.context) < std::tie(b.hook, b.context);
    });
    return out;
  }

  std::size_t remove_hook_cursors(std::string_view hook) override {
    if (!is_valid_name(hook)) {
      return 0;
    }
    std::vector<Json> keys;
    for_each_page("Scan", cursor_scan(hook, true), [&](const Json& items) {
      for (const auto& item : items) {
        keys.push_back(item_key(s_or_empty(item, k_pk), s_or_empty(item, k_sk)));
      }
      return true;
    });
    batch_delete(keys);
    return keys.size();
  }

  std::vector<ContextKey> contexts(std::optional<std::string_view> user_id) override {
    std::set<ContextKey> found;
    if (user_id) {
      if (!is_valid_name(*user_id)) {
        return {};
      }
      // One query of one item per namespace: each jumps past the versions
      // of the namespace the previous one found.
      std::string after;
      for (;;) {
        Json body = base_body();
        body["ConsistentRead"] = true;
        body["Limit"] = 1;
        body["ProjectionExpression"] = "#u, #k";
        body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#k", k_sk}};
        body["ExpressionAttributeValues"] = {{":u", s_value(*user_id)}};
        body["KeyConditionExpression"] = "#u = :u";
        if (!after.empty()) {
          body["KeyConditionExpression"] = "#u = :u AND #k > :after";
          body["ExpressionAttributeValues"][":after"] = s_value(after);
        }
        const Json answer = call("Query", body);
        const auto& items = answer.value("Items", Json::array());
        if (items.empty()) {
          break;
        }
        const std::string sort = s_or_empty(items.front(), k_sk);
        const auto hash = sort.rfind('#');
        if (hash == std::string::npos) {
          throw damaged(items.front(), "its sort key has no '#'");
        }
        if (!sort.starts_with('$')) {
          found.insert(ContextKey{std::string(*user_id), sort.substr(0, hash)});
        }
        after = sort.substr(0, hash + 1) + k_max_padded;
      }
    } else {
      // Every user's: a scan of the whole table's keys (export, listings).
      Json body = base_body();
      body["ProjectionExpression"] = "#u, #k";
      body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#k", k_sk}};
      body["ConsistentRead"] = true;
      for_each_page("Scan", body, [&](const Json& items) {
        for (const auto& item : items) {
          const std::string user = s_or_empty(item, k_pk);
          const std::string sort = s_or_empty(item, k_sk);
          const auto hash = sort.rfind('#');
          if (user.starts_with('$') || sort.starts_with('$') || hash == std::string::npos) {
            continue;
          }
          found.insert(ContextKey{user, sort.substr(0, hash)});
        }
        return true;
      });
    }
    return {found.begin(), found.end()};
  }

  void append_audit(std::span<const AuditRecord> records, bool /*durable*/) override {
    // Every DynamoDB write is durable on return: `durable` changes nothing.
    // One hash-chained order: this store's appends take turns, other
    // processes' are kept apart by the conditional put of the next seq.
    std::lock_guard lock(m_audit_mutex);
    for (const auto& record : records) {
      AuditRecord stamped = as_stored(record);
      if (!m_audit_tail) {
        m_audit_tail = read_audit_tail();
      }
      for (;;) {
        stamped.seq = m_audit_tail->seq + 1;
        chain_audit(stamped, m_audit_tail->hash);
        const std::string write_id = new_write_id();
        if (put_new(audit_item(stamped, write_id), write_id)) {
          m_audit_tail = AuditTail{stamped.seq, stamped.hash};
          break;
        }
        // Another process appended since: chain after its record.
        m_audit_tail = read_audit_tail();
      }
    }
  }

  std::vector<AuditRecord> audit_log(const AuditQuery& query) override {
    std::vector<AuditRecord> out;
    if (query.limit == 0 || (query.before_seq && *query.before_seq <= 1)) {
      return out;
    }
    Json body = base_body();
    body["ScanIndexForward"] = false;
    body["ConsistentRead"] = true;
    body["ExpressionAttributeNames"] = {{"#u", k_pk}};
    body["ExpressionAttributeValues"] = {{":u", s_value(k_audit_partition)}};
    body["KeyConditionExpression"] = "#u = :u";
    if (query.before_seq) {
      body["KeyConditionExpression"] = "#u = :u AND #k < :before";
      body["ExpressionAttributeNames"]["#k"] = k_sk;
      body["ExpressionAttributeValues"][":before"] = s_value(padded(*query.before_seq));
    }
    std::string filter;
    if (query.user_id) {
      add_equals(body, filter, "au", "audit_user", *query.user_id);
    }
    if (query.ns) {
      add_equals(body, filter, "an", "ns", *query.ns);
    }
    if (query.since || query.until) {
      body["ExpressionAttributeNames"]["#t"] = "time";
    }
    if (query.since) {
      filter += filter.empty() ? "#t >= :since" : " AND #t >= :since";
      body["ExpressionAttributeValues"][":since"] = n_value(to_micros(*query.since));
    }
    if (query.until) {
      filter += filter.empty() ? "#t <= :until" : " AND #t <= :until";
      body["ExpressionAttributeValues"][":until"] = n_value(to_micros(*query.until));
    }
    if (!filter.empty()) {
      body["FilterExpression"] = filter;
    }
    // Without a filter a page of `limit` records is exactly what is needed;
    // with one, larger pages cost fewer round trips.
    int page = static_cast<int>(
        std::min<std::size_t>(filter.empty() ? query.limit : std::max<std::size_t>(query.limit, 100), 1000));
    for_each_page(
        "Query", body,
        [&](const Json& items) {
          for (const auto& item : items) {
            if (s_or_empty(item, k_sk) == padded(0)) {
              continue; // the audit floor
            }
            AuditRecord record = decode_audit(item);
            if (matches(record, query)) {
              out.push_back(std::move(record));
              if (out.size() >= query.limit) {
                return false;
              }
            }
          }
          return true;
        },
        &page);
    return out;
  }

private:
  // append(), without the head hints' bookkeeping.
  bool append_unhinted(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) {
    std::vector<Json> items;
    std::vector<std::string> write_ids;
    for (const auto& record : records) {
      if (!is_valid_key(record.key())) {
        throw Error(ErrorCode::invalid, "cannot store " + describe(record.key()) + ": unsafe name", "user_id");
      }
      if (record.version == 0) {
        throw Error(ErrorCode::invalid, "cannot store version 0 of " + describe(record.key()), "version");
      }
      check_gap(record);
      write_ids.push_back(new_write_id());
      items.push_back(version_item(record, write_ids.back()));
      const std::size_t size = item_size(items.back());
      if (size > k_max_item_bytes) {
        throw Error(ErrorCode::too_large,
                    "version " + std::to_string(record.version) + " of " + describe(record.key()) + " is " +
                        std::to_string(size) + " bytes as a DynamoDB item, over DynamoDB's limit of 400 KB (" +
                        std::to_string(k_max_item_bytes) + " bytes)",
                    "data");
      }
    }
    // A record built on the head this store wrote last needs no look before
    // its put: the put's condition refuses a version that exists, and the
    // look after it catches an erase that ran since, and a hint that
    // retention pruned since (another process appended on it first).
    const bool vouched = records.size() == 1 && follows_hint(records.front());
    if (!vouched && !chain_holds(records, true)) {
      return false;
    }
    std::size_t written = 0;
    for (; written < records.size(); ++written) {
      if (!put_new(items[written], write_ids[written])) {
        // Like the json backend: what was written before stays (the batch is
        // not atomic), and the caller hears that the write as a whole failed.
        return false;
      }
    }
    // An erase may have run between the checks and the puts, or the records
    // went into a range that retention pruned meanwhile: then what was
    // written is removed again, so that no version outlives its context or
    // its data key (docs/dynamo.md, "Races with an erase"), and the chain
    // does not fork.
    if (!chain_holds(records, false)) {
      for (std::size_t i = written; i > 0; --i) {
        delete_own(items[i - 1], write_ids[i - 1]);
      }
      return false;
    }
    if (!audit.empty()) {
      append_audit(audit, true);
    }
    return true;
  }

  struct AuditTail {
    std::uint64_t seq = 0;
    std::string hash;
  };

  Json base_body() const { return Json{{"TableName", m_table}}; }

  Error damaged(const Json& item, const std::string& reason) const {
    return Error(ErrorCode::unavailable, "damaged item (user_id '" + s_or_empty(item, k_pk) + "', version '" +
                                             s_or_empty(item, k_sk) + "') in DynamoDB table '" + m_table +
                                             "': " + reason);
  }

  // One operation; DynamoDB's answer as JSON. The client's errors are
  // zsimem::Errors already; a missing table is named with the remedy.
  Json call(std::string_view operation, const Json& body) {
    std::string text;
    try {
      text = body.dump();
    } catch (const Json::exception& e) {
      throw Error(ErrorCode::invalid, "cannot send " + std::string(operation) + " to DynamoDB: " + e.what());
    }
    std::string answer;
    try {
      answer = m_client.call(operation, text);
    } catch (const aws::DynamoError& e) {
      if (e.aws_type() == "ResourceNotFoundException") {
        throw missing_table();
      }
      throw;
    }
    Json parsed = Json::parse(answer, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      throw Error(ErrorCode::unavailable, "DynamoDB's answer to " + std::string(operation) + " on table '" + m_table +
                                              "' is not a JSON object");
    }
    return parsed;
  }

  Error missing_table() const {
    return Error(ErrorCode::unavailable, "DynamoDB table '" + m_table + "' does not exist (zsimem init creates it)",
                 "DYNAMO_TABLE");
  }

  // Calls `operation` page after page (ExclusiveStartKey) while `on_page`
  // returns true; `page` is the Limit of each call, which `on_page` may change.
  template <typename OnPage>
  void for_each_page(std::string_view operation, Json body, OnPage on_page, const int* page = nullptr) {
    for (;;) {
      if (page) {
        body["Limit"] = std::max(*page, 1);
      }
      const Json answer = call(operation, body);
      const auto items = answer.find("Items");
      if (items != answer.end() && items->is_array() && !on_page(*items)) {
        return;
      }
      const auto last = answer.find("LastEvaluatedKey");
      if (last == answer.end() || !last->is_object() || last->empty()) {
        return;
      }
      body["ExclusiveStartKey"] = *last;
    }
  }

  // A Query of one context's versions, newest first unless `descending` is false.
  Json context_query(const ContextKey& key, bool descending) const {
    Json body = base_body();
    body["KeyConditionExpression"] = "#u = :u AND begins_with(#k, :p)";
    body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#k", k_sk}};
    body["ExpressionAttributeValues"] = {{":u", s_value(key.user_id)}, {":p", s_value(key.ns + "#")}};
    body["ScanIndexForward"] = !descending;
    body["ConsistentRead"] = true;
    return body;
  }

  std::optional<Json> get_item(const Json& key) {
    Json body = base_body();
    body["Key"] = key;
    body["ConsistentRead"] = true;
    const Json answer = call("GetItem", body);
    const auto item = answer.find("Item");
    if (item == answer.end() || !item->is_object() || item->empty()) {
      return std::nullopt;
    }
    return *item;
  }

  // Items by key, with the keys DynamoDB left unprocessed asked again;
  // indexed by (partition, sort key).
  std::map<std::pair<std::string, std::string>, Json> batch_get(const std::vector<Json>& keys) {
    std::map<std::pair<std::string, std::string>, Json> found;
    for (std::size_t start = 0; start < keys.size(); start += k_max_batch_get) {
      Json request{{"Keys", Json::array()}, {"ConsistentRead", true}};
      for (std::size_t i = start; i < std::min(keys.size(), start + k_max_batch_get); ++i) {
        request["Keys"].push_back(keys[i]);
      }
      for (int round = 0;; ++round) {
        const Json answer = call("BatchGetItem", Json{{"RequestItems", {{m_table, request}}}});
        const auto responses = answer.find("Responses");
        if (responses != answer.end() && responses->contains(m_table)) {
          for (const auto& item : (*responses)[m_table]) {
            found.insert_or_assign({s_or_empty(item, k_pk), s_or_empty(item, k_sk)}, item);
          }
        }
        const auto unprocessed = answer.find("UnprocessedKeys");
        if (unprocessed == answer.end() || !unprocessed->contains(m_table)) {
          break;
        }
        request = (*unprocessed)[m_table];
        backoff("BatchGetItem", round);
      }
    }
    return found;
  }

  void batch_delete(const std::vector<Json>& keys) {
    for (std::size_t start = 0; start < keys.size(); start += k_max_batch_write) {
      Json requests = Json::array();
      for (std::size_t i = start; i < std::min(keys.size(), start + k_max_batch_write); ++i) {
        requests.push_back(Json{{"DeleteRequest", {{"Key", keys[i]}}}});
      }
      for (int round = 0;; ++round) {
        count_write(requests.size());
        const Json answer = call("BatchWriteItem", Json{{"RequestItems", {{m_table, requests}}}});
        const auto unprocessed = answer.find("UnprocessedItems");
        if (unprocessed == answer.end() || !unprocessed->contains(m_table) || (*unprocessed)[m_table].empty()) {
          break;
        }
        requests = (*unprocessed)[m_table];
        backoff("BatchWriteItem", round);
      }
    }
  }

  // Sleeps before asking again for what DynamoDB left unprocessed (it does
  // under throttling), with the client's full-jitter backoff.
  void backoff(std::string_view operation, int round) {
    if (round + 1 >= k_max_unprocessed_rounds) {
      throw Error(ErrorCode::unavailable, "DynamoDB left items of " + std::string(operation) + " on table '" + m_table +
                                              "' unprocessed " + std::to_string(round + 1) + " times (throttled)");
    }
    std::this_thread::sleep_for(m_client.settings().backoff(round + 1));
  }

  void count_write(std::size_t items) {
    m_transactions.fetch_add(1, std::memory_order_relaxed);
    m_writes.fetch_add(items, std::memory_order_relaxed);
  }

  // Puts an item whose key must not exist yet; false when it does, unless
  // the item there is this very put's (a retried attempt that had reached
  // DynamoDB: the client's retries run the condition against ourselves).
  bool put_new(const Json& item, const std::string& write_id) {
    Json body = base_body();
    body["Item"] = item;
    body["ConditionExpression"] = "attribute_not_exists(#u)";
    body["ExpressionAttributeNames"] = {{"#u", k_pk}};
    count_write(1);
    try {
      call("PutItem", body);
      return true;
    } catch (const aws::ConditionalCheckFailed&) {
      const auto existing = get_item(item_key(s_or_empty(item, k_pk), s_or_empty(item, k_sk)));
      return existing && s_or_empty(*existing, k_write_id) == write_id;
    }
  }

  // Deletes an item this store put, if it is still that one.
  void delete_own(const Json& item, const std::string& write_id) {
    Json body = base_body();
    body["Key"] = item_key(s_or_empty(item, k_pk), s_or_empty(item, k_sk));
    body["ConditionExpression"] = "#id = :id";
    body["ExpressionAttributeNames"] = {{"#id", k_write_id}};
    body["ExpressionAttributeValues"] = {{":id", s_value(write_id)}};
    count_write(1);
    try {
      call("DeleteItem", body);
    } catch (const aws::ConditionalCheckFailed&) {
      // Gone already (an erase), or not ours.
    }
  }

  // Whether the records may stand. Before the puts (`before`), cheaply, so
  // that a clash found then writes nothing: one BatchGetItem for the whole
  // batch finds that no record's key exists, that each sealed record's data
  // key does, and the version before each context's first record, which
  // must be the newest record below it (follows()); when that key is free
  // (the first record follows a gap, or the chain was pruned or erased), a
  // Query finds the newest record below instead. A context's version 1
  // needs it empty (a Query). After the puts, one Query per context
  // (context_follows()), and the data keys again only for a context that
  // starts at version 1: for the others, the predecessor that
  // context_follows() finds still there vouches for them, since an erase
  // of a user removes its keys after its versions (docs/dynamo.md).
  bool chain_holds(std::span<const VersionRecord> records, bool before) {
    std::map<ContextKey, std::vector<std::size_t>> contexts;
    for (std::size_t i = 0; i < records.size(); ++i) {
      contexts[records[i].key()].push_back(i);
    }
    std::vector<Json> keys;
    const auto want = [&](const std::string& user, const std::string& sort) { keys.push_back(item_key(user, sort)); };
    for (const auto& [key, indices] : contexts) {
      const VersionRecord& first = records[indices.front()];
      if (first.version == 1) {
        if (before && !context_is_empty(key)) {
          return false;
        }
      } else if (!before) {
        if (!context_follows(records, indices)) {
          return false;
        }
        continue;
      } else {
        want(key.user_id, version_sort_key(key.ns, first.version - 1));
        for (const std::size_t i : indices) {
          want(key.user_id, version_sort_key(key.ns, records[i].version));
        }
      }
      for (const std::size_t i : indices) {
        if (!records[i].key_id.empty()) {
          const auto generation = key_generation(records[i].key_id);
          if (!generation) {
            return false;
          }
          want(key.user_id, key_sort_key(*generation));
        }
      }
    }
    if (keys.empty()) {
      return true;
    }
    const auto found = batch_get(keys);
    const auto item = [&](const std::string& user, const std::string& sort) -> const Json* {
      const auto it = found.find({user, sort});
      return it == found.end() ? nullptr : &it->second;
    };
    for (const auto& [key, indices] : contexts) {
      const VersionRecord& first = records[indices.front()];
      if (!before && first.version != 1) {
        continue; // context_follows() held
      }
      for (const std::size_t i : indices) {
        if (!records[i].key_id.empty() &&
            item(key.user_id, key_sort_key(key_generation(records[i].key_id).value_or(0))) == nullptr) {
          return false;
        }
      }
      if (!before || first.version == 1) {
        continue;
      }
      for (const std::size_t i : indices) {
        if (item(key.user_id, version_sort_key(key.ns, records[i].version)) != nullptr) {
          return false;
        }
      }
      const Json* previous = item(key.user_id, version_sort_key(key.ns, first.version - 1));
      if (previous ? !follows(first, decode_version(*previous, key)) : !follows_newest_below(first)) {
        return false;
      }
    }
    return true;
  }

  // Whether `first`, the first record of a context in an append, follows
  // `below`, the newest record stored below it: a version, or a gap, that
  // ends with the version before it, with the hash `first` names. A gap that
  // ends later is a range retention pruned, which nothing may fill.
  static bool follows(const VersionRecord& first, const VersionRecord& below) {
    return below.last_version() == first.version - 1 && below.hash == first.prev_hash;
  }

  // follows() against the newest record below `first`, found by a Query
  // newest first; false when there is none (an erase).
  bool follows_newest_below(const VersionRecord& first) {
    Json body = chain_query(first.key(), 1, first.version - 1);
    body["ScanIndexForward"] = false;
    body["Limit"] = 1;
    const auto& items = call("Query", body).value("Items", Json::array());
    return !items.empty() && follows(first, decode_version(items.front(), first.key()));
  }

  // chain_holds() after the puts, for the records of one context at
  // `indices` (in version order, the first not version 1): one Query of the
  // context's keys from the version before the first on. The first must
  // still follow the newest record below it (else an erase ran meanwhile,
  // or the first went into a range retention pruned: the gap at the range's
  // start ends past the version before), only the records may lie between
  // their keys, and what comes after the last must follow it (else another
  // writer had put what they fork from, or they went into a pruned range
  // whose versions were still being deleted: what follows is one of those,
  // or the version after the range).
  bool context_follows(std::span<const VersionRecord> records, const std::vector<std::size_t>& indices) {
    const VersionRecord& first = records[indices.front()];
    const VersionRecord& last = records[indices.back()];
    Json body = chain_query(first.key(), first.version - 1, k_max_version);
    bool holds = true;
    bool previous_seen = false; // the key of the version before the first
    std::size_t next = 0;       // the record whose key comes next
    const int page = static_cast<int>(std::min<std::size_t>(indices.size() + 2, 1000));
    for_each_page(
        "Query", body,
        [&](const Json& items) {
          for (const auto& item : items) {
            const VersionRecord found = decode_version(item, first.key());
            if (found.version < first.version) {
              previous_seen = true;
              holds = follows(first, found);
            } else if (next < indices.size()) {
              holds = found.version == records[indices[next++]].version;
            } else {
              holds = found.version == last.last_version() + 1 && found.prev_hash == last.hash;
              return false;
            }
            if (!holds) {
              return false;
            }
          }
          return true;
        },
        &page);
    // Every record seen (an erase may have removed them), and the newest
    // record below the first, when it is not at the version before.
    return holds && next == indices.size() && (previous_seen || follows_newest_below(first));
  }

  // A Query of the keys of a context's records from version `low` to
  // `high`, oldest first.
  Json range_query(const ContextKey& key, std::uint64_t low, std::uint64_t high) const {
    Json body = base_body();
    body["KeyConditionExpression"] = "#u = :u AND #k BETWEEN :low AND :high";
    body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#k", k_sk}};
    body["ExpressionAttributeValues"] = {{":u", s_value(key.user_id)},
                                         {":low", s_value(version_sort_key(key.ns, low))},
                                         {":high", s_value(version_sort_key(key.ns, high))}};
    body["ProjectionExpression"] = "#u, #k";
    body["ConsistentRead"] = true;
    return body;
  }

  // range_query() with what the chain checks read of each record.
  Json chain_query(const ContextKey& key, std::uint64_t low, std::uint64_t high) const {
    Json body = range_query(key, low, high);
    auto& names = body["ExpressionAttributeNames"];
    names["#h"] = "hash";
    names["#ph"] = "prev_hash";
    names["#pt"] = "pruned_through";
    names["#t"] = "updated_at";
    body["ProjectionExpression"] = "#u, #k, #h, #ph, #pt, #t";
    return body;
  }

  // Whether `record` follows the head this store last wrote of its context,
  // sealed with the same data key.
  bool follows_hint(const VersionRecord& record) const {
    const auto hint = m_hints.find(record.key());
    return hint && record.version == hint->version + 1 && record.prev_hash == hint->hash &&
           record.key_id == hint->key_id;
  }

  // A Scan of the whole table for the hook cursors, of one hook when
  // given (no index leads from a hook to its cursors' users); only their
  // keys when `keys_only`.
  Json cursor_scan(std::optional<std::string_view> hook, bool keys_only) const {
    Json body = base_body();
    body["ConsistentRead"] = true;
    body["FilterExpression"] = "begins_with(#u, :p)";
    body["ExpressionAttributeNames"] = {{"#u", k_pk}};
    body["ExpressionAttributeValues"] = {{":p", s_value(k_cursor_partition_prefix)}};
    if (hook) {
      body["FilterExpression"] = "begins_with(#u, :p) AND #h = :h";
      body["ExpressionAttributeNames"]["#h"] = "hook";
      body["ExpressionAttributeValues"][":h"] = s_value(*hook);
    }
    if (keys_only) {
      body["ProjectionExpression"] = "#u, #k";
      body["ExpressionAttributeNames"]["#k"] = k_sk;
    }
    return body;
  }

  // Deletes a user's hook cursors, of every hook: of one namespace, or of
  // all of them.
  void erase_hook_cursors(std::string_view user_id, std::optional<std::string_view> ns) {
    Json body = base_body();
    body["ConsistentRead"] = true;
    body["ProjectionExpression"] = "#u, #k";
    body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#k", k_sk}};
    body["ExpressionAttributeValues"] = {{":u", s_value(cursor_partition(user_id))}};
    body["KeyConditionExpression"] = "#u = :u";
    if (ns) {
      // '#' ends the namespace: "work#" is no prefix of "work2#…".
      body["KeyConditionExpression"] = "#u = :u AND begins_with(#k, :p)";
      body["ExpressionAttributeValues"][":p"] = s_value(std::string(*ns) + "#");
    }
    std::vector<Json> keys;
    for_each_page("Query", body, [&](const Json& items) {
      for (const auto& item : items) {
        keys.push_back(item_key(s_or_empty(item, k_pk), s_or_empty(item, k_sk)));
      }
      return true;
    });
    batch_delete(keys);
  }

  bool context_is_empty(const ContextKey& key) {
    Json body = context_query(key, false);
    body["Limit"] = 1;
    body["ProjectionExpression"] = "#u, #k";
    const Json answer = call("Query", body);
    return answer.value("Items", Json::array()).empty();
  }

  // Keeps `tail` as the audit floor before the record it names goes,
  // unless the floor names a later one already.
  void raise_audit_floor(const AuditTail& tail) {
    Json item = item_key(k_audit_partition, padded(0));
    item["floor_seq"] = n_value(tail.seq);
    put_s(item, "hash", tail.hash);
    Json body = base_body();
    body["Item"] = std::move(item);
    body["ConditionExpression"] = "attribute_not_exists(#u) OR #f < :f";
    body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#f", "floor_seq"}};
    body["ExpressionAttributeValues"] = {{":f", n_value(tail.seq)}};
    count_write(1);
    try {
      call("PutItem", body);
    } catch (const aws::ConditionalCheckFailed&) {
      // Another pruning raised it as far already.
    }
  }

  // The newest audit record's seq and hash; the floor's when retention
  // removed every record.
  AuditTail read_audit_tail() {
    Json body = base_body();
    body["KeyConditionExpression"] = "#u = :u";
    body["ExpressionAttributeNames"] = {{"#u", k_pk}, {"#k", k_sk}, {"#h", "hash"}, {"#f", "floor_seq"}};
    body["ExpressionAttributeValues"] = {{":u", s_value(k_audit_partition)}};
    body["ProjectionExpression"] = "#u, #k, #h, #f";
    body["ScanIndexForward"] = false;
    body["ConsistentRead"] = true;
    body["Limit"] = 1;
    const Json answer = call("Query", body);
    const auto& items = answer.value("Items", Json::array());
    if (items.empty()) {
      return {};
    }
    auto seq = parse_padded(s_or_empty(items.front(), k_sk));
    if (seq == 0U) {
      seq = n_attr<std::uint64_t>(items.front(), "floor_seq");
    }
    if (!seq) {
      throw damaged(items.front(), "not an audit sequence number");
    }
    return {*seq, s_or_empty(items.front(), "hash")};
  }

  VersionRecord decode_version(const Json& item, const ContextKey& key) const {
    VersionRecord record;
    record.user_id = s_or_empty(item, k_pk);
    const std::string sort = s_or_empty(item, k_sk);
    const auto hash = sort.rfind('#');
    const auto version = hash == std::string::npos ? std::nullopt : parse_padded(sort.substr(hash + 1));
    if (!version || *version == 0) {
      throw damaged(item, "not a version's key");
    }
    record.ns = sort.substr(0, hash);
    record.version = *version;
    if (record.user_id != key.user_id || record.ns != key.ns) {
      throw damaged(item, "it belongs to " + describe(record.key()) + ", not " + describe(key));
    }
    const auto updated_at = n_attr<std::int64_t>(item, "updated_at");
    if (!updated_at) {
      throw damaged(item, "no updated_at");
    }
    record.updated_at = from_micros(*updated_at);
    record.data = s_or_empty(item, "data");
    record.delta = s_or_empty(item, "delta");
    record.actor = s_or_empty(item, "actor");
    record.request_id = s_or_empty(item, "request_id");
    if (const auto tags = item.find("tags"); tags != item.end()) {
      const auto list = tags->find("L");
      if (list == tags->end() || !list->is_array()) {
        throw damaged(item, "tags is not a list");
      }
      for (const auto& tag : *list) {
        const auto s = tag.find("S");
        if (s == tag.end() || !s->is_string()) {
          throw damaged(item, "a tag is not a string");
        }
        record.tags.push_back(s->get<std::string>());
      }
    }
    if (item.contains("derived_from")) {
      const auto derived_from = n_attr<std::uint64_t>(item, "derived_from");
      if (!derived_from) {
        throw damaged(item, "derived_from is not a version");
      }
      record.derived_from = *derived_from;
    }
    if (item.contains("rollback_of")) {
      record.rollback_of = n_attr<std::uint64_t>(item, "rollback_of");
      if (!record.rollback_of) {
        throw damaged(item, "rollback_of is not a version");
      }
    }
    record.idempotency_key = s_or_empty(item, "idempotency_key");
    record.prev_hash = s_or_empty(item, "prev_hash");
    record.hash = s_or_empty(item, "hash");
    record.salt = s_or_empty(item, "salt");
    record.key_id = s_or_empty(item, "key_id");
    if (item.contains("pruned_through")) {
      record.pruned_through = n_attr<std::uint64_t>(item, "pruned_through");
      if (!record.pruned_through || *record.pruned_through < record.version) {
        throw damaged(item, "pruned_through is not a version from its own on");
      }
    }
    return record;
  }

  AuditRecord decode_audit(const Json& item) const {
    AuditRecord record;
    const auto seq = parse_padded(s_or_empty(item, k_sk));
    const auto time = n_attr<std::int64_t>(item, "time");
    if (!seq || !time) {
      throw damaged(item, "not an audit record");
    }
    record.seq = *seq;
    record.time = from_micros(*time);
    record.request_id = s_or_empty(item, "request_id");
    record.actor = s_or_empty(item, "actor");
    record.operation = s_or_empty(item, "operation");
    record.user_id = s_or_empty(item, "audit_user");
    record.ns = s_or_empty(item, "ns");
    record.version = s_or_empty(item, "audit_version");
    record.outcome = s_or_empty(item, "outcome");
    record.detail = s_or_empty(item, "detail");
    record.prev_hash = s_or_empty(item, "prev_hash");
    record.hash = s_or_empty(item, "hash");
    return record;
  }

  DataKeyRecord decode_data_key(const Json& item) const {
    DataKeyRecord key;
    key.user_id = s_or_empty(item, k_pk);
    const std::string sort = s_or_empty(item, k_sk);
    const std::uint64_t generation =
        sort.starts_with(k_key_prefix) ? parse_padded(sort.substr(k_key_prefix.size())).value_or(0) : 0;
    const auto created_at = n_attr<std::int64_t>(item, "created_at");
    if (!is_valid_generation(generation) || !created_at) {
      throw damaged(item, "not a data key");
    }
    key.generation = generation;
    key.master_key_id = s_or_empty(item, "master_key_id");
    key.wrapped = s_or_empty(item, "wrapped");
    key.created_at = from_micros(*created_at);
    return key;
  }

  HookCursor decode_hook_cursor(const Json& item) const {
    HookCursor cursor;
    const std::string partition = s_or_empty(item, k_pk);
    const std::string sort = s_or_empty(item, k_sk);
    const auto hash = sort.find('#');
    const auto revision = n_attr<std::uint64_t>(item, "revision");
    if (!partition.starts_with(k_cursor_partition_prefix) || hash == std::string::npos || !revision || *revision == 0) {
      throw damaged(item, "not a hook cursor");
    }
    cursor.hook = sort.substr(hash + 1);
    cursor.context = ContextKey{partition.substr(k_cursor_partition_prefix.size()), sort.substr(0, hash)};
    if (s_or_empty(item, "hook") != cursor.hook) {
      throw damaged(item, "its hook attribute does not match its key");
    }
    cursor.revision = *revision;
    cursor.state = s_or_empty(item, "state");
    return cursor;
  }

  // The table's description; nullopt when it does not exist.
  std::optional<Json> describe_table() {
    try {
      return raw_call("DescribeTable", base_body()).value("Table", Json::object());
    } catch (const aws::DynamoError& e) {
      if (e.aws_type() == "ResourceNotFoundException") {
        return std::nullopt;
      }
      throw;
    }
  }

  // call() without its translation of a missing table.
  Json raw_call(std::string_view operation, const Json& body) {
    Json parsed = Json::parse(m_client.call(operation, body.dump()), nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      throw Error(ErrorCode::unavailable, "DynamoDB's answer to " + std::string(operation) + " on table '" + m_table +
                                              "' is not a JSON object");
    }
    return parsed;
  }

  // Checks the table, or creates it (config.create) and waits until it is
  // ACTIVE; one DescribeTable when it is there.
  void open_table(bool create) {
    auto table = describe_table();
    if (!table) {
      if (!create) {
        throw missing_table();
      }
      Json body = base_body();
      body["AttributeDefinitions"] = {{{"AttributeName", k_pk}, {"AttributeType", "S"}},
                                      {{"AttributeName", k_sk}, {"AttributeType", "S"}}};
      body["KeySchema"] = {{{"AttributeName", k_pk}, {"KeyType", "HASH"}},
                           {{"AttributeName", k_sk}, {"KeyType", "RANGE"}}};
      body["BillingMode"] = "PAY_PER_REQUEST";
      try {
        table = raw_call("CreateTable", body).value("TableDescription", Json::object());
      } catch (const aws::DynamoError& e) {
        // Another process created it first.
        if (e.aws_type() != "ResourceInUseException") {
          throw;
        }
        table = describe_table();
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + k_table_wait;
    while (table && table->value("TableStatus", "") != "ACTIVE" && table->value("TableStatus", "") != "UPDATING") {
      if (table->value("TableStatus", "") != "CREATING" || std::chrono::steady_clock::now() > deadline) {
        throw Error(ErrorCode::unavailable, "DynamoDB table '" + m_table + "' is " +
                                                table->value("TableStatus", std::string("in no known state")) +
                                                ", not ACTIVE");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      table = describe_table();
    }
    if (!table) {
      throw missing_table();
    }
    check_key_schema(*table);
  }

  void check_key_schema(const Json& table) const {
    std::map<std::string, std::string> key_types;
    std::map<std::string, std::string> attribute_types;
    for (const auto& key : table.value("KeySchema", Json::array())) {
      key_types[key.value("AttributeName", "")] = key.value("KeyType", "");
    }
    for (const auto& attribute : table.value("AttributeDefinitions", Json::array())) {
      attribute_types[attribute.value("AttributeName", "")] = attribute.value("AttributeType", "");
    }
    const std::map<std::string, std::string> expected_keys{{std::string(k_pk), "HASH"}, {std::string(k_sk), "RANGE"}};
    if (key_types != expected_keys || attribute_types[std::string(k_pk)] != "S" ||
        attribute_types[std::string(k_sk)] != "S") {
      throw Error(ErrorCode::unavailable,
                  "DynamoDB table '" + m_table +
                      "' is not a zsimem table: it needs the partition key user_id (S) and "
                      "the sort key version (S)",
                  "DYNAMO_TABLE");
    }
  }

  aws::DynamoClient m_client;
  std::string m_table;
  std::atomic<std::uint64_t> m_transactions{0};
  std::atomic<std::uint64_t> m_writes{0};
  HeadHints m_hints;
  std::mutex m_audit_mutex;
  std::optional<AuditTail> m_audit_tail; // this store's last append, else read before the next one
};

} // namespace

std::unique_ptr<MemoryStore> make_dynamo_store(const StoreConfig& config) {
  std::string table = config.store_name;
  if (table.empty()) {
    if (const char* env = std::getenv("DYNAMO_TABLE")) {
      table = env;
    }
  }
  if (table.empty()) {
    throw Error(ErrorCode::invalid, "no DynamoDB table: set DYNAMO_TABLE", "DYNAMO_TABLE");
  }
  const bool valid = table.size() >= 3 && table.size() <= 255 && std::all_of(table.begin(), table.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                              c == '-' || c == '.';
                     });
  if (!valid) {
    throw Error(ErrorCode::invalid,
                "DynamoDB table name '" + table + "' is not valid: 3 to 255 letters, digits, '_', '-' or '.'",
                "DYNAMO_TABLE");
  }
  return std::make_unique<DynamoStore>(aws::dynamo_settings_from_env(), std::move(table), config.create);
}

} // namespace zsimem::store
