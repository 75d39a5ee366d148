#include "crypto.hpp"
#include "file_io.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hooks.hpp>
#include <zsimem/validate.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>

namespace zsimem {
namespace {

[[noreturn]] void bad(std::string_view source, const std::string& where, const std::string& problem) {
  throw Error(ErrorCode::invalid, std::string(source) + ": " + where + ": " + problem, where);
}

std::string string_member(std::string_view source, const std::string& where, const Json& value) {
  if (!value.is_string() || value.get<std::string>().empty()) {
    bad(source, where, "must be a non-empty string");
  }
  return value.get<std::string>();
}

std::string read_secret_file(std::string_view source, const std::string& where, const std::filesystem::path& path) {
  std::string secret;
  try {
    secret = file_io::read_config_file(path, "secret file");
  } catch (const Error& error) {
    bad(source, where, error.what());
  }
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
    secret.pop_back();
  }
  return secret;
}

HookSpec hook_of(std::string_view source, const std::string& where, const Json& json,
                 const std::filesystem::path& base_dir) {
  if (!json.is_object()) {
    bad(source, where, "must be an object");
  }
  HookSpec spec;
  const auto member = [&](const char* name) -> const Json* {
    const auto it = json.find(name);
    return it == json.end() ? nullptr : &*it;
  };
  const auto required = [&](const char* name) -> const Json& {
    const Json* value = member(name);
    if (value == nullptr) {
      bad(source, where + "." + name, "is required for a " + std::string(to_string(spec.kind)) + " hook");
    }
    return *value;
  };
  const std::string kind = member("type") != nullptr ? string_member(source, where + ".type", *member("type")) : "";
  constexpr HookKind k_kinds[] = {HookKind::program, HookKind::webhook, HookKind::trend, HookKind::goal};
  const auto* known = std::find_if(std::begin(k_kinds), std::end(k_kinds),
                                   [&](HookKind candidate) { return to_string(candidate) == kind; });
  if (known == std::end(k_kinds)) {
    bad(source, where + ".type", "must be program, webhook, trend or goal");
  }
  spec.kind = *known;
  static const std::set<std::string> k_common{"name", "type", "namespaces", "write_back", "timeout_ms"};
  static const std::map<HookKind, std::set<std::string>> k_own{
      {HookKind::program, {"command"}},
      {HookKind::webhook, {"url", "secret_env", "secret_file"}},
      {HookKind::trend, {"field", "window", "threshold"}},
      {HookKind::goal, {"field", "target"}}};
  for (const auto& [name, value] : json.items()) {
    if (!k_common.contains(name) && !k_own.at(spec.kind).contains(name)) {
      bad(source, where + "." + name, "is not a setting of a " + kind + " hook");
    }
  }
  if (const Json* namespaces = member("namespaces")) {
    if (!namespaces->is_array()) {
      bad(source, where + ".namespaces", "must be a list of namespaces");
    }
    for (const auto& ns : *namespaces) {
      spec.namespaces.push_back(string_member(source, where + ".namespaces", ns));
      try {
        validate_namespace(spec.namespaces.back(), "namespaces");
      } catch (const Error& error) {
        bad(source, where + ".namespaces", error.what());
      }
    }
  }
  if (const Json* write_back = member("write_back")) {
    spec.write_back = string_member(source, where + ".write_back", *write_back);
    try {
      validate_namespace(spec.write_back, "write_back");
    } catch (const Error& error) {
      bad(source, where + ".write_back", error.what());
    }
    if (std::find(spec.namespaces.begin(), spec.namespaces.end(), spec.write_back) != spec.namespaces.end()) {
      bad(source, where + ".write_back", "a hook cannot receive the versions it writes (a loop)");
    }
  }
  if (const Json* timeout = member("timeout_ms")) {
    if (!timeout->is_number_unsigned() || timeout->get<std::uint64_t>() == 0 ||
        timeout->get<std::uint64_t>() > 600'000) {
      bad(source, where + ".timeout_ms", "must be a whole number of milliseconds, 1 to 600000");
    }
    spec.timeout = std::chrono::milliseconds(timeout->get<std::int64_t>());
  }
  switch (spec.kind) {
  case HookKind::program: {
    const Json& command = required("command");
    if (!command.is_array() || command.empty()) {
      bad(source, where + ".command", "must be a list: the program and its arguments");
    }
    for (const auto& arg : command) {
      if (!arg.is_string()) {
        bad(source, where + ".command", "must be a list of strings");
      }
      spec.command.push_back(arg.get<std::string>());
    }
    break;
  }
  case HookKind::webhook: {
    spec.url = string_member(source, where + ".url", required("url"));
    if (!spec.url.starts_with("http://") && !spec.url.starts_with("https://")) {
      bad(source, where + ".url", "must be an http:// or https:// URL");
    }
    const Json* env = member("secret_env");
    const Json* file = member("secret_file");
    if ((env == nullptr) == (file == nullptr)) {
      bad(source, where + ".secret_env", "give the signing secret as one of secret_env or secret_file");
    }
    if (env != nullptr) {
      const std::string name = string_member(source, where + ".secret_env", *env);
      const char* value = std::getenv(name.c_str());
      if (value == nullptr || *value == '\0') {
        bad(source, where + ".secret_env", "the environment variable " + name + " is not set");
      }
      spec.secret = value;
    } else {
      const std::filesystem::path path = string_member(source, where + ".secret_file", *file);
      spec.secret = read_secret_file(source, where + ".secret_file", path.is_absolute() ? path : base_dir / path);
    }
    if (spec.secret.size() < 16) {
      bad(source, where + ".secret_env", "the signing secret is shorter than 16 bytes");
    }
    break;
  }
  case HookKind::trend:
  case HookKind::goal: {
    spec.field = string_member(source, where + ".field", required("field"));
    try {
      if (!spec.field.starts_with('/')) {
        throw std::invalid_argument("no leading slash");
      }
      Json::json_pointer{spec.field};
    } catch (const std::exception&) {
      bad(source, where + ".field", "must be a JSON pointer such as /weight");
    }
    if (spec.write_back.empty()) {
      bad(source, where + ".write_back", "is required: where the " + kind + " hook writes what it finds");
    }
    if (spec.kind == HookKind::trend) {
      if (const Json* window = member("window")) {
        if (!window->is_number_unsigned() || window->get<std::uint64_t>() < 2 || window->get<std::uint64_t>() > 1000) {
          bad(source, where + ".window", "must be a whole number of samples, 2 to 1000");
        }
        spec.window = window->get<std::size_t>();
      }
      if (const Json* threshold = member("threshold")) {
        if (!threshold->is_number()) {
          bad(source, where + ".threshold", "must be a number");
        }
        spec.threshold = threshold->get<double>();
      }
    } else {
      const Json& target = required("target");
      if (!target.is_number()) {
        bad(source, where + ".target", "must be a number");
      }
      spec.target = target.get<double>();
    }
    break;
  }
  }
  // Required, and checked last, so that a hook's own settings are judged
  // first: its cursors are kept under its name, which must not move when
  // hooks are reordered (docs/hooks.md).
  const Json* name = member("name");
  if (name == nullptr) {
    bad(source, where + ".name", "is required: the hook's progress is kept under its name");
  }
  spec.name = string_member(source, where + ".name", *name);
  if (!is_valid_name(spec.name)) {
    bad(source, where + ".name",
        "must be a name like a namespace's: letters, digits and . _ - @ + = : ~, from a letter or digit");
  }
  return spec;
}

std::string hex_of(const crypto::Mac& mac) { return crypto::to_hex(mac); }

std::string field_name(std::string_view pointer) {
  // "/steps/daily" -> "steps/daily": the key an answer files the field under.
  return std::string(pointer.substr(1));
}

} // namespace

std::string_view to_string(HookKind kind) {
  switch (kind) {
  case HookKind::program: return "program";
  case HookKind::webhook: return "webhook";
  case HookKind::trend: return "trend";
  case HookKind::goal: return "goal";
  }
  return "program";
}

bool HookSpec::receives(std::string_view ns, std::span<const HookSpec> all) const {
  if (!namespaces.empty()) {
    return std::find(namespaces.begin(), namespaces.end(), ns) != namespaces.end();
  }
  // Every namespace but those hooks write to: no hook feeds on answers.
  return std::none_of(all.begin(), all.end(), [&](const HookSpec& hook) { return hook.write_back == ns; });
}

HooksConfig HooksConfig::parse(std::string_view text, std::string_view source, const std::filesystem::path& base_dir) {
  const Json json = Json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    throw Error(ErrorCode::invalid, std::string(source) + ": not a JSON object (docs/hooks.md)");
  }
  HooksConfig config;
  std::set<std::string> names;
  for (const auto& [name, value] : json.items()) {
    if (name == "hooks") {
      if (!value.is_array()) {
        bad(source, "hooks", "must be a list of hooks");
      }
      for (std::size_t i = 0; i < value.size(); ++i) {
        config.hooks.push_back(hook_of(source, "hooks[" + std::to_string(i) + "]", value[i], base_dir));
        if (!names.insert(config.hooks.back().name).second) {
          bad(source, "hooks[" + std::to_string(i) + "].name", "'" + config.hooks.back().name + "' is taken");
        }
      }
    } else if (name == "max_attempts") {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() < 1 || value.get<std::uint64_t>() > 1000) {
        bad(source, "max_attempts", "must be a whole number, 1 to 1000");
      }
      config.max_attempts = value.get<int>();
    } else {
      bad(source, name, "is not a section (hooks, max_attempts)");
    }
  }
  return config;
}

HooksConfig HooksConfig::load(const std::filesystem::path& path) {
  return parse(file_io::read_config_file(path, "hooks file"), "hooks file '" + path.string() + "'", path.parent_path());
}

std::string hook_event_json(const VersionRecord& record) {
  // The stored data and delta are canonical JSON already: spliced in after
  // a check, not parsed and dumped again (every version of every hooked
  // context passes here). Members in the order dump() gives them.
  const std::string_view delta = record.delta.empty() ? std::string_view("{}") : std::string_view(record.delta);
  check_stored_json(record, "data", record.data);
  check_stored_json(record, "delta", delta);
  std::string text;
  text.reserve(record.data.size() + delta.size() + 256);
  text += R"({"data":)";
  text += record.data;
  text += R"(,"delta":)";
  text += delta;
  text += R"(,"namespace":)";
  text += Json(record.ns).dump();
  text += R"(,"previous_version":)";
  text += record.version > 1 ? "\"" + version_string(record.version - 1) + "\"" : std::string("null");
  text += R"(,"request_id":)";
  text += Json(record.request_id).dump();
  text += R"(,"tags":)";
  text += Json(record.tags).dump();
  append_version_stamp(text, record);
  return text;
}

std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body) {
  const std::string stamp = std::to_string(unix_seconds);
  return "t=" + stamp + ",v1=" + hex_of(crypto::hmac_sha256(secret, stamp + "." + std::string(body)));
}

bool verify_webhook_signature(std::string_view secret, std::string_view header, std::string_view body,
                              std::int64_t now_seconds, std::chrono::seconds tolerance) {
  if (!header.starts_with("t=")) {
    return false;
  }
  const auto comma = header.find(",v1=");
  if (comma == std::string_view::npos) {
    return false;
  }
  const std::string_view stamp = header.substr(2, comma - 2);
  std::int64_t seconds = 0;
  const auto [end, error] = std::from_chars(stamp.data(), stamp.data() + stamp.size(), seconds);
  if (error != std::errc{} || end != stamp.data() + stamp.size() ||
      std::llabs(now_seconds - seconds) > tolerance.count()) {
    return false;
  }
  return crypto::equal_in_constant_time(webhook_signature(secret, seconds, body), header);
}

std::optional<std::string> trend_insight(const HookSpec& spec, std::span<const double> values, std::uint64_t version) {
  const std::size_t n = spec.window;
  if (n < 2 || values.size() < n + 1) {
    return std::nullopt;
  }
  const auto average = [&](std::size_t end) {
    return std::accumulate(values.begin() + static_cast<std::ptrdiff_t>(end - n),
                           values.begin() + static_cast<std::ptrdiff_t>(end), 0.0) /
           static_cast<double>(n);
  };
  const double now = average(values.size());
  const double before = average(values.size() - 1);
  const auto direction = [](double change) { return change > 0 ? "up" : change < 0 ? "down" : "flat"; };
  const char* heading = direction(now - before);
  Json finding{{"moving_average", now}, {"window", n}, {"direction", heading}, {"version", version_string(version)}};
  bool news = false;
  if (spec.threshold && (before < *spec.threshold) != (now < *spec.threshold)) {
    finding["crossed"] = now < *spec.threshold ? "below" : "above";
    finding["threshold"] = *spec.threshold;
    news = true;
  }
  // A turn: the previous step went the other way (flat steps are no turn).
  if (values.size() >= n + 2) {
    const double earlier = average(values.size() - 2);
    const std::string was = direction(before - earlier);
    if (was != "flat" && std::string(heading) != "flat" && was != heading) {
      finding["turned"] = std::string(heading);
      news = true;
    }
  }
  if (!news) {
    return std::nullopt;
  }
  return Json{{"trends", {{field_name(spec.field), finding}}}}.dump();
}

std::string goal_insight(const HookSpec& spec, double start, double current, std::uint64_t version) {
  const double progress = spec.target == start ? 1.0 : (current - start) / (spec.target - start);
  const bool reached = spec.target >= start ? current >= spec.target : current <= spec.target;
  return Json{{"goals",
               {{field_name(spec.field),
                 {{"target", spec.target},
                  {"start", start},
                  {"current", current},
                  {"progress", progress},
                  {"reached", reached},
                  {"version", version_string(version)}}}}}}
      .dump();
}

} // namespace zsimem
