#pragma once

#include <cstdlib>

namespace zsimem::testing {

// Scale of the stress tests: ZSIMEM_STRESS_SCALE=0.2 makes the sanitizer
// run shorter, larger values make a soak.
inline double stress_scale() {
  const char* text = std::getenv("ZSIMEM_STRESS_SCALE");
  return text ? std::atof(text) : 1.0;
}

} // namespace zsimem::testing
