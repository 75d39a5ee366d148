#include "reliability/power_oplog.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <unistd.h>

namespace zsimem::testing::power {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t k_magic = 0x706c6f67;
constexpr std::size_t k_sector = 512;
constexpr std::size_t k_never = std::numeric_limits<std::size_t>::max();

// The record header as oplog.c writes it.
struct Header {
  std::uint32_t magic;
  std::uint32_t kind;
  std::int32_t pid;
  std::int32_t fd;
  std::int64_t flags;
  std::int64_t offset;
  std::uint64_t path_size;
  std::uint64_t path2_size;
  std::uint64_t data_size;
};

std::string read_bytes(std::istream& in, std::uint64_t size) {
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(in.gcount()) != size) {
    throw ModelError("the operation log ends inside a record");
  }
  return bytes;
}

std::vector<std::string> components(std::string_view relative) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < relative.size()) {
    std::size_t end = relative.find('/', start);
    if (end == std::string_view::npos) {
      end = relative.size();
    }
    if (end > start) {
      out.emplace_back(relative.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

} // namespace

std::vector<Record> read_log(const fs::path& log) {
  std::ifstream in(log, std::ios::binary);
  std::vector<Record> records;
  if (!in) {
    return records;
  }
  for (;;) {
    Header header{};
    in.read(reinterpret_cast<char*>(&header), sizeof header);
    if (in.gcount() == 0) {
      break;
    }
    if (in.gcount() != static_cast<std::streamsize>(sizeof header) || header.magic != k_magic) {
      throw ModelError("the operation log is damaged");
    }
    Record record;
    record.kind = static_cast<RecordKind>(header.kind);
    record.pid = header.pid;
    record.fd = header.fd;
    record.flags = header.flags;
    record.offset = header.offset;
    record.path = read_bytes(in, header.path_size);
    record.path2 = read_bytes(in, header.path2_size);
    record.data = read_bytes(in, header.data_size);
    records.push_back(std::move(record));
  }
  return records;
}

void append_ack(const fs::path& log, std::uint64_t number) {
  Header header{};
  header.magic = k_magic;
  header.kind = static_cast<std::uint32_t>(RecordKind::ack);
  header.pid = static_cast<std::int32_t>(::getpid());
  header.fd = -1;
  header.offset = static_cast<std::int64_t>(number);
  std::ofstream out(log, std::ios::binary | std::ios::app);
  out.write(reinterpret_cast<const char*>(&header), sizeof header);
  if (!out.flush()) {
    throw std::runtime_error("cannot append to " + log.string());
  }
}

std::vector<std::string> recording_environment(const fs::path& root, const fs::path& log) {
  std::string preload = (fs::path(ZSIMEM_SHIM_DIR) / "oplog.so").string();
  if (const char* existing = std::getenv("LD_PRELOAD"); existing != nullptr && *existing != '\0') {
    preload += std::string(":") + existing;
  }
  std::vector<std::string> env = {"LD_PRELOAD=" + preload, "ZSIMEM_OPLOG_ROOT=" + root.string(),
                                  "ZSIMEM_OPLOG_FILE=" + log.string()};
#if defined(__SANITIZE_ADDRESS__)
  // ASan insists on coming first among the libraries; a preloaded shim is
  // first instead, and harmless: its calls reach ASan's interceptors next.
  std::string options = "verify_asan_link_order=0";
  if (const char* existing = std::getenv("ASAN_OPTIONS"); existing != nullptr && *existing != '\0') {
    options = std::string(existing) + ":" + options;
  }
  env.push_back("ASAN_OPTIONS=" + options);
#endif
  return env;
}

Recording::Recording(const fs::path& root) : m_root(root.string()) {
  while (m_root.size() > 1 && m_root.back() == '/') {
    m_root.pop_back();
  }
  new_node(true);
  load(root, 0);
  m_live = m_base;
}

void Recording::load(const fs::path& dir, int node) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory()) {
      const int child = new_node(true);
      m_base[static_cast<std::size_t>(node)].entries[name] = child;
      load(entry.path(), child);
    } else if (entry.is_regular_file()) {
      const int child = new_node(false);
      std::ifstream in(entry.path(), std::ios::binary);
      m_base[static_cast<std::size_t>(child)].contents.assign(std::istreambuf_iterator<char>(in), {});
      m_base[static_cast<std::size_t>(node)].entries[name] = child;
    }
  }
}

int Recording::new_node(bool dir) {
  Node node;
  node.dir = dir;
  m_base.push_back(node);
  m_live.push_back(std::move(node));
  return static_cast<int>(m_base.size() - 1);
}

Recording::Resolved Recording::resolve(const std::string& absolute) const {
  if (absolute != m_root && !absolute.starts_with(m_root + "/")) {
    throw ModelError("a path outside the root: " + absolute);
  }
  const auto parts = components(std::string_view(absolute).substr(m_root.size()));
  Resolved out;
  if (parts.empty()) {
    out.node = 0;
    return out;
  }
  int dir = 0;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const auto& entries = m_live[static_cast<std::size_t>(dir)].entries;
    const auto it = entries.find(parts[i]);
    if (it == entries.end() || !m_live[static_cast<std::size_t>(it->second)].dir) {
      throw ModelError("a path through a directory the log never made: " + absolute);
    }
    dir = it->second;
  }
  out.parent = dir;
  out.name = parts.back();
  const auto& entries = m_live[static_cast<std::size_t>(dir)].entries;
  const auto it = entries.find(out.name);
  out.node = it == entries.end() ? -1 : it->second;
  return out;
}

void Recording::add_event(Event event) {
  // Mirrors the directory operations on the live tree, to resolve later paths.
  auto& live = m_live;
  auto entries = [&](int node) -> std::map<std::string, int>& { return live[static_cast<std::size_t>(node)].entries; };
  switch (event.type) {
  case EventType::entry_add: entries(event.node)[event.name] = event.target; break;
  case EventType::entry_remove: entries(event.node).erase(event.name); break;
  case EventType::rename:
    entries(event.node).erase(event.name);
    entries(event.node2)[event.name2] = event.target;
    break;
  default: break;
  }
  m_events.push_back(std::move(event));
}

void Recording::add_log(const std::vector<Record>& log, IgnoreSyncs ignore) {
  for (const auto& record : log) {
    const auto fd_key = std::make_pair(record.pid, record.fd);
    auto node_of_fd = [&]() {
      const auto it = m_fds.find(fd_key);
      if (it == m_fds.end()) {
        throw ModelError("an operation on a descriptor the log never opened (pid " + std::to_string(record.pid) +
                         ", fd " + std::to_string(record.fd) + ")");
      }
      return it->second;
    };
    auto existing = [&](const std::string& path) {
      auto resolved = resolve(path);
      if (resolved.node < 0) {
        throw ModelError("an operation on a path the log never created: " + path);
      }
      return resolved;
    };
    Event event;
    switch (record.kind) {
    case RecordKind::open: {
      if ((record.flags & __O_TMPFILE) == __O_TMPFILE) {
        throw ModelError("O_TMPFILE is not modelled: " + record.path);
      }
      auto resolved = resolve(record.path);
      if (resolved.node < 0) {
        if ((record.flags & O_CREAT) == 0) {
          throw ModelError("opened a path the log never created: " + record.path);
        }
        const int node = new_node(false);
        add_event({.type = EventType::entry_add, .node = resolved.parent, .name = resolved.name, .target = node});
        resolved.node = node;
      } else if ((record.flags & O_TRUNC) != 0 && (record.flags & O_ACCMODE) != O_RDONLY &&
                 !m_live[static_cast<std::size_t>(resolved.node)].dir) {
        add_event({.type = EventType::truncate, .node = resolved.node, .offset = 0});
      }
      m_fds[fd_key] = resolved.node;
      break;
    }
    case RecordKind::close: m_fds.erase(fd_key); break;
    case RecordKind::dup: m_fds[std::make_pair(record.pid, static_cast<int>(record.offset))] = node_of_fd(); break;
    case RecordKind::write:
      add_event({.type = EventType::write,
                 .node = node_of_fd(),
                 .offset = static_cast<std::uint64_t>(record.offset),
                 .data = record.data});
      break;
    case RecordKind::ftruncate:
      add_event(
          {.type = EventType::truncate, .node = node_of_fd(), .offset = static_cast<std::uint64_t>(record.offset)});
      break;
    case RecordKind::truncate:
      add_event({.type = EventType::truncate,
                 .node = existing(record.path).node,
                 .offset = static_cast<std::uint64_t>(record.offset)});
      break;
    case RecordKind::sync: {
      const int node = node_of_fd();
      const bool dir = m_live[static_cast<std::size_t>(node)].dir;
      if (ignore != (dir ? IgnoreSyncs::directories : IgnoreSyncs::files)) {
        add_event({.type = dir ? EventType::dir_sync : EventType::file_sync, .node = node});
      }
      break;
    }
    case RecordKind::rename: {
      const auto from = existing(record.path);
      const auto to = resolve(record.path2);
      if (from.node == to.node) {
        break; // two names of one file: rename does nothing
      }
      add_event({.type = EventType::rename,
                 .node = from.parent,
                 .name = from.name,
                 .target = from.node,
                 .node2 = to.parent,
                 .name2 = to.name});
      break;
    }
    case RecordKind::link: {
      const auto from = existing(record.path);
      const auto to = resolve(record.path2);
      add_event({.type = EventType::entry_add, .node = to.parent, .name = to.name, .target = from.node});
      break;
    }
    case RecordKind::unlink:
    case RecordKind::rmdir: {
      const auto resolved = existing(record.path);
      add_event(
          {.type = EventType::entry_remove, .node = resolved.parent, .name = resolved.name, .target = resolved.node});
      break;
    }
    case RecordKind::mkdir: {
      const auto resolved = resolve(record.path);
      const int node = new_node(true);
      add_event({.type = EventType::entry_add, .node = resolved.parent, .name = resolved.name, .target = node});
      break;
    }
    case RecordKind::ack:
      add_event({.type = EventType::ack, .offset = static_cast<std::uint64_t>(record.offset)});
      break;
    case RecordKind::untracked:
      throw ModelError("a change the shim cannot describe (stdio, fallocate, symlink, a copy or an unseen "
                       "descriptor) to " +
                       record.path);
    default: throw ModelError("an unknown record kind " + std::to_string(static_cast<std::uint32_t>(record.kind)));
    }
  }
  compute_durability();
}

void Recording::compute_durability() {
  // Scanning backwards, the next sync of each file and each directory.
  std::map<int, std::size_t> next_file_sync;
  std::map<int, std::size_t> next_dir_sync;
  auto after = [](const std::map<int, std::size_t>& syncs, int node) {
    const auto it = syncs.find(node);
    return it == syncs.end() ? k_never : it->second + 1;
  };
  for (std::size_t i = m_events.size(); i-- > 0;) {
    auto& event = m_events[i];
    switch (event.type) {
    case EventType::write:
    case EventType::truncate: event.durable_from = after(next_file_sync, event.node); break;
    case EventType::entry_add:
    case EventType::entry_remove: event.durable_from = after(next_dir_sync, event.node); break;
    case EventType::rename: event.durable_from = after(next_dir_sync, event.node2); break;
    case EventType::file_sync:
      next_file_sync[event.node] = i;
      event.durable_from = i + 1;
      break;
    case EventType::dir_sync:
      next_dir_sync[event.node] = i;
      event.durable_from = i + 1;
      break;
    case EventType::ack: event.durable_from = i + 1; break;
    }
  }
}

std::vector<std::uint64_t> Recording::acks_before(std::size_t cut) const {
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < cut && i < m_events.size(); ++i) {
    if (m_events[i].type == EventType::ack) {
      out.push_back(m_events[i].offset);
    }
  }
  return out;
}

std::size_t Recording::pending_at(std::size_t cut) const {
  std::size_t pending = 0;
  for (std::size_t i = 0; i < cut && i < m_events.size(); ++i) {
    pending += m_events[i].durable_from > cut ? 1U : 0U;
  }
  return pending;
}

void Recording::apply_write(std::string& contents, std::uint64_t offset, const std::string& data) {
  const auto end = static_cast<std::size_t>(offset) + data.size();
  if (contents.size() < end) {
    contents.resize(end, '\0');
  }
  std::copy(data.begin(), data.end(), contents.begin() + static_cast<std::ptrdiff_t>(offset));
}

Tree Recording::crash_state(std::size_t cut, CrashMode mode, std::uint64_t seed) const {
  cut = std::min(cut, m_events.size());
  std::vector<Node> nodes = m_base;
  std::mt19937_64 random(seed);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0.0, 1.0)(random) < p; };
  // How much of what was pending survived, varied between states.
  const double keep = std::array{0.2, 0.5, 0.8}[random() % 3];
  auto at = [&](int node) -> Node& { return nodes[static_cast<std::size_t>(node)]; };

  auto apply_data = [&](const Event& event) {
    if (event.type == EventType::write) {
      apply_write(at(event.node).contents, event.offset, event.data);
    } else {
      at(event.node).contents.resize(static_cast<std::size_t>(event.offset), '\0');
    }
  };
  // A write that reached the disk only in part.
  auto apply_torn = [&](const Event& event) {
    auto& contents = at(event.node).contents;
    const std::size_t size = event.data.size();
    switch (random() % 3) {
    case 0: // a prefix
      apply_write(contents, event.offset, event.data.substr(0, size > 1 ? random() % size : 0));
      break;
    case 1: { // some of its sectors, each whole or not at all
      std::uint64_t start = event.offset;
      const std::uint64_t end = event.offset + size;
      while (start < end) {
        const std::uint64_t sector_end = std::min(end, (start / k_sector + 1) * k_sector);
        if (chance(0.5)) {
          apply_write(contents, start,
                      event.data.substr(static_cast<std::size_t>(start - event.offset),
                                        static_cast<std::size_t>(sector_end - start)));
        }
        start = sector_end;
      }
      break;
    }
    default: // the size grew, the data never came: zeros where the file grew
      if (contents.size() < event.offset + size) {
        contents.resize(static_cast<std::size_t>(event.offset + size), '\0');
      }
      break;
    }
  };

  std::map<int, std::vector<const Event*>> pending_data;
  for (std::size_t i = 0; i < cut; ++i) {
    const Event& event = m_events[i];
    const bool durable = event.durable_from <= cut;
    switch (event.type) {
    case EventType::write:
    case EventType::truncate:
      if (durable) {
        apply_data(event);
      } else {
        pending_data[event.node].push_back(&event);
      }
      break;
    case EventType::entry_add:
    case EventType::entry_remove:
    case EventType::rename: {
      bool kept = durable;
      if (!kept) {
        kept =
            mode == CrashMode::keep_all || mode == CrashMode::drop_data || (mode == CrashMode::random && chance(keep));
      }
      if (!kept) {
        break;
      }
      if (event.type == EventType::entry_add) {
        at(event.node).entries[event.name] = event.target;
      } else {
        auto& entries = at(event.node).entries;
        if (const auto it = entries.find(event.name); it != entries.end() && it->second == event.target) {
          entries.erase(it);
        }
        if (event.type == EventType::rename) {
          at(event.node2).entries[event.name2] = event.target;
        }
      }
      break;
    }
    default: break;
    }
  }

  // Each file's pending writes are a suffix of its history: the disk may have
  // any of them, in any order, torn.
  for (auto& [node, events] : pending_data) {
    if (mode == CrashMode::drop_all || mode == CrashMode::drop_data) {
      continue;
    }
    if (mode != CrashMode::random) {
      for (const Event* event : events) {
        apply_data(*event);
      }
      continue;
    }
    std::vector<std::pair<const Event*, bool>> kept; // event, torn
    for (const Event* event : events) {
      if (chance(keep)) {
        kept.emplace_back(event, false);
      } else if (event->type == EventType::write && chance(0.5)) {
        kept.emplace_back(event, true);
      }
    }
    if (kept.size() > 1 && chance(0.3)) {
      std::shuffle(kept.begin(), kept.end(), random);
    }
    for (const auto& [event, torn] : kept) {
      if (torn) {
        apply_torn(*event);
      } else {
        apply_data(*event);
      }
    }
  }

  Tree tree;
  std::set<int> seen_dirs;
  auto walk = [&](auto& self, int dir, const std::string& prefix) -> void {
    if (!seen_dirs.insert(dir).second) {
      return;
    }
    for (const auto& [name, child] : at(dir).entries) {
      if (at(child).dir) {
        tree[prefix + name + "/"] = {};
        self(self, child, prefix + name + "/");
      } else {
        tree[prefix + name] = at(child).contents;
      }
    }
  };
  walk(walk, 0, "");
  return tree;
}

void materialize(const Tree& tree, const fs::path& dir) {
  fs::create_directories(dir);
  for (const auto& [name, contents] : tree) {
    const fs::path path = dir / name;
    if (name.ends_with('/')) {
      fs::create_directories(path);
      continue;
    }
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!out.flush()) {
      throw std::runtime_error("cannot write " + path.string());
    }
  }
}

std::uint64_t digest(const Tree& tree) {
  std::uint64_t hash = 14695981039346656037ull;
  auto mix = [&](std::string_view bytes) {
    for (const char c : bytes) {
      hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    }
  };
  for (const auto& [name, contents] : tree) {
    mix(name);
    mix(std::string_view("\0", 1));
    mix(std::to_string(contents.size()));
    mix(std::string_view("\0", 1));
    mix(contents);
  }
  return hash;
}

} // namespace zsimem::testing::power
