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

// Basics with a name and birth date, as the writer stores them.
v1::RecordState BasicsState(const std::string& name, int year, int month, int day) {
  v1::RecordValue v;
  v1::PersonBasics* b = v.mutable_person_basics();
  b->set_name(name);
  b->mutable_birth_date()->set_year(year);
  b->mutable_birth_date()->set_month(month);
  b->mutable_birth_date()->set_day(day);
  v1::RecordState state;
  state.set_custodian("620102");
  v1::RecordState::Head* head = state.add_heads();
  head->set_operation(v1::OPERATION_UPSERT);
  head->set_payload(v.SerializeAsString());
  return state;
}

// The person search's index is written with the record, finds by the
// normalized name and birth date only, and is as encrypted as the rest.
TEST_P(StoreTest, NameIndexIsWrittenWithTheRecordAndEncrypted) {
  const std::string a = "620102199003070026", b = "620102199003070034";
  const std::string name = "WANG-FANG-INDEXED";
  {
    TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(options_));
    Batch batch(*store);
    batch.PutRecord(RecordKey(a, v1::RECORD_KIND_PERSON_BASICS, "basics"),
                    BasicsState(name, 1990, 3, 7));
    batch.PutRecord(RecordKey(b, v1::RECORD_KIND_PERSON_BASICS, "basics"),
                    BasicsState("  wang-fang-INDEXED ", 1990, 3, 7));
    batch.PutRecord(RecordKey(b, v1::RECORD_KIND_OUTFLOW, "out-1"), BasicsState(name, 1990, 3, 8));
    TB_ASSERT_OK(store->Commit(batch, /*sync=*/true));
    TB_ASSERT_OK_AND_ASSIGN(auto hits, store->FindByName(" wang-fang-indexed", 1990, 3, 7, 10));
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(hits[0], std::make_pair(a, std::string("basics")));
    EXPECT_EQ(hits[1].first, b);
    TB_ASSERT_OK_AND_ASSIGN(auto limited, store->FindByName(name, 1990, 3, 7, 1));
    EXPECT_EQ(limited.size(), 1u);
    TB_ASSERT_OK_AND_ASSIGN(auto other_day, store->FindByName(name, 1990, 3, 8, 10));
    EXPECT_TRUE(other_day.empty()) << "only basics are indexed";
    TB_ASSERT_OK(store->Flush());
  }
  EXPECT_EQ(AllFileBytes(options_.path).find("wang-fang-indexed"), std::string::npos);
}

// A store written before the index existed is indexed when it opens.
TEST_P(StoreTest, OlderStoreIsIndexedOnOpen) {
  const std::string a = "620102199003070026";
  {
    TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(options_));
    Batch batch(*store);
    batch.PutRecord(RecordKey(a, v1::RECORD_KIND_PERSON_BASICS, "basics"),
                    BasicsState("Li Lei", 1990, 3, 7));
    TB_ASSERT_OK(store->Commit(batch, /*sync=*/true));
    // As an older build left it: no index, no mark.
    Batch undo(*store);
    undo.Delete(Cf::kDefault, NameIndexKey("Li Lei", 1990, 3, 7, a));
    undo.Delete(Cf::kDefault, "meta/names_indexed");
    TB_ASSERT_OK(store->Commit(undo, /*sync=*/true));
    TB_ASSERT_OK_AND_ASSIGN(auto none, store->FindByName("li lei", 1990, 3, 7, 10));
    ASSERT_TRUE(none.empty());
  }
  TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(options_));
  TB_ASSERT_OK_AND_ASSIGN(auto hits, store->FindByName("li  lei", 1990, 3, 7, 10));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].first, a);
}

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
