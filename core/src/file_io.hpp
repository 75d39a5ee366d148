#pragma once

// Small POSIX file helpers for the file-based stores: whole-file reads,
// durable atomic writes, directory fsyncs, flock and append-only files.
// Every failure is Error{unavailable} naming the path and the system's reason.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zsimem::file_io {

// An owned file descriptor, closed on destruction.
class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : m_fd(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : m_fd(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const noexcept { return m_fd; }
  explicit operator bool() const noexcept { return m_fd >= 0; }
  // Gives up ownership without closing.
  int release() noexcept;
  // Closes the descriptor held, if any, and takes `fd`.
  void reset(int fd = -1) noexcept;

private:
  int m_fd = -1;
};

// A name no other writer of any process will pick: prefix, pid, a counter
// and random bits.
std::string unique_name(std::string_view prefix);

// Opens a file read-only; nullopt when it does not exist.
std::optional<UniqueFd> open_for_reading(const std::filesystem::path& path);

// The whole contents of a file.
std::string read_file(const std::filesystem::path& path);
// The whole contents of a configuration file; Error{invalid} naming it as
// `what` ("retention file") and saying why it cannot be read.
std::string read_config_file(const std::filesystem::path& path, std::string_view what);
// The whole contents of a file, or nullopt when it does not exist.
std::optional<std::string> read_file_if_exists(const std::filesystem::path& path);

// Up to `size` bytes at `offset` (fewer only at the end of the file).
// `path` only names the file in errors.
std::string read_at(int fd, std::uint64_t offset, std::size_t size, const std::filesystem::path& path);

// The size of an open file.
std::uint64_t file_size(int fd, const std::filesystem::path& path);

// Frees the first `length` bytes of a file, which then read as zero bytes,
// keeping the offsets of the rest: punches a hole where the filesystem can,
// else overwrites them with zeros; durable on return.
void discard_prefix(const std::filesystem::path& path, std::uint64_t length);

// Where the first data of an open file that discard_prefix left lies: the
// end of its hole, rounded down to a block (0 where the filesystem cannot
// tell). Reads may start there; what lies before is zeros.
std::uint64_t data_start(int fd);

// Writes all of `data`, retrying short writes and EINTR.
void write_all(int fd, std::string_view data, const std::filesystem::path& path);

// How write_file_atomic puts the new file in place.
enum class WriteMode {
  replace,    // rename over an existing file of that name
  create_new, // link to the final name, so an existing file is never replaced
};

// Writes `contents` to a temp file in `temp_dir` (on the same filesystem as
// `path`), fsyncs it, moves it to `path` and fsyncs the parent directory, so
// that a crash leaves the old state or the new one, never a partial file.
// Returns false, having changed nothing, when `mode` is create_new and
// `path` already exists.
bool write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                       const std::filesystem::path& temp_dir, WriteMode mode = WriteMode::replace);

// Flushes a directory's entries to disk, making creates, renames and
// unlinks in it durable.
void fsync_dir(const std::filesystem::path& dir);

// Creates `dir` and its missing parents, fsyncing the directory each one was
// created in. Returns whether anything was created.
bool create_directories(const std::filesystem::path& dir);

// Names of a directory's entries, without "." and ".."; nullopt when the
// directory does not exist.
std::optional<std::vector<std::string>> list_dir(const std::filesystem::path& dir);

// Removes a file or a whole directory tree; nothing when it does not exist.
void remove_tree(const std::filesystem::path& path);
// Removes one file; a file already gone is no error. The caller fsyncs the
// directory.
void remove_file(const std::filesystem::path& path);

enum class LockMode { shared, exclusive };

// An flock(2) held for the object's lifetime. Locks belong to an open file
// description, so each holder opens its own: two FileLocks on one path
// exclude each other even within one process.
class FileLock {
public:
  // Opens (creating it when missing) `path` and waits for the lock.
  FileLock(const std::filesystem::path& path, LockMode mode);
  // Locks an open file that must outlive this object; `path` names it in errors.
  FileLock(int fd, LockMode mode, const std::filesystem::path& path);
  // The lock on `path` if it can be taken without waiting.
  static std::optional<FileLock> try_lock(const std::filesystem::path& path, LockMode mode);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

private:
  FileLock() = default;

  UniqueFd m_owned; // set when this object opened the lock file
  int m_fd = -1;
};

// A file opened for appending (created when missing): every write lands at
// its end, whoever else appends. Readable too, so a writer can look at what
// is already there.
class AppendFile {
public:
  explicit AppendFile(const std::filesystem::path& path);

  // Writes all of `data` at the end of the file; fsyncs when `sync`.
  void append(std::string_view data, bool sync);
  void sync();
  std::uint64_t size() const;

  int fd() const noexcept { return m_fd.get(); }
  const std::filesystem::path& file_path() const noexcept { return m_path; }

private:
  UniqueFd m_fd;
  std::filesystem::path m_path;
};

} // namespace zsimem::file_io
