// Backups of a running county through tongbanctl: backup create (an
// administrator may, a clerk is refused with exit 3, both audited), then the
// offline commands (run in `tongband backup-tool`): list, verify, a wrong or
// missing storage key, restore refused while the daemon runs and done once it
// is stopped. Both suites.
#include <stdlib.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "common/crypto/key_file.h"
#include "google/protobuf/util/json_util.h"
#include "storage/store.h"
#include "tests/daemon/daemon_fixture.h"

namespace tongban::node {
namespace {

constexpr absl::string_view kKeyError =
    "this backup cannot be opened without the storage key it was written with; the storage key "
    "is kept apart from backups";

class BackupDaemonTest : public DaemonTest {
 protected:
  void SetUp() override {
    // tongbanctl runs the offline commands in the tongband it finds here.
    setenv("TONGBAND", TB_TONGBAND, 1);
    DaemonTest::SetUp();
  }

  std::string Data() const { return dir_.File(kCounty) + "/data"; }
  std::string Backups() const { return Data() + "/backups"; }

  void Write(int n) {
    for (int i = 0; i < n; ++i) {
      const std::string person = testutil::MakeId(kCounty, "19800101", next_person_++);
      TB_ASSERT_OK(As("clerk")->Write(BasicsWrite(person)).status());
    }
  }

  // The county's own log in its stored database (daemon stopped).
  uint64_t OwnEvents(const std::string& db) {
    storage::StoreOptions o;
    o.path = db;
    o.suite = GetParam();
    auto key = crypto::ReadStorageKeyFile(crypto::GetSuite(GetParam()), Data() + "/storage.key");
    EXPECT_TRUE(key.ok()) << key.status();
    o.storage_key = key.value_or("");
    auto store = storage::Store::Open(o);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return 0;
    return (*store)->LastSeq({kCounty, 1}).value_or(0);
  }

  // Runs the tongband binary with `args`; its exit code, stderr in `err`.
  int Tongband(std::vector<std::string> args, std::string* err) {
    args.insert(args.begin(), TB_TONGBAND);
    return Spawn(std::move(args), err);
  }

  int next_person_ = 1;
};

// tongband --check-config names a backup folder the daemon could not
// create or write.
TEST_P(BackupDaemonTest, CheckConfigNamesABackupFolderThatCannotBeWritten) {
  const std::string conf = dir_.File(kCounty) + "/tongband.conf";
  std::string err;
  ASSERT_EQ(Tongband({"--config", conf, "--check-config", "--user", "root"}, &err), 0) << err;
  const std::string blocker = dir_.File("a-file");
  std::ofstream(blocker) << "x";
  std::ofstream(conf, std::ios::app) << "\n[storage]\nbackup_dir = \"" << blocker << "/backups\"\n";
  EXPECT_EQ(Tongband({"--config", conf, "--check-config", "--user", "root"}, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "storage.backup_dir")) << err;
  EXPECT_TRUE(absl::StrContains(err, blocker + " is not a folder")) << err;
}

TEST_P(BackupDaemonTest, AdministratorBacksUpAClerkIsRefusedBothAudited) {
  Write(3);
  std::string err, out;
  ASSERT_EQ(Ctl("clerk", {"backup", "create"}, &err, &out), 3) << err;
  EXPECT_TRUE(absl::StrContains(err, "clerk")) << err;
  EXPECT_FALSE(std::filesystem::exists(Backups() + "/meta"));

  ASSERT_EQ(Ctl("admin", {"backup", "create", "--reason", "before upgrade"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("backup 1 written to ", Backups()))) << out;
  ASSERT_EQ(Ctl("admin", {"backup", "create", "--json"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "\"backup_id\": 2")) << out;

  v1::AuditRequest q;
  q.set_action("node.backup");
  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply trail, As("auditor")->Audit(q));
  ASSERT_EQ(trail.entries_size(), 3);  // newest first
  EXPECT_EQ(trail.entries(2).operator_(), "clerk");
  EXPECT_NE(trail.entries(2).outcome(), "OK");
  EXPECT_EQ(trail.entries(1).operator_(), "admin");
  EXPECT_EQ(trail.entries(1).reason(), "backup: before upgrade");
  EXPECT_EQ(trail.entries(1).outcome(), "OK");

  // Offline, without the key: the two backups with their checkpoints.
  ASSERT_EQ(RunCtl({"backup", "list", "--dir", Backups()}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "CHECKPOINT")) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3) << out;
  EXPECT_TRUE(absl::StrContains(out, kCounty)) << out;
  ASSERT_EQ(RunCtl({"backup", "list", "--dir", Backups(), "--json"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "\"backup_id\": 2")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\"checkpoint_size\"")) << out;
}

TEST_P(BackupDaemonTest, VerifyChecksTheBackupAndRefusesAWrongOrMissingKey) {
  Write(4);
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"backup", "create"}, &err, &out), 0) << err;
  ASSERT_EQ(RunCtl({"backup", "verify", "--dir", Backups(), "--data-dir", Data()}, &err, &out), 0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "backup 1 in " + Backups() + ": OK")) << out;
  EXPECT_TRUE(absl::StrContains(out, "matches the stored Merkle tree")) << out;

  // Another key of the same suite.
  const std::string other = dir_.File("other.key");
  TB_ASSERT_OK(crypto::GenerateStorageKeyFile(crypto::GetSuite(GetParam()), other));
  EXPECT_EQ(RunCtl({"backup", "verify", "--dir", Backups(), "--storage-key", other, "--public-key",
                    Data() + "/signing.pub"},
                   &err, &out),
            3);
  EXPECT_TRUE(absl::StartsWith(err, absl::StrCat("tongbanctl: backup verify: ", kKeyError))) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  // No key at all.
  EXPECT_EQ(
      RunCtl({"backup", "verify", "--dir", Backups(), "--public-key", Data() + "/signing.pub"},
             &err, &out),
      3);
  EXPECT_TRUE(absl::StrContains(err, kKeyError)) << err;
  // One flipped byte in a backed-up table file: refused, naming the damage.
  std::string sst;
  for (const auto& e : std::filesystem::recursive_directory_iterator(Backups())) {
    if (e.path().extension() == ".sst") sst = e.path().string();
  }
  ASSERT_FALSE(sst.empty());
  std::string bytes = testutil::Contents(sst);
  bytes[4096 + 30] = static_cast<char>(bytes[4096 + 30] ^ 0x10);
  std::ofstream(sst, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_EQ(RunCtl({"backup", "verify", "--dir", Backups(), "--data-dir", Data()}, &err, &out), 3);
  EXPECT_TRUE(absl::StrContains(err, "is damaged")) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  // A folder with no backups, an unknown id.
  EXPECT_EQ(RunCtl({"backup", "list", "--dir", dir_.File("none")}, &err, &out), 2);
  EXPECT_TRUE(absl::StrContains(err, dir_.File("none") + ": no such folder")) << err;
  EXPECT_EQ(RunCtl({"backup", "verify", "--dir", Backups(), "--id", "9", "--data-dir", Data()},
                   &err, &out),
            2);
  EXPECT_TRUE(absl::StrContains(err, "no backup 9 (backups there: 1)")) << err;
}

TEST_P(BackupDaemonTest, RestoreWaitsForTheStoppedDaemonAndKeepsTheOldDb) {
  Write(3);
  TB_ASSERT_OK_AND_ASSIGN(v1::StatusReply at_backup, As("clerk")->Status(v1::StatusRequest()));
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"backup", "create"}, &err, &out), 0) << err;
  Write(2);  // lost by the restore; the national node holds them
  EXPECT_EQ(RunCtl({"restore", "--from", Backups(), "--data-dir", Data()}, &err, &out), 3);
  EXPECT_TRUE(absl::StrContains(err, "stop the service first")) << err;

  county_->Stop();
  county_.reset();
  const uint64_t before = OwnEvents(Data() + "/db");
  EXPECT_EQ(before, at_backup.log_size() + 2);
  // Another node's public key: its checkpoint does not verify, nothing moves.
  const std::string pub = Data() + "/signing.pub";
  std::filesystem::rename(pub, pub + ".own");
  std::filesystem::copy_file(dir_.File("000000") + "/data/signing.pub", pub);
  EXPECT_EQ(RunCtl({"restore", "--from", Backups(), "--data-dir", Data()}, &err, &out), 3);
  EXPECT_TRUE(absl::StrContains(err, "does not verify with the node's public key")) << err;
  EXPECT_TRUE(absl::StrContains(err, Data() + "/db is unchanged")) << err;
  EXPECT_FALSE(std::filesystem::exists(Data() + "/db.restoring"));
  EXPECT_EQ(OwnEvents(Data() + "/db"), before);
  std::filesystem::rename(pub + ".own", pub);

  const std::string copied_key = dir_.File("kept-apart.key");
  std::filesystem::copy_file(Data() + "/storage.key", copied_key);
  std::filesystem::permissions(
      copied_key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::filesystem::remove(Data() + "/storage.key");
  ASSERT_EQ(
      RunCtl({"restore", "--from", Backups(), "--data-dir", Data(), "--storage-key", copied_key},
             &err, &out),
      0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "national node's witness")) << out;
  EXPECT_TRUE(std::filesystem::exists(Data() + "/storage.key"));
  EXPECT_EQ(testutil::ModeOf(Data() + "/storage.key") & 0777, 0600u);
  std::string aside;
  for (const auto& e : std::filesystem::directory_iterator(Data())) {
    if (absl::StartsWith(e.path().filename().string(), "db.before-restore-")) {
      aside = e.path().string();
    }
  }
  ASSERT_FALSE(aside.empty());
  EXPECT_TRUE(absl::StrContains(out, aside)) << out;
  EXPECT_EQ(OwnEvents(aside), before);
  EXPECT_EQ(OwnEvents(Data() + "/db"), at_backup.log_size());
}

// [storage] backup_keep = 1: each backup removes the one before it, and
// tongbanctl backup create names what it removed (in --json too); the
// backup kept still verifies, and the audit entry counts the removal.
TEST_P(BackupDaemonTest, BackupKeepOneLeavesOneBackupAndNamesTheRemovedOne) {
  county_->Stop();
  county_.reset();
  const std::string conf = dir_.File(kCounty) + "/tongband.conf";
  std::ofstream(conf, std::ios::app) << "\n[storage]\nbackup_keep = 1\n";
  TB_ASSERT_OK_AND_ASSIGN(Config county, LoadConfig(conf));
  ASSERT_EQ(county.backup_keep, 1u);
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(county, RealClock()));

  Write(2);
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"backup", "create"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("backup 1 written to ", Backups()))) << out;
  EXPECT_FALSE(absl::StrContains(out, "removed")) << out;
  Write(1);
  ASSERT_EQ(Ctl("admin", {"backup", "create"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("backup 2 written to ", Backups()))) << out;
  EXPECT_TRUE(absl::StrContains(out, "removed older backup 1 (keeping the newest 1,")) << out;

  ASSERT_EQ(RunCtl({"backup", "list", "--dir", Backups()}, &err, &out), 0) << err;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;  // header and backup 2
  ASSERT_EQ(RunCtl({"backup", "list", "--dir", Backups(), "--json"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "\"backup_id\": 2")) << out;
  EXPECT_FALSE(absl::StrContains(out, "\"backup_id\": 1")) << out;
  ASSERT_EQ(RunCtl({"backup", "verify", "--dir", Backups(), "--data-dir", Data()}, &err, &out), 0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "backup 2 in " + Backups() + ": OK")) << out;

  ASSERT_EQ(Ctl("admin", {"backup", "create", "--json"}, &err, &out), 0) << err;
  v1::BackupReply reply;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &reply).ok()) << out;
  EXPECT_EQ(reply.backup_id(), 3u);
  EXPECT_EQ(reply.backup_keep(), 1u);
  ASSERT_EQ(reply.removed_backup_ids_size(), 1) << out;
  EXPECT_EQ(reply.removed_backup_ids(0), 2u);
  EXPECT_EQ(reply.purge_error(), "");

  v1::AuditRequest q;
  q.set_action("node.backup");
  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply trail, As("auditor")->Audit(q));
  ASSERT_EQ(trail.entries_size(), 3);  // newest first
  EXPECT_EQ(trail.entries(0).reason(), "backup (removed 1 older)");
  EXPECT_EQ(trail.entries(2).reason(), "backup");
}

TB_INSTANTIATE_FOR_BOTH_SUITES(BackupDaemonTest);

}  // namespace
}  // namespace tongban::node
