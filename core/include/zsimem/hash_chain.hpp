#pragma once

#include <zsimem/model.hpp>

#include <string>
#include <string_view>

namespace zsimem {

// Lowercase hex SHA-256 of some bytes.
std::string sha256_hex(std::string_view bytes);

// The tamper-evidence hash of a version: SHA-256 over every field of the
// record (length-prefixed, so no two records share an input) and the
// previous version's hash. The record's own `hash` field is ignored.
std::string version_hash(const VersionRecord& record);

// The same for an audit record: every field but `seq` (the store's
// position, which the chain itself orders) and `hash`.
std::string audit_hash(const AuditRecord& record);

// Links `record` after the record whose hash is `prev_hash`: sets its
// prev_hash and hash. Stores call it as they append, in log order.
void chain_audit(AuditRecord& record, std::string_view prev_hash);

} // namespace zsimem
