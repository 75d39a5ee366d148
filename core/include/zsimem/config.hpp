#pragma once

#include <zsimem/memory_service.hpp>
#include <zsimem/store.hpp>

#include <filesystem>

// Configuration from the environment, shared by the CLI and the daemon;
// their flags override it.
namespace zsimem {

// MEMORY_BACKEND (default json) and ZSIMEM_DATA_DIR (default
// $XDG_DATA_HOME/zsimem, else ~/.local/share/zsimem).
StoreConfig store_config_from_env();

// ZSIMEM_MAX_DELTA_BYTES; Error{invalid} when set to something unusable.
ServiceOptions service_options_from_env();

// The data directory used when ZSIMEM_DATA_DIR is not set.
std::filesystem::path default_data_dir();

} // namespace zsimem
