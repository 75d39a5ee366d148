#pragma once

// Simulated power loss: reads the log of file operations that the oplog shim
// (tests/reliability/shims/oplog.c) recorded under a root directory, and
// rebuilds the states a power cut at any point of it could have left on disk.
//
// The model ("POSIX-strict, directory entries need a directory fsync"):
// - A file's writes and truncations are durable once the file has been
//   fsynced (or fdatasynced) after them. Until then each may be lost, torn
//   (a prefix of it, some of its 512-byte sectors, or only the size growth,
//   reading zeros) or applied in another order.
// - A directory entry made or removed (create, link, unlink, mkdir, rmdir)
//   is durable once its directory has been fsynced after it; until then it
//   may be lost, independently of every other entry. A rename is atomic
//   (lost as a whole) and durable once the destination's directory is
//   fsynced.
// - Files are inodes: data follows the inode through links and renames, and
//   an inode no durable entry names is gone.
// ext4 with data=ordered keeps more than this, so a store correct here is
// correct there.

#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace zsimem::testing::power {

// Kinds of log records; keep in step with oplog.c.
enum class RecordKind : std::uint32_t {
  open = 1,
  close = 2,
  write = 3,
  ftruncate = 4,
  truncate = 5,
  sync = 6,
  rename = 7,
  link = 8,
  unlink = 9,
  mkdir = 10,
  rmdir = 11,
  ack = 12,
  untracked = 13,
  dup = 14,
};

// One recorded call, after it succeeded.
struct Record {
  RecordKind kind{};
  int pid = 0;
  int fd = -1;
  std::int64_t flags = 0;
  std::int64_t offset = 0; // write offset, truncation length, ack number
  std::string path;        // absolute
  std::string path2;       // rename and link targets
  std::string data;        // bytes written
};

// A log the model cannot follow (an untracked change, an unknown path).
class ModelError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

std::vector<Record> read_log(const std::filesystem::path& log);

// Appends the marker "everything before this was acknowledged, as step
// `number`" to the log, in the shim's format.
void append_ack(const std::filesystem::path& log, std::uint64_t number);

// The environment a child needs to be recorded: the shim preloaded (with
// ASan's link-order check off under sanitizers, keeping other options).
std::vector<std::string> recording_environment(const std::filesystem::path& root, const std::filesystem::path& log);

// How the pending (not yet durable) operations at a cut are treated.
enum class CrashMode {
  keep_all,     // every pending operation reached the disk
  drop_all,     // none did
  drop_data,    // directory operations did, file data did not
  drop_entries, // file data did, directory operations did not
  random,       // each kept, dropped or torn, writes reordered, from a seed
};

// A file tree as a crash left it: path relative to the root -> contents;
// directories end in '/'. Hard links appear once per name.
using Tree = std::map<std::string, std::string>;

// Syncs to leave out of a log, to check that the checks catch a store that
// skips them.
enum class IgnoreSyncs { none, files, directories };

class Recording {
public:
  // `root` as it is now is taken as durable: call before the recorded run.
  explicit Recording(const std::filesystem::path& root);

  // Follows the log recorded since; throws ModelError where it cannot.
  void add_log(const std::vector<Record>& log, IgnoreSyncs ignore = IgnoreSyncs::none);

  // Cut points: 0 (nothing happened) to event_count() (everything did).
  std::size_t event_count() const { return m_events.size(); }
  // Numbers of the acks among the first `cut` events.
  std::vector<std::uint64_t> acks_before(std::size_t cut) const;
  // How many of the first `cut` events are not yet durable.
  std::size_t pending_at(std::size_t cut) const;

  Tree crash_state(std::size_t cut, CrashMode mode, std::uint64_t seed) const;

private:
  struct Node {
    bool dir = false;
    std::map<std::string, int> entries; // directories: name -> node
    std::string contents;               // files
  };
  enum class EventType { write, truncate, file_sync, dir_sync, entry_add, entry_remove, rename, ack };
  struct Event {
    EventType type{};
    int node = -1; // the file, or the directory holding the entry
    std::string name{};
    int target = -1; // the node an entry names
    int node2 = -1;  // rename: destination directory
    std::string name2{};
    std::uint64_t offset = 0; // write offset, truncation size, ack number
    std::string data{};
    std::size_t durable_from = 0; // the cut from which this event is durable (SIZE_MAX: never)
  };
  struct Resolved {
    int parent = -1;
    std::string name;
    int node = -1; // -1: no such entry
  };

  void load(const std::filesystem::path& dir, int node);
  Resolved resolve(const std::string& absolute) const;
  int new_node(bool dir);
  void add_event(Event event);
  void compute_durability();
  static void apply_write(std::string& contents, std::uint64_t offset, const std::string& data);

  std::string m_root;
  std::vector<Node> m_base; // the durable state before the run, plus empty new nodes
  std::vector<Node> m_live; // what the recorded processes saw (entries only)
  std::vector<Event> m_events;
  std::map<std::pair<int, int>, int> m_fds; // (pid, fd) -> node
};

// Writes `tree` under `dir` (created); files shared by names are copied.
void materialize(const Tree& tree, const std::filesystem::path& dir);

// A 64-bit digest of a tree, to skip states already checked.
std::uint64_t digest(const Tree& tree);

} // namespace zsimem::testing::power
