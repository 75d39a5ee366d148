#pragma once

#include <zsimem/codec.hpp>
#include <zsimem/memory_service.hpp>

#include <string>

// Rendering of results: JSON for scripts (the shapes of codec.hpp), text for
// people. Commands call these; nothing else prints results.
namespace zsimem::cli {

void print_json(const Json& value);

// One line: "alice · default · version 3 · 2026-11-29T…Z".
std::string context_heading(const VersionRecord& record);

// A context: heading and pretty-printed data.
void print_context_text(const VersionRecord& record);

// An RFC 6902 patch as +/-/~ lines, one per changed path.
void print_patch_text(const Json& patch);

// A summary for people: per field its statistics, a sparkline of its bucket
// means, its trend and goal, and a table of its buckets.
void print_summary_text(const ContextKey& key, const SummaryRange& range, SummaryBucket bucket, const Summary& summary);

// One block character per value, ▁ for the least to █ for the greatest.
std::string sparkline(const std::vector<double>& values);

// Rows of columns, padded to line up.
void print_table(const std::vector<std::vector<std::string>>& rows);

std::string join(const std::vector<std::string>& items, const std::string& separator);

} // namespace zsimem::cli
