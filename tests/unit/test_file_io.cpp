#include "file_io.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/error.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using zsimem::Error;
using zsimem::ErrorCode;
using zsimem::testing::TempDir;
namespace file_io = zsimem::file_io;

namespace {

void put(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::size_t entries(const fs::path& dir) { return file_io::list_dir(dir).value_or(std::vector<std::string>{}).size(); }

// Runs `child` in a forked process and returns its exit status; the child
// never returns into the test runner.
template <typename Child> int run_in_child(Child child) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int status = 99;
    try {
      status = child();
    } catch (...) {
    }
    ::_exit(status);
  }
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

} // namespace

TEST_CASE("read_file returns the contents or names the missing file", "[file_io]") {
  TempDir dir;
  put(dir.path() / "a", std::string("one\0two", 7));
  CHECK(file_io::read_file(dir.path() / "a") == std::string("one\0two", 7));
  CHECK_FALSE(file_io::read_file_if_exists(dir.path() / "missing").has_value());
  try {
    file_io::read_file(dir.path() / "missing");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unavailable);
    CHECK_THAT(e.what(), Catch::Contains((dir.path() / "missing").string()));
    CHECK_THAT(e.what(), Catch::Contains("No such file"));
  }
}

TEST_CASE("write_file_atomic replaces a file and leaves no temp files", "[file_io]") {
  TempDir dir;
  fs::create_directory(dir.path() / "tmp");
  fs::path target = dir.path() / "target";
  CHECK(file_io::write_file_atomic(target, "first", dir.path() / "tmp"));
  CHECK(file_io::write_file_atomic(target, "second", dir.path() / "tmp"));
  CHECK(file_io::read_file(target) == "second");
  CHECK(entries(dir.path() / "tmp") == 0);
}

TEST_CASE("write_file_atomic in create_new mode never replaces a file", "[file_io]") {
  TempDir dir;
  fs::create_directory(dir.path() / "tmp");
  fs::path target = dir.path() / "target";
  CHECK(file_io::write_file_atomic(target, "first", dir.path() / "tmp", file_io::WriteMode::create_new));
  CHECK_FALSE(file_io::write_file_atomic(target, "second", dir.path() / "tmp", file_io::WriteMode::create_new));
  CHECK(file_io::read_file(target) == "first");
  CHECK(fs::hard_link_count(target) == 1);
  CHECK(entries(dir.path() / "tmp") == 0);
}

TEST_CASE("write_file_atomic reports a missing directory", "[file_io]") {
  TempDir dir;
  fs::create_directory(dir.path() / "tmp");
  auto write = [&] {
    file_io::write_file_atomic(dir.path() / "no" / "file", "x", dir.path() / "tmp", file_io::WriteMode::create_new);
  };
  CHECK_THROWS_AS(write(), Error);
  CHECK(entries(dir.path() / "tmp") == 0);
}

TEST_CASE("create_directories creates parents once and refuses a file in the way", "[file_io]") {
  TempDir dir;
  fs::path nested = dir.path() / "a" / "b" / "c";
  CHECK(file_io::create_directories(nested));
  CHECK(fs::is_directory(nested));
  CHECK_FALSE(file_io::create_directories(nested));
  CHECK_FALSE(file_io::create_directories(dir.path() / "a" / "b" / "c" / ""));
  put(dir.path() / "file", "x");
  CHECK_THROWS_AS(file_io::create_directories(dir.path() / "file" / "sub"), Error);
}

TEST_CASE("list_dir lists names and reports a missing directory as nullopt", "[file_io]") {
  TempDir dir;
  CHECK_FALSE(file_io::list_dir(dir.path() / "missing").has_value());
  put(dir.path() / "x", "");
  fs::create_directory(dir.path() / "y");
  auto names = file_io::list_dir(dir.path());
  REQUIRE(names.has_value());
  CHECK(std::set<std::string>(names->begin(), names->end()) == std::set<std::string>{"x", "y"});
}

TEST_CASE("remove_tree removes a tree and ignores a missing path", "[file_io]") {
  TempDir dir;
  fs::create_directories(dir.path() / "t" / "u");
  put(dir.path() / "t" / "u" / "f", "x");
  file_io::remove_tree(dir.path() / "t");
  CHECK_FALSE(fs::exists(dir.path() / "t"));
  CHECK_NOTHROW(file_io::remove_tree(dir.path() / "t"));
}

TEST_CASE("unique_name never repeats", "[file_io]") {
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) {
    names.insert(file_io::unique_name("x"));
  }
  CHECK(names.size() == 1000);
}

TEST_CASE("AppendFile appends at the end whoever else writes", "[file_io]") {
  TempDir dir;
  fs::path path = dir.path() / "log";
  file_io::AppendFile first(path);
  file_io::AppendFile second(path);
  first.append("a\n", false);
  second.append("b\n", true);
  first.append("c\n", true);
  CHECK(first.size() == 6);
  CHECK(file_io::read_file(path) == "a\nb\nc\n");
  CHECK(file_io::read_at(first.fd(), 2, 100, path) == "b\nc\n");
}

TEST_CASE("FileLock excludes other holders within one process", "[file_io]") {
  TempDir dir;
  fs::path path = dir.path() / "lock";
  {
    file_io::FileLock exclusive(path, file_io::LockMode::exclusive);
    CHECK_FALSE(file_io::FileLock::try_lock(path, file_io::LockMode::shared).has_value());
  }
  file_io::FileLock shared(path, file_io::LockMode::shared);
  CHECK(file_io::FileLock::try_lock(path, file_io::LockMode::shared).has_value());
  CHECK_FALSE(file_io::FileLock::try_lock(path, file_io::LockMode::exclusive).has_value());
}

TEST_CASE("FileLock excludes other processes", "[file_io]") {
  TempDir dir;
  fs::path path = dir.path() / "lock";
  auto child_can_lock = [&](file_io::LockMode mode) {
    return run_in_child([&] { return file_io::FileLock::try_lock(path, mode) ? 0 : 1; }) == 0;
  };
  {
    file_io::FileLock exclusive(path, file_io::LockMode::exclusive);
    CHECK_FALSE(child_can_lock(file_io::LockMode::shared));
    CHECK_FALSE(child_can_lock(file_io::LockMode::exclusive));
  }
  {
    file_io::FileLock shared(path, file_io::LockMode::shared);
    CHECK(child_can_lock(file_io::LockMode::shared));
    CHECK_FALSE(child_can_lock(file_io::LockMode::exclusive));
  }
  CHECK(child_can_lock(file_io::LockMode::exclusive));
}

TEST_CASE("FileLock on a borrowed descriptor unlocks it on destruction", "[file_io]") {
  TempDir dir;
  fs::path path = dir.path() / "log";
  file_io::AppendFile file(path);
  {
    file_io::FileLock lock(file.fd(), file_io::LockMode::exclusive, path);
    CHECK_FALSE(file_io::FileLock::try_lock(path, file_io::LockMode::shared).has_value());
  }
  CHECK(file_io::FileLock::try_lock(path, file_io::LockMode::exclusive).has_value());
  file.append("still open\n", false);
  CHECK(file.size() == 11);
}
