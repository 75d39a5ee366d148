#include <zsimem/config.hpp>
#include <zsimem/error.hpp>

#include <charconv>
#include <cstdlib>
#include <string>

namespace zsimem {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string{};
}

} // namespace

std::filesystem::path default_data_dir() {
  if (const auto xdg = env("XDG_DATA_HOME"); !xdg.empty()) {
    return std::filesystem::path(xdg) / "zsimem";
  }
  if (const auto home = env("HOME"); !home.empty()) {
    return std::filesystem::path(home) / ".local" / "share" / "zsimem";
  }
  return "zsimem-data";
}

StoreConfig store_config_from_env() {
  StoreConfig config;
  if (const auto backend = env("MEMORY_BACKEND"); !backend.empty()) {
    config.backend = backend;
  }
  const auto dir = env("ZSIMEM_DATA_DIR");
  config.data_dir = dir.empty() ? default_data_dir() : std::filesystem::path(dir);
  config.store_name = store_name_from_env(config.backend);
  return config;
}

std::string store_name_from_env(std::string_view backend) {
  if (backend == "dynamo") {
    return env("DYNAMO_TABLE");
  }
  if (backend == "firestore") {
    return env("FIRESTORE_PROJECT");
  }
  if (backend == "postgres" || backend == "supabase") {
    const auto schema = env("ZSIMEM_PG_SCHEMA");
    return schema.empty() ? "zsimem" : schema;
  }
  return {};
}

ServiceOptions service_options_from_env() {
  ServiceOptions options;
  if (const auto text = env("ZSIMEM_MAX_DELTA_BYTES"); !text.empty()) {
    std::size_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || value == 0) {
      throw Error(ErrorCode::invalid, "ZSIMEM_MAX_DELTA_BYTES: '" + text + "' is not a positive number of bytes",
                  "ZSIMEM_MAX_DELTA_BYTES");
    }
    options.max_delta_bytes = value;
  }
  apply_feature_settings(options.features, env("ZSIMEM_FEATURES"), "ZSIMEM_FEATURES");
  return options;
}

} // namespace zsimem
