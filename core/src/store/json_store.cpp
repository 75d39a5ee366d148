#include "file_io.hpp"
#include "store/audit_records.hpp"
#include "store/backends.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/failpoint.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/time.hpp>
#include <zsimem/validate.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

// The `json` backend: plain files a person can read and back up.
//
//   DIR/FORMAT                                   "zsimem-json 1\n"
//   DIR/contexts/<user_id>/<ns>/<version>.json   one version per file, the
//                                                version zero-padded to 20 digits;
//                                                a gap record by its first version
//   DIR/keys/<user_id>/<generation>.json         one data key per file, the
//                                                generation zero-padded to 20
//                                                digits; temp files of its
//                                                writes beside it
//   DIR/hooks/<hook>/<user_id>/<ns>.json         one hook cursor per file
//   DIR/hooks.lock                               flock: exclusive by the hook
//                                                cursors' compare and set
//   DIR/audit.jsonl                              one audit record per line; seq is
//                                                its byte offset + 1, so audit
//                                                retention zeroes (punches) the
//                                                lines it removes
//   DIR/tmp/                                     temp files of atomic writes
//   DIR/lock                                     flock: shared by appends and
//                                                new data keys, exclusive by
//                                                erase, rewraps and prunes
//
// A version file is linked into place only once it is complete and on disk,
// and link() fails when the name exists, so the file name is the lock that
// makes appending version N+1 conditional; a data key file likewise. Readers
// take no lock.
namespace zsimem::store {
namespace {

namespace fs = std::filesystem;
using file_io::LockMode;

constexpr std::string_view k_format = "zsimem-json 1";
constexpr std::size_t k_version_digits = 20;
constexpr std::string_view k_version_suffix = ".json";
constexpr std::time_t k_stale_temp_seconds = 60 * 60;
constexpr std::size_t k_audit_block_bytes = 64 * 1024;
constexpr std::size_t k_max_audit_line_bytes = 1024 * 1024;
constexpr std::size_t k_max_quoted_bytes = 80;
// Names in tmp/ of what erasures moved there, to remove.
constexpr std::string_view k_erased_prefix = "erased";
constexpr std::string_view k_erased_keys_prefix = "erased-keys";

std::string version_file_name(std::uint64_t version) {
  std::string digits = std::to_string(version);
  return std::string(k_version_digits - digits.size(), '0') + digits + std::string(k_version_suffix);
}

std::optional<std::uint64_t> parse_version_file_name(std::string_view name) {
  if (name.size() != k_version_digits + k_version_suffix.size() || !name.ends_with(k_version_suffix)) {
    return std::nullopt;
  }
  std::uint64_t version = 0;
  const char* digits_end = name.data() + k_version_digits;
  auto [end, error] = std::from_chars(name.data(), digits_end, version);
  if (error != std::errc{} || end != digits_end || version == 0) {
    return std::nullopt;
  }
  return version;
}

// Text from disk shown in a message: the first line, cut short.
std::string quoted_excerpt(std::string_view text) {
  text = text.substr(0, std::min(text.find('\n'), k_max_quoted_bytes));
  return "'" + std::string(text) + "'";
}

std::string describe(const ContextKey& key) { return "user '" + key.user_id + "' namespace '" + key.ns + "'"; }

Error damaged(const fs::path& path, const std::string& reason) {
  return Error(ErrorCode::unavailable, "damaged version file " + path.string() + ": " + reason);
}

std::string encode_version(const VersionRecord& record) {
  try {
    return version_json(record).dump(2) + "\n";
  } catch (const Json::exception& e) {
    throw Error(ErrorCode::invalid, "cannot store version " + std::to_string(record.version) + " of " +
                                        describe(record.key()) + ": " + e.what());
  }
}

VersionRecord decode_version(const std::string& text, const fs::path& path, const ContextKey& key,
                             std::uint64_t version) {
  VersionRecord record;
  try {
    record = version_from_json(parse_json(text, "version file"));
  } catch (const std::exception& e) {
    throw damaged(path, e.what());
  }
  if (record.version != version) {
    throw damaged(path, "it holds version " + std::to_string(record.version) + ", not " + std::to_string(version));
  }
  if (record.user_id != key.user_id || record.ns != key.ns) {
    throw damaged(path, "it belongs to " + describe(record.key()) + ", not " + describe(key));
  }
  return record;
}

Error damaged_key(const fs::path& path, const std::string& reason) {
  return Error(ErrorCode::unavailable, "damaged data key file " + path.string() + ": " + reason);
}

std::string encode_data_key(const DataKeyRecord& key) {
  const Json json{{"user_id", key.user_id},
                  {"generation", std::to_string(key.generation)},
                  {"master_key_id", key.master_key_id},
                  {"wrapped", key.wrapped},
                  {"created_at", format_rfc3339(key.created_at)}};
  try {
    return json.dump(2) + "\n";
  } catch (const Json::exception& e) {
    throw Error(ErrorCode::invalid, "cannot store data key " + std::to_string(key.generation) + " of user '" +
                                        key.user_id + "': " + e.what());
  }
}

DataKeyRecord decode_data_key(const std::string& text, const fs::path& path, std::string_view user_id,
                              std::uint64_t generation) {
  DataKeyRecord key;
  try {
    const Json json = parse_json(text, "data key file");
    const auto string_member = [&](std::string_view name) {
      const auto it = json.is_object() ? json.find(name) : json.end();
      if (it == json.end() || !it->is_string()) {
        throw Error(ErrorCode::invalid, std::string(name) + ": must be a string", std::string(name));
      }
      return it->get<std::string>();
    };
    key.user_id = string_member("user_id");
    key.generation = parse_version(string_member("generation"), "generation");
    key.master_key_id = string_member("master_key_id");
    key.wrapped = string_member("wrapped");
    key.created_at = parse_time(string_member("created_at"), "created_at");
  } catch (const std::exception& e) {
    throw damaged_key(path, e.what());
  }
  if (key.user_id != user_id || key.generation != generation) {
    throw damaged_key(path, "it holds generation " + std::to_string(key.generation) + " of user '" + key.user_id +
                                "', not " + std::to_string(generation) + " of '" + std::string(user_id) + "'");
  }
  return key;
}

std::string encode_audit(const AuditRecord& record) {
  // Replacing bad UTF-8 rather than failing: an audit record must never be lost to its text.
  return audit_json(record).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The complete lines of the bytes [begin, end) of a file, last line first,
// read backwards in blocks so that paging through a large log reads only
// what it returns.
class ReverseLineReader {
public:
  struct Line {
    std::uint64_t offset = 0; // where the line starts
    std::string text;         // without its '\n'; empty when oversized
    bool terminated = true;   // false for trailing bytes without a '\n'
    bool oversized = false;   // longer than any line we write
  };

  ReverseLineReader(int fd, std::uint64_t begin, std::uint64_t end, const fs::path& path)
      : m_fd(fd), m_begin(std::min(begin, end)), m_pos(end), m_path(path) {}

  std::optional<Line> next() {
    if (m_buffer.empty()) {
      if (m_pos == m_begin) {
        return std::nullopt;
      }
      fill();
    }
    Line line;
    line.terminated = m_buffer.back() == '\n';
    std::size_t content_end = m_buffer.size() - (line.terminated ? 1 : 0);
    for (;;) {
      std::size_t newline = content_end == 0 ? std::string::npos : m_buffer.rfind('\n', content_end - 1);
      if (newline != std::string::npos || m_pos == m_begin) {
        std::size_t start = newline == std::string::npos ? 0 : newline + 1;
        line.offset = m_pos + start;
        if (!line.oversized) {
          line.text = m_buffer.substr(start, content_end - start);
        }
        m_buffer.resize(start);
        return line;
      }
      if (content_end > k_max_audit_line_bytes) {
        // Keep looking for the line's start without holding all of it.
        line.oversized = true;
        m_buffer.clear();
        content_end = 0;
      }
      std::size_t before = m_buffer.size();
      fill();
      content_end += m_buffer.size() - before;
    }
  }

private:
  void fill() {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(k_audit_block_bytes, m_pos - m_begin));
    m_pos -= n;
    std::string block = file_io::read_at(m_fd, m_pos, n, m_path);
    if (block.size() != n) {
      throw Error(ErrorCode::unavailable, "audit log " + m_path.string() + " shrank while being read");
    }
    m_buffer.insert(0, block);
  }

  int m_fd;
  std::uint64_t m_begin;
  std::uint64_t m_pos;  // m_buffer holds the bytes [m_pos, m_pos + m_buffer.size())
  std::string m_buffer; // not yet returned
  const fs::path& m_path;
};

// The next readable record, newest first, with its seq. Unterminated lines
// are a write in progress or torn by a crash; unreadable ones are torn lines
// that a later append closed off, or the zeros audit retention leaves: all
// are skipped.
std::optional<AuditRecord> next_audit_record(ReverseLineReader& reader) {
  while (auto line = reader.next()) {
    if (!line->terminated || line->oversized || line->text.empty()) {
      continue;
    }
    Json json = Json::parse(line->text, nullptr, false);
    if (json.is_discarded()) {
      continue;
    }
    try {
      AuditRecord record = audit_from_json(json);
      record.seq = line->offset + 1;
      return record;
    } catch (const std::exception&) {
      continue;
    }
  }
  return std::nullopt;
}

// Which file a cached head was read from: version files are never changed,
// only created and (on erasure) removed, so the same file is the same record.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;

  static std::optional<FileIdentity> of(const fs::path& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
      return std::nullopt;
    }
    return FileIdentity{info.st_dev, info.st_ino, info.st_size,
                        std::int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec};
  }
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

class JsonStore final : public MemoryStore {
public:
  JsonStore(fs::path dir, bool long_lived)
      : m_long_lived(long_lived), m_dir(std::move(dir)), m_contexts(m_dir / "contexts"), m_keys(m_dir / "keys"),
        m_hooks(m_dir / "hooks"), m_tmp(m_dir / "tmp"), m_lock(m_dir / "lock"), m_hooks_lock(m_dir / "hooks.lock"),
        m_audit(m_dir / "audit.jsonl"), m_format(m_dir / "FORMAT") {
    file_io::create_directories(m_dir);
    check_format();
    file_io::create_directories(m_tmp);
    file_io::create_directories(m_contexts);
    std::error_code error;
    if (!fs::exists(m_audit, error)) {
      file_io::AppendFile created(m_audit);
      file_io::fsync_dir(m_dir);
    }
    remove_stale_temp_files();
  }

  std::string_view backend_name() const override { return "json"; }

  std::optional<VersionRecord> head(const ContextKey& key) override {
    if (m_long_lived) {
      if (auto cached = cached_head(key)) {
        return cached;
      }
    }
    auto versions = list_versions(key);
    if (versions.empty()) {
      return std::nullopt;
    }
    const fs::path path = context_dir(key) / version_file_name(versions.back());
    const auto identity = m_long_lived ? FileIdentity::of(path) : std::nullopt;
    auto record = read_version(key, versions.back());
    if (record && identity) {
      remember_head(key, *record, *identity);
    }
    return record;
  }

  std::optional<VersionRecord> version(const ContextKey& key, std::uint64_t version) override {
    if (!is_valid_key(key) || version == 0) {
      return std::nullopt;
    }
    return read_version(key, version);
  }

  std::optional<VersionRecord> version_at(const ContextKey& key, Timestamp at) override {
    auto versions = list_versions(key);
    auto end = partition_point(key, versions, 0, versions.size(),
                               [&](const VersionRecord& record) { return record.updated_at <= at; });
    if (!end || *end == 0) {
      return std::nullopt;
    }
    return read_version(key, versions[*end - 1]);
  }

  std::vector<VersionRecord> history(const ContextKey& key, const HistoryQuery& query) override {
    auto versions = list_versions(key);
    std::vector<VersionRecord> out;
    // updated_at never decreases within a context, so a time range is a
    // contiguous run of versions found by binary search.
    if (query.oldest_first) {
      std::size_t begin = 0;
      if (query.after_version) {
        begin = static_cast<std::size_t>(std::upper_bound(versions.begin(), versions.end(), *query.after_version) -
                                         versions.begin());
      }
      if (query.since) {
        auto first = partition_point(key, versions, begin, versions.size(),
                                     [&](const VersionRecord& record) { return record.updated_at < *query.since; });
        if (!first) {
          return out;
        }
        begin = *first;
      }
      for (std::size_t i = begin; i < versions.size() && out.size() < query.limit; ++i) {
        auto record = read_version(key, versions[i]);
        if (!record) {
          continue; // pruned or erased meanwhile
        }
        if (query.until && record->updated_at > *query.until) {
          break;
        }
        out.push_back(std::move(*record));
      }
      return out;
    }
    std::size_t end = versions.size();
    if (query.before_version) {
      end = static_cast<std::size_t>(std::lower_bound(versions.begin(), versions.end(), *query.before_version) -
                                     versions.begin());
    }
    if (query.until) {
      auto last = partition_point(key, versions, 0, end,
                                  [&](const VersionRecord& record) { return record.updated_at <= *query.until; });
      if (!last) {
        return out;
      }
      end = *last;
    }
    for (std::size_t i = end; i > 0 && out.size() < query.limit; --i) {
      auto record = read_version(key, versions[i - 1]);
      if (!record) {
        continue; // pruned or erased meanwhile
      }
      if (query.since && record->updated_at < *query.since) {
        break;
      }
      out.push_back(std::move(*record));
    }
    return out;
  }

  std::optional<VersionRecord> find_idempotency_key(const ContextKey& key, std::string_view idempotency_key) override {
    if (idempotency_key.empty()) {
      return std::nullopt;
    }
    // A replay usually repeats a recent update, so the newest versions go first.
    auto versions = list_versions(key);
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      auto record = read_version(key, *it);
      if (!record) {
        return std::nullopt;
      }
      if (record->idempotency_key == idempotency_key) {
        return record;
      }
    }
    return std::nullopt;
  }

  bool append(std::span<const VersionRecord> records, std::span<const AuditRecord> audit) override {
    for (const auto& record : records) {
      if (!is_valid_key(record.key())) {
        throw Error(ErrorCode::invalid, "cannot store " + describe(record.key()) + ": unsafe name", "user_id");
      }
      if (record.version == 0) {
        throw Error(ErrorCode::invalid, "cannot store version 0 of " + describe(record.key()), "version");
      }
    }
    // Shared: appends run side by side, but never while an erase moves directories away.
    file_io::FileLock lock(m_lock, LockMode::shared);
    for (std::size_t i = 0; i < records.size(); ++i) {
      // Within one write, a context's later versions follow its first.
      const VersionRecord& record = records[i];
      if ((i == 0 || records[i - 1].key() != record.key()) && record.version > 1) {
        const auto previous = predecessor(record);
        if (!previous || previous->last_version() != record.version - 1 || previous->hash != record.prev_hash) {
          return false; // built on a head that was erased or replaced meanwhile
        }
      }
      // Under the lock an erasure takes exclusively: the key cannot go
      // between this check and the write.
      if (!record.key_id.empty() && !has_data_key(record.user_id, record.key_id)) {
        return false;
      }
    }
    failpoint::hit("json.before_append");
    for (const auto& record : records) {
      if (&record != records.data()) {
        failpoint::hit("json.between_records");
      }
      std::string text = encode_version(record);
      fs::path dir = context_dir(record.key());
      file_io::create_directories(dir);
      if (!file_io::write_file_atomic(dir / version_file_name(record.version), text, m_tmp,
                                      file_io::WriteMode::create_new)) {
        return false;
      }
    }
    if (!audit.empty()) {
      failpoint::hit("json.before_audit");
      append_audit_lines(audit, true);
    }
    return true;
  }

  bool supports_atomic_batches() const override { return false; }

  std::size_t prune(const VersionRecord& gap) override {
    if (!is_valid_key(gap.key()) || !gap.is_gap() || gap.version == 0) {
      throw Error(ErrorCode::invalid, "cannot store this gap of " + describe(gap.key()), "pruned_through");
    }
    // Exclusive: two prunes of a context must not interleave (appends wait
    // the few milliseconds it takes).
    file_io::FileLock lock(m_lock, LockMode::exclusive);
    const fs::path dir = context_dir(gap.key());
    // Never narrow a gap that another prune widened: what it stands for
    // beyond this one's range is gone already.
    if (const auto existing = read_version(gap.key(), gap.version);
        existing && existing->last_version() > *gap.pruned_through) {
      return 0;
    }
    std::size_t removed = 0;
    std::vector<std::uint64_t> covered;
    for (const auto version : list_versions(gap.key())) {
      if (version >= gap.version && version <= *gap.pruned_through) {
        ++removed;
        if (version != gap.version) {
          covered.push_back(version);
        }
      }
    }
    // The gap first: a crash before the rest are gone leaves records it
    // covers, which readers skip and the next prune removes.
    file_io::write_file_atomic(dir / version_file_name(gap.version), encode_version(gap), m_tmp,
                               file_io::WriteMode::replace);
    for (const auto version : covered) {
      file_io::remove_file(dir / version_file_name(version));
    }
    file_io::fsync_dir(dir);
    return removed;
  }

  std::size_t prune_audit(std::uint64_t through_seq) override {
    file_io::AppendFile file(m_audit);
    file_io::FileLock lock(file.fd(), LockMode::exclusive, m_audit);
    const std::uint64_t size = file.size();
    const std::uint64_t begin = file_io::data_start(file.fd());
    if (through_seq <= begin) {
      return 0;
    }
    // Up to the end of the line of record `through_seq` (at offset seq - 1).
    const std::uint64_t cut = through_seq > size ? size : line_end_after(file.fd(), through_seq, size);
    std::size_t removed = 0;
    ReverseLineReader reader(file.fd(), begin, cut, m_audit);
    while (next_audit_record(reader)) {
      ++removed;
    }
    // The line of zeros before the first record kept ends with its '\n'.
    file_io::discard_prefix(m_audit, cut - 1);
    return removed;
  }

  std::size_t erase(std::string_view user_id, std::optional<std::string_view> ns) override {
    if (!is_valid_name(user_id) || (ns && !is_valid_name(*ns))) {
      return 0;
    }
    file_io::FileLock lock(m_lock, LockMode::exclusive);
    // The cursors first: a crash in between redelivers, never skips.
    for (const auto& hook : hook_names()) {
      if (ns) {
        file_io::remove_file(cursor_path(hook, ContextKey{std::string(user_id), std::string(*ns)}));
      } else {
        file_io::remove_tree(m_hooks / hook / user_id);
      }
    }
    fs::path user_dir = m_contexts / user_id;
    fs::path target = ns ? user_dir / *ns : user_dir;
    std::size_t removed = 0;
    // One rename makes the whole context vanish at once, even if we die while deleting it.
    if (auto doomed = move_to_tmp(target, k_erased_prefix)) {
      if (ns) {
        removed = count_version_files(*doomed);
      } else if (auto namespaces = file_io::list_dir(*doomed)) {
        for (const auto& name : *namespaces) {
          removed += is_valid_name(name) ? count_version_files(*doomed / name) : 0;
        }
      }
      failpoint::hit("json.erase.after_move");
      file_io::remove_tree(*doomed);
      // Drop a user left without namespaces, so it stops being listed.
      if (ns && ::rmdir(user_dir.c_str()) == 0) {
        file_io::fsync_dir(m_contexts);
      }
    }
    // Then the keys, even when no version was left: a retry after a crash
    // in between finishes the job.
    if (!ns) {
      if (auto doomed = move_to_tmp(m_keys / user_id, k_erased_keys_prefix)) {
        file_io::remove_tree(*doomed);
        file_io::fsync_dir(m_tmp);
      }
    }
    return removed;
  }

  std::vector<DataKeyRecord> data_keys(std::optional<std::string_view> user_id) override {
    std::vector<std::string> users;
    if (user_id) {
      users.emplace_back(*user_id);
    } else if (auto names = file_io::list_dir(m_keys)) {
      users = std::move(*names);
    }
    std::sort(users.begin(), users.end());
    std::vector<DataKeyRecord> out;
    for (const auto& user : users) {
      if (!is_valid_name(user)) {
        continue;
      }
      auto names = file_io::list_dir(m_keys / user);
      if (!names) {
        continue;
      }
      std::vector<std::uint64_t> generations;
      for (const auto& name : *names) {
        if (auto generation = parse_version_file_name(name)) {
          generations.push_back(*generation);
        }
      }
      std::sort(generations.begin(), generations.end());
      for (const auto generation : generations) {
        const fs::path path = key_path(user, generation);
        // Gone meanwhile: the user was erased.
        if (auto text = file_io::read_file_if_exists(path)) {
          out.push_back(decode_data_key(*text, path, user, generation));
        }
      }
    }
    return out;
  }

  bool add_data_key(const DataKeyRecord& key) override {
    check_data_key(key);
    const std::string text = encode_data_key(key);
    // Shared: never while an erase moves the user's keys away.
    file_io::FileLock lock(m_lock, LockMode::shared);
    const fs::path dir = m_keys / key.user_id;
    file_io::create_directories(dir);
    // The temp file goes beside the key, so that one a crash leaves behind
    // is removed with the user's keys.
    return file_io::write_file_atomic(key_path(key.user_id, key.generation), text, dir, file_io::WriteMode::create_new);
  }

  bool rewrap_data_key(const DataKeyRecord& key, std::string_view expected_wrapped) override {
    if (!is_valid_name(key.user_id) || !is_valid_generation(key.generation)) {
      return false; // no such key can be stored
    }
    // Exclusive: a compare-and-swap, which no other rewrap (or erase) may interleave.
    file_io::FileLock lock(m_lock, LockMode::exclusive);
    const fs::path path = key_path(key.user_id, key.generation);
    const auto text = file_io::read_file_if_exists(path);
    if (!text) {
      return false;
    }
    DataKeyRecord stored = decode_data_key(*text, path, key.user_id, key.generation);
    if (stored.wrapped != expected_wrapped) {
      return false;
    }
    stored.master_key_id = key.master_key_id;
    stored.wrapped = key.wrapped;
    file_io::write_file_atomic(path, encode_data_key(stored), path.parent_path(), file_io::WriteMode::replace);
    return true;
  }

  std::optional<HookCursor> hook_cursor(std::string_view hook, const ContextKey& context) override {
    if (!is_valid_name(hook) || !is_valid_key(context)) {
      return std::nullopt;
    }
    const fs::path path = cursor_path(hook, context);
    const auto text = file_io::read_file_if_exists(path);
    if (!text) {
      return std::nullopt;
    }
    return decode_cursor(*text, path, hook, context);
  }

  bool put_hook_cursor(const HookCursor& cursor) override {
    check_hook_cursor(cursor);
    // Shared: never while an erase removes cursors; exclusive on the
    // cursors: a compare and set no other may interleave.
    file_io::FileLock store_lock(m_lock, LockMode::shared);
    file_io::FileLock cursors_lock(m_hooks_lock, LockMode::exclusive);
    const fs::path path = cursor_path(cursor.hook, cursor.context);
    const auto stored = file_io::read_file_if_exists(path);
    const std::uint64_t stored_revision =
        stored ? decode_cursor(*stored, path, cursor.hook, cursor.context).revision : 0;
    if (stored_revision + 1 != cursor.revision) {
      return false;
    }
    file_io::create_directories(path.parent_path());
    file_io::write_file_atomic(path, encode_cursor(cursor), m_tmp, file_io::WriteMode::replace);
    return true;
  }

  std::vector<HookCursor> hook_cursors(std::optional<std::string_view> hook) override {
    std::vector<std::string> hooks;
    if (hook) {
      hooks.emplace_back(*hook);
    } else {
      hooks = hook_names();
    }
    std::vector<HookCursor> out;
    for (const auto& name : hooks) {
      for (const auto& context : cursor_contexts(name)) {
        // Gone meanwhile: removed, or its context erased.
        if (auto cursor = hook_cursor(name, context)) {
          out.push_back(std::move(*cursor));
        }
      }
    }
    return out;
  }

  std::size_t remove_hook_cursors(std::string_view hook) override {
    if (!is_valid_name(hook)) {
      return 0;
    }
    file_io::FileLock store_lock(m_lock, LockMode::shared);
    file_io::FileLock cursors_lock(m_hooks_lock, LockMode::exclusive);
    const std::size_t removed = cursor_contexts(hook).size();
    file_io::remove_tree(m_hooks / hook);
    return removed;
  }

  std::vector<ContextKey> contexts(std::optional<std::string_view> user_id) override {
    std::vector<std::string> users;
    if (user_id) {
      users.emplace_back(*user_id);
    } else if (auto names = file_io::list_dir(m_contexts)) {
      users = std::move(*names);
    }
    std::vector<ContextKey> out;
    for (const auto& user : users) {
      if (!is_valid_name(user)) {
        continue;
      }
      auto namespaces = file_io::list_dir(m_contexts / user);
      if (!namespaces) {
        continue;
      }
      for (auto& ns : *namespaces) {
        // A directory without versions is left by a writer that died before linking one.
        if (is_valid_name(ns) && count_version_files(m_contexts / user / ns) > 0) {
          out.push_back(ContextKey{user, std::move(ns)});
        }
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void append_audit(std::span<const AuditRecord> records, bool durable) override {
    append_audit_lines(records, durable);
  }

  std::vector<AuditRecord> audit_log(const AuditQuery& query) override {
    std::vector<AuditRecord> out;
    auto fd = file_io::open_for_reading(m_audit);
    if (!fd || query.limit == 0 || (query.before_seq && *query.before_seq <= 1)) {
      return out;
    }
    std::uint64_t size = file_io::file_size(fd->get(), m_audit);
    std::uint64_t end = size;
    if (query.before_seq && *query.before_seq - 1 < size) {
      end = line_end_after(fd->get(), *query.before_seq - 1, size);
    }
    ReverseLineReader reader(fd->get(), file_io::data_start(fd->get()), end, m_audit);
    while (out.size() < query.limit) {
      auto record = next_audit_record(reader);
      if (!record) {
        break;
      }
      if (matches(*record, query)) {
        out.push_back(std::move(*record));
      }
    }
    return out;
  }

private:
  void check_format() const {
    auto format = file_io::read_file_if_exists(m_format);
    if (!format) {
      file_io::create_directories(m_tmp);
      if (file_io::write_file_atomic(m_format, std::string(k_format) + "\n", m_tmp, file_io::WriteMode::create_new)) {
        return;
      }
      // Another process created it first.
      format = file_io::read_file(m_format);
    }
    std::string_view text = *format;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
      text.remove_suffix(1);
    }
    if (text != k_format) {
      throw Error(ErrorCode::unavailable, m_format.string() + " says " + quoted_excerpt(text) + ", not '" +
                                              std::string(k_format) +
                                              "': this directory holds data zsimem cannot read");
    }
  }

  // Temp files and erased contexts left by killed processes. Only when no
  // one holds the lock, since a live writer or eraser may still own them.
  void remove_stale_temp_files() const {
    try {
      auto lock = file_io::FileLock::try_lock(m_lock, LockMode::exclusive);
      auto names = lock ? file_io::list_dir(m_tmp) : std::nullopt;
      if (!names) {
        return;
      }
      std::time_t cutoff = std::time(nullptr) - k_stale_temp_seconds;
      for (const auto& name : *names) {
        struct stat info {};
        fs::path path = m_tmp / name;
        // Erased keys at once: only an eraser, which holds the lock, owns them.
        if (name.starts_with(k_erased_keys_prefix) || (::lstat(path.c_str(), &info) == 0 && info.st_mtime < cutoff)) {
          file_io::remove_tree(path);
        }
      }
    } catch (const Error&) {
      // Cleanup is best effort: a read-only store still reads.
    }
  }

  fs::path context_dir(const ContextKey& key) const { return m_contexts / key.user_id / key.ns; }

  fs::path cursor_path(std::string_view hook, const ContextKey& context) const {
    return m_hooks / hook / context.user_id / (context.ns + std::string(k_version_suffix));
  }

  // The hooks with cursors, sorted.
  std::vector<std::string> hook_names() const {
    auto names = file_io::list_dir(m_hooks).value_or(std::vector<std::string>{});
    std::erase_if(names, [](const std::string& name) { return !is_valid_name(name); });
    std::sort(names.begin(), names.end());
    return names;
  }

  // The contexts a hook has cursors of, sorted.
  std::vector<ContextKey> cursor_contexts(std::string_view hook) const {
    std::vector<ContextKey> out;
    for (const auto& user : file_io::list_dir(m_hooks / hook).value_or(std::vector<std::string>{})) {
      if (!is_valid_name(user)) {
        continue;
      }
      for (const auto& file : file_io::list_dir(m_hooks / hook / user).value_or(std::vector<std::string>{})) {
        const std::string ns = file.substr(0, file.size() - std::min(file.size(), k_version_suffix.size()));
        if (file.ends_with(k_version_suffix) && is_valid_name(ns)) {
          out.push_back(ContextKey{user, ns});
        }
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static std::string encode_cursor(const HookCursor& cursor) {
    const Json json{{"hook", cursor.hook},
                    {"user_id", cursor.context.user_id},
                    {"ns", cursor.context.ns},
                    {"revision", cursor.revision},
                    {"state", cursor.state}};
    return json.dump(2) + "\n";
  }

  static HookCursor decode_cursor(const std::string& text, const fs::path& path, std::string_view hook,
                                  const ContextKey& context) {
    const Json json = Json::parse(text, nullptr, false);
    const auto revision = json.is_object() ? json.find("revision") : json.end();
    const auto state = json.is_object() ? json.find("state") : json.end();
    if (revision == json.end() || !revision->is_number_unsigned() || state == json.end() || !state->is_string()) {
      throw Error(ErrorCode::unavailable, "hook cursor file " + path.string() + " is damaged");
    }
    return HookCursor{std::string(hook), context, revision->get<std::uint64_t>(), state->get<std::string>()};
  }

  // Named like version files: the generation zero-padded to 20 digits.
  fs::path key_path(std::string_view user_id, std::uint64_t generation) const {
    return m_keys / user_id / version_file_name(generation);
  }

  bool has_data_key(const std::string& user_id, std::string_view key_id) const {
    const auto generation = key_generation(key_id);
    if (!generation) {
      return false;
    }
    const fs::path path = key_path(user_id, *generation);
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) {
      return true;
    }
    if (errno != ENOENT && errno != ENOTDIR) {
      throw Error(ErrorCode::unavailable,
                  "cannot stat " + path.string() + ": " + std::generic_category().message(errno));
    }
    return false;
  }

  // Renames `target` to a new name in tmp/ and makes that durable; nullopt
  // when there is no `target`.
  std::optional<fs::path> move_to_tmp(const fs::path& target, std::string_view prefix) const {
    fs::path doomed = m_tmp / file_io::unique_name(prefix);
    if (::rename(target.c_str(), doomed.c_str()) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return std::nullopt;
      }
      throw Error(ErrorCode::unavailable,
                  "cannot erase " + target.string() + ": " + std::generic_category().message(errno));
    }
    file_io::fsync_dir(target.parent_path());
    file_io::fsync_dir(m_tmp);
    return doomed;
  }

  // A long-lived store (the daemon) remembers each context's head, and
  // trusts it while its file is the same and no next version exists: two
  // stat calls instead of listing the folder and parsing the file. Writers
  // in other processes only ever add the next version's file or remove the
  // folder, so both are seen.
  struct CachedHead {
    VersionRecord record;
    FileIdentity file;
  };
  static constexpr std::size_t k_max_cached_heads = 100'000;

  std::optional<VersionRecord> cached_head(const ContextKey& key) {
    std::optional<CachedHead> cached;
    {
      std::lock_guard lock(m_heads_mutex);
      const auto it = m_heads.find(key);
      if (it == m_heads.end()) {
        return std::nullopt;
      }
      cached = it->second;
    }
    const fs::path dir = context_dir(key);
    struct stat next {};
    if (::stat((dir / version_file_name(cached->record.version + 1)).c_str(), &next) == 0 || errno != ENOENT ||
        FileIdentity::of(dir / version_file_name(cached->record.version)) != cached->file) {
      return std::nullopt;
    }
    return std::move(cached->record);
  }

  void remember_head(const ContextKey& key, const VersionRecord& record, const FileIdentity& file) {
    std::lock_guard lock(m_heads_mutex);
    if (m_heads.size() >= k_max_cached_heads) {
      m_heads.clear(); // a crude bound: the cache refills with what is read
    }
    m_heads.insert_or_assign(key, CachedHead{record, file});
  }

  // The versions of a context, ascending; empty for an unsafe key.
  std::vector<std::uint64_t> list_versions(const ContextKey& key) const {
    std::vector<std::uint64_t> versions;
    if (!is_valid_key(key)) {
      return versions;
    }
    if (auto names = file_io::list_dir(context_dir(key))) {
      for (const auto& name : *names) {
        if (auto version = parse_version_file_name(name)) {
          versions.push_back(*version);
        }
      }
    }
    std::sort(versions.begin(), versions.end());
    return versions;
  }

  static std::size_t count_version_files(const fs::path& dir) {
    auto names = file_io::list_dir(dir);
    if (!names) {
      return 0;
    }
    return static_cast<std::size_t>(std::count_if(names->begin(), names->end(), [](const std::string& name) {
      return parse_version_file_name(name).has_value();
    }));
  }

  // The newest record below `record`'s version, which it must follow:
  // version - 1 unless that was pruned.
  std::optional<VersionRecord> predecessor(const VersionRecord& record) const {
    if (auto previous = read_version(record.key(), record.version - 1)) {
      return previous;
    }
    const auto versions = list_versions(record.key());
    const auto below = std::lower_bound(versions.begin(), versions.end(), record.version);
    if (below == versions.begin()) {
      return std::nullopt;
    }
    return read_version(record.key(), *std::prev(below));
  }

  // nullopt when the file is gone: the context was erased meanwhile.
  std::optional<VersionRecord> read_version(const ContextKey& key, std::uint64_t version) const {
    fs::path path = context_dir(key) / version_file_name(version);
    auto text = file_io::read_file_if_exists(path);
    if (!text) {
      return std::nullopt;
    }
    return decode_version(*text, path, key, version);
  }

  // The first index in [lo, hi) whose record fails `holds`, for a predicate
  // that holds on a prefix; nullopt when the context vanished meanwhile.
  template <typename Predicate>
  std::optional<std::size_t> partition_point(const ContextKey& key, const std::vector<std::uint64_t>& versions,
                                             std::size_t lo, std::size_t hi, Predicate holds) const {
    while (lo < hi) {
      std::size_t mid = lo + (hi - lo) / 2;
      auto record = read_version(key, versions[mid]);
      if (!record) {
        return std::nullopt;
      }
      if (holds(*record)) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  // Where the line holding byte `offset` ends (after its '\n'), so that a
  // cursor pointing inside a line still includes that line.
  std::uint64_t line_end_after(int fd, std::uint64_t offset, std::uint64_t size) const {
    if (offset == 0 || file_io::read_at(fd, offset - 1, 1, m_audit) == "\n") {
      return offset;
    }
    while (offset < size) {
      std::string block = file_io::read_at(fd, offset, k_audit_block_bytes, m_audit);
      auto newline = block.find('\n');
      if (newline != std::string::npos) {
        return offset + newline + 1;
      }
      if (block.empty()) {
        break;
      }
      offset += block.size();
    }
    return size;
  }

  void append_audit_lines(std::span<const AuditRecord> records, bool durable) {
    file_io::AppendFile file(m_audit);
    // Exclusive, so the size read here is where our bytes land: seq is the
    // byte offset + 1, unique and increasing across processes.
    file_io::FileLock lock(file.fd(), LockMode::exclusive, m_audit);
    std::uint64_t size = file.size();
    std::string buffer;
    if (size > 0 && file_io::read_at(file.fd(), size - 1, 1, m_audit) != "\n") {
      // Close off a line torn by a crash so that ours stays readable.
      buffer = "\n";
    }
    std::string last_hash = last_audit_hash(file.fd(), size);
    for (const auto& record : records) {
      AuditRecord stamped = as_stored(record);
      stamped.seq = size + buffer.size() + 1;
      chain_audit(stamped, last_hash);
      last_hash = stamped.hash;
      buffer += encode_audit(stamped);
      buffer += '\n';
    }
    file.append(buffer, durable);
    const std::lock_guard tail_lock(m_audit_tail_mutex);
    m_audit_tail = {size + buffer.size(), std::move(last_hash)};
  }

  // The hash of the last readable record of the first `size` bytes of the
  // audit log; called under its lock. This process's last append usually
  // knows it.
  std::string last_audit_hash(int fd, std::uint64_t size) {
    {
      const std::lock_guard tail_lock(m_audit_tail_mutex);
      if (m_audit_tail.size == size) {
        return m_audit_tail.hash;
      }
    }
    ReverseLineReader reader(fd, file_io::data_start(fd), size, m_audit);
    const auto last = next_audit_record(reader);
    return last ? last->hash : std::string{};
  }

  bool m_long_lived;
  std::mutex m_heads_mutex;
  std::map<ContextKey, CachedHead> m_heads;
  fs::path m_dir;
  fs::path m_contexts;
  fs::path m_keys;
  fs::path m_hooks;
  fs::path m_tmp;
  fs::path m_lock;
  fs::path m_hooks_lock;
  fs::path m_audit;
  fs::path m_format;
  // Where this process's last audit append ended, and the hash it ended with.
  struct AuditTail {
    std::uint64_t size = 0;
    std::string hash;
  };
  std::mutex m_audit_tail_mutex;
  AuditTail m_audit_tail;
};

} // namespace

std::unique_ptr<MemoryStore> make_json_store(const StoreConfig& config) {
  return std::make_unique<JsonStore>(config.data_dir, config.long_lived);
}

} // namespace zsimem::store
