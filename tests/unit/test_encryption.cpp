// Encryption at rest, in every embedded backend: nothing of a context is
// stored in the clear, a damaged or wrongly keyed version is an error, an
// erased user's versions cannot be decrypted any more, and keys rotate while
// writers go on.

#include "crypto.hpp"
#include "store/sealed_store.hpp"
#include "support/error_of.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/encryption.hpp>
#include <zsimem/error.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

using namespace zsimem;
using testing::error_of;

namespace {

namespace fs = std::filesystem;

Caller caller() { return Caller{"tester", new_request_id(), {}}; }

MemoryUpdate update(const std::string& user, const std::string& delta, const std::string& ns = "default") {
  MemoryUpdate u;
  u.user_id = user;
  u.ns = ns;
  u.delta = delta;
  return u;
}

std::shared_ptr<const MasterKeyRing> ring(const std::string& text) {
  return std::make_shared<const MasterKeyRing>(MasterKeyRing::parse(text, "test keys"));
}

const std::string k_old_key = std::string(64, 'a');
const std::string k_new_key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

ServiceOptions with_keys(const std::string& keys) {
  ServiceOptions options;
  options.master_keys = ring(keys);
  return options;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every file under `dir` whose bytes contain `needle`.
std::vector<fs::path> files_containing(const fs::path& dir, const std::string& needle) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && file_bytes(entry.path()).find(needle) != std::string::npos) {
      found.push_back(entry.path());
    }
  }
  return found;
}

// Every version of a context as the store below the service keeps it.
std::vector<VersionRecord> stored_versions(const std::string& backend, const fs::path& dir, const ContextKey& key) {
  HistoryQuery query;
  query.oldest_first = true;
  query.limit = 1000;
  return open_store({backend, dir})->history(key, query);
}

// Changes what the store keeps for one version, as someone with write
// access to its files could.
void replace_stored(const std::string& backend, const fs::path& dir, const VersionRecord& record) {
  if (backend == "json") {
    char name[32];
    std::snprintf(name, sizeof name, "%020llu.json", static_cast<unsigned long long>(record.version));
    std::ofstream(dir / "contexts" / record.user_id / record.ns / name, std::ios::trunc)
        << version_json(record).dump(2) << '\n';
    return;
  }
  REQUIRE(backend == "sqlite");
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((dir / "zsimem.sqlite3").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "UPDATE versions SET data = ?1, hash = ?2 WHERE user_id = ?3 AND ns = ?4 AND version = ?5",
                             -1, &statement, nullptr) == SQLITE_OK);
  sqlite3_bind_text(statement, 1, record.data.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(statement, 2, record.hash.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(statement, 3, record.user_id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(statement, 4, record.ns.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(statement, 5, static_cast<sqlite3_int64>(record.version));
  CHECK(sqlite3_step(statement) == SQLITE_DONE);
  CHECK(sqlite3_changes(db) == 1);
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

} // namespace

TEST_CASE("crypto: sealed boxes open only unchanged, with their key and aad", "[encryption][crypto]") {
  const crypto::Key key = crypto::Key::random();
  const std::string box = crypto::seal(key, "a secret", "bound");
  REQUIRE(box.size() == crypto::k_nonce_bytes + 8 + crypto::k_tag_bytes);
  CHECK(crypto::open(key, box, "bound") == "a secret");
  CHECK(crypto::open(key, crypto::seal(key, "", ""), "") == "");
  // The nonce is fresh each time: the same plaintext never seals the same.
  CHECK(crypto::seal(key, "a secret", "bound") != box);
  for (std::size_t i = 0; i < box.size(); ++i) {
    std::string altered = box;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    INFO("byte " << i);
    CHECK_FALSE(crypto::open(key, altered, "bound"));
  }
  CHECK_FALSE(crypto::open(key, box, "other"));
  CHECK_FALSE(crypto::open(crypto::Key::random(), box, "bound"));
  CHECK_FALSE(crypto::open(key, box.substr(0, box.size() - 1), "bound"));
  CHECK_FALSE(crypto::open(key, "", "bound"));
}

TEST_CASE("crypto: base64 and hex round-trip and refuse other spellings", "[encryption][crypto]") {
  // RFC 4648 §10.
  const std::vector<std::pair<std::string, std::string>> vectors{{"", ""},
                                                                 {"f", "Zg=="},
                                                                 {"fo", "Zm8="},
                                                                 {"foo", "Zm9v"},
                                                                 {"foob", "Zm9vYg=="},
                                                                 {"fooba", "Zm9vYmE="},
                                                                 {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(crypto::base64_encode(plain) == encoded);
    CHECK(crypto::base64_decode(encoded) == plain);
  }
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all += static_cast<char>(c);
  }
  CHECK(crypto::base64_decode(crypto::base64_encode(all)) == all);
  for (const char* bad : {"Zg", "Zg=", "Zh==", "Z===", "Zm9v\n", "Zm 9v", "Zm9-", "====", "Zg==Zg=="}) {
    INFO(bad);
    CHECK_FALSE(crypto::base64_decode(bad));
  }
  CHECK(crypto::from_hex("00ff7A") == std::string("\x00\xff\x7a", 3));
  CHECK_FALSE(crypto::from_hex("abc"));
  CHECK_FALSE(crypto::from_hex("zz"));
}

TEST_CASE("master keys: parsed from hex lists and files, never quoted in errors", "[encryption][keys]") {
  const auto keys = MasterKeyRing::parse("# rotated 2026-11\n" + k_new_key + "\n" + k_old_key + " # old\n", "file");
  REQUIRE(keys.keys().size() == 2);
  CHECK(keys.current().id.size() == 16);
  CHECK(keys.current().id != keys.keys()[1].id);
  CHECK(keys.find(keys.keys()[1].id) == &keys.keys()[1]);
  CHECK(keys.find("0000000000000000") == nullptr);
  CHECK(MasterKeyRing::parse(k_new_key + "," + k_old_key, "env").current().id == keys.current().id);
  // The id depends on the key alone.
  CHECK(MasterKeyRing::parse(k_old_key, "env").current().id == keys.keys()[1].id);

  for (const std::string& bad : {std::string(""), std::string("# nothing\n"), k_new_key.substr(1), k_new_key + "00",
                                 "g" + k_new_key.substr(1), k_new_key + "," + k_new_key}) {
    const Error error = error_of([&] { (void)MasterKeyRing::parse(bad, "ZSIMEM_MASTER_KEY"); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(std::string(error.what()).find("ZSIMEM_MASTER_KEY") != std::string::npos);
    if (bad.size() > 8) {
      CHECK(std::string(error.what()).find(bad.substr(1, 16)) == std::string::npos);
    }
  }

  testing::TempDir dir;
  std::ofstream(dir.path() / "keys") << k_old_key << '\n';
  CHECK(MasterKeyRing::load(dir.path() / "keys").current().id == keys.keys()[1].id);
  CHECK(error_of([&] { (void)MasterKeyRing::load(dir.path() / "missing"); }).code() == ErrorCode::invalid);
  ::setenv("ZSIMEM_MASTER_KEY", k_new_key.c_str(), 1);
  CHECK(master_keys_from_env()->current().id == keys.current().id);
  CHECK(error_of([&] { (void)master_keys_from_env(dir.path() / "keys"); }).code() == ErrorCode::invalid);
  ::unsetenv("ZSIMEM_MASTER_KEY");
  CHECK(master_keys_from_env(dir.path() / "keys")->current().id == keys.keys()[1].id);
  CHECK(master_keys_from_env() == nullptr);
}

TEST_CASE("encryption: nothing of a context is stored in the clear", "[encryption][store]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  const bool encrypted = GENERATE(true, false);
  INFO(backend << (encrypted ? " encrypted" : " in the clear"));
  const std::string marker = "MARKER-7f3a9c-at-rest";
  testing::TempDir dir;
  {
    MemoryService service(open_store({backend, dir.path()}), encrypted ? with_keys(k_new_key) : ServiceOptions{});
    service.merge(caller(), update("alice", R"({"note": ")" + marker + R"(", "n": 1})"));
    service.merge(caller(), update("alice", R"({"n": 2, "deep": {"list": [")" + marker + R"("]}})"));
    service.merge(caller(), update("alice", R"({"note": null})"));
    service.rollback(caller(), {"alice", "default"}, 1);
    service.merge(caller(), update("alice", R"({"x": ")" + marker + R"("})", "work"));
    MemoryUpdate batch[] = {update("bob", R"({"m": ")" + marker + R"("})"), update("carol", R"({"m": 1})")};
    service.apply(caller(), batch);
    CHECK(service.get(caller(), {"alice", "default"}).data.find(marker) != std::string::npos);
    CHECK(service.verify(caller()).ok());
  }
  // Everything the backend wrote: version files, the SQLite file and its WAL,
  // the audit log, the keys.
  const auto found = files_containing(dir.path(), marker);
  if (encrypted) {
    CHECK(found.empty());
    for (const auto& record : stored_versions(backend, dir.path(), {"alice", "default"})) {
      CHECK(record.key_id == "1");
      CHECK(record.delta.empty());
      CHECK(record.salt.empty()); // sealed with the data
    }
  } else {
    // The scan sees what is there.
    CHECK_FALSE(found.empty());
  }
}

TEST_CASE("encryption: a damaged, moved or wrongly keyed version is an error, never data", "[encryption][store]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  testing::TempDir dir;
  {
    MemoryService service(open_store({backend, dir.path()}), with_keys(k_new_key));
    service.merge(caller(), update("alice", R"({"a": 1})"));
    service.merge(caller(), update("alice", R"({"b": 2})"));
  }
  const auto stored = stored_versions(backend, dir.path(), {"alice", "default"});
  REQUIRE(stored.size() == 2);
  const auto read_version_2 = [&](ServiceOptions options) {
    MemoryService service(open_store({backend, dir.path()}), std::move(options));
    return error_of([&] { service.get(caller(), {"alice", "default"}, {2, std::nullopt}); });
  };

  SECTION("a changed byte of the sealed data") {
    VersionRecord altered = stored[1];
    auto box = crypto::base64_decode(altered.data);
    REQUIRE(box);
    (*box)[box->size() / 2] = static_cast<char>((*box)[box->size() / 2] ^ 0x20);
    altered.data = crypto::base64_encode(*box);
    replace_stored(backend, dir.path(), altered);
    const Error error = read_version_2(with_keys(k_new_key));
    CHECK(error.code() == ErrorCode::unavailable);
    CHECK(std::string(error.what()).find("fails authentication") != std::string::npos);
  }
  SECTION("another version's sealed data") {
    VersionRecord moved = stored[1];
    moved.data = stored[0].data;
    replace_stored(backend, dir.path(), moved);
    CHECK(read_version_2(with_keys(k_new_key)).code() == ErrorCode::unavailable);
  }
  SECTION("a changed hash") {
    VersionRecord rehashed = stored[1];
    rehashed.hash = stored[0].hash;
    replace_stored(backend, dir.path(), rehashed);
    CHECK(read_version_2(with_keys(k_new_key)).code() == ErrorCode::unavailable);
  }
  SECTION("base64 that is not") {
    VersionRecord garbled = stored[1];
    garbled.data = "not base64!";
    replace_stored(backend, dir.path(), garbled);
    CHECK(read_version_2(with_keys(k_new_key)).code() == ErrorCode::unavailable);
  }
  SECTION("another master key") {
    const Error error = read_version_2(with_keys(k_old_key));
    CHECK(error.code() == ErrorCode::unavailable);
    CHECK(std::string(error.what()).find("not among the configured master keys") != std::string::npos);
  }
  SECTION("no master key") {
    const Error error = read_version_2({});
    CHECK(error.code() == ErrorCode::unavailable);
    CHECK(std::string(error.what()).find("ZSIMEM_MASTER_KEY") != std::string::npos);
  }
  SECTION("a wrapped data key that was altered") {
    auto raw = open_store({backend, dir.path()});
    auto key = raw->data_keys("alice").at(0);
    const std::string before = key.wrapped;
    key.wrapped = crypto::base64_encode(crypto::seal(crypto::Key::random(), std::string(32, 'k'), "x"));
    REQUIRE(raw->rewrap_data_key(key, before));
    const Error error = read_version_2(with_keys(k_new_key));
    CHECK(error.code() == ErrorCode::unavailable);
    CHECK(std::string(error.what()).find("does not unwrap") != std::string::npos);
  }
}

TEST_CASE("encryption: verify walks encrypted chains and reports what it cannot open", "[encryption][store]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  testing::TempDir dir;
  {
    MemoryService service(open_store({backend, dir.path()}), with_keys(k_new_key));
    service.merge(caller(), update("alice", R"({"a": 1})"));
    service.merge(caller(), update("alice", R"({"b": 2})"));
    CHECK(service.verify(caller()).ok());
  }
  VersionRecord altered = stored_versions(backend, dir.path(), {"alice", "default"}).at(1);
  altered.data = crypto::base64_encode(crypto::seal(crypto::Key::random(), "x", "y"));
  replace_stored(backend, dir.path(), altered);
  MemoryService service(open_store({backend, dir.path()}), with_keys(k_new_key));
  const auto report = service.verify(caller());
  REQUIRE(report.problems.size() == 1);
  CHECK(report.problems[0].version == 2);
  CHECK(report.problems[0].problem.find("fails authentication") != std::string::npos);
}

TEST_CASE("encryption: hashes cover content and salt, so export and import move chains between keys",
          "[encryption][store]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  testing::TempDir dir;
  std::vector<VersionRecord> exported;
  {
    MemoryService service(open_store({backend, dir.path() / "from"}), with_keys(k_new_key));
    service.merge(caller(), update("alice", R"({"a": 1})"));
    service.merge(caller(), update("alice", R"({"a": 1, "b": 2})"));
    service.export_versions(caller(), std::nullopt, [&](const VersionRecord& r) { exported.push_back(r); });
  }
  REQUIRE(exported.size() == 2);
  CHECK(exported[0].salt.size() == 32);
  CHECK(exported[0].salt != exported[1].salt);
  CHECK(exported[0].key_id.empty());
  for (const auto& options : {ServiceOptions{}, with_keys(k_old_key)}) {
    const fs::path to = dir.path() / (options.master_keys ? "to-encrypted" : "to-plain");
    MemoryService service(open_store({backend, to}), options);
    CHECK(service.import_versions(caller(), exported).written == 2);
    CHECK(service.verify(caller()).ok());
    const auto head = service.get(caller(), {"alice", "default"});
    CHECK(head.hash == exported[1].hash);
    CHECK(head.data == exported[1].data);
  }
  // A record as an encrypting store keeps it is not an export.
  VersionRecord sealed = stored_versions(backend, dir.path() / "from", {"alice", "default"}).at(0);
  MemoryService service(open_store({backend, dir.path() / "to-sealed"}), with_keys(k_new_key));
  CHECK(error_of([&] { service.import_versions(caller(), {&sealed, 1}); }).code() == ErrorCode::invalid);
}

TEST_CASE("encryption: erasing a user shreds its data key, and backups of its versions stay sealed",
          "[encryption][store]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  testing::TempDir dir;
  const auto options = with_keys(k_new_key);
  MemoryService service(open_store({backend, dir.path()}), options);
  service.merge(caller(), update("alice", R"({"secret": 1})"));
  service.merge(caller(), update("alice", R"({"secret": 2})", "work"));
  service.merge(caller(), update("bob", R"({"b": 1})"));
  // The backup: alice's versions exactly as stored, and her wrapped key.
  auto backup = stored_versions(backend, dir.path(), {"alice", "default"});
  const auto work = stored_versions(backend, dir.path(), {"alice", "work"});
  backup.insert(backup.end(), work.begin(), work.end());
  REQUIRE(backup.size() == 2);
  const auto alice_keys = service.store().data_keys("alice");
  REQUIRE(alice_keys.size() == 1);
  // The test can open them before the erasure.
  for (const auto& record : backup) {
    CHECK(store::open_with(record, alice_keys[0], *options.master_keys));
  }

  CHECK(service.erase(caller(), "alice") == 2);
  CHECK(service.store().data_keys("alice").empty());
  CHECK(service.store().data_keys("bob").size() == 1);
  // Alice comes back: she gets a new key, which opens nothing old.
  service.merge(caller(), update("alice", R"({"fresh": true})"));

  // Every key the system holds now, tried on every old version.
  const auto held = service.store().data_keys(std::nullopt);
  REQUIRE(held.size() == 2);
  for (const auto& record : backup) {
    for (const auto& key : held) {
      INFO("version " << record.version << " of " << record.ns << " with " << key.user_id << "'s key");
      CHECK_FALSE(store::open_with(record, key, *options.master_keys));
    }
  }
  // Restored into the store, the old versions are an error, not data.
  service.erase(caller(), "alice", "default");
  REQUIRE(open_store({backend, dir.path()})->append({&backup[0], 1}, {}));
  CHECK(error_of([&] { service.get(caller(), {"alice", "default"}); }).code() == ErrorCode::unavailable);
  // And no copy of the destroyed wrapped key is left in the files.
  CHECK(files_containing(dir.path(), alice_keys[0].wrapped).empty());
}

TEST_CASE("encryption: an erasure elsewhere never leaves new versions sealed with the destroyed key",
          "[encryption][store]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  testing::TempDir dir;
  // Two services on one store, as two processes would be.
  StoreConfig config{backend, dir.path()};
  config.long_lived = true;
  MemoryService writer(open_store(config), with_keys(k_new_key));
  MemoryService eraser(open_store(config), with_keys(k_new_key));
  writer.merge(caller(), update("alice", R"({"a": 1})"));
  const auto before = eraser.store().data_keys("alice");
  REQUIRE(before.size() == 1);
  CHECK(eraser.erase(caller(), "alice") == 1);
  // The writer still has the destroyed key cached: its append is refused and
  // retried with a new one.
  const auto result = writer.merge(caller(), update("alice", R"({"b": 2})"));
  CHECK(result.record.version == 1);
  const auto after = eraser.store().data_keys("alice");
  REQUIRE(after.size() == 1);
  CHECK(after[0].wrapped != before[0].wrapped);
  MemoryService reader(open_store({backend, dir.path()}), with_keys(k_new_key));
  CHECK(reader.get(caller(), {"alice", "default"}).data == R"({"b":2})");
}

TEST_CASE("encryption: a store written in the clear reads on once a key is configured", "[encryption][store]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  testing::TempDir dir;
  MemoryService(open_store({backend, dir.path()}), ServiceOptions{}).merge(caller(), update("alice", R"({"a": 1})"));
  MemoryService service(open_store({backend, dir.path()}), with_keys(k_new_key));
  service.merge(caller(), update("alice", R"({"b": 2})"));
  const auto stored = stored_versions(backend, dir.path(), {"alice", "default"});
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].key_id.empty());
  CHECK(stored[1].key_id == "1");
  CHECK(service.get(caller(), {"alice", "default"}).data == R"({"a":1,"b":2})");
  CHECK(service.verify(caller()).ok());
}

TEST_CASE("encryption: rekey moves every data key onto the new master key while writers go on", "[encryption][store]") {
  const std::string backend{GENERATE(from_range(file_backend_names()))};
  testing::TempDir dir;
  const std::vector<std::string> users{"u1", "u2", "u3", "u4"};
  {
    MemoryService old_only(open_store({backend, dir.path()}), with_keys(k_old_key));
    for (const auto& user : users) {
      old_only.merge(caller(), update(user, R"({"n": 0})"));
    }
  }
  // Every process now holds both keys, the new one first (a rolling
  // restart); the writers go on while rekey runs.
  StoreConfig config{backend, dir.path()};
  config.long_lived = true;
  const auto both = with_keys(k_new_key + "," + k_old_key);
  MemoryService writers(open_store(config), both);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> writes{0};
  std::vector<std::thread> threads;
  for (const auto& user : users) {
    threads.emplace_back([&, user] {
      for (int n = 1; !stop || n < 5; ++n) {
        try {
          writers.merge(caller(), update(user, R"({"n": )" + std::to_string(n) + "}"));
          ++writes;
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  MemoryService admin(open_store({backend, dir.path()}), both);
  const auto first = admin.rekey(caller(), false);
  const auto rotated = admin.rekey(caller(), true);
  stop = true;
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(failures == 0);
  CHECK(first.data_keys == users.size());
  CHECK(first.rewrapped == users.size());
  CHECK(rotated.rewrapped == 0);
  CHECK(rotated.rotated == users.size());
  // Writes after the rotation (within the cache's minute, the writers may
  // still use generation 1; a fresh process uses 2).
  MemoryService new_only(open_store({backend, dir.path()}), with_keys(k_new_key));
  new_only.merge(caller(), update("u1", R"({"after": true})"));
  CHECK(open_store({backend, dir.path()})->head({"u1", "default"})->key_id == "2");
  CHECK(stored_versions(backend, dir.path(), {"u1", "default"}).front().key_id == "1");
  for (const auto& key : new_only.store().data_keys(std::nullopt)) {
    CHECK(key.master_key_id == both.master_keys->current().id);
  }
  const auto report = new_only.verify(caller());
  CHECK(report.ok());
  CHECK(report.versions >= static_cast<std::size_t>(writes) + users.size());
  // The old key alone opens nothing now.
  MemoryService old_only(open_store({backend, dir.path()}), with_keys(k_old_key));
  CHECK(error_of([&] { old_only.get(caller(), {"u2", "default"}); }).code() == ErrorCode::unavailable);
  CHECK(error_of([&] {
          MemoryService(open_store({backend, dir.path()}), ServiceOptions{}).rekey(caller(), false);
        }).code() == ErrorCode::invalid);
}
