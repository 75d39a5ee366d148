// zsimem hooks status|deliver|reset, on both embedded backends, with a
// program hook and a built-in one.

#include "support/run_process.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace zsimem;
using zsimem::testing::ProcessResult;

namespace {

struct HooksCli {
  testing::TempDir dir;
  std::string backend;
  std::filesystem::path hooks_file = dir.path() / "hooks.json";
  std::filesystem::path delivered = dir.path() / "delivered.jsonl";

  explicit HooksCli(std::string_view name) : backend(name) {
    // A program hook that appends each event to a file, and a goal tracker.
    std::ofstream(hooks_file) << R"({"max_attempts": 2, "hooks": [
      {"name": "recorder", "type": "program", "namespaces": ["health"],
       "command": ["/bin/sh", "-c", "cat >> )" +
                                     delivered.string() + R"(; echo >> )" + delivered.string() + R"("]},
      {"name": "weight-goal", "type": "goal", "field": "/weight", "target": 70,
       "namespaces": ["health"], "write_back": "insights"}]})";
  }

  ProcessResult run(std::vector<std::string> args, const std::vector<std::string>& env = {}) const {
    std::vector<std::string> argv{ZSIMEM_BINARY, "--backend", backend, "--data-dir", (dir.path() / "store").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, {}, env);
  }

  Json json(std::vector<std::string> args) const {
    args.insert(args.end(), {"-o", "json"});
    const auto result = run(args);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    return Json::parse(result.out);
  }

  std::vector<Json> delivered_events() const {
    std::vector<Json> events;
    std::ifstream in(delivered);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) {
        events.push_back(Json::parse(line));
      }
    }
    return events;
  }
};

} // namespace

TEST_CASE("zsimem hooks: status shows the lag, deliver hands it over, reset starts again", "[cli][hooks]") {
  HooksCli cli(GENERATE(from_range(file_backend_names())));
  CAPTURE(cli.backend);
  const std::string file = "--hooks=" + cli.hooks_file.string();
  for (const char* weight : {"80", "78", "77"}) {
    REQUIRE(cli.run({"merge", "alice", "-n", "health", std::string(R"({"weight":)") + weight + "}"}).exit_code == 0);
  }
  REQUIRE(cli.run({"merge", "alice", R"({"theme":"dark"})"}).exit_code == 0); // followed by no hook

  Json status = cli.json({"hooks", "status", file});
  REQUIRE(status["hooks"].size() == 2);
  CHECK(status["hooks"][0]["name"] == "recorder");
  CHECK(status["hooks"][0]["contexts"] == 1);
  CHECK(status["hooks"][0]["pending"] == 3);
  CHECK(status["hooks"][0]["lagging"][0]["delivered"] == "0");
  CHECK(status["hooks"][0]["lagging"][0]["head"] == "3");

  const Json report = cli.json({"hooks", "deliver", file});
  CHECK(report == Json{{"delivered", 6}, {"failed", 0}, {"dead_letters", 0}, {"written_back", 3}});
  const auto events = cli.delivered_events();
  REQUIRE(events.size() == 3);
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i]["version"] == std::to_string(i + 1));
    CHECK(events[i]["namespace"] == "health");
  }
  CHECK(cli.json({"get", "alice", "-n", "insights"})["data"]["goals"]["weight"]["progress"] == Approx(0.3));
  status = cli.json({"hooks", "status", file});
  CHECK(status["hooks"][0]["pending"] == 0);
  CHECK(status["hooks"][0]["lagging"].empty());

  // The text form: a table.
  const ProcessResult text = cli.run({"hooks", "status", file, "-o", "text"});
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("HOOK") && Catch::Contains("recorder") && Catch::Contains("weight-goal"));

  // Nothing more to deliver; after a reset, everything again.
  CHECK(cli.json({"hooks", "deliver", file})["delivered"] == 0);
  CHECK(cli.json({"hooks", "reset", "recorder"}) == Json{{"hook", "recorder"}, {"cursors_removed", 1}});
  CHECK(cli.json({"hooks", "deliver", file})["delivered"] == 3);
  CHECK(cli.delivered_events().size() == 6);
}

TEST_CASE("zsimem hooks: a failing program's events become dead letters that status lists", "[cli][hooks]") {
  HooksCli cli("sqlite");
  std::ofstream(cli.hooks_file) << R"({"max_attempts": 1, "hooks": [
      {"name": "broken", "type": "program", "command": ["/bin/sh", "-c", "echo out of order >&2; exit 4"]}]})";
  REQUIRE(cli.run({"merge", "alice", R"({"a":1})"}).exit_code == 0);
  const ProcessResult deliver = cli.run({"hooks", "deliver", "--hooks", cli.hooks_file.string()});
  CHECK(deliver.exit_code == 0);
  CHECK_THAT(deliver.err, Catch::Contains("dead letter") && Catch::Contains("out of order"));
  const ProcessResult status = cli.run({"hooks", "status", "--hooks", cli.hooks_file.string(), "-o", "text"});
  CHECK_THAT(status.out, Catch::Contains("dead letter: version 1") && Catch::Contains("exit status 4"));
}

TEST_CASE("zsimem hooks: bad input and a switched-off feature are clear errors", "[cli][hooks]") {
  HooksCli cli("json");
  // No hooks file.
  ProcessResult result = cli.run({"hooks", "status"});
  CHECK(result.exit_code == 5);
  CHECK_THAT(result.err, Catch::Contains("--hooks FILE") && Catch::Contains("ZSIMEM_HOOKS"));
  // From the environment.
  CHECK(cli.run({"hooks", "status"}, {"ZSIMEM_HOOKS=" + cli.hooks_file.string()}).exit_code == 0);
  // A broken file, a missing one, an unknown action, reset without a name.
  std::ofstream(cli.dir.path() / "broken.json") << R"({"hooks": [{"type": "program", "command": ["x"]}]})";
  result = cli.run({"hooks", "status", "--hooks", (cli.dir.path() / "broken.json").string()});
  CHECK(result.exit_code == 5);
  CHECK_THAT(result.err, Catch::Contains("hooks[0].name"));
  CHECK(cli.run({"hooks", "status", "--hooks", (cli.dir.path() / "missing.json").string()}).exit_code == 5);
  CHECK(cli.run({"hooks", "launch"}).exit_code == 2);
  CHECK(cli.run({"hooks", "reset"}).exit_code == 5);
  // Switched off.
  result = cli.run({"--feature", "hooks=off", "hooks", "deliver", "--hooks", cli.hooks_file.string()});
  CHECK(result.exit_code == 10);
  CHECK_THAT(result.err, Catch::Contains("hooks=on"));
  CHECK_FALSE(std::filesystem::exists(cli.delivered));
}
