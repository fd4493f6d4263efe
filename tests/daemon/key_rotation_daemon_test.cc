// Signing-key rotation on a running county (issue #20, DESIGN.md section 3):
// `tongbanctl keys rotate` makes a key on the county's own machine and puts
// the rotation entry in its log; the national node accepts what the county
// signs with the new key from the entry alone (no new roster), the county
// goes on with it across a restart (its audit chain, signed by both keys,
// still verifies), and a restore from a backup older than the rotation
// fetches the entry back with the rest of the log and signs on with the new
// key, after checking the witness's answer under the national node's own
// rotated key. Both suites.
#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/key_file.h"
#include "common/merkle/checkpoint.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "node/node.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/wait.h"

namespace tongban::node {
namespace {

using KeyRotationDaemonTest = DaemonTest;

TEST_P(KeyRotationDaemonTest, ACountyRotatesItsKeyAndTheNationalNodeFollowsItEverywhere) {
  setenv("TONGBAND", TB_TONGBAND, 1);  // tongbanctl restore runs it
  const storage::LogId log{kCounty, 1};
  const std::string data = dir_.File(kCounty) + "/data";
  int next_person = 1;
  auto write = [&] {
    return As("clerk")
        ->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", next_person++)))
        .status();
  };
  // The national node holds the county's log up to the county's last seq,
  // under a checkpoint signed by `key_id`.
  auto national_holds_all = [&](const std::string& key_id) {
    return testutil::WaitUntil(
        [&] {
          absl::StatusOr<uint64_t> last = county_->node().store()->LastSeq(log);
          auto cp = national_->node().store()->CheckpointAtOrBelow(log, ~uint64_t{0});
          if (!last.ok() || !cp.ok() || !cp->has_value() || (*cp)->first != *last) return false;
          absl::StatusOr<merkle::Checkpoint> parsed = merkle::ParseCheckpoint((*cp)->second.body());
          return parsed.ok() && parsed->key_id == key_id;
        },
        absl::Seconds(30), "the national node to hold the county's whole log");
  };
  const std::string old_id = county_->node().signing_key().public_key().KeyId();
  TB_ASSERT_OK(write());
  ASSERT_TRUE(national_holds_all(old_id));
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"backup", "create"}, &err, &out), 0) << err;  // for the restore below

  // Administrators only.
  EXPECT_EQ(Ctl("clerk", {"keys", "rotate"}, &err), 3) << err;
  ASSERT_EQ(Ctl("admin", {"keys", "rotate", "--reason", "yearly rotation"}, &err, &out), 0) << err;
  const std::string new_id = county_->node().signing_key().public_key().KeyId();
  EXPECT_NE(new_id, old_id);
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("signed by key ", new_id, " from epoch 1 seq 2")))
      << out;
  const crypto::Suite& suite = crypto::GetSuite(GetParam());
  TB_ASSERT_OK_AND_ASSIGN(auto pub, crypto::ReadPublicKeyFile(suite, data + "/signing.pub"));
  EXPECT_EQ(pub->KeyId(), new_id);
  EXPECT_TRUE(std::filesystem::exists(absl::StrCat(data, "/retired-signing-", old_id, ".key")));
  EXPECT_FALSE(std::filesystem::exists(data + "/signing.key.next"));
  TB_ASSERT_OK_AND_ASSIGN(v1::StatusReply status, As("admin")->Status(v1::StatusRequest()));
  EXPECT_EQ(status.signing_key_id(), new_id);

  // What it writes next reaches the national node, which took the new key
  // from the rotation entry (its roster lists only the old one).
  ASSERT_EQ(national_->node().roster().FindSigningKey(kCounty, new_id), nullptr);
  TB_ASSERT_OK(write());
  ASSERT_TRUE(national_holds_all(new_id));
  TB_ASSERT_OK_AND_ASSIGN(auto rotations, national_->node().store()->KeyRotations(kCounty));
  EXPECT_EQ(rotations.size(), 1u);

  // Restarted, it goes on with the new key; its audit chain, whose
  // checkpoints the old and the new key signed, still verifies.
  TB_ASSERT_OK_AND_ASSIGN(Config config, LoadConfig(dir_.File(kCounty) + "/tongband.conf"));
  county_->Stop();
  county_.reset();
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(config, RealClock()));
  EXPECT_EQ(county_->node().signing_key().public_key().KeyId(), new_id);
  TB_ASSERT_OK(write());
  ASSERT_TRUE(national_holds_all(new_id));
  EXPECT_EQ(Ctl("auditor", {"audit"}, &err, &out), 0) << err;
  TB_ASSERT_OK_AND_ASSIGN(const uint64_t written, county_->node().store()->LastSeq(log));

  // The national node rotates its key too: its witness cosigns with the new
  // key, which no roster lists, so the county below must take it from the
  // national node's rotation, which the witness's answer carries.
  ASSERT_EQ(Ctl("admin", {"keys", "rotate"}, &err, &out, "000000"), 0) << err;
  const std::string witness_id = national_->node().signing_key().public_key().KeyId();
  EXPECT_EQ(county_->node().roster().FindSigningKey("000000", witness_id), nullptr);
  // Its revocation list is checked offline against the roster alone: not
  // signed with a key the roster does not list yet.
  EXPECT_EQ(Ctl("admin", {"certificate", "revocations", "--out", dir_.File("revocations.bin")},
                &err, nullptr, "000000"),
            3)
      << err;
  EXPECT_TRUE(absl::StrContains(err, "roster add-key")) << err;
  EXPECT_FALSE(std::filesystem::exists(dir_.File("revocations.bin")));

  // Restored from the backup made before the rotation: the county fetches
  // its log back from the national node, rotation entry and all, verified
  // against its own checkpoints, and signs on with the new key.
  TB_ASSERT_OK_AND_ASSIGN(Config national_config,
                          LoadConfig(dir_.File("000000") + "/tongband.conf"));
  national_config.peer_listen = absl::StrCat("127.0.0.1:", national_->node().peer_port());
  county_->Stop();
  county_.reset();
  ASSERT_EQ(RunCtl({"restore", "--from", data + "/backups", "--data-dir", data}, &err, &out), 0)
      << err;
  NodeOptions quick;
  quick.witness_at_start = absl::Seconds(1);
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(config, RealClock(), quick));
  ASSERT_TRUE(testutil::WaitUntil([&] { return !county_->node().appends_blocked().has_value(); },
                                  absl::Seconds(60), "the county to recover its own log"));
  TB_ASSERT_OK_AND_ASSIGN(uint64_t held, county_->node().store()->LastSeq(log));
  EXPECT_EQ(held, written);
  TB_ASSERT_OK_AND_ASSIGN(auto witness_rotations, county_->node().store()->KeyRotations("000000"));
  EXPECT_EQ(witness_rotations.size(), 1u);
  EXPECT_EQ(county_->node().signing_key().public_key().KeyId(), new_id);
  TB_ASSERT_OK(write());
  ASSERT_TRUE(national_holds_all(new_id));
  TB_ASSERT_OK_AND_ASSIGN(
      std::optional<std::string> frozen,
      national_->node().store()->Get(storage::Cf::kDefault, storage::FrozenKey(log)));
  EXPECT_FALSE(frozen.has_value());
}

TB_INSTANTIATE_FOR_BOTH_SUITES(KeyRotationDaemonTest);

}  // namespace
}  // namespace tongban::node
