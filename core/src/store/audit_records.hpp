#pragma once

// What the stores that filter and hold audit records themselves (json,
// dynamo, firestore) share.

#include <zsimem/store.hpp>

namespace zsimem::store {

// The record as it reads back once stored as JSON text: text that is not
// UTF-8 (which JSON cannot carry) with replacement characters. The chain
// must hash what is stored, and an audit record must never be lost to its
// text.
AuditRecord as_stored(const AuditRecord& record);

// Whether `record` passes the query's user, namespace and time filters.
bool matches(const AuditRecord& record, const AuditQuery& query);

} // namespace zsimem::store
