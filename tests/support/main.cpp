// The test binary's main: Catch2's, after loading the addresses of the
// servers that tests/services/run started for this test run (PostgreSQL,
// dynalite) into the environment, where the backends and the processes the
// tests start find them, as a deployment's would. Done here, before any
// test starts a thread: setenv is not thread-safe.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

namespace {

// NAME=VALUE lines; ZSIMEM_TEST_SERVICES overrides where they are.
void load_test_services() {
  const char* override = std::getenv("ZSIMEM_TEST_SERVICES");
  std::ifstream file(override != nullptr ? override : ZSIMEM_TEST_SERVICES_FILE);
  std::string line;
  while (std::getline(file, line)) {
    if (const auto equals = line.find('='); equals != std::string::npos && equals > 0) {
      ::setenv(line.substr(0, equals).c_str(), line.substr(equals + 1).c_str(), 1);
    }
  }
}

} // namespace

int main(int argc, char* argv[]) {
  load_test_services();
  return Catch::Session().run(argc, argv);
}
