#pragma once

// What the fuzz targets share: a failed invariant that libFuzzer reports as a
// crash, and a scratch directory on a RAM file system.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>

namespace zsimem::fuzz {

// Reports a broken invariant and stops, so that libFuzzer saves the input.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz invariant failed: %.*s\n", static_cast<int>(what.size()), what.data());
  if (!detail.empty()) {
    std::fprintf(stderr, "  %.*s\n", static_cast<int>(std::min<std::size_t>(detail.size(), 2000)), detail.data());
  }
  __builtin_trap();
}

inline void require(bool holds, std::string_view what, std::string_view detail = {}) {
  if (!holds) {
    fail(what, detail);
  }
}

// Writes `bytes` over `path` without fsync: inputs need no durability.
inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  require(fd >= 0, "the fixture's file can be written", path.string());
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    require(n > 0, "the fixture's file can be written", path.string());
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

inline std::string read_file(const std::filesystem::path& path) {
  std::string bytes;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  require(fd >= 0, "the fixture's file can be read", path.string());
  char buffer[8192];
  for (ssize_t n = 0; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return bytes;
}

// A directory of this process, removed at exit. On tmpfs when there is one
// (ZSIMEM_FUZZ_TMP, else /dev/shm), so that the stores' fsync calls cost
// nothing per input.
class ScratchDir {
public:
  ScratchDir() {
    namespace fs = std::filesystem;
    fs::path base;
    if (const char* chosen = std::getenv("ZSIMEM_FUZZ_TMP"); chosen != nullptr && *chosen != '\0') {
      base = chosen;
    } else if (std::error_code error; fs::is_directory("/dev/shm", error)) {
      base = "/dev/shm";
    } else {
      base = fs::temp_directory_path();
    }
    std::string pattern = (base / "zsimem-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    m_path = pattern;
  }
  ~ScratchDir() {
    std::error_code error;
    std::filesystem::remove_all(m_path, error);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
};

} // namespace zsimem::fuzz
