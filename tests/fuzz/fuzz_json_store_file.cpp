// The JSON backend's files as it finds them on disk: a store with known
// contexts is made once; each input replaces one of its files (a version
// file, and from some input bits the audit log or the FORMAT file) with the
// fuzz bytes, then the store is opened afresh and read every way the CLI
// reads it. A damaged file may only ever come out as zsimem::Error, and not
// as an internal one: damage is the store's to report (unavailable), never
// a bug.
//
// Input: one byte choosing the file, one choosing the groups of operations
// (bits; 0 for all of them), then the file's new content.

#include "fuzz_support.hpp"

#include <zsimem/error.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/store.hpp>
#include <zsimem/time.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;
using zsimem::fuzz::require;

// Runs one operation; a failure must be the store's zsimem::Error and not an internal one.
void expect_error_at_most(std::string_view operation_name, const std::function<void()>& operation) {
  try {
    operation();
  } catch (const zsimem::Error& error) {
    require(error.code() != zsimem::ErrorCode::internal, "damage is not an internal error",
            std::string(error.what()) + " (in " + std::string(operation_name) + ")");
  }
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
    const zsimem::StoreConfig config{"json", m_dir.path()};
    zsimem::MemoryService service(zsimem::open_store(config));
    const zsimem::Caller caller{"fuzz", "seed"};
    zsimem::MemoryUpdate update;
    update.user_id = "alice";
    update.delta = R"({"name":"Ada","prefs":{"theme":"dark","lang":"en"}})";
    update.tags = {"seed"};
    service.merge(caller, update);
    update.delta = R"({"city":"London","prefs":{"lang":null}})";
    update.tags = {};
    update.idempotency_key = "key-1";
    service.merge(caller, update);
    update.delta = R"({"list":[1,{"a":"é"}],"n":2.5})";
    update.idempotency_key = {};
    service.merge(caller, update);
    const fs::path context = m_dir.path() / "contexts" / "alice" / "default";
    for (const auto& entry : fs::directory_iterator(context)) {
      m_files.push_back(entry.path());
    }
    std::sort(m_files.begin(), m_files.end());
    require(m_files.size() == 3, "the fixture has three versions");
    m_files.push_back(m_dir.path() / "audit.jsonl");
    m_files.push_back(m_dir.path() / "FORMAT");
    for (const auto& path : m_files) {
      m_pristine.push_back(zsimem::fuzz::read_file(path));
    }
  }

  void run(std::uint8_t choice, std::uint8_t operations, std::string_view bytes) {
    // Mostly a version file; the audit log and FORMAT now and then.
    const std::size_t target = choice % 8 < 6 ? choice % 3 : (choice % 8 == 6 ? 3 : 4);
    zsimem::fuzz::write_file(m_files[target], bytes);
    if ((choice & 0x80) != 0 && target < 3) {
      // Two damaged files at once: the version and the audit log.
      zsimem::fuzz::write_file(m_files[3], bytes);
    }
    read(operations == 0 ? 0xff : operations);
    // Every operation appends to the audit log.
    for (const std::size_t i : {target, std::size_t{3}}) {
      zsimem::fuzz::write_file(m_files[i], m_pristine[i]);
    }
  }

private:
  // Opens the store and runs the groups of operations whose bits are set.
  void read(std::uint8_t groups) {
    std::unique_ptr<zsimem::MemoryService> service;
    expect_error_at_most("open_store", [&] {
      service = std::make_unique<zsimem::MemoryService>(zsimem::open_store({"json", m_dir.path()}));
    });
    if (!service) {
      return;
    }
    const zsimem::Caller caller{"fuzz", "read"};
    const zsimem::ContextKey key{"alice", "default"};
    if ((groups & 0x01) != 0) {
      expect_error_at_most("get", [&] { show(service->get(caller, key)); });
      for (std::uint64_t version = 1; version <= 4; ++version) {
        expect_error_at_most("get version", [&] { show(service->get(caller, key, {version, std::nullopt})); });
      }
    }
    if ((groups & 0x02) != 0) {
      expect_error_at_most("get at", [&] { show(service->get(caller, key, {std::nullopt, zsimem::now()})); });
      expect_error_at_most("get at", [&] { show(service->get(caller, key, {std::nullopt, zsimem::from_micros(1)})); });
    }
    if ((groups & 0x04) != 0) {
      expect_error_at_most("history", [&] { show(service->history(caller, key, {}).versions); });
      expect_error_at_most("history oldest first", [&] {
        zsimem::HistoryQuery query;
        query.oldest_first = true;
        query.limit = 2;
        show(service->history(caller, key, query).versions);
      });
    }
    if ((groups & 0x08) != 0) {
      expect_error_at_most("diff", [&] { service->diff(caller, key, 1); });
      expect_error_at_most("blame", [&] { service->blame(caller, key); });
    }
    if ((groups & 0x10) != 0) {
      expect_error_at_most("verify", [&] { service->verify(caller); });
    }
    if ((groups & 0x20) != 0) {
      expect_error_at_most("export_versions", [&] {
        service->export_versions(caller, std::nullopt, [](const zsimem::VersionRecord& record) { show(record); });
      });
    }
    if ((groups & 0x40) != 0) {
      expect_error_at_most("audit_log", [&] { show(service->audit_log(caller, {})); });
      expect_error_at_most("audit_log of a user", [&] {
        zsimem::AuditQuery query;
        query.user_id = "alice";
        query.limit = 3;
        query.before_seq = 200;
        show(service->audit_log(caller, query));
      });
    }
    if ((groups & 0x80) != 0) {
      expect_error_at_most("merge dry run", [&] {
        zsimem::MemoryUpdate update;
        update.user_id = "alice";
        update.delta = R"({"more":true})";
        update.expected_version = 2;
        service->merge(caller, update, true);
      });
    }
  }

  zsimem::fuzz::ScratchDir m_dir;
  std::vector<fs::path> m_files; // the three version files, audit.jsonl, FORMAT
  std::vector<std::string> m_pristine;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  if (size < 2) {
    return 0;
  }
  fixture.run(data[0], data[1], std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2));
  return 0;
}
