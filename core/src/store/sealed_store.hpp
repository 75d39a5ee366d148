#pragma once

#include <zsimem/encryption.hpp>
#include <zsimem/store.hpp>

#include <memory>

namespace zsimem::store {

// Wraps a store so that, with master keys, every version is sealed
// (AES-256-GCM under its user's current data key) as it is appended, and
// every sealed version is opened as it is read: the store below only ever
// sees sealed data and deltas. Without master keys versions pass through as
// plain JSON, and reading a sealed one is Error{unavailable}. A sealed
// version that fails authentication (altered, moved, or under another key)
// is Error{unavailable}, never data. Data keys are created on a user's first
// write, cached for a minute at most (so that another process's rotation or
// erasure reaches a long-lived process), and forgotten on erasure.
std::unique_ptr<MemoryStore> seal_store(std::unique_ptr<MemoryStore> inner,
                                        std::shared_ptr<const MasterKeyRing> master_keys);

// A version as stored opened with one particular data key; nullopt when
// that key does not open it. For forensics and tests: stores open versions
// with the key their key_id names. Error{unavailable} when `keys` cannot
// unwrap `key`.
std::optional<VersionRecord> open_with(const VersionRecord& stored, const DataKeyRecord& key,
                                       const MasterKeyRing& keys);

// Rewraps every data key of `store` that another master key of `keys`
// wraps onto the current one; with `rotate_data_keys`, also gives every user
// that has data keys a new generation, which new versions are then sealed
// with (old versions keep theirs). Safe while other processes use the store.
RekeyReport rekey(MemoryStore& store, const MasterKeyRing& keys, bool rotate_data_keys);

} // namespace zsimem::store
