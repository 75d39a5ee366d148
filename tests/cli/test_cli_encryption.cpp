// Encryption at rest from the outside: master keys from the environment or
// a key file (never an argument), zsimem rekey, and the daemon serving
// sealed contexts without a byte of them on disk in the clear.

#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

using namespace zsimem;
using testing::ProcessResult;

namespace {

namespace fs = std::filesystem;

constexpr int k_exit_invalid = 5;
constexpr int k_exit_unavailable = 7;

const std::string k_old_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string k_new_key = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

struct EncryptedCli {
  testing::TempDir dir;
  std::string backend;

  explicit EncryptedCli(std::string_view name) : backend(name) {}

  ProcessResult run(std::vector<std::string> args, const std::vector<std::string>& env,
                    const std::string& output = "json") const {
    std::vector<std::string> argv{ZSIMEM_BINARY, "--backend", backend, "--data-dir", (dir.path() / "store").string(),
                                  "-o",          output};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_process(argv, {}, env);
  }
};

bool any_file_contains(const fs::path& dir, const std::string& needle) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      if (bytes.find(needle) != std::string::npos) {
        return true;
      }
    }
  }
  return false;
}

} // namespace

TEST_CASE("cli encryption: keys from the environment or a file, rekey, and clear errors", "[cli][encryption]") {
  EncryptedCli cli(GENERATE(from_range(file_backend_names())));
  INFO(cli.backend);
  const std::vector<std::string> old_env{"ZSIMEM_MASTER_KEY=" + k_old_key};
  const std::string marker = "MARKER-cli-4b1d";
  auto result = cli.run({"merge", "alice", R"({"secret": ")" + marker + R"("})"}, old_env);
  REQUIRE(result.exit_code == 0);
  CHECK_FALSE(any_file_contains(cli.dir.path() / "store", marker));
  result = cli.run({"get", "alice"}, old_env);
  REQUIRE(result.exit_code == 0);
  CHECK(Json::parse(result.out)["data"]["secret"] == marker);

  // Without the key, or with another: an error naming the way out.
  result = cli.run({"get", "alice"}, {"ZSIMEM_MASTER_KEY"});
  CHECK(result.exit_code == k_exit_unavailable);
  CHECK(result.err.find("ZSIMEM_MASTER_KEY") != std::string::npos);
  result = cli.run({"get", "alice"}, {"ZSIMEM_MASTER_KEY=" + k_new_key});
  CHECK(result.exit_code == k_exit_unavailable);
  CHECK(result.err.find("not among the configured master keys") != std::string::npos);

  // A malformed key is refused without being echoed.
  result = cli.run({"get", "alice"}, {"ZSIMEM_MASTER_KEY=" + k_new_key.substr(0, 60) + "zz"});
  CHECK(result.exit_code == k_exit_invalid);
  CHECK(result.err.find(k_new_key.substr(0, 60)) == std::string::npos);
  // There is no option that takes a key itself.
  result = cli.run({"--master-key", k_old_key, "get", "alice"}, {});
  CHECK(result.exit_code != 0);

  // Rotation: both keys, the new one first; then the new one alone reads.
  const std::vector<std::string> both_env{"ZSIMEM_MASTER_KEY=" + k_new_key + "," + k_old_key};
  result = cli.run({"rekey"}, both_env);
  REQUIRE(result.exit_code == 0);
  const Json report = Json::parse(result.out);
  CHECK(report["data_keys"] == 1);
  CHECK(report["rewrapped"] == 1);
  result = cli.run({"rekey", "--rotate-data-keys"}, both_env, "text");
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.find("rewrapped 0 of 1 data keys onto master key ") != std::string::npos);
  CHECK(result.out.find("1 users got a new data key") != std::string::npos);

  // The key file, as the flag or the variable names it.
  const fs::path key_file = cli.dir.path() / "master.key";
  std::ofstream(key_file) << "# the current key\n" << k_new_key << '\n';
  result = cli.run({"--master-key-file", key_file.string(), "get", "alice"}, {"ZSIMEM_MASTER_KEY"});
  REQUIRE(result.exit_code == 0);
  CHECK(Json::parse(result.out)["data"]["secret"] == marker);
  result = cli.run({"verify"}, {"ZSIMEM_MASTER_KEY", "ZSIMEM_MASTER_KEY_FILE=" + key_file.string()});
  CHECK(result.exit_code == 0);
  // Both ways at once is ambiguous.
  result = cli.run({"--master-key-file", key_file.string(), "get", "alice"}, both_env);
  CHECK(result.exit_code == k_exit_invalid);
  result = cli.run({"rekey"}, {"ZSIMEM_MASTER_KEY"});
  CHECK(result.exit_code == k_exit_invalid);

  // rekey is audited.
  result = cli.run({"log", "--limit", "20"}, {"ZSIMEM_MASTER_KEY=" + k_new_key});
  REQUIRE(result.exit_code == 0);
  std::size_t rekeys = 0;
  const Json log = Json::parse(result.out);
  for (const auto& record : log["records"]) {
    rekeys += record["operation"] == "rekey" ? 1U : 0U;
  }
  CHECK(rekeys == 3); // the one without keys failed, and is logged too
}

TEST_CASE("cli encryption: the daemon serves sealed contexts over HTTP", "[cli][encryption][http]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  testing::TempDir dir;
  testing::ServeProcess::Options options(backend, dir.path() / "data", dir.path() / "serve.log");
  options.env = {"ZSIMEM_MASTER_KEY=" + k_old_key};
  const std::string marker = "MARKER-http-9e2c";
  {
    const testing::ServeProcess daemon(std::move(options));
    httplib::Client client("127.0.0.1", daemon.port());
    for (int i = 0; i < 3; ++i) {
      const auto posted =
          client.Post("/api/v1/memory/alice",
                      R"({"user_id": "alice", "delta": {"note": ")" + marker + R"(", "n": )" + std::to_string(i) + "}}",
                      "application/json");
      REQUIRE(posted);
      REQUIRE(posted->status == 200);
    }
    const auto got = client.Get("/api/v1/memory/alice");
    REQUIRE(got);
    REQUIRE(got->status == 200);
    CHECK(Json::parse(got->body)["data"]["note"] == marker);
    CHECK(Json::parse(got->body)["version"] == "3");
  }
  CHECK_FALSE(any_file_contains(dir.path() / "data", marker));
}
