#pragma once

// Factories of the backends compiled in; each backend's class stays hidden
// in its own .cpp. The registry (registry.cpp) maps names to these.

#include <zsimem/store.hpp>

#include <filesystem>
#include <memory>

namespace zsimem::store {

// Plain JSON files under `data_dir`, one folder per context, one file per version.
std::unique_ptr<MemoryStore> make_json_store(const StoreConfig& config);

// One SQLite database file `data_dir`/zsimem.sqlite3 in WAL mode.
std::unique_ptr<MemoryStore> make_sqlite_store(const StoreConfig& config);

} // namespace zsimem::store
