#pragma once

#include <zsimem/memory_service.hpp>
#include <zsimem/store.hpp>

#include <filesystem>
#include <string>
#include <string_view>

// Configuration from the environment, shared by the CLI and the daemon;
// their flags override it.
namespace zsimem {

// MEMORY_BACKEND (default json), ZSIMEM_DATA_DIR (default
// $XDG_DATA_HOME/zsimem, else ~/.local/share/zsimem) and the backend's
// store name (store_name_from_env).
StoreConfig store_config_from_env();

// The store name a backend takes from the environment: DYNAMO_TABLE for
// dynamo and FIRESTORE_PROJECT for firestore (empty when unset),
// ZSIMEM_PG_SCHEMA for postgres and its alias supabase (default "zsimem");
// empty for a backend that keeps files.
std::string store_name_from_env(std::string_view backend);

// ZSIMEM_MAX_DELTA_BYTES and ZSIMEM_FEATURES; Error{invalid} when set to
// something unusable.
ServiceOptions service_options_from_env();

// The data directory used when ZSIMEM_DATA_DIR is not set.
std::filesystem::path default_data_dir();

} // namespace zsimem
