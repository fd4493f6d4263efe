#include "storage/backup.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/hex.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/tree.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "tests/testutil/files.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace tongban::storage {
namespace {

using crypto::SuiteId;
using testutil::kOrigin;

constexpr absl::Duration kWait = absl::Seconds(30);
constexpr absl::string_view kKeyError =
    "this backup cannot be opened without the storage key it was written with; the storage key "
    "is kept apart from backups";

class BackupTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(key_, suite().GenerateKey());
    TB_ASSERT_OK_AND_ASSIGN(storage_key_, crypto::RandomBytes(suite().symmetric_key_size()));
    std::filesystem::create_directories(data_dir());
    options_.path = data_dir() + "/db";
    options_.suite = GetParam();
    options_.storage_key = storage_key_;
    TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(options_));
    WriterOptions wo;
    wo.node = kOrigin;
    TB_ASSERT_OK_AND_ASSIGN(writer_, Writer::Open(store_.get(), key_.get(), wo, &clock_));
  }

  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }
  std::string data_dir() const { return dir_.File("data"); }
  std::string backups() const { return dir_.File("backups"); }

  void Append(int from, int count, const std::string& name = "N") {
    for (int i = from; i < from + count; ++i) {
      TB_ASSERT_OK(writer_->Append(testutil::Basics(testutil::MakeId(kOrigin, "19700101", i), name))
                       .status());
    }
  }

  // Appends `count` events, waits until they are signed, backs up keeping
  // the newest `keep` backups (0: all).
  CreatedBackup AppendAndBackUpKeeping(int count, uint32_t keep) {
    const uint64_t before = writer_->stats().last_seq;
    Append(static_cast<int>(before), count);
    EXPECT_TRUE(writer_->WaitForCheckpoint(before + count, kWait).ok());
    absl::StatusOr<CreatedBackup> c = store_->CreateBackup(backups(), kOrigin, clock_.Now(), keep);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : CreatedBackup();
  }
  BackupEntry AppendAndBackUp(int count) { return AppendAndBackUpKeeping(count, 0).backup; }

  // Backup `id` verifies with the key and restores into a fresh data
  // folder whose store holds exactly `events` events of the own log.
  void ExpectVerifiesAndRestores(uint32_t id, uint64_t events) {
    SCOPED_TRACE(absl::StrCat("backup ", id));
    TB_ASSERT_OK_AND_ASSIGN(BackupCheck check,
                            VerifyBackup(backups(), id, storage_key_, key_->public_key(),
                                         dir_.File(absl::StrCat("verify", id))));
    EXPECT_TRUE(check.checkpoint_verified);
    EXPECT_EQ(check.own_events, events);
    const std::string restored = dir_.File(absl::StrCat("restored", id));
    std::filesystem::create_directories(restored);
    TB_ASSERT_OK_AND_ASSIGN(RestoreResult r, RestoreBackup(backups(), id, storage_key_, restored,
                                                           &key_->public_key(), clock_.Now()));
    EXPECT_EQ(r.check.backup.id, id);
    StoreOptions so = options_;
    so.path = restored + "/db";
    TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(so));
    TB_ASSERT_OK_AND_ASSIGN(uint64_t last, store->LastSeq({kOrigin, 1}));
    EXPECT_EQ(last, events);
  }

  std::vector<uint32_t> IdsInFolder() {
    std::vector<uint32_t> ids;
    absl::StatusOr<std::vector<BackupEntry>> all = ListBackups(backups());
    EXPECT_TRUE(all.ok()) << all.status();
    if (all.ok()) {
      for (const BackupEntry& e : *all) ids.push_back(e.id);
    }
    return ids;
  }

  void CloseNode() {
    writer_.reset();
    store_.reset();
  }

  // Every file under `folder`, recursively.
  static std::vector<std::string> FilesUnder(const std::string& folder) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(folder)) {
      if (e.is_regular_file()) out.push_back(e.path().string());
    }
    return out;
  }

  testutil::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<crypto::PrivateKey> key_;
  std::string storage_key_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Writer> writer_;
};

// Appends go on in another thread during two backups; each restored backup
// is a consistent prefix: dense seqs, and the store's own latest checkpoint
// and the recorded one both match the stored tree.
TEST_P(BackupTest, BackupWhileWritingRestoresAConsistentPrefix) {
  Append(0, 50);
  TB_ASSERT_OK(writer_->WaitForCheckpoint(50, kWait));
  std::atomic<bool> stop{false};
  std::atomic<int> appended{50};
  std::thread appender([&] {
    for (int i = 50; !stop.load() && i < 100000; ++i) {
      if (!writer_->Append(testutil::Basics(testutil::MakeId(kOrigin, "19700102", i), "W")).ok()) {
        return;
      }
      appended = i + 1;
    }
  });
  TB_ASSERT_OK_AND_ASSIGN(CreatedBackup first_made,
                          store_->CreateBackup(backups(), kOrigin, clock_.Now(), 0));
  const BackupEntry first = first_made.backup;
  const bool grew = testutil::WaitUntil(
      [&] {
        return static_cast<uint64_t>(appended.load()) >= first.metadata.checkpoint_size + 200;
      },
      absl::Seconds(60), "200 more appends after the first backup");
  if (!grew) {
    stop = true;
    appender.join();
    FAIL() << "the appender stopped before 200 more appends";
  }
  TB_ASSERT_OK_AND_ASSIGN(CreatedBackup second_made,
                          store_->CreateBackup(backups(), kOrigin, clock_.Now(), 0));
  const BackupEntry second = second_made.backup;
  stop = true;
  appender.join();
  EXPECT_EQ(first.id, 1u);
  EXPECT_EQ(second.id, 2u);
  EXPECT_GE(first.metadata.checkpoint_size, 50u);
  EXPECT_GT(second.metadata.checkpoint_size, first.metadata.checkpoint_size);

  for (const BackupEntry& b : {first, second}) {
    SCOPED_TRACE(b.id);
    TB_ASSERT_OK_AND_ASSIGN(BackupCheck check,
                            VerifyBackup(backups(), b.id, storage_key_, key_->public_key(),
                                         dir_.File(absl::StrCat("v", b.id))));
    EXPECT_TRUE(check.checkpoint_verified);
    EXPECT_GE(check.own_events, b.metadata.checkpoint_size);

    const std::string restored = dir_.File(absl::StrCat("restored", b.id));
    std::filesystem::create_directories(restored);
    TB_ASSERT_OK(
        RestoreBackup(backups(), b.id, storage_key_, restored, &key_->public_key(), clock_.Now())
            .status());
    StoreOptions so = options_;
    so.path = restored + "/db";
    TB_ASSERT_OK_AND_ASSIGN(auto store, Store::Open(so));
    const LogId log{kOrigin, 1};
    TB_ASSERT_OK_AND_ASSIGN(uint64_t last, store->LastSeq(log));
    uint64_t count = 0;
    TB_ASSERT_OK(store->ScanEvents(log, 1, last, [&](uint64_t seq, absl::string_view) {
      EXPECT_EQ(seq, ++count);
      return absl::OkStatus();
    }));
    EXPECT_EQ(count, last);
    EXPECT_EQ(last, check.own_events);
    // The writer's recovery checks the latest stored checkpoint against the
    // tree and the key; it must accept the restored store.
    WriterOptions wo;
    wo.node = kOrigin;
    TB_ASSERT_OK_AND_ASSIGN(auto writer, Writer::Open(store.get(), key_.get(), wo, &clock_));
    EXPECT_GE(writer->stats().signed_size, b.metadata.checkpoint_size);
  }
}

// The backup's data files are encrypted like the database; its meta files
// (what list reads) are plaintext and hold no record.
TEST_P(BackupTest, BackupFilesAreEncryptedAndTheKeyIsNotInThem) {
  const std::string name = "ZHANG-SECRET-NAME";
  Append(0, 5, name);
  TB_ASSERT_OK(writer_->WaitForCheckpoint(5, kWait));
  TB_ASSERT_OK(store_->Flush());
  ASSERT_EQ(testutil::AllFileBytes(options_.path).find(name), std::string::npos);
  TB_ASSERT_OK_AND_ASSIGN(CreatedBackup made,
                          store_->CreateBackup(backups(), kOrigin, clock_.Now(), 0));
  const BackupEntry& b = made.backup;
  std::string all;
  for (const std::string& f : FilesUnder(backups())) all += testutil::Contents(f);
  EXPECT_GT(all.size(), 4096u * b.files);
  EXPECT_EQ(all.find(name), std::string::npos);
  EXPECT_EQ(all.find(storage_key_), std::string::npos);
  EXPECT_EQ(all.find(HexEncode(storage_key_)), std::string::npos);
  // The meta file is plaintext: BackupEngine's text with our metadata in hex.
  const std::string meta = absl::AsciiStrToLower(testutil::Contents(backups() + "/meta/1"));
  EXPECT_NE(meta.find(absl::StrCat("metadata ", HexEncode("tongban-backup 1"))), std::string::npos)
      << meta;
}

// List reads every backup's metadata without the key.
TEST_P(BackupTest, ListShowsEveryBackupWithoutTheKey) {
  const BackupEntry first = AppendAndBackUp(3);
  clock_.Advance(absl::Hours(1));
  const BackupEntry second = AppendAndBackUp(4);
  TB_ASSERT_OK_AND_ASSIGN(std::vector<BackupEntry> all, ListBackups(backups()));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, 1u);
  EXPECT_EQ(all[1].id, 2u);
  EXPECT_EQ(all[0].metadata.checkpoint_size, 3u);
  EXPECT_EQ(all[1].metadata.checkpoint_size, 7u);
  EXPECT_EQ(all[1].metadata.node, kOrigin);
  EXPECT_EQ(all[1].metadata.suite, GetParam());
  EXPECT_EQ(all[1].metadata.created_micros - all[0].metadata.created_micros,
            absl::ToInt64Microseconds(absl::Hours(1)));
  EXPECT_EQ(all[1].size_bytes, second.size_bytes);
  EXPECT_GT(all[0].size_bytes, 0u);
  EXPECT_GT(all[0].files, 0u);
  TB_ASSERT_OK_AND_ASSIGN(v1::SignedCheckpoint cp, [&]() -> absl::StatusOr<v1::SignedCheckpoint> {
    v1::SignedCheckpoint c;
    if (!c.ParseFromString(all[0].metadata.checkpoint)) return absl::DataLossError("parse");
    return c;
  }());
  TB_ASSERT_OK_AND_ASSIGN(
      merkle::Checkpoint parsed,
      merkle::VerifyCheckpoint({cp.body(), cp.signature()}, suite(), key_->public_key()));
  EXPECT_EQ(parsed.tree_size, 3u);
  // Incremental: the second backup shares the first one's table files, so
  // the folder holds less than the two backups' sizes added.
  uint64_t stored = 0;
  for (const std::string& f : FilesUnder(backups())) {
    if (f.find("/meta/") == std::string::npos) stored += std::filesystem::file_size(f) - 4096;
  }
  EXPECT_LT(stored, first.size_bytes + second.size_bytes);
  TB_ASSERT_OK_AND_ASSIGN(BackupEntry newest, FindBackup(backups(), 0));
  EXPECT_EQ(newest.id, 2u);
}

TEST_P(BackupTest, BadFolderOrIdIsOneClearError) {
  absl::Status missing = ListBackups(dir_.File("nowhere")).status();
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_NE(missing.message().find("nowhere"), std::string::npos) << missing;
  // The database's own folder, or one holding it, is never a backup folder.
  for (const std::string& bad : {options_.path, options_.path + "/backups", data_dir()}) {
    absl::Status s = store_->CreateBackup(bad, kOrigin, clock_.Now(), 0).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_NE(s.message().find("must be outside the database folder"), std::string::npos) << s;
  }
  AppendAndBackUp(2);
  absl::Status unknown = FindBackup(backups(), 7).status();
  EXPECT_TRUE(absl::IsNotFound(unknown)) << unknown;
  EXPECT_NE(unknown.message().find("no backup 7 (backups there: 1)"), std::string::npos) << unknown;
}

// A meta file whose metadata was changed by hand is refused, naming it.
TEST_P(BackupTest, CorruptMetadataIsRefusedNamingTheBackup) {
  AppendAndBackUp(2);
  const std::string meta = backups() + "/meta/1";
  std::string text = testutil::Contents(meta);
  // BackupEngine keeps the app metadata hex-encoded on a "metadata" line.
  const size_t at = text.find("metadata ");
  ASSERT_NE(at, std::string::npos) << text;
  text[at + 9] = text[at + 9] == '0' ? '1' : '0';
  std::ofstream(meta, std::ios::trunc) << text;
  absl::Status s = ListBackups(backups()).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("backup 1"), std::string::npos) << s;
  EXPECT_NE(s.message().find(backups()), std::string::npos) << s;
}

// One flipped byte in a backed-up table file fails the checksum check.
TEST_P(BackupTest, VerifyDetectsACorruptedFile) {
  AppendAndBackUp(20);
  TB_ASSERT_OK(
      VerifyBackup(backups(), 1, storage_key_, key_->public_key(), dir_.File("v1")).status());
  std::string sst;
  for (const std::string& f : FilesUnder(backups())) {
    if (absl::EndsWith(f, ".sst")) sst = f;
  }
  ASSERT_FALSE(sst.empty());
  {
    std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(4096 + 20);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    f.seekp(4096 + 20);
    f.write(&c, 1);
  }
  absl::Status s =
      VerifyBackup(backups(), 1, storage_key_, key_->public_key(), dir_.File("v2")).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("damaged"), std::string::npos) << s;
  EXPECT_FALSE(std::filesystem::exists(dir_.File("v2")));
}

// Without the key, or with another one, verify and restore give the one
// clear error and change nothing.
TEST_P(BackupTest, WrongOrMissingKeyIsOneClearErrorAndChangesNothing) {
  AppendAndBackUp(5);
  TB_ASSERT_OK_AND_ASSIGN(std::string other, crypto::RandomBytes(suite().symmetric_key_size()));
  for (const std::string& key : {other, std::string()}) {
    absl::Status v = VerifyBackup(backups(), 0, key, key_->public_key(), dir_.File("v")).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(v)) << v;
    EXPECT_TRUE(absl::StartsWith(v.message(), kKeyError)) << v;
    EXPECT_EQ(v.message().find("RocksDB"), std::string::npos) << v;

    const std::string target = dir_.File("target");
    std::filesystem::create_directories(target + "/db");
    std::ofstream(target + "/db/CURRENT") << "old";
    absl::Status r = RestoreBackup(backups(), 0, key, target, nullptr, clock_.Now()).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(r)) << r;
    EXPECT_TRUE(absl::StartsWith(r.message(), kKeyError)) << r;
    EXPECT_EQ(testutil::Contents(target + "/db/CURRENT"), "old");
    EXPECT_EQ(FilesUnder(target).size(), 1u);
  }
}

// Restore keeps the previous db aside, and the node's writer resumes the
// restored log at the recorded checkpoint.
TEST_P(BackupTest, RestoreMovesTheOldDbAsideAndOpensAtTheRecordedCheckpoint) {
  const BackupEntry b = AppendAndBackUp(10);
  Append(10, 5);  // after the backup: lost by the restore
  TB_ASSERT_OK(writer_->WaitForCheckpoint(15, kWait));
  CloseNode();
  TB_ASSERT_OK_AND_ASSIGN(RestoreResult r, RestoreBackup(backups(), 0, storage_key_, data_dir(),
                                                         &key_->public_key(), clock_.Now()));
  EXPECT_EQ(r.check.backup.id, b.id);
  EXPECT_EQ(r.moved_aside,
            data_dir() + "/db.before-restore-" +
                absl::FormatTime("%Y%m%dT%H%M%SZ", clock_.Now(), absl::UTCTimeZone()));
  EXPECT_TRUE(std::filesystem::exists(r.moved_aside + "/CURRENT"));
  EXPECT_FALSE(std::filesystem::exists(data_dir() + "/db.restoring"));
  {
    StoreOptions old = options_;
    old.path = r.moved_aside;
    TB_ASSERT_OK_AND_ASSIGN(auto before, Store::Open(old));
    EXPECT_EQ(*before->LastSeq({kOrigin, 1}), 15u);
  }
  TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(options_));
  EXPECT_EQ(*store_->LastSeq({kOrigin, 1}), 10u);
  WriterOptions wo;
  wo.node = kOrigin;
  TB_ASSERT_OK_AND_ASSIGN(writer_, Writer::Open(store_.get(), key_.get(), wo, &clock_));
  EXPECT_EQ(writer_->stats().signed_size, 10u);
  TB_ASSERT_OK_AND_ASSIGN(auto latest, store_->LatestCheckpoint({kOrigin, 1}));
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->SerializeAsString(), b.metadata.checkpoint);
}

// A db a process holds open (a running daemon) is never restored over.
TEST_P(BackupTest, RestoreRefusesWhileTheDbIsInUse) {
  AppendAndBackUp(3);
  absl::Status s =
      RestoreBackup(backups(), 0, storage_key_, data_dir(), nullptr, clock_.Now()).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("stop the service first"), std::string::npos) << s;
  EXPECT_FALSE(std::filesystem::exists(data_dir() + "/db.restoring"));
}

// [storage] backup_keep: keeping 2 over four backups leaves the two newest,
// and removing the older ones keeps the table files they share with the
// kept ones, so both still verify and restore.
TEST_P(BackupTest, KeepLeavesTheNewestBackupsWhichStillVerifyAndRestore) {
  std::vector<CreatedBackup> made;
  for (int i = 0; i < 4; ++i) made.push_back(AppendAndBackUpKeeping(3, /*keep=*/2));
  ASSERT_EQ(made.size(), 4u);
  for (const CreatedBackup& c : made) TB_EXPECT_OK(c.purge);
  EXPECT_EQ(made[0].backup.id, 1u);
  EXPECT_EQ(made[3].backup.id, 4u);
  EXPECT_TRUE(made[0].removed.empty());
  EXPECT_TRUE(made[1].removed.empty());
  EXPECT_EQ(made[2].removed, std::vector<uint32_t>({1}));
  EXPECT_EQ(made[3].removed, std::vector<uint32_t>({2}));
  EXPECT_EQ(IdsInFolder(), std::vector<uint32_t>({3, 4}));
  EXPECT_FALSE(std::filesystem::exists(backups() + "/meta/1"));
  EXPECT_FALSE(std::filesystem::exists(backups() + "/private/1"));
  EXPECT_FALSE(std::filesystem::exists(backups() + "/meta/2"));
  EXPECT_FALSE(std::filesystem::exists(backups() + "/private/2"));
  ExpectVerifiesAndRestores(3, 9);
  ExpectVerifiesAndRestores(4, 12);
}

// keep 0 removes nothing.
TEST_P(BackupTest, KeepZeroKeepsEveryBackup) {
  for (int i = 0; i < 4; ++i) {
    const CreatedBackup c = AppendAndBackUpKeeping(2, /*keep=*/0);
    TB_EXPECT_OK(c.purge);
    EXPECT_TRUE(c.removed.empty());
  }
  EXPECT_EQ(IdsInFolder(), std::vector<uint32_t>({1, 2, 3, 4}));
  ExpectVerifiesAndRestores(1, 2);
  ExpectVerifiesAndRestores(4, 8);
}

// keep 1 keeps exactly the backup just made, never an older one instead.
TEST_P(BackupTest, KeepOneKeepsTheBackupJustMade) {
  AppendAndBackUpKeeping(2, /*keep=*/1);
  const CreatedBackup second = AppendAndBackUpKeeping(2, /*keep=*/1);
  TB_EXPECT_OK(second.purge);
  EXPECT_EQ(second.backup.id, 2u);
  EXPECT_EQ(second.removed, std::vector<uint32_t>({1}));
  EXPECT_EQ(IdsInFolder(), std::vector<uint32_t>({2}));
  ExpectVerifiesAndRestores(2, 4);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(BackupTest);

}  // namespace
}  // namespace tongban::storage
