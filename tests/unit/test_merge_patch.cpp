#include <zsimem/merge_patch.hpp>

#include <catch2/catch.hpp>

using zsimem::Json;

TEST_CASE("merge patch follows RFC 7396", "[merge]") {
  Json target = Json::parse(R"({"a":"b","c":{"d":"e","f":"g"},"keep":[1,2]})");
  zsimem::apply_merge_patch(target, Json::parse(R"({"a":"z","c":{"f":null},"n":{"x":1}})"));
  CHECK(target == Json::parse(R"({"a":"z","c":{"d":"e"},"keep":[1,2],"n":{"x":1}})"));

  SECTION("arrays are replaced, not merged") {
    zsimem::apply_merge_patch(target, Json::parse(R"({"keep":[3]})"));
    CHECK(target["keep"] == Json::parse("[3]"));
  }
  SECTION("a non-object value replaces an object") {
    zsimem::apply_merge_patch(target, Json::parse(R"({"c":5})"));
    CHECK(target["c"] == 5);
  }
}

TEST_CASE("create_merge_patch is the inverse of apply", "[merge]") {
  const auto round_trip = [](const char* from_text, const char* to_text) {
    const Json from = Json::parse(from_text);
    const Json to = Json::parse(to_text);
    Json patched = from;
    zsimem::apply_merge_patch(patched, zsimem::create_merge_patch(from, to));
    return patched == to;
  };
  CHECK(round_trip(R"({})", R"({"a":1})"));
  CHECK(round_trip(R"({"a":1,"b":2})", R"({"b":3})"));
  CHECK(round_trip(R"({"a":{"x":1,"y":2}})", R"({"a":{"y":2,"z":[1]}})"));
  CHECK(round_trip(R"({"a":{"x":1}})", R"({"a":{}})"));
  CHECK(round_trip(R"({"a":1})", R"({"a":{"b":{"c":true}}})"));
  CHECK(zsimem::create_merge_patch(Json::parse(R"({"a":1})"), Json::parse(R"({"a":1})")) == Json::object());
}

TEST_CASE("touched paths are the leaves of a patch, escaped per RFC 6901", "[merge]") {
  const auto paths = zsimem::touched_paths(Json::parse(R"({"a":{"b":1,"c":null},"d/e":2,"f~":{},"g":[1]})"));
  CHECK(paths == std::vector<std::string>{"/a/b", "/a/c", "/d~1e", "/f~0", "/g"});
}

TEST_CASE("paths overlap when equal or nested, not when they share a prefix of a name", "[merge]") {
  CHECK(zsimem::paths_overlap("/a", "/a"));
  CHECK(zsimem::paths_overlap("/a", "/a/b"));
  CHECK(zsimem::paths_overlap("/a/b/c", "/a"));
  CHECK_FALSE(zsimem::paths_overlap("/a", "/ab"));
  CHECK_FALSE(zsimem::paths_overlap("/a/b", "/a/c"));
  CHECK(zsimem::overlapping_paths({"/a/b", "/x"}, {"/a", "/y"}) == std::vector<std::string>{"/a"});
}

TEST_CASE("json depth counts nesting levels", "[merge]") {
  CHECK(zsimem::json_depth(Json(1)) == 0);
  CHECK(zsimem::json_depth(Json::parse(R"({"a":1})")) == 1);
  CHECK(zsimem::json_depth(Json::parse(R"({"a":[{"b":[]}]})")) == 4);
}
