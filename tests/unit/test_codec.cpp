#include "support/error_of.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/hash_chain.hpp>
#include <zsimem/validate.hpp>

#include <catch2/catch.hpp>

using namespace zsimem;
using zsimem::testing::error_of;

namespace {

VersionRecord sample() {
  VersionRecord record;
  record.user_id = "alice";
  record.ns = "prefs";
  record.version = 3;
  record.updated_at = parse_time("2026-11-29T02:44:01.000001Z");
  record.data = R"({"lang":"fr","n":1.5,"s":"caf\u00e9"})";
  record.data = canonical_json(Json::parse(record.data));
  record.delta = R"({"lang":"fr"})";
  record.actor = "root";
  record.request_id = "r-1";
  record.tags = {"a", "b"};
  record.derived_from = 2;
  record.rollback_of = 1;
  record.idempotency_key = "k";
  record.prev_hash = "00";
  record.hash = version_hash(record);
  return record;
}

} // namespace

TEST_CASE("version records round-trip through JSON exactly", "[codec]") {
  const VersionRecord record = sample();
  const VersionRecord back = version_from_json(Json::parse(version_json(record).dump(2)));
  CHECK(back.user_id == record.user_id);
  CHECK(back.ns == record.ns);
  CHECK(back.version == record.version);
  CHECK(back.updated_at == record.updated_at);
  CHECK(back.data == record.data);
  CHECK(back.delta == record.delta);
  CHECK(back.tags == record.tags);
  CHECK(back.derived_from == 2);
  CHECK(back.rollback_of == std::optional<std::uint64_t>(1));
  CHECK(back.idempotency_key == "k");
  CHECK(version_hash(back) == record.hash);
}

TEST_CASE("the UserContext JSON has the spec's fields", "[codec]") {
  const Json json = user_context_json(sample());
  CHECK(json["user_id"] == "alice");
  CHECK(json["version"] == "3");
  CHECK(json["data"]["lang"] == "fr");
  CHECK(json["updated_at"] == "2026-11-29T02:44:01.000001Z");
  CHECK(json["namespace"] == "prefs");
}

TEST_CASE("the UserContext text is the UserContext JSON's bytes, made without parsing the data", "[codec]") {
  VersionRecord record = sample();
  CHECK(user_context_text(record) == user_context_json(record).dump());
  record.user_id = "élève-1";
  record.ns = "x.y_z";
  record.data = canonical_json(Json::parse(R"({"q":"say \"hi\"\n","z":[1,2.25,null,{"b":true,"a":{}}]})"));
  record.version = 18446744073709551615u;
  CHECK(user_context_text(record) == user_context_json(record).dump());
  record.data = R"({"cut":"in the mid)";
  CHECK(error_of([&] { user_context_text(record); }).code() == ErrorCode::unavailable);
}

TEST_CASE("MemoryUpdate parsing applies the spec's defaults and names bad fields", "[codec]") {
  const MemoryUpdate update = memory_update_from_json(Json::parse(R"({"user_id":"bob","delta":{"a":1}})"));
  CHECK(update.ns == "default");
  CHECK(update.tags.empty());
  CHECK_FALSE(update.expected_version);

  const MemoryUpdate full = memory_update_from_json(Json::parse(
      R"({"user_id":"bob","delta":{},"tags":null,"namespace":"x","expected_version":"0","strict":true,"idempotency_key":"k"})"));
  CHECK(full.expected_version == std::optional<std::uint64_t>(0));
  CHECK(full.strict);

  CHECK(error_of([] { memory_update_from_json(Json::parse(R"({"delta":{}})")); }).field() == "user_id");
  CHECK(error_of([] { memory_update_from_json(Json::parse(R"({"user_id":"b","delta":[1]})")); }).field() == "delta");
  CHECK(error_of([] { memory_update_from_json(Json::parse(R"({"user_id":"b"})")); }).field() == "delta");
  CHECK(error_of([] { memory_update_from_json(Json::parse(R"({"user_id":"b","delta":{},"tags":[1]})")); }).field() ==
        "tags");
  CHECK(error_of([] { memory_update_from_json(Json::parse(R"({"user_id":"../x","delta":{}})")); }).field() ==
        "user_id");
  CHECK(error_of([] {
          memory_update_from_json(Json::parse(R"({"user_id":"b","delta":{},"expected_version":"x"})"));
        }).field() == "expected_version");
}

TEST_CASE("malformed and over-deep JSON are clear errors", "[codec]") {
  const Error malformed = error_of([] { parse_json("{\"a\":", "delta"); });
  CHECK(malformed.code() == ErrorCode::invalid);
  CHECK_THAT(malformed.what(), Catch::StartsWith("delta: malformed JSON"));
  const Error deep = error_of([] { parse_json(std::string(100000, '[') + std::string(100000, ']'), "delta"); });
  CHECK(deep.code() == ErrorCode::too_large);
  CHECK_NOTHROW(parse_json(std::string(k_max_json_depth - 1, '[') + std::string(k_max_json_depth - 1, ']'), "d"));
  CHECK(error_of([] { parse_json("\"\xff\"", "delta"); }).code() == ErrorCode::invalid);
  CHECK(error_of([] { parse_json(R"({"a":1e999})", "delta"); }).code() == ErrorCode::invalid);
}

TEST_CASE("canonical JSON sorts keys and has no whitespace", "[codec]") {
  CHECK(canonical_json(Json::parse(R"({ "b": 1, "a": [ 1, 2 ] })")) == R"({"a":[1,2],"b":1})");
}

TEST_CASE("the version hash covers every field", "[hash]") {
  const VersionRecord base = sample();
  CHECK(base.hash.size() == 64);
  const auto changed = [&](const std::function<void(VersionRecord&)>& edit) {
    VersionRecord copy = base;
    edit(copy);
    return version_hash(copy) != base.hash;
  };
  CHECK(changed([](VersionRecord& r) { r.user_id = "alicf"; }));
  CHECK(changed([](VersionRecord& r) { r.ns = "prefz"; }));
  CHECK(changed([](VersionRecord& r) { r.version = 4; }));
  CHECK(changed([](VersionRecord& r) { r.updated_at += std::chrono::microseconds{1}; }));
  CHECK(changed([](VersionRecord& r) { r.data = "{}"; }));
  CHECK(changed([](VersionRecord& r) { r.delta = "{}"; }));
  CHECK(changed([](VersionRecord& r) { r.actor = "mallory"; }));
  CHECK(changed([](VersionRecord& r) { r.request_id = "r-2"; }));
  CHECK(changed([](VersionRecord& r) { r.tags = {"ab"}; }));
  CHECK(changed([](VersionRecord& r) { r.derived_from = 1; }));
  CHECK(changed([](VersionRecord& r) { r.rollback_of.reset(); }));
  CHECK(changed([](VersionRecord& r) { r.idempotency_key = ""; }));
  CHECK(changed([](VersionRecord& r) { r.prev_hash = "01"; }));
  CHECK_FALSE(changed([](VersionRecord& r) { r.hash = "ignored"; }));
}
