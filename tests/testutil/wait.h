// Waiting in tests, and the seeds of their random choices.
//
// WaitUntil is the one way a test waits for another thread or process (a
// node to sync, a daemon to start, a metric to refresh): never a fixed
// sleep, never a hand-written deadline loop. Where the code under test
// offers a condition to wait on (Writer::WaitForCheckpoint, a writer
// listener as in tests/sync/test_federation.h WaitFor), wait on that
// instead.
//
// TestSeed gives a test's random choices a seed that is printed and can be
// set, so that a failure replays.
//
// Thread safety: call from the test's thread (WaitUntil reports failures
// through gtest).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tongban::testutil {

// The backoff between two calls of the predicate: from 1 ms, doubling, to
// at most this.
inline constexpr absl::Duration kWaitPollMax = absl::Milliseconds(100);

// The implementation of WaitUntil for a predicate that can fail.
bool WaitUntilOk(const std::function<absl::StatusOr<bool>()>& predicate, absl::Duration timeout,
                 absl::string_view what);

// Calls `predicate` until it returns true (polling with a short backoff:
// 1 ms, doubling up to kWaitPollMax) and returns true. After `timeout`
// without it, adds a test failure "timed out after <timeout> waiting for
// <what>" and returns false, so that ASSERT_TRUE(WaitUntil(...)) stops the
// test there and EXPECT_TRUE(...) or a bare call goes on.
//
// `predicate` returns bool, or absl::StatusOr<bool>: an error then ends the
// wait at once, failing the test with "<what>: <error>" (an error is not
// something to wait out). Assertions inside a predicate that returns a value
// cannot use ASSERT_*; return the error instead.
template <typename Predicate>
bool WaitUntil(Predicate predicate, absl::Duration timeout, absl::string_view what) {
  using Result = std::invoke_result_t<Predicate&>;
  if constexpr (std::is_same_v<Result, bool>) {
    return WaitUntilOk([&]() -> absl::StatusOr<bool> { return predicate(); }, timeout, what);
  } else {
    static_assert(std::is_same_v<Result, absl::StatusOr<bool>>,
                  "WaitUntil's predicate returns bool or absl::StatusOr<bool>");
    return WaitUntilOk(std::function<absl::StatusOr<bool>()>(std::move(predicate)), timeout, what);
  }
}

// The seed for a test's random choices about `what`: the environment's
// TB_SEED if set (a decimal number; anything else fails the test), else
// gtest's random seed (from the clock, or --gtest_random_seed=N). Printed to
// stderr as "seed N for <what> (replay: TB_SEED=N)"; callers also
// SCOPED_TRACE(SeedTrace(seed)) so that a failure names it.
uint64_t TestSeed(absl::string_view what);
std::string SeedTrace(uint64_t seed);

}  // namespace tongban::testutil
