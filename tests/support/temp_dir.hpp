#pragma once

#include <filesystem>
#include <string>

namespace zsimem::testing {

// A fresh directory under the system temp dir, removed with its contents
// when the object goes out of scope. Every test works in its own.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
};

} // namespace zsimem::testing
