#pragma once

// JSON Merge Patch (RFC 7396) and the path arithmetic that optimistic
// locking uses to decide whether two changes clash.

#include <zsimem/codec.hpp>

#include <string>
#include <vector>

namespace zsimem {

// Applies `patch` to `target` per RFC 7396: objects merge recursively, null
// removes a key, anything else replaces.
void apply_merge_patch(Json& target, const Json& patch);

// The merge patch that turns `from` into `to`: apply_merge_patch(from, p)
// yields `to` for any objects whose members are never null.
Json create_merge_patch(const Json& from, const Json& to);

// The JSON pointers a merge patch sets or removes (its leaves), sorted.
std::vector<std::string> touched_paths(const Json& patch);

// Whether two JSON pointers name the same value or one contains the other.
bool paths_overlap(std::string_view a, std::string_view b);

// Pointers that appear in both lists or contain one another, sorted.
std::vector<std::string> overlapping_paths(const std::vector<std::string>& a, const std::vector<std::string>& b);

// Nesting depth of a value: 0 for a scalar, 1 for a flat object or array.
std::size_t json_depth(const Json& value);

} // namespace zsimem
