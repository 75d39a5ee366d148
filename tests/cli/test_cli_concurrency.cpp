#include "support/run_process.hpp"
#include "support/stress_scale.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/memory_service.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

using namespace zsimem;
using zsimem::testing::run_process;
using zsimem::testing::stress_scale;

namespace {

struct Head {
  std::uint64_t version = 0;
  std::int64_t counter = 0;
};

// Called on worker threads, where Catch2's assertions must not be used (they
// are not thread-safe): a failure is thrown, for the thread to record.
Head read_head(const std::vector<std::string>& base) {
  auto argv = base;
  argv.insert(argv.end(), {"get", "counter", "-o", "json"});
  const auto result = run_process(argv);
  if (result.exit_code == 3) {
    return {}; // not created yet
  }
  if (result.exit_code != 0) {
    throw std::runtime_error("get exited with " + std::to_string(result.exit_code) + ": " + result.err);
  }
  const Json context = Json::parse(result.out);
  return {parse_version(context["version"].get<std::string>()), context["data"]["counter"].get<std::int64_t>()};
}

} // namespace

TEST_CASE("concurrent CLI processes increment a counter without losing an update", "[cli][concurrency]") {
  const std::string backend(GENERATE(from_range(file_backend_names())));
  testing::TempDir dir;
  const std::vector<std::string> base{ZSIMEM_BINARY, "--backend", backend, "--data-dir", dir.path().string()};
  const int writers = 4;
  const int increments = std::max(10, static_cast<int>(250 * stress_scale()));
  std::atomic<int> successes{0};
  std::atomic<int> conflicts{0};
  // What went wrong on the writers' threads, asserted on this one.
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&] {
      try {
        Head head = read_head(base);
        int done = 0;
        while (done < increments) {
          auto argv = base;
          argv.insert(argv.end(), {"merge", "counter", R"({"counter":)" + std::to_string(head.counter + 1) + "}",
                                   "--if-version", std::to_string(head.version), "-o", "json"});
          const auto result = run_process(argv);
          if (result.exit_code == 0) {
            const Json context = Json::parse(result.out);
            head = {parse_version(context["version"].get<std::string>()),
                    context["data"]["counter"].get<std::int64_t>()};
            ++done;
            ++successes;
          } else if (result.exit_code == 4) {
            ++conflicts;
            head = read_head(base);
          } else {
            throw std::runtime_error("merge exited with " + std::to_string(result.exit_code) + ": " + result.err);
          }
        }
      } catch (const std::exception& error) {
        const std::lock_guard lock(errors_mutex);
        errors.emplace_back(error.what());
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (const auto& error : errors) {
    FAIL_CHECK(error);
  }
  REQUIRE(errors.empty());
  CHECK(successes == writers * increments);
  INFO("conflicts: " << conflicts);

  // The final value and the number of versions equal the successful
  // increments; every version 1..N exists once, each one more than the last.
  MemoryService service(open_store({backend, dir.path()}));
  const Caller caller{"test", "check"};
  const VersionRecord head = service.get(caller, {"counter"});
  CHECK(head.version == static_cast<std::uint64_t>(successes.load()));
  CHECK(Json::parse(head.data)["counter"] == successes.load());
  std::uint64_t expected = 0;
  service.export_versions(caller, std::string_view("counter"), [&](const VersionRecord& record) {
    ++expected;
    CHECK(record.version == expected);
    CHECK(Json::parse(record.data)["counter"] == static_cast<std::int64_t>(expected));
  });
  CHECK(expected == head.version);
  CHECK(service.verify(caller).ok());
}
