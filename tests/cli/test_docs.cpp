#include "support/run_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

// The man page and the completions are generated from the command table and
// committed; these tests fail when they are stale, when they lack anything
// `--help` shows, and when the completions do not complete in real shells.
namespace {

namespace fs = std::filesystem;
using zsimem::testing::ProcessResult;
using zsimem::testing::run_process;
using zsimem::testing::TempDir;
using Words = std::vector<std::string>;

const fs::path k_source_dir = ZSIMEM_SOURCE_DIR;
const std::string k_binary = ZSIMEM_BINARY;
const std::string k_stale_hint = "run `scripts/generate-docs " + k_binary + "` and commit man/ and completions/";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

Words split(const std::string& text, char separator) {
  Words parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) {
    parts.push_back(part);
  }
  return parts;
}

bool contains(const Words& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// The environment every shell runs in: our binary first in PATH (the
// completions call `zsimem users`), and no store of the person running it.
std::vector<std::string> shell_env(const TempDir& home) {
  const char* path = std::getenv("PATH");
  return {"PATH=" + fs::path(k_binary).parent_path().string() + ":" + (path ? path : "/usr/bin:/bin"),
          "HOME=" + home.path().string(),
          "XDG_DATA_HOME=" + (home.path() / "data").string(),
          "XDG_CONFIG_HOME=" + (home.path() / "config").string(),
          "ZSIMEM_DATA_DIR=" + (home.path() / "default-store").string(),
          "BASH_ENV",
          "ENV"};
}

// Runs a shell, or returns nothing when it is not installed.
std::optional<ProcessResult> run_shell(const Words& argv, const std::string& input, const TempDir& home) {
  try {
    return run_process(argv, input, shell_env(home), std::chrono::seconds(20));
  } catch (const std::runtime_error& error) {
    if (std::string(error.what()).find("not found in PATH") == std::string::npos) {
      throw;
    }
    WARN(argv.front() + " is not installed: its completion is not tested");
    return std::nullopt;
  }
}

struct GeneratedFile {
  std::string path;
  Words args;
};

std::vector<GeneratedFile> generated_files() {
  return {{"man/zsimem.1", {"man", "--template", (k_source_dir / "man/zsimem.1.in").string()}},
          {"completions/zsimem.bash", {"bash"}},
          {"completions/_zsimem", {"zsh"}},
          {"completions/zsimem.fish", {"fish"}}};
}

std::string first_difference(const std::string& committed, const std::string& generated) {
  const Words old_lines = split(committed, '\n');
  const Words new_lines = split(generated, '\n');
  for (std::size_t i = 0; i < std::max(old_lines.size(), new_lines.size()); ++i) {
    const std::string old_line = i < old_lines.size() ? old_lines[i] : "(end of file)";
    const std::string new_line = i < new_lines.size() ? new_lines[i] : "(end of file)";
    if (old_line != new_line) {
      return "first difference at line " + std::to_string(i + 1) + ":\n  committed: " + old_line +
             "\n  generated: " + new_line;
    }
  }
  return "they differ only in the final newline";
}

// The CLI as `--help` shows it, read independently of the generator.
struct HelpCli {
  Words commands;
  Words global_options;                 // long options, with the dashes
  std::map<std::string, Words> options; // per command
};

// The lines of a --help section, from its heading to the blank line.
Words help_section(const std::string& help, const std::string& heading) {
  Words lines;
  bool inside = false;
  for (const auto& line : split(help, '\n')) {
    if (line == heading) {
      inside = true;
    } else if (inside && line.empty()) {
      break;
    } else if (inside) {
      lines.push_back(line);
    }
  }
  return lines;
}

// Long names from the names column (`  -n,--namespace TEXT  ...`).
Words long_options(const std::string& help) {
  Words names;
  for (const auto& line : help_section(help, "Options:")) {
    if (!line.starts_with("  -")) {
      continue; // a wrapped description
    }
    const std::string column = line.substr(2, line.find(' ', 2) - 2);
    for (const auto& name : split(column, ',')) {
      if (name.starts_with("--")) {
        names.push_back(name);
      }
    }
  }
  return names;
}

std::string help_of(const Words& args) {
  Words argv{k_binary};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProcessResult result = run_process(argv);
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  return result.out;
}

HelpCli read_help() {
  HelpCli cli;
  const std::string help = help_of({"--help"});
  for (const auto& line : help_section(help, "Subcommands:")) {
    std::istringstream fields(line);
    std::string name;
    fields >> name;
    cli.commands.push_back(name);
  }
  cli.global_options = long_options(help);
  for (const auto& command : cli.commands) {
    cli.options[command] = long_options(help_of({command, "--help"}));
  }
  REQUIRE(cli.commands.size() >= 10);
  REQUIRE(contains(cli.global_options, "--output"));
  return cli;
}

// The man page source from `.SS name` (or `.SH name`) to the next heading,
// with \- turned back into - and without font changes.
std::string man_section(const std::string& man, const std::string& heading) {
  std::string text;
  for (std::size_t i = 0; i < man.size(); ++i) {
    if (man.compare(i, 2, "\\-") == 0) {
      text += '-';
      ++i;
    } else if (man.compare(i, 2, "\\f") == 0 && i + 2 < man.size()) {
      i += 2;
    } else {
      text += man[i];
    }
  }
  const auto start = text.find("\n" + heading + "\n");
  if (start == std::string::npos) {
    return {};
  }
  const auto end = text.find("\n.S", start + heading.size() + 2);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool mentions(const std::string& text, const std::string& word) {
  const auto is_word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-'; };
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const auto end = at + word.size();
    if ((at == 0 || !is_word_char(text[at - 1])) && (end == text.size() || !is_word_char(text[end]))) {
      return true;
    }
  }
  return false;
}

// The shell drivers print one line per completed line: its candidates,
// tab-separated, between < and >. Expects exactly `count` of them.
std::vector<Words> bracketed_replies(const std::string& out, std::size_t count) {
  std::vector<Words> replies;
  for (const auto& line : split(out, '\n')) {
    REQUIRE(line.size() >= 2);
    replies.push_back(line.size() == 2 ? Words{} : split(line.substr(1, line.size() - 2), '\t'));
  }
  REQUIRE(replies.size() == count);
  return replies;
}

// Completes each case (words, the last one being completed) with the
// committed bash completion; returns COMPREPLY per case.
std::vector<Words> bash_complete(const std::vector<Words>& cases, const fs::path& cwd, const TempDir& home) {
  static const std::string k_driver = R"(
source "$1" || exit 1
cd "$2" || exit 1
while IFS= read -r line; do
    COMP_WORDS=()
    while [[ $line == *$'\t'* ]]; do
        COMP_WORDS+=("${line%%$'\t'*}")
        line=${line#*$'\t'}
    done
    COMP_WORDS+=("$line")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _zsimem
    (IFS=$'\t'; echo "<${COMPREPLY[*]}>")
done
)";
  std::string input;
  for (const auto& words : cases) {
    std::string line;
    for (const auto& word : words) {
      line += (line.empty() ? "" : "\t") + word;
    }
    input += line + '\n';
  }
  const auto result = run_shell({"bash", "--norc", "--noprofile", "-c", k_driver, "bash",
                                 (k_source_dir / "completions/zsimem.bash").string(), cwd.string()},
                                input, home);
  REQUIRE(result);
  INFO(result->err);
  REQUIRE(result->exit_code == 0);
  return bracketed_replies(result->out, cases.size());
}

// Completes each command line with the committed fish completion, as
// `complete -C` does; nothing when fish is not installed.
std::optional<std::vector<Words>> fish_complete(const Words& lines, const fs::path& cwd, const TempDir& home) {
  static const std::string k_driver = R"(
source $argv[1]; or exit 1
cd $argv[2]; or exit 1
while read -l line
    set -l found (complete -C "$line" | string replace -r '\t.*' '')
    set -l joined (string join \t -- $found)
    echo "<$joined>"
end
)";
  std::string input;
  for (const auto& line : lines) {
    input += line + '\n';
  }
  const auto result = run_shell(
      {"fish", "--no-config", "-c", k_driver, (k_source_dir / "completions/zsimem.fish").string(), cwd.string()}, input,
      home);
  if (!result) {
    return std::nullopt;
  }
  INFO(result->err);
  REQUIRE(result->exit_code == 0);
  return bracketed_replies(result->out, lines.size());
}

// A store with two users, for the completions that ask the binary.
fs::path make_store(const TempDir& dir) {
  const fs::path store = dir.path() / "store";
  for (const char* user : {"alice", "bob"}) {
    const auto result =
        run_process({k_binary, "--data-dir", store.string(), "merge", user, R"({"a": 1})", "-o", "json"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
  }
  return store;
}

// A check with a message naming what is missing.
void expect(bool ok, const std::string& what) {
  if (ok) {
    SUCCEED();
  } else {
    FAIL_CHECK("missing: " + what);
  }
}

} // namespace

TEST_CASE("the committed man page and completions are what the command table generates", "[docs]") {
  for (const auto& file : generated_files()) {
    Words argv{k_binary, "__generate-docs"};
    argv.insert(argv.end(), file.args.begin(), file.args.end());
    const ProcessResult result = run_process(argv);
    INFO(file.path);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const fs::path committed = k_source_dir / file.path;
    if (!fs::exists(committed)) {
      FAIL_CHECK(file.path + " is missing; " + k_stale_hint);
      continue;
    }
    const std::string text = read_file(committed);
    if (text != result.out) {
      FAIL_CHECK(file.path + " is stale: " + k_stale_hint + "\n" + first_difference(text, result.out));
    }
  }
}

TEST_CASE("the docs generator is hidden and strict about its input", "[docs]") {
  CHECK_FALSE(mentions(help_of({"--help"}), "__generate-docs"));
  CHECK(run_process({k_binary, "__generate-docs", "pdf"}).exit_code == 2);
  CHECK(run_process({k_binary, "__generate-docs", "man"}).exit_code == 5); // no template
  const ProcessResult no_placeholder =
      run_process({k_binary, "__generate-docs", "man", "--template", "-"}, ".TH X 1\n");
  CHECK(no_placeholder.exit_code == 5);
  CHECK_THAT(no_placeholder.err, Catch::Contains("@SYNOPSIS@"));
}

TEST_CASE("the man page formats without a groff warning", "[docs]") {
  TempDir home;
  const auto result =
      run_shell({"groff", "-man", "-Tutf8", "-ww", "-z", (k_source_dir / "man/zsimem.1").string()}, {}, home);
  if (result) {
    CHECK(result->exit_code == 0);
    CHECK(result->err.empty());
  }
}

TEST_CASE("every command and long option that --help shows is in the man page and the completions", "[docs]") {
  const HelpCli cli = read_help();
  TempDir home;

  const std::string man = read_file(k_source_dir / "man/zsimem.1");
  const std::string global_section = man_section(man, ".SH GLOBAL OPTIONS");
  for (const auto& option : cli.global_options) {
    expect(mentions(global_section, option), "man: global option " + option);
  }
  for (const auto& command : cli.commands) {
    const std::string section = man_section(man, ".SS " + command);
    expect(!section.empty(), "man: section .SS " + command);
    for (const auto& option : cli.options.at(command)) {
      if (option != "--help") { // documented once, among the global options
        expect(mentions(section, option), "man: " + command + " " + option);
      }
    }
  }

  // bash and fish: what they really offer after `zsimem CMD --`.
  std::vector<Words> bash_cases{{"zsimem", ""}, {"zsimem", "--"}};
  Words fish_lines{"zsimem ", "zsimem --"};
  for (const auto& command : cli.commands) {
    bash_cases.push_back({"zsimem", command, "--"});
    fish_lines.push_back("zsimem " + command + " --");
  }
  const auto bash = bash_complete(bash_cases, home.path(), home);
  const auto fish = fish_complete(fish_lines, home.path(), home);
  for (const auto& command : cli.commands) {
    expect(contains(bash[0], command), "bash: command " + command);
    expect(!fish || contains((*fish)[0], command), "fish: command " + command);
  }
  for (const auto& option : cli.global_options) {
    expect(contains(bash[1], option), "bash: global option " + option);
    expect(!fish || contains((*fish)[1], option), "fish: global option " + option);
  }
  for (std::size_t i = 0; i < cli.commands.size(); ++i) {
    const std::string& command = cli.commands[i];
    for (const auto& option : cli.options.at(command)) {
      expect(contains(bash[i + 2], option), "bash: " + command + " " + option);
      expect(!fish || contains((*fish)[i + 2], option), "fish: " + command + " " + option);
    }
  }

  // zsh: in the command's _arguments call (it runs in a real zsh below).
  const std::string zsh = read_file(k_source_dir / "completions/_zsimem");
  const auto global_end = zsh.find("'1: :_zsimem_commands'");
  REQUIRE(global_end != std::string::npos);
  for (const auto& option : cli.global_options) {
    expect(mentions(zsh.substr(0, global_end), option), "zsh: global option " + option);
  }
  for (const auto& command : cli.commands) {
    expect(zsh.find("'" + command + ":") != std::string::npos, "zsh: command " + command);
    const auto start = zsh.find("      (" + command + ")\n");
    const auto end = zsh.find("&& ret=0 ;;", start);
    REQUIRE(start != std::string::npos);
    for (const auto& option : cli.options.at(command)) {
      expect(mentions(zsh.substr(start, end - start), option), "zsh: " + command + " " + option);
    }
  }
}

TEST_CASE("bash completes commands, options, values, files and user ids", "[docs][bash]") {
  TempDir home;
  const std::string store = make_store(home).string();
  write_file(home.path() / "updates.jsonl", "{}\n");
  fs::create_directory(home.path() / "subdir");

  const auto replies = bash_complete({{"zsimem", "hi"},
                                      {"zsimem", "merge", "--if"},
                                      {"zsimem", "-o", ""},
                                      {"zsimem", "--output", "=", "js"},
                                      {"zsimem", "--backend", "sq"},
                                      {"zsimem", "--data-dir", store, "get", "al"},
                                      {"zsimem", "--data-dir", "=", store, "log", "--user", ""},
                                      {"zsimem", "--data-dir", store, "merge", "alice", "@up"},
                                      {"zsimem", "apply", "up"},
                                      {"zsimem", "--data-dir", "su"},
                                      {"zsimem", "get", "--version", ""},
                                      {"zsimem", "get", "-n", "prefs", "--ver"}},
                                     home.path(), home);
  CHECK(replies[0] == Words{"history"});
  CHECK(replies[1] == Words{"--if-version"});
  CHECK(replies[2] == Words{"auto", "text", "json"});
  CHECK(replies[3] == Words{"json"});
  CHECK(replies[4] == Words{"sqlite"});
  CHECK(replies[5] == Words{"alice"});
  CHECK(replies[6] == Words{"alice", "bob"});
  CHECK(replies[7] == Words{"@updates.jsonl"});
  CHECK(replies[8] == Words{"updates.jsonl"});
  CHECK(replies[9] == Words{"subdir"});
  CHECK(replies[10].empty()); // get's own --version takes a version: nothing to offer
  CHECK(replies[11] == Words{"--version"});
}

TEST_CASE("fish completes commands, options, values, files and user ids", "[docs][fish]") {
  TempDir home;
  const std::string store = make_store(home).string();
  write_file(home.path() / "updates.jsonl", "{}\n");

  const auto replies =
      fish_complete({"zsimem hi", "zsimem merge --if", "zsimem -o ", "zsimem --backend sqlite hi",
                     "zsimem --data-dir " + store + " get ", "zsimem --data-dir=" + store + " log --user ",
                     "zsimem merge alice @up", "zsimem get alice --pa"},
                    home.path(), home);
  if (!replies) {
    return;
  }
  CHECK((*replies)[0] == Words{"history"});
  CHECK((*replies)[1] == Words{"--if-version"});
  CHECK((*replies)[2] == Words{"auto", "json", "text"}); // fish sorts
  CHECK((*replies)[3] == Words{"history"});
  CHECK((*replies)[4] == Words{"alice", "bob"});
  CHECK((*replies)[5] == Words{"alice", "bob"});
  CHECK((*replies)[6] == Words{"@updates.jsonl"});
  CHECK((*replies)[7] == Words{"--path"});
}

TEST_CASE("zsh reads the completion and completes with it", "[docs][zsh]") {
  TempDir home;
  const std::string completions = (k_source_dir / "completions").string();
  const auto syntax = run_shell({"zsh", "-n", completions + "/_zsimem"}, {}, home);
  if (!syntax) {
    return;
  }
  INFO(syntax->err);
  REQUIRE(syntax->exit_code == 0);

  // An interactive zsh on a pseudo-terminal: type each line and TAB, then a
  // key bound to a widget that prints the edited line.
  static const std::string k_driver = R"(
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PS1=''; RPS1=''; fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'show-buffer() { print -r -- "<<""<$BUFFER>>"">"; BUFFER=""; }; zle -N show-buffer; bindkey "^Y" show-buffer'
shift
for input in "$@"; do
  zpty -w -n z "$input"$'\t\x19'
  zpty -r z line '*<<<*>>>*' || exit 4
  print -r -- "${${line##*<<<}%%>>>*}"
done
zpty -d z
)";
  const std::string store = make_store(home).string();
  const auto result = run_shell({"zsh", "-f", "-c", k_driver, "zsh", completions, "zsimem hi", "zsimem merge --if",
                                 "zsimem -o t", "zsimem --data-dir " + store + " get al"},
                                {}, home);
  REQUIRE(result);
  INFO(result->err);
  REQUIRE(result->exit_code == 0);
  CHECK(split(result->out, '\n') == Words{"zsimem history ", "zsimem merge --if-version=", "zsimem -o text ",
                                          "zsimem --data-dir " + store + " get alice "});
}

TEST_CASE("every command's --help has an example; zsimem alone shows the common commands", "[docs]") {
  const HelpCli cli = read_help();
  REQUIRE(cli.commands.size() > 10);
  for (const auto& command : cli.commands) {
    const std::string help = help_of({command, "--help"});
    expect(mentions(help, "Example") || mentions(help, "Examples"), "an example in zsimem " + command + " --help");
  }
  const ProcessResult bare = run_process({k_binary});
  CHECK(bare.exit_code == 0);
  CHECK_THAT(bare.out, Catch::Contains("Usage: zsimem [OPTIONS] COMMAND"));
  CHECK_THAT(bare.out, Catch::Contains("zsimem COMMAND --help"));
  for (const char* command : {"get", "merge", "history", "rollback", "serve", "verify"}) {
    CHECK_THAT(bare.out, Catch::Contains("\n  " + std::string(command) + " "));
  }
  CHECK(bare.out.size() < 2000); // short: --help is the long form
}

TEST_CASE("every environment variable the sources read is in docs/configuration.md and the man page", "[docs]") {
  const std::regex name_pattern(R"re("((ZSIMEM|AWS|GOOGLE|FIRESTORE|DYNAMO|DATABASE|API|MEMORY)_[A-Z0-9_]+)")re");
  std::set<std::string> names;
  for (const char* dir : {"core", "cli", "daemon"}) {
    for (const auto& entry : fs::recursive_directory_iterator(k_source_dir / dir)) {
      const auto extension = entry.path().extension();
      if (extension != ".cpp" && extension != ".hpp") {
        continue;
      }
      const std::string text = read_file(entry.path());
      for (auto it = std::sregex_iterator(text.begin(), text.end(), name_pattern); it != std::sregex_iterator(); ++it) {
        names.insert((*it)[1].str());
      }
    }
  }
  REQUIRE(names.contains("ZSIMEM_RETENTION"));
  REQUIRE(names.contains("AWS_REGION"));
  const std::string configuration = read_file(k_source_dir / "docs/configuration.md");
  const std::string man = read_file(k_source_dir / "man/zsimem.1");
  const std::string environment = man_section(man, ".SH ENVIRONMENT");
  REQUIRE_FALSE(environment.empty());
  for (const auto& name : names) {
    expect(configuration.find("`" + name + "`") != std::string::npos, "docs/configuration.md: " + name);
    expect(mentions(environment, name), "man ENVIRONMENT: " + name);
  }
}
