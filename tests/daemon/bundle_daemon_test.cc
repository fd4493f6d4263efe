// Offline exchange end to end (issue #18, node/bundles.h): two counties that
// never open a session -- only one of them runs at a time, and the national
// node never runs -- exchange a person's history in both directions by
// bundles made and read with the tongbanctl binary, and every refusal leaves
// the recipient's store as it was. Both suites.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto/key_file.h"
#include "common/crypto/seal_to.h"
#include "common/ids/citizen_id.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "sync/bundle.h"
#include "tests/testutil/files.h"
#include "tests/testutil/ports.h"
#include "tests/testutil/records.h"
#include "tests/testutil/spawn.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"
#include "tongbanctl/admin_client.h"

extern char** environ;

namespace tongban::node {
namespace {

using testutil::kOrigin;
using testutil::kResidence;

class BundleTest : public ::testing::TestWithParam<crypto::SuiteId> {
 protected:
  void SetUp() override {
    SetMinLogLevel(LogLevel::kWarning);
    const int free = testutil::FreePortBlock(6);
    ASSERT_GT(free, 0) << "no free loopback ports";
    std::string err;
    ASSERT_EQ(Spawn({"/bin/bash", TB_SETUP_SCRIPT, TB_BUILD_DIR, dir_.path(),
                     std::string(crypto::SuiteName(GetParam())), absl::StrCat(free), "000000",
                     kOrigin, kResidence},
                    &err),
              0)
        << err;
    for (const char* code : {kOrigin, kResidence}) {
      const std::string path = dir_.File(code) + "/tongband.conf";
      std::string text = testutil::Contents(path);
      // The setup's fixed loopback ports, for a node run as a process.
      std::ofstream(dir_.File(code) + "/fixed.conf") << text;
      for (const char* section : {"[peer]\nlisten = ", "[admin]\nlisten = "}) {
        const size_t at = text.find(section) + std::string(section).size();
        text.replace(at, text.find('\n', at) - at, "\"127.0.0.1:0\"");
      }
      std::ofstream(path) << text;
    }
    person_ = testutil::MakeId(kOrigin, "19900101", 12);
  }

  void TearDown() override { Stop(); }

  // Starts node `code` alone: no other node runs, so no session can open.
  void Run(const std::string& code) {
    Stop();
    TB_ASSERT_OK_AND_ASSIGN(Config config, LoadConfig(dir_.File(code) + "/tongband.conf"));
    NodeOptions options;
    options.witness_at_start = absl::Seconds(1);  // the national node is not running
    TB_ASSERT_OK_AND_ASSIGN(running_, daemon::Daemon::Start(config, RealClock(), options));
    code_ = code;
    ASSERT_TRUE(running_->node().WaitForStartCheck(absl::Seconds(30)));
  }
  void Stop() {
    if (running_ != nullptr) running_->Stop();
    running_.reset();
  }

  std::vector<std::string> Connection(const std::string& who) {
    const std::string ops = dir_.File(code_) + "/operators/";
    const int port = running_ != nullptr ? running_->admin_port() : process_admin_port_;
    return {"--node",
            absl::StrCat("127.0.0.1:", port),
            "--ca",
            dir_.File(code_) + "/tls/ca.crt",
            "--cert",
            ops + who + ".crt",
            "--key",
            ops + who + ".key",
            "--password-file",
            ops + who + ".password"};
  }

  std::unique_ptr<cli::AdminClient> As(const std::string& who) {
    auto args = cli::Args::Parse(Connection(who), cli::ConnectionFlags(), 0, 0);
    EXPECT_TRUE(args.ok()) << args.status();
    auto client = cli::AdminClient::FromArgs(*args);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  // tongbanctl `args` as `who` against the running node.
  int Ctl(const std::string& who, std::vector<std::string> args, std::string* err,
          std::string* out = nullptr) {
    for (std::string& c : Connection(who)) args.push_back(std::move(c));
    args.insert(args.begin(), TB_TONGBANCTL);
    return Spawn(std::move(args), err, out);
  }

  // Starts `args` without waiting, its output to `log`; its pid.
  pid_t Start(const std::vector<std::string>& args, const std::string& log) {
    return testutil::SpawnDetached(args, log, log);
  }

  int Spawn(const std::vector<std::string>& args, std::string* err, std::string* out = nullptr) {
    return testutil::SpawnAndWait(args, dir_.File("spawned"), err, out);
  }

  void Write(const storage::RecordChange& c) {
    v1::WriteRequest w;
    w.set_person(c.person);
    w.set_kind(c.kind);
    w.set_record_id(c.record_id);
    *w.mutable_value() = c.value;
    absl::StatusOr<v1::WriteReply> written = As("clerk")->Write(w);
    ASSERT_TRUE(written.ok()) << written.status();
  }

  // The person's records as the running node holds them, in a comparable
  // form ("" if it holds none).
  std::string PersonState() {
    v1::PersonRequest r;
    r.set_person(person_);
    r.set_reason("bundle test");
    absl::StatusOr<v1::PersonReply> got = As("clerk")->GetPerson(r);
    if (!got.ok()) return got.status().ToString();
    std::vector<std::string> records;
    // The audience (who the writer routed a record to) is the writer's
    // own bookkeeping; the rest is the record's state.
    for (v1::Record rec : got->records()) {
      rec.mutable_state()->clear_audience();
      records.push_back(rec.SerializeAsString());
    }
    std::sort(records.begin(), records.end());
    return absl::StrJoin(records, "|");
  }

  // What a refused bundle must leave as it was: the person's records and
  // the logs held.
  std::string StoreState() {
    absl::StatusOr<v1::StatusReply> s = As("admin")->Status(v1::StatusRequest());
    EXPECT_TRUE(s.ok()) << s.status();
    return absl::StrCat(PersonState(), "#", s.ok() ? s->logs_held() : 0, "#",
                        s.ok() ? s->log_size() : 0);
  }

  v1::BundleSummary Export(const std::string& to, const std::string& out,
                           std::vector<std::string> extra = {}) {
    std::string err, json;
    std::vector<std::string> args = {"bundle", "export", "--to", to, "--out", out, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(Ctl("admin", args, &err, &json), 0) << err;
    v1::BundleSummary summary;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &summary).ok()) << json;
    return summary;
  }

  v1::ImportBundleReply Import(const std::string& file, const std::string& ack) {
    std::string err, json;
    EXPECT_EQ(Ctl("admin", {"bundle", "import", file, "--ack-out", ack, "--json"}, &err, &json), 0)
        << err;
    v1::ImportBundleReply reply;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &reply).ok()) << json;
    return reply;
  }

  // Imports `file`, which must be refused with `expect` in the message and
  // leave the store as it was.
  void Refused(const std::string& file, const std::string& expect) {
    const std::string before = StoreState();
    std::string err;
    EXPECT_NE(Ctl("admin", {"bundle", "import", file, "--ack-out", file + ".ack"}, &err), 0);
    EXPECT_TRUE(absl::StrContains(err, expect)) << "want \"" << expect << "\" in: " << err;
    EXPECT_FALSE(std::filesystem::exists(file + ".ack"));
    EXPECT_EQ(StoreState(), before) << file;
  }

  std::unique_ptr<crypto::PrivateKey> Key(const std::string& code) {
    auto key = crypto::ReadPrivateKeyFile(crypto::GetSuite(GetParam()),
                                          dir_.File(code) + "/data/signing.key");
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? *std::move(key) : nullptr;
  }

  // Rewrites bundle `in` (from kOrigin to kResidence) as its sender could:
  // `change` edits its records, then it is signed by `signer` as node
  // `sender` and sealed to `to_key`.
  void Rewrite(const std::string& in, const std::string& out,
               const std::function<void(std::vector<v1::BundleRecord>*)>& change,
               const crypto::PrivateKey& signer, const std::string& sender,
               const crypto::PublicKey& to_key) {
    const crypto::Suite& suite = crypto::GetSuite(GetParam());
    TB_ASSERT_OK_AND_ASSIGN(sync::BundleFileHeader file, sync::ReadBundleHeader(in));
    std::unique_ptr<crypto::PrivateKey> residence = Key(kResidence);
    std::unique_ptr<crypto::PrivateKey> origin = Key(kOrigin);
    TB_ASSERT_OK_AND_ASSIGN(std::string key,
                            crypto::OpenSealed(*residence, file.header.sealed_key()));
    TB_ASSERT_OK_AND_ASSIGN(auto reader,
                            sync::BundleReader::Open(in, file, suite, key, origin->public_key()));
    std::vector<v1::BundleRecord> records;
    while (true) {
      TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::BundleRecord> r, reader->Next());
      if (!r.has_value()) break;
      records.push_back(*std::move(r));
    }
    change(&records);
    std::string bytes;
    v1::BundleHeader header;
    header.set_sender(sender);
    header.set_recipient(kResidence);
    header.set_created_micros(file.header.created_micros() + 1);
    TB_ASSERT_OK_AND_ASSIGN(
        auto writer,
        sync::BundleWriter::Start(suite, header, to_key, signer, [&bytes](absl::string_view b) {
          bytes.append(b.data(), b.size());
          return absl::OkStatus();
        }));
    for (const v1::BundleRecord& r : records) ASSERT_TRUE(writer->Add(r).ok());
    ASSERT_TRUE(writer->Finish().ok());
    std::ofstream(out, std::ios::binary) << bytes;
  }

  static void FlipByte(const std::string& in, const std::string& out, size_t at) {
    std::string bytes = testutil::Contents(in);
    bytes[at % bytes.size()] ^= 0x10;
    std::ofstream(out, std::ios::binary) << bytes;
  }

  std::string File(const std::string& name) { return dir_.File(name); }

  testutil::ScopedTempDir dir_;
  int process_admin_port_ = 0;  // of a node run as a tongband process
  std::unique_ptr<daemon::Daemon> running_;
  std::string code_;
  std::string person_;
};

// long-function: the whole story, in order.
TEST_P(BundleTest, TwoCountiesExchangeAPersonsHistoryByBundlesOnly) {
  // The origin registers the person and the outflow to the residence.
  Run(kOrigin);
  Write(testutil::Basics(person_, "Li"));
  Write(testutil::Outflow(person_, kResidence));
  {
    std::string err;
    EXPECT_EQ(Ctl("clerk", {"bundle", "export", "--to", kResidence, "--out", File("x.tbb")}, &err),
              3)
        << "a clerk may not export: " << err;
    EXPECT_FALSE(std::filesystem::exists(File("x.tbb")));
  }
  const v1::BundleSummary a1 = Export(kResidence, File("a1.tbb"));
  ASSERT_EQ(a1.manifest().ranges_size(), 1);
  EXPECT_EQ(a1.manifest().ranges(0).origin(), kOrigin);
  EXPECT_EQ(a1.manifest().events(), 1u) << "the outflow is routed to the residence; basics are not";
  Stop();
  // The residence as it was before any bundle: for the missing-range case.
  std::filesystem::copy(File(kResidence), File("residence-before"),
                        std::filesystem::copy_options::recursive);

  Run(kResidence);
  // Refused whole, nothing applied.
  for (size_t at : {size_t{3}, size_t{40}, std::filesystem::file_size(File("a1.tbb")) / 2,
                    std::filesystem::file_size(File("a1.tbb")) - 3}) {
    FlipByte(File("a1.tbb"), File(absl::StrCat("flip-", at, ".tbb")), at);
    Refused(File(absl::StrCat("flip-", at, ".tbb")), at == 3 ? "not a bundle" : "bundle");
  }
  {
    std::string bytes = testutil::Contents(File("a1.tbb"));
    std::ofstream(File("cut.tbb"), std::ios::binary) << bytes.substr(0, bytes.size() - 100);
    Refused(File("cut.tbb"), "cut short");
  }
  std::unique_ptr<crypto::PrivateKey> origin_key = Key(kOrigin);
  std::unique_ptr<crypto::PrivateKey> residence_key = Key(kResidence);
  TB_ASSERT_OK_AND_ASSIGN(auto stranger, crypto::GetSuite(GetParam()).GenerateKey());
  const auto same = [](std::vector<v1::BundleRecord>*) {};
  Rewrite(File("a1.tbb"), File("unknown.tbb"), same, *stranger, "330106",
          residence_key->public_key());
  Refused(File("unknown.tbb"), "not in roster");
  Rewrite(File("a1.tbb"), File("otherkey.tbb"), same, *origin_key, kOrigin, stranger->public_key());
  Refused(File("otherkey.tbb"), "does not hold");
  Rewrite(File("a1.tbb"), File("forged.tbb"), same, *stranger, kOrigin,
          residence_key->public_key());
  Refused(File("forged.tbb"), "no key of node 620102");
  // A sender that signs a bundle with a changed event or proof: the batch
  // verifier's reasons, as over a session; the sender is held until an
  // administrator clears it.
  const auto first_batch = [](std::vector<v1::BundleRecord>* records) -> v1::Batch* {
    for (v1::BundleRecord& r : *records) {
      if (r.message().has_batch()) return r.mutable_message()->mutable_batch();
    }
    return nullptr;
  };
  Rewrite(
      File("a1.tbb"), File("event.tbb"),
      [&](std::vector<v1::BundleRecord>* r) {
        (*first_batch(r)->mutable_events(0)->mutable_body())[5] ^= 1;
      },
      *origin_key, kOrigin, residence_key->public_key());
  Refused(File("event.tbb"), "TAMPERED_BODY");
  std::string hold_err;
  ASSERT_EQ(Ctl("admin", {"peers", "clear-hold", kOrigin}, &hold_err), 0) << hold_err;
  Rewrite(
      File("a1.tbb"), File("proof.tbb"),
      [&](std::vector<v1::BundleRecord>* r) { (*first_batch(r)->mutable_inclusion(0))[0] ^= 1; },
      *origin_key, kOrigin, residence_key->public_key());
  Refused(File("proof.tbb"), "TAMPERED_BODY");
  ASSERT_EQ(Ctl("admin", {"peers", "clear-hold", kOrigin}, &hold_err), 0) << hold_err;

  const v1::ImportBundleReply got = Import(File("a1.tbb"), File("a1.ack"));
  EXPECT_EQ(got.events_applied(), 1u);
  EXPECT_TRUE(got.missing().empty());
  EXPECT_TRUE(std::filesystem::exists(File("a1.ack")));
  {
    const std::string before = StoreState();
    const v1::ImportBundleReply again = Import(File("a1.tbb"), File("a1-again.ack"));
    EXPECT_EQ(again.events_applied(), 0u) << "a replayed bundle is a no-op";
    EXPECT_EQ(StoreState(), before);
  }
  // The residence registers the arrival (which links it and asks the origin
  // for the history), a service, and an inquiry to the origin.
  Write(testutil::Inflow(person_, kOrigin));
  Write(testutil::Service(person_, kResidence, "svc-1"));
  Write(testutil::Inquiry(person_, kOrigin, "inq-1", v1::INQUIRY_TYPE_NORMAL, absl::Now(),
                          testutil::Day(2027, 1, 10)));
  const v1::BundleSummary b1 = Export(kOrigin, File("b1.tbb"));
  EXPECT_EQ(b1.manifest().events(), 3u);
  EXPECT_EQ(b1.manifest().requests(), 1u) << "the history of the person, from the origin";
  EXPECT_EQ(b1.manifest().acknowledges(), a1.header().bundle_id());
  Stop();

  Run(kOrigin);
  Refused(File("a1.tbb"), "for node 440305");
  const v1::ImportBundleReply got_b1 = Import(File("b1.tbb"), File("b1.ack"));
  EXPECT_EQ(got_b1.events_applied(), 3u);
  EXPECT_EQ(got_b1.requests(), 1u);
  Write(testutil::InquiryReply(person_, kResidence, "inq-1", absl::Now()));
  // An older acknowledgement passed as --since-ack changes nothing: the
  // newest bundle from the residence (b1) says where it stands.
  const v1::BundleSummary a2 = Export(kResidence, File("a2.tbb"), {"--since-ack", File("a1.ack")});
  ASSERT_EQ(a2.manifest().ranges_size(), 1);
  EXPECT_GT(a2.manifest().ranges(0).last_seq(), a1.manifest().ranges(0).last_seq());
  EXPECT_EQ(a2.answers(), 1u) << "the history the residence asked for";
  EXPECT_EQ(a2.manifest().acknowledges(), b1.header().bundle_id());
  const std::string at_origin = PersonState();
  ASSERT_TRUE(absl::StrContains(at_origin, "inq-1")) << at_origin;
  {
    std::string err, out;
    ASSERT_EQ(Ctl("admin", {"peers"}, &err, &out), 0) << err;
    EXPECT_TRUE(absl::StrContains(out, "acknowledged") || absl::StrContains(out, "已确认")) << out;
  }
  Stop();

  Run(kResidence);
  const v1::ImportBundleReply got_a2 = Import(File("a2.tbb"), File("a2.ack"));
  EXPECT_GE(got_a2.events_applied(), 2u) << "the reply and the history";
  EXPECT_EQ(PersonState(), at_origin) << "the same records at both counties";
  Stop();

  // The residence restored from before the first bundle: a2 assumes events
  // it lacks; that log is not applied and the missing seqs are named (the
  // history the bundle answers with is applied: each of its events is
  // proved on its own and moves no cursor).
  std::filesystem::rename(File(kResidence), File("residence-after"));
  std::filesystem::rename(File("residence-before"), File(kResidence));
  Run(kResidence);
  const v1::ImportBundleReply gap = Import(File("a2.tbb"), File("a2-gap.ack"));
  ASSERT_EQ(gap.missing_size(), 1) << gap.DebugString();
  EXPECT_EQ(gap.missing(0),
            absl::StrCat(kOrigin, "/1: seqs 1..", a1.manifest().ranges(0).checkpoint_size()));
  EXPECT_GE(gap.batches_not_applied(), 1u);
  // The cursor did not move past the gap: the acknowledgement (sealed to
  // the origin) says the residence holds nothing of the origin's log.
  {
    const crypto::Suite& suite = crypto::GetSuite(GetParam());
    TB_ASSERT_OK_AND_ASSIGN(sync::BundleFileHeader file,
                            sync::ReadBundleHeader(File("a2-gap.ack")));
    TB_ASSERT_OK_AND_ASSIGN(std::string key,
                            crypto::OpenSealed(*origin_key, file.header.sealed_key()));
    TB_ASSERT_OK_AND_ASSIGN(auto reader,
                            sync::BundleReader::Open(File("a2-gap.ack"), file, suite, key,
                                                     residence_key->public_key()));
    TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::BundleRecord> hello, reader->Next());
    ASSERT_TRUE(hello.has_value() && hello->message().has_hello());
    for (const v1::Position& p : hello->message().hello().positions()) {
      if (p.origin() == kOrigin) {
        EXPECT_EQ(p.seq(), 0u) << p.DebugString();
      }
    }
  }
  Stop();

  // The federation revokes the origin: its bundles are refused whole.
  std::string err;
  ASSERT_EQ(Spawn({TB_TONGBANCTL, "roster", "set-status", "--in", File("roster.txt"), "--code",
                   kOrigin, "--status", "revoked", "--reason", "key lost"},
                  &err),
            0)
      << err;
  ASSERT_EQ(Spawn({TB_TONGBANCTL, "roster", "sign", "--in", File("roster.txt"), "--root-key",
                   File("root.key"), "--suite", std::string(crypto::SuiteName(GetParam())), "--out",
                   File("roster-2.signed")},
                  &err),
            0)
      << err;
  std::filesystem::rename(File("roster-2.signed"), File("roster.signed"));
  Run(kResidence);
  Refused(File("a2.tbb"), "revoked");
}

// A bundle carried to the national node is applied there like a session's
// data and relayed on: the residence, which never saw the file, receives
// the origin's events from the national node with the origin's proofs.
TEST_P(BundleTest, TheNationalNodeRelaysWhatABundleBroughtIt) {
  Run(kOrigin);
  Write(testutil::Basics(person_, "Li"));
  Write(testutil::Outflow(person_, kResidence));
  const v1::BundleSummary made = Export("000000", File("national.tbb"));
  ASSERT_EQ(made.manifest().ranges_size(), 1);
  EXPECT_TRUE(made.manifest().ranges(0).contiguous()) << "the national node keeps logs whole";
  Stop();

  Run("000000");
  const v1::ImportBundleReply got = Import(File("national.tbb"), File("national.ack"));
  EXPECT_EQ(got.events_applied(), made.manifest().events());
  TB_ASSERT_OK_AND_ASSIGN(Config config, LoadConfig(dir_.File(kResidence) + "/tongband.conf"));
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<daemon::Daemon> residence,
                          daemon::Daemon::Start(config, RealClock()));
  const std::string ops = dir_.File(kResidence) + "/operators/";
  auto args =
      cli::Args::Parse({"--node", absl::StrCat("127.0.0.1:", residence->admin_port()), "--ca",
                        dir_.File(kResidence) + "/tls/ca.crt", "--cert", ops + "clerk.crt", "--key",
                        ops + "clerk.key", "--password-file", ops + "clerk.password"},
                       cli::ConnectionFlags(), 0, 0);
  ASSERT_TRUE(args.ok()) << args.status();
  TB_ASSERT_OK_AND_ASSIGN(auto clerk, cli::AdminClient::FromArgs(*args));
  v1::PersonRequest r;
  r.set_person(person_);
  r.set_reason("bundle relay test");
  EXPECT_TRUE(testutil::WaitUntil(
      [&] {
        absl::StatusOr<v1::PersonReply> held = clerk->GetPerson(r);
        return held.ok() && std::any_of(held->records().begin(), held->records().end(),
                                        [](const v1::Record& rec) {
                                          return rec.kind() == v1::RECORD_KIND_OUTFLOW;
                                        });
      },
      absl::Seconds(30), "the outflow to reach the residence through the national node"));
  residence->Stop();
}

// An import killed (SIGKILL of the recipient's tongband process) at random
// moments, 20 times, then run again to the end: every event is applied
// once, and importing once more applies nothing.
TEST_P(BundleTest, ImportKilledAtRandomPointsFinishesWithEveryEventOnce) {
  constexpr int kPersons = 1000;
  constexpr int kKills = 20;
  {
    // Batches of 4 events: 250 batches, each applied with its cursor.
    const std::string path = dir_.File(kOrigin) + "/tongband.conf";
    std::string text = testutil::Contents(path);
    text.replace(text.find("[sync]\n"), 7, "[sync]\nbatch_events = 4\n");
    std::ofstream(path) << text;
  }
  Run(kOrigin);
  std::vector<std::string> persons;
  for (int first = 0; first < kPersons; first += 250) {
    v1::ImportRequest r;
    r.set_file("kill-test");
    r.set_first_line(first + 1);
    r.set_last_line(first + 250);
    for (int i = first; i < first + 250; ++i) {
      persons.push_back(testutil::MakeId(kOrigin, "19800101", i));
      const storage::RecordChange c = testutil::Outflow(persons.back(), kResidence);
      v1::WriteRequest* w = r.add_rows();
      w->set_person(c.person);
      w->set_kind(c.kind);
      w->set_record_id(c.record_id);
      *w->mutable_value() = c.value;
    }
    TB_ASSERT_OK_AND_ASSIGN(v1::ImportReply written, As("clerk")->Import(r));
  }
  const v1::BundleSummary made = Export(kResidence, File("big.tbb"));
  ASSERT_EQ(made.manifest().events(), static_cast<uint64_t>(kPersons));
  ASSERT_GE(made.manifest().batches(), 250u);
  Stop();

  code_ = kResidence;
  TB_ASSERT_OK_AND_ASSIGN(Config fixed, LoadConfig(dir_.File(kResidence) + "/fixed.conf"));
  process_admin_port_ = std::stoi(fixed.admin_listen.substr(fixed.admin_listen.rfind(':') + 1));
  const uint64_t seed = testutil::TestSeed("bundle import kill points");
  std::mt19937 rng(static_cast<uint32_t>(seed));
  SCOPED_TRACE(testutil::SeedTrace(seed));
  int killed_during_import = 0;
  for (int k = 0; k < kKills; ++k) {
    pid_t daemon = Start({TB_TONGBAND, "--config", dir_.File(kResidence) + "/fixed.conf"},
                         File("residence.log"));
    ASSERT_GT(daemon, 0);
    ASSERT_TRUE(testutil::WaitUntil(
        [&] {
          auto args = cli::Args::Parse(Connection("admin"), cli::ConnectionFlags(), 0, 0);
          auto client = cli::AdminClient::FromArgs(*args);
          return client.ok() && (*client)->Status(v1::StatusRequest()).ok();
        },
        absl::Seconds(30), "the residence's tongband to answer"))
        << testutil::Contents(File("residence.log"));
    std::vector<std::string> ctl = {TB_TONGBANCTL, "bundle",
                                    "import",      File("big.tbb"),
                                    "--ack-out",   File(absl::StrCat("kill-", k, ".ack"))};
    for (std::string& c : Connection("admin")) ctl.push_back(std::move(c));
    const pid_t importer = Start(ctl, File("import.log"));
    // The kill lands at a random moment after the upload is spooled: while
    // the node checks the file or applies its batches.
    const std::string spool = dir_.File(kResidence) + "/data/bundle-spool";
    const auto spooled = [&] {
      std::error_code ec;
      for (const auto& f : std::filesystem::directory_iterator(spool, ec)) {
        if (f.file_size(ec) == std::filesystem::file_size(File("big.tbb"))) return true;
      }
      return false;
    };
    // Not WaitUntil: an import that ends first removes the file, which is
    // no failure; the kill then finds the node idle.
    for (int i = 0; i < 5000 && !spooled(); ++i) absl::SleepFor(absl::Milliseconds(2));
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 150)(rng)));
    ASSERT_EQ(::kill(daemon, SIGKILL), 0);
    int status = 0;
    waitpid(daemon, &status, 0);
    waitpid(importer, &status, 0);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) ++killed_during_import;
  }
  std::cerr << killed_during_import << " of " << kKills << " imports died with the node\n";
  EXPECT_GT(killed_during_import, 0) << "no kill came during an import: nothing was tested";

  Run(kResidence);
  EXPECT_FALSE(std::filesystem::exists(dir_.File(kResidence) + "/data/bundle-spool/"))
      << "spooled bundles of killed imports are removed at start";
  const v1::ImportBundleReply last = Import(File("big.tbb"), File("last.ack"));
  EXPECT_TRUE(last.missing().empty());
  std::cerr << last.events_applied() << " of " << kPersons
            << " events were left for the import run to the end\n";
  const v1::ImportBundleReply again = Import(File("big.tbb"), File("again.ack"));
  EXPECT_EQ(again.events_applied(), 0u);
  for (const std::string& p : persons) {
    v1::PersonRequest r;
    r.set_person(p);
    r.set_reason("bundle kill test");
    TB_ASSERT_OK_AND_ASSIGN(v1::PersonReply got, As("clerk")->GetPerson(r));
    ASSERT_EQ(got.records_size(), 1) << ids::MaskId(p);
    EXPECT_EQ(got.records(0).kind(), v1::RECORD_KIND_OUTFLOW);
    EXPECT_EQ(got.records(0).state().history_size(), 1) << "applied once: " << ids::MaskId(p);
  }
}

TB_INSTANTIATE_FOR_BOTH_SUITES(BundleTest);

}  // namespace
}  // namespace tongban::node
