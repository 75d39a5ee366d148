#pragma once

#include "support/temp_dir.hpp"

#include <zsimem/store.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace zsimem::testing {

// A fresh store of `backend` for one test: files under `dir`/store, or on
// the test run's server (tests/services/run) a PostgreSQL schema, a
// DynamoDB table or a Firestore project named after `dir` (so that opening
// it again finds it), created when missing.
StoreConfig test_store_config(std::string_view backend, const TempDir& dir, bool long_lived = false);

// The global options that make a zsimem process use the same store:
// --backend, --data-dir, and the store name in the environment changes
// (NAME=VALUE, as run_process takes them) appended to `env`.
std::vector<std::string> test_store_args(const StoreConfig& config, std::vector<std::string>& env);

} // namespace zsimem::testing
