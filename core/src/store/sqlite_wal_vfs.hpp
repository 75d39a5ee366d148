#pragma once

// A SQLite VFS over the default one that writes each commit's WAL frames in
// one piece.
//
// SQLite writes a WAL frame as two pwrite()s, its 24-byte header and its
// page: a group commit of 35 frames makes 70 system calls, which on these
// machines take longer than the fsync after them. Through this VFS, a WAL
// file keeps consecutive writes in memory and passes them on (in writes of
// at most 124 KiB) before anything can depend on them: when SQLite syncs,
// reads, sizes, truncates or closes the file, when it publishes a commit in
// the WAL index (xShmBarrier on the database file), and every 1 MiB.
//
// Only while the connection's `PRAGMA synchronous` is FULL or EXTRA (as
// SQLite prepares the pragma, it shows it to the VFS): then each commit
// syncs its frames before it publishes them, so that a failed write fails
// the commit, exactly as without this VFS. Under NORMAL or OFF (and before
// the pragma is set), writes pass straight through. A commit that publishes
// frames without syncing them (the pragma seen, then refused inside a
// transaction) turns gathering off for its connection.
//
// The files stay SQLite's own format; any SQLite reads them.

#include <cstdint>

namespace zsimem::store::sqlite_wal_vfs {

// The VFS's name, for sqlite3_open_v2; registered, not as the default, on
// the first call.
const char* name();

// What the VFS has done since the process started, for tests.
struct Counters {
  std::uint64_t kept_writes = 0; // WAL writes kept in memory
  std::uint64_t flushes = 0;     // writes of kept data to a WAL file
};
Counters counters();

} // namespace zsimem::store::sqlite_wal_vfs
