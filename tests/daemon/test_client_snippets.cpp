// docs/clients.md and docs/getting-started.md, run: every code block
// followed by a `text` block is a snippet (the CLI, curl, Python,
// JavaScript) that must print exactly that text, against a fresh daemon
// and a fresh local store.

#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace zsimem;

namespace {

struct Snippet {
  std::string language;
  std::string code;
  std::string expected;
};

struct Block {
  std::string language;
  std::string text;
};

std::vector<Block> fenced_blocks(const std::string& markdown) {
  std::vector<Block> blocks;
  std::istringstream lines(markdown);
  std::string line;
  std::optional<Block> open;
  while (std::getline(lines, line)) {
    if (line.starts_with("```")) {
      if (open) {
        blocks.push_back(std::move(*open));
        open.reset();
      } else {
        open = Block{line.substr(3), {}};
      }
    } else if (open) {
      open->text += line + "\n";
    }
  }
  return blocks;
}

std::vector<Snippet> snippets(const std::string& markdown) {
  const auto blocks = fenced_blocks(markdown);
  std::vector<Snippet> out;
  for (std::size_t i = 0; i + 1 < blocks.size(); ++i) {
    if (blocks[i].language != "text" && blocks[i + 1].language == "text") {
      out.push_back({blocks[i].language, blocks[i].text, blocks[i + 1].text});
    }
  }
  return out;
}

} // namespace

TEST_CASE("docs: each snippet prints what the docs say, against a live daemon", "[http][docs]") {
  const auto [doc, expected_languages] =
      GENERATE(std::pair<std::string, std::vector<std::string>>{"clients.md", {"sh", "python", "javascript"}},
               std::pair<std::string, std::vector<std::string>>{"getting-started.md", {"sh", "sh"}});
  CAPTURE(doc);
  std::ifstream file(std::string(ZSIMEM_SOURCE_DIR) + "/docs/" + doc);
  REQUIRE(file);
  const std::string markdown((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const auto found = snippets(markdown);
  std::vector<std::string> languages;
  for (const auto& snippet : found) {
    languages.push_back(snippet.language);
  }
  REQUIRE(languages == expected_languages);

  testing::TempDir dir;
  const testing::ServeProcess daemon({"sqlite", dir.path() / "data", dir.path() / "serve.log"});
  // The CLI from this build first on PATH, on a store of its own.
  const std::string path = std::filesystem::path(ZSIMEM_BINARY).parent_path().string() + ":" + std::getenv("PATH");
  const std::vector<std::string> env{"ZSIMEM_URL=http://127.0.0.1:" + std::to_string(daemon.port()), "PATH=" + path,
                                     "ZSIMEM_DATA_DIR=" + (dir.path() / "cli-store").string(), "MEMORY_BACKEND"};
  for (const auto& snippet : found) {
    CAPTURE(snippet.language, snippet.code);
    const auto script = dir.path() / ("snippet" + std::string(snippet.language == "javascript" ? ".mjs" : ".txt"));
    std::ofstream(script) << snippet.code;
    std::vector<std::string> argv;
    if (snippet.language == "sh") {
      argv = {"bash", "-euo", "pipefail", script.string()};
    } else if (snippet.language == "python") {
      argv = {"python3", script.string()};
    } else {
      argv = {"node", script.string()};
    }
    const auto result = testing::run_process(argv, {}, env);
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.out == snippet.expected);
  }
}
