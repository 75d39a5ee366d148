#include <zsimem/error.hpp>
#include <zsimem/validate.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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

TEST_CASE("is_valid_utf8 accepts exactly what JSON text may hold", "[validate][utf8]") {
  // nlohmann/json refuses to write what is not UTF-8: the two must agree
  // on every byte sequence up to two bytes, and on three- and four-byte
  // ones around every boundary of RFC 3629's table.
  const auto json_accepts = [](const std::string& text) {
    try {
      (void)nlohmann::json(text).dump();
      return true;
    } catch (const nlohmann::json::type_error&) {
      return false;
    }
  };
  const auto agree = [&](const std::string& text) {
    if (zsimem::is_valid_utf8(text) != json_accepts(text)) {
      FAIL_CHECK("disagree on " << nlohmann::json(text).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
    }
  };
  for (int a = 0; a < 256; ++a) {
    agree(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) {
      agree({static_cast<char>(a), static_cast<char>(b)});
    }
  }
  const unsigned char edges[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xf5, 0xff};
  for (int a = 0xc0; a < 256; ++a) {
    for (const unsigned char b : edges) {
      for (const unsigned char c : edges) {
        agree({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
        for (const unsigned char d : edges) {
          agree({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)});
        }
      }
    }
  }
  CHECK(zsimem::is_valid_utf8("plain ascii, é, 日本, 😀"));
  CHECK_FALSE(zsimem::is_valid_utf8("\xed\xa0\x80")); // a surrogate
  CHECK_FALSE(zsimem::is_valid_utf8("\xe2\x82"));     // cut short
}
