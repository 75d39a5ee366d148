#include "commands.hpp"

#include <zsimem/error.hpp>
#include <zsimem/store.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// `zsimem __generate-docs FORMAT` prints the man page or a shell completion
// built from the CLI11 command table, so that the docs cannot drift from the
// code; scripts/generate-docs writes them and tests/cli/test_docs.cpp diffs.
namespace zsimem::cli {
namespace {

// What a value of an option or positional is, for completion.
enum class ValueKind {
  none,        // a flag: no value
  text,        // free text: nothing to complete
  choices,     // one of a fixed list
  users,       // a user id: asked of the binary at completion time
  files,       // a file name
  directories, // a directory name
  input,       // JSON text, @FILE or -: file names after @
};

// Value kinds the command table cannot express, keyed by the option's long
// name or the positional's name; choices come from IsMember checks instead.
constexpr std::array<std::pair<std::string_view, ValueKind>, 6> k_value_kinds{{
    {"user", ValueKind::users},
    {"--user", ValueKind::users},
    {"file", ValueKind::files},
    {"--data-dir", ValueKind::directories},
    {"delta", ValueKind::input},
    {"--backend", ValueKind::choices},
}};

struct OptionDoc {
  std::vector<std::string> short_names; // with the dash: -o
  std::vector<std::string> long_names;  // with the dashes: --output
  std::string value_name;               // TEXT, UINT; empty for a flag
  std::string description;
  std::vector<std::string> choices;
  std::string default_value;
  std::string env;
  bool repeatable = false;
  bool is_help = false;
  ValueKind kind = ValueKind::none;

  std::vector<std::string> names() const {
    std::vector<std::string> all = short_names;
    all.insert(all.end(), long_names.begin(), long_names.end());
    return all;
  }
  bool takes_value() const { return kind != ValueKind::none; }
  bool has_name(const std::string& wanted) const {
    const auto all = names();
    return std::find(all.begin(), all.end(), wanted) != all.end();
  }
  // A short label for messages: the first long name without dashes.
  std::string label() const {
    const std::string& name = long_names.empty() ? short_names.front() : long_names.front();
    std::string text = name.substr(name.find_first_not_of('-'));
    std::replace(text.begin(), text.end(), '-', ' ');
    return text;
  }
};

struct PositionalDoc {
  std::string name; // as declared: user
  std::string description;
  std::string default_value;
  std::vector<std::string> choices;
  bool required = false;
  bool repeatable = false;
  ValueKind kind = ValueKind::text;

  std::string meta() const {
    std::string text = name;
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return text;
  }
};

struct CommandDoc {
  std::string name;
  std::string description;
  std::string footer;
  std::vector<OptionDoc> options;
  std::vector<PositionalDoc> positionals;

  // Whether this command has an option of any of `other`'s names.
  bool shadows(const OptionDoc& other) const {
    const auto names = other.names();
    return std::any_of(options.begin(), options.end(), [&](const OptionDoc& option) {
      return std::any_of(names.begin(), names.end(),
                         [&](const std::string& other_name) { return option.has_name(other_name); });
    });
  }
};

struct CliDoc {
  std::vector<OptionDoc> global_options;
  std::vector<CommandDoc> commands;
  std::vector<std::string> backends;

  // Every option valid after `command` (nullptr: before any command): its
  // own, then the global ones it does not shadow.
  std::vector<const OptionDoc*> options_after(const CommandDoc* command) const {
    std::vector<const OptionDoc*> result;
    if (command != nullptr) {
      for (const auto& option : command->options) {
        result.push_back(&option);
      }
    }
    for (const auto& option : global_options) {
      if (command == nullptr || !command->shadows(option)) {
        result.push_back(&option);
      }
    }
    return result;
  }

  // The commands with an option of the same name as a global one.
  std::vector<std::string> commands_shadowing(const OptionDoc& option) const {
    std::vector<std::string> result;
    for (const auto& command : commands) {
      if (command.shadows(option)) {
        result.push_back(command.name);
      }
    }
    return result;
  }
};

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) {
      return parts;
    }
    start = end + 1;
  }
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string text;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    text += (i == 0 ? "" : std::string(separator)) + parts[i];
  }
  return text;
}

// IsMember describes itself as {a,b,c} in the type name (TEXT:{a,b,c}), the
// only way CLI11 2.1 exposes the set; a Transformer's {a->b} is no choice.
std::vector<std::string> choices_of(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  const auto start = type.find(":{");
  const auto end = type.find('}', start);
  if (start == std::string::npos || end == std::string::npos) {
    return {};
  }
  const std::string set = type.substr(start + 2, end - start - 2);
  if (set.empty() || set.find("->") != std::string::npos) {
    return {};
  }
  return split(set, ',');
}

// Whether a footer line is a heading such as "Example:".
bool is_heading(std::string_view line) {
  return line.size() > 1 && line.back() == ':' && std::isupper(static_cast<unsigned char>(line.front())) != 0 &&
         std::all_of(line.begin() + 1, line.end() - 1,
                     [](char c) { return std::islower(static_cast<unsigned char>(c)) != 0; });
}

// The first @NAME@ placeholder left in `text`, or "".
std::string find_placeholder(std::string_view text) {
  for (auto start = text.find('@'); start != std::string_view::npos; start = text.find('@', start + 1)) {
    auto end = start + 1;
    while (end < text.size() && (std::isupper(static_cast<unsigned char>(text[end])) != 0 || text[end] == '_')) {
      ++end;
    }
    if (end > start + 1 && end < text.size() && text[end] == '@') {
      return std::string(text.substr(start, end - start + 1));
    }
  }
  return {};
}

ValueKind table_kind(const std::string& name, ValueKind fallback) {
  for (const auto& [key, kind] : k_value_kinds) {
    if (key == name) {
      return kind;
    }
  }
  return fallback;
}

OptionDoc describe_option(CLI::Option& option, const CLI::Option* help, const std::vector<std::string>& backends) {
  OptionDoc doc;
  for (const auto& name : option.get_snames()) {
    doc.short_names.push_back("-" + name);
  }
  for (const auto& name : option.get_lnames()) {
    doc.long_names.push_back("--" + name);
  }
  doc.description = option.get_description();
  doc.default_value = option.get_default_str();
  doc.env = option.get_envname();
  doc.is_help = &option == help;
  if (option.get_expected_max() == 0) { // a flag
    return doc;
  }
  const std::string type = option.get_type_name();
  doc.value_name = type.substr(0, type.find(':'));
  doc.repeatable = option.get_items_expected_max() > 1;
  doc.choices = choices_of(option);
  doc.kind = doc.choices.empty() ? ValueKind::text : ValueKind::choices;
  if (!doc.long_names.empty()) {
    doc.kind = table_kind(doc.long_names.front(), doc.kind);
  }
  if (doc.kind == ValueKind::choices && doc.choices.empty()) {
    doc.choices = backends; // --backend: the registry is the list
  }
  return doc;
}

PositionalDoc describe_positional(CLI::Option& option) {
  PositionalDoc doc;
  doc.name = option.get_name();
  doc.description = option.get_description();
  doc.default_value = option.get_default_str();
  doc.required = option.get_required();
  doc.repeatable = option.get_items_expected_max() > 1;
  doc.choices = choices_of(option);
  doc.kind = table_kind(doc.name, doc.choices.empty() ? ValueKind::text : ValueKind::choices);
  return doc;
}

bool is_visible(const CLI::Option* option) { return !option->get_group().empty(); }

std::vector<OptionDoc> describe_options(CLI::App& app, const std::vector<std::string>& backends) {
  std::vector<OptionDoc> docs;
  for (CLI::Option* option : app.get_options()) {
    if (is_visible(option) && option->nonpositional()) {
      docs.push_back(describe_option(*option, app.get_help_ptr(), backends));
    }
  }
  return docs;
}

CliDoc describe_app(CLI::App& app) {
  CliDoc doc;
  for (const auto name : backend_names()) {
    doc.backends.emplace_back(name);
  }
  doc.global_options = describe_options(app, doc.backends);
  const std::function<bool(CLI::App*)> visible = [](CLI::App* command) {
    return !command->get_group().empty() && !command->get_disabled();
  };
  for (CLI::App* command : app.get_subcommands(visible)) {
    CommandDoc command_doc;
    command_doc.name = command->get_name();
    command_doc.description = command->get_description();
    command_doc.footer = command->get_footer();
    command_doc.options = describe_options(*command, doc.backends);
    for (CLI::Option* option : command->get_options()) {
      if (is_visible(option) && option->get_positional()) {
        command_doc.positionals.push_back(describe_positional(*option));
      }
    }
    doc.commands.push_back(std::move(command_doc));
  }
  return doc;
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines = split(text, '\n');
  while (!lines.empty() && lines.back().empty()) {
    lines.pop_back();
  }
  return lines;
}

// Roff text: escapes that keep `groff -ww` quiet and copy-paste exact (the
// minus and quotes as ASCII), and non-ASCII as \[uXXXX] for any input encoding.
std::string roff(std::string_view text, bool code = false) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x80) {
      const int length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      std::uint32_t point = byte & (length == 4 ? 0x07u : length == 3 ? 0x0fu : 0x1fu);
      for (int k = 1; k < length && i + 1 < text.size(); ++k) {
        point = (point << 6) | (static_cast<unsigned char>(text[++i]) & 0x3fu);
      }
      char buffer[16];
      std::snprintf(buffer, sizeof buffer, "\\[u%04X]", point);
      out += buffer;
      continue;
    }
    switch (text[i]) {
    case '\\': out += "\\e"; break;
    case '-': out += "\\-"; break;
    case '\'': out += code ? "\\(aq" : "'"; break;
    case '`': out += "\\(ga"; break;
    default: out += text[i];
    }
  }
  return out;
}

// One output line of text; a leading . or ' would make it a request.
std::string roff_line(std::string_view text, bool code = false) {
  std::string line = roff(text, code);
  if (!line.empty() && (line.front() == '.' || line.front() == '\'')) {
    line.insert(0, "\\&");
  }
  return line + '\n';
}

std::string man_option_tag(const OptionDoc& option) {
  std::vector<std::string> names;
  for (const auto& name : option.names()) {
    names.push_back("\\fB" + roff(name) + "\\fR");
  }
  std::string tag = join(names, ", ");
  if (!option.choices.empty()) {
    std::vector<std::string> choices;
    for (const auto& choice : option.choices) {
      choices.push_back("\\fB" + roff(choice) + "\\fR");
    }
    tag += " {" + join(choices, "|") + "}";
  } else if (option.takes_value()) {
    tag += " \\fI" + roff(option.value_name) + "\\fR";
  }
  return tag + (option.repeatable ? " \\&..." : "") + '\n';
}

void append_description(std::string& out, const std::string& description, const std::vector<std::string>& extras) {
  const auto lines = lines_of(description);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string line = lines[i];
    if (i + 1 == lines.size() && !extras.empty()) {
      line += " (" + join(extras, "; ") + ")";
    }
    out += roff_line(line);
  }
}

void append_man_option(std::string& out, const OptionDoc& option) {
  out += ".TP\n" + man_option_tag(option);
  std::vector<std::string> extras;
  if (!option.default_value.empty()) {
    extras.push_back("default: " + option.default_value);
  }
  if (!option.env.empty()) {
    extras.push_back("environment: " + option.env);
  }
  append_description(out, option.description, extras);
}

void append_man_usage(std::string& out, const CommandDoc& command) {
  out += ".B zsimem " + roff(command.name) + '\n';
  const bool has_options = std::any_of(command.options.begin(), command.options.end(),
                                       [](const OptionDoc& option) { return !option.is_help; });
  if (has_options) {
    out += ".RI [ OPTIONS ]\n";
  }
  for (const auto& positional : command.positionals) {
    const std::string dots = positional.repeatable ? " \\&..." : "";
    const std::string meta = roff(positional.meta());
    out += positional.required ? ".I " + meta + dots + '\n' : ".RI [ " + meta + " ]" + dots + '\n';
  }
}

// Footers are prose lines and, indented by two spaces, example commands.
void append_man_footer(std::string& out, std::string_view footer) {
  bool in_code = false;
  bool in_paragraph = false;
  for (const auto& line : lines_of(footer)) {
    if (line.empty()) {
      continue;
    }
    if (line.starts_with("  ")) {
      if (!in_code) {
        out += ".RS 4\n.nf\n";
        in_code = true;
      }
      out += roff_line(std::string_view(line).substr(2), true);
      continue;
    }
    if (in_code) {
      out += ".fi\n.RE\n";
      in_code = false;
      in_paragraph = false;
    }
    // A heading such as "Example:" starts a paragraph; other lines may continue one.
    if (!in_paragraph || is_heading(line)) {
      out += ".PP\n";
      in_paragraph = true;
    }
    out += roff_line(line);
  }
  if (in_code) {
    out += ".fi\n.RE\n";
  }
}

std::string man_synopsis(const CliDoc& doc) {
  std::string out = ".B zsimem\n.RI [ \"GLOBAL OPTIONS\" ]\n.I COMMAND\n.RI [ OPTIONS ]\n.RI [ ARGUMENTS ]\n";
  for (const auto& command : doc.commands) {
    out += ".br\n";
    append_man_usage(out, command);
  }
  out += ".br\n.B zsimem\n.BR \\-\\-help \" | \" \\-\\-version\n";
  return out;
}

std::string man_global_options(const CliDoc& doc) {
  std::string out;
  for (const auto& option : doc.global_options) {
    append_man_option(out, option);
  }
  return out;
}

std::string man_commands(const CliDoc& doc) {
  std::string out;
  for (const auto& command : doc.commands) {
    out += ".SS " + roff(command.name) + '\n';
    append_description(out, command.description, {});
    out += ".PP\n";
    append_man_usage(out, command);
    for (const auto& positional : command.positionals) {
      out += ".TP\n\\fI" + roff(positional.meta()) + "\\fR\n";
      std::vector<std::string> extras;
      if (!positional.default_value.empty()) {
        extras.push_back("default: " + positional.default_value);
      }
      append_description(out, positional.description, extras);
    }
    for (const auto& option : command.options) {
      if (!option.is_help) {
        append_man_option(out, option);
      }
    }
    append_man_footer(out, command.footer);
  }
  return out;
}

std::string render_man(const CliDoc& doc, const std::string& man_template) {
  const std::vector<std::pair<std::string, std::string>> blocks{
      {"@SYNOPSIS@", man_synopsis(doc)},
      {"@GLOBAL_OPTIONS@", man_global_options(doc)},
      {"@COMMANDS@", man_commands(doc)},
  };
  std::vector<bool> used(blocks.size(), false);
  std::string out = ".\\\" Generated from man/zsimem.1.in by `zsimem __generate-docs man`; do not edit:\n"
                    ".\\\" run scripts/generate-docs after changing the template or the CLI.\n";
  bool in_header = true; // the template's leading comments are about the template
  for (const auto& line : lines_of(man_template)) {
    in_header = in_header && line.starts_with(".\\\"");
    if (in_header) {
      continue;
    }
    const auto block =
        std::find_if(blocks.begin(), blocks.end(), [&](const auto& entry) { return entry.first == line; });
    if (block != blocks.end()) {
      out += block->second;
      used[static_cast<std::size_t>(block - blocks.begin())] = true;
      continue;
    }
    const std::string_view version_placeholder = "@VERSION@";
    const std::string_view version = ZSIMEM_VERSION;
    std::string text = line;
    for (auto at = text.find(version_placeholder); at != std::string::npos;
         at = text.find(version_placeholder, at + version.size())) {
      text.replace(at, version_placeholder.size(), version);
    }
    if (const auto unknown = find_placeholder(text); !unknown.empty()) {
      throw Error(ErrorCode::invalid, "the man page template has an unknown placeholder " + unknown, "template");
    }
    out += text + '\n';
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (!used[i]) {
      throw Error(ErrorCode::invalid, "the man page template lacks a line " + blocks[i].first, "template");
    }
  }
  return out;
}

// A word in single quotes for bash and zsh.
std::string sh_quote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

std::string fish_quote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "'";
}

std::string one_line(std::string_view text) {
  std::string line(text);
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line;
}

std::vector<std::string> option_names(const std::vector<const OptionDoc*>& options, bool values_only) {
  std::vector<std::string> names;
  for (const auto* option : options) {
    if (!values_only || option->takes_value()) {
      const auto all = option->names();
      names.insert(names.end(), all.begin(), all.end());
    }
  }
  return names;
}

// Options whose values pick the store, passed on when asking for user ids.
std::vector<std::string> store_option_names(const CliDoc& doc) {
  std::vector<std::string> names;
  for (const auto& option : doc.global_options) {
    if (option.takes_value() && !option.env.empty()) {
      names.insert(names.end(), option.long_names.begin(), option.long_names.end());
    }
  }
  return names;
}

// The first lines of a completion script.
std::string generated_header(const std::string& shell) {
  return "# " + shell + " completion for zsimem(1).\n# Generated from the command table by `zsimem __generate-docs " +
         shell + "`;\n# do not edit: run scripts/generate-docs after changing the CLI.\n";
}

// The bash function call that completes a value of this kind.
std::string bash_action(ValueKind kind, const std::vector<std::string>& choices) {
  switch (kind) {
  case ValueKind::choices: return "_zsimem_complete_words " + sh_quote(join(choices, " "));
  case ValueKind::users: return "_zsimem_complete_users";
  case ValueKind::files: return "_zsimem_complete_files";
  case ValueKind::directories: return "_zsimem_complete_files -d";
  case ValueKind::input: return "_zsimem_complete_input";
  case ValueKind::text:
  case ValueKind::none: break;
  }
  return ":";
}

void append_bash_value_cases(std::string& out, const std::vector<const OptionDoc*>& options, std::string_view indent) {
  for (const auto* option : options) {
    if (option->takes_value()) {
      out += std::string(indent) + join(option->names(), "|") + ") " + bash_action(option->kind, option->choices) +
             " ;;\n";
    }
  }
}

std::string render_bash(const CliDoc& doc) {
  std::string out = generated_header("bash");
  std::vector<std::string> command_names;
  for (const auto& command : doc.commands) {
    command_names.push_back(command.name);
  }

  out += "\n# Prints the options valid after command $1 ('' before any command); with -v\n"
         "# as $2, only those that take a value.\n"
         "_zsimem_options() {\n"
         "    case $1${2:+:$2} in\n";
  out += "    '') echo " + sh_quote(join(option_names(doc.options_after(nullptr), false), " ")) + " ;;\n";
  out += "    :-v) echo " + sh_quote(join(option_names(doc.options_after(nullptr), true), " ")) + " ;;\n";
  for (const auto& command : doc.commands) {
    const auto options = doc.options_after(&command);
    out += "    " + command.name + ") echo " + sh_quote(join(option_names(options, false), " ")) + " ;;\n";
    out += "    " + command.name + ":-v) echo " + sh_quote(join(option_names(options, true), " ")) + " ;;\n";
  }
  out += "    esac\n}\n";

  out += "\n# Completes the value of option $2 after command $1.\n"
         "_zsimem_complete_value() {\n"
         "    case $1 in\n";
  for (const auto& command : doc.commands) {
    std::vector<const OptionDoc*> own;
    for (const auto& option : command.options) {
      own.push_back(&option);
    }
    std::string cases;
    append_bash_value_cases(cases, own, "        ");
    if (!cases.empty()) {
      out += "    " + command.name + ")\n        case $2 in\n" + cases +
             "        *) false ;;\n        esac && return ;;\n";
    }
  }
  out += "    esac\n    case $2 in\n";
  append_bash_value_cases(out, doc.options_after(nullptr), "    ");
  out += "    esac\n}\n";

  out += "\n# Completes positional argument $2 (from 0) of command $1.\n"
         "_zsimem_complete_positional() {\n"
         "    case $1:$2 in\n";
  for (const auto& command : doc.commands) {
    for (std::size_t i = 0; i < command.positionals.size(); ++i) {
      const auto& positional = command.positionals[i];
      const std::string index = positional.repeatable ? "*" : std::to_string(i);
      if (positional.repeatable && i > 0) {
        // Any index from i on; bash patterns cannot compare numbers.
        out += "    " + command.name + ":*) (( $2 >= " + std::to_string(i) + " )) && " +
               bash_action(positional.kind, positional.choices) + " ;;\n";
      } else {
        out += "    " + command.name + ":" + index + ") " + bash_action(positional.kind, positional.choices) + " ;;\n";
      }
    }
  }
  out += "    esac\n}\n";

  const auto store_options = store_option_names(doc);
  out += R"sh(
_zsimem_complete_words() {
    local word
    local -a words
    read -r -a words <<<"$1"
    for word in "${words[@]}"; do
        [[ $word == "$cur"* ]] && COMPREPLY+=("$word")
    done
}

# User ids come from the binary, from the store the command line names.
_zsimem_complete_users() {
    local user
    while IFS= read -r user; do
        [[ $user == "$cur"* ]] && COMPREPLY+=("$user")
    done < <(zsimem "${store_args[@]}" users -o text 2>/dev/null)
}

# Completes file names (-d: directories) after an optional prefix such as @.
_zsimem_complete_files() {
    local type=-f prefix entry
    if [[ $1 == -d ]]; then
        type=-d
        shift
    fi
    prefix=${1-}
    local -a entries
    mapfile -t entries < <(compgen "$type" -- "${cur#"$prefix"}")
    if [[ -z $prefix ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY+=("${entries[@]}")
        return
    fi
    for entry in "${entries[@]}"; do
        if [[ -d $entry ]]; then
            COMPREPLY+=("$prefix$entry/")
            compopt -o nospace 2>/dev/null
        else
            COMPREPLY+=("$prefix$entry")
        fi
    done
}

# JSON text, @FILE or - for standard input: only @FILE can be completed.
_zsimem_complete_input() {
    [[ $cur == @* ]] && _zsimem_complete_files @
}

_zsimem() {
    local cur=${COMP_WORDS[COMP_CWORD]} command='' option='' word
    local -a store_args=()
    local -i i=1 positional=0
    COMPREPLY=()
    # bash splits --option=value into three words: --option, = and value.
    if [[ $cur == = ]]; then
        cur=''
    fi
    while (( i < COMP_CWORD )); do
        word=${COMP_WORDS[i]}
        if [[ $word != -* || $word == - ]]; then
            if [[ -z $command ]]; then
                command=$word
            else
                positional+=1
            fi
            i+=1
            continue
        fi
        if [[ ${COMP_WORDS[i+1]-} == = ]]; then
            (( i + 1 == COMP_CWORD || i + 2 == COMP_CWORD )) && option=$word
            _zsimem_store_arg "$word" "${COMP_WORDS[i+2]-}"
            i+=3
        elif [[ " $(_zsimem_options "$command" -v) " == *" $word "* ]]; then
            (( i + 1 == COMP_CWORD )) && option=$word
            _zsimem_store_arg "$word" "${COMP_WORDS[i+1]-}"
            i+=2
        else
            [[ $word == *=* ]] && _zsimem_store_arg "${word%%=*}" "${word#*=}"
            i+=1
        fi
    done
    if [[ -n $option ]]; then
        _zsimem_complete_value "$command" "$option"
    elif [[ $cur == -?* ]]; then
        _zsimem_complete_words "$(_zsimem_options "$command")"
    elif [[ -z $command ]]; then
        _zsimem_complete_words )sh" +
         sh_quote(join(command_names, " ")) + R"sh(
    else
        _zsimem_complete_positional "$command" "$positional"
    fi
    return 0
}

# Keeps the options that pick the store, for _zsimem_complete_users.
_zsimem_store_arg() {
    case $1 in
    )sh" +
         join(store_options, "|") +
         R"sh() store_args+=("$1" "${2/#\~/$HOME}") ;;
    esac
}

complete -F _zsimem zsimem
)sh";
  return out;
}

// Escapes text for the [description] of an _arguments spec.
std::string zsh_description(std::string_view text) {
  std::string out;
  for (const char c : one_line(text)) {
    if (c == '[' || c == ']' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

// Escapes text for the message and action parts of an _arguments spec.
std::string zsh_message(std::string_view text) {
  std::string out;
  for (const char c : one_line(text)) {
    if (c == ':' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::string zsh_action(ValueKind kind, const std::vector<std::string>& choices) {
  switch (kind) {
  case ValueKind::choices: {
    std::string words;
    for (const auto& choice : choices) {
      words += (words.empty() ? "" : " ") + zsh_message(choice);
    }
    return "(" + words + ")";
  }
  case ValueKind::users: return "_zsimem_users";
  case ValueKind::files: return "_files";
  case ValueKind::directories: return "_files -/";
  case ValueKind::input: return "_zsimem_input";
  case ValueKind::text:
  case ValueKind::none: break;
  }
  return " ";
}

std::string zsh_option_spec(const OptionDoc& option) {
  const auto names = option.names();
  std::string exclusion;
  if (option.repeatable) {
    exclusion = "*";
  } else if (names.size() > 1) {
    exclusion = "(" + join(names, " ") + ")";
  }
  std::vector<std::string> spelled;
  for (const auto& name : names) {
    const bool is_long = name.starts_with("--");
    spelled.push_back(name + (option.takes_value() ? (is_long ? "=" : "+") : ""));
  }
  std::string tail = "[" + zsh_description(option.description) + "]";
  if (option.takes_value()) {
    tail += ":" + zsh_message(option.label()) + ":" + zsh_action(option.kind, option.choices);
  }
  if (spelled.size() == 1) {
    return sh_quote(exclusion + spelled.front() + tail);
  }
  return (exclusion.empty() ? "" : sh_quote(exclusion)) + "{" + join(spelled, ",") + "}" + sh_quote(tail);
}

std::string zsh_positional_spec(const PositionalDoc& positional, std::size_t index) {
  const std::string number = positional.repeatable ? "*" : std::to_string(index + 1);
  const std::string message = zsh_message(positional.description.empty() ? positional.name : positional.description);
  return sh_quote(number + (positional.required ? ":" : "::") + message + ":" +
                  zsh_action(positional.kind, positional.choices));
}

std::string render_zsh(const CliDoc& doc) {
  std::string out = "#compdef zsimem\n" + generated_header("zsh");
  const auto store_options = store_option_names(doc);
  out += R"sh(
# User ids come from the binary, from the store the command line names.
(( $+functions[_zsimem_users] )) ||
_zsimem_users() {
  local -a store_args users
  local -i i
  for (( i = 2; i < $#zsimem_words; i++ )); do
    case $zsimem_words[i] in
      ()sh" +
         join(store_options, "|") +
         R"sh()
        store_args+=($zsimem_words[i] "${${(Q)zsimem_words[i+1]}/#\~/$HOME}")
        (( i++ )) ;;
      ()sh" +
         join(store_options, "=*|") + R"sh(=*)
        store_args+=("${(Q)zsimem_words[i]}") ;;
    esac
  done
  users=(${(f)"$(zsimem "${store_args[@]}" users -o text 2>/dev/null)"})
  _wanted users expl 'user id' compadd -a users
}

# JSON text, @FILE or - for standard input: only @FILE can be completed.
(( $+functions[_zsimem_input] )) ||
_zsimem_input() {
  if compset -P @; then
    _files
  else
    _message 'JSON text, @FILE or - for standard input'
  fi
}

(( $+functions[_zsimem_commands] )) ||
_zsimem_commands() {
  local -a commands
  commands=(
)sh";
  for (const auto& command : doc.commands) {
    out += "    " + sh_quote(command.name + ":" + one_line(command.description)) + "\n";
  }
  out += R"sh(  )
  _describe -t commands 'zsimem command' commands
}

_zsimem() {
  local curcontext=$curcontext state state_descr line ret=1
  local -a zsimem_words
  zsimem_words=("${words[@]}")
  typeset -A opt_args
  _arguments -C -S \
)sh";
  for (const auto& option : doc.global_options) {
    out += "    " + zsh_option_spec(option) + " \\\n";
  }
  out += R"sh(    '1: :_zsimem_commands' \
    '*:: :->command' && ret=0
  if [[ $state == command ]]; then
    curcontext=${curcontext%:*:*}:zsimem-$words[1]:
    case $words[1] in
)sh";
  for (const auto& command : doc.commands) {
    out += "      (" + command.name + ")\n        _arguments -S \\\n";
    for (const auto* option : doc.options_after(&command)) {
      out += "          " + zsh_option_spec(*option) + " \\\n";
    }
    for (std::size_t i = 0; i < command.positionals.size(); ++i) {
      out += "          " + zsh_positional_spec(command.positionals[i], i) + " \\\n";
    }
    out += "          && ret=0 ;;\n";
  }
  out += R"sh(    esac
  fi
  return ret
}

_zsimem "$@"
)sh";
  return out;
}

std::string fish_value_args(ValueKind kind, const std::vector<std::string>& choices) {
  switch (kind) {
  case ValueKind::choices: return " -x -a " + fish_quote(join(choices, " "));
  case ValueKind::users: return " -x -a '(__zsimem_users)'";
  case ValueKind::files: return " -r -F";
  case ValueKind::directories: return " -x -a '(__fish_complete_directories (commandline -ct))'";
  case ValueKind::input: return " -x -a '(__zsimem_at_files)'";
  case ValueKind::text: return " -x";
  case ValueKind::none: break;
  }
  return "";
}

std::string fish_option_line(const OptionDoc& option, const std::string& condition) {
  std::string line = "complete -c zsimem";
  if (!condition.empty()) {
    line += " -n " + fish_quote(condition);
  }
  for (const auto& name : option.short_names) {
    line += " -s " + name.substr(1);
  }
  for (const auto& name : option.long_names) {
    line += " -l " + name.substr(2);
  }
  return line + fish_value_args(option.kind, option.choices) + " -d " + fish_quote(one_line(option.description)) + '\n';
}

std::string fish_positional_line(const CommandDoc& command, const PositionalDoc& positional, std::size_t index) {
  std::string args;
  switch (positional.kind) {
  case ValueKind::files: args = " -F"; break;
  case ValueKind::text:
  case ValueKind::none: return {}; // nothing to offer
  default: args = " -f" + fish_value_args(positional.kind, positional.choices).substr(3);
  }
  const std::string condition =
      "__zsimem_positional " + command.name + " " + std::to_string(index + 1) + (positional.repeatable ? " +" : "");
  return "complete -c zsimem -n " + fish_quote(condition) + args + " -d " +
         fish_quote(one_line(positional.description)) + '\n';
}

std::string render_fish(const CliDoc& doc) {
  std::string out = generated_header("fish");
  std::string takes_value;
  for (const auto& command : doc.commands) {
    takes_value += "        case " + command.name + "\n            contains -- $argv[2] " +
                   join(option_names(doc.options_after(&command), true), " ") + "\n";
  }
  takes_value += "        case '*'\n            contains -- $argv[2] " +
                 join(option_names(doc.options_after(nullptr), true), " ") + "\n";
  const auto store_options = store_option_names(doc);
  std::vector<std::string> store_patterns;
  for (const auto& name : store_options) {
    store_patterns.push_back(fish_quote(name + "=*"));
  }
  out += R"sh(
# Succeeds when option $argv[2] takes a value after command $argv[1] ('' before any).
function __zsimem_takes_value
    switch "$argv[1]"
)sh" + takes_value +
         R"sh(    end
end

# Prints the command and the positional arguments typed so far, not the
# options and their values.
function __zsimem_args
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l args
    set -l skip 0
    for token in $tokens
        if test $skip -eq 1
            set skip 0
        else if string match -q -- '-?*' $token
            if not string match -q -- '*=*' $token; and __zsimem_takes_value "$args[1]" $token
                set skip 1
            end
        else
            set -a args $token
        end
    end
    set -q args[1]; and printf '%s\n' $args
end

function __zsimem_needs_command
    test (count (__zsimem_args)) -eq 0
end

# Succeeds when the command typed is one of $argv.
function __zsimem_using_command
    set -l args (__zsimem_args)
    set -q args[1]; and contains -- $args[1] $argv
end

# Succeeds when completing positional argument $argv[2] (from 1) of command
# $argv[1], or any after it with a third argument.
function __zsimem_positional
    set -l args (__zsimem_args)
    set -q args[1]; and test $args[1] = $argv[1]; or return
    if set -q argv[3]
        test (count $args) -ge $argv[2]
    else
        test (count $args) -eq $argv[2]
    end
end

# User ids come from the binary, from the store the command line names.
function __zsimem_users
    set -l tokens (commandline -opc)
    set -l store_args
    set -l i 2
    while test $i -le (count $tokens)
        switch $tokens[$i]
            case )sh" +
         join(store_options, " ") +
         R"sh(
                set -a store_args $tokens[$i]
                set i (math $i + 1)
                set -q tokens[$i]; and set -a store_args (string replace -r '^~' $HOME -- $tokens[$i])
            case )sh" +
         join(store_patterns, " ") +
         R"sh(
                set -a store_args $tokens[$i]
        end
        set i (math $i + 1)
    end
    zsimem $store_args users -o text 2>/dev/null
end

# JSON text, @FILE or - for standard input: only @FILE can be completed.
function __zsimem_at_files
    set -l token (commandline -ct)
    string match -q -- '@*' $token; or return
    set -l prefix (string sub -s 2 -- $token)
    for path in $prefix*
        if test -d $path
            echo @$path/
        else
            echo @$path
        end
    end
end

complete -c zsimem -f

# Commands, until one is typed.
)sh";
  for (const auto& command : doc.commands) {
    out += "complete -c zsimem -n __zsimem_needs_command -a " + command.name + " -d " +
           fish_quote(one_line(command.description)) + '\n';
  }
  out += "\n# Global options, anywhere unless a command has its own of the same name.\n";
  for (const auto& option : doc.global_options) {
    const auto shadowing = doc.commands_shadowing(option);
    std::string condition;
    if (shadowing.size() == doc.commands.size()) {
      condition = "__zsimem_needs_command";
    } else if (!shadowing.empty()) {
      condition = "not __zsimem_using_command " + join(shadowing, " ");
    }
    out += fish_option_line(option, condition);
  }
  for (const auto& command : doc.commands) {
    out += "\n# " + command.name + "\n";
    for (const auto& option : command.options) {
      out += fish_option_line(option, "__zsimem_using_command " + command.name);
    }
    for (std::size_t i = 0; i < command.positionals.size(); ++i) {
      out += fish_positional_line(command, command.positionals[i], i);
    }
  }
  return out;
}

std::string read_template(const std::string& path) {
  if (path.empty()) {
    throw Error(ErrorCode::invalid, "man needs --template FILE (man/zsimem.1.in, or - for standard input)", "template");
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) {
      throw Error(ErrorCode::invalid, "cannot open the man page template '" + path + "'", "template");
    }
    in = &file;
  }
  return {std::istreambuf_iterator<char>(*in), std::istreambuf_iterator<char>()};
}

} // namespace

void add_docs_command(CLI::App& app) {
  struct Args {
    std::string format;
    std::string template_path;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("__generate-docs", "Print the man page or a shell completion script");
  command->group(""); // hidden: for scripts/generate-docs and the tests only
  command->add_option("format", args->format, "What to print")
      ->required()
      ->check(CLI::IsMember({"man", "bash", "zsh", "fish"}));
  command->add_option("--template", args->template_path, "The man page template, or - for standard input");
  command->footer("Example:\n  zsimem __generate-docs man --template man/zsimem.1.in > man/zsimem.1");
  command->callback([&app, args] {
    const CliDoc doc = describe_app(app);
    if (args->format == "man") {
      std::cout << render_man(doc, read_template(args->template_path));
    } else if (args->format == "bash") {
      std::cout << render_bash(doc);
    } else if (args->format == "zsh") {
      std::cout << render_zsh(doc);
    } else {
      std::cout << render_fish(doc);
    }
    std::cout.flush();
  });
}

} // namespace zsimem::cli
