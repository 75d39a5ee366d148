#include "support/test_store.hpp"

namespace zsimem::testing {

StoreConfig test_store_config(std::string_view backend, const TempDir& dir, bool long_lived) {
  static constexpr char k_hex[] = "0123456789abcdef";
  StoreConfig config;
  config.backend = backend;
  // A subfolder that does not exist yet: opening must create it.
  config.data_dir = dir.path() / "store";
  // "t_" and the hex of the directory's name: a valid schema and table name.
  config.store_name = "t_";
  for (const char c : dir.path().filename().string()) {
    config.store_name += k_hex[static_cast<unsigned char>(c) >> 4U];
    config.store_name += k_hex[static_cast<unsigned char>(c) & 0xfU];
  }
  config.create = true;
  config.long_lived = long_lived;
  return config;
}

std::vector<std::string> test_store_args(const StoreConfig& config, std::vector<std::string>& env) {
  env.push_back("DYNAMO_TABLE=" + config.store_name);
  env.push_back("ZSIMEM_PG_SCHEMA=" + config.store_name);
  env.push_back("FIRESTORE_PROJECT=" + config.store_name);
  return {"--backend", config.backend, "--data-dir", config.data_dir.string()};
}

} // namespace zsimem::testing
