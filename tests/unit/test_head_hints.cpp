#include "store/head_hints.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

using zsimem::ContextKey;
using zsimem::VersionRecord;
using zsimem::store::HeadHints;

namespace {

VersionRecord record(const std::string& user, const std::string& ns, std::uint64_t version, std::size_t size = 2) {
  VersionRecord r;
  r.user_id = user;
  r.ns = ns;
  r.version = version;
  r.data = "{" + std::string(size - 2, ' ') + "}";
  return r;
}

std::optional<std::uint64_t> hinted(const HeadHints& hints, const std::string& user, const std::string& ns) {
  const auto head = hints.find({user, ns});
  return head ? std::optional(head->version) : std::nullopt;
}

} // namespace

TEST_CASE("head hints remember appended heads and forget what may be stale", "[store][head_hints]") {
  HeadHints hints;
  const std::vector<VersionRecord> alice{record("alice", "default", 1), record("alice", "default", 2)};
  CHECK(hints.track(alice, [] { return true; }));
  CHECK(hinted(hints, "alice", "default") == 2u);
  CHECK_FALSE(hinted(hints, "alice", "work"));

  const std::vector<VersionRecord> lost{record("alice", "default", 3)};
  CHECK_FALSE(hints.track(lost, [] { return false; })); // built on a head that moved
  CHECK_FALSE(hinted(hints, "alice", "default"));

  CHECK(hints.track(alice, [] { return true; }));
  CHECK_THROWS_AS(hints.track(lost, []() -> bool { throw std::runtime_error("connection lost"); }), std::runtime_error);
  CHECK_FALSE(hinted(hints, "alice", "default")); // the outcome is unknown
}

TEST_CASE("head hints forget one namespace or a whole user after an erase", "[store][head_hints]") {
  HeadHints hints;
  const std::vector<VersionRecord> written{record("alice", "default", 4), record("alice", "work", 2),
                                           record("alicia", "default", 1), record("bob", "default", 7)};
  hints.after_append(written, true);
  hints.forget("alice", "work");
  CHECK(hinted(hints, "alice", "default") == 4u);
  CHECK_FALSE(hinted(hints, "alice", "work"));
  hints.forget("alice", std::nullopt);
  CHECK_FALSE(hinted(hints, "alice", "default"));
  CHECK(hinted(hints, "alicia", "default") == 1u); // a user id that only starts the same
  CHECK(hinted(hints, "bob", "default") == 7u);
}

TEST_CASE("head hints stay within their byte bound", "[store][head_hints]") {
  HeadHints hints(100);
  hints.after_append(std::vector{record("a", "default", 1, 60)}, true);
  hints.after_append(std::vector{record("a", "default", 2, 60)}, true); // replaces: 60 bytes held
  CHECK(hinted(hints, "a", "default") == 2u);
  hints.after_append(std::vector{record("b", "default", 1, 60)}, true); // 120 > 100: starts afresh
  CHECK_FALSE(hinted(hints, "a", "default"));
  CHECK(hinted(hints, "b", "default") == 1u);
}
