#include <zsimem/error.hpp>
#include <zsimem/model.hpp>

#include <charconv>
#include <string>

namespace zsimem {

std::string version_string(std::uint64_t version) { return std::to_string(version); }

std::uint64_t parse_version(std::string_view text, std::string_view field) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value == 0) {
    throw Error(ErrorCode::invalid,
                std::string(field) + ": '" + std::string(text) + "' is not a version (a positive integer)",
                std::string(field));
  }
  return value;
}

} // namespace zsimem
