// The SQLite backend's database file as it finds it on disk: a valid
// zsimem.sqlite3 with known contexts and audit records is made once (its WAL
// checkpointed into it); each input is a patch over that file, so that
// mutations reach every page rather than only the header. The store is then
// opened afresh, read every way the CLI reads it, and written to. Damage
// may only ever come out as zsimem::Error, and not as an internal one: never
// a crash, a hang or another exception.
//
// Input: one byte choosing the groups of operations (bits; 0 for all of
// them), then patches, each 2 bytes of offset (big-endian, modulo the file's
// size), 1 byte of length and that many bytes to write there. An offset of
// 0xfff0 or more truncates the file to 256 * length bytes instead.

#include "fuzz_support.hpp"

#include <zsimem/error.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/store.hpp>
#include <zsimem/time.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

namespace fs = std::filesystem;
using zsimem::ErrorCode;
using zsimem::fuzz::require;

constexpr const char* k_file_name = "zsimem.sqlite3";

// Runs one operation. Damage SQLite or the store notices must come out as
// unavailable; damage that leaves plausible values (a changed byte inside a
// string) can only give the answers those values give, errors included
// (a replayed idempotency key whose delta now differs is invalid). Never an
// internal error.
void expect_damage_at_most(std::string_view operation_name, const std::function<void()>& operation) {
  try {
    operation();
  } catch (const zsimem::Error& error) {
    require(error.code() != ErrorCode::internal, "damage is not an internal error",
            std::string(error.what()) + " (in " + std::string(operation_name) + ")");
  }
}

// The input's patches applied to `file`.
std::string patched(std::string file, std::string_view patches) {
  std::size_t pos = 0;
  while (pos + 3 <= patches.size()) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(patches[pos + i]); };
    const std::size_t offset = (std::size_t{byte(0)} << 8) | byte(1);
    const std::size_t length = byte(2);
    pos += 3;
    if (offset >= 0xfff0) {
      file.resize(std::min(file.size(), length * 256));
      continue;
    }
    const std::string_view bytes = patches.substr(pos, std::min(length, patches.size() - pos));
    pos += bytes.size();
    if (file.empty()) {
      continue;
    }
    const std::size_t at = offset % file.size();
    file.replace(at, std::min(bytes.size(), file.size() - at), bytes.substr(0, file.size() - at));
  }
  return file;
}

// What a front end does with what it read: its times become text.
void show(const zsimem::VersionRecord& record) {
  require(!zsimem::format_rfc3339(record.updated_at).empty(), "a time");
}
void show(const std::vector<zsimem::VersionRecord>& records) {
  for (const auto& record : records) {
    show(record);
  }
}
void show(const zsimem::AuditPage& page) {
  for (const auto& record : page.records) {
    require(!zsimem::format_rfc3339(record.time).empty(), "a time");
  }
}

class Fixture {
public:
  Fixture() {
    {
      zsimem::MemoryService service(zsimem::open_store({"sqlite", m_dir.path()}));
      const zsimem::Caller caller{"fuzz", "seed"};
      zsimem::MemoryUpdate update;
      update.user_id = "alice";
      update.delta = R"({"name":"Ada","prefs":{"theme":"dark","lang":"en"}})";
      update.tags = {"seed", "two"};
      service.merge(caller, update);
      update.delta = R"({"city":"London","prefs":{"lang":null}})";
      update.tags = {};
      update.idempotency_key = "key-1";
      service.merge(caller, update);
      update.delta = R"({"list":[1,{"a":"é"}],"n":2.5})";
      update.idempotency_key = {};
      service.merge(caller, update);
      update.user_id = "bob";
      update.ns = "work";
      update.delta = R"({"project":"engine"})";
      service.merge(caller, update);
      service.get(caller, {"alice", "default"});
    }
    // The store keeps its WAL at close: move everything into the main file.
    const fs::path path = m_dir.path() / k_file_name;
    sqlite3* db = nullptr;
    require(sqlite3_open(path.c_str(), &db) == SQLITE_OK, "the fixture database opens");
    require(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) == SQLITE_OK,
            "the fixture's WAL is checkpointed");
    sqlite3_close(db);
    remove_side_files();
    m_pristine = zsimem::fuzz::read_file(path);
  }

  void run(std::uint8_t operations, std::string_view patches) {
    zsimem::fuzz::write_file(m_dir.path() / k_file_name, patched(m_pristine, patches));
    remove_side_files();
    read(operations == 0 ? 0xff : operations);
  }

private:
  void remove_side_files() const {
    std::error_code error;
    fs::remove(m_dir.path() / (std::string(k_file_name) + "-wal"), error);
    fs::remove(m_dir.path() / (std::string(k_file_name) + "-shm"), error);
  }

  // Opens the store and runs the groups of operations whose bits are set.
  void read(std::uint8_t groups) {
    std::unique_ptr<zsimem::MemoryService> service;
    expect_damage_at_most("open_store", [&] {
      service = std::make_unique<zsimem::MemoryService>(zsimem::open_store({"sqlite", m_dir.path()}));
    });
    if (!service) {
      return;
    }
    const zsimem::Caller caller{"fuzz", "read"};
    const zsimem::ContextKey key{"alice", "default"};
    if ((groups & 0x01) != 0) {
      expect_damage_at_most("get", [&] { show(service->get(caller, key)); });
      expect_damage_at_most("get", [&] { show(service->get(caller, {"bob", "work"})); });
      for (std::uint64_t version = 1; version <= 4; ++version) {
        expect_damage_at_most("get version", [&] { show(service->get(caller, key, {version, std::nullopt})); });
      }
    }
    if ((groups & 0x02) != 0) {
      expect_damage_at_most("get at", [&] { show(service->get(caller, key, {std::nullopt, zsimem::now()})); });
      expect_damage_at_most("users", [&] { service->users(caller); });
    }
    if ((groups & 0x04) != 0) {
      expect_damage_at_most("history", [&] { show(service->history(caller, key, {}).versions); });
      expect_damage_at_most("history oldest first", [&] {
        zsimem::HistoryQuery query;
        query.oldest_first = true;
        query.limit = 2;
        show(service->history(caller, key, query).versions);
      });
    }
    if ((groups & 0x08) != 0) {
      expect_damage_at_most("diff", [&] { service->diff(caller, key, 1); });
      expect_damage_at_most("blame", [&] { service->blame(caller, key); });
    }
    if ((groups & 0x10) != 0) {
      expect_damage_at_most("verify", [&] { service->verify(caller); });
    }
    if ((groups & 0x20) != 0) {
      expect_damage_at_most("export_versions", [&] {
        service->export_versions(caller, std::nullopt, [](const zsimem::VersionRecord& record) { show(record); });
      });
    }
    if ((groups & 0x40) != 0) {
      expect_damage_at_most("audit_log", [&] { show(service->audit_log(caller, {})); });
      expect_damage_at_most("audit_log of a user", [&] {
        zsimem::AuditQuery query;
        query.user_id = "alice";
        query.limit = 3;
        show(service->audit_log(caller, query));
      });
    }
    if ((groups & 0x80) != 0) {
      expect_damage_at_most("merge replay", [&] {
        // A replay of version 2's idempotency key.
        zsimem::MemoryUpdate update;
        update.user_id = "alice";
        update.delta = R"({"city":"London","prefs":{"lang":null}})";
        update.idempotency_key = "key-1";
        service->merge(caller, update);
      });
      expect_damage_at_most("merge new context", [&] {
        zsimem::MemoryUpdate update;
        update.user_id = "carol";
        update.delta = R"({"new":"context"})";
        service->merge(caller, update);
      });
    }
  }

  zsimem::fuzz::ScratchDir m_dir;
  std::string m_pristine;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  if (size == 0) {
    return 0;
  }
  fixture.run(data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
