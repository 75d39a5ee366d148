#pragma once

// A checker of client-observed histories, in the spirit of Jepsen's: clients
// record when each operation started and ended and what it saw; the checker
// compares that with what the store holds afterwards.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace zsimem::testing {

// One client operation on one user's counter context.
struct HistoryOp {
  enum class Kind {
    read,  // GET: saw `version` holding `counter`
    write, // compare-and-set increment: POST counter = `counter` with If-Match `expected`
  };
  enum class Outcome {
    ok,      // acknowledged
    failed,  // refused for sure (e.g. 412: the head had moved), nothing written
    unknown, // no answer, or an error that may have come after the commit
  };
  std::string client;
  std::string user;
  Kind kind = Kind::read;
  Outcome outcome = Outcome::unknown;
  std::int64_t invoked_us = 0;   // monotonic clock, when the request was sent
  std::int64_t completed_us = 0; // when its answer arrived (or the client gave up)
  std::uint64_t version = 0;     // read: the version seen; write ok: the version made
  std::int64_t counter = 0;      // read: the value seen; write: the value written
  std::uint64_t expected = 0;    // write: the version it was based on
};

// One stored version of a user's context, as read back after the run.
struct StoredVersion {
  std::uint64_t version = 0;
  std::int64_t counter = 0;
  std::int64_t updated_at_us = 0;
};

struct HistoryReport {
  std::vector<std::string> problems; // empty: the history is consistent
  std::size_t reads_checked = 0;
  std::size_t writes_acknowledged = 0;
  std::size_t writes_unknown = 0;
};

// Checks, per user:
// - the stored versions are 1..N without a gap, updated_at never goes back,
//   and each holds the counter of the one before plus one (version 1, the
//   seed, holds 1): compare-and-set increments lost nothing and applied
//   nothing twice;
// - every acknowledged write is stored at its version with its value, and
//   no two acknowledged writes made the same version;
// - the N - 1 versions written are at least the acknowledged writes and at
//   most those plus the unknown ones (a refused write left nothing);
// - every read saw a stored version with its stored value, and never went
//   back in time: not below a version whose write or read completed before
//   the read began (real-time order), nor below the client's own last.
// `history` holds each client's operations in the order it made them.
HistoryReport check_history(const std::vector<HistoryOp>& history,
                            const std::map<std::string, std::vector<StoredVersion>>& stored);

} // namespace zsimem::testing
