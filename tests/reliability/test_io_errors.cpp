// I/O errors injected under the real CLI and daemon (LD_PRELOAD of
// tests/reliability/shims/faultfs.c), and a real full disk (a small tmpfs):
// every failure must reach the caller as a clean `unavailable` error, and
// the store must stay consistent and writable afterwards.
#include "support/run_process.hpp"
#include "support/serve_process.hpp"
#include "support/stress_scale.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/memory_service.hpp>

#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <sys/mount.h>
#include <sys/wait.h>

using namespace zsimem;
using zsimem::testing::ProcessResult;
using zsimem::testing::run_process;
using zsimem::testing::stress_scale;

namespace {

namespace fs = std::filesystem;

const Caller k_checker{"io-error-test", "check"};
constexpr int k_exit_unavailable = 7;
constexpr std::array k_kinds{"open",   "read", "write",  "fsync", "ftruncate", "fallocate",
                             "rename", "link", "unlink", "mkdir", "rmdir"};

std::string shim_path() { return std::string(ZSIMEM_SHIM_DIR) + "/faultfs.so"; }

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

// One failure to inject: the `nth` call of `kind`, once or from then on.
struct Fault {
  std::string kind;
  long nth = 0;
  bool forever = false;
  std::string error = "EIO";
};

std::string describe(const Fault& fault) {
  return fault.kind + " #" + std::to_string(fault.nth) + (fault.forever ? " forever" : " once") + " " + fault.error;
}

// The environment of a child running under the shim, whose files go to `logs`.
std::vector<std::string> shim_env(const fs::path& root, const fs::path& logs, const std::optional<Fault>& fault) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  std::vector<std::string> env{
      "LD_PRELOAD=" + shim_path(),
      "FAULTFS_ROOT=" + root.string(),
      "FAULTFS_COUNT_FILE=" + (logs / "counts").string(),
      "FAULTFS_LOG=" + (logs / "injected").string(),
      "FAULTFS_TRACE=" + (logs / "trace").string(),
      // ASan insists that its runtime come first among the libraries; the shim does.
      "ASAN_OPTIONS=" + std::string(asan != nullptr ? std::string(asan) + ":" : "") + "verify_asan_link_order=0",
      "FAULTFS_ARMED_IF",
  };
  if (fault) {
    env.insert(env.end(),
               {"FAULTFS_KIND=" + fault->kind, "FAULTFS_NTH=" + std::to_string(fault->nth),
                std::string("FAULTFS_MODE=") + (fault->forever ? "forever" : "once"), "FAULTFS_ERRNO=" + fault->error});
  } else {
    env.insert(env.end(), {"FAULTFS_KIND", "FAULTFS_NTH", "FAULTFS_MODE", "FAULTFS_ERRNO"});
  }
  return env;
}

void clear_logs(const fs::path& logs) {
  for (const char* name : {"counts", "injected", "trace"}) {
    fs::remove(logs / name);
  }
}

// How many calls of each kind a run made under the root.
std::map<std::string, long> read_counts(const fs::path& logs) {
  std::map<std::string, long> counts;
  for (const auto& line : lines_of(slurp(logs / "counts"))) {
    std::istringstream in(line);
    std::string kind;
    long count = 0;
    in >> kind >> count;
    counts[kind] = count;
  }
  return counts;
}

// One call the shim failed (FAULTFS_LOG) or counted (FAULTFS_TRACE).
struct Call {
  std::string function;
  std::string kind;
  long index = 0; // among the calls of its kind
  std::string path;
};

std::vector<Call> read_calls(const fs::path& file) {
  std::vector<Call> calls;
  for (const auto& line : lines_of(slurp(file))) {
    std::istringstream in(line);
    Call call;
    in >> call.function >> call.kind >> call.index >> call.path;
    calls.push_back(call);
  }
  return calls;
}

// How many calls before `call` (in the run's trace) had its function and path.
long earlier_alike(const std::vector<Call>& trace, const Call& call) {
  long alike = 0;
  for (const auto& traced : trace) {
    if (traced.kind == call.kind && traced.index == call.index) {
      return alike;
    }
    alike += traced.function == call.function && traced.path == call.path ? 1 : 0;
  }
  return alike;
}

// Whether an operation may succeed although this call failed: only calls
// whose failure loses nothing and that a later run cleans up after.
bool tolerated(std::string_view backend, const fs::path& root, const Call& call, const std::vector<Call>& trace) {
  const fs::path path(call.path);
  if (backend == "json") {
    // Removing a version's temporary name once the version is linked into
    // place (or after a failed write): the leftover name is a second link to
    // a complete file, removed by a later open once it is an hour old.
    if (call.kind == "unlink" && path.parent_path() == root / "tmp" && path.extension() == ".tmp") {
      return true;
    }
    // Opening the store removes stale temp files, best effort: the lock it
    // tries first (the process's first open of the lock file) and listing tmp/.
    if (call.function == "opendir" && path == root / "tmp") {
      return true;
    }
    return call.kind == "open" && path == root / "lock" && earlier_alike(trace, call) == 0;
  }
  // SQLite opens and syncs the directory after it creates or opens the WAL,
  // and ignores either failing (os_unix.c, unixSync): the WAL already
  // existed, so its name was durable before.
  return (call.kind == "open" || call.kind == "fsync") && path == root;
}

// Output that means the process crashed or hit undefined behaviour rather
// than failing cleanly.
void require_no_crash(const ProcessResult& result) {
  REQUIRE_FALSE(result.timed_out);
  REQUIRE(result.exit_code < 128); // 128 + N: killed by signal N
  for (const char* marker : {"terminate called", "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                             "runtime error:", "internal error", "Segmentation fault"}) {
    CHECK_THAT(result.err, !Catch::Contains(marker));
  }
}

// Whether an error message says why the call failed: the OS's words for
// the errno, or SQLite's, which keeps no errno: any failed I/O call, a full
// disk, a failed read (which it takes for a damaged file), a file it could
// open only for reading, the database file that will not open.
bool names_cause(const std::string& message, const std::string& error) {
  const int number = error == "ENOSPC" ? ENOSPC : error == "EDQUOT" ? EDQUOT : EIO;
  const std::vector<std::string> causes{std::strerror(number),
                                        "disk I/O error",
                                        error == "ENOSPC" ? "database or disk is full" : "",
                                        "database disk image is malformed",
                                        "could be opened only for reading",
                                        "unable to open database file"};
  return std::any_of(causes.begin(), causes.end(), [&](const std::string& cause) {
    return !cause.empty() && message.find(cause) != std::string::npos;
  });
}

// What a store holds: every version of every context ("user/ns"), oldest
// first, as the canonical JSON of the whole record.
using Contents = std::map<std::string, std::vector<std::string>>;
// What `get` shows: each context's head version and data.
using Heads = std::map<std::string, std::pair<std::uint64_t, std::string>>;

Contents contents_of(MemoryService& service) {
  Contents contents;
  service.export_versions(k_checker, std::nullopt, [&](const VersionRecord& record) {
    auto& versions = contents[record.user_id + "/" + record.ns];
    // History has no gap: versions 1, 2, 3 … in order.
    REQUIRE(record.version == versions.size() + 1);
    versions.push_back(version_json(record).dump());
  });
  return contents;
}

Contents contents_of(const std::string& backend, const fs::path& dir) {
  MemoryService service(open_store({backend, dir}));
  return contents_of(service);
}

Heads heads_of(const Contents& contents) {
  Heads heads;
  for (const auto& [key, versions] : contents) {
    const Json head = Json::parse(versions.back());
    heads[key] = {versions.size(), canonical_json(head["data"])};
  }
  return heads;
}

std::string describe(const Heads& heads) {
  std::string text;
  for (const auto& [key, head] : heads) {
    text += key + " v" + std::to_string(head.first) + " " + head.second + "\n";
  }
  return text;
}

// One CLI operation swept: its arguments after --data-dir, and the user
// whose context a merge afterwards must extend.
struct Operation {
  std::string name;
  std::vector<std::string> args;
  std::string user;
  // For a store without atomic batches (json): argument lists whose results
  // are also acceptable states, such as a batch's first updates alone.
  std::vector<std::vector<std::string>> partial_args;
};

std::vector<std::string> cli(const std::string& backend, const fs::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{ZSIMEM_BINARY, "--backend", backend, "--data-dir", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-o", "json"});
  return argv;
}

// The store every sweep starts from: three contexts of two users.
void fill_template(const std::string& backend, const fs::path& dir) {
  MemoryService service(open_store({backend, dir}));
  const auto merge = [&](const std::string& user, const std::string& ns, const std::string& delta) {
    MemoryUpdate update;
    update.user_id = user;
    update.ns = ns;
    update.delta = delta;
    service.merge(k_checker, update);
  };
  merge("alice", "default", R"({"a":1})");
  merge("alice", "default", R"({"b":{"c":2}})");
  merge("alice", "default", R"({"a":3})");
  merge("alice", "work", R"({"w":1})");
  merge("alice", "work", R"({"w":2})");
  merge("bob", "default", R"({"x":1})");
  merge("bob", "default", R"({"x":2})");
}

void copy_store(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

// Which N of `count` calls a sweep visits: all of them at scale 1 and above;
// below, every k-th, from an offset that differs by kind so that shorter
// runs still cover every position over the kinds.
std::vector<long> positions(long count, std::size_t salt) {
  const double scale = std::min(1.0, stress_scale());
  const long stride = scale > 0 ? std::max(1L, static_cast<long>(1.0 / scale + 0.5)) : count;
  std::vector<long> out;
  for (long n = 1; n <= count; ++n) {
    if ((n - 1 + static_cast<long>(salt)) % stride == 0 || n == count) {
      out.push_back(n);
    }
  }
  return out;
}

struct SweepFigures {
  int runs = 0;
  int failed_cleanly = 0;
  int tolerated = 0;
  std::string calls; // how many calls of each kind the operation makes
};

// Runs `operation` once per fault and checks the outcome and the store.
SweepFigures sweep(const std::string& backend, const Operation& operation) {
  testing::TempDir temp;
  const fs::path logs = temp.path() / "logs";
  const fs::path base = temp.path() / "template";
  const fs::path run_dir = temp.path() / "store";
  fs::create_directories(logs);
  fill_template(backend, base);
  const Contents before = contents_of(backend, base);
  std::vector<Heads> acceptable{heads_of(before)};

  // A run without faults counts the calls and gives the state after.
  copy_store(base, run_dir);
  clear_logs(logs);
  const ProcessResult clean = run_process(cli(backend, run_dir, operation.args), {}, shim_env(run_dir, logs, {}));
  INFO(clean.err);
  REQUIRE(clean.exit_code == 0);
  const auto counts = read_counts(logs);
  REQUIRE(counts.at("any") > 0);
  acceptable.push_back(heads_of(contents_of(backend, run_dir)));
  if (backend == "json") {
    for (const auto& args : operation.partial_args) {
      copy_store(base, run_dir);
      REQUIRE(run_process(cli(backend, run_dir, args)).exit_code == 0);
      acceptable.push_back(heads_of(contents_of(backend, run_dir)));
    }
  }

  std::vector<std::string> errors{"EIO"};
  if (stress_scale() >= 2) {
    errors.insert(errors.end(), {"ENOSPC", "EDQUOT"});
  }
  SweepFigures figures;
  for (const auto& [kind, count] : counts) {
    figures.calls += count != 0 && kind != "any" ? kind + " " + std::to_string(count) + " " : "";
  }
  std::size_t salt = 0;
  for (const std::string kind : k_kinds) {
    ++salt;
    const long count = counts.count(kind) != 0 ? counts.at(kind) : 0;
    for (const auto& error : errors) {
      // A full disk fails writes: ENOSPC on them in the default run too.
      std::vector<std::string> kind_errors{error};
      if (error == "EIO" && kind == "write" && stress_scale() < 2) {
        kind_errors.push_back("ENOSPC");
      }
      for (const auto& injected_error : kind_errors) {
        for (const long nth : positions(count, salt)) {
          for (const bool forever : {false, true}) {
            // Shorter runs (the sanitizers') take one mode per position, in turn.
            if (stress_scale() < 1 && forever == (nth % 2 == 1)) {
              continue;
            }
            const Fault fault{kind, nth, forever, injected_error};
            INFO(backend << " " << operation.name << ": " << describe(fault));
            copy_store(base, run_dir);
            clear_logs(logs);
            const ProcessResult result = run_process(cli(backend, run_dir, operation.args), {},
                                                     shim_env(run_dir, logs, fault), std::chrono::seconds(30));
            INFO("exit " << result.exit_code << ", stderr: " << result.err);
            ++figures.runs;
            require_no_crash(result);
            const auto injected = read_calls(logs / "injected");
            if (result.exit_code == 0) {
              const auto trace = read_calls(logs / "trace");
              for (const auto& call : injected) {
                INFO("failed call: " << call.function << " " << call.path);
                CHECK(tolerated(backend, run_dir, call, trace));
              }
              ++figures.tolerated;
            } else {
              REQUIRE(result.exit_code == k_exit_unavailable);
              CHECK_THAT(result.err, Catch::StartsWith("zsimem: ") && Catch::Contains(run_dir.string()));
              CHECK(names_cause(result.err, injected_error));
              ++figures.failed_cleanly;
            }

            // Without faults: the store verifies, shows the state before or
            // after, keeps every version byte for byte, and takes a merge.
            MemoryService service(open_store({backend, run_dir}));
            const auto report = service.verify(k_checker);
            INFO((report.ok() ? std::string() : report.problems.front().problem));
            REQUIRE(report.ok());
            const Contents after = contents_of(service);
            for (const auto& [key, versions] : before) {
              if (const auto it = after.find(key); it != after.end()) {
                REQUIRE(it->second.size() >= versions.size());
                REQUIRE(std::equal(versions.begin(), versions.end(), it->second.begin()));
              }
            }
            const Heads heads = heads_of(after);
            INFO("state: " << describe(heads));
            REQUIRE(std::find(acceptable.begin(), acceptable.end(), heads) != acceptable.end());
            MemoryUpdate update;
            update.user_id = operation.user;
            update.delta = R"({"after_fault":)" + std::to_string(figures.runs) + "}";
            const auto key = operation.user + "/default";
            const std::uint64_t head = heads.count(key) != 0 ? heads.at(key).first : 0;
            CHECK(service.merge(k_checker, update).record.version == head + 1);
            CHECK(service.verify(k_checker).ok());
          }
        }
      }
    }
  }
  return figures;
}

void sweep_and_report(const Operation& operation) {
  const std::string backend(GENERATE(from_range(file_backend_names())));
  const auto started = std::chrono::steady_clock::now();
  const SweepFigures figures = sweep(backend, operation);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  // The figures docs/reliability.md quotes (ctest shows them only on failure).
  WARN(backend << " " << operation.name << ": " << figures.runs << " runs, " << figures.failed_cleanly
               << " failed cleanly, " << figures.tolerated << " tolerated, " << took
               << " ms; calls: " << figures.calls);
  CHECK(figures.failed_cleanly > 0);
}

} // namespace

TEST_CASE("io errors: a merge into an existing context fails cleanly on every failed call",
          "[reliability][io_errors]") {
  sweep_and_report({"merge", {"merge", "alice", R"({"a":4,"d":"x"})"}, "alice", {}});
}

TEST_CASE("io errors: a merge creating a context fails cleanly on every failed call", "[reliability][io_errors]") {
  sweep_and_report({"first merge", {"merge", "carol", R"({"n":1})"}, "carol", {}});
}

TEST_CASE("io errors: an erasure fails cleanly on every failed call", "[reliability][io_errors]") {
  sweep_and_report({"erase", {"delete", "alice", "--yes"}, "alice", {}});
}

TEST_CASE("io errors: a rollback fails cleanly on every failed call", "[reliability][io_errors]") {
  sweep_and_report({"rollback", {"rollback", "alice", "1"}, "alice", {}});
}

TEST_CASE("io errors: a batch fails cleanly on every failed call", "[reliability][io_errors]") {
  testing::TempDir batches;
  const std::vector<std::string> updates{R"({"user_id":"alice","delta":{"a":5}})",
                                         R"({"user_id":"bob","delta":{"z":1}})",
                                         R"({"user_id":"dave","delta":{"n":1}})"};
  std::vector<std::string> files;
  for (std::size_t size = 1; size <= updates.size(); ++size) {
    const fs::path file = batches.path() / ("batch" + std::to_string(size) + ".jsonl");
    std::ofstream out(file);
    for (std::size_t i = 0; i < size; ++i) {
      out << updates[i] << '\n';
    }
    files.push_back(file.string());
  }
  sweep_and_report({"apply", {"apply", files[2]}, "dave", {{"apply", files[0]}, {"apply", files[1]}}});
}

TEST_CASE("io errors: the daemon answers 503 to a write whose call fails and keeps serving",
          "[reliability][io_errors][daemon]") {
  const std::string backend(GENERATE(from_range(file_backend_names())));
  const std::string kind = GENERATE(as<std::string>{}, "fsync", "write");
  INFO(backend << ", failing " << kind);
  testing::TempDir temp;
  const fs::path data = temp.path() / "store";
  const fs::path logs = temp.path() / "logs";
  const fs::path armed = temp.path() / "armed";
  fs::create_directories(logs);
  testing::ServeProcess::Options options(backend, data, temp.path() / "serve.log");
  options.env = shim_env(data, logs, Fault{kind, 1, true, "EIO"});
  // Calls fail only while `armed` exists: the daemon starts, and then serves, unharmed.
  options.env.push_back("FAULTFS_ARMED_IF=" + armed.string());
  testing::ServeProcess daemon(options);
  httplib::Client client("127.0.0.1", daemon.port());
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(20, 0);
  const auto post = [&](int value) {
    return client.Post("/api/v1/memory/u", Json{{"user_id", "u"}, {"delta", {{"a", value}}}}.dump(),
                       "application/json");
  };

  const auto first = post(1);
  REQUIRE(first);
  REQUIRE(first->status == 200);
  const std::string first_data = canonical_json(Json::parse(first->body)["data"]);

  std::ofstream(armed).put('\n');
  const auto refused = post(2);
  fs::remove(armed);
  REQUIRE(refused);
  INFO(refused->body);
  CHECK(refused->status == 503);
  const Json problem = Json::parse(refused->body, nullptr, false);
  REQUIRE(problem.is_object());
  REQUIRE(problem.contains("detail"));
  REQUIRE(problem["detail"].is_string());
  CHECK(names_cause(problem["detail"].get<std::string>(), "EIO"));
  CHECK_FALSE(read_calls(logs / "injected").empty());

  // Served as before, the refused write nowhere.
  const auto next = post(3);
  REQUIRE(next);
  CHECK(next->status == 200);
  const auto head = client.Get("/api/v1/memory/u");
  REQUIRE(head);
  REQUIRE(head->status == 200);
  const Json context = Json::parse(head->body);
  CHECK(context["version"] == "2");
  CHECK(context["data"] == Json{{"a", 3}});

  ::kill(daemon.pid(), SIGTERM);
  const int status = daemon.wait_for_exit(20'000);
  const std::string log = slurp(temp.path() / "serve.log");
  INFO(log);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (const char* marker : {"terminate called", "AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
    CHECK_THAT(log, !Catch::Contains(marker));
  }
  MemoryService service(open_store({backend, data}));
  CHECK(service.verify(k_checker).ok());
  const Contents contents = contents_of(service);
  REQUIRE(contents.at("u/default").size() == 2);
  CHECK(canonical_json(Json::parse(contents.at("u/default").front())["data"]) == first_data);
}

namespace {

// A tmpfs mounted for one test and unmounted however the test ends.
class TmpfsMount {
public:
  TmpfsMount(fs::path dir, const std::string& options) : m_dir(std::move(dir)) {
    fs::create_directories(m_dir);
    if (::mount("tmpfs", m_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0) {
      m_mounted = true;
    } else {
      m_error = std::strerror(errno);
    }
  }
  ~TmpfsMount() {
    if (m_mounted && ::umount2(m_dir.c_str(), 0) != 0) {
      ::umount2(m_dir.c_str(), MNT_DETACH); // still busy: detach it now, freed once unused
    }
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  bool mounted() const { return m_mounted; }
  const std::string& error() const { return m_error; }
  const fs::path& path() const { return m_dir; }

private:
  fs::path m_dir;
  bool m_mounted = false;
  std::string m_error;
};

} // namespace

TEST_CASE("io errors: a full disk fails writes cleanly and loses nothing and writes resume once space is freed",
          "[reliability][io_errors][disk_full]") {
  const std::string backend(GENERATE(from_range(file_backend_names())));
  INFO(backend);
  testing::TempDir temp;
  TmpfsMount disk(temp.path() / "disk", "size=2m");
  if (!disk.mounted()) {
    WARN("skipped: cannot mount a 2 MiB tmpfs (" << disk.error() << "); this test needs root (CAP_SYS_ADMIN)");
    return;
  }
  // Space to free once the disk is full; it leaves room for a few merges
  // only, since merges of large deltas are slow under the sanitizers.
  const fs::path filler = disk.path() / "filler";
  std::ofstream(filler, std::ios::binary) << std::string(1280 * 1024, 'f');
  const fs::path data = disk.path() / "store";

  std::map<std::uint64_t, std::string> acknowledged; // version -> data as acknowledged
  int refused = 0;
  for (int round = 0; round < 200 && refused < 3; ++round) {
    const std::string delta = R"({"round":)" + std::to_string(round) + R"(,"payload":")" +
                              std::string(40'000, static_cast<char>('a' + round % 26)) + "\"}";
    const ProcessResult result =
        run_process(cli(backend, data, {"merge", "full", delta}), {}, {}, std::chrono::seconds(30));
    INFO("round " << round << ": exit " << result.exit_code << ", stderr: " << result.err);
    require_no_crash(result);
    if (result.exit_code == 0) {
      const Json context = Json::parse(result.out);
      acknowledged[parse_version(context["version"].get<std::string>())] = canonical_json(context["data"]);
      continue;
    }
    ++refused;
    REQUIRE(result.exit_code == k_exit_unavailable);
    CHECK_THAT(result.err, Catch::StartsWith("zsimem: ") && Catch::Contains(data.string()));
    CHECK(names_cause(result.err, "ENOSPC"));
  }
  REQUIRE(refused == 3);
  REQUIRE_FALSE(acknowledged.empty());
  WARN(backend << ": " << acknowledged.size() << " merges acknowledged before the 2 MiB disk filled, then 3 refused");

  // Full, the store still reads and verifies.
  const ProcessResult full_verify = run_process(cli(backend, data, {"verify"}));
  INFO("verify on the full disk: exit " << full_verify.exit_code << ", stderr: " << full_verify.err);
  require_no_crash(full_verify);
  CHECK(full_verify.exit_code == 0);

  fs::remove(filler);
  const ProcessResult verify = run_process(cli(backend, data, {"verify"}));
  INFO("verify: " << verify.err);
  CHECK(verify.exit_code == 0);
  {
    MemoryService service(open_store({backend, data}));
    REQUIRE(service.verify(k_checker).ok());
    const auto versions = contents_of(service).at("full/default");
    for (const auto& [version, context_data] : acknowledged) {
      REQUIRE(version <= versions.size());
      CHECK(canonical_json(Json::parse(versions[version - 1])["data"]) == context_data);
    }
  }
  const ProcessResult resumed = run_process(cli(backend, data, {"merge", "full", R"({"resumed":true})"}));
  INFO("merge after freeing space: " << resumed.err);
  CHECK(resumed.exit_code == 0);
}
