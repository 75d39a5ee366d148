#include "progress.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <unistd.h>

namespace zsimem::cli {
namespace {

constexpr std::string_view k_clear_line = "\r\033[K";
constexpr auto k_redraw_every = std::chrono::milliseconds(100);
constexpr std::size_t k_bar_width = 24;

struct sigaction g_previous_sigint {};

// Clears the bar, then lets SIGINT do what it would have done.
void clear_and_reraise(int signal) {
  (void)!::write(STDERR_FILENO, k_clear_line.data(), k_clear_line.size());
  ::sigaction(SIGINT, &g_previous_sigint, nullptr);
  ::raise(signal);
}

bool stderr_is_a_terminal() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDERR_FILENO) != 0 && (term == nullptr || std::strcmp(term, "dumb") != 0);
}

} // namespace

ProgressBar::ProgressBar(std::string label, std::string unit)
    : m_shown(stderr_is_a_terminal()), m_label(std::move(label)), m_unit(std::move(unit)),
      m_start(std::chrono::steady_clock::now()) {
  if (m_shown) {
    struct sigaction clear {};
    clear.sa_handler = clear_and_reraise;
    sigemptyset(&clear.sa_mask);
    ::sigaction(SIGINT, &clear, &g_previous_sigint);
  }
}

ProgressBar::~ProgressBar() {
  if (m_shown) {
    ::sigaction(SIGINT, &g_previous_sigint, nullptr);
    if (m_drawn) {
      std::fwrite(k_clear_line.data(), 1, k_clear_line.size(), stderr);
      std::fflush(stderr);
    }
  }
}

void ProgressBar::update(std::size_t done, std::size_t total) {
  if (!m_shown) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (m_drawn && now - m_last_draw < k_redraw_every && done != total) {
    return;
  }
  m_last_draw = now;
  draw(done, total);
}

ProgressFn ProgressBar::callback() {
  return [this](std::size_t done, std::size_t total) { update(done, total); };
}

void ProgressBar::draw(std::size_t done, std::size_t total) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  std::string line(k_clear_line);
  line += m_label + "  " + std::to_string(done);
  if (total > 0) {
    const std::size_t shown = std::min(done, total);
    line += "/" + std::to_string(total) + " " + m_unit + "  " + std::to_string(shown * 100 / total) + "%  [";
    const std::size_t filled = shown * k_bar_width / total;
    line += std::string(filled, '#') + std::string(k_bar_width - filled, '.') + "]";
  } else {
    line += " " + m_unit;
  }
  if (seconds >= 0.5) {
    line += "  " + std::to_string(static_cast<std::size_t>(static_cast<double>(done) / seconds)) + "/s";
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
  m_drawn = true;
}

} // namespace zsimem::cli
