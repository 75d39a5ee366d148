#include "support/run_process.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace zsimem;
using zsimem::testing::ProcessResult;

namespace {

// The CLI on a fresh store of one backend.
struct Cli {
  testing::TempDir dir;
  std::string backend;

  explicit Cli(std::string_view name) : backend(name) {}

  std::filesystem::path data_dir() const { return dir.path() / "store"; }

  ProcessResult run(std::vector<std::string> args, const std::string& input = {},
                    const std::vector<std::string>& env = {}) const {
    std::vector<std::string> argv{ZSIMEM_BINARY, "--backend", backend, "--data-dir", data_dir().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, input, env);
  }

  Json json(std::vector<std::string> args) const {
    args.insert(args.end(), {"-o", "json"});
    const auto result = run(args);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    return Json::parse(result.out);
  }

  // Every version of every context: what must not change on a refused input.
  std::string snapshot() const { return run({"export"}).out; }
};

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

} // namespace

TEST_CASE("get, merge and rollback print the spec's UserContext", "[cli]") {
  Cli cli(GENERATE(from_range(file_backend_names())));
  const Json merged = cli.json({"merge", "alice", R"({"diet":{"kcal":1800}})", "--tag", "nutrition"});
  CHECK(merged["user_id"] == "alice");
  CHECK(merged["version"] == "1");
  CHECK(merged["data"] == Json::parse(R"({"diet":{"kcal":1800}})"));
  CHECK(merged["updated_at"].get<std::string>().ends_with("Z"));
  cli.json({"merge", "alice", R"({"diet":{"kcal":2000}})"});
  const Json rolled = cli.json({"rollback", "alice", "1"});
  CHECK(rolled["version"] == "3");
  CHECK(rolled["data"] == merged["data"]);
  const Json got = cli.json({"get", "alice", "--version", "2"});
  CHECK(got["data"]["diet"]["kcal"] == 2000);
  CHECK(cli.run({"get", "alice", "--path", "/diet/kcal", "-o", "text"}).out == "1800\n");
  const Json history = cli.json({"history", "alice"});
  REQUIRE(history["versions"].size() == 3);
  CHECK(history["versions"][0]["rollback_of"] == "1");
  CHECK(history["versions"][2]["tags"] == Json::parse(R"(["nutrition"])"));
  // Cursors are decimal strings, as over HTTP.
  CHECK(cli.json({"log", "--limit", "1"})["next_cursor"].is_string());
}

TEST_CASE("merge reads the delta from text, a file or standard input", "[cli]") {
  Cli cli(GENERATE(from_range(file_backend_names())));
  write_file(cli.dir.path() / "delta.json", R"({"from":"file"})");
  CHECK(cli.json({"merge", "u", "@" + (cli.dir.path() / "delta.json").string()})["data"]["from"] == "file");
  const auto piped = cli.run({"merge", "u", "-", "-o", "json"}, R"({"from":"stdin"})");
  REQUIRE(piped.exit_code == 0);
  CHECK(Json::parse(piped.out)["data"]["from"] == "stdin");
}

TEST_CASE("merge --dry-run shows the change and writes nothing", "[cli]") {
  Cli cli(GENERATE(from_range(file_backend_names())));
  cli.json({"merge", "u", R"({"a":1})"});
  const std::string before = cli.snapshot();
  const Json dry = cli.json({"merge", "u", R"({"a":2})", "--dry-run"});
  CHECK(dry["version"] == "2");
  CHECK(dry["would_create"] == true);
  CHECK(dry["patch"] == Json::parse(R"([{"op":"replace","path":"/a","value":2}])"));
  CHECK(cli.snapshot() == before);
}

TEST_CASE("exit codes tell conflicts, missing data, bad input and usage apart", "[cli]") {
  Cli cli(GENERATE(from_range(file_backend_names())));
  cli.json({"merge", "u", R"({"a":1})"});
  cli.json({"merge", "u", R"({"a":2})"});
  const auto conflict = cli.run({"merge", "u", R"({"a":3})", "--if-version", "1"});
  CHECK(conflict.exit_code == 4);
  CHECK_THAT(conflict.err, Catch::Contains("/a") && Catch::Contains("current version: 2"));
  CHECK(cli.run({"get", "nobody"}).exit_code == 3);
  CHECK(cli.run({"get", "u", "--version", "99"}).exit_code == 3);
  CHECK(cli.run({"rollback", "u", "99"}).exit_code == 3);
  CHECK(cli.run({"diff", "u", "1", "99"}).exit_code == 3);
  CHECK(cli.run({"get", "u", "--version", "abc"}).exit_code == 5);
  CHECK(cli.run({"no-such-command"}).exit_code == 2);
  CHECK(cli.run({"merge", "u"}).exit_code == 2);
  CHECK(cli.run({"get", "u", "-o", "xml"}).exit_code == 2);
  CHECK(cli.run({"--help"}).exit_code == 0);
}

TEST_CASE("bad input is a clear error, a non-zero exit and leaves the store unchanged", "[cli][validation]") {
  Cli cli(GENERATE(from_range(file_backend_names())));
  cli.json({"merge", "u", R"({"a":1})"});
  const std::string before = cli.snapshot();
  const auto refused = [&](std::vector<std::string> args, const std::string& message,
                           const std::vector<std::string>& env = {}, const std::string& input = {}) {
    const auto result = cli.run(args, input, env);
    INFO(args[0] << " " << (args.size() > 1 ? args[1].substr(0, 40) : "") << " -> " << result.err);
    CHECK(result.exit_code == 5);
    CHECK_THAT(result.err, Catch::Contains(message));
    CHECK(result.out.empty());
  };
  refused({"merge", "u", "{\"a\":"}, "malformed JSON");
  refused({"merge", "u", "[1,2]"}, "must be a JSON object");
  refused({"merge", "u", "\"text\""}, "must be a JSON object");
  refused({"merge", "u", "null"}, "must be a JSON object");
  refused({"merge", "u", std::string(100, '[') + std::string(100, ']')}, "nested deeper");
  refused({"merge", "u", R"({"a":")" + std::string(200, 'x') + "\"}"}, "limit", {"ZSIMEM_MAX_DELTA_BYTES=100"});
  refused({"merge", "u", "-"}, "limit", {"ZSIMEM_MAX_DELTA_BYTES=100"}, R"({"a":")" + std::string(200, 'x') + "\"}");
  refused({"merge", "u", "@/nonexistent/delta.json"}, "cannot open");
  for (const std::string& user :
       std::vector<std::string>{"../escape", "a/b", "", "logs", std::string(129, 'a'), "a\nb", ".x"}) {
    refused({"merge", user, R"({"a":1})"}, "user_id");
  }
  refused({"merge", "u", R"({"a":1})", "-n", "../ns"}, "namespace");
  refused({"get", "u", "--at", "yesterday"}, "--at");
  refused({"history", "u", "--since", "2026-13-01"}, "--since");
  refused({"merge", "u", R"({"a":1})", "--tag", ""}, "tags");
  CHECK(cli.snapshot() == before);
}

TEST_CASE("a damaged store file is a clear error naming it", "[cli][damage]") {
  Cli cli(GENERATE(from_range(file_backend_names())));
  cli.json({"merge", "alice", R"({"a":1})"});
  cli.json({"merge", "bob", R"({"b":1})"});
  std::filesystem::path damaged;
  if (cli.backend == "json") {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(cli.data_dir() / "contexts" / "alice")) {
      if (entry.is_regular_file()) {
        damaged = entry.path();
      }
    }
  } else {
    // Move everything from the WAL into the main file first, so that
    // truncating the main file loses committed pages.
    damaged = cli.data_dir() / "zsimem.sqlite3";
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(damaged.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  REQUIRE(std::filesystem::exists(damaged));
  std::filesystem::resize_file(damaged, std::filesystem::file_size(damaged) / 3);
  const auto result = cli.run({"get", "alice"});
  CHECK(result.exit_code == 7);
  CHECK_THAT(result.err, Catch::Contains(damaged.string()));
  if (cli.backend == "json") {
    CHECK(cli.run({"get", "bob"}).exit_code == 0); // every other context stays usable
    CHECK(cli.run({"verify"}).exit_code == 9);
  }
}

TEST_CASE("export and import move every version between backends losslessly", "[cli][export]") {
  Cli json_cli("json");
  Cli sqlite_cli("sqlite");
  json_cli.json({"merge", "alice", R"({"a":1})", "--tag", "t"});
  json_cli.json({"merge", "alice", R"({"a":2})", "--idempotency-key", "k"});
  json_cli.json({"merge", "bob", R"({"b":"é"})", "-n", "work"});
  json_cli.json({"rollback", "alice", "1"});
  const std::string exported = json_cli.snapshot();
  const auto imported = sqlite_cli.run({"import", "-", "-o", "json"}, exported);
  REQUIRE(imported.exit_code == 0);
  CHECK(Json::parse(imported.out)["written"] == 4);
  CHECK(sqlite_cli.snapshot() == exported);
  CHECK(sqlite_cli.run({"verify"}).exit_code == 0);
  CHECK(Json::parse(sqlite_cli.run({"import", "-", "-o", "json"}, exported).out)["skipped"] == 4);
}

TEST_CASE("apply reads MemoryUpdates as JSON Lines", "[cli][apply]") {
  Cli cli(GENERATE(from_range(file_backend_names())));
  const auto applied = cli.run({"apply", "-", "-o", "json"},
                               "{\"user_id\":\"a\",\"delta\":{\"x\":1}}\n\n{\"user_id\":\"b\",\"delta\":{\"y\":2},"
                               "\"tags\":[\"t\"]}\n");
  REQUIRE(applied.exit_code == 0);
  CHECK(Json::parse(applied.out).size() == 2);
  const auto bad =
      cli.run({"apply", "-"}, "{\"user_id\":\"a\",\"delta\":{\"x\":2}}\n{\"user_id\":\"b\",\"delta\":[]}\n");
  CHECK(bad.exit_code == 5);
  CHECK_THAT(bad.err, Catch::Contains("line 2"));
  CHECK(cli.json({"get", "a"})["data"]["x"] == 1);
}

TEST_CASE("features: ZSIMEM_FEATURES and --feature switch features, zsimem features shows them", "[cli][features]") {
  Cli cli("sqlite");
  CHECK(cli.json({"features"}) ==
        Json{{"hooks", true}, {"read_audit", true}, {"retention", true}, {"summaries", true}, {"versioning", true}});
  const auto text = cli.run({"-o", "text", "features"}, {}, {"ZSIMEM_FEATURES=summaries=off"});
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("summaries   off"));
  CHECK_THAT(text.out, Catch::Contains("read_audit  on"));
  // The flag wins over the environment.
  const auto flagged =
      cli.run({"--feature", "summaries=on", "-o", "json", "features"}, {}, {"ZSIMEM_FEATURES=summaries=off"});
  CHECK(Json::parse(flagged.out)["summaries"] == true);

  cli.json({"merge", "alice", R"({"weight": 80})"});
  const auto disabled = cli.run({"--feature", "summaries=off", "summary", "alice", "-f", "/weight"});
  CHECK(disabled.exit_code == 10);
  CHECK_THAT(disabled.err, Catch::Contains("summaries are switched off"));
  const auto bad = cli.run({"features"}, {}, {"ZSIMEM_FEATURES=summaries=maybe"});
  CHECK(bad.exit_code == 5);
  CHECK_THAT(bad.err, Catch::Contains("ZSIMEM_FEATURES: 'summaries=maybe': give NAME=on or NAME=off"));

  // With read audit off, the log holds the writes only.
  cli.run({"--feature", "read_audit=off", "get", "alice"});
  cli.run({"--feature", "read_audit=off", "history", "alice"});
  const Json log = cli.json({"--feature", "read_audit=off", "log"});
  std::vector<std::string> operations;
  for (const auto& record : log["records"]) {
    operations.push_back(record["operation"]);
  }
  CHECK(std::count(operations.begin(), operations.end(), "get") == 0);
  CHECK(std::count(operations.begin(), operations.end(), "merge") == 1);
}

TEST_CASE("prune: --dry-run shows what goes and what stays; prune applies it; verify passes", "[cli][retention]") {
  Cli cli(GENERATE(from_range(file_backend_names())));
  CAPTURE(cli.backend);
  for (int i = 1; i <= 5; ++i) {
    REQUIRE(cli.run({"merge", "alice", R"({"n":)" + std::to_string(i) + "}"}).exit_code == 0);
  }
  const auto policy = cli.dir.path() / "retention.json";
  write_file(policy, R"({"default": {"keep_last": 2}})");

  const auto preview = cli.run({"-o", "text", "prune", "--dry-run", "--retention", policy.string()});
  INFO(preview.err);
  REQUIRE(preview.exit_code == 0);
  CHECK_THAT(preview.out, Catch::Contains("alice · default: 5 versions, 2 kept, 3 to prune"));
  CHECK_THAT(preview.out, Catch::Contains("  keep  5  "));
  CHECK_THAT(preview.out, Catch::Contains("head, last"));
  CHECK_THAT(preview.out, Catch::Contains("  prune 1..3"));
  CHECK_THAT(preview.out, Catch::Contains("dry run: would prune 3 versions in 1 contexts"));
  CHECK(cli.json({"history", "alice"})["versions"].size() == 5);

  // The file from the environment, as the daemon takes it.
  const auto pruned = cli.run({"-o", "json", "prune"}, {}, {"ZSIMEM_RETENTION=" + policy.string()});
  INFO(pruned.err);
  REQUIRE(pruned.exit_code == 0);
  const Json report = Json::parse(pruned.out);
  CHECK(report["versions_pruned"] == 3);
  CHECK(report["contexts"][0]["pruned"] == Json::parse(R"([{"from": "1", "to": "3"}])"));
  CHECK(report["contexts"][0]["kept"][1]["reasons"] == Json::parse(R"(["head", "last"])"));
  CHECK(cli.json({"history", "alice"})["versions"].size() == 2);
  const auto gone = cli.run({"get", "alice", "--version", "2"});
  CHECK(gone.exit_code == 3);
  CHECK_THAT(gone.err, Catch::Contains("pruned by retention"));
  const Json verified = cli.json({"verify"});
  CHECK(verified["ok"] == true);
  CHECK(verified["gaps"] == 1);

  const auto no_file = cli.run({"prune"});
  CHECK(no_file.exit_code == 5);
  CHECK_THAT(no_file.err, Catch::Contains("ZSIMEM_RETENTION"));
  const auto off = cli.run({"--feature", "retention=off", "prune", "--retention", policy.string()});
  CHECK(off.exit_code == 10);
  write_file(policy, R"({"default": {"keep_lats": 2}})");
  const auto bad_file = cli.run({"prune", "--retention", policy.string()});
  CHECK(bad_file.exit_code == 5);
  CHECK_THAT(bad_file.err, Catch::Contains("keep_lats"));
}

TEST_CASE("progress: a bar on a terminal's standard error, nothing when piped", "[cli][progress]") {
  Cli cli("sqlite");
  for (int i = 0; i < 20; ++i) {
    REQUIRE(cli.run({"merge", "user" + std::to_string(i), R"({"n": 1})"}).exit_code == 0);
  }
  const auto backup = cli.dir.path() / "backup.jsonl";
  write_file(backup, cli.snapshot());
  const std::string target = (cli.dir.path() / "copy").string();

  const auto piped = testing::run_process(
      {ZSIMEM_BINARY, "--backend", "json", "--data-dir", target + "-piped", "import", backup.string()});
  CHECK(piped.exit_code == 0);
  CHECK(piped.err.empty());

  // `script` gives the command a terminal: the bar is drawn there, then cleared.
  const std::string command = std::string("'") + ZSIMEM_BINARY + "' --backend json --data-dir '" + target +
                              "' -o text import '" + backup.string() + "'";
  const auto on_terminal = testing::run_process({"script", "-qfec", command, "/dev/null"}, {}, {"TERM=xterm"});
  INFO(on_terminal.out);
  CHECK(on_terminal.exit_code == 0);
  CHECK_THAT(on_terminal.out, Catch::Contains("import  20/20 records  100%  [########################]"));
  CHECK_THAT(on_terminal.out, Catch::Contains("\r\033[Kimported 20 versions"));
  const auto dumb = testing::run_process({"script", "-qfec", command, "/dev/null"}, {}, {"TERM=dumb"});
  CHECK_THAT(dumb.out, !Catch::Contains("records  100%"));
}

TEST_CASE("progress: Ctrl-C in the middle of an import leaves a store that verifies", "[cli][progress]") {
  Cli source("sqlite");
  {
    // One context of 3,000 versions, so that the import takes a while.
    std::string jsonl;
    for (int i = 0; i < 3000; ++i) {
      jsonl += R"({"user_id": "alice", "delta": {"n": )" + std::to_string(i) + "}}\n";
    }
    const auto file = source.dir.path() / "updates.jsonl";
    write_file(file, jsonl);
    REQUIRE(source.run({"apply", file.string()}).exit_code == 0);
  }
  const auto backup = source.dir.path() / "backup.jsonl";
  write_file(backup, source.snapshot());
  Cli copy("json");
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string data_dir = copy.data_dir().string();
    const std::string file = backup.string();
    execl(ZSIMEM_BINARY, ZSIMEM_BINARY, "--backend", "json", "--data-dir", data_dir.c_str(), "import", file.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Interrupt once some versions are in.
  const auto versions_dir = copy.data_dir() / "contexts" / "alice" / "default";
  for (int wait = 0; wait < 500; ++wait) {
    std::error_code error;
    if (std::filesystem::exists(versions_dir, error) &&
        std::distance(std::filesystem::directory_iterator(versions_dir, error), std::filesystem::directory_iterator()) >
            10) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGINT);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO("wait status " << status);
  CHECK((WIFSIGNALED(status) || WEXITSTATUS(status) == 0));
  const auto verified = copy.run({"-o", "json", "verify"});
  INFO(verified.out << verified.err);
  CHECK(verified.exit_code == 0);
  // Whatever got in is a prefix of the history, and importing again finishes it.
  const auto again = copy.run({"-o", "json", "import", backup.string()});
  CHECK(again.exit_code == 0);
  CHECK(copy.json({"get", "alice"})["version"] == "3000");
  CHECK(copy.run({"verify"}).exit_code == 0);
}
