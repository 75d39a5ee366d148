#include "reliability/power_oplog.hpp"
#include "support/run_process.hpp"
#include "support/stress_scale.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

using namespace zsimem;
using namespace zsimem::testing::power;
using zsimem::testing::ProcessResult;
using zsimem::testing::run_process;
using zsimem::testing::stress_scale;
using zsimem::testing::TempDir;

namespace {

namespace fs = std::filesystem;

// Unique crash states checked per backend at ZSIMEM_STRESS_SCALE=1.
constexpr double k_states_per_backend = 400;
constexpr double k_concurrent_states_per_backend = 100;
// The concurrent run: threads, merges per thread, and with SQLite a version
// of over 4 MB (data and delta) that passes the 1000 WAL frames at which
// the long-lived store checkpoints on a thread of its own while the writers
// go on; it is written by a thread of its own and erased.
constexpr int k_concurrent_threads = 4;
constexpr int k_concurrent_merges = 12;
constexpr std::size_t k_concurrent_blob_bytes_sqlite = 2200 * 1024;
constexpr std::string_view k_blob_user = "big";

// Acks of concurrent runs: thread * k_ack_base + version.
constexpr std::uint64_t k_ack_base = 1'000'000;

// A context's export lines, in version order: "user/namespace" -> lines.
using Contexts = std::map<std::string, std::vector<std::string>>;

// Runs the CLI, with JSON output, on the store in `data_dir`; `env` is added
// to the environment.
ProcessResult run_cli(const std::string& backend, const fs::path& data_dir, std::vector<std::string> args,
                      const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{ZSIMEM_BINARY, "--backend", backend, "--data-dir", data_dir.string(), "-o", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, {}, env, std::chrono::seconds(60));
}

// Export output by context; nullopt (with `problem`) when versions have a
// gap or come out of order.
std::optional<Contexts> parse_export(const std::string& out, std::string& problem) {
  Contexts contexts;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) {
      continue;
    }
    const Json record = Json::parse(line);
    const std::string key = record.at("user_id").get<std::string>() + "/" + record.at("namespace").get<std::string>();
    auto& versions = contexts[key];
    const std::string version = record.at("version").get<std::string>();
    if (version != std::to_string(versions.size() + 1)) {
      problem = key + " has version " + version + " after " + std::to_string(versions.size()) + " versions";
      return std::nullopt;
    }
    versions.push_back(line);
  }
  return contexts;
}

bool is_prefix(const std::vector<std::string>& prefix, const std::vector<std::string>& of) {
  return prefix.size() <= of.size() && std::equal(prefix.begin(), prefix.end(), of.begin());
}

const std::vector<std::string>& versions_of(const Contexts& contexts, const std::string& key) {
  static const std::vector<std::string> none;
  const auto it = contexts.find(key);
  return it == contexts.end() ? none : it->second;
}

// Why `got` is no state a crash during the write from `before` to `after`
// may leave; empty when it is one. Atomic batches: all of the write or
// none; otherwise each context on its own holds the versions before, or
// some of the write's new ones on top, or (erased) none.
std::string unexpected_state(const Contexts& got, const Contexts& before, const Contexts& after, bool atomic) {
  if (atomic) {
    return got == before || got == after ? "" : "neither the state before the write nor the one after";
  }
  std::set<std::string> keys;
  for (const auto* contexts : {&got, &before, &after}) {
    for (const auto& [key, versions] : *contexts) {
      keys.insert(key);
    }
  }
  for (const auto& key : keys) {
    const auto& have = versions_of(got, key);
    const auto& old_versions = versions_of(before, key);
    const auto& new_versions = versions_of(after, key);
    if (have == old_versions) {
      continue;
    }
    const bool extended =
        is_prefix(old_versions, new_versions) && is_prefix(old_versions, have) && is_prefix(have, new_versions);
    const bool erased = have.empty() && new_versions.empty();
    if (!extended && !erased) {
      return key + " holds " + std::to_string(have.size()) + " versions, not the " +
             std::to_string(old_versions.size()) + " acknowledged" +
             (new_versions != old_versions ? " (or " + std::to_string(new_versions.size()) + " after the write)" : "") +
             ", or a version differs from what was acknowledged";
    }
  }
  return "";
}

std::string describe(const Tree& tree) {
  std::string out;
  for (const auto& [name, contents] : tree) {
    out += "  " + name + (name.ends_with('/') ? "" : " (" + std::to_string(contents.size()) + " bytes)") + "\n";
  }
  return out;
}

const char* mode_name(CrashMode mode) {
  switch (mode) {
  case CrashMode::keep_all: return "keep_all";
  case CrashMode::drop_all: return "drop_all";
  case CrashMode::drop_data: return "drop_data";
  case CrashMode::drop_entries: return "drop_entries";
  case CrashMode::random: return "random";
  }
  return "?";
}

std::uint64_t base_seed() {
  const char* text = std::getenv("ZSIMEM_POWER_SEED");
  return text ? std::strtoull(text, nullptr, 10) : 20240601;
}

// Where crash states are checked: in memory when /dev/shm exists, since
// every check's merge fsyncs and a disk's fsyncs would dominate the run.
class ScratchDir {
public:
  ScratchDir() {
    std::string pattern = "/dev/shm/zsimem-power-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) {
      m_path = pattern;
    } else {
      m_fallback.emplace();
      m_path = m_fallback->path();
    }
  }
  ~ScratchDir() {
    if (!m_fallback) {
      std::error_code ignored;
      fs::remove_all(m_path, ignored);
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const fs::path& path() const { return m_path; }

private:
  std::optional<TempDir> m_fallback;
  fs::path m_path;
};

// A recorded run of the CLI on one backend and what it acknowledged.
class RecordedRun {
public:
  explicit RecordedRun(std::string backend)
      : m_backend(std::move(backend)), m_root(fs::canonical(m_dir.path()) / "root"), m_log(m_dir.path() / "oplog.bin") {
    fs::create_directories(m_root);
    m_recording.emplace(m_root); // the empty root, taken as durable
    m_expected.push_back({});
  }

  const fs::path& dir() const { return m_dir.path(); }

  // Runs a mutation and an export after it, both recorded, each acknowledged.
  void mutate(std::vector<std::string> args) {
    const auto env = recording_environment(m_root, m_log);
    const auto result = run_cli(m_backend, data_dir(), args, env);
    INFO(args.front() << ": " << result.err);
    REQUIRE(result.exit_code == 0);
    m_steps.push_back(m_expected.size());
    append_ack(m_log, m_steps.size() - 1);

    const auto exported = run_cli(m_backend, data_dir(), {"export"}, env);
    INFO(exported.err);
    REQUIRE(exported.exit_code == 0);
    std::string problem;
    const auto contexts = parse_export(exported.out, problem);
    INFO(problem);
    REQUIRE(contexts);
    m_expected.push_back(*contexts);
    m_steps.push_back(m_expected.size() - 1);
    append_ack(m_log, m_steps.size() - 1);
  }

  void finish(IgnoreSyncs ignore = IgnoreSyncs::none) { m_recording->add_log(read_log(m_log), ignore); }

  // Whether a process truncated a file whose name ends in `suffix`: SQLite's
  // checkpoints truncate the WAL.
  bool truncated(std::string_view suffix) const {
    std::set<std::pair<int, int>> files;
    for (const auto& record : read_log(m_log)) {
      const auto key = std::make_pair(record.pid, record.fd);
      if (record.kind == RecordKind::open) {
        if (record.path.ends_with(suffix)) {
          files.insert(key);
        } else {
          files.erase(key);
        }
      } else if (record.kind == RecordKind::ftruncate && files.count(key)) {
        return true;
      }
    }
    return false;
  }

  // Whether a file whose name ends in `then` was written after one whose
  // name ends in `first`: SQLite's checkpoints copy the WAL into the database.
  bool written_after(std::string_view first, std::string_view then) const {
    std::map<std::pair<int, int>, std::string> files;
    bool seen_first = false;
    for (const auto& record : read_log(m_log)) {
      const auto key = std::make_pair(record.pid, record.fd);
      if (record.kind == RecordKind::open) {
        files[key] = record.path;
      } else if (record.kind == RecordKind::write) {
        const std::string& path = files[key];
        if (seen_first && path.ends_with(then)) {
          return true;
        }
        seen_first = seen_first || path.ends_with(first);
      }
    }
    return false;
  }

  const Recording& recording() const { return *m_recording; }

  // Runs the hidden test case below in a child process under the shim:
  // `threads` threads of one long-lived store (as in the daemon), each
  // merging `merges` times into a context of its own, acknowledging each
  // version as the service returns it; with `blob_bytes`, one more thread
  // writes a version that large and erases it.
  void run_concurrent(int threads, int merges, std::size_t blob_bytes = 0) {
    m_concurrent = true;
    auto env = recording_environment(m_root, m_log);
    env.insert(env.end(), {"ZSIMEM_POWER_CHILD_STORE=" + data_dir().string(), "ZSIMEM_POWER_CHILD_BACKEND=" + m_backend,
                           "ZSIMEM_POWER_CHILD_THREADS=" + std::to_string(threads),
                           "ZSIMEM_POWER_CHILD_MERGES=" + std::to_string(merges),
                           "ZSIMEM_POWER_CHILD_BLOB=" + std::to_string(blob_bytes)});
    const auto result = run_process({fs::read_symlink("/proc/self/exe").string(), "[power_loss_child]"}, {}, env,
                                    std::chrono::seconds(300));
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const auto exported = run_cli(m_backend, data_dir(), {"export"});
    std::string problem;
    const auto contexts = parse_export(exported.out, problem);
    INFO(problem);
    REQUIRE(contexts);
    m_final = *contexts;
  }

  // Checks the store a crash at `cut` left; returns what is wrong, if anything.
  std::string check(const Tree& tree, std::size_t cut, bool atomic_batches) const {
    const fs::path state = m_scratch.path() / "state";
    fs::remove_all(state);
    materialize(tree, state);
    const fs::path store = state / "store";

    const auto exported = run_cli(m_backend, store, {"export"});
    if (exported.exit_code != 0) {
      return "export failed (" + std::to_string(exported.exit_code) + "): " + exported.err;
    }
    std::string problem;
    const auto got = parse_export(exported.out, problem);
    if (!got) {
      return "export shows a gap: " + problem;
    }
    const auto acks = m_recording->acks_before(cut);
    problem = m_concurrent ? unexpected_concurrent(*got, acks) : unexpected_sequential(*got, acks, atomic_batches);
    if (!problem.empty()) {
      return problem;
    }
    const auto verified = run_cli(m_backend, store, {"verify"});
    if (verified.exit_code != 0 || !Json::parse(verified.out).at("ok").get<bool>()) {
      return "verify failed (" + std::to_string(verified.exit_code) + "): " + verified.out + verified.err;
    }
    const std::string user = m_concurrent ? "t0" : "alice";
    const auto merged = run_cli(m_backend, store, {"merge", user, R"({"after_power_loss":true})"});
    if (merged.exit_code != 0) {
      return "a new merge failed (" + std::to_string(merged.exit_code) + "): " + merged.err;
    }
    const auto version = Json::parse(merged.out).at("version").get<std::string>();
    if (version != std::to_string(versions_of(*got, user + "/default").size() + 1)) {
      return "a new merge made version " + version;
    }
    return "";
  }

private:
  fs::path data_dir() const { return m_root / "store"; }

  std::string m_backend;
  TempDir m_dir;
  ScratchDir m_scratch;
  fs::path m_root;
  fs::path m_log;
  std::optional<Recording> m_recording;
  // The writes acknowledged before the cut, and the one possibly under way.
  std::string unexpected_sequential(const Contexts& got, const std::vector<std::uint64_t>& acks,
                                    bool atomic_batches) const {
    const std::size_t done = acks.empty() ? 0 : m_steps.at(acks.back());
    const Contexts& before = m_expected.at(done);
    const Contexts& after = m_expected.at(std::min(done + 1, m_expected.size() - 1));
    const auto problem = unexpected_state(got, before, after, atomic_batches);
    return problem.empty() ? "" : "after " + std::to_string(done) + " acknowledged writes: " + problem;
  }

  // Each context holds at least its versions acknowledged before the cut,
  // and nothing but versions it ended up with.
  std::string unexpected_concurrent(const Contexts& got, const std::vector<std::uint64_t>& acks) const {
    std::map<std::string, std::size_t> acknowledged;
    for (const auto ack : acks) {
      auto& count = acknowledged["t" + std::to_string(ack / k_ack_base) + "/default"];
      count = std::max<std::size_t>(count, ack % k_ack_base);
    }
    for (const auto& [key, versions] : got) {
      // The large version is only there to make the store checkpoint; it
      // was never acknowledged, and its erasure may or may not have happened.
      if (key.starts_with(std::string(k_blob_user) + "/")) {
        continue;
      }
      if (!is_prefix(versions, versions_of(m_final, key))) {
        return key + " holds a version that differs from the one written";
      }
    }
    for (const auto& [key, count] : acknowledged) {
      if (versions_of(got, key).size() < count) {
        return key + " lost acknowledged versions: " + std::to_string(versions_of(got, key).size()) + " of " +
               std::to_string(count) + " are left";
      }
    }
    return "";
  }

  std::vector<Contexts> m_expected; // after 0, 1, ... acknowledged mutations
  std::vector<std::size_t> m_steps; // ack number -> mutations acknowledged by then
  bool m_concurrent = false;
  Contexts m_final; // concurrent runs: every context at the end
};

// Creating and extending contexts, a large version (many sectors), a
// rollback, a batch, an erase; `short_run` stops after the first two.
void run_workload(RecordedRun& run, std::size_t blob_bytes, bool short_run = false) {
  run.mutate({"merge", "alice", R"({"profile":{"name":"Alice"},"n":1})", "--tag", "first"});
  run.mutate({"merge", "alice", R"({"n":2,"notes":["a","b"]})"});
  if (short_run) {
    return;
  }
  run.mutate({"merge", "bob", R"({"x":1})", "-n", "work"});
  const fs::path blob = run.dir() / "blob.json";
  std::ofstream(blob) << R"({"n":3,"blob":")" << std::string(blob_bytes, 'z') << "\"}";
  run.mutate({"merge", "alice", "@" + blob.string()});
  run.mutate({"merge", "alice", R"({"blob":null})"});
  run.mutate({"rollback", "alice", "2"});
  const fs::path batch = run.dir() / "batch.jsonl";
  std::ofstream(batch) << R"({"user_id":"alice","delta":{"n":6}})"
                       << "\n"
                       << R"({"user_id":"bob","namespace":"work","delta":{"x":2}})"
                       << "\n"
                       << R"({"user_id":"carol","delta":{"c":1}})"
                       << "\n";
  run.mutate({"apply", batch.string()});
  run.mutate({"delete", "bob", "-n", "work", "-y"});
  run.mutate({"merge", "alice", R"({"n":7})"});
}

struct Candidate {
  std::size_t cut;
  CrashMode mode;
  std::uint64_t seed;
};

// The crash states to try, best first: right after each acknowledgement,
// with everything pending lost or kept; then, alternating, the extreme
// states at the other cuts and random ones at cuts where something is
// pending, each in a shuffled order so that any budget covers the whole run.
std::vector<Candidate> candidates_for(const Recording& recording, std::size_t budget) {
  std::mt19937_64 random(base_seed());
  const std::array extreme_modes{CrashMode::drop_all, CrashMode::keep_all, CrashMode::drop_data,
                                 CrashMode::drop_entries};
  std::vector<Candidate> candidates;
  std::vector<Candidate> extremes;
  std::vector<std::size_t> pending_cuts;
  std::size_t acks = 0;
  for (std::size_t cut = 0; cut <= recording.event_count(); ++cut) {
    const std::size_t acks_here = recording.acks_before(cut).size();
    for (const auto mode : extreme_modes) {
      (acks_here > acks ? candidates : extremes).push_back({cut, mode, 0});
    }
    acks = acks_here;
    if (recording.pending_at(cut) > 0) {
      pending_cuts.push_back(cut);
    }
  }
  // Those right after an acknowledgement take up to half of the budget.
  std::shuffle(candidates.begin(), candidates.end(), random);
  if (candidates.size() > budget / 2) {
    extremes.insert(extremes.end(), candidates.begin() + static_cast<std::ptrdiff_t>(budget / 2), candidates.end());
    candidates.resize(budget / 2);
  }
  std::shuffle(extremes.begin(), extremes.end(), random);
  // Random states repeat often; generating them is cheap next to checking.
  for (std::size_t i = 0; i < budget * 20; ++i) {
    if (i % 2 == 0 && i / 2 < extremes.size()) {
      candidates.push_back(extremes[i / 2]);
    } else if (!pending_cuts.empty()) {
      candidates.push_back({pending_cuts[random() % pending_cuts.size()], CrashMode::random, random()});
    }
  }
  return candidates;
}

struct SweepResult {
  std::size_t generated = 0;
  std::size_t checked = 0;
  std::map<CrashMode, std::size_t> by_mode;
  std::chrono::steady_clock::duration generating{}; // of the total, building crash states
  std::string failure;                              // the first state found wrong, described
};

// Checks distinct crash states, up to `budget` of them, until one is wrong.
SweepResult sweep(const RecordedRun& run, std::size_t budget, bool atomic_batches) {
  const Recording& recording = run.recording();
  SweepResult result;
  // A state already checked against the same acknowledged writes is skipped.
  std::set<std::pair<std::uint64_t, std::size_t>> seen;
  for (const auto& candidate : candidates_for(recording, budget)) {
    if (result.checked >= budget) {
      break;
    }
    const auto started = std::chrono::steady_clock::now();
    const Tree tree = recording.crash_state(candidate.cut, candidate.mode, candidate.seed);
    result.generating += std::chrono::steady_clock::now() - started;
    ++result.generated;
    if (!seen.insert({digest(tree), recording.acks_before(candidate.cut).size()}).second) {
      continue;
    }
    ++result.checked;
    ++result.by_mode[candidate.mode];
    const std::string problem = run.check(tree, candidate.cut, atomic_batches);
    if (!problem.empty()) {
      result.failure = problem + "\ncrash at event " + std::to_string(candidate.cut) + " of " +
                       std::to_string(recording.event_count()) + ", " + mode_name(candidate.mode) + " seed " +
                       std::to_string(candidate.seed) + ", " + std::to_string(recording.pending_at(candidate.cut)) +
                       " operations pending; the state:\n" + describe(tree);
      break;
    }
  }
  return result;
}

} // namespace

TEST_CASE("the replayer loses exactly what was not fsynced", "[reliability][power_loss]") {
  TempDir dir;
  const fs::path root = fs::canonical(dir.path()) / "root";
  const fs::path log = dir.path() / "oplog.bin";
  fs::create_directories(root);
  Recording recording(root);
  const auto env = recording_environment(root, log);
  const std::vector<std::vector<std::string>> steps = {
      {"/bin/sh", "-c", "printf hello > " + (root / "f").string()},
      {"sync", (root / "f").string()},
      {"sync", root.string()},
      {"mv", (root / "f").string(), (root / "g").string()},
      {"sync", root.string()},
  };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto result = run_process(steps[i], {}, env);
    INFO(steps[i].front() << ": " << result.err);
    REQUIRE(result.exit_code == 0);
    append_ack(log, i);
  }
  recording.add_log(read_log(log));

  // The first cut after each step's acknowledgement.
  std::vector<std::size_t> after_step;
  for (std::size_t cut = 0; cut <= recording.event_count(); ++cut) {
    if (recording.acks_before(cut).size() > after_step.size()) {
      after_step.push_back(cut);
    }
  }
  REQUIRE(after_step.size() == steps.size());
  auto file = [&](std::size_t step, CrashMode mode, std::uint64_t seed = 0) -> std::string {
    const Tree tree = recording.crash_state(after_step[step], mode, seed);
    const auto f = tree.find("f");
    const auto g = tree.find("g");
    return (f == tree.end() ? "" : "f=" + f->second) + (g == tree.end() ? "" : "g=" + g->second);
  };

  // Written, nothing synced: anything from no file to the whole of it.
  CHECK(file(0, CrashMode::keep_all) == "f=hello");
  CHECK(file(0, CrashMode::drop_all).empty());
  CHECK(file(0, CrashMode::drop_data) == "f=");
  std::set<std::string> seen;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    seen.insert(file(0, CrashMode::random, seed));
  }
  CHECK(seen.count(""));
  CHECK(seen.count("f="));
  CHECK(seen.count("f=hello"));
  CHECK(std::any_of(seen.begin(), seen.end(), [](const std::string& state) {
    return state.starts_with("f=") && state != "f=" && state != "f=hello";
  }));
  // The file synced, not its directory: the data is safe, the name is not.
  CHECK(file(1, CrashMode::drop_all).empty());
  CHECK(file(1, CrashMode::drop_data) == "f=hello");
  // Both synced: nothing left to lose.
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    CHECK(file(2, CrashMode::random, seed) == "f=hello");
  }
  // A rename is atomic and durable with its directory.
  CHECK(file(3, CrashMode::drop_all) == "f=hello");
  CHECK(file(3, CrashMode::keep_all) == "g=hello");
  CHECK(file(4, CrashMode::drop_all) == "g=hello");
  CHECK(recording.pending_at(after_step[4]) == 0);
}

TEST_CASE("acknowledged writes survive a simulated power loss at any point", "[reliability][power_loss]") {
  const std::string backend = GENERATE(as<std::string>(), "json", "sqlite");
  INFO("backend " << backend);
  const auto started = std::chrono::steady_clock::now();
  RecordedRun run(backend);
  // SQLite checkpoints its WAL past 128 frames: 300 KiB (twice, data and
  // delta) gets there in one write. The json store only needs many sectors,
  // and every check reads the large version back.
  run_workload(run, backend == "sqlite" ? 150 * 1024 : 24 * 1024);
  REQUIRE_NOTHROW(run.finish());
  if (backend == "sqlite") {
    CHECK(run.truncated("-wal"));
  }
  const auto recorded = std::chrono::steady_clock::now();

  const auto budget = static_cast<std::size_t>(std::max(20.0, k_states_per_backend * stress_scale()));
  const auto result = sweep(run, budget, backend == "sqlite");
  const auto finished = std::chrono::steady_clock::now();
  INFO(result.failure);
  CHECK(result.failure.empty());
  CHECK(result.checked == budget);

  const auto& by_mode = result.by_mode;
  auto count = [&](CrashMode mode) { return by_mode.count(mode) ? by_mode.at(mode) : 0; };
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  WARN(backend << ": " << run.recording().event_count() << " events; " << result.checked
               << " distinct crash states checked (" << count(CrashMode::drop_all) << " drop_all, "
               << count(CrashMode::keep_all) << " keep_all, " << count(CrashMode::drop_data) << " drop_data, "
               << count(CrashMode::drop_entries) << " drop_entries, " << count(CrashMode::random) << " random) of "
               << result.generated << " generated (in "
               << std::chrono::duration_cast<std::chrono::milliseconds>(result.generating).count() << " ms); recording "
               << duration_cast<milliseconds>(recorded - started).count() << " ms, checking "
               << duration_cast<milliseconds>(finished - recorded).count() << " ms");
}

TEST_CASE("the power loss checks catch a store that skips an fsync", "[reliability][power_loss]") {
  const std::string backend = GENERATE(as<std::string>(), "json", "sqlite");
  const IgnoreSyncs ignore = GENERATE(IgnoreSyncs::files, IgnoreSyncs::directories);
  const bool concurrent = GENERATE(false, true);
  INFO("backend " << backend << ", ignoring the syncs of " << (ignore == IgnoreSyncs::files ? "files" : "directories")
                  << (concurrent ? ", concurrent writers" : ""));
  // The same log without the store's file (or directory) syncs is the log of
  // a store that forgot them.
  RecordedRun run(backend);
  if (concurrent) {
    run.run_concurrent(2, 3);
  } else {
    run_workload(run, 0, true);
  }
  run.finish(ignore);
  const auto result = sweep(run, 50, backend == "sqlite");
  CHECK_FALSE(result.failure.empty());
}

// The child process of run_concurrent, under the shim; does nothing when run
// directly.
TEST_CASE("power loss child: concurrent writers on a long-lived store", "[.][power_loss_child]") {
  const char* store = std::getenv("ZSIMEM_POWER_CHILD_STORE");
  const char* log = std::getenv("ZSIMEM_OPLOG_FILE");
  if (store == nullptr || log == nullptr) {
    return;
  }
  const int threads = std::atoi(std::getenv("ZSIMEM_POWER_CHILD_THREADS"));
  const int merges = std::atoi(std::getenv("ZSIMEM_POWER_CHILD_MERGES"));
  const auto blob_bytes = static_cast<std::size_t>(std::atoll(std::getenv("ZSIMEM_POWER_CHILD_BLOB")));
  ServiceOptions options;
  options.max_delta_bytes = std::max(options.max_delta_bytes, 2 * blob_bytes);
  MemoryService service(open_store({std::getenv("ZSIMEM_POWER_CHILD_BACKEND"), store, true}), options);
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  if (blob_bytes > 0) {
    writers.emplace_back([&] {
      try {
        const Caller caller{"power", "child"};
        MemoryUpdate update;
        update.user_id = k_blob_user;
        update.delta = R"({"blob":")" + std::string(blob_bytes, 'b') + "\"}";
        service.merge(caller, update);
        service.erase(caller, k_blob_user);
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      const Caller caller{"power", "child"};
      for (int i = 1; i <= merges; ++i) {
        try {
          MemoryUpdate update;
          update.user_id = "t" + std::to_string(t);
          update.delta = R"({"i":)" + std::to_string(i) + R"(,"pad":")" +
                         std::string(static_cast<std::size_t>(100 + 37 * i), 'p') + "\"}";
          const auto result = service.merge(caller, update);
          append_ack(log, static_cast<std::uint64_t>(t) * k_ack_base + result.record.version);
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& writer : writers) {
    writer.join();
  }
  REQUIRE(failures == 0);
}

TEST_CASE("concurrent acknowledged writes of a long-lived store survive a simulated power loss",
          "[reliability][power_loss]") {
  const std::string backend = GENERATE(as<std::string>(), "json", "sqlite");
  INFO("backend " << backend);
  const auto started = std::chrono::steady_clock::now();
  RecordedRun run(backend);
  run.run_concurrent(k_concurrent_threads, k_concurrent_merges,
                     backend == "sqlite" ? k_concurrent_blob_bytes_sqlite : 0);
  REQUIRE_NOTHROW(run.finish());
  if (backend == "sqlite") {
    CHECK(run.written_after("-wal", ".sqlite3"));
  }
  const auto recorded = std::chrono::steady_clock::now();

  const auto budget = static_cast<std::size_t>(std::max(20.0, k_concurrent_states_per_backend * stress_scale()));
  const auto result = sweep(run, budget, false);
  const auto finished = std::chrono::steady_clock::now();
  INFO(result.failure);
  CHECK(result.failure.empty());
  CHECK(result.checked == budget);
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  WARN(backend << " (concurrent): " << run.recording().event_count() << " events; " << result.checked
               << " distinct crash states checked of " << result.generated << " generated (in "
               << std::chrono::duration_cast<std::chrono::milliseconds>(result.generating).count() << " ms); recording "
               << duration_cast<milliseconds>(recorded - started).count() << " ms, checking "
               << duration_cast<milliseconds>(finished - recorded).count() << " ms");
}
