#include <string>

#include "common/clock.h"
#include "common/hex.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban {
namespace {

TEST(HexTest, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  const std::string hex = HexEncode(all);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(hex.size() - 4), "feff");
  TB_ASSERT_OK_AND_ASSIGN(std::string back, HexDecode(hex));
  EXPECT_EQ(back, all);
  TB_ASSERT_OK_AND_ASSIGN(std::string upper, HexDecode("ABcd"));
  EXPECT_EQ(upper, "\xab\xcd");
}

TEST(HexTest, RejectsOddLengthAndBadDigits) {
  EXPECT_EQ(HexDecode("abc").status().code(), absl::StatusCode::kInvalidArgument);
  const absl::Status bad = HexDecode("00zz").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("position 2"), absl::string_view::npos) << bad;
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}
absl::Status Quarter(int x, int* out) {
  TB_ASSIGN_OR_RETURN(int h, Half(x));
  TB_ASSIGN_OR_RETURN(*out, Half(h));
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  int out = 0;
  TB_ASSERT_OK(Quarter(8, &out));
  EXPECT_EQ(out, 2);
  EXPECT_EQ(Quarter(6, &out).code(), absl::StatusCode::kInvalidArgument);
  const absl::Status p = Prefixed("log 620102", absl::NotFoundError("gone"));
  EXPECT_EQ(p.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(p.message(), "log 620102: gone");
}

TEST(HybridClockTest, MonotonicWhenWallClockStepsBack) {
  FakeClock wall;
  HybridClock hlc(&wall);
  const HlcStamp a = hlc.Now();
  wall.Advance(absl::Seconds(-10));
  const HlcStamp b = hlc.Now();
  EXPECT_LT(a, b);
  EXPECT_EQ(b.physical_micros, a.physical_micros);
  EXPECT_EQ(b.logical, a.logical + 1);
}

TEST(HybridClockTest, ObservedRemoteStampsAreExceeded) {
  FakeClock wall;
  HybridClock hlc(&wall);
  const HlcStamp remote{absl::ToUnixMicros(wall.Now()) + 5'000'000, 7};
  EXPECT_TRUE(hlc.Observe(remote));
  EXPECT_GT(hlc.Now(), remote);
  wall.Advance(absl::Seconds(6));
  const HlcStamp later = hlc.Now();
  EXPECT_EQ(later.physical_micros, absl::ToUnixMicros(wall.Now()));
  EXPECT_EQ(later.logical, 0u);
}

// Issue #14: one peer whose clock reads ten years ahead must not move every
// later stamp of this node. Within the bound a stamp is adopted as before.
TEST(HybridClockTest, AStampBeyondTheBoundIsNotAdopted) {
  FakeClock wall;
  HybridClock hlc(&wall, absl::Minutes(5));
  const int64_t now = absl::ToUnixMicros(wall.Now());
  const HlcStamp far{now + absl::ToInt64Microseconds(absl::Hours(24 * 3652)), 0};
  EXPECT_FALSE(hlc.Observe(far));
  const HlcStamp own = hlc.Now();
  EXPECT_EQ(own.physical_micros, now) << "the next own stamp carries the node's own time";

  const HlcStamp edge{now + absl::ToInt64Microseconds(absl::Minutes(5)), 3};
  EXPECT_TRUE(hlc.Observe(edge));
  EXPECT_GT(hlc.Now(), edge);
  const HlcStamp beyond{edge.physical_micros + 1, 0};
  EXPECT_FALSE(hlc.Observe(beyond));
}

// A node's own log is adopted whatever its stamps, so that they keep growing
// after a restart.
TEST(HybridClockTest, OwnStampsAreRestoredWhateverTheirTime) {
  FakeClock wall;
  HybridClock hlc(&wall, absl::Minutes(5));
  const HlcStamp own{absl::ToUnixMicros(wall.Now()) + absl::ToInt64Microseconds(absl::Hours(1)), 2};
  hlc.Restore(own);
  EXPECT_GT(hlc.Now(), own);
}

}  // namespace
}  // namespace tongban
