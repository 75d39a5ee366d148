#include "support/stress_scale.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/memory_service.hpp>

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace zsimem;
using zsimem::testing::stress_scale;

namespace {

// Starts the CLI with stdout to a file; returns its pid.
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& out) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, STDOUT_FILENO);
    const int null = open("/dev/null", O_RDWR);
    dup2(null, STDERR_FILENO);
    dup2(null, STDIN_FILENO);
    std::vector<char*> args;
    for (const auto& arg : argv) {
      args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

TEST_CASE("a writer killed at random moments never loses an acknowledged version", "[cli][crash]") {
  const std::string backend(GENERATE(from_range(file_backend_names())));
  testing::TempDir dir;
  const auto out = dir.path() / "out.json";
  const std::filesystem::path data_dir = dir.path() / "store";
  std::mt19937 random(std::random_device{}());
  std::map<std::uint64_t, std::string> acknowledged; // version -> data as acknowledged
  const int rounds = std::max(20, static_cast<int>(150 * stress_scale()));
  int killed = 0;
  // Kill moments spread over a whole write, measured here because the
  // machine may be slow or loaded: from before the store opens to after the
  // reply.
  int max_delay_us = 0;
  for (int round = 0; round < rounds; ++round) {
    // A sizeable delta so that writes take long enough to be interrupted.
    const std::string delta = R"({"round":)" + std::to_string(round) + R"(,"payload":")" +
                              std::string(20000 + static_cast<std::size_t>(round), 'x') + "\"}";
    const pid_t pid = spawn(
        {ZSIMEM_BINARY, "--backend", backend, "--data-dir", data_dir.string(), "merge", "crash", delta, "-o", "json"},
        out);
    const auto started = std::chrono::steady_clock::now();
    int status = 0;
    if (round < 3) {
      waitpid(pid, &status, 0); // calibration rounds run to completion
      const auto took =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
      max_delay_us = std::max(max_delay_us, static_cast<int>(took.count() * 3 / 2));
    } else {
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::uniform_int_distribution<int>(0, max_delay_us)(random)));
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    if (WIFSIGNALED(status)) {
      ++killed;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      const Json context = Json::parse(slurp(out));
      acknowledged[parse_version(context["version"].get<std::string>())] = canonical_json(context["data"]);
    } else {
      FAIL("the writer failed on its own, status " << status);
    }

    // After every kill the store opens, verifies, and shows no partial version.
    MemoryService service(open_store({backend, data_dir}));
    const Caller caller{"test", "check"};
    const auto report = service.verify(caller);
    INFO("round " << round << ": " << (report.ok() ? "" : report.problems.front().problem));
    REQUIRE(report.ok());
    // Every version acknowledged so far reads back byte-identical, and
    // version numbers have no gaps.
    std::uint64_t expected = 0;
    service.export_versions(caller, std::string_view("crash"), [&](const VersionRecord& record) {
      REQUIRE(record.version == ++expected);
      if (const auto it = acknowledged.find(record.version); it != acknowledged.end()) {
        REQUIRE(record.data == it->second);
      }
    });
    REQUIRE((acknowledged.empty() || acknowledged.rbegin()->first <= expected));
  }
  INFO("killed " << killed << " of " << rounds << ", acknowledged " << acknowledged.size());
  CHECK(killed > 0);
  CHECK_FALSE(acknowledged.empty());
}
