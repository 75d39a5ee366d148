#include "store/sqlite_wal_vfs.hpp"

#include <zsimem/failpoint.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

namespace zsimem::store::sqlite_wal_vfs {
namespace {

// The most a WAL file keeps before it writes: a large transaction still
// writes its frames in 1 MiB pieces, in order.
constexpr std::size_t k_max_kept = std::size_t{1} << 20;
constexpr std::size_t k_first_capacity = std::size_t{64} << 10;

std::atomic<std::uint64_t> g_kept_writes{0};
std::atomic<std::uint64_t> g_flushes{0};

sqlite3_vfs* g_base = nullptr; // the default VFS, which does the I/O

struct WalFile;

// What this VFS adds to a main database file. SQLite allocates each file
// object at the VFS's szOsFile: this part first, the base VFS's object after
// it (see base_file).
struct DbFile {
  sqlite3_file file;      // pMethods: &k_db_methods
  WalFile* wal = nullptr; // the WAL file of the same connection, while open
  bool gathering = false; // PRAGMA synchronous is FULL or EXTRA
};

// What this VFS adds to a WAL file: its kept writes.
struct WalFile {
  sqlite3_file file;    // pMethods: &k_wal_methods
  DbFile* db = nullptr; // the database file of the same connection, while open
  char* kept = nullptr; // consecutive writes from offset kept_from, not yet passed on
  std::size_t kept_size = 0;
  std::size_t capacity = 0;
  sqlite3_int64 kept_from = 0;
};

constexpr std::size_t round_up(std::size_t size, std::size_t to) { return (size + to - 1) / to * to; }
constexpr std::size_t k_own_size = round_up(std::max(sizeof(DbFile), sizeof(WalFile)), alignof(std::max_align_t));

sqlite3_file* base_file(sqlite3_file* file) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + k_own_size);
}
const sqlite3_io_methods& base_methods(sqlite3_file* file) { return *base_file(file)->pMethods; }

DbFile& as_db(sqlite3_file* file) { return *reinterpret_cast<DbFile*>(file); }
WalFile& as_wal(sqlite3_file* file) { return *reinterpret_cast<WalFile*>(file); }

// The most one write to the base VFS may carry: SQLite's unix VFS takes
// a write's length modulo 128 KiB.
constexpr std::size_t k_max_base_write = std::size_t{124} << 10;

// Passes the kept writes on, in writes of at most k_max_base_write. They
// are dropped whatever happens: after a failure, SQLite gives up the
// transaction they belong to.
int flush(WalFile& wal) {
  if (wal.kept_size == 0) {
    return SQLITE_OK;
  }
  const auto size = std::exchange(wal.kept_size, 0);
  try {
    failpoint::hit("sqlite.wal_write");
  } catch (...) {
    return SQLITE_IOERR_WRITE; // an injected failure: nothing may unwind through SQLite
  }
  g_flushes.fetch_add(1, std::memory_order_relaxed);
  sqlite3_file* base = base_file(&wal.file);
  for (std::size_t done = 0; done < size;) {
    const std::size_t piece = std::min(size - done, k_max_base_write);
    const int rc = base->pMethods->xWrite(base, wal.kept + done, static_cast<int>(piece),
                                          wal.kept_from + static_cast<sqlite3_int64>(done));
    if (rc != SQLITE_OK) {
      return rc;
    }
    done += piece;
  }
  return SQLITE_OK;
}

bool overlaps_kept(const WalFile& wal, sqlite3_int64 offset, int amount) {
  return wal.kept_size != 0 && offset < wal.kept_from + static_cast<sqlite3_int64>(wal.kept_size) &&
         wal.kept_from < offset + amount;
}

// Whether a write of `amount` bytes fits in the kept buffer, grown if need be.
bool make_room(WalFile& wal, std::size_t amount) {
  const std::size_t needed = wal.kept_size + amount;
  if (needed > k_max_kept) {
    return false;
  }
  if (needed <= wal.capacity) {
    return true;
  }
  std::size_t capacity = std::max(wal.capacity * 2, k_first_capacity);
  while (capacity < needed) {
    capacity *= 2;
  }
  capacity = std::min(capacity, k_max_kept);
  void* grown = std::realloc(wal.kept, capacity);
  if (grown == nullptr) {
    return false; // written through instead
  }
  wal.kept = static_cast<char*>(grown);
  wal.capacity = capacity;
  return true;
}

// --- WAL files -------------------------------------------------------------

int wal_close(sqlite3_file* file) {
  auto& wal = as_wal(file);
  const int flushed = flush(wal);
  if (wal.db != nullptr) {
    wal.db->wal = nullptr;
  }
  std::free(wal.kept);
  wal.kept = nullptr;
  const int closed = base_methods(file).xClose(base_file(file));
  return flushed != SQLITE_OK ? flushed : closed;
}

int wal_read(sqlite3_file* file, void* data, int amount, sqlite3_int64 offset) {
  auto& wal = as_wal(file);
  if (overlaps_kept(wal, offset, amount)) {
    if (const int rc = flush(wal); rc != SQLITE_OK) {
      return SQLITE_IOERR_READ;
    }
  }
  return base_methods(file).xRead(base_file(file), data, amount, offset);
}

int wal_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  auto& wal = as_wal(file);
  const bool gathering = wal.db != nullptr && wal.db->gathering && amount > 0;
  if (wal.kept_size != 0 && (!gathering || offset != wal.kept_from + static_cast<sqlite3_int64>(wal.kept_size))) {
    if (const int rc = flush(wal); rc != SQLITE_OK) {
      return rc;
    }
  }
  if (!gathering) {
    return base_methods(file).xWrite(base_file(file), data, amount, offset);
  }
  const auto size = static_cast<std::size_t>(amount);
  if (!make_room(wal, size)) {
    // Full: what is kept goes first, then this write is kept alone, or
    // written through when it is larger than a WAL keeps.
    if (const int rc = flush(wal); rc != SQLITE_OK) {
      return rc;
    }
    if (!make_room(wal, size)) {
      return base_methods(file).xWrite(base_file(file), data, amount, offset);
    }
  }
  if (wal.kept_size == 0) {
    wal.kept_from = offset;
  }
  std::memcpy(wal.kept + wal.kept_size, data, size);
  wal.kept_size += size;
  g_kept_writes.fetch_add(1, std::memory_order_relaxed);
  return SQLITE_OK;
}

int wal_truncate(sqlite3_file* file, sqlite3_int64 size) {
  if (const int rc = flush(as_wal(file)); rc != SQLITE_OK) {
    return rc;
  }
  return base_methods(file).xTruncate(base_file(file), size);
}

int wal_sync(sqlite3_file* file, int flags) {
  if (const int rc = flush(as_wal(file)); rc != SQLITE_OK) {
    return rc;
  }
  return base_methods(file).xSync(base_file(file), flags);
}

int wal_file_size(sqlite3_file* file, sqlite3_int64* size) {
  if (const int rc = flush(as_wal(file)); rc != SQLITE_OK) {
    return rc;
  }
  return base_methods(file).xFileSize(base_file(file), size);
}

int wal_file_control(sqlite3_file* file, int op, void* arg) {
  if (const int rc = flush(as_wal(file)); rc != SQLITE_OK) {
    return rc;
  }
  return base_methods(file).xFileControl(base_file(file), op, arg);
}

int wal_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** page) {
  if (const int rc = flush(as_wal(file)); rc != SQLITE_OK) {
    return rc;
  }
  return base_methods(file).xFetch(base_file(file), offset, amount, page);
}

// --- Methods both kinds of file pass straight on ---------------------------

int forward_lock(sqlite3_file* file, int level) { return base_methods(file).xLock(base_file(file), level); }
int forward_unlock(sqlite3_file* file, int level) { return base_methods(file).xUnlock(base_file(file), level); }
int forward_check_reserved_lock(sqlite3_file* file, int* result) {
  return base_methods(file).xCheckReservedLock(base_file(file), result);
}
int forward_sector_size(sqlite3_file* file) { return base_methods(file).xSectorSize(base_file(file)); }
int forward_device_characteristics(sqlite3_file* file) {
  return base_methods(file).xDeviceCharacteristics(base_file(file));
}
int forward_shm_map(sqlite3_file* file, int page, int page_size, int extend, void volatile** mapped) {
  return base_methods(file).xShmMap(base_file(file), page, page_size, extend, mapped);
}
int forward_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  return base_methods(file).xShmLock(base_file(file), offset, n, flags);
}
void forward_shm_barrier(sqlite3_file* file) { base_methods(file).xShmBarrier(base_file(file)); }
int forward_shm_unmap(sqlite3_file* file, int delete_flag) {
  return base_methods(file).xShmUnmap(base_file(file), delete_flag);
}
int forward_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return base_methods(file).xUnfetch(base_file(file), offset, page);
}

// --- Main database files ---------------------------------------------------

int db_close(sqlite3_file* file) {
  auto& db = as_db(file);
  if (db.wal != nullptr) {
    db.wal->db = nullptr;
  }
  return base_methods(file).xClose(base_file(file));
}

int db_read(sqlite3_file* file, void* data, int amount, sqlite3_int64 offset) {
  return base_methods(file).xRead(base_file(file), data, amount, offset);
}
int db_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  return base_methods(file).xWrite(base_file(file), data, amount, offset);
}
int db_truncate(sqlite3_file* file, sqlite3_int64 size) { return base_methods(file).xTruncate(base_file(file), size); }
int db_sync(sqlite3_file* file, int flags) { return base_methods(file).xSync(base_file(file), flags); }
int db_file_size(sqlite3_file* file, sqlite3_int64* size) {
  return base_methods(file).xFileSize(base_file(file), size);
}
int db_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** page) {
  return base_methods(file).xFetch(base_file(file), offset, amount, page);
}

bool is_full_or_extra(const char* level) {
  return sqlite3_stricmp(level, "full") == 0 || sqlite3_stricmp(level, "extra") == 0 || std::strcmp(level, "2") == 0 ||
         std::strcmp(level, "3") == 0;
}

// SQLite shows each PRAGMA to the VFS as it prepares it: this is where the
// database file learns the connection's synchronous setting.
int db_file_control(sqlite3_file* file, int op, void* arg) {
  auto& db = as_db(file);
  if (op == SQLITE_FCNTL_PRAGMA) {
    const auto* const* pragma = static_cast<char**>(arg); // [1] the name, [2] the value or null
    if (pragma[1] != nullptr && pragma[2] != nullptr && sqlite3_stricmp(pragma[1], "synchronous") == 0) {
      if (db.wal != nullptr) {
        if (const int rc = flush(*db.wal); rc != SQLITE_OK) {
          return rc;
        }
      }
      db.gathering = is_full_or_extra(pragma[2]);
    }
  }
  return base_methods(file).xFileControl(base_file(file), op, arg);
}

// SQLite calls this between the two copies of the WAL index header that
// publish a commit: the frames it published must be in the file by then.
// Under FULL, the commit's sync has passed them on already (on a device
// without powersafe overwrite SQLite would write after the sync, so WALs
// there do not gather). Frames still kept here mean a commit that did not
// sync: the connection is not under FULL whatever the VFS was told (a
// PRAGMA that failed after SQLite showed it), so it stops gathering.
void db_shm_barrier(sqlite3_file* file) {
  auto& db = as_db(file);
  if (db.wal != nullptr && db.wal->kept_size != 0) {
    db.gathering = false;
    flush(*db.wal); // nothing to report a failure to
  }
  forward_shm_barrier(file);
}

constexpr sqlite3_io_methods k_db_methods{
    3,
    db_close,
    db_read,
    db_write,
    db_truncate,
    db_sync,
    db_file_size,
    forward_lock,
    forward_unlock,
    forward_check_reserved_lock,
    db_file_control,
    forward_sector_size,
    forward_device_characteristics,
    forward_shm_map,
    forward_shm_lock,
    db_shm_barrier,
    forward_shm_unmap,
    db_fetch,
    forward_unfetch,
};

constexpr sqlite3_io_methods k_wal_methods{
    3,
    wal_close,
    wal_read,
    wal_write,
    wal_truncate,
    wal_sync,
    wal_file_size,
    forward_lock,
    forward_unlock,
    forward_check_reserved_lock,
    wal_file_control,
    forward_sector_size,
    forward_device_characteristics,
    forward_shm_map,
    forward_shm_lock,
    forward_shm_barrier,
    forward_shm_unmap,
    wal_fetch,
    forward_unfetch,
};

// --- The VFS ---------------------------------------------------------------

// Opens main databases and WALs with this VFS's methods over the base
// VFS's file; anything else (temporary files, rollback journals) is the
// base VFS's file alone.
int open_file(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  const bool main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
  const bool wal = (flags & SQLITE_OPEN_WAL) != 0;
  if (!main_db && !wal) {
    return g_base->xOpen(g_base, name, file, flags, out_flags);
  }
  sqlite3_file* base = base_file(file);
  base->pMethods = nullptr;
  const int rc = g_base->xOpen(g_base, name, base, flags, out_flags);
  if (base->pMethods == nullptr) {
    file->pMethods = nullptr;
    return rc;
  }
  if (base->pMethods->iVersion < 3) {
    // Not a base VFS this one can wrap: the file goes on without it.
    base->pMethods->xClose(base);
    return g_base->xOpen(g_base, name, file, flags, out_flags);
  }
  if (main_db) {
    new (file) DbFile{{&k_db_methods}};
  } else {
    auto* kept = new (file) WalFile{{&k_wal_methods}};
    // Linked to its connection's database file, which knows the synchronous
    // setting and publishes commits; unlinked, it never gathers.
    sqlite3_file* db_file = name != nullptr ? sqlite3_database_file_object(name) : nullptr;
    const bool powersafe = (base->pMethods->xDeviceCharacteristics(base) & SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0;
    if (powersafe && db_file != nullptr && db_file->pMethods == &k_db_methods) {
      kept->db = &as_db(db_file);
      kept->db->wal = kept;
    }
  }
  return rc;
}

int forward_delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_base->xDelete(g_base, name, sync_dir); }
int forward_access(sqlite3_vfs*, const char* name, int flags, int* result) {
  return g_base->xAccess(g_base, name, flags, result);
}
int forward_full_pathname(sqlite3_vfs*, const char* name, int size, char* out) {
  return g_base->xFullPathname(g_base, name, size, out);
}
void* forward_dl_open(sqlite3_vfs*, const char* name) { return g_base->xDlOpen(g_base, name); }
void forward_dl_error(sqlite3_vfs*, int size, char* out) { g_base->xDlError(g_base, size, out); }
void (*forward_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))() {
  return g_base->xDlSym(g_base, handle, symbol);
}
void forward_dl_close(sqlite3_vfs*, void* handle) { g_base->xDlClose(g_base, handle); }
int forward_randomness(sqlite3_vfs*, int size, char* out) { return g_base->xRandomness(g_base, size, out); }
int forward_sleep(sqlite3_vfs*, int microseconds) { return g_base->xSleep(g_base, microseconds); }
int forward_current_time(sqlite3_vfs*, double* now) { return g_base->xCurrentTime(g_base, now); }
int forward_get_last_error(sqlite3_vfs*, int size, char* out) { return g_base->xGetLastError(g_base, size, out); }
int forward_current_time_int64(sqlite3_vfs*, sqlite3_int64* now) { return g_base->xCurrentTimeInt64(g_base, now); }

const char* register_vfs() {
  g_base = sqlite3_vfs_find(nullptr);
  if (g_base == nullptr || g_base->iVersion < 2 || g_base->xCurrentTimeInt64 == nullptr) {
    return nullptr; // no base VFS to wrap: connections use the default one
  }
  static sqlite3_vfs vfs{};
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(k_own_size) + g_base->szOsFile;
  vfs.mxPathname = g_base->mxPathname;
  vfs.zName = "zsimem-wal";
  vfs.xOpen = open_file;
  vfs.xDelete = forward_delete;
  vfs.xAccess = forward_access;
  vfs.xFullPathname = forward_full_pathname;
  vfs.xDlOpen = forward_dl_open;
  vfs.xDlError = forward_dl_error;
  vfs.xDlSym = forward_dl_sym;
  vfs.xDlClose = forward_dl_close;
  vfs.xRandomness = forward_randomness;
  vfs.xSleep = forward_sleep;
  vfs.xCurrentTime = forward_current_time;
  vfs.xGetLastError = forward_get_last_error;
  vfs.xCurrentTimeInt64 = forward_current_time_int64;
  if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK) {
    return nullptr;
  }
  return vfs.zName;
}

} // namespace

const char* name() {
  static const char* const registered = register_vfs();
  return registered;
}

Counters counters() {
  return {g_kept_writes.load(std::memory_order_relaxed), g_flushes.load(std::memory_order_relaxed)};
}

} // namespace zsimem::store::sqlite_wal_vfs
