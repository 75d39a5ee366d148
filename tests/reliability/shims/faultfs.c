// faultfs: an LD_PRELOAD library that makes chosen file-system calls fail,
// for the I/O error tests (tests/reliability/test_io_errors.cpp).
//
// Only calls on paths under FAULTFS_ROOT are counted or failed; calls on a
// descriptor count when the descriptor was opened under the root (tracked
// through dup, dup2, dup3, fcntl F_DUPFD and close). Without FAULTFS_ROOT
// the library passes every call through.
//
// Kinds of calls, and the functions that belong to each:
//   open       open open64 openat openat64 creat creat64 opendir
//   read       read pread pread64 readv
//   write      write pwrite pwrite64 writev pwritev
//   fsync      fsync fdatasync
//   ftruncate  ftruncate ftruncate64 truncate truncate64
//   fallocate  fallocate fallocate64 posix_fallocate posix_fallocate64
//   rename     rename renameat renameat2
//   link       link linkat
//   unlink     unlink unlinkat (without AT_REMOVEDIR) remove
//   mkdir      mkdir mkdirat
//   rmdir      rmdir unlinkat (with AT_REMOVEDIR)
//
// Variables:
//   FAULTFS_ROOT        the directory whose calls are counted and failed
//   FAULTFS_KIND        the kind of call to fail, or "any" (the default)
//   FAULTFS_NTH         fail the Nth matching call (1 is the first); unset
//                       or 0: fail nothing, only count
//   FAULTFS_MODE        "once" (the default): only the Nth call fails;
//                       "forever": the Nth and every later matching call
//   FAULTFS_ERRNO       the error of a failed call: a name (EIO, the default,
//                       ENOSPC, EDQUOT, EROFS, ENOMEM, EACCES, EPERM, EINTR,
//                       EAGAIN, EBADF, EFBIG, ENAMETOOLONG) or a number
//   FAULTFS_COUNT_FILE  at exit, write "KIND COUNT" lines to this file: how
//                       many calls of each kind were made under the root,
//                       and "any" for all of them
//   FAULTFS_LOG         append "FUNCTION KIND INDEX PATH ERRNO" to this file
//                       for every call made to fail
//   FAULTFS_TRACE       append "FUNCTION KIND INDEX PATH" to this file for
//                       every call counted (for debugging a sweep)
//   FAULTFS_ARMED_IF    count and fail only while this file exists (so that
//                       a long-lived process can be armed and disarmed)
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind {
  k_open,
  k_read,
  k_write,
  k_fsync,
  k_ftruncate,
  k_fallocate,
  k_rename,
  k_link,
  k_unlink,
  k_mkdir,
  k_rmdir,
  k_kinds
};

static const char* const k_kind_names[k_kinds] = {"open",   "read", "write",  "fsync", "ftruncate", "fallocate",
                                                  "rename", "link", "unlink", "mkdir", "rmdir"};

// Descriptors above this are never attributed to the root.
#define k_max_tracked_fds 65536

struct config {
  char root[PATH_MAX];
  char real_root[PATH_MAX];
  int kind; // -1: any
  long nth;
  int forever;
  int error;
  const char* count_file;
  const char* log_file;
  const char* trace_file;
  const char* armed_if;
};

static struct config g_config = {.kind = -1, .error = EIO};
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static atomic_long g_counts[k_kinds];
static atomic_long g_any_count;
static pthread_mutex_t g_fds_mutex = PTHREAD_MUTEX_INITIALIZER;
// The path each tracked descriptor was opened with; null when untracked.
static char* g_fd_paths[k_max_tracked_fds];

static int (*real_open)(const char*, int, ...);
static int (*real_open64)(const char*, int, ...);
static int (*real_openat)(int, const char*, int, ...);
static int (*real_openat64)(int, const char*, int, ...);
static int (*real_creat)(const char*, mode_t);
static int (*real_creat64)(const char*, mode_t);
static DIR* (*real_opendir)(const char*);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);
static ssize_t (*real_read)(int, void*, size_t);
static ssize_t (*real_pread)(int, void*, size_t, off_t);
static ssize_t (*real_pread64)(int, void*, size_t, off64_t);
static ssize_t (*real_readv)(int, const struct iovec*, int);
static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void*, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static ssize_t (*real_pwritev)(int, const struct iovec*, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_truncate)(const char*, off_t);
static int (*real_truncate64)(const char*, off64_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fallocate64)(int, int, off64_t, off64_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_posix_fallocate64)(int, off64_t, off64_t);
static int (*real_rename)(const char*, const char*);
static int (*real_renameat)(int, const char*, int, const char*);
static int (*real_renameat2)(int, const char*, int, const char*, unsigned int);
static int (*real_link)(const char*, const char*);
static int (*real_linkat)(int, const char*, int, const char*, int);
static int (*real_unlink)(const char*);
static int (*real_unlinkat)(int, const char*, int);
static int (*real_remove)(const char*);
static int (*real_mkdir)(const char*, mode_t);
static int (*real_mkdirat)(int, const char*, mode_t);
static int (*real_rmdir)(const char*);

static int parse_errno(const char* text) {
  static const struct {
    const char* name;
    int value;
  } names[] = {{"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS},
               {"ENOMEM", ENOMEM}, {"EACCES", EACCES}, {"EPERM", EPERM},   {"EINTR", EINTR},
               {"EAGAIN", EAGAIN}, {"EBADF", EBADF},   {"EFBIG", EFBIG},   {"ENAMETOOLONG", ENAMETOOLONG}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
    if (strcmp(text, names[i].name) == 0) {
      return names[i].value;
    }
  }
  int value = atoi(text);
  return value > 0 ? value : EIO;
}

// A path without its trailing slashes, so that prefix checks see directory boundaries.
static void set_root(char* out, const char* path) {
  snprintf(out, PATH_MAX, "%s", path);
  size_t n = strlen(out);
  while (n > 1 && out[n - 1] == '/') {
    out[--n] = '\0';
  }
}

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

static void initialize(void) {
  RESOLVE(open);
  RESOLVE(open64);
  RESOLVE(openat);
  RESOLVE(openat64);
  RESOLVE(creat);
  RESOLVE(creat64);
  RESOLVE(opendir);
  RESOLVE(close);
  RESOLVE(dup);
  RESOLVE(dup2);
  RESOLVE(dup3);
  RESOLVE(fcntl);
  RESOLVE(fcntl64);
  RESOLVE(read);
  RESOLVE(pread);
  RESOLVE(pread64);
  RESOLVE(readv);
  RESOLVE(write);
  RESOLVE(pwrite);
  RESOLVE(pwrite64);
  RESOLVE(writev);
  RESOLVE(pwritev);
  RESOLVE(fsync);
  RESOLVE(fdatasync);
  RESOLVE(ftruncate);
  RESOLVE(ftruncate64);
  RESOLVE(truncate);
  RESOLVE(truncate64);
  RESOLVE(fallocate);
  RESOLVE(fallocate64);
  RESOLVE(posix_fallocate);
  RESOLVE(posix_fallocate64);
  RESOLVE(rename);
  RESOLVE(renameat);
  RESOLVE(renameat2);
  RESOLVE(link);
  RESOLVE(linkat);
  RESOLVE(unlink);
  RESOLVE(unlinkat);
  RESOLVE(remove);
  RESOLVE(mkdir);
  RESOLVE(mkdirat);
  RESOLVE(rmdir);

  const char* root = getenv("FAULTFS_ROOT");
  if (root != NULL && root[0] != '\0') {
    set_root(g_config.root, root);
    char resolved[PATH_MAX];
    set_root(g_config.real_root, realpath(root, resolved) != NULL ? resolved : g_config.root);
  }
  const char* kind = getenv("FAULTFS_KIND");
  if (kind != NULL && kind[0] != '\0' && strcmp(kind, "any") != 0) {
    g_config.kind = k_kinds; // an unknown kind matches nothing
    for (int i = 0; i < k_kinds; ++i) {
      if (strcmp(kind, k_kind_names[i]) == 0) {
        g_config.kind = i;
      }
    }
  }
  const char* nth = getenv("FAULTFS_NTH");
  g_config.nth = nth != NULL ? atol(nth) : 0;
  const char* mode = getenv("FAULTFS_MODE");
  g_config.forever = mode != NULL && strcmp(mode, "forever") == 0;
  const char* error = getenv("FAULTFS_ERRNO");
  if (error != NULL && error[0] != '\0') {
    g_config.error = parse_errno(error);
  }
  g_config.count_file = getenv("FAULTFS_COUNT_FILE");
  g_config.log_file = getenv("FAULTFS_LOG");
  g_config.trace_file = getenv("FAULTFS_TRACE");
  g_config.armed_if = getenv("FAULTFS_ARMED_IF");
}

static void ensure_initialized(void) { pthread_once(&g_once, initialize); }

static int has_prefix(const char* path, const char* root) {
  size_t n = strlen(root);
  return n > 0 && strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

// Writes `path` made absolute (relative to `dirfd`) into `out`; returns it
// when it lies under the root, else NULL.
static const char* under_root(int dirfd, const char* path, char* out) {
  ensure_initialized();
  if (g_config.root[0] == '\0' || path == NULL) {
    return NULL;
  }
  if (path[0] == '/') {
    snprintf(out, PATH_MAX, "%s", path);
  } else {
    char base[PATH_MAX];
    base[0] = '\0';
    if (dirfd == AT_FDCWD) {
      if (getcwd(base, sizeof base) == NULL) {
        return NULL;
      }
    } else {
      pthread_mutex_lock(&g_fds_mutex);
      if (dirfd >= 0 && dirfd < k_max_tracked_fds && g_fd_paths[dirfd] != NULL) {
        snprintf(base, sizeof base, "%s", g_fd_paths[dirfd]);
      }
      pthread_mutex_unlock(&g_fds_mutex);
      if (base[0] == '\0') {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof base - 1);
        if (n <= 0) {
          return NULL;
        }
        base[n] = '\0';
      }
    }
    snprintf(out, PATH_MAX, "%s/%s", base, path);
  }
  return has_prefix(out, g_config.root) || has_prefix(out, g_config.real_root) ? out : NULL;
}

// The path a descriptor was opened with, copied into `out`, when it is tracked.
static const char* fd_under_root(int fd, char* out) {
  ensure_initialized();
  const char* found = NULL;
  if (fd >= 0 && fd < k_max_tracked_fds) {
    pthread_mutex_lock(&g_fds_mutex);
    if (g_fd_paths[fd] != NULL) {
      snprintf(out, PATH_MAX, "%s", g_fd_paths[fd]);
      found = out;
    }
    pthread_mutex_unlock(&g_fds_mutex);
  }
  return found;
}

static void track(int fd, const char* path) {
  if (fd < 0 || fd >= k_max_tracked_fds) {
    return;
  }
  char* copy = path != NULL ? strdup(path) : NULL;
  pthread_mutex_lock(&g_fds_mutex);
  char* old = g_fd_paths[fd];
  g_fd_paths[fd] = copy;
  pthread_mutex_unlock(&g_fds_mutex);
  free(old);
}

static void track_copy(int from, int to) {
  char path[PATH_MAX];
  track(to, fd_under_root(from, path));
}

// Appends one line to a log file, with the real functions so that logging
// is never counted nor failed.
static void append_line(const char* file, const char* line) {
  int fd = real_open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) {
    return;
  }
  size_t size = strlen(line);
  ssize_t written = real_write(fd, line, size);
  (void)written;
  real_close(fd);
}

// Counts one call of `kind` on `path` (NULL: not under the root) and says
// whether it must fail; sets errno when it must.
static int must_fail(int kind, const char* function, const char* path) {
  if (path == NULL) {
    return 0;
  }
  if (g_config.armed_if != NULL && access(g_config.armed_if, F_OK) != 0) {
    return 0;
  }
  long any = atomic_fetch_add(&g_any_count, 1) + 1;
  long mine = atomic_fetch_add(&g_counts[kind], 1) + 1;
  long index = g_config.kind < 0 ? any : (g_config.kind == kind ? mine : 0);
  char line[PATH_MAX + 128];
  if (g_config.trace_file != NULL) {
    snprintf(line, sizeof line, "%s %s %ld %s\n", function, k_kind_names[kind], mine, path);
    append_line(g_config.trace_file, line);
  }
  if (index == 0 || g_config.nth <= 0 || index < g_config.nth || (index > g_config.nth && !g_config.forever)) {
    return 0;
  }
  if (g_config.log_file != NULL) {
    snprintf(line, sizeof line, "%s %s %ld %s %d\n", function, k_kind_names[kind], mine, path, g_config.error);
    append_line(g_config.log_file, line);
  }
  errno = g_config.error;
  return 1;
}

__attribute__((destructor)) static void write_counts(void) {
  ensure_initialized();
  if (g_config.count_file == NULL || g_config.root[0] == '\0') {
    return;
  }
  char text[1024];
  size_t used = 0;
  for (int i = 0; i < k_kinds && used < sizeof text; ++i) {
    used += (size_t)snprintf(text + used, sizeof text - used, "%s %ld\n", k_kind_names[i], atomic_load(&g_counts[i]));
  }
  if (used < sizeof text) {
    used += (size_t)snprintf(text + used, sizeof text - used, "any %ld\n", atomic_load(&g_any_count));
  }
  int fd = real_open(g_config.count_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd >= 0) {
    ssize_t written = real_write(fd, text, strlen(text));
    (void)written;
    real_close(fd);
  }
}

static mode_t mode_argument(int flags, va_list args) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(args, int) : 0;
}

#define OPEN_AT(function, real, dirfd, path, flags, mode)                                                              \
  do {                                                                                                                 \
    char absolute[PATH_MAX];                                                                                           \
    const char* tracked = under_root(dirfd, path, absolute);                                                           \
    if (must_fail(k_open, function, tracked)) {                                                                        \
      return -1;                                                                                                       \
    }                                                                                                                  \
    int fd = real;                                                                                                     \
    if (fd >= 0) {                                                                                                     \
      track(fd, tracked);                                                                                              \
    }                                                                                                                  \
    return fd;                                                                                                         \
  } while (0)

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_argument(flags, args);
  va_end(args);
  OPEN_AT("open", real_open(path, flags, mode), AT_FDCWD, path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_argument(flags, args);
  va_end(args);
  OPEN_AT("open64", real_open64(path, flags, mode), AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_argument(flags, args);
  va_end(args);
  OPEN_AT("openat", real_openat(dirfd, path, flags, mode), dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_argument(flags, args);
  va_end(args);
  OPEN_AT("openat64", real_openat64(dirfd, path, flags, mode), dirfd, path, flags, mode);
}

int creat(const char* path, mode_t mode) { OPEN_AT("creat", real_creat(path, mode), AT_FDCWD, path, 0, mode); }

int creat64(const char* path, mode_t mode) { OPEN_AT("creat64", real_creat64(path, mode), AT_FDCWD, path, 0, mode); }

DIR* opendir(const char* path) {
  char absolute[PATH_MAX];
  if (must_fail(k_open, "opendir", under_root(AT_FDCWD, path, absolute))) {
    return NULL;
  }
  return real_opendir(path);
}

int close(int fd) {
  ensure_initialized();
  track(fd, NULL);
  return real_close(fd);
}

int dup(int fd) {
  ensure_initialized();
  int copy = real_dup(fd);
  if (copy >= 0) {
    track_copy(fd, copy);
  }
  return copy;
}

int dup2(int fd, int target) {
  ensure_initialized();
  int copy = real_dup2(fd, target);
  if (copy >= 0 && copy != fd) {
    track_copy(fd, copy);
  }
  return copy;
}

int dup3(int fd, int target, int flags) {
  ensure_initialized();
  int copy = real_dup3(fd, target, flags);
  if (copy >= 0) {
    track_copy(fd, copy);
  }
  return copy;
}

// fcntl's third argument is an int or a pointer, by command; both travel in
// the same register, so it is passed on as a pointer.
#define FCNTL(real)                                                                                                    \
  do {                                                                                                                 \
    ensure_initialized();                                                                                              \
    va_list args;                                                                                                      \
    va_start(args, command);                                                                                           \
    void* argument = va_arg(args, void*);                                                                              \
    va_end(args);                                                                                                      \
    int result = real(fd, command, argument);                                                                          \
    if (result >= 0 && (command == F_DUPFD || command == F_DUPFD_CLOEXEC)) {                                           \
      track_copy(fd, result);                                                                                          \
    }                                                                                                                  \
    return result;                                                                                                     \
  } while (0)

int fcntl(int fd, int command, ...) { FCNTL(real_fcntl); }

int fcntl64(int fd, int command, ...) { FCNTL(real_fcntl64); }

#define ON_FD(kind, function, fd, failed, call)                                                                        \
  do {                                                                                                                 \
    char path[PATH_MAX];                                                                                               \
    if (must_fail(kind, function, fd_under_root(fd, path))) {                                                          \
      return failed;                                                                                                   \
    }                                                                                                                  \
    return call;                                                                                                       \
  } while (0)

ssize_t read(int fd, void* buffer, size_t size) { ON_FD(k_read, "read", fd, -1, real_read(fd, buffer, size)); }

ssize_t pread(int fd, void* buffer, size_t size, off_t offset) {
  ON_FD(k_read, "pread", fd, -1, real_pread(fd, buffer, size, offset));
}

ssize_t pread64(int fd, void* buffer, size_t size, off64_t offset) {
  ON_FD(k_read, "pread64", fd, -1, real_pread64(fd, buffer, size, offset));
}

ssize_t readv(int fd, const struct iovec* vector, int count) {
  ON_FD(k_read, "readv", fd, -1, real_readv(fd, vector, count));
}

ssize_t write(int fd, const void* buffer, size_t size) {
  ON_FD(k_write, "write", fd, -1, real_write(fd, buffer, size));
}

ssize_t pwrite(int fd, const void* buffer, size_t size, off_t offset) {
  ON_FD(k_write, "pwrite", fd, -1, real_pwrite(fd, buffer, size, offset));
}

ssize_t pwrite64(int fd, const void* buffer, size_t size, off64_t offset) {
  ON_FD(k_write, "pwrite64", fd, -1, real_pwrite64(fd, buffer, size, offset));
}

ssize_t writev(int fd, const struct iovec* vector, int count) {
  ON_FD(k_write, "writev", fd, -1, real_writev(fd, vector, count));
}

ssize_t pwritev(int fd, const struct iovec* vector, int count, off_t offset) {
  ON_FD(k_write, "pwritev", fd, -1, real_pwritev(fd, vector, count, offset));
}

int fsync(int fd) { ON_FD(k_fsync, "fsync", fd, -1, real_fsync(fd)); }

int fdatasync(int fd) { ON_FD(k_fsync, "fdatasync", fd, -1, real_fdatasync(fd)); }

int ftruncate(int fd, off_t length) { ON_FD(k_ftruncate, "ftruncate", fd, -1, real_ftruncate(fd, length)); }

int ftruncate64(int fd, off64_t length) { ON_FD(k_ftruncate, "ftruncate64", fd, -1, real_ftruncate64(fd, length)); }

int fallocate(int fd, int mode, off_t offset, off_t length) {
  ON_FD(k_fallocate, "fallocate", fd, -1, real_fallocate(fd, mode, offset, length));
}

int fallocate64(int fd, int mode, off64_t offset, off64_t length) {
  ON_FD(k_fallocate, "fallocate64", fd, -1, real_fallocate64(fd, mode, offset, length));
}

// posix_fallocate returns its error instead of setting errno.
int posix_fallocate(int fd, off_t offset, off_t length) {
  ON_FD(k_fallocate, "posix_fallocate", fd, g_config.error, real_posix_fallocate(fd, offset, length));
}

int posix_fallocate64(int fd, off64_t offset, off64_t length) {
  ON_FD(k_fallocate, "posix_fallocate64", fd, g_config.error, real_posix_fallocate64(fd, offset, length));
}

#define ON_PATH(kind, function, dirfd, path, call)                                                                     \
  do {                                                                                                                 \
    char absolute[PATH_MAX];                                                                                           \
    if (must_fail(kind, function, under_root(dirfd, path, absolute))) {                                                \
      return -1;                                                                                                       \
    }                                                                                                                  \
    return call;                                                                                                       \
  } while (0)

// Calls naming two paths count when either lies under the root.
#define ON_PATHS(kind, function, from_dirfd, from, to_dirfd, to, call)                                                 \
  do {                                                                                                                 \
    char absolute_from[PATH_MAX];                                                                                      \
    char absolute_to[PATH_MAX];                                                                                        \
    const char* tracked = under_root(from_dirfd, from, absolute_from);                                                 \
    if (tracked == NULL) {                                                                                             \
      tracked = under_root(to_dirfd, to, absolute_to);                                                                 \
    }                                                                                                                  \
    if (must_fail(kind, function, tracked)) {                                                                          \
      return -1;                                                                                                       \
    }                                                                                                                  \
    return call;                                                                                                       \
  } while (0)

int truncate(const char* path, off_t length) {
  ON_PATH(k_ftruncate, "truncate", AT_FDCWD, path, real_truncate(path, length));
}

int truncate64(const char* path, off64_t length) {
  ON_PATH(k_ftruncate, "truncate64", AT_FDCWD, path, real_truncate64(path, length));
}

int rename(const char* from, const char* to) {
  ON_PATHS(k_rename, "rename", AT_FDCWD, from, AT_FDCWD, to, real_rename(from, to));
}

int renameat(int from_dirfd, const char* from, int to_dirfd, const char* to) {
  ON_PATHS(k_rename, "renameat", from_dirfd, from, to_dirfd, to, real_renameat(from_dirfd, from, to_dirfd, to));
}

int renameat2(int from_dirfd, const char* from, int to_dirfd, const char* to, unsigned int flags) {
  ON_PATHS(k_rename, "renameat2", from_dirfd, from, to_dirfd, to,
           real_renameat2(from_dirfd, from, to_dirfd, to, flags));
}

int link(const char* from, const char* to) {
  ON_PATHS(k_link, "link", AT_FDCWD, from, AT_FDCWD, to, real_link(from, to));
}

int linkat(int from_dirfd, const char* from, int to_dirfd, const char* to, int flags) {
  ON_PATHS(k_link, "linkat", from_dirfd, from, to_dirfd, to, real_linkat(from_dirfd, from, to_dirfd, to, flags));
}

int unlink(const char* path) { ON_PATH(k_unlink, "unlink", AT_FDCWD, path, real_unlink(path)); }

int unlinkat(int dirfd, const char* path, int flags) {
  ON_PATH((flags & AT_REMOVEDIR) != 0 ? k_rmdir : k_unlink, "unlinkat", dirfd, path, real_unlinkat(dirfd, path, flags));
}

int remove(const char* path) { ON_PATH(k_unlink, "remove", AT_FDCWD, path, real_remove(path)); }

int mkdir(const char* path, mode_t mode) { ON_PATH(k_mkdir, "mkdir", AT_FDCWD, path, real_mkdir(path, mode)); }

int mkdirat(int dirfd, const char* path, mode_t mode) {
  ON_PATH(k_mkdir, "mkdirat", dirfd, path, real_mkdirat(dirfd, path, mode));
}

int rmdir(const char* path) { ON_PATH(k_rmdir, "rmdir", AT_FDCWD, path, real_rmdir(path)); }
