#include "support/run_process.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

using zsimem::testing::run_process;

TEST_CASE("run_process passes arguments verbatim and keeps the streams apart", "[support]") {
  const auto result =
      run_process({"sh", "-c", "printf '%s|' \"$@\"; echo oops >&2; exit 3", "sh", "a b", "'c'", "$HOME", ""});
  CHECK(result.exit_code == 3);
  CHECK(result.out == "a b|'c'|$HOME||");
  CHECK(result.err == "oops\n");
  CHECK_FALSE(result.timed_out);
}

TEST_CASE("run_process moves megabytes through stdin, stdout and stderr at once", "[support]") {
  std::string input;
  while (input.size() < 4 * 1024 * 1024) {
    input += "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
  }
  const auto result = run_process({"tee", "/dev/stderr"}, input);
  CHECK(result.exit_code == 0);
  CHECK(result.out == input);
  CHECK(result.err == input);
}

TEST_CASE("run_process survives a child that does not read its input", "[support]") {
  const auto result = run_process({"true"}, std::string(1024 * 1024, 'x'));
  CHECK(result.exit_code == 0);
}

TEST_CASE("run_process sets and removes environment variables", "[support]") {
  const auto result =
      run_process({"sh", "-c", "echo \"$ZSIMEM_TEST_A|${HOME-unset}\""}, {}, {"ZSIMEM_TEST_A=x=y", "HOME"});
  CHECK(result.out == "x=y|unset\n");
}

TEST_CASE("run_process reports signals, timeouts and programs that do not exist", "[support]") {
  CHECK(run_process({"sh", "-c", "kill -TERM $$"}).exit_code == 128 + 15);

  const auto start = std::chrono::steady_clock::now();
  const auto slow = run_process({"sh", "-c", "sleep 30 & sleep 30"}, {}, {}, std::chrono::milliseconds(200));
  CHECK(slow.timed_out);
  CHECK(slow.exit_code == 128 + 9);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

  CHECK_THROWS_AS(run_process({"zsimem-no-such-program"}), std::runtime_error);
  CHECK_THROWS_AS(run_process({"/nonexistent/program"}), std::runtime_error);
}
