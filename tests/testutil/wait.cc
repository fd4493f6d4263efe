#include "tests/testutil/wait.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tongban::testutil {

bool WaitUntilOk(const std::function<absl::StatusOr<bool>()>& predicate, absl::Duration timeout,
                 absl::string_view what) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  for (;;) {
    absl::StatusOr<bool> met = predicate();
    if (!met.ok()) {
      ADD_FAILURE() << what << ": " << met.status();
      return false;
    }
    if (*met) return true;
    const absl::Time now = absl::Now();
    if (now >= deadline) break;
    absl::SleepFor(std::min(pause, deadline - now));
    pause = std::min(pause * 2, kWaitPollMax);
  }
  ADD_FAILURE() << "timed out after " << timeout << " waiting for " << what;
  return false;
}

uint64_t TestSeed(absl::string_view what) {
  uint64_t seed = testing::UnitTest::GetInstance()->random_seed();
  if (const char* env = std::getenv("TB_SEED"); env != nullptr && *env != '\0') {
    if (!absl::SimpleAtoi(env, &seed)) {
      ADD_FAILURE() << "TB_SEED=\"" << env << "\" is not a decimal number";
    }
  }
  std::fprintf(stderr, "seed %llu for %.*s (replay: TB_SEED=%llu)\n",
               static_cast<unsigned long long>(seed), static_cast<int>(what.size()), what.data(),
               static_cast<unsigned long long>(seed));
  return seed;
}

std::string SeedTrace(uint64_t seed) {
  return absl::StrCat("seed ", seed, " (replay: TB_SEED=", seed, ")");
}

}  // namespace tongban::testutil
