// The test helpers that wait and seed (tests/testutil/wait.h).
#include "tests/testutil/wait.h"

#include <stdlib.h>

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace tongban::testutil {
namespace {

TEST(WaitUntilTest, ReturnsOnceAnotherThreadMakesThePredicateTrue) {
  std::atomic<bool> done{false};
  std::thread other([&] {
    absl::SleepFor(absl::Milliseconds(20));
    done = true;
  });
  EXPECT_TRUE(WaitUntil([&] { return done.load(); }, absl::Seconds(30), "the other thread"));
  other.join();
}

// Short backoff: the first calls come within milliseconds, and the pause
// never grows past kWaitPollMax (counted, not timed: a loaded machine only
// makes fewer calls).
TEST(WaitUntilTest, PollsWithABackoffThatStaysShort) {
  int calls = 0;
  const absl::Time start = absl::Now();
  EXPECT_TRUE(WaitUntil([&] { return ++calls == 4; }, absl::Seconds(30), "the fourth call"));
  EXPECT_EQ(calls, 4);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // 1 + 2 + 4 ms of pauses
}

int never_calls = 0;
bool Never() {
  ++never_calls;
  return false;
}

TEST(WaitUntilTest, ATimeoutFailsTheTestNamingWhatItWaitedFor) {
  never_calls = 0;
  EXPECT_NONFATAL_FAILURE(
      EXPECT_FALSE(WaitUntil(Never, absl::Milliseconds(300), "the county to sync")),
      "timed out after 300ms waiting for the county to sync");
  // 1+2+4+...+64 ms, then 100 ms at a time: about ten calls in 300 ms.
  EXPECT_GE(never_calls, 2);
  EXPECT_LE(never_calls, 12);
}

int error_calls = 0;
absl::StatusOr<bool> Broken() {
  ++error_calls;
  return absl::UnavailableError("node 440305 is down");
}

TEST(WaitUntilTest, AnErrorEndsTheWaitAtOnce) {
  error_calls = 0;
  EXPECT_NONFATAL_FAILURE(EXPECT_FALSE(WaitUntil(Broken, absl::Seconds(30), "the metrics")),
                          "the metrics: UNAVAILABLE: node 440305 is down");
  EXPECT_EQ(error_calls, 1);
}

TEST(TestSeedTest, TbSeedOverridesTheSeed) {
  const char* before = getenv("TB_SEED");
  const std::string saved = before == nullptr ? "" : before;
  setenv("TB_SEED", "424242", 1);
  EXPECT_EQ(TestSeed("this test"), 424242u);
  EXPECT_EQ(SeedTrace(424242), "seed 424242 (replay: TB_SEED=424242)");
  unsetenv("TB_SEED");
  EXPECT_EQ(TestSeed("this test"), testing::UnitTest::GetInstance()->random_seed());
  if (before != nullptr) setenv("TB_SEED", saved.c_str(), 1);
}

}  // namespace
}  // namespace tongban::testutil
