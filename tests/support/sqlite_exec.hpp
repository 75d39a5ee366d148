#pragma once

#include <string>

struct sqlite3;

namespace zsimem::testing {

// Runs `sql` on an open connection, as an operator's sqlite3 would: the
// first column of its last row ("" when none); std::runtime_error naming
// the SQL and SQLite's message when it fails.
std::string sqlite_exec(sqlite3* db, const std::string& sql);

} // namespace zsimem::testing
