#include <zsimem/change_feed.hpp>

#include <catch2/catch.hpp>

#include <thread>

using namespace zsimem;
using namespace std::chrono_literals;

namespace {

ChangeFeed::Clock::time_point soon() { return ChangeFeed::Clock::now() + 50ms; }

} // namespace

TEST_CASE("change feed: a subscription sees commits to its own context only", "[unit][change_feed]") {
  ChangeFeed feed;
  auto alice = feed.subscribe({"alice", "default"});
  auto alice_notes = feed.subscribe({"alice", "notes"});
  auto bob = feed.subscribe({"bob", "default"});

  feed.publish("alice", "default");
  CHECK(alice.wait_until(soon()));
  CHECK_FALSE(alice.wait_until(soon())); // seen: no change since
  CHECK_FALSE(alice_notes.wait_until(soon()));
  CHECK_FALSE(bob.wait_until(soon()));

  // A user-wide change (an erasure of every namespace) reaches each of them,
  // and not a user whose id merely starts the same way.
  auto al = feed.subscribe({"al", "default"});
  feed.publish("alice", std::nullopt);
  CHECK(alice.wait_until(soon()));
  CHECK(alice_notes.wait_until(soon()));
  CHECK_FALSE(al.wait_until(soon()));
  CHECK_FALSE(bob.wait_until(soon()));
}

TEST_CASE("change feed: a waiting follower wakes when another thread publishes", "[unit][change_feed]") {
  ChangeFeed feed;
  auto follower = feed.subscribe({"carol", "default"});
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    feed.publish("carol", "default");
  });
  CHECK(follower.wait_until(ChangeFeed::Clock::now() + 10s));
  writer.join();
}

TEST_CASE("change feed: followers of one context share its entry until the last leaves", "[unit][change_feed]") {
  ChangeFeed feed;
  auto first = feed.subscribe({"dave", "default"});
  {
    auto second = feed.subscribe({"dave", "default"});
    feed.publish("dave", "default");
    CHECK(second.wait_until(soon()));
  }
  CHECK(first.wait_until(soon())); // the change is still seen after the other left
  feed.publish("dave", "default");
  CHECK(first.wait_until(soon()));
}
