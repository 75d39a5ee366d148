#pragma once

#include <zsimem/codec.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace zsimem::testing {

// The versions of the default namespace in `zsimem export` output (JSON
// Lines, each context oldest first), as JSON objects.
inline std::vector<Json> default_namespace_versions(const std::string& exported) {
  std::vector<Json> versions;
  std::istringstream lines(exported);
  for (std::string line; std::getline(lines, line);) {
    Json version = Json::parse(line);
    if (version["namespace"] == "default") {
      versions.push_back(std::move(version));
    }
  }
  return versions;
}

} // namespace zsimem::testing
