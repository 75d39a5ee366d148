#pragma once

#include <span>
#include <string_view>

namespace zsimem::daemon {

// One file of the web console (daemon/ui/), embedded at build time.
struct UiAsset {
  std::string_view name; // "index.html", "app.js", …
  std::string_view content_type;
  std::string_view bytes;
};

// Every asset; generated from daemon/ui/ by daemon/ui/embed.cmake.
std::span<const UiAsset> ui_assets();

} // namespace zsimem::daemon
