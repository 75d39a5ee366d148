#include "store/backends.hpp"

#include <zsimem/error.hpp>

#include <array>
#include <functional>
#include <string>

namespace zsimem {
namespace {

struct Backend {
  std::string_view name;
  std::unique_ptr<MemoryStore> (*make)(const StoreConfig&);
};

constexpr std::array k_backends{
    Backend{"json", &store::make_json_store},
    Backend{"sqlite", &store::make_sqlite_store},
};

} // namespace

std::vector<std::string_view> backend_names() {
  std::vector<std::string_view> names;
  for (const auto& backend : k_backends) {
    names.push_back(backend.name);
  }
  return names;
}

std::unique_ptr<MemoryStore> open_store(const StoreConfig& config) {
  for (const auto& backend : k_backends) {
    if (backend.name == config.backend) {
      if (config.data_dir.empty()) {
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
  throw Error(ErrorCode::invalid, "unknown backend '" + config.backend + "' (known backends: " + known + ")",
              "backend");
}

} // namespace zsimem
