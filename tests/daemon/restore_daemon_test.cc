// A county restored from a backup loses nothing the national node holds
// (issue #20): backed up online (`tongbanctl backup create`) while it
// writes, it writes and syncs more, then is restored (`tongbanctl
// restore`) while the national node is down. Restored, it refuses writes (exit code 3) and
// says why in `status`, gRPC health and /healthz until the witness has
// answered; once the national node is back, it fetches the events it signed
// after the backup from it, verified against its own signed checkpoints,
// and only then takes writes: the same log, byte for byte, with the same
// roots, and the national node accepts what it writes next. Both suites.
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/restart.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "node/node.h"
#include "sync/transport.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/http.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/wait.h"

namespace tongban::node {
namespace {

using RestoreDaemonTest = DaemonTest;

// The root a checkpoint signs, for comparing two nodes' views of a log.
crypto::Digest RootOf(const v1::SignedCheckpoint& signed_checkpoint) {
  absl::StatusOr<merkle::Checkpoint> cp = merkle::ParseCheckpoint(signed_checkpoint.body());
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() ? cp->root : crypto::Digest{};
}

TEST_P(RestoreDaemonTest, ARestoredCountyFetchesItsOwnLogBackBeforeItAppends) {
  setenv("TONGBAND", TB_TONGBAND, 1);  // tongbanctl restore runs it
  const storage::LogId county_log{kCounty, 1};
  auto national_holds = [&](uint64_t size) {
    return testutil::WaitUntil(
        [&] {
          auto latest = national_->node().store()->CheckpointAtOrBelow(county_log, ~uint64_t{0});
          return latest.ok() && latest->has_value() && (*latest)->first >= size;
        },
        absl::Seconds(30), absl::StrCat("the national node to hold the county's log up to ", size));
  };
  TB_ASSERT_OK(As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", 1))).status());
  TB_ASSERT_OK_AND_ASSIGN(const uint64_t first, county_->node().store()->LastSeq(county_log));
  ASSERT_TRUE(national_holds(first));

  // Backed up online while a clerk goes on writing; more writes after it,
  // which reach the national node.
  const std::string data = dir_.File(kCounty) + "/data";
  std::string err, out;
  {
    std::thread writing([&] {
      auto clerk = As("clerk");
      for (int i = 2; i <= 21; ++i) {
        EXPECT_TRUE(clerk->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", i))).ok());
      }
    });
    EXPECT_EQ(Ctl("admin", {"backup", "create", "--reason", "test"}, &err, &out), 0) << err;
    writing.join();
  }
  for (int i = 22; i <= 24; ++i) {
    TB_ASSERT_OK(
        As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", i))).status());
  }
  TB_ASSERT_OK_AND_ASSIGN(const uint64_t written, county_->node().store()->LastSeq(county_log));
  ASSERT_TRUE(national_holds(written));
  TB_ASSERT_OK_AND_ASSIGN(auto national_checkpoint,
                          national_->node().store()->CheckpointAtOrBelow(county_log, written));
  ASSERT_TRUE(national_checkpoint.has_value());
  ASSERT_EQ(national_checkpoint->first, written);
  const crypto::Digest root_before = RootOf(national_checkpoint->second);

  // Restored with `tongbanctl restore` while the national node is down:
  // writes wait for the witness, however long it takes.
  TB_ASSERT_OK_AND_ASSIGN(Config config, LoadConfig(dir_.File(kCounty) + "/tongband.conf"));
  TB_ASSERT_OK_AND_ASSIGN(Config national_config,
                          LoadConfig(dir_.File("000000") + "/tongband.conf"));
  national_config.peer_listen = absl::StrCat("127.0.0.1:", national_->node().peer_port());
  national_config.batch_events = 2;  // the events come back over several calls
  national_->Stop();
  national_.reset();
  county_->Stop();
  county_.reset();
  ASSERT_EQ(RunCtl({"restore", "--from", data + "/backups", "--data-dir", data}, &err, &out), 0)
      << err;
  EXPECT_TRUE(std::filesystem::exists(absl::StrCat(data, "/", kRestoredMarkerFile)));
  NodeOptions quick;
  quick.witness_at_start = absl::Seconds(1);
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(config, RealClock(), quick));
  ASSERT_TRUE(county_->node().appends_blocked().has_value());
  EXPECT_TRUE(absl::StrContains(*county_->node().appends_blocked(), "restored from a backup"))
      << *county_->node().appends_blocked();
  TB_ASSERT_OK_AND_ASSIGN(v1::StatusReply status, As("clerk")->Status(v1::StatusRequest()));
  EXPECT_TRUE(absl::StrContains(status.writes_refused(), "restored from a backup"))
      << status.writes_refused();
  const std::string healthz = testutil::Get(county_->metrics_port(), "/healthz");
  EXPECT_EQ(testutil::StatusLine(healthz), "HTTP/1.1 503 Service Unavailable");
  EXPECT_TRUE(absl::StrContains(testutil::Body(healthz), "restored from a backup")) << healthz;
  EXPECT_EQ(Ctl("clerk",
                {"person", "register", testutil::MakeId(kCounty, "19900101", 25), "--name", "Li",
                 "--sex", "male", "--birth-date", "1990-01-01", "--hukou-region", kCounty},
                &err),
            3)
      << err;
  EXPECT_TRUE(absl::StrContains(err, "restored from a backup")) << err;
  // The backup holds a prefix of the log: what was written before it began
  // at least, and not what came after it.
  TB_ASSERT_OK_AND_ASSIGN(uint64_t held, county_->node().store()->LastSeq(county_log));
  EXPECT_GE(held, first);
  EXPECT_LT(held, written);

  // The national node comes back: the county fetches its events back and
  // takes writes again.
  TB_ASSERT_OK_AND_ASSIGN(national_, daemon::Daemon::Start(national_config, RealClock()));
  ASSERT_TRUE(testutil::WaitUntil([&] { return !county_->node().appends_blocked().has_value(); },
                                  absl::Seconds(60), "the county to recover its own log"));
  TB_ASSERT_OK_AND_ASSIGN(held, county_->node().store()->LastSeq(county_log));
  EXPECT_EQ(held, written);
  for (uint64_t seq = 1; seq <= written; ++seq) {
    TB_ASSERT_OK_AND_ASSIGN(std::string ours, county_->node().store()->GetEvent(county_log, seq));
    TB_ASSERT_OK_AND_ASSIGN(std::string theirs,
                            national_->node().store()->GetEvent(county_log, seq));
    EXPECT_EQ(ours, theirs) << "seq " << seq;
  }
  TB_ASSERT_OK_AND_ASSIGN(auto county_checkpoint,
                          county_->node().store()->CheckpointAtOrBelow(county_log, written));
  ASSERT_TRUE(county_checkpoint.has_value());
  EXPECT_EQ(county_checkpoint->first, written);
  EXPECT_EQ(RootOf(county_checkpoint->second), root_before);
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(data, "/", kRestoredMarkerFile)));
  const std::string healthy = testutil::Get(county_->metrics_port(), "/healthz");
  EXPECT_EQ(testutil::StatusLine(healthy), "HTTP/1.1 200 OK") << healthy;

  // What it writes next follows on, and the national node takes it (no
  // fork: the same seqs were not signed twice).
  TB_ASSERT_OK(As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", 26))).status());
  TB_ASSERT_OK_AND_ASSIGN(held, county_->node().store()->LastSeq(county_log));
  EXPECT_EQ(held, written + 1);
  EXPECT_TRUE(national_holds(written + 1));
  TB_ASSERT_OK_AND_ASSIGN(
      std::optional<std::string> frozen,
      national_->node().store()->Get(storage::Cf::kDefault, storage::FrozenKey(county_log)));
  EXPECT_FALSE(frozen.has_value());
}

// Events signed after the backup that never left the county (the national
// node was down) cannot be fetched back: the restored county closes its
// epoch at the size the national node holds under a restart record the
// national node countersigns, names the lost seqs, and from its next start
// appends in the next epoch, which the national node accepts.
TEST_P(RestoreDaemonTest, EventsThatNeverLeftEndInANewEpochUnderACountersignedRestartRecord) {
  setenv("TONGBAND", TB_TONGBAND, 1);  // tongbanctl restore runs it
  const storage::LogId epoch1{kCounty, 1};
  const storage::LogId epoch2{kCounty, 2};
  TB_ASSERT_OK(As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", 1))).status());
  TB_ASSERT_OK_AND_ASSIGN(const uint64_t kept, county_->node().store()->LastSeq(epoch1));
  ASSERT_TRUE(testutil::WaitUntil(
      [&] {
        auto latest = national_->node().store()->CheckpointAtOrBelow(epoch1, ~uint64_t{0});
        return latest.ok() && latest->has_value() && (*latest)->first >= kept;
      },
      absl::Seconds(30), "the national node to hold the county's first event"));
  const std::string data = dir_.File(kCounty) + "/data";
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"backup", "create"}, &err, &out), 0) << err;

  // The national node goes down; the county signs three more events, which
  // never leave it.
  TB_ASSERT_OK_AND_ASSIGN(Config national_config,
                          LoadConfig(dir_.File("000000") + "/tongband.conf"));
  national_config.peer_listen = absl::StrCat("127.0.0.1:", national_->node().peer_port());
  national_->Stop();
  national_.reset();
  for (int i = 2; i <= 4; ++i) {
    TB_ASSERT_OK(
        As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", i))).status());
  }
  TB_ASSERT_OK_AND_ASSIGN(const uint64_t signed_size, county_->node().store()->LastSeq(epoch1));
  ASSERT_EQ(signed_size, kept + 3);
  TB_ASSERT_OK(county_->node().writer()->WaitForCheckpoint(signed_size, absl::Seconds(30)));

  // Restored over that data: the restore notes what it had signed.
  TB_ASSERT_OK_AND_ASSIGN(Config config, LoadConfig(dir_.File(kCounty) + "/tongband.conf"));
  county_->Stop();
  county_.reset();
  ASSERT_EQ(RunCtl({"restore", "--from", data + "/backups", "--data-dir", data}, &err, &out), 0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat(kCounty, "/1 ", signed_size))) << out;
  TB_ASSERT_OK_AND_ASSIGN(national_, daemon::Daemon::Start(national_config, RealClock()));
  NodeOptions quick;
  quick.witness_at_start = absl::Seconds(1);
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(config, RealClock(), quick));
  const std::string lost = absl::StrCat(kCounty, "/1/", kept + 1, "..", signed_size);
  ASSERT_TRUE(testutil::WaitUntil(
      [&] {
        std::optional<std::string> why = county_->node().appends_blocked();
        return why.has_value() && absl::StrContains(*why, "restart it");
      },
      absl::Seconds(60), "the county to close its epoch"));
  const std::string why = *county_->node().appends_blocked();
  EXPECT_TRUE(absl::StrContains(why, lost)) << why;
  EXPECT_EQ(Ctl("clerk",
                {"person", "register", testutil::MakeId(kCounty, "19900101", 5), "--name", "Li",
                 "--sex", "male", "--birth-date", "1990-01-01", "--hukou-region", kCounty},
                &err),
            3)
      << err;

  // Both nodes keep the restart record, countersigned by the national node.
  for (daemon::Daemon* d : {county_.get(), national_.get()}) {
    TB_ASSERT_OK_AND_ASSIGN(
        std::optional<std::string> stored,
        d->node().store()->Get(storage::Cf::kDefault, storage::RestartKey(epoch1)));
    ASSERT_TRUE(stored.has_value());
    v1::CosignedRestart record;
    ASSERT_TRUE(record.ParseFromString(*stored));
    const crypto::PublicKey* national_key =
        d->node().roster().FindSigningKey("000000", record.key_id());
    ASSERT_NE(national_key, nullptr);
    TB_ASSERT_OK_AND_ASSIGN(merkle::Restart r, merkle::VerifyRestartCosignature(
                                                   {record.witness(), record.key_id(),
                                                    record.time_micros(), record.signature()},
                                                   record.restart().body(), *national_key));
    EXPECT_EQ(r.kept_size, kept);
    EXPECT_EQ(r.signed_size, signed_size);
    EXPECT_EQ(r.new_epoch, 2u);
  }

  // From the next start the county appends in epoch 2, and the national
  // node takes it: nothing frozen, epoch 1 still ends where it did.
  county_->Stop();
  county_.reset();
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(config, RealClock()));
  EXPECT_FALSE(county_->node().appends_blocked().has_value());
  TB_ASSERT_OK_AND_ASSIGN(
      v1::WriteReply written,
      As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", 6))));
  EXPECT_EQ(written.event().epoch(), 2u);
  EXPECT_EQ(written.event().seq(), 1u);
  ASSERT_TRUE(testutil::WaitUntil(
      [&] {
        auto last = national_->node().store()->LastSeq(epoch2);
        return last.ok() && *last == 1;
      },
      absl::Seconds(30), "the national node to take the county's epoch 2"));
  TB_ASSERT_OK_AND_ASSIGN(std::string ours, county_->node().store()->GetEvent(epoch2, 1));
  TB_ASSERT_OK_AND_ASSIGN(std::string theirs, national_->node().store()->GetEvent(epoch2, 1));
  EXPECT_EQ(ours, theirs);
  TB_ASSERT_OK_AND_ASSIGN(uint64_t national_epoch1, national_->node().store()->LastSeq(epoch1));
  EXPECT_EQ(national_epoch1, kept);
  for (const storage::LogId& log : {epoch1, epoch2}) {
    TB_ASSERT_OK_AND_ASSIGN(
        std::optional<std::string> frozen,
        national_->node().store()->Get(storage::Cf::kDefault, storage::FrozenKey(log)));
    EXPECT_FALSE(frozen.has_value()) << log.epoch;
  }
}

// The national node countersigns only a restart record it can stand
// behind: the asker's own, signed with its roster key, closing the epoch
// exactly where its own copy ends, once. A retry gets the same answer.
TEST_P(RestoreDaemonTest, TheNationalNodeCountersignsOnlyARestartRecordItCanStandBehind) {
  const storage::LogId epoch1{kCounty, 1};
  TB_ASSERT_OK(As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", 1))).status());
  TB_ASSERT_OK_AND_ASSIGN(const uint64_t kept, county_->node().store()->LastSeq(epoch1));
  ASSERT_TRUE(testutil::WaitUntil(
      [&] {
        auto last = national_->node().store()->LastSeq(epoch1);
        return last.ok() && *last == kept;
      },
      absl::Seconds(30), "the national node to hold the county's event"));
  const std::string target = absl::StrCat("127.0.0.1:", national_->node().peer_port());
  auto ask = [&](const merkle::Restart& r, const crypto::PrivateKey& key,
                 bool forge = false) -> absl::StatusOr<v1::CosignedRestart> {
    TB_ASSIGN_OR_RETURN(merkle::SignedRestart s, merkle::SignRestart(r, key));
    v1::SignedRestart request;
    request.set_body(s.body);
    request.set_signature(s.signature);
    if (forge) (*request.mutable_signature())[request.signature().size() / 2] ^= 1;
    return sync::CountersignRestart("000000", target, county_->node().tls(), request,
                                    absl::Seconds(10));
  };
  merkle::Restart r;
  r.origin = kCounty;
  r.epoch = 1;
  r.kept_size = kept;
  r.signed_size = kept + 2;
  r.new_epoch = 2;
  r.time_micros = absl::ToUnixMicros(absl::Now());
  const crypto::PrivateKey& county_key = county_->node().signing_key();

  merkle::Restart other = r;
  other.origin = "440305";  // not the asker
  EXPECT_EQ(ask(other, county_key).status().code(), absl::StatusCode::kPermissionDenied);
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> stranger,
                          crypto::GetSuite(GetParam()).GenerateKey());
  EXPECT_EQ(ask(r, *stranger).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ask(r, county_key, /*forge=*/true).status().code(), absl::StatusCode::kInvalidArgument);
  merkle::Restart short_of_it = r;
  short_of_it.kept_size = kept - 1;  // would drop an event the national node holds
  absl::Status refused = ask(short_of_it, county_key).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "fetch the log back first")) << refused;
  TB_ASSERT_OK_AND_ASSIGN(
      std::optional<std::string> none,
      national_->node().store()->Get(storage::Cf::kDefault, storage::RestartKey(epoch1)));
  EXPECT_FALSE(none.has_value()) << "a refused record was stored";

  TB_ASSERT_OK_AND_ASSIGN(v1::CosignedRestart first, ask(r, county_key));
  const crypto::PublicKey* national_key =
      national_->node().roster().FindSigningKey("000000", first.key_id());
  ASSERT_NE(national_key, nullptr);
  TB_EXPECT_OK(merkle::VerifyRestartCosignature(
                   {first.witness(), first.key_id(), first.time_micros(), first.signature()},
                   first.restart().body(), *national_key)
                   .status());
  // The same record again: the stored answer. Another one for the epoch:
  // refused.
  absl::StatusOr<v1::CosignedRestart> again = sync::CountersignRestart(
      "000000", target, county_->node().tls(), first.restart(), absl::Seconds(10));
  TB_ASSERT_OK(again.status());
  EXPECT_EQ(again->SerializeAsString(), first.SerializeAsString());
  merkle::Restart second = r;
  second.signed_size = kept + 5;
  EXPECT_EQ(ask(second, county_key).status().code(), absl::StatusCode::kFailedPrecondition);

  // The epoch is closed at the national node: an event the county signs in
  // it after all is refused there (FROZEN), not applied.
  TB_ASSERT_OK(As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", 2))).status());
  EXPECT_TRUE(testutil::WaitUntil(
      [&] {
        auto counts = national_->node().store()->ListCounters("rejected/");
        return counts.ok() && counts->count("rejected/REJECT_REASON_FROZEN") == 1 &&
               counts->at("rejected/REJECT_REASON_FROZEN") >= 1;
      },
      absl::Seconds(30), "the national node to refuse the closed epoch's new event"));
  TB_ASSERT_OK_AND_ASSIGN(uint64_t held, national_->node().store()->LastSeq(epoch1));
  EXPECT_EQ(held, kept);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(RestoreDaemonTest);

}  // namespace
}  // namespace tongban::node
