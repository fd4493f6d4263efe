#include "storage/store.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/crypto/suite.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::storage {
namespace {

using crypto::SuiteId;

class StoreTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    const crypto::Suite& suite = crypto::GetSuite(GetParam());
    TB_ASSERT_OK_AND_ASSIGN(key_, crypto::RandomBytes(suite.symmetric_key_size()));
    options_.path = dir_.File("db");
    options_.suite = GetParam();
    options_.storage_key = key_;
  }

  testutil::ScopedTempDir dir_;
  std::string key_;
  StoreOptions options_;
};

using testutil::AllFileBytes;

TEST_P(StoreTest, PersonalDataNeverReachesDiskInTheClear) {
  const std::string id = "11010519491231002X";
  const std::string name = "ZHANGSANFENG-TESTNAME";
  {
    TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(options_));
    Batch batch(*store);
    v1::RecordState state;
    state.set_custodian("620102");
    state.add_heads()->set_payload(name);
    batch.PutRecord(RecordKey(id, 1, "basics"), state);
    batch.PutEvent(LogId{"620102", 1}, 1, id + name);
    TB_ASSERT_OK(store->Commit(batch, /*sync=*/true));
    // Now in the WAL only.
    const std::string wal_only = AllFileBytes(options_.path);
    EXPECT_EQ(wal_only.find(id), std::string::npos);
    EXPECT_EQ(wal_only.find(name), std::string::npos);
    TB_ASSERT_OK(store->Flush());
  }
  // Now in SST files and the MANIFEST too.
  const std::string all = AllFileBytes(options_.path);
  EXPECT_GT(all.size(), 10000u);
  EXPECT_EQ(all.find(id), std::string::npos);
  EXPECT_EQ(all.find(name), std::string::npos);
  EXPECT_EQ(all.find("620102"), std::string::npos);

  // The search itself works: a plaintext file with the ID is found.
  { std::ofstream(options_.path + "/control.txt") << id; }
  EXPECT_NE(AllFileBytes(options_.path).find(id), std::string::npos);
  std::filesystem::remove(options_.path + "/control.txt");

  // And the data reads back through the cipher.
  TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(options_));
  TB_ASSERT_OK_AND_ASSIGN(auto state, store->GetRecord(RecordKey(id, 1, "basics")));
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->heads(0).payload(), name);
  TB_ASSERT_OK_AND_ASSIGN(std::string body, store->GetEvent(LogId{"620102", 1}, 1));
  EXPECT_EQ(body, id + name);
}

TEST_P(StoreTest, WrongStorageKeyIsRefusedClearly) {
  { TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(options_)); }
  std::string wrong = key_;
  wrong[0] ^= 1;
  options_.storage_key = wrong;
  const absl::Status s = Store::Open(options_).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("storage key does not match"), absl::string_view::npos) << s;
}

TEST_P(StoreTest, KeyOfWrongSizeIsInvalidArgument) {
  options_.storage_key = "short";
  EXPECT_EQ(Store::Open(options_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, OtherSuiteIsRefused) {
  { TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(options_)); }
  options_.suite = GetParam() == SuiteId::kIntl ? SuiteId::kGm : SuiteId::kIntl;
  TB_ASSERT_OK_AND_ASSIGN(
      options_.storage_key,
      crypto::RandomBytes(crypto::GetSuite(options_.suite).symmetric_key_size()));
  const absl::Status s = Store::Open(options_).status();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("suite"), absl::string_view::npos) << s;
}

TEST_P(StoreTest, ScansAndLastSeqFollowKeyOrder) {
  TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(options_));
  const LogId log{"620102", 1};
  const LogId other{"620103", 1};
  TB_ASSERT_OK_AND_ASSIGN(uint64_t empty_last, store->LastSeq(log));
  EXPECT_EQ(empty_last, 0u);
  Batch batch(*store);
  for (uint64_t seq = 1; seq <= 300; ++seq) {
    batch.PutEvent(log, seq, std::to_string(seq));
    batch.PutRoute("440305", log, seq * 2);
  }
  batch.PutEvent(other, 1, "x");
  TB_ASSERT_OK(store->Commit(batch, true));
  TB_ASSERT_OK_AND_ASSIGN(uint64_t last, store->LastSeq(log));
  EXPECT_EQ(last, 300u);
  std::vector<uint64_t> seen;
  TB_ASSERT_OK(store->ScanEvents(log, 255, 258, [&](uint64_t seq, absl::string_view body) {
    EXPECT_EQ(body, std::to_string(seq));
    seen.push_back(seq);
    return absl::OkStatus();
  }));
  EXPECT_EQ(seen, (std::vector<uint64_t>{255, 256, 257, 258}));
  TB_ASSERT_OK_AND_ASSIGN(auto route, store->ScanRoute("440305", log, 10, 3));
  EXPECT_EQ(route, (std::vector<uint64_t>{12, 14, 16}));
  TB_ASSERT_OK_AND_ASSIGN(auto none, store->ScanRoute("330106", log, 0, 3));
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(store->GetEvent(log, 301).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->synced_commits(), 2u);  // the format marker, then ours
}

TB_INSTANTIATE_FOR_BOTH_SUITES(StoreTest);

}  // namespace
}  // namespace tongban::storage
