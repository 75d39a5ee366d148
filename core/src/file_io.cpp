#include "file_io.hpp"

#include <zsimem/error.hpp>
#include <zsimem/failpoint.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace zsimem::file_io {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t k_read_chunk = 64 * 1024;
constexpr int k_max_name_attempts = 100;

[[noreturn]] void fail(std::string_view what, const fs::path& path, int err) {
  throw Error(ErrorCode::unavailable,
              std::string(what) + " " + path.string() + ": " + std::generic_category().message(err));
}

// The directory that holds `path`; "." for a bare relative name.
fs::path parent_of(const fs::path& path) {
  fs::path parent = path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

void fsync_fd(int fd, const fs::path& path) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      fail("cannot fsync", path, errno);
    }
  }
}

// Removes a temp file on every way out unless it was moved into place.
class TempFileGuard {
public:
  explicit TempFileGuard(fs::path path) : m_path(std::move(path)) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    if (m_armed) {
      ::unlink(m_path.c_str());
    }
  }
  void dismiss() noexcept { m_armed = false; }

private:
  fs::path m_path;
  bool m_armed = true;
};

// Moves `from` to `to` unless `to` exists, where hard links are not supported.
bool rename_no_replace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return true;
  }
  if (errno == EEXIST) {
    return false;
  }
  fail("cannot move a temp file to", to, errno);
}

int flock_operation(LockMode mode) { return mode == LockMode::shared ? LOCK_SH : LOCK_EX; }

UniqueFd open_lock_file(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666));
  if (!fd) {
    fail("cannot open lock file", path, errno);
  }
  return fd;
}

} // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    reset(other.release());
  }
  return *this;
}

UniqueFd::~UniqueFd() { reset(); }

int UniqueFd::release() noexcept { return std::exchange(m_fd, -1); }

void UniqueFd::reset(int fd) noexcept {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
  m_fd = fd;
}

std::string unique_name(std::string_view prefix) {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t random = 0;
  // Random bits keep names apart across hosts sharing a filesystem; the pid
  // and counter alone would do on one host.
  if (::getrandom(&random, sizeof random, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof random)) {
    random = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  char suffix[80];
  std::snprintf(suffix, sizeof suffix, ".%ld.%llu.%016llx", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1, std::memory_order_relaxed)),
                static_cast<unsigned long long>(random));
  return std::string(prefix) + suffix;
}

std::optional<UniqueFd> open_for_reading(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    fail("cannot open", path, errno);
  }
  return fd;
}

std::optional<std::string> read_file_if_exists(const fs::path& path) {
  auto fd = open_for_reading(path);
  if (!fd) {
    return std::nullopt;
  }
  std::string contents;
  struct stat info {};
  if (::fstat(fd->get(), &info) == 0 && info.st_size > 0) {
    contents.reserve(static_cast<std::size_t>(info.st_size));
  }
  char buffer[k_read_chunk];
  for (;;) {
    ssize_t n = ::read(fd->get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("cannot read", path, errno);
    }
    if (n == 0) {
      break;
    }
    contents.append(buffer, static_cast<std::size_t>(n));
  }
  return contents;
}

std::string read_file(const fs::path& path) {
  auto contents = read_file_if_exists(path);
  if (!contents) {
    fail("cannot open", path, ENOENT);
  }
  return std::move(*contents);
}

std::string read_config_file(const fs::path& path, std::string_view what) {
  try {
    return read_file(path);
  } catch (const Error& error) {
    throw Error(ErrorCode::invalid, std::string(what) + " '" + path.string() + "': " + error.what());
  }
}

std::string read_at(int fd, std::uint64_t offset, std::size_t size, const fs::path& path) {
  std::string out(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("cannot read", path, errno);
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

std::uint64_t file_size(int fd, const fs::path& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    fail("cannot stat", path, errno);
  }
  return static_cast<std::uint64_t>(info.st_size);
}

void write_all(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("cannot write", path, errno);
    }
    if (n == 0) {
      fail("cannot write", path, EIO);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool write_file_atomic(const fs::path& path, std::string_view contents, const fs::path& temp_dir, WriteMode mode) {
  fs::path temp;
  UniqueFd fd;
  for (int attempt = 0; !fd; ++attempt) {
    temp = temp_dir / (unique_name(path.filename().string()) + ".tmp");
    fd.reset(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (!fd && (errno != EEXIST || attempt + 1 >= k_max_name_attempts)) {
      fail("cannot create temp file", temp, errno);
    }
  }
  TempFileGuard guard(temp);
  write_all(fd.get(), contents, temp);
  fsync_fd(fd.get(), temp);
  if (::close(fd.release()) != 0) {
    fail("cannot close", temp, errno);
  }
  failpoint::hit("file.before_publish");

  if (mode == WriteMode::replace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      fail("cannot move a temp file to", path, errno);
    }
    guard.dismiss();
  } else if (::link(temp.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) {
      return false;
    }
    // Some filesystems (vfat, some FUSE) have no hard links.
    if (errno != EPERM && errno != ENOTSUP && errno != ENOSYS) {
      fail("cannot link a temp file to", path, errno);
    }
    if (!rename_no_replace(temp, path)) {
      return false;
    }
    guard.dismiss();
  }
  failpoint::hit("file.after_publish");
  fsync_dir(parent_of(path));
  return true;
}

void fsync_dir(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    fail("cannot open directory", dir, errno);
  }
  while (::fsync(fd.get()) != 0) {
    if (errno == EINTR) {
      continue;
    }
    // Some filesystems cannot fsync a directory; their entries are as durable as they get.
    if (errno == EINVAL || errno == EROFS) {
      return;
    }
    fail("cannot fsync directory", dir, errno);
  }
}

bool create_directories(const fs::path& dir) {
  std::vector<fs::path> missing;
  for (fs::path current = dir; !current.empty(); current = current.parent_path()) {
    if (!current.has_filename()) {
      // A trailing slash: "a/b/" names the same directory as "a/b".
      if (current.parent_path() == current) {
        break;
      }
      continue;
    }
    struct stat info {};
    if (::stat(current.c_str(), &info) == 0) {
      if (!S_ISDIR(info.st_mode)) {
        fail("cannot create directory", current, ENOTDIR);
      }
      break;
    }
    if (errno != ENOENT) {
      fail("cannot stat", current, errno);
    }
    missing.push_back(current);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    // Another process may create it first; its parent is fsynced either way.
    if (::mkdir(it->c_str(), 0777) != 0 && errno != EEXIST) {
      fail("cannot create directory", *it, errno);
    }
    fsync_dir(parent_of(*it));
  }
  return !missing.empty();
}

std::optional<std::vector<std::string>> list_dir(const fs::path& dir) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return std::nullopt;
    }
    fail("cannot list directory", dir, errno);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(handle);
    if (entry == nullptr) {
      int err = errno;
      ::closedir(handle);
      if (err != 0) {
        fail("cannot list directory", dir, err);
      }
      return names;
    }
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") {
      names.emplace_back(name);
    }
  }
}

void remove_file(const fs::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    fail("cannot remove", path, errno);
  }
}

void remove_tree(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    throw Error(ErrorCode::unavailable, "cannot remove " + path.string() + ": " + error.message());
  }
}

FileLock::FileLock(const fs::path& path, LockMode mode) : m_owned(open_lock_file(path)) {
  m_fd = m_owned.get();
  while (::flock(m_fd, flock_operation(mode)) != 0) {
    if (errno != EINTR) {
      fail("cannot lock", path, errno);
    }
  }
}

FileLock::FileLock(int fd, LockMode mode, const fs::path& path) : m_fd(fd) {
  while (::flock(m_fd, flock_operation(mode)) != 0) {
    if (errno != EINTR) {
      m_fd = -1;
      fail("cannot lock", path, errno);
    }
  }
}

std::optional<FileLock> FileLock::try_lock(const fs::path& path, LockMode mode) {
  FileLock lock;
  lock.m_owned = open_lock_file(path);
  lock.m_fd = lock.m_owned.get();
  while (::flock(lock.m_fd, flock_operation(mode) | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      lock.m_fd = -1;
      return std::nullopt;
    }
    if (errno != EINTR) {
      lock.m_fd = -1;
      fail("cannot lock", path, errno);
    }
  }
  return lock;
}

FileLock::FileLock(FileLock&& other) noexcept
    : m_owned(std::move(other.m_owned)), m_fd(std::exchange(other.m_fd, -1)) {}

FileLock::~FileLock() {
  // Closing an owned descriptor releases its lock; a borrowed one stays open.
  if (m_fd >= 0 && !m_owned) {
    ::flock(m_fd, LOCK_UN);
  }
}

void discard_prefix(const fs::path& path, std::uint64_t length) {
  if (length == 0) {
    return;
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    fail("cannot open", path, errno);
  }
  const auto bytes = static_cast<off_t>(length);
  if (::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, bytes) != 0) {
    if (errno != EOPNOTSUPP && errno != ENOSYS) {
      fail("cannot free the start of", path, errno);
    }
    const std::string zeros(std::size_t{64} * 1024, '\0');
    for (std::uint64_t offset = 0; offset < length; offset += zeros.size()) {
      const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), length - offset));
      if (::lseek(fd.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
        fail("cannot seek in", path, errno);
      }
      write_all(fd.get(), std::string_view(zeros).substr(0, chunk), path);
    }
  }
  fsync_fd(fd.get(), path);
}

std::uint64_t data_start(int fd) {
  const off_t start = ::lseek(fd, 0, SEEK_DATA);
  return start > 0 ? static_cast<std::uint64_t>(start) : 0;
}

AppendFile::AppendFile(const fs::path& path)
    : m_fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666)), m_path(path) {
  if (!m_fd) {
    fail("cannot open", path, errno);
  }
}

void AppendFile::append(std::string_view data, bool sync_now) {
  write_all(m_fd.get(), data, m_path);
  if (sync_now) {
    sync();
  }
}

void AppendFile::sync() { fsync_fd(m_fd.get(), m_path); }

std::uint64_t AppendFile::size() const { return file_size(m_fd.get(), m_path); }

} // namespace zsimem::file_io
