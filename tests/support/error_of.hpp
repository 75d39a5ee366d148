#pragma once

#include <zsimem/error.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <stdexcept>

namespace zsimem::testing {

// Runs `body` and returns the zsimem::Error it throws; fails the test when
// it throws none.
inline Error error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& error) {
    return error;
  }
  FAIL("no zsimem::Error was thrown");
  throw std::logic_error("unreachable");
}

} // namespace zsimem::testing
