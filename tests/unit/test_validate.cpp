#include <zsimem/error.hpp>
#include <zsimem/validate.hpp>

#include <catch2/catch.hpp>

using namespace zsimem;

namespace {

std::string rejection(const std::string& user_id) {
  try {
    validate_user_id(user_id);
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.field() == "user_id");
    return error.what();
  }
  return {};
}

} // namespace

TEST_CASE("ordinary user ids are accepted", "[validate]") {
  for (const char* good : {"alice", "u1", "alice@example.com", "tenant:42:user", "a.b-c_d+e=f~g",
                           "550e8400-e29b-41d4-a716-446655440000"}) {
    INFO(good);
    CHECK_NOTHROW(validate_user_id(good));
  }
  CHECK_NOTHROW(validate_user_id(std::string(128, 'a')));
}

TEST_CASE("hostile user ids are rejected with the reason", "[validate]") {
  CHECK_THAT(rejection(""), Catch::Contains("empty"));
  CHECK_THAT(rejection(std::string(129, 'a')), Catch::Contains("129 bytes"));
  CHECK_THAT(rejection("a/b"), Catch::Contains("'/'"));
  CHECK_THAT(rejection("../etc"), Catch::Contains("start with"));
  CHECK_THAT(rejection("a..b"), Catch::Contains(".."));
  CHECK_THAT(rejection(".hidden"), Catch::Contains("start with"));
  CHECK_THAT(rejection("a\nb"), Catch::Contains("0x0a"));
  CHECK_THAT(rejection(std::string("a\0b", 3)), Catch::Contains("0x00"));
  CHECK_THAT(rejection("a\\b"), Catch::Contains("'\\'"));
  CHECK_THAT(rejection("a b"), Catch::Contains("' '"));
  CHECK_THAT(rejection("caf\xc3\xa9"), Catch::Contains("0xc3"));
  CHECK_THAT(rejection("logs"), Catch::Contains("reserved"));
  CHECK_THAT(rejection("a%2f"), Catch::Contains("'%'"));
}

TEST_CASE("namespaces follow the same rule but are not reserved", "[validate]") {
  CHECK_NOTHROW(validate_namespace("logs"));
  CHECK_THROWS_AS(validate_namespace("a/b"), Error);
  try {
    validate_namespace("");
  } catch (const Error& error) {
    CHECK(error.field() == "namespace");
  }
}

TEST_CASE("tags and idempotency keys are bounded", "[validate]") {
  CHECK_NOTHROW(validate_tags({"nutrition", "from:app v2"}));
  CHECK_THROWS_AS(validate_tags({""}), Error);
  CHECK_THROWS_AS(validate_tags({"a\tb"}), Error);
  CHECK_THROWS_AS(validate_tags(std::vector<std::string>(65, "t")), Error);
  try {
    validate_tags({"ok", std::string(129, 'x')});
  } catch (const Error& error) {
    CHECK(error.field() == "tags[1]");
  }
  CHECK_NOTHROW(validate_idempotency_key("req-123"));
  CHECK_THROWS_AS(validate_idempotency_key(std::string(256, 'k')), Error);
}
