// Deltas as the service reads them (parse_json, canonical_json) and merges
// them (apply_merge_patch, create_merge_patch, touched_paths), checked
// against the properties the service relies on.
//
// Input: one JSON text. A delta on its own is merged into a fixed document;
// an array [delta, concurrent_patch, base?] also exercises the three-way
// rebase of an update whose expected version is behind the head.

#include "fuzz_support.hpp"

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/merge_patch.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using zsimem::Json;
using zsimem::fuzz::require;

const Json& fixed_document() {
  static const Json document = Json::parse(R"({
    "name": "Ada", "city": "London", "age": 36, "score": 1.5, "active": true,
    "prefs": {"theme": "dark", "lang": "en", "notify": {"email": true, "sms": false}},
    "tags": ["a", "b", null], "a/b": {"c~d": 1}, "": {"empty": ""}, "deep": {"x": {"y": {"z": []}}}
  })");
  return document;
}

const Json& fixed_patch() {
  static const Json patch = Json::parse(R"({"city": "Paris", "prefs": {"lang": null, "font": "serif"}, "new": 1})");
  return patch;
}

std::string dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

// canonical_json is what gets hashed and stored: it must read back as itself.
void check_canonical(const Json& value) {
  const std::string text = zsimem::canonical_json(value);
  const Json again = zsimem::parse_json(text, "canonical");
  require(again == value, "parse(canonical(x)) == x", text);
  require(zsimem::canonical_json(again) == text, "canonical(parse(canonical(x))) == canonical(x)", text);
}

// Whether an object member is null, in `value` or the objects nested in its
// members (arrays are replaced whole by a merge, so their content does not
// count): a merge result has none.
bool has_null_member(const Json& value) {
  if (!value.is_object()) {
    return false;
  }
  for (const auto& [key, child] : value.items()) {
    if (child.is_null() || has_null_member(child)) {
      return true;
    }
  }
  return false;
}

// RFC 7396 section 2, member by member: null removes, an object merges, anything else replaces.
void check_applied(const Json& target, const Json& patch, const Json& result) {
  if (!patch.is_object()) {
    require(result == patch, "a non-object patch replaces the target");
    return;
  }
  require(result.is_object(), "an object patch leaves an object");
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      require(!result.contains(key), "a null member removes the key", key);
    } else if (value.is_object()) {
      const Json before = target.is_object() && target.contains(key) ? target[key] : Json(nullptr);
      require(result.contains(key), "an object member is merged in", key);
      check_applied(before, value, result[key]);
    } else {
      require(result.contains(key) && result[key] == value, "a scalar or array member replaces", key);
    }
  }
  if (target.is_object()) {
    for (const auto& [key, value] : target.items()) {
      if (!patch.contains(key)) {
        require(result.contains(key) && result[key] == value, "members the patch leaves out are kept", key);
      }
    }
  }
}

void check_touched_paths(const Json& patch) {
  const auto paths = zsimem::touched_paths(patch);
  for (const auto& path : paths) {
    // Each path is a valid JSON pointer to a leaf of the patch.
    const Json::json_pointer pointer(path);
    require(patch.contains(pointer), "a touched path names a member of the patch", path);
    const Json& leaf = patch[pointer];
    require(!leaf.is_object() || leaf.empty() || path.empty(), "a touched path is a leaf", path);
  }
  // Leaves never contain one another: each overlaps itself only.
  require(zsimem::overlapping_paths(paths, paths) == paths, "touched paths overlap only themselves");
}

// The patch from `from` to `to` recreates `to`, and is empty between equals.
void check_diff(const Json& from, const Json& to) {
  if (!from.is_object() || !to.is_object() || has_null_member(from) || has_null_member(to)) {
    return;
  }
  const Json patch = zsimem::create_merge_patch(from, to);
  Json patched = from;
  zsimem::apply_merge_patch(patched, patch);
  require(patched == to, "apply(a, create_merge_patch(a, b)) == b", dump(from) + " -> " + dump(to));
  require((from == to) == (patch == Json::object()), "the patch between equal documents is empty", dump(patch));
}

// Every change a delta makes lies under a path it touches: what optimistic
// locking compares to decide whether two updates clash.
void check_changes_within_touched(const Json& before, const Json& delta, const Json& after) {
  if (!delta.is_object()) {
    return;
  }
  const auto touched = zsimem::touched_paths(delta);
  for (const auto& changed : zsimem::touched_paths(zsimem::create_merge_patch(before, after))) {
    require(!zsimem::overlapping_paths({changed}, touched).empty(), "a change lies under a touched path",
            changed + " in " + dump(delta));
  }
}

// The service rebases an update whose expected version `base` is behind the
// head when the paths it touches do not overlap those changed since; then
// the result must be what applying it to the base and then the head's
// changes gives.
void check_rebase(const Json& base, const Json& concurrent, const Json& delta) {
  if (!base.is_object() || !concurrent.is_object() || !delta.is_object() || has_null_member(base)) {
    return;
  }
  Json head = base;
  zsimem::apply_merge_patch(head, concurrent);
  const auto changed = zsimem::touched_paths(zsimem::create_merge_patch(base, head));
  if (!zsimem::overlapping_paths(zsimem::touched_paths(delta), changed).empty()) {
    return; // a conflict: the service refuses it
  }
  Json rebased = head;
  zsimem::apply_merge_patch(rebased, delta);
  Json other_order = base;
  zsimem::apply_merge_patch(other_order, delta);
  zsimem::apply_merge_patch(other_order, zsimem::create_merge_patch(base, head));
  require(rebased == other_order, "non-overlapping updates commute",
          dump(base) + " + " + dump(concurrent) + " + " + dump(delta));
}

void check_delta(const Json& delta, const Json& base, const Json& concurrent) {
  check_canonical(delta);
  check_touched_paths(delta);

  Json merged = base;
  zsimem::apply_merge_patch(merged, delta);
  check_applied(base, delta, merged);
  check_canonical(merged);
  require(zsimem::json_depth(merged) <= std::max(zsimem::json_depth(base), zsimem::json_depth(delta)),
          "merging does not nest deeper than its inputs");
  if (delta.is_object() && !has_null_member(base)) {
    require(!has_null_member(merged), "a merge result has no null members", dump(merged));
  }

  Json twice = merged;
  zsimem::apply_merge_patch(twice, delta);
  require(twice == merged, "applying a patch twice changes nothing more", dump(delta));

  Json self = delta;
  zsimem::apply_merge_patch(self, delta);
  check_applied(delta, delta, self);

  check_diff(base, merged);
  check_diff(merged, base);
  check_changes_within_touched(base, delta, merged);
  check_rebase(base, concurrent, delta);
  check_rebase(base, delta, concurrent);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Json input;
  try {
    input = zsimem::parse_json(text, "delta");
  } catch (const zsimem::Error&) {
    return 0; // refused as the service refuses it
  }
  if (input.is_array() && input.size() >= 2) {
    const Json& base = input.size() > 2 && input[2].is_object() ? input[2] : fixed_document();
    check_delta(input[0], base, input[1]);
    check_canonical(input);
  } else {
    check_delta(input, fixed_document(), fixed_patch());
  }
  return 0;
}
