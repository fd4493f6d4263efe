#include "sync/backoff.h"

#include <set>

#include "gtest/gtest.h"

namespace tongban::sync {
namespace {

TEST(BackoffTest, CeilingDoublesUpToTheMaximum) {
  Backoff b(absl::Milliseconds(100), absl::Seconds(1), /*seed=*/7);
  const absl::Duration want[] = {absl::Milliseconds(100), absl::Milliseconds(200),
                                 absl::Milliseconds(400), absl::Milliseconds(800),
                                 absl::Seconds(1),        absl::Seconds(1)};
  for (absl::Duration ceiling : want) {
    EXPECT_EQ(b.ceiling(), ceiling);
    const absl::Duration d = b.Next();
    EXPECT_GE(d, absl::ZeroDuration());
    EXPECT_LT(d, ceiling);
  }
}

TEST(BackoffTest, ResetReturnsToTheInitialCeiling) {
  Backoff b(absl::Milliseconds(100), absl::Seconds(10), 7);
  for (int i = 0; i < 5; ++i) b.Next();
  EXPECT_EQ(b.ceiling(), absl::Milliseconds(3200));
  b.Reset();
  EXPECT_EQ(b.ceiling(), absl::Milliseconds(100));
  EXPECT_LT(b.Next(), absl::Milliseconds(100));
}

// Jitter spreads reconnects: many draws at one ceiling are not all equal,
// and the same seed replays the same delays.
TEST(BackoffTest, JitterIsSpreadAndReplayable) {
  std::set<int64_t> seen;
  Backoff a(absl::Seconds(1), absl::Seconds(1), 42);
  Backoff again(absl::Seconds(1), absl::Seconds(1), 42);
  for (int i = 0; i < 50; ++i) {
    const absl::Duration d = a.Next();
    EXPECT_EQ(d, again.Next());
    seen.insert(absl::ToInt64Microseconds(d));
  }
  EXPECT_GT(seen.size(), 40u);
}

}  // namespace
}  // namespace tongban::sync
