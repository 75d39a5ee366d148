#pragma once

// Factories of the backends compiled in; each backend's class stays hidden
// in its own .cpp. The registry (registry.cpp) maps names to these.

#include <zsimem/error.hpp>
#include <zsimem/store.hpp>
#include <zsimem/validate.hpp>

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace zsimem::store {

// Plain JSON files under `data_dir`, one folder per context, one file per version.
std::unique_ptr<MemoryStore> make_json_store(const StoreConfig& config);

// Data key generations every backend can keep: 1 up to SQLite's largest
// integer.
inline bool is_valid_generation(std::uint64_t generation) {
  return generation >= 1 && generation <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
}

// Whether both names of `key` follow the naming scheme (validate.hpp), as
// every stored context's do: anything else could escape a path or collide
// with another key.
inline bool is_valid_key(const ContextKey& key) { return is_valid_name(key.user_id) && is_valid_name(key.ns); }

// Throws Error{invalid} unless `key` can be stored: a user id of the naming
// scheme and a generation every backend can keep.
inline void check_data_key(const DataKeyRecord& key) {
  if (!is_valid_name(key.user_id)) {
    throw Error(ErrorCode::invalid, "cannot store a data key of user '" + key.user_id + "': unsafe name", "user_id");
  }
  if (!is_valid_generation(key.generation)) {
    throw Error(ErrorCode::invalid, "data key generation " + std::to_string(key.generation) + " out of range",
                "generation");
  }
}

// Throws Error{invalid} unless `cursor` can be stored: a hook name and a
// context of the naming scheme (keys and file names are made of them, and
// hold no '/' or '#'), a revision from 1 up to SQLite's largest integer.
inline void check_hook_cursor(const HookCursor& cursor) {
  if (!is_valid_name(cursor.hook) || !is_valid_key(cursor.context)) {
    throw Error(ErrorCode::invalid,
                "cannot store the cursor of hook '" + cursor.hook + "' for user '" + cursor.context.user_id +
                    "' namespace '" + cursor.context.ns + "': unsafe name",
                "hook");
  }
  if (cursor.revision == 0 || cursor.revision > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorCode::invalid, "hook cursor revision " + std::to_string(cursor.revision) + " out of range",
                "revision");
  }
}

// The data key generation a sealed version's key_id names, in canonical
// decimal (no sign, no leading zeros). Anything else names no key, so an
// append of it fails like one naming an erased key.
inline std::optional<std::uint64_t> key_generation(std::string_view key_id) {
  std::uint64_t generation = 0;
  const auto [end, error] = std::from_chars(key_id.data(), key_id.data() + key_id.size(), generation);
  if (error != std::errc{} || end != key_id.data() + key_id.size() || !is_valid_generation(generation) ||
      std::to_string(generation) != key_id) {
    return std::nullopt;
  }
  return generation;
}

// One SQLite database file `data_dir`/zsimem.sqlite3 in WAL mode.
std::unique_ptr<MemoryStore> make_sqlite_store(const StoreConfig& config);

// Tables in the schema `store_name` (default "zsimem") of the PostgreSQL
// database DATABASE_URL names; created and migrated on open.
std::unique_ptr<MemoryStore> make_postgres_store(const StoreConfig& config);

// The DynamoDB table `store_name` (default DYNAMO_TABLE), at the endpoint
// and with the credentials of the AWS environment; created when
// `config.create` is set.
std::unique_ptr<MemoryStore> make_dynamo_store(const StoreConfig& config);

// The Firestore project `store_name` (default FIRESTORE_PROJECT), its
// (default) database, on the emulator FIRESTORE_EMULATOR_HOST names or on
// Google's service with the key file GOOGLE_APPLICATION_CREDENTIALS names.
std::unique_ptr<MemoryStore> make_firestore_store(const StoreConfig& config);

// The project id a store name stands for: '_' (which project ids lack, and
// other backends' store names use) becomes '-'.
std::string firestore_project_id(std::string_view store_name);

} // namespace zsimem::store
