#include "storage/keys.h"

#include "gtest/gtest.h"

namespace tongban::storage {
namespace {

// Bytewise order of keys must be numeric order of seqs, or scans break.
TEST(KeysTest, EventKeysSortBySeq) {
  const LogId log{"620102", 1};
  EXPECT_LT(EventKey(log, 255), EventKey(log, 256));
  EXPECT_LT(EventKey(log, 1), EventKey(log, uint64_t{1} << 40));
  EXPECT_LT(EventKey(log, ~uint64_t{0} - 1), EventKey(log, ~uint64_t{0}));
  EXPECT_EQ(EventKey(log, 7).size(), kLogIdSize + 8);
  EXPECT_EQ(DecodeBe64(EventKey(log, 0x0102030405060708).substr(kLogIdSize)), 0x0102030405060708u);
}

TEST(KeysTest, LogsOfDifferentEpochsDoNotInterleave) {
  const LogId e1{"620102", 1};
  const LogId e2{"620102", 2};
  EXPECT_LT(EventKey(e1, ~uint64_t{0}), EventKey(e2, 1));
}

TEST(KeysTest, RoutePrefixSeparatesPeersAndLogs) {
  const LogId log{"620102", 1};
  const std::string key = RouteKey("440305", log, 9);
  EXPECT_EQ(key.rfind(RoutePrefix("440305", log), 0), 0u);
  EXPECT_NE(key.rfind(RoutePrefix("440306", log), 0), 0u);
}

// The sync layer's evidence and freeze keys are stored data: their text
// layout (decimal epoch and time) must not change.
TEST(KeysTest, EvidenceAndFrozenKeysKeepTheirLayout) {
  const LogId log{"620102", 3};
  EXPECT_EQ(EvidencePrefix(log), "evidence/620102/3/");
  EXPECT_EQ(EvidenceKey(log, 1700000000123456), "evidence/620102/3/1700000000123456");
  EXPECT_EQ(FrozenKey(log), "frozen/620102/3");
  EXPECT_EQ(EvidenceKey(log, 5).rfind(EvidencePrefix(log), 0), 0u);
}

// Code above storage/ reads record keys only through DecodeRecordKey.
TEST(KeysTest, RecordKeysDecodeToTheirParts) {
  const std::string person = "11010519491231002X";
  RecordKeyParts parts;  // views into the key
  const std::string key = RecordKey(person, 9, "reply-inq-1");
  ASSERT_TRUE(DecodeRecordKey(key, &parts));
  EXPECT_EQ(parts.person, person);
  EXPECT_EQ(parts.kind, 9);
  EXPECT_EQ(parts.record_id, "reply-inq-1");
  const std::string bare = RecordKey(person, 200, "");
  ASSERT_TRUE(DecodeRecordKey(bare, &parts));  // kinds are bytes
  EXPECT_EQ(parts.kind, 200);
  EXPECT_EQ(parts.record_id, "");
  EXPECT_FALSE(DecodeRecordKey(person, &parts));
  EXPECT_FALSE(DecodeRecordKey("", &parts));
}

}  // namespace
}  // namespace tongban::storage
