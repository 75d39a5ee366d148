#pragma once

#include <zsimem/memory_service.hpp>

#include <chrono>
#include <cstddef>
#include <string>

namespace zsimem::cli {

// A progress line on standard error while a long command runs (import,
// export, verify, prune), on a terminal only: nothing when standard error
// is piped or TERM is dumb. "import  4200/8760 records  47%  [#####.....]
// 2350/s", redrawn at most ten times a second, cleared when the bar goes
// and on Ctrl-C (which then interrupts as usual: the stores stay
// consistent whenever a command stops).
class ProgressBar {
public:
  ProgressBar(std::string label, std::string unit);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `total` 0: not known, so a count and a rate without a bar.
  void update(std::size_t done, std::size_t total);
  // For the service's long operations.
  ProgressFn callback();

private:
  void draw(std::size_t done, std::size_t total);

  bool m_shown;
  std::string m_label;
  std::string m_unit;
  std::chrono::steady_clock::time_point m_start;
  std::chrono::steady_clock::time_point m_last_draw{};
  bool m_drawn = false;
};

} // namespace zsimem::cli
