// The rule the transport obeys before every read (issue #14): an honest
// peer, which never has more batches outstanding than its credit, is always
// read; a peer that ignores its credit is not, so what it makes the node
// hold stays within bound_bytes().
#include "sync/input_account.h"

#include <thread>

#include "gtest/gtest.h"

namespace tongban::sync {
namespace {

constexpr uint64_t kMiB = 1 << 20;

InputLimits Limits() {
  InputLimits l;
  l.credit = 4;
  l.max_message_bytes = 4 * kMiB;
  l.other_bytes = kMiB;
  return l;
}

TEST(InputAccountTest, AnHonestPeerWithinItsCreditIsAlwaysRead) {
  InputAccount input(Limits());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(input.MayRead());
    input.Read(4 * kMiB, /*batch=*/true);
  }
  // Its credit used up, an honest peer still sends Acks and Credits.
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(input.MayRead());
    input.Read(20, /*batch=*/false);
    input.Release(20, /*batch=*/false);
  }
  EXPECT_EQ(input.stats().pauses, 0u);
  EXPECT_EQ(input.stats().queued_batches, 4u);
}

TEST(InputAccountTest, APeerBeyondItsCreditIsNotReadUntilInputIsReleased) {
  std::vector<std::pair<int64_t, int64_t>> changes;
  InputAccount input(Limits(),
                     [&](int64_t bytes, int64_t batches) { changes.emplace_back(bytes, batches); });
  // Four batches within the credit, then one beyond it: nothing more.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(input.MayRead()) << i;
    input.Read(4 * kMiB, /*batch=*/true);
  }
  EXPECT_FALSE(input.MayRead());
  EXPECT_FALSE(input.MayRead());
  EXPECT_EQ(input.stats().pauses, 2u);
  EXPECT_LE(input.stats().peak_bytes, input.bound_bytes());
  EXPECT_EQ(input.stats().peak_batches, input.bound_batches());
  // One applied: its credit back, reading goes on.
  input.Release(4 * kMiB, /*batch=*/true);
  EXPECT_TRUE(input.MayRead());
  ASSERT_EQ(changes.size(), 6u);
  EXPECT_EQ(changes.back(), std::make_pair(-static_cast<int64_t>(4 * kMiB), int64_t{-1}));
}

TEST(InputAccountTest, OtherMessagesAreBoundedByBytes) {
  InputAccount input(Limits());
  uint64_t read = 0;
  while (input.MayRead()) {
    input.Read(1000, /*batch=*/false);
    read += 1000;
    ASSERT_LE(read, 2 * kMiB);
  }
  EXPECT_GT(read, kMiB);
  EXPECT_LE(input.stats().peak_bytes, kMiB + 1000);
}

TEST(InputAccountTest, ResumeIsCalledWhenReadingMayGoOn) {
  InputAccount input(Limits());
  int resumed = 0;
  input.SetResume([&] { ++resumed; });
  for (int i = 0; i < 5; ++i) input.Read(kMiB, /*batch=*/true);
  input.Release(kMiB, /*batch=*/true);
  EXPECT_EQ(resumed, 0) << "never paused: nothing to resume";
  input.Read(kMiB, /*batch=*/true);
  ASSERT_FALSE(input.MayRead());
  input.Release(kMiB, /*batch=*/true);
  EXPECT_EQ(resumed, 1);
  input.Release(kMiB, /*batch=*/true);
  EXPECT_EQ(resumed, 1) << "once per pause";
}

TEST(InputAccountTest, WaitMayReadReturnsOnReleaseOrClose) {
  InputAccount input(Limits());
  for (int i = 0; i < 5; ++i) input.Read(kMiB, /*batch=*/true);
  bool may = false;
  std::thread reader([&] { may = input.WaitMayRead(); });
  input.Release(kMiB, /*batch=*/true);
  reader.join();
  EXPECT_TRUE(may);

  input.Read(kMiB, /*batch=*/true);
  std::thread closed([&] { may = input.WaitMayRead(); });
  input.Close();
  closed.join();
  EXPECT_FALSE(may);
}

// What the ended session read and did not process is dropped from the
// account (and from the peer table's sums); peaks stay.
TEST(InputAccountTest, CloseDropsWhatIsQueued) {
  int64_t bytes = 0, batches = 0;
  InputAccount input(Limits(), [&](int64_t b, int64_t n) {
    bytes += b;
    batches += n;
  });
  input.Read(3 * kMiB, /*batch=*/true);
  input.Read(100, /*batch=*/false);
  input.Close();
  EXPECT_EQ(bytes, 0);
  EXPECT_EQ(batches, 0);
  input.Read(kMiB, /*batch=*/true);
  input.Release(kMiB, /*batch=*/true);
  EXPECT_EQ(bytes, 0);
  EXPECT_EQ(input.stats().queued_bytes, 0u);
  EXPECT_EQ(input.stats().peak_bytes, 3 * kMiB + 100);
}

}  // namespace
}  // namespace tongban::sync
