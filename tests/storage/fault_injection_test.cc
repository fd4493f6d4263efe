// The store's fail-stop promise on a failing disk (storage/store.h,
// storage/writer.h; DESIGN.md section 10), shown with FaultInjection
// (storage/fault_injection.h): after a failed write or on a full disk, Store
// and Writer refuse every later write with the first error, nothing
// half-written is visible, and after a reopen on a healed disk everything
// acknowledged is there and writing works again.
#include "storage/fault_injection.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/ids/citizen_id.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::storage {
namespace {

using crypto::SuiteId;
using testutil::kOrigin;

constexpr absl::Duration kWait = absl::Seconds(30);

TEST(FileKindTest, NamesAsRocksDbWritesThem) {
  EXPECT_EQ(FileKindOf("/data/db/000012.log"), kWalFile);
  EXPECT_EQ(FileKindOf("/data/db/000013.sst"), kTableFile);
  EXPECT_EQ(FileKindOf("/data/db/MANIFEST-000005"), kManifestFile);
  EXPECT_EQ(FileKindOf("/data/db/CURRENT"), kOtherFile);
  EXPECT_EQ(FileKindOf("/data/db/OPTIONS-000007"), kOtherFile);
  EXPECT_EQ(FileKindOf("/data/db/LOG"), kOtherFile);  // the info log, not the WAL
}

class FaultInjectionTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    const crypto::Suite& suite = crypto::GetSuite(GetParam());
    options_.path = dir_.File("db");
    options_.suite = GetParam();
    TB_ASSERT_OK_AND_ASSIGN(options_.storage_key, crypto::RandomBytes(suite.symmetric_key_size()));
    options_.faults = &faults_;
    TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(options_));
  }

  // Closes the store, heals the disk and opens the store again.
  void ReopenHealed() {
    writer_.reset();
    store_.reset();
    faults_.Heal();
    TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(options_));
  }

  // One batch of two keys in two column families: both or neither.
  absl::Status PutPair(const std::string& name) {
    Batch batch(*store_);
    batch.Put(Cf::kDefault, absl::StrCat("test/", name), name);
    batch.PutCounter(absl::StrCat("test/", name), 7);
    return store_->Commit(batch, /*sync=*/true);
  }

  // "both", "neither" or "half" of the pair `name`.
  std::string PairState(const std::string& name) {
    absl::StatusOr<std::optional<std::string>> value =
        store_->Get(Cf::kDefault, absl::StrCat("test/", name));
    absl::StatusOr<uint64_t> counter = store_->GetCounter(absl::StrCat("test/", name));
    EXPECT_TRUE(value.ok()) << value.status();
    EXPECT_TRUE(counter.ok()) << counter.status();
    if (!value.ok() || !counter.ok()) return "error";
    const bool has_value = value->has_value();
    const bool has_counter = *counter == 7;
    if (has_value && has_counter) return "both";
    if (!has_value && !has_counter) return "neither";
    return "half";
  }

  void OpenWriter() {
    const crypto::Suite& suite = crypto::GetSuite(GetParam());
    if (key_ == nullptr) {
      TB_ASSERT_OK_AND_ASSIGN(key_, suite.GenerateKey());
    }
    WriterOptions wo;
    wo.node = kOrigin;
    TB_ASSERT_OK_AND_ASSIGN(writer_, Writer::Open(store_.get(), key_.get(), wo, &clock_));
  }

  testutil::ScopedTempDir dir_;
  FaultInjection faults_;  // outlives the store (declared first)
  StoreOptions options_;
  FakeClock clock_;
  std::unique_ptr<crypto::PrivateKey> key_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Writer> writer_;
};

// The counts show which files a fault can reach: a synced commit writes and
// syncs the write-ahead log only; a flush writes table files.
TEST_P(FaultInjectionTest, CountsFollowTheChosenFileKinds) {
  EXPECT_GT(faults_.counts().writes, 0u) << "opening a store writes its files";
  faults_.SetFileKinds(kWalFile);
  const FaultCounts before = faults_.counts();
  TB_ASSERT_OK(PutPair("a"));
  FaultCounts after = faults_.counts();
  EXPECT_GT(after.writes, before.writes);
  EXPECT_GT(after.syncs, before.syncs);
  faults_.SetFileKinds(kTableFile);
  const FaultCounts tables = faults_.counts();
  TB_ASSERT_OK(PutPair("b"));
  EXPECT_EQ(faults_.counts().writes, tables.writes) << "a commit writes no table file";
  TB_ASSERT_OK(store_->Flush());
  EXPECT_GT(faults_.counts().writes, tables.writes) << "a flush writes table files";
  EXPECT_EQ(faults_.counts().failed_writes, 0u);
  EXPECT_EQ(faults_.counts().failed_syncs, 0u);
}

// FailNextWrites(n, after) lets `after` writes through first: a fault at
// an exact write. Every commit acknowledged before it survives a reopen.
TEST_P(FaultInjectionTest, AFaultAfterSomeWritesFallsOnExactlyThatWrite) {
  faults_.SetFileKinds(kWalFile);
  const uint64_t before = faults_.counts().writes;
  faults_.FailNextWrites(1, /*after=*/2);
  std::vector<std::string> acked;
  absl::Status failed;
  for (int i = 0; i < 10 && failed.ok(); ++i) {
    const std::string name = absl::StrCat("pair", i);
    failed = PutPair(name);
    if (failed.ok()) acked.push_back(name);
  }
  ASSERT_FALSE(failed.ok()) << "the fault never came";
  EXPECT_EQ(faults_.counts().writes - before, 3u) << "two passed, the third failed";
  EXPECT_EQ(faults_.counts().failed_writes, 1u);
  EXPECT_FALSE(acked.empty());
  ReopenHealed();
  for (const std::string& name : acked) EXPECT_EQ(PairState(name), "both") << name;
  EXPECT_EQ(PairState(absl::StrCat("pair", acked.size())), "neither");
}

TEST_P(FaultInjectionTest, AFailedWriteStopsTheStoreUntilReopened) {
  TB_ASSERT_OK(PutPair("acked"));
  faults_.SetFileKinds(kWalFile);
  faults_.FailNextWrites(1);
  const absl::Status first = PutPair("failed");
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;  // an I/O error
  EXPECT_TRUE(absl::StrContains(first.message(), "injected write fault")) << first;
  EXPECT_EQ(faults_.counts().failed_writes, 1u);
  // The disk works again, but the store does not write: its callers'
  // in-memory state may be ahead of the disk.
  const uint64_t writes = faults_.counts().writes;
  const absl::Status later = PutPair("later");
  EXPECT_EQ(later.code(), first.code()) << later;
  EXPECT_TRUE(absl::StrContains(later.message(), first.message())) << later;
  EXPECT_EQ(faults_.counts().writes, writes) << "a stopped store reaches no file";
  EXPECT_EQ(PairState("acked"), "both");
  EXPECT_EQ(PairState("failed"), "neither");
  EXPECT_EQ(PairState("later"), "neither");

  ReopenHealed();
  EXPECT_EQ(PairState("acked"), "both");
  EXPECT_EQ(PairState("failed"), "neither");
  EXPECT_EQ(PairState("later"), "neither");
  TB_ASSERT_OK(PutPair("after"));
  EXPECT_EQ(PairState("after"), "both");
}

TEST_P(FaultInjectionTest, AFullDiskStopsTheStoreAndSpaceReturningAfterAReopenRecovers) {
  TB_ASSERT_OK(PutPair("acked"));
  faults_.FillDisk();
  const absl::Status first = PutPair("full");
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.code(), absl::StatusCode::kResourceExhausted) << first;
  faults_.Heal();  // space returns, but the store stays stopped until reopened
  const absl::Status later = PutPair("later");
  EXPECT_EQ(later.code(), absl::StatusCode::kResourceExhausted) << later;
  EXPECT_TRUE(absl::StrContains(later.message(), first.message())) << later;
  EXPECT_EQ(PairState("full"), "neither");

  ReopenHealed();
  EXPECT_EQ(PairState("acked"), "both");
  EXPECT_EQ(PairState("full"), "neither");
  EXPECT_EQ(PairState("later"), "neither");
  TB_ASSERT_OK(PutPair("after"));
  EXPECT_EQ(PairState("after"), "both");
}

// A failed fsync: the commit is not acknowledged and the store stops. The
// bytes may have reached the file before the sync failed, so after a reopen
// the batch is either whole or absent, never half.
TEST_P(FaultInjectionTest, AFailedSyncStopsTheStoreAndLeavesNoHalfBatch) {
  TB_ASSERT_OK(PutPair("acked"));
  faults_.SetFileKinds(kWalFile);
  faults_.FailNextSyncs(1);
  const absl::Status first = PutPair("unsynced");
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(absl::StrContains(first.message(), "injected sync fault")) << first;
  EXPECT_EQ(faults_.counts().failed_syncs, 1u);
  EXPECT_EQ(PutPair("later").code(), first.code());
  EXPECT_NE(PairState("unsynced"), "half");

  ReopenHealed();
  EXPECT_EQ(PairState("acked"), "both");
  EXPECT_NE(PairState("unsynced"), "half");
  EXPECT_EQ(PairState("later"), "neither");
  TB_EXPECT_OK(PutPair("after"));
}

// The Writer over a full disk: the append that meets it fails, every later
// one is refused with the same error even once space returns, nothing of
// the failed appends is visible, and after a reopen every acknowledged
// event, record and checkpoint is there and the log goes on from them.
TEST_P(FaultInjectionTest, TheWriterStopsOnAFullDiskAndKeepsEverythingAcknowledged) {
  OpenWriter();
  std::vector<std::string> acked;
  for (int i = 0; i < 3; ++i) {
    acked.push_back(testutil::MakeId(kOrigin, "19800101", i));
    TB_ASSERT_OK(writer_->Append(testutil::Basics(acked.back(), absl::StrCat("Person ", i))));
  }
  TB_ASSERT_OK(writer_->WaitForCheckpoint(3, kWait));
  const LogId log = writer_->log();

  faults_.FillDisk();
  const std::string lost = testutil::MakeId(kOrigin, "19800101", 7);
  const absl::Status first = writer_->Append(testutil::Basics(lost, "Lost")).status();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.code(), absl::StatusCode::kResourceExhausted) << first;
  faults_.Heal();
  const std::string refused = testutil::MakeId(kOrigin, "19800101", 8);
  const absl::Status later = writer_->Append(testutil::Basics(refused, "Refused")).status();
  EXPECT_EQ(later.code(), absl::StatusCode::kResourceExhausted) << later;
  // Nothing half-written: no event past the acknowledged ones, no record,
  // no link of the persons whose appends failed.
  TB_ASSERT_OK_AND_ASSIGN(uint64_t last, store_->LastSeq(log));
  EXPECT_EQ(last, 3u);
  for (const std::string& p : {lost, refused}) {
    TB_ASSERT_OK_AND_ASSIGN(auto records, store_->ListRecords(p));
    EXPECT_TRUE(records.empty()) << ids::MaskId(p);
    TB_ASSERT_OK_AND_ASSIGN(auto links, store_->GetLinks(p));
    EXPECT_TRUE(links.empty()) << ids::MaskId(p);
  }

  ReopenHealed();
  OpenWriter();
  TB_ASSERT_OK_AND_ASSIGN(last, store_->LastSeq(log));
  EXPECT_EQ(last, 3u);
  for (const std::string& p : acked) {
    TB_ASSERT_OK_AND_ASSIGN(auto records, store_->ListRecords(p));
    EXPECT_EQ(records.size(), 1u) << ids::MaskId(p);
  }
  TB_ASSERT_OK_AND_ASSIGN(auto checkpoint, store_->LatestCheckpoint(log));
  ASSERT_TRUE(checkpoint.has_value());
  TB_ASSERT_OK_AND_ASSIGN(Appended next, writer_->Append(testutil::Basics(lost, "Lost, again")));
  EXPECT_EQ(next.id.seq(), 4u);
  TB_EXPECT_OK(writer_->WaitForCheckpoint(4, kWait));
}

// Writes refused on purpose (the node's disk-space check): appends,
// rotations and peers' batches are refused with the reason and store
// nothing, the writer is not failed, and once lifted the log goes on at the
// next seq.
TEST_P(FaultInjectionTest, RefusedWritesStoreNothingAndGoOnOnceLifted) {
  OpenWriter();
  const std::string first = testutil::MakeId(kOrigin, "19800101", 1);
  TB_ASSERT_OK(writer_->Append(testutil::Basics(first, "First")));
  writer_->RefuseWrites(absl::ResourceExhaustedError("the disk is low on space"));
  EXPECT_EQ(writer_->refusal().code(), absl::StatusCode::kResourceExhausted);

  const std::string refused = testutil::MakeId(kOrigin, "19800101", 2);
  const absl::Status local = writer_->Append(testutil::Basics(refused, "Refused")).status();
  EXPECT_EQ(local.code(), absl::StatusCode::kResourceExhausted) << local;
  EXPECT_TRUE(absl::StrContains(local.message(), "low on space")) << local;
  RemoteBatch remote;
  remote.log = LogId{testutil::kResidence, 1};
  const absl::Status applied = writer_->ApplyRemote(remote);
  EXPECT_EQ(applied.code(), absl::StatusCode::kResourceExhausted) << applied;
  EXPECT_EQ(writer_->RotateKey(&writer_->current_key()).status().code(),
            absl::StatusCode::kResourceExhausted);
  TB_EXPECT_OK(writer_->failure());
  TB_ASSERT_OK_AND_ASSIGN(uint64_t last, store_->LastSeq(writer_->log()));
  EXPECT_EQ(last, 1u);
  TB_ASSERT_OK_AND_ASSIGN(auto records, store_->ListRecords(refused));
  EXPECT_TRUE(records.empty());

  writer_->RefuseWrites(absl::OkStatus());
  TB_ASSERT_OK_AND_ASSIGN(Appended next, writer_->Append(testutil::Basics(refused, "Now")));
  EXPECT_EQ(next.id.seq(), 2u);
  TB_EXPECT_OK(writer_->WaitForCheckpoint(2, kWait));
}

TB_INSTANTIATE_FOR_BOTH_SUITES(FaultInjectionTest);

}  // namespace
}  // namespace tongban::storage
