#include "reliability/history_checker.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <set>

namespace zsimem::testing {
namespace {

std::string describe(const HistoryOp& op) {
  return op.client + (op.kind == HistoryOp::Kind::read ? " read v" : " write v") + std::to_string(op.version) +
         " (counter " + std::to_string(op.counter) + ", " + std::to_string(op.invoked_us) + "-" +
         std::to_string(op.completed_us) + " us)";
}

void check_stored(const std::string& user, const std::vector<StoredVersion>& versions, HistoryReport& report) {
  for (std::size_t i = 0; i < versions.size(); ++i) {
    const StoredVersion& v = versions[i];
    if (v.version != i + 1) {
      report.problems.push_back(user + ": stored version " + std::to_string(v.version) + " at position " +
                                std::to_string(i + 1) + " (a gap or a repeat)");
      return;
    }
    if (v.counter != static_cast<std::int64_t>(v.version)) {
      report.problems.push_back(user + ": version " + std::to_string(v.version) + " holds counter " +
                                std::to_string(v.counter) + ", not " + std::to_string(v.version) +
                                " (an increment was lost or applied twice)");
    }
    if (i > 0 && v.updated_at_us < versions[i - 1].updated_at_us) {
      report.problems.push_back(user + ": updated_at of version " + std::to_string(v.version) +
                                " is before the previous version's");
    }
  }
}

} // namespace

HistoryReport check_history(const std::vector<HistoryOp>& history,
                            const std::map<std::string, std::vector<StoredVersion>>& stored) {
  HistoryReport report;
  std::map<std::string, std::vector<const HistoryOp*>> by_user;
  for (const auto& op : history) {
    by_user[op.user].push_back(&op);
  }
  for (const auto& [user, versions] : stored) {
    check_stored(user, versions, report);
  }
  for (auto& [user, ops] : by_user) {
    const auto found = stored.find(user);
    static const std::vector<StoredVersion> none;
    const auto& versions = found == stored.end() ? none : found->second;
    const auto stored_counter = [&](std::uint64_t version) -> std::optional<std::int64_t> {
      if (version == 0 || version > versions.size()) {
        return std::nullopt;
      }
      return versions[version - 1].counter;
    };

    std::size_t acknowledged = 0;
    std::size_t unknown = 0;
    std::set<std::uint64_t> made;
    for (const HistoryOp* op : ops) {
      if (op->kind != HistoryOp::Kind::write) {
        continue;
      }
      if (op->outcome == HistoryOp::Outcome::unknown) {
        ++unknown;
        continue;
      }
      if (op->outcome != HistoryOp::Outcome::ok) {
        continue;
      }
      ++acknowledged;
      if (!made.insert(op->version).second) {
        report.problems.push_back(user + ": two acknowledged writes made version " + std::to_string(op->version) +
                                  " (a lost update)");
      }
      if (stored_counter(op->version) != op->counter) {
        report.problems.push_back(user + ": acknowledged " + describe(*op) + " is not stored as answered");
      }
      if (op->version != op->expected + 1) {
        report.problems.push_back(user + ": " + describe(*op) + " was based on version " +
                                  std::to_string(op->expected));
      }
    }
    report.writes_acknowledged += acknowledged;
    report.writes_unknown += unknown;
    // Version 1 is the seed; the writes made the rest.
    const std::size_t written = versions.empty() ? 0 : versions.size() - 1;
    if (written < acknowledged || written > acknowledged + unknown) {
      report.problems.push_back(user + ": " + std::to_string(written) + " versions written for " +
                                std::to_string(acknowledged) + " acknowledged and " + std::to_string(unknown) +
                                " unknown writes");
    }

    // Real time: sweep the reads by start, the acknowledged operations by end.
    std::vector<const HistoryOp*> seen;
    for (const HistoryOp* op : ops) {
      if (op->outcome == HistoryOp::Outcome::ok) {
        seen.push_back(op);
      }
    }
    std::vector<const HistoryOp*> by_end = seen;
    std::sort(by_end.begin(), by_end.end(),
              [](const HistoryOp* a, const HistoryOp* b) { return a->completed_us < b->completed_us; });
    std::vector<const HistoryOp*> reads;
    std::copy_if(seen.begin(), seen.end(), std::back_inserter(reads),
                 [](const HistoryOp* op) { return op->kind == HistoryOp::Kind::read; });
    std::sort(reads.begin(), reads.end(),
              [](const HistoryOp* a, const HistoryOp* b) { return a->invoked_us < b->invoked_us; });
    std::size_t next_end = 0;
    const HistoryOp* latest = nullptr; // the highest version of an operation completed so far
    for (const HistoryOp* read : reads) {
      while (next_end < by_end.size() && by_end[next_end]->completed_us < read->invoked_us) {
        if (latest == nullptr || by_end[next_end]->version > latest->version) {
          latest = by_end[next_end];
        }
        ++next_end;
      }
      ++report.reads_checked;
      if (stored_counter(read->version) != read->counter) {
        report.problems.push_back(user + ": " + describe(*read) + " saw a value the store does not hold");
      }
      if (latest != nullptr && read->version < latest->version) {
        report.problems.push_back(user + ": " + describe(*read) + " went back in time: " + describe(*latest) +
                                  " had completed before it began");
      }
    }
    // Per client, in the order of its own operations.
    std::map<std::string, std::uint64_t> last_seen;
    for (const HistoryOp* op : ops) {
      if (op->outcome != HistoryOp::Outcome::ok) {
        continue;
      }
      auto& last = last_seen[op->client];
      if (op->version < last) {
        report.problems.push_back(user + ": " + describe(*op) + " is older than version " + std::to_string(last) +
                                  " the same client saw before");
      }
      last = std::max(last, op->version);
    }
  }
  return report;
}

} // namespace zsimem::testing
