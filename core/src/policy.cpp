#include "file_io.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/policy.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <utility>

namespace zsimem {

namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {

constexpr std::array<std::string_view, k_operation_count> k_operation_names{"read",   "write", "history", "rollback",
                                                                            "delete", "audit", "admin"};

// `*` matches any run of characters, anything else itself.
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

[[noreturn]] void bad(const std::string& origin, const std::string& field, const std::string& problem) {
  throw Error(ErrorCode::invalid, "policy " + origin + ": " + (field.empty() ? "the document" : field) + " " + problem,
              field);
}

void check_keys(const Json& object, std::initializer_list<std::string_view> allowed, const std::string& origin,
                const std::string& field) {
  if (!object.is_object()) {
    bad(origin, field, "must be an object");
  }
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      bad(origin, field.empty() ? key : field + "." + key, "is not a known setting");
    }
  }
}

std::string text_of(const Json& value, const std::string& origin, const std::string& field) {
  if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
    bad(origin, field, "must be a non-empty string");
  }
  return value.get<std::string>();
}

// A string or an array of strings.
std::vector<std::string> texts_of(const Json& value, const std::string& origin, const std::string& field) {
  if (value.is_string()) {
    return {text_of(value, origin, field)};
  }
  if (!value.is_array() || value.empty()) {
    bad(origin, field, "must be a string or a non-empty array of strings");
  }
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < value.size(); ++i) {
    texts.push_back(text_of(value[i], origin, field + "[" + std::to_string(i) + "]"));
  }
  return texts;
}

std::map<std::string, std::string, std::less<>> attributes_of(const Json& value, const std::string& origin,
                                                              const std::string& field) {
  if (!value.is_object()) {
    bad(origin, field, "must be an object of strings");
  }
  std::map<std::string, std::string, std::less<>> attributes;
  for (const auto& [name, text] : value.items()) {
    if (name == "sub") {
      bad(origin, field + ".sub", "cannot be set: it is the subject's id");
    }
    attributes[name] = text_of(text, origin, field + "." + name);
  }
  return attributes;
}

std::string join(const std::vector<std::string>& texts, std::string_view separator) {
  std::string joined;
  for (const auto& text : texts) {
    if (!joined.empty()) {
      joined += separator;
    }
    joined += text;
  }
  return joined;
}

std::string describe(Resource resource) {
  if (resource.user_id.empty()) {
    return "every user";
  }
  return std::string(resource.user_id) + "/" + (resource.ns.empty() ? "*" : std::string(resource.ns));
}

} // namespace

std::string_view to_string(Operation operation) { return k_operation_names[static_cast<std::size_t>(operation)]; }

std::optional<Operation> parse_operation(std::string_view name) {
  for (std::size_t i = 0; i < k_operation_count; ++i) {
    if (k_operation_names[i] == name) {
      return static_cast<Operation>(i);
    }
  }
  return std::nullopt;
}

struct Policy::Condition {
  struct Operand {
    enum class Source { subject, resource_user, resource_ns } source = Source::subject;
    std::string attribute; // with Source::subject
    std::string text;      // as written, for explanations
  };
  enum class Kind { equal, not_equal, prefix } kind = Kind::equal;
  Operand left;
  Operand right;
};

struct Policy::Rule {
  bool allow = true;
  std::array<bool, k_operation_count> operations{};
  std::vector<std::string> users;      // patterns
  std::vector<std::string> namespaces; // patterns
  std::vector<Condition> when;
  std::string text; // the rule in words, for explanations
};

struct Policy::Role {
  std::string name;
  std::vector<Rule> rules;
};

struct Policy::SubjectEntry {
  std::string id;
  std::vector<std::size_t> roles;
  std::map<std::string, std::string, std::less<>> attributes;
};

namespace {

using Operand = Policy::Condition::Operand;
using Source = Operand::Source;

Operand operand_of(const Json& value, const std::string& origin, const std::string& field) {
  const std::string text = text_of(value, origin, field);
  Operand operand;
  operand.text = text;
  if (text == "resource.user_id") {
    operand.source = Source::resource_user;
  } else if (text == "resource.namespace") {
    operand.source = Source::resource_ns;
  } else if (text.starts_with("subject.") && text.size() > 8) {
    operand.source = Source::subject;
    operand.attribute = text.substr(8);
  } else {
    bad(origin, field,
        "must be resource.user_id, resource.namespace or subject.NAME (a claim or attribute), not \"" + text + "\"");
  }
  return operand;
}

Policy::Condition condition_of(const Json& value, const std::string& origin, const std::string& field) {
  if (!value.is_object() || value.size() != 1) {
    bad(origin, field, R"(must be an object with one test: {"equal": [A, B]}, {"not_equal": …} or {"prefix": …})");
  }
  // The test's name and operands, copied: items() is a temporary view.
  const std::string name = value.begin().key();
  const Json operands = value.begin().value();
  Policy::Condition condition;
  if (name == "equal") {
    condition.kind = Policy::Condition::Kind::equal;
  } else if (name == "not_equal") {
    condition.kind = Policy::Condition::Kind::not_equal;
  } else if (name == "prefix") {
    condition.kind = Policy::Condition::Kind::prefix;
  } else {
    bad(origin, field + "." + name, "is not a test (equal, not_equal or prefix)");
  }
  const std::string operands_field = field + "." + name;
  if (!operands.is_array() || operands.size() != 2) {
    bad(origin, operands_field, "must be an array of two operands");
  }
  condition.left = operand_of(operands[0], origin, operands_field + "[0]");
  condition.right = operand_of(operands[1], origin, operands_field + "[1]");
  return condition;
}

std::string_view test_words(Policy::Condition::Kind kind) {
  switch (kind) {
  case Policy::Condition::Kind::equal: return "equals";
  case Policy::Condition::Kind::not_equal: return "differs from";
  case Policy::Condition::Kind::prefix: return "starts with";
  }
  return "equals";
}

Policy::Rule rule_of(const Json& value, const std::string& origin, const std::string& field) {
  check_keys(value, {"allow", "deny", "users", "namespaces", "when"}, origin, field);
  if (value.contains("allow") == value.contains("deny")) {
    bad(origin, field, "must have either \"allow\" or \"deny\" (a list of operations)");
  }
  Policy::Rule rule;
  rule.allow = value.contains("allow");
  const std::string verb = rule.allow ? "allow" : "deny";
  const auto operations = texts_of(value[verb], origin, field + "." + verb);
  for (std::size_t i = 0; i < operations.size(); ++i) {
    if (operations[i] == "*") {
      rule.operations.fill(true);
    } else if (const auto operation = parse_operation(operations[i])) {
      rule.operations[static_cast<std::size_t>(*operation)] = true;
    } else {
      bad(origin, field + "." + verb + "[" + std::to_string(i) + "]",
          "is not an operation (read, write, history, rollback, delete, audit, admin or *): \"" + operations[i] + "\"");
    }
  }
  rule.users = value.contains("users") ? texts_of(value["users"], origin, field + ".users") : std::vector{"*"s};
  rule.namespaces =
      value.contains("namespaces") ? texts_of(value["namespaces"], origin, field + ".namespaces") : std::vector{"*"s};
  if (value.contains("when")) {
    const Json& when = value["when"];
    if (!when.is_array()) {
      bad(origin, field + ".when", "must be an array of conditions");
    }
    for (std::size_t i = 0; i < when.size(); ++i) {
      rule.when.push_back(condition_of(when[i], origin, field + ".when[" + std::to_string(i) + "]"));
    }
  }
  rule.text = verb + " " + join(operations, ", ");
  if (rule.users != std::vector{"*"s}) {
    rule.text += " on users " + join(rule.users, ", ");
  }
  if (rule.namespaces != std::vector{"*"s}) {
    rule.text += " in namespaces " + join(rule.namespaces, ", ");
  }
  for (std::size_t i = 0; i < rule.when.size(); ++i) {
    const auto& condition = rule.when[i];
    rule.text += (i == 0 ? " when " : " and ") + condition.left.text + " " + std::string(test_words(condition.kind)) +
                 " " + condition.right.text;
  }
  return rule;
}

std::string secret_from(const Json& jwt, std::string_view file_key, std::string_view env_key, const std::string& origin,
                        const fs::path& base_dir) {
  if (jwt.contains(file_key) && jwt.contains(env_key)) {
    bad(origin, "jwt." + std::string(file_key), "and jwt." + std::string(env_key) + " cannot both be set");
  }
  if (jwt.contains(file_key)) {
    const fs::path path = base_dir / text_of(jwt[file_key], origin, "jwt." + std::string(file_key));
    try {
      return file_io::read_file(path);
    } catch (const Error& error) {
      bad(origin, "jwt." + std::string(file_key), std::string("names a file that cannot be read: ") + error.what());
    }
  }
  if (jwt.contains(env_key)) {
    const std::string name = text_of(jwt[env_key], origin, "jwt." + std::string(env_key));
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || *value == '\0') {
      bad(origin, "jwt." + std::string(env_key), "names the environment variable " + name + ", which is not set");
    }
    return value;
  }
  return {};
}

} // namespace

Policy::Policy() = default;
Policy::~Policy() = default;
Policy::Policy(Policy&&) noexcept = default;
Policy& Policy::operator=(Policy&&) noexcept = default;

Policy Policy::parse(std::string_view text, const std::string& origin, const fs::path& base_dir) {
  Json document;
  try {
    document = parse_json(text, "policy");
  } catch (const Error& error) {
    throw Error(ErrorCode::invalid, "policy " + origin + ": " + error.what(), "policy");
  }
  check_keys(document, {"version", "roles", "default_roles", "subjects", "tokens", "jwt"}, origin, "");
  if (document.contains("version") && document["version"] != 1) {
    bad(origin, "version", "must be 1, the only version of the format");
  }
  Policy policy;
  if (!document.contains("roles") || !document["roles"].is_object() || document["roles"].empty()) {
    bad(origin, "roles", "must be an object of at least one role, each a list of rules");
  }
  for (const auto& [name, rules] : document["roles"].items()) {
    const std::string field = "roles." + name;
    if (!rules.is_array() || rules.empty()) {
      bad(origin, field, "must be a non-empty list of rules");
    }
    Role role{name, {}};
    for (std::size_t i = 0; i < rules.size(); ++i) {
      role.rules.push_back(rule_of(rules[i], origin, field + "[" + std::to_string(i) + "]"));
    }
    policy.m_roles.push_back(std::move(role));
  }
  const auto role_indexes = [&](const Json& value, const std::string& field) {
    std::vector<std::size_t> indexes;
    const auto names = texts_of(value, origin, field);
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto found = std::find_if(policy.m_roles.begin(), policy.m_roles.end(),
                                      [&](const Role& role) { return role.name == names[i]; });
      if (found == policy.m_roles.end()) {
        bad(origin, field + "[" + std::to_string(i) + "]", "names no role of \"roles\": \"" + names[i] + "\"");
      }
      indexes.push_back(static_cast<std::size_t>(found - policy.m_roles.begin()));
    }
    return indexes;
  };
  if (document.contains("default_roles")) {
    policy.m_default_roles = role_indexes(document["default_roles"], "default_roles");
  }
  if (document.contains("subjects")) {
    const Json& subjects = document["subjects"];
    if (!subjects.is_object()) {
      bad(origin, "subjects", "must be an object of subjects by id");
    }
    for (const auto& [id, entry] : subjects.items()) {
      const std::string field = "subjects." + id;
      check_keys(entry, {"roles", "attributes"}, origin, field);
      SubjectEntry subject{id, {}, {}};
      if (entry.contains("roles")) {
        subject.roles = role_indexes(entry["roles"], field + ".roles");
      }
      if (entry.contains("attributes")) {
        subject.attributes = attributes_of(entry["attributes"], origin, field + ".attributes");
      }
      policy.m_subjects.push_back(std::move(subject));
    }
  }
  if (document.contains("tokens")) {
    const Json& tokens = document["tokens"];
    if (!tokens.is_array()) {
      bad(origin, "tokens", "must be an array of API tokens");
    }
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const std::string field = "tokens[" + std::to_string(i) + "]";
      check_keys(tokens[i], {"sha256", "sub", "roles", "attributes"}, origin, field);
      ApiToken token;
      token.sha256_hex = tokens[i].contains("sha256") ? text_of(tokens[i]["sha256"], origin, field + ".sha256") : "";
      if (token.sha256_hex.size() != 64 || !std::all_of(token.sha256_hex.begin(), token.sha256_hex.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
          })) {
        bad(origin, field + ".sha256", "must be the token's SHA-256 as 64 lowercase hex digits (never the token)");
      }
      token.subject.id = tokens[i].contains("sub") ? text_of(tokens[i]["sub"], origin, field + ".sub") : "";
      if (token.subject.id.empty()) {
        bad(origin, field + ".sub", "must name the token's subject");
      }
      if (tokens[i].contains("roles")) {
        for (const std::size_t index : role_indexes(tokens[i]["roles"], field + ".roles")) {
          token.subject.roles.push_back(policy.m_roles[index].name);
        }
      }
      if (tokens[i].contains("attributes")) {
        token.subject.attributes = attributes_of(tokens[i]["attributes"], origin, field + ".attributes");
      }
      policy.m_identity.tokens.push_back(std::move(token));
    }
  }
  if (document.contains("jwt")) {
    const Json& jwt = document["jwt"];
    check_keys(jwt,
               {"hs256_secret_file", "hs256_secret_env", "rs256_public_key_file", "issuer", "audience", "roles_claim",
                "leeway_seconds"},
               origin, "jwt");
    JwtSettings settings;
    settings.hs256_secret = secret_from(jwt, "hs256_secret_file", "hs256_secret_env", origin, base_dir);
    if (jwt.contains("rs256_public_key_file")) {
      const fs::path path = base_dir / text_of(jwt["rs256_public_key_file"], origin, "jwt.rs256_public_key_file");
      try {
        settings.rs256_public_key_pem = file_io::read_file(path);
      } catch (const Error& error) {
        bad(origin, "jwt.rs256_public_key_file", std::string("names a file that cannot be read: ") + error.what());
      }
    }
    if (settings.hs256_secret.empty() && settings.rs256_public_key_pem.empty()) {
      bad(origin, "jwt", "needs a key: hs256_secret_file, hs256_secret_env or rs256_public_key_file");
    }
    if (jwt.contains("issuer")) {
      settings.issuer = text_of(jwt["issuer"], origin, "jwt.issuer");
    }
    if (jwt.contains("audience")) {
      settings.audience = text_of(jwt["audience"], origin, "jwt.audience");
    }
    if (jwt.contains("roles_claim")) {
      settings.roles_claim = text_of(jwt["roles_claim"], origin, "jwt.roles_claim");
    }
    if (jwt.contains("leeway_seconds")) {
      const Json& leeway = jwt["leeway_seconds"];
      if (!leeway.is_number_unsigned() || leeway.get<std::uint64_t>() > 3600) {
        bad(origin, "jwt.leeway_seconds", "must be a whole number of seconds from 0 to 3600");
      }
      settings.leeway = std::chrono::seconds(leeway.get<std::int64_t>());
    }
    policy.m_identity.jwt = std::move(settings);
  }
  return policy;
}

Policy Policy::load(const fs::path& path) {
  std::string text;
  try {
    text = file_io::read_file(path);
  } catch (const Error& error) {
    throw Error(ErrorCode::unavailable, std::string("cannot read the policy file: ") + error.what());
  }
  return parse(text, path.string(), path.parent_path());
}

Decision Policy::decide(const Subject& subject, Operation operation, Resource resource) const {
  const auto entry = std::find_if(m_subjects.begin(), m_subjects.end(),
                                  [&](const SubjectEntry& candidate) { return candidate.id == subject.id; });
  // The subject's roles, in order, each once.
  std::vector<std::size_t> roles;
  const auto add_role = [&](std::size_t index) {
    if (std::find(roles.begin(), roles.end(), index) == roles.end()) {
      roles.push_back(index);
    }
  };
  for (const auto& name : subject.roles) {
    const auto found =
        std::find_if(m_roles.begin(), m_roles.end(), [&](const Role& role) { return role.name == name; });
    if (found != m_roles.end()) { // a token may carry roles this policy does not know
      add_role(static_cast<std::size_t>(found - m_roles.begin()));
    }
  }
  if (entry != m_subjects.end()) {
    std::for_each(entry->roles.begin(), entry->roles.end(), add_role);
  }
  std::for_each(m_default_roles.begin(), m_default_roles.end(), add_role);

  // An operand's value; nullopt for a subject attribute that is missing or empty.
  const auto value_of = [&](const Operand& operand) -> std::optional<std::string_view> {
    switch (operand.source) {
    case Source::resource_user: return resource.user_id;
    case Source::resource_ns: return resource.ns;
    case Source::subject: break;
    }
    std::string_view value;
    if (operand.attribute == "sub") {
      value = subject.id;
    } else if (entry != m_subjects.end() && entry->attributes.contains(operand.attribute)) {
      value = entry->attributes.find(operand.attribute)->second;
    } else if (const auto found = subject.attributes.find(operand.attribute); found != subject.attributes.end()) {
      value = found->second;
    }
    return value.empty() ? std::nullopt : std::optional(value);
  };
  const auto holds = [&](const Condition& condition) {
    const auto left = value_of(condition.left);
    const auto right = value_of(condition.right);
    if (!left || !right) {
      return false;
    }
    switch (condition.kind) {
    case Condition::Kind::equal: return *left == *right;
    case Condition::Kind::not_equal: return *left != *right;
    case Condition::Kind::prefix: return left->starts_with(*right);
    }
    return false;
  };
  const auto applies = [&](const Rule& rule) {
    const auto matches = [](const std::vector<std::string>& patterns, std::string_view name) {
      return std::any_of(patterns.begin(), patterns.end(),
                         [&](const std::string& pattern) { return glob_match(pattern, name); });
    };
    return rule.operations[static_cast<std::size_t>(operation)] && matches(rule.users, resource.user_id) &&
           matches(rule.namespaces, resource.ns) && std::all_of(rule.when.begin(), rule.when.end(), holds);
  };
  const auto find_rule = [&](bool allow) -> std::optional<std::string> {
    for (const std::size_t index : roles) {
      const Role& role = m_roles[index];
      for (std::size_t i = 0; i < role.rules.size(); ++i) {
        if (role.rules[i].allow == allow && applies(role.rules[i])) {
          return "role " + role.name + ", rule " + std::to_string(i + 1) + " (" + role.rules[i].text + ")";
        }
      }
    }
    return std::nullopt;
  };

  const std::string what = std::string(to_string(operation)) + " on " + describe(resource);
  if (const auto rule = find_rule(false)) {
    return {false, subject.id + " may not " + what + ": denied by " + *rule};
  }
  if (const auto rule = find_rule(true)) {
    return {true, subject.id + " may " + what + ": allowed by " + *rule};
  }
  if (roles.empty()) {
    return {false, subject.id + " may not " + what + ": the subject has no role in the policy"};
  }
  std::vector<std::string> names;
  for (const std::size_t index : roles) {
    names.push_back(m_roles[index].name);
  }
  return {false, subject.id + " may not " + what + ": no rule of the roles " + join(names, ", ") + " allows it"};
}

} // namespace zsimem
