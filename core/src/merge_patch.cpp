#include <zsimem/merge_patch.hpp>

#include <algorithm>

namespace zsimem {
namespace {

// RFC 6901 escaping of one reference token.
std::string escape_token(const std::string& token) {
  std::string escaped;
  for (const char c : token) {
    if (c == '~') {
      escaped += "~0";
    } else if (c == '/') {
      escaped += "~1";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

void collect_paths(const Json& patch, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [key, value] : patch.items()) {
    const std::string path = prefix + "/" + escape_token(key);
    if (value.is_object() && !value.empty()) {
      collect_paths(value, path, out);
    } else {
      out.push_back(path);
    }
  }
}

} // namespace

void apply_merge_patch(Json& target, const Json& patch) { target.merge_patch(patch); }

Json create_merge_patch(const Json& from, const Json& to) {
  if (!from.is_object() || !to.is_object()) {
    return to;
  }
  Json patch = Json::object();
  for (const auto& [key, value] : from.items()) {
    if (!to.contains(key)) {
      patch[key] = nullptr;
    }
  }
  for (const auto& [key, value] : to.items()) {
    const auto it = from.find(key);
    if (it == from.end()) {
      patch[key] = value;
    } else if (*it != value) {
      // Objects recurse; that also empties an object by nulling each member,
      // which a bare {} (a no-op patch) could not.
      patch[key] = value.is_object() && it->is_object() ? create_merge_patch(*it, value) : value;
    }
  }
  return patch;
}

std::vector<std::string> touched_paths(const Json& patch) {
  std::vector<std::string> paths;
  if (patch.is_object()) {
    collect_paths(patch, "", paths);
  } else {
    paths.emplace_back("");
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

bool paths_overlap(std::string_view a, std::string_view b) {
  const auto contains = [](std::string_view outer, std::string_view inner) {
    return inner.starts_with(outer) && (inner.size() == outer.size() || inner[outer.size()] == '/');
  };
  return contains(a, b) || contains(b, a);
}

std::vector<std::string> overlapping_paths(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> result;
  for (const auto& left : a) {
    for (const auto& right : b) {
      if (paths_overlap(left, right)) {
        result.push_back(left.size() <= right.size() ? left : right);
      }
    }
  }
  std::sort(result.begin(), result.end());
  result.erase(std::unique(result.begin(), result.end()), result.end());
  return result;
}

std::size_t json_depth(const Json& value) {
  if (!value.is_structured()) {
    return 0;
  }
  std::size_t deepest = 0;
  for (const auto& child : value) {
    deepest = std::max(deepest, json_depth(child));
  }
  return deepest + 1;
}

} // namespace zsimem
