#include "store/sealed_store.hpp"

#include "crypto.hpp"
#include "store/backends.hpp"

#include <zsimem/error.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

namespace zsimem::store {
namespace {

using Clock = std::chrono::steady_clock;

// How long a process trusts the data keys it loaded: after that it reads
// them again, and so sees generations other processes added or keys they
// destroyed.
constexpr Clock::duration k_key_cache_ttl = std::chrono::seconds(60);
constexpr std::size_t k_max_cached_users = 100'000;

std::string describe(const VersionRecord& record) {
  return "version " + std::to_string(record.version) + " of user '" + record.user_id + "' namespace '" + record.ns +
         "'";
}

// What a wrapped data key is bound to: moved to another user or generation,
// it no longer unwraps.
std::string data_key_aad(std::string_view user_id, std::uint64_t generation) {
  return "zsimem-data-key-1\n" + std::string(user_id) + "\n" + std::to_string(generation);
}

// What a sealed version is bound to: its place, its key and its hash (which
// covers everything else about it), so that a box moved to another version
// or context, or a record whose metadata was changed, fails to open.
std::string version_aad(const VersionRecord& stored) {
  return "zsimem-version-1\n" + stored.user_id + "\n" + stored.ns + "\n" + std::to_string(stored.version) + "\n" +
         stored.key_id + "\n" + stored.hash;
}

void append_sized(std::string& out, std::string_view field) {
  const auto size = static_cast<std::uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    out += static_cast<char>((size >> shift) & 0xffU);
  }
  out += field;
}

std::optional<std::string_view> take_sized(std::string_view& in) {
  if (in.size() < 4) {
    return std::nullopt;
  }
  std::uint32_t size = 0;
  for (int i = 0; i < 4; ++i) {
    size = (size << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  }
  in.remove_prefix(4);
  if (in.size() < size) {
    return std::nullopt;
  }
  const auto field = in.substr(0, size);
  in.remove_prefix(size);
  return field;
}

// The secret part of a version: data and delta, sized, then the salt.
std::string secret_payload(const VersionRecord& record) {
  std::string out;
  out.reserve(record.data.size() + record.delta.size() + record.salt.size() + 8);
  append_sized(out, record.data);
  append_sized(out, record.delta);
  out += record.salt;
  return out;
}

// Opens `record`, as stored, with `key` in place; false, leaving it as it
// was, when the key does not open it (or what it holds is malformed).
bool open_sealed(VersionRecord& record, const crypto::Key& key) {
  const auto box = crypto::base64_decode(record.data);
  const auto payload = box ? crypto::open(key, *box, version_aad(record)) : std::nullopt;
  if (!payload) {
    return false;
  }
  std::string_view rest = *payload;
  const auto data = take_sized(rest);
  const auto delta = data ? take_sized(rest) : std::nullopt;
  if (!delta) {
    return false;
  }
  record.data = *data;
  record.delta = *delta;
  record.salt = rest;
  record.key_id.clear();
  return true;
}

crypto::Key unwrap(const DataKeyRecord& record, const MasterKeyRing& keys) {
  const std::string what =
      "the data key of user '" + record.user_id + "' (generation " + std::to_string(record.generation) + ")";
  const MasterKey* master = keys.find(record.master_key_id);
  if (master == nullptr) {
    throw Error(ErrorCode::unavailable, what + " is wrapped by master key " + record.master_key_id +
                                            ", which is not among the configured master keys");
  }
  const auto box = crypto::base64_decode(record.wrapped);
  auto raw = box ? crypto::open(crypto::Key(master->bytes), *box, data_key_aad(record.user_id, record.generation))
                 : std::nullopt;
  if (!raw || raw->size() != crypto::k_key_bytes) {
    throw Error(ErrorCode::unavailable,
                what + " does not unwrap with master key " + master->id + ": it was altered or moved");
  }
  const crypto::Key key(std::span<const unsigned char, crypto::k_key_bytes>(
      reinterpret_cast<const unsigned char*>(raw->data()), crypto::k_key_bytes));
  std::fill(raw->begin(), raw->end(), '\0');
  return key;
}

std::string wrap(const crypto::Key& key, std::string_view user_id, std::uint64_t generation, const MasterKey& master) {
  const std::string_view raw(reinterpret_cast<const char*>(key.data()), crypto::k_key_bytes);
  return crypto::base64_encode(crypto::seal(crypto::Key(master.bytes), raw, data_key_aad(user_id, generation)));
}

DataKeyRecord new_data_key(std::string_view user_id, std::uint64_t generation, const MasterKey& master) {
  return DataKeyRecord{std::string(user_id), generation, master.id,
                       wrap(crypto::Key::random(), user_id, generation, master), now()};
}

// One user's data keys, unwrapped, by generation.
struct UserKeys {
  std::map<std::uint64_t, crypto::Key> keys;
  Clock::time_point loaded;
};

class SealedStore final : public MemoryStore {
public:
  SealedStore(std::unique_ptr<MemoryStore> inner, std::shared_ptr<const MasterKeyRing> master_keys)
      : m_inner(std::move(inner)), m_master_keys(std::move(master_keys)) {}

  std::string_view backend_name() const override { return m_inner->backend_name(); }
  bool listen_for_commits(CommitListener listener) override { return m_inner->listen_for_commits(std::move(listener)); }
  bool supports_atomic_batches() const override { return m_inner->supports_atomic_batches(); }
  WriteStats write_stats() const override { return m_inner->write_stats(); }

  std::optional<VersionRecord> head(const ContextKey& key) override { return opened(m_inner->head(key)); }
  std::optional<VersionRecord> head_hint(const ContextKey& key) override { return opened(m_inner->head_hint(key)); }
  std::optional<VersionRecord> version(const ContextKey& key, std::uint64_t number) override {
    return opened(m_inner->version(key, number));
  }
  std::optional<VersionRecord> version_at(const ContextKey& key, Timestamp at) override {
    return opened(m_inner->version_at(key, at));
  }
  std::vector<VersionRecord> history(const ContextKey& key, const HistoryQuery& query) override {
    auto records = m_inner->history(key, query);
    for (auto& record : records) {
      record = opened(std::move(record));
    }
    return records;
  }
  std::optional<VersionRecord> find_idempotency_key(const ContextKey& key, std::string_view idempotency_key) override {
    return opened(m_inner->find_idempotency_key(key, idempotency_key));
  }

  bool append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) override {
    if (!m_master_keys) {
      return m_inner->append(records, audit);
    }
    std::vector<VersionRecord> sealed_records;
    sealed_records.reserve(records.size());
    for (const auto& record : records) {
      sealed_records.push_back(sealed(record));
    }
    if (m_inner->append(sealed_records, audit)) {
      return true;
    }
    // Perhaps because a key was destroyed by an erasure elsewhere: the retry
    // must not seal with it again.
    for (const auto& record : records) {
      forget(record.user_id);
    }
    return false;
  }

  std::size_t erase(std::string_view user_id, std::optional<std::string_view> ns) override {
    const std::size_t removed = m_inner->erase(user_id, ns);
    if (!ns) {
      forget(user_id);
    }
    return removed;
  }

  std::size_t prune(const VersionRecord& gap) override { return m_inner->prune(gap); }
  std::size_t prune_audit(std::uint64_t through_seq) override { return m_inner->prune_audit(through_seq); }

  std::vector<DataKeyRecord> data_keys(std::optional<std::string_view> user_id) override {
    return m_inner->data_keys(user_id);
  }
  bool add_data_key(const DataKeyRecord& key) override { return m_inner->add_data_key(key); }
  bool rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) override {
    return m_inner->rewrap_data_key(key, expected_wrapped);
  }

  // Cursors hold no data (docs/hooks.md): they are stored as they are.
  std::optional<HookCursor> hook_cursor(std::string_view hook, const ContextKey& context) override {
    return m_inner->hook_cursor(hook, context);
  }
  bool put_hook_cursor(const HookCursor& cursor) override { return m_inner->put_hook_cursor(cursor); }
  std::vector<HookCursor> hook_cursors(std::optional<std::string_view> hook) override {
    return m_inner->hook_cursors(hook);
  }
  std::size_t remove_hook_cursors(std::string_view hook) override { return m_inner->remove_hook_cursors(hook); }

  std::vector<ContextKey> contexts(std::optional<std::string_view> user_id) override {
    return m_inner->contexts(user_id);
  }
  void append_audit(std::span<const AuditRecord> records, bool durable) override {
    m_inner->append_audit(records, durable);
  }
  std::vector<AuditRecord> audit_log(const AuditQuery& query) override { return m_inner->audit_log(query); }

private:
  std::optional<VersionRecord> opened(std::optional<VersionRecord> record) {
    if (record) {
      return opened(std::move(*record));
    }
    return record;
  }

  VersionRecord opened(VersionRecord record) {
    if (record.key_id.empty()) {
      return record;
    }
    if (!m_master_keys) {
      throw Error(ErrorCode::unavailable, describe(record) +
                                              " is encrypted at rest: configure its master key (ZSIMEM_MASTER_KEY "
                                              "or ZSIMEM_MASTER_KEY_FILE) to read it");
    }
    const auto generation = key_generation(record.key_id);
    if (!generation) {
      throw Error(ErrorCode::unavailable, describe(record) + " is damaged: its key id is malformed");
    }
    if (!open_sealed(record, data_key(record, *generation))) {
      throw Error(ErrorCode::unavailable, describe(record) +
                                              " fails authentication: it was altered, moved, or sealed with "
                                              "another key");
    }
    return record;
  }

  VersionRecord sealed(const VersionRecord& record) {
    if (!record.key_id.empty() || record.is_gap()) {
      return record; // sealed already, or holding nothing to seal
    }
    const auto [generation, key] = current_data_key(record.user_id);
    VersionRecord stored = record;
    stored.key_id = std::to_string(generation);
    stored.data = crypto::base64_encode(crypto::seal(key, secret_payload(record), version_aad(stored)));
    stored.delta.clear();
    stored.salt.clear();
    return stored;
  }

  // The key of `generation` that sealed `record`; a generation this process
  // has not seen may be another process's rotation, so the keys are read
  // again once first.
  crypto::Key data_key(const VersionRecord& record, std::uint64_t generation) {
    for (const bool reload : {false, true}) {
      const auto keys = user_keys(record.user_id, reload);
      if (const auto it = keys->keys.find(generation); it != keys->keys.end()) {
        return it->second;
      }
    }
    throw Error(ErrorCode::unavailable, describe(record) + " was sealed with data key generation " +
                                            std::to_string(generation) +
                                            ", which no longer exists: the user was erased, and it cannot be "
                                            "decrypted");
  }

  // The newest generation of the user's data keys, created on the user's first write.
  std::pair<std::uint64_t, crypto::Key> current_data_key(const std::string& user_id) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      const auto keys = user_keys(user_id, attempt > 0);
      if (!keys->keys.empty()) {
        return *keys->keys.rbegin();
      }
      // Whoever adds generation 1 first wins; everyone then uses that one.
      m_inner->add_data_key(new_data_key(user_id, 1, m_master_keys->current()));
    }
    throw Error(ErrorCode::unavailable, "cannot create a data key for user '" + user_id +
                                            "': it keeps disappearing (is the user being erased meanwhile?)");
  }

  std::shared_ptr<const UserKeys> user_keys(const std::string& user_id, bool reload) {
    const auto now = Clock::now();
    if (!reload) {
      const std::lock_guard lock(m_cache_mutex);
      if (const auto it = m_cache.find(user_id); it != m_cache.end() && now - it->second->loaded < k_key_cache_ttl) {
        return it->second;
      }
    }
    auto keys = std::make_shared<UserKeys>();
    keys->loaded = now;
    for (const auto& record : m_inner->data_keys(user_id)) {
      keys->keys.emplace(record.generation, unwrap(record, *m_master_keys));
    }
    const std::lock_guard lock(m_cache_mutex);
    if (m_cache.size() >= k_max_cached_users) {
      m_cache.clear(); // a crude bound: the cache refills with what is used
    }
    m_cache.insert_or_assign(user_id, keys);
    return keys;
  }

  void forget(std::string_view user_id) {
    const std::lock_guard lock(m_cache_mutex);
    m_cache.erase(std::string(user_id));
  }

  std::unique_ptr<MemoryStore> m_inner;
  std::shared_ptr<const MasterKeyRing> m_master_keys;
  std::mutex m_cache_mutex;
  std::unordered_map<std::string, std::shared_ptr<const UserKeys>> m_cache;
};

} // namespace

std::unique_ptr<MemoryStore> seal_store(std::unique_ptr<MemoryStore> inner,
                                        std::shared_ptr<const MasterKeyRing> master_keys) {
  return std::make_unique<SealedStore>(std::move(inner), std::move(master_keys));
}

std::optional<VersionRecord> open_with(const VersionRecord& stored, const DataKeyRecord& key,
                                       const MasterKeyRing& keys) {
  VersionRecord record = stored;
  if (!open_sealed(record, unwrap(key, keys))) {
    return std::nullopt;
  }
  return record;
}

RekeyReport rekey(MemoryStore& store, const MasterKeyRing& keys, bool rotate_data_keys) {
  const MasterKey& current = keys.current();
  RekeyReport report;
  report.master_key_id = current.id;
  std::map<std::string, std::uint64_t> newest;
  for (const auto& record : store.data_keys(std::nullopt)) {
    ++report.data_keys;
    auto& generation = newest[record.user_id];
    generation = std::max(generation, record.generation);
    if (record.master_key_id == current.id) {
      continue;
    }
    DataKeyRecord rewrapped = record;
    rewrapped.master_key_id = current.id;
    rewrapped.wrapped = wrap(unwrap(record, keys), record.user_id, record.generation, current);
    // False: erased meanwhile, or rewrapped by a rekey running beside this one.
    if (store.rewrap_data_key(rewrapped, record.wrapped)) {
      ++report.rewrapped;
    }
  }
  if (rotate_data_keys) {
    for (const auto& [user_id, generation] : newest) {
      if (store.add_data_key(new_data_key(user_id, generation + 1, current))) {
        ++report.rotated;
      }
    }
  }
  return report;
}

} // namespace zsimem::store
