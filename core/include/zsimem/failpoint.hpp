#pragma once

// Failpoints: named places in the write path where a test can make the
// process crash, fail or stall, to check that what was acknowledged
// survives and that the store stays consistent. For testing only.
//
// ZSIMEM_FAILPOINTS="NAME=ACTION[,NAME=ACTION...]" with ACTION one of
//   crash       the process kills itself with SIGKILL at that point
//   error       the operation fails there with Error{unavailable}
//   sleep(MS)   the thread sleeps MS milliseconds, then goes on
// and an optional "@N" after the action (e.g. "crash@3") to act on the Nth
// time the point is reached only. Unset, a failpoint costs a load and a
// branch.

#include <span>
#include <string_view>

namespace zsimem::failpoint {

// Every failpoint's name, so that a test suite can run each one.
std::span<const std::string_view> names();

// Does what ZSIMEM_FAILPOINTS asks at the failpoint `name`: usually
// nothing. A malformed ZSIMEM_FAILPOINTS makes every failpoint throw
// Error{invalid} naming the problem, so that a typo cannot go unnoticed.
void hit(std::string_view name);

} // namespace zsimem::failpoint
