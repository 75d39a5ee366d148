#include "store/backends.hpp"

#include <zsimem/error.hpp>

#include <array>
#include <functional>
#include <string>
#include <utility>

namespace zsimem {
namespace {

struct Backend {
  std::string_view name;
  std::unique_ptr<MemoryStore> (*make)(const StoreConfig&);
  bool keeps_files; // in StoreConfig::data_dir, rather than on a server
};

constexpr std::array k_backends{
    Backend{"json", &store::make_json_store, true},
    Backend{"sqlite", &store::make_sqlite_store, true},
    Backend{"postgres", &store::make_postgres_store, false},
    Backend{"dynamo", &store::make_dynamo_store, false},
    Backend{"firestore", &store::make_firestore_store, false},
};

// Other names of a backend: Supabase is a hosted PostgreSQL.
constexpr std::array<std::pair<std::string_view, std::string_view>, 1> k_aliases{{{"supabase", "postgres"}}};

} // namespace

std::vector<std::string_view> backend_names() {
  std::vector<std::string_view> names;
  for (const auto& backend : k_backends) {
    names.push_back(backend.name);
  }
  return names;
}

std::vector<std::string_view> file_backend_names() {
  std::vector<std::string_view> names;
  for (const auto& backend : k_backends) {
    if (backend.keeps_files) {
      names.push_back(backend.name);
    }
  }
  return names;
}

std::unique_ptr<MemoryStore> open_store(const StoreConfig& config) {
  std::string_view name = config.backend;
  for (const auto& [alias, backend] : k_aliases) {
    name = name == alias ? backend : name;
  }
  for (const auto& backend : k_backends) {
    if (backend.name == name) {
      if (backend.keeps_files && config.data_dir.empty()) {
        throw Error(ErrorCode::invalid, "no data directory given (set ZSIMEM_DATA_DIR or --data-dir)", "data_dir");
      }
      return backend.make(config);
    }
  }
  std::string known;
  for (const auto& backend : k_backends) {
    known += known.empty() ? "" : ", ";
    known += backend.name;
  }
  for (const auto& [alias, backend] : k_aliases) {
    known += ", " + std::string(alias) + " (" + std::string(backend) + ")";
  }
  throw Error(ErrorCode::invalid, "unknown backend '" + config.backend + "' (known backends: " + known + ")",
              "backend");
}

} // namespace zsimem
