#include <zsimem/error.hpp>
#include <zsimem/features.hpp>

#include <string>

namespace zsimem {
namespace {

// The one table of features: name and member.
constexpr std::pair<std::string_view, bool Features::*> k_features[] = {
    {"hooks", &Features::hooks},         {"read_audit", &Features::read_audit}, {"retention", &Features::retention},
    {"summaries", &Features::summaries}, {"versioning", &Features::versioning},
};

std::string known_names() {
  std::string names;
  for (const auto& [name, member] : k_features) {
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  return names;
}

} // namespace

std::vector<std::pair<std::string_view, bool>> feature_states(const Features& features) {
  std::vector<std::pair<std::string_view, bool>> states;
  for (const auto& [name, member] : k_features) {
    states.emplace_back(name, features.*member);
  }
  return states;
}

void apply_feature_settings(Features& features, std::string_view settings, std::string_view field) {
  Features changed = features;
  const auto bad = [&](const std::string& problem) {
    throw Error(ErrorCode::invalid, std::string(field) + ": " + problem, std::string(field));
  };
  std::size_t start = 0;
  while (start <= settings.size()) {
    const std::size_t comma = std::min(settings.find(',', start), settings.size());
    const std::string_view item = settings.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) {
      continue;
    }
    const auto equals = item.find('=');
    const std::string_view name = item.substr(0, equals);
    const std::string_view value = equals == std::string_view::npos ? std::string_view{} : item.substr(equals + 1);
    bool Features::*member = nullptr;
    for (const auto& [known, pointer] : k_features) {
      if (known == name) {
        member = pointer;
      }
    }
    if (member == nullptr) {
      bad("'" + std::string(name) + "' is not a feature (" + known_names() + ")");
    }
    if (value == "on" || value == "true" || value == "1") {
      changed.*member = true;
    } else if (value == "off" || value == "false" || value == "0") {
      changed.*member = false;
    } else {
      bad("'" + std::string(item) + "': give NAME=on or NAME=off");
    }
  }
  features = changed;
}

} // namespace zsimem
