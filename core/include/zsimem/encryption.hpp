#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// Encryption at rest (docs/security.md): each user's versions are sealed
// with AES-256-GCM under a data key of the user's, and data keys are stored
// wrapped by a master key that only the processes hold.
namespace zsimem {

// A 256-bit master key.
struct MasterKey {
  // 16 hex digits of a SHA-256 over the key: stored with each data key it
  // wraps, it says which master key unwraps it without revealing it.
  std::string id;
  std::array<unsigned char, 32> bytes{};

  MasterKey() = default;
  MasterKey(const MasterKey&) = default;
  MasterKey& operator=(const MasterKey&) = default;
  ~MasterKey(); // wipes the bytes
};

// The master keys a process holds: the first (current) wraps new data keys
// and is what `zsimem rekey` rewraps onto; every one of them unwraps, so
// that keys wrapped by the previous master key stay readable during a
// rotation.
class MasterKeyRing {
public:
  // Keys as 64 hex digits each, separated by commas, spaces or newlines;
  // '#' starts a comment that runs to the end of its line. Error{invalid}
  // naming `origin` (never quoting a key) unless there is at least one key
  // and every one is well formed.
  static MasterKeyRing parse(std::string_view text, const std::string& origin);
  // The keys of a key file, as parse() reads them; Error{invalid} when it
  // cannot be read.
  static MasterKeyRing load(const std::filesystem::path& path);

  const MasterKey& current() const { return m_keys.front(); }
  // The key with this id, or null.
  const MasterKey* find(std::string_view id) const;
  const std::vector<MasterKey>& keys() const { return m_keys; }

private:
  explicit MasterKeyRing(std::vector<MasterKey> keys) : m_keys(std::move(keys)) {}
  std::vector<MasterKey> m_keys;
};

// The master keys configured for this process: ZSIMEM_MASTER_KEY, or the
// key file `key_file` (a flag) or ZSIMEM_MASTER_KEY_FILE names; null when
// none is. Never from a command-line argument, where any user could read
// it. Error{invalid} when both a key and a key file are given.
std::shared_ptr<const MasterKeyRing> master_keys_from_env(const std::filesystem::path& key_file = {});

// What `zsimem rekey` did.
struct RekeyReport {
  std::size_t data_keys = 0; // data keys found
  std::size_t rewrapped = 0; // moved onto the current master key
  std::size_t rotated = 0;   // users given a new data key generation
  std::string master_key_id; // the current master key's id
};

} // namespace zsimem
