#include "support/sqlite_exec.hpp"

#include <sqlite3.h>

#include <stdexcept>

namespace zsimem::testing {

std::string sqlite_exec(sqlite3* db, const std::string& sql) {
  std::string result;
  char* message = nullptr;
  const int rc = sqlite3_exec(
      db, sql.c_str(),
      [](void* out, int columns, char** values, char**) {
        if (columns > 0 && values[0] != nullptr) {
          *static_cast<std::string*>(out) = values[0];
        }
        return 0;
      },
      &result, &message);
  const std::string error = message != nullptr ? message : "";
  sqlite3_free(message);
  if (rc != SQLITE_OK) {
    throw std::runtime_error(sql + ": " + error);
  }
  return result;
}

} // namespace zsimem::testing
