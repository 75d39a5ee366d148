#include "render.hpp"

#include <algorithm>
#include <iostream>

namespace zsimem::cli {

void print_json(const Json& value) { std::cout << value.dump(2) << '\n'; }

std::string context_heading(const VersionRecord& record) {
  return record.user_id + " · " + record.ns + " · version " + version_string(record.version) + " · " +
         format_rfc3339(record.updated_at);
}

void print_context_text(const VersionRecord& record) {
  std::cout << context_heading(record) << '\n' << Json::parse(record.data).dump(2) << '\n';
}

void print_patch_text(const Json& patch) {
  if (patch.empty()) {
    std::cout << "(no changes)\n";
    return;
  }
  for (const auto& op : patch) {
    const std::string kind = op.value("op", "");
    const std::string path = op.value("path", "");
    if (kind == "add") {
      std::cout << "+ " << path << ": " << op["value"].dump() << '\n';
    } else if (kind == "remove") {
      std::cout << "- " << path << '\n';
    } else if (kind == "replace") {
      std::cout << "~ " << path << ": " << op["value"].dump() << '\n';
    } else {
      std::cout << "  " << op.dump() << '\n';
    }
  }
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
    }
    std::cout << line << '\n';
  }
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string joined;
  for (const auto& item : items) {
    joined += (joined.empty() ? "" : separator) + item;
  }
  return joined;
}

} // namespace zsimem::cli
