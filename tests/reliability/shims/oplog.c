// oplog: an LD_PRELOAD library that records, in order and with their data,
// the calls that change files under a root directory, so that a test can
// later rebuild the states a power cut could have left (see
// tests/reliability/power_oplog.hpp). Every call is passed through
// unchanged and recorded only once it has succeeded.
//
// Environment:
//   ZSIMEM_OPLOG_ROOT  absolute directory without symlinks; only paths under it are recorded
//   ZSIMEM_OPLOG_FILE  the log, appended to (records of several processes follow each other)
// Without both, nothing is recorded.
//
// Files whose names end in "-shm" are ignored: SQLite rebuilds its shared
// memory index from the WAL on open, so a crash state must not hold one.
//
// Descriptors opened under the root are followed through dup, dup2, dup3 and
// fcntl(F_DUPFD). Each record is one write(2) to the log opened with O_APPEND: a
// struct oplog_header, then path, path2 and data. A write-like call on a
// descriptor the shim did not see being opened, to a file under the root,
// becomes an "untracked" record, which makes the test fail instead of
// silently missing data.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

// Keep in step with power_oplog.hpp.
enum oplog_kind {
  oplog_open = 1,       // fd, flags, path
  oplog_close = 2,      // fd
  oplog_write = 3,      // fd, offset, data
  oplog_ftruncate = 4,  // fd, offset = length
  oplog_truncate = 5,   // path, offset = length
  oplog_sync = 6,       // fd (fsync and fdatasync alike)
  oplog_rename = 7,     // path -> path2
  oplog_link = 8,       // path -> path2
  oplog_unlink = 9,     // path
  oplog_mkdir = 10,     // path
  oplog_rmdir = 11,     // path
  oplog_ack = 12,       // written by the test, not by the shim
  oplog_untracked = 13, // path: a change the shim cannot describe
  oplog_dup = 14        // fd, offset = the new descriptor for the same file
};

struct oplog_header {
  uint32_t magic;
  uint32_t kind;
  int32_t pid;
  int32_t fd;
  int64_t flags;
  int64_t offset;
  uint64_t path_size;
  uint64_t path2_size;
  uint64_t data_size;
};

#define OPLOG_MAGIC 0x706c6f67u
#define MAX_TRACKED_FD 65536

static char g_root[PATH_MAX];
static size_t g_root_size;
static int g_log_fd = -1;
static unsigned char g_tracked[MAX_TRACKED_FD];

#define DECLARE_REAL(ret, name, ...)                                                                                   \
  typedef ret (*name##_fn)(__VA_ARGS__);                                                                               \
  static name##_fn real_##name;

DECLARE_REAL(int, open, const char*, int, ...)
DECLARE_REAL(int, open64, const char*, int, ...)
DECLARE_REAL(int, openat, int, const char*, int, ...)
DECLARE_REAL(int, openat64, int, const char*, int, ...)
DECLARE_REAL(int, __open_2, const char*, int)
DECLARE_REAL(int, __open64_2, const char*, int)
DECLARE_REAL(int, __openat_2, int, const char*, int)
DECLARE_REAL(int, __openat64_2, int, const char*, int)
DECLARE_REAL(int, creat, const char*, mode_t)
DECLARE_REAL(int, creat64, const char*, mode_t)
DECLARE_REAL(int, close, int)
DECLARE_REAL(ssize_t, write, int, const void*, size_t)
DECLARE_REAL(ssize_t, pwrite, int, const void*, size_t, off_t)
DECLARE_REAL(ssize_t, pwrite64, int, const void*, size_t, off64_t)
DECLARE_REAL(ssize_t, writev, int, const struct iovec*, int)
DECLARE_REAL(ssize_t, pwritev, int, const struct iovec*, int, off_t)
DECLARE_REAL(ssize_t, pwritev64, int, const struct iovec*, int, off64_t)
DECLARE_REAL(int, ftruncate, int, off_t)
DECLARE_REAL(int, ftruncate64, int, off64_t)
DECLARE_REAL(int, truncate, const char*, off_t)
DECLARE_REAL(int, truncate64, const char*, off64_t)
DECLARE_REAL(int, fsync, int)
DECLARE_REAL(int, fdatasync, int)
DECLARE_REAL(int, rename, const char*, const char*)
DECLARE_REAL(int, renameat, int, const char*, int, const char*)
DECLARE_REAL(int, renameat2, int, const char*, int, const char*, unsigned int)
DECLARE_REAL(int, link, const char*, const char*)
DECLARE_REAL(int, linkat, int, const char*, int, const char*, int)
DECLARE_REAL(int, unlink, const char*)
DECLARE_REAL(int, unlinkat, int, const char*, int)
DECLARE_REAL(int, remove, const char*)
DECLARE_REAL(int, mkdir, const char*, mode_t)
DECLARE_REAL(int, mkdirat, int, const char*, mode_t)
DECLARE_REAL(int, rmdir, const char*)
DECLARE_REAL(int, symlink, const char*, const char*)
DECLARE_REAL(int, fallocate, int, int, off_t, off_t)
DECLARE_REAL(int, posix_fallocate, int, off_t, off_t)
DECLARE_REAL(ssize_t, sendfile, int, int, off_t*, size_t)
DECLARE_REAL(ssize_t, copy_file_range, int, off64_t*, int, off64_t*, size_t, unsigned int)
DECLARE_REAL(FILE*, fopen, const char*, const char*)
DECLARE_REAL(int, dup, int)
DECLARE_REAL(int, dup2, int, int)
DECLARE_REAL(int, dup3, int, int, int)
DECLARE_REAL(int, fcntl, int, int, ...)
DECLARE_REAL(int, fcntl64, int, int, ...)
DECLARE_REAL(FILE*, fopen64, const char*, const char*)

// A symbol libc lacks stays NULL; the program then cannot call it either.
#define LOAD(name) real_##name = (name##_fn)dlsym(RTLD_NEXT, #name)

static void load_symbols(void) {
  LOAD(open);
  LOAD(open64);
  LOAD(openat);
  LOAD(openat64);
  LOAD(__open_2);
  LOAD(__open64_2);
  LOAD(__openat_2);
  LOAD(__openat64_2);
  LOAD(creat);
  LOAD(creat64);
  LOAD(close);
  LOAD(write);
  LOAD(pwrite);
  LOAD(pwrite64);
  LOAD(writev);
  LOAD(pwritev);
  LOAD(pwritev64);
  LOAD(ftruncate);
  LOAD(ftruncate64);
  LOAD(truncate);
  LOAD(truncate64);
  LOAD(fsync);
  LOAD(fdatasync);
  LOAD(rename);
  LOAD(renameat);
  LOAD(renameat2);
  LOAD(link);
  LOAD(linkat);
  LOAD(unlink);
  LOAD(unlinkat);
  LOAD(remove);
  LOAD(mkdir);
  LOAD(mkdirat);
  LOAD(rmdir);
  LOAD(symlink);
  LOAD(fallocate);
  LOAD(posix_fallocate);
  LOAD(sendfile);
  LOAD(copy_file_range);
  LOAD(fopen);
  LOAD(fopen64);
  LOAD(dup);
  LOAD(dup2);
  LOAD(dup3);
  LOAD(fcntl);
  LOAD(fcntl64);
}

// Reads the environment; false when it is not there yet (a sanitizer's
// runtime can call in before libc has set it up).
static int configure(void) {
  if (environ == NULL) {
    return 0;
  }
  const char* root = getenv("ZSIMEM_OPLOG_ROOT");
  const char* log = getenv("ZSIMEM_OPLOG_FILE");
  if (root == NULL || log == NULL || root[0] != '/' || strlen(root) >= sizeof g_root) {
    return 1;
  }
  strcpy(g_root, root);
  g_root_size = strlen(g_root);
  while (g_root_size > 1 && g_root[g_root_size - 1] == '/') {
    g_root[--g_root_size] = '\0';
  }
  g_log_fd = real_open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  return 1;
}

// One recursive lock orders the calls and their records. Not a pthread
// mutex, nor pthread_once below: a sanitizer's runtime intercepts those,
// and calls this library's mkdir or open while it is still initializing.
static int g_lock_owner; // thread id, 0 when free
static int g_lock_depth;

static void lock(void) {
  int self = gettid();
  if (__atomic_load_n(&g_lock_owner, __ATOMIC_ACQUIRE) == self) {
    ++g_lock_depth;
    return;
  }
  int expected = 0;
  while (!__atomic_compare_exchange_n(&g_lock_owner, &expected, self, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    expected = 0;
    sched_yield();
  }
  g_lock_depth = 1;
}

static void unlock(void) {
  if (--g_lock_depth == 0) {
    __atomic_store_n(&g_lock_owner, 0, __ATOMIC_RELEASE);
  }
}

static int g_initialized; // 0: not yet, 1: symbols loaded, 2: configured too

static void ensure_initialized(void) {
  if (__atomic_load_n(&g_initialized, __ATOMIC_ACQUIRE) == 2) {
    return;
  }
  lock();
  if (g_initialized == 0) {
    load_symbols();
    g_initialized = 1;
  }
  if (g_initialized == 1 && configure()) {
    __atomic_store_n(&g_initialized, 2, __ATOMIC_RELEASE);
  }
  unlock();
}

__attribute__((constructor)) static void oplog_constructor(void) { ensure_initialized(); }

static int active(void) {
  ensure_initialized();
  return g_log_fd >= 0;
}

// Lexically normalizes `path` (already absolute) in place: no ".", "..", "//".
static void normalize(char* path) {
  char* out = path;
  const char* in = path;
  while (*in != '\0') {
    while (*in == '/') {
      ++in;
    }
    if (*in == '\0') {
      break;
    }
    const char* end = strchrnul(in, '/');
    size_t size = (size_t)(end - in);
    if (size == 1 && in[0] == '.') {
      // nothing
    } else if (size == 2 && in[0] == '.' && in[1] == '.') {
      while (out > path && *(out - 1) != '/') {
        --out;
      }
      if (out > path) {
        --out;
      }
    } else {
      *out++ = '/';
      memmove(out, in, size);
      out += size;
    }
    in = end;
  }
  if (out == path) {
    *out++ = '/';
  }
  *out = '\0';
}

static int fd_path(int fd, char* out, size_t capacity) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, capacity - 1);
  if (n < 0) {
    return -1;
  }
  out[n] = '\0';
  return 0;
}

// The absolute, normalized form of `path` relative to `dirfd`; 0 on success.
static int absolute_path(int dirfd, const char* path, char* out, size_t capacity) {
  if (path == NULL) {
    return -1;
  }
  if (path[0] == '/') {
    if (strlen(path) >= capacity) {
      return -1;
    }
    strcpy(out, path);
  } else {
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
      if (getcwd(base, sizeof base) == NULL) {
        return -1;
      }
    } else if (fd_path(dirfd, base, sizeof base) != 0) {
      return -1;
    }
    if ((size_t)snprintf(out, capacity, "%s/%s", base, path) >= capacity) {
      return -1;
    }
  }
  normalize(out);
  return 0;
}

static int ends_with(const char* text, const char* suffix) {
  size_t text_size = strlen(text);
  size_t suffix_size = strlen(suffix);
  return text_size >= suffix_size && strcmp(text + text_size - suffix_size, suffix) == 0;
}

static int under_root(const char* absolute) {
  if (strncmp(absolute, g_root, g_root_size) != 0) {
    return 0;
  }
  if (absolute[g_root_size] != '\0' && absolute[g_root_size] != '/') {
    return 0;
  }
  return !ends_with(absolute, "-shm");
}

// The absolute path of `path` if it is one to record, in `out`.
static int recorded_path(int dirfd, const char* path, char* out, size_t capacity) {
  return active() && absolute_path(dirfd, path, out, capacity) == 0 && under_root(out);
}

static void append_record(uint32_t kind, int fd, int64_t flags, int64_t offset, const char* path, const char* path2,
                          const struct iovec* data, int data_count) {
  struct oplog_header header;
  memset(&header, 0, sizeof header);
  header.magic = OPLOG_MAGIC;
  header.kind = kind;
  header.pid = (int32_t)getpid();
  header.fd = fd;
  header.flags = flags;
  header.offset = offset;
  header.path_size = path ? strlen(path) : 0;
  header.path2_size = path2 ? strlen(path2) : 0;
  struct iovec parts[64];
  int count = 0;
  parts[count].iov_base = &header;
  parts[count++].iov_len = sizeof header;
  if (path) {
    parts[count].iov_base = (void*)path;
    parts[count++].iov_len = header.path_size;
  }
  if (path2) {
    parts[count].iov_base = (void*)path2;
    parts[count++].iov_len = header.path2_size;
  }
  int i;
  for (i = 0; i < data_count; ++i) {
    header.data_size += data[i].iov_len;
  }
  if (count + data_count <= 64) {
    for (i = 0; i < data_count; ++i) {
      parts[count++] = data[i];
    }
    real_writev(g_log_fd, parts, count);
    return;
  }
  // Many pieces: gather them so that the record stays one write.
  char* buffer = malloc(header.data_size);
  if (buffer == NULL) {
    abort();
  }
  size_t used = 0;
  for (i = 0; i < data_count; ++i) {
    memcpy(buffer + used, data[i].iov_base, data[i].iov_len);
    used += data[i].iov_len;
  }
  parts[count].iov_base = buffer;
  parts[count++].iov_len = used;
  real_writev(g_log_fd, parts, count);
  free(buffer);
}

static void record_path_op(uint32_t kind, const char* path, const char* path2, int64_t offset) {
  append_record(kind, -1, 0, offset, path, path2, NULL, 0);
}

static int is_tracked(int fd) { return fd >= 0 && fd < MAX_TRACKED_FD && g_tracked[fd]; }

// A change through a descriptor the shim did not see opened: fine unless it
// is a file under the root, which the log could then not describe.
static void check_untracked(int fd) {
  char path[PATH_MAX];
  if (active() && !is_tracked(fd) && fd_path(fd, path, sizeof path) == 0 && under_root(path)) {
    record_path_op(oplog_untracked, path, NULL, 0);
  }
}

static void after_open(int fd, int dirfd, const char* path, int flags) {
  char absolute[PATH_MAX];
  if (fd < 0 || !recorded_path(dirfd, path, absolute, sizeof absolute)) {
    return;
  }
  if (fd >= MAX_TRACKED_FD) {
    record_path_op(oplog_untracked, absolute, NULL, 0);
    return;
  }
  g_tracked[fd] = 1;
  append_record(oplog_open, fd, flags, 0, absolute, NULL, NULL, 0);
}

static mode_t mode_argument(int flags, va_list args) {
  return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(args, int) : 0;
}

#define OPEN_WRAPPER(name)                                                                                             \
  int name(const char* path, int flags, ...) {                                                                         \
    va_list args;                                                                                                      \
    va_start(args, flags);                                                                                             \
    mode_t mode = mode_argument(flags, args);                                                                          \
    va_end(args);                                                                                                      \
    ensure_initialized();                                                                                              \
    lock();                                                                                                            \
    int fd = real_##name(path, flags, mode);                                                                           \
    int saved = errno;                                                                                                 \
    after_open(fd, AT_FDCWD, path, flags);                                                                             \
    unlock();                                                                                                          \
    errno = saved;                                                                                                     \
    return fd;                                                                                                         \
  }

#define OPENAT_WRAPPER(name)                                                                                           \
  int name(int dirfd, const char* path, int flags, ...) {                                                              \
    va_list args;                                                                                                      \
    va_start(args, flags);                                                                                             \
    mode_t mode = mode_argument(flags, args);                                                                          \
    va_end(args);                                                                                                      \
    ensure_initialized();                                                                                              \
    lock();                                                                                                            \
    int fd = real_##name(dirfd, path, flags, mode);                                                                    \
    int saved = errno;                                                                                                 \
    after_open(fd, dirfd, path, flags);                                                                                \
    unlock();                                                                                                          \
    errno = saved;                                                                                                     \
    return fd;                                                                                                         \
  }

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

#define OPEN2_WRAPPER(name)                                                                                            \
  int name(const char* path, int flags) {                                                                              \
    ensure_initialized();                                                                                              \
    lock();                                                                                                            \
    int fd = real_##name(path, flags);                                                                                 \
    int saved = errno;                                                                                                 \
    after_open(fd, AT_FDCWD, path, flags);                                                                             \
    unlock();                                                                                                          \
    errno = saved;                                                                                                     \
    return fd;                                                                                                         \
  }

#define OPENAT2_WRAPPER(name)                                                                                          \
  int name(int dirfd, const char* path, int flags) {                                                                   \
    ensure_initialized();                                                                                              \
    lock();                                                                                                            \
    int fd = real_##name(dirfd, path, flags);                                                                          \
    int saved = errno;                                                                                                 \
    after_open(fd, dirfd, path, flags);                                                                                \
    unlock();                                                                                                          \
    errno = saved;                                                                                                     \
    return fd;                                                                                                         \
  }

OPEN2_WRAPPER(__open_2)
OPEN2_WRAPPER(__open64_2)
OPENAT2_WRAPPER(__openat_2)
OPENAT2_WRAPPER(__openat64_2)

#define CREAT_WRAPPER(name)                                                                                            \
  int name(const char* path, mode_t mode) {                                                                            \
    ensure_initialized();                                                                                              \
    lock();                                                                                                            \
    int fd = real_##name(path, mode);                                                                                  \
    int saved = errno;                                                                                                 \
    after_open(fd, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC);                                                      \
    unlock();                                                                                                          \
    errno = saved;                                                                                                     \
    return fd;                                                                                                         \
  }

CREAT_WRAPPER(creat)
CREAT_WRAPPER(creat64)

int close(int fd) {
  ensure_initialized();
  lock();
  int tracked = is_tracked(fd);
  int result = real_close(fd);
  int saved = errno;
  if (tracked) {
    // The descriptor is gone even when close reports an error.
    g_tracked[fd] = 0;
    append_record(oplog_close, fd, 0, 0, NULL, NULL, NULL, 0);
  }
  unlock();
  errno = saved;
  return result;
}

// Records `done` bytes of `parts` written at `offset` (-1: at the position
// the descriptor has now, minus what was written).
static void after_write(int fd, ssize_t done, int64_t offset, const struct iovec* parts, int count) {
  if (done <= 0 || !active()) {
    return;
  }
  if (!is_tracked(fd)) {
    check_untracked(fd);
    return;
  }
  if (offset < 0) {
    off_t position = lseek(fd, 0, SEEK_CUR);
    if (position < 0) {
      return;
    }
    offset = (int64_t)position - (int64_t)done;
  }
  struct iovec used[64] = {{0, 0}};
  struct iovec* pieces = used;
  if (count > 64) {
    pieces = malloc(sizeof(struct iovec) * (size_t)count);
    if (pieces == NULL) {
      abort();
    }
  }
  size_t left = (size_t)done;
  int used_count = 0;
  for (int i = 0; i < count && left > 0; ++i) {
    size_t take = parts[i].iov_len < left ? parts[i].iov_len : left;
    pieces[used_count].iov_base = parts[i].iov_base;
    pieces[used_count++].iov_len = take;
    left -= take;
  }
  append_record(oplog_write, fd, 0, offset, NULL, NULL, pieces, used_count);
  if (pieces != used) {
    free(pieces);
  }
}

ssize_t write(int fd, const void* data, size_t size) {
  ensure_initialized();
  lock();
  ssize_t done = real_write(fd, data, size);
  int saved = errno;
  struct iovec part = {(void*)data, size};
  after_write(fd, done, -1, &part, 1);
  unlock();
  errno = saved;
  return done;
}

ssize_t pwrite(int fd, const void* data, size_t size, off_t offset) {
  ensure_initialized();
  lock();
  ssize_t done = real_pwrite(fd, data, size, offset);
  int saved = errno;
  struct iovec part = {(void*)data, size};
  after_write(fd, done, offset, &part, 1);
  unlock();
  errno = saved;
  return done;
}

ssize_t pwrite64(int fd, const void* data, size_t size, off64_t offset) {
  ensure_initialized();
  lock();
  ssize_t done = real_pwrite64(fd, data, size, offset);
  int saved = errno;
  struct iovec part = {(void*)data, size};
  after_write(fd, done, offset, &part, 1);
  unlock();
  errno = saved;
  return done;
}

ssize_t writev(int fd, const struct iovec* parts, int count) {
  ensure_initialized();
  lock();
  ssize_t done = real_writev(fd, parts, count);
  int saved = errno;
  after_write(fd, done, -1, parts, count);
  unlock();
  errno = saved;
  return done;
}

ssize_t pwritev(int fd, const struct iovec* parts, int count, off_t offset) {
  ensure_initialized();
  lock();
  ssize_t done = real_pwritev(fd, parts, count, offset);
  int saved = errno;
  after_write(fd, done, offset, parts, count);
  unlock();
  errno = saved;
  return done;
}

ssize_t pwritev64(int fd, const struct iovec* parts, int count, off64_t offset) {
  ensure_initialized();
  lock();
  ssize_t done = real_pwritev64(fd, parts, count, offset);
  int saved = errno;
  after_write(fd, done, offset, parts, count);
  unlock();
  errno = saved;
  return done;
}

static void after_fd_op(int result, uint32_t kind, int fd, int64_t offset) {
  if (result != 0 || !active()) {
    return;
  }
  if (is_tracked(fd)) {
    append_record(kind, fd, 0, offset, NULL, NULL, NULL, 0);
  } else if (kind != oplog_sync) {
    check_untracked(fd);
  }
}

int ftruncate(int fd, off_t length) {
  ensure_initialized();
  lock();
  int result = real_ftruncate(fd, length);
  int saved = errno;
  after_fd_op(result, oplog_ftruncate, fd, length);
  unlock();
  errno = saved;
  return result;
}

int ftruncate64(int fd, off64_t length) {
  ensure_initialized();
  lock();
  int result = real_ftruncate64(fd, length);
  int saved = errno;
  after_fd_op(result, oplog_ftruncate, fd, length);
  unlock();
  errno = saved;
  return result;
}

int fsync(int fd) {
  ensure_initialized();
  lock();
  int result = real_fsync(fd);
  int saved = errno;
  after_fd_op(result, oplog_sync, fd, 0);
  unlock();
  errno = saved;
  return result;
}

int fdatasync(int fd) {
  ensure_initialized();
  lock();
  int result = real_fdatasync(fd);
  int saved = errno;
  after_fd_op(result, oplog_sync, fd, 0);
  unlock();
  errno = saved;
  return result;
}

// Calls that change files but that the replayer does not model: recorded as
// "untracked" when they touch the root, so that a test fails loudly.
int fallocate(int fd, int mode, off_t offset, off_t length) {
  ensure_initialized();
  lock();
  int result = real_fallocate(fd, mode, offset, length);
  int saved = errno;
  if (result == 0 && active()) {
    char path[PATH_MAX];
    if (fd_path(fd, path, sizeof path) == 0 && under_root(path)) {
      record_path_op(oplog_untracked, path, NULL, 0);
    }
  }
  unlock();
  errno = saved;
  return result;
}

int posix_fallocate(int fd, off_t offset, off_t length) {
  ensure_initialized();
  lock();
  int result = real_posix_fallocate(fd, offset, length);
  if (result == 0 && active()) {
    char path[PATH_MAX];
    if (fd_path(fd, path, sizeof path) == 0 && under_root(path)) {
      record_path_op(oplog_untracked, path, NULL, 0);
    }
  }
  unlock();
  return result;
}

ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  ensure_initialized();
  lock();
  ssize_t done = real_sendfile(out_fd, in_fd, offset, count);
  int saved = errno;
  if (done > 0 && active()) {
    char path[PATH_MAX];
    if (fd_path(out_fd, path, sizeof path) == 0 && under_root(path)) {
      record_path_op(oplog_untracked, path, NULL, 0);
    }
  }
  unlock();
  errno = saved;
  return done;
}

ssize_t copy_file_range(int in_fd, off64_t* in_offset, int out_fd, off64_t* out_offset, size_t count,
                        unsigned int flags) {
  ensure_initialized();
  lock();
  ssize_t done = real_copy_file_range(in_fd, in_offset, out_fd, out_offset, count, flags);
  int saved = errno;
  if (done > 0 && active()) {
    char path[PATH_MAX];
    if (fd_path(out_fd, path, sizeof path) == 0 && under_root(path)) {
      record_path_op(oplog_untracked, path, NULL, 0);
    }
  }
  unlock();
  errno = saved;
  return done;
}

// stdio opens its descriptor inside libc, out of the shim's sight: a stream
// that writes under the root is recorded as untracked.
#define FOPEN_WRAPPER(name)                                                                                            \
  FILE* name(const char* path, const char* mode) {                                                                     \
    ensure_initialized();                                                                                              \
    FILE* file = real_##name(path, mode);                                                                              \
    char absolute[PATH_MAX];                                                                                           \
    if (file != NULL && strpbrk(mode, "wa+") != NULL && recorded_path(AT_FDCWD, path, absolute, sizeof absolute)) {    \
      lock();                                                                                                          \
      record_path_op(oplog_untracked, absolute, NULL, 0);                                                              \
      unlock();                                                                                                        \
    }                                                                                                                  \
    return file;                                                                                                       \
  }

FOPEN_WRAPPER(fopen)
FOPEN_WRAPPER(fopen64)

// A descriptor `new_fd` now names what `old_fd` does (and no longer what it
// named before, which dup2 closed).
static void after_dup(int old_fd, int new_fd) {
  if (new_fd < 0 || !active()) {
    return;
  }
  if (is_tracked(new_fd)) {
    g_tracked[new_fd] = 0;
    append_record(oplog_close, new_fd, 0, 0, NULL, NULL, NULL, 0);
  }
  if (is_tracked(old_fd)) {
    if (new_fd >= MAX_TRACKED_FD) {
      check_untracked(old_fd);
      return;
    }
    g_tracked[new_fd] = 1;
    append_record(oplog_dup, old_fd, 0, new_fd, NULL, NULL, NULL, 0);
  }
}

int dup(int fd) {
  ensure_initialized();
  lock();
  int result = real_dup(fd);
  int saved = errno;
  after_dup(fd, result);
  unlock();
  errno = saved;
  return result;
}

int dup2(int fd, int new_fd) {
  ensure_initialized();
  lock();
  int result = real_dup2(fd, new_fd);
  int saved = errno;
  if (result >= 0 && fd != new_fd) {
    after_dup(fd, result);
  }
  unlock();
  errno = saved;
  return result;
}

int dup3(int fd, int new_fd, int flags) {
  ensure_initialized();
  lock();
  int result = real_dup3(fd, new_fd, flags);
  int saved = errno;
  after_dup(fd, result);
  unlock();
  errno = saved;
  return result;
}

// Every fcntl command takes at most one argument, an int or a pointer,
// which travels the same way as a pointer on the ABIs we run on.
#define FCNTL_WRAPPER(name)                                                                                            \
  int name(int fd, int command, ...) {                                                                                 \
    va_list args;                                                                                                      \
    va_start(args, command);                                                                                           \
    void* argument = va_arg(args, void*);                                                                              \
    va_end(args);                                                                                                      \
    ensure_initialized();                                                                                              \
    if (command != F_DUPFD && command != F_DUPFD_CLOEXEC) {                                                            \
      return real_##name(fd, command, argument);                                                                       \
    }                                                                                                                  \
    lock();                                                                                                            \
    int result = real_##name(fd, command, argument);                                                                   \
    int saved = errno;                                                                                                 \
    after_dup(fd, result);                                                                                             \
    unlock();                                                                                                          \
    errno = saved;                                                                                                     \
    return result;                                                                                                     \
  }

FCNTL_WRAPPER(fcntl)
FCNTL_WRAPPER(fcntl64)

static int path_op(uint32_t kind, int result, int dirfd, const char* path, int64_t offset) {
  char absolute[PATH_MAX];
  if (result == 0 && recorded_path(dirfd, path, absolute, sizeof absolute)) {
    record_path_op(kind, absolute, NULL, offset);
  }
  return result;
}

// A call naming two paths: recorded when either is under the root (a move
// from outside is an untracked change; one to outside, an unlink).
static void two_path_op(uint32_t kind, int dirfd, const char* from, int new_dirfd, const char* to) {
  if (!active()) {
    return;
  }
  char from_absolute[PATH_MAX];
  char to_absolute[PATH_MAX];
  int from_in = absolute_path(dirfd, from, from_absolute, sizeof from_absolute) == 0 && under_root(from_absolute);
  int to_in = absolute_path(new_dirfd, to, to_absolute, sizeof to_absolute) == 0 && under_root(to_absolute);
  if (from_in && to_in) {
    record_path_op(kind, from_absolute, to_absolute, 0);
  } else if (from_in && kind == oplog_rename) {
    record_path_op(oplog_unlink, from_absolute, NULL, 0);
  } else if (to_in) {
    record_path_op(oplog_untracked, to_absolute, NULL, 0);
  }
}

int truncate(const char* path, off_t length) {
  ensure_initialized();
  lock();
  int result = real_truncate(path, length);
  int saved = errno;
  path_op(oplog_truncate, result, AT_FDCWD, path, length);
  unlock();
  errno = saved;
  return result;
}

int truncate64(const char* path, off64_t length) {
  ensure_initialized();
  lock();
  int result = real_truncate64(path, length);
  int saved = errno;
  path_op(oplog_truncate, result, AT_FDCWD, path, length);
  unlock();
  errno = saved;
  return result;
}

int rename(const char* from, const char* to) {
  ensure_initialized();
  lock();
  int result = real_rename(from, to);
  int saved = errno;
  if (result == 0) {
    two_path_op(oplog_rename, AT_FDCWD, from, AT_FDCWD, to);
  }
  unlock();
  errno = saved;
  return result;
}

int renameat(int dirfd, const char* from, int new_dirfd, const char* to) {
  ensure_initialized();
  lock();
  int result = real_renameat(dirfd, from, new_dirfd, to);
  int saved = errno;
  if (result == 0) {
    two_path_op(oplog_rename, dirfd, from, new_dirfd, to);
  }
  unlock();
  errno = saved;
  return result;
}

int renameat2(int dirfd, const char* from, int new_dirfd, const char* to, unsigned int flags) {
  ensure_initialized();
  lock();
  int result = real_renameat2(dirfd, from, new_dirfd, to, flags);
  int saved = errno;
  if (result == 0) {
    // RENAME_EXCHANGE swaps two names, which the replayer does not model.
    two_path_op((flags & RENAME_EXCHANGE) ? oplog_untracked : oplog_rename, dirfd, from, new_dirfd, to);
  }
  unlock();
  errno = saved;
  return result;
}

int link(const char* from, const char* to) {
  ensure_initialized();
  lock();
  int result = real_link(from, to);
  int saved = errno;
  if (result == 0) {
    two_path_op(oplog_link, AT_FDCWD, from, AT_FDCWD, to);
  }
  unlock();
  errno = saved;
  return result;
}

int linkat(int dirfd, const char* from, int new_dirfd, const char* to, int flags) {
  ensure_initialized();
  lock();
  int result = real_linkat(dirfd, from, new_dirfd, to, flags);
  int saved = errno;
  if (result == 0) {
    two_path_op(oplog_link, dirfd, from, new_dirfd, to);
  }
  unlock();
  errno = saved;
  return result;
}

int symlink(const char* target, const char* path) {
  ensure_initialized();
  lock();
  int result = real_symlink(target, path);
  int saved = errno;
  path_op(oplog_untracked, result, AT_FDCWD, path, 0);
  unlock();
  errno = saved;
  return result;
}

int unlink(const char* path) {
  ensure_initialized();
  lock();
  int result = real_unlink(path);
  int saved = errno;
  path_op(oplog_unlink, result, AT_FDCWD, path, 0);
  unlock();
  errno = saved;
  return result;
}

int unlinkat(int dirfd, const char* path, int flags) {
  ensure_initialized();
  lock();
  int result = real_unlinkat(dirfd, path, flags);
  int saved = errno;
  path_op((flags & AT_REMOVEDIR) ? oplog_rmdir : oplog_unlink, result, dirfd, path, 0);
  unlock();
  errno = saved;
  return result;
}

int remove(const char* path) {
  ensure_initialized();
  lock();
  // libc's remove unlinks or removes a directory internally, out of sight.
  struct stat info;
  int is_dir = lstat(path, &info) == 0 && S_ISDIR(info.st_mode);
  int result = real_remove(path);
  int saved = errno;
  path_op(is_dir ? oplog_rmdir : oplog_unlink, result, AT_FDCWD, path, 0);
  unlock();
  errno = saved;
  return result;
}

int mkdir(const char* path, mode_t mode) {
  ensure_initialized();
  lock();
  int result = real_mkdir(path, mode);
  int saved = errno;
  path_op(oplog_mkdir, result, AT_FDCWD, path, 0);
  unlock();
  errno = saved;
  return result;
}

int mkdirat(int dirfd, const char* path, mode_t mode) {
  ensure_initialized();
  lock();
  int result = real_mkdirat(dirfd, path, mode);
  int saved = errno;
  path_op(oplog_mkdir, result, dirfd, path, 0);
  unlock();
  errno = saved;
  return result;
}

int rmdir(const char* path) {
  ensure_initialized();
  lock();
  int result = real_rmdir(path);
  int saved = errno;
  path_op(oplog_rmdir, result, AT_FDCWD, path, 0);
  unlock();
  errno = saved;
  return result;
}
