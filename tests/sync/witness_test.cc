// The national node as witness and roster publisher, over real gRPC with
// mutual TLS on 127.0.0.1 (ephemeral ports), under both suites: a county
// agrees with the witness on an honest log; an origin that showed a county
// another history is caught, its evidence kept and its log frozen; a node
// restored from a backup learns that the witness holds more of its own log
// (or another history of it); forged cosignatures change nothing; peers the
// roster refuses are refused; rosters are offered, refused with distinct
// codes, persisted, and served to a node holding an older one.
#include "sync/witness.h"

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/cosignature.h"
#include "common/merkle/tree.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "sync/evidence.h"
#include "sync/roster_holder.h"
#include "sync/transport.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"

namespace tongban::sync {
namespace {

using crypto::SuiteId;
using testutil::kNational;
using testutil::kOrigin;
using testutil::kResidence;
using testutil::kThird;
using testutil::WaitFor;

constexpr uint64_t kLatest = ~uint64_t{0};

class WitnessTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    for (const char* code : {kNational, kOrigin, kResidence, kThird}) {
      fed_.Add(code);
      fed_.IssueTls(code);
    }
    witness_ = std::make_unique<Witness>(fed_.at(kNational).store.get(),
                                         fed_.at(kNational).key.get(), &clock_, kNational);
  }

  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  TlsIdentity Tls(const std::string& code) {
    return {fed_.ca_pem(), fed_.at(code).tls_cert_pem, fed_.at(code).tls_key_pem};
  }

  // The federation's signing keys, as the roster would list them.
  KeyLookup Keys() {
    return [this](absl::string_view code, absl::string_view key_id) -> const crypto::PublicKey* {
      if (!codes_.count(std::string(code))) return nullptr;
      const crypto::PublicKey& pub = fed_.at(std::string(code)).key->public_key();
      return pub.KeyId() == key_id ? &pub : nullptr;
    };
  }

  // Serves the national node (sessions, the witness and, if given, the
  // roster), admitting the peers `check` admits.
  void ServeNational(PeerCheck check, RosterAnswer roster = nullptr) {
    ExchangeServer::Options o;
    o.tls = Tls(kNational);
    o.writer = fed_.at(kNational).writer.get();
    o.check = std::move(check);
    o.sessions = [this](const std::string& peer) { return fed_.OpenSession(kNational, peer); };
    o.witness = [this](const std::string&, const v1::WitnessRequest& request) {
      return witness_->Answer(request);
    };
    o.roster = std::move(roster);
    auto server = ExchangeServer::Start(std::move(o));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void ServeNational() {
    ServeNational([](const std::string& peer) {
      if (peer != kThird) return absl::OkStatus();
      return absl::PermissionDeniedError(
          absl::StrCat("node ", peer, " is suspended in roster v7: audit pending"));
    });
  }
  std::string Target() const { return absl::StrCat("127.0.0.1:", server_->port()); }

  storage::LogId LogOf(const std::string& code) { return fed_.at(code).writer->log(); }

  static absl::StatusOr<uint64_t> LatestSize(const storage::Store& store,
                                             const storage::LogId& log) {
    TB_ASSIGN_OR_RETURN(auto latest, store.CheckpointAtOrBelow(log, kLatest));
    return latest.has_value() ? latest->first : 0;
  }
  uint64_t HeldSize(const std::string& at, const storage::LogId& log) {
    absl::StatusOr<uint64_t> size = LatestSize(*fed_.at(at).store, log);
    EXPECT_TRUE(size.ok()) << size.status();
    return size.value_or(0);
  }

  // Appends `n` events at `code` and waits until a checkpoint covers them.
  void Write(const std::string& code, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string p = testutil::MakeId(kOrigin, "19900101", ++persons_);
      ASSERT_TRUE(fed_.at(code).writer->Append(testutil::Basics(p, "P")).ok());
    }
    const uint64_t last = fed_.at(code).writer->stats().last_seq;
    ASSERT_TRUE(WaitFor(fed_.at(code), [&] { return HeldSize(code, LogOf(code)) == last; }));
  }

  // `code` syncs its log to the national node until it holds `size`.
  void SyncToNational(const std::string& code, uint64_t size) {
    PeerConnection::Options o;
    o.peer = kNational;
    o.target = Target();
    o.tls = Tls(code);
    o.session = fed_.OpenSession(code, kNational);
    o.writer = fed_.at(code).writer.get();
    auto conn = PeerConnection::Start(std::move(o));
    const storage::LogId log = LogOf(code);
    EXPECT_TRUE(WaitFor(fed_.at(kNational), [&] { return HeldSize(kNational, log) == size; }));
    TB_EXPECT_OK(conn->Stop());
  }

  // `code` asks the witness about `logs` and checks the answer.
  absl::StatusOr<std::vector<WitnessFinding>> AskAndCheck(const std::string& code,
                                                          std::vector<storage::LogId> logs) {
    WitnessChecker checker = Checker(code);
    TB_ASSIGN_OR_RETURN(v1::WitnessRequest request, checker.Request(std::move(logs)));
    TB_ASSIGN_OR_RETURN(v1::WitnessReply reply,
                        AskWitness(kNational, Target(), Tls(code), request));
    return checker.Check(request, reply);
  }
  WitnessChecker Checker(const std::string& code) {
    WitnessCheckerOptions options;
    options.self = code;
    return WitnessChecker(fed_.at(code).store.get(), suite(), Keys(), &clock_, options);
  }

  // A checkpoint of `origin`'s log at `size` over leaves the origin never
  // wrote, signed with its key: the origin showing someone another history.
  v1::SignedCheckpoint OtherHistory(const std::string& origin, uint64_t size) {
    std::unique_ptr<crypto::Hasher> h = suite().NewHasher();
    std::vector<crypto::Digest> leaves;
    for (uint64_t i = 0; i < size; ++i) {
      leaves.push_back(merkle::LeafHash(*h, absl::StrCat("another history ", i)));
    }
    merkle::Checkpoint c;
    c.suite = GetParam();
    c.origin = origin;
    c.epoch = 1;
    c.tree_size = size;
    c.root = merkle::RootOfLeaves(*h, leaves);
    c.time_micros = 1796083200000000;
    c.key_id = fed_.at(origin).key->public_key().KeyId();
    auto sc = merkle::SignCheckpoint(c, *fed_.at(origin).key->NewSigner());
    EXPECT_TRUE(sc.ok()) << sc.status();
    v1::SignedCheckpoint out;
    out.set_body(sc->body);
    out.set_signature(sc->signature);
    return out;
  }

  // Stores `cp` at `at` as if a batch had shown it there.
  void Hold(const std::string& at, const storage::LogId& log, const v1::SignedCheckpoint& cp) {
    auto parsed = merkle::ParseCheckpoint(cp.body());
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    storage::Batch batch(*fed_.at(at).store);
    batch.PutCheckpoint(log, parsed->tree_size, cp);
    TB_ASSERT_OK(fed_.at(at).store->Commit(batch, /*sync=*/true));
  }

  size_t EvidenceCount(const std::string& at, const storage::LogId& log) {
    auto kept = fed_.at(at).store->Scan(storage::Cf::kDefault,
                                        absl::StrCat("evidence/", log.origin, "/", log.epoch, "/"));
    EXPECT_TRUE(kept.ok()) << kept.status();
    return kept.ok() ? kept->size() : 0;
  }
  bool Frozen(const std::string& at, const storage::LogId& log) {
    auto frozen = fed_.at(at).store->Get(storage::Cf::kDefault, FrozenKey(log));
    EXPECT_TRUE(frozen.ok()) << frozen.status();
    return frozen.ok() && frozen->has_value();
  }

  FakeClock clock_;
  testutil::TestFederation fed_{GetParam(), &clock_};
  const std::set<std::string> codes_ = {kNational, kOrigin, kResidence, kThird};
  std::unique_ptr<Witness> witness_;
  std::unique_ptr<ExchangeServer> server_;
  int persons_ = 0;
};

TEST_P(WitnessTest, CountyAgreesWithTheWitnessOnAnHonestLogAndCosignaturesAreCached) {
  ServeNational();
  const storage::LogId a = LogOf(kOrigin);
  Write(kOrigin, 3);
  auto shown = fed_.at(kOrigin).store->GetCheckpoint(a, 3);
  ASSERT_TRUE(shown.ok() && shown->has_value());
  Write(kOrigin, 3);
  SyncToNational(kOrigin, 6);
  // The residence was shown A's checkpoint of size 3; the witness holds 6.
  Hold(kResidence, a, **shown);

  const storage::LogId never{kThird, 1};
  TB_ASSERT_OK_AND_ASSIGN(std::vector<WitnessFinding> found, AskAndCheck(kResidence, {a, never}));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].verdict, WitnessVerdict::kConsistent) << found[0].detail;
  EXPECT_EQ(found[0].held_size, 3u);
  EXPECT_EQ(found[0].witnessed_size, 6u);
  ASSERT_TRUE(found[0].witnessed.has_value());
  EXPECT_EQ(found[0].witnessed->cosignature().witness(), kNational);
  EXPECT_EQ(found[0].witnessed->cosignature().key_id(),
            fed_.at(kNational).key->public_key().KeyId());
  EXPECT_EQ(found[1].verdict, WitnessVerdict::kNotHeld);
  EXPECT_EQ(EvidenceCount(kResidence, a), 0u);
  EXPECT_FALSE(Frozen(kResidence, a));
  EXPECT_FALSE(WitnessChecker::MustStopAppending(found));

  // Asked again, the witness signs nothing new until the log grows.
  EXPECT_EQ(witness_->cosignatures(), 1u);
  TB_ASSERT_OK_AND_ASSIGN(found, AskAndCheck(kResidence, {a}));
  EXPECT_EQ(witness_->cosignatures(), 1u);
  Write(kOrigin, 1);
  SyncToNational(kOrigin, 7);
  TB_ASSERT_OK_AND_ASSIGN(found, AskAndCheck(kResidence, {a}));
  EXPECT_EQ(found[0].witnessed_size, 7u);
  EXPECT_EQ(witness_->cosignatures(), 2u);
  // The origin itself agrees with the witness about its own log.
  TB_ASSERT_OK_AND_ASSIGN(found, AskAndCheck(kOrigin, {a}));
  EXPECT_EQ(found[0].verdict, WitnessVerdict::kConsistent) << found[0].detail;
}

// A showed the residence a checkpoint of size 3 and the third county one of
// size 6 of another history than the one it gave the national node: both
// are conclusive (a proof from the witness's root at size 3; two roots for
// size 6), kept as evidence, and freeze A's log there.
TEST_P(WitnessTest, OriginThatShowedAnotherHistoryIsFrozenWithEvidence) {
  ServeNational([](const std::string&) { return absl::OkStatus(); });
  const storage::LogId a = LogOf(kOrigin);
  Write(kOrigin, 6);
  SyncToNational(kOrigin, 6);
  Hold(kResidence, a, OtherHistory(kOrigin, 3));
  Hold(kThird, a, OtherHistory(kOrigin, 6));

  for (const char* county : {kResidence, kThird}) {
    SCOPED_TRACE(county);
    TB_ASSERT_OK_AND_ASSIGN(std::vector<WitnessFinding> found, AskAndCheck(county, {a}));
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].verdict, WitnessVerdict::kEquivocation) << found[0].detail;
    EXPECT_EQ(found[0].witnessed_size, 6u);
    ASSERT_EQ(EvidenceCount(county, a), 1u);
    EXPECT_TRUE(Frozen(county, a));
    auto kept = fed_.at(county).store->Scan(storage::Cf::kDefault, "evidence/620102/1/");
    ASSERT_TRUE(kept.ok());
    v1::EquivocationEvidence evidence;
    ASSERT_TRUE(evidence.ParseFromString(kept->front().second));
    EXPECT_TRUE(evidence.conclusive());
    EXPECT_EQ(*fed_.at(county).store->GetCounter("witness/equivocation"), 1u);
    EXPECT_EQ(evidence.from_peer(), kNational);
    EXPECT_EQ(evidence.received().body(), found[0].witnessed->checkpoint().body());
    EXPECT_EQ(evidence.held().body(), (*fed_.at(county).store->LatestCheckpoint(a))->body());
  }
}

// A is backed up at 3 events, writes 3 more that reach the national node,
// and is restored from the backup: asked about its own log, the witness
// holds 6 and A learns it lost events 4..6. If A appends again after the
// restore, its log no longer matches what the witness holds: forked.
TEST_P(WitnessTest, RestoredNodeLearnsTheWitnessHoldsMoreOfItsOwnLog) {
  ServeNational();
  const storage::LogId a = LogOf(kOrigin);
  Write(kOrigin, 3);
  testutil::ScopedTempDir backup;
  const std::string folder = fed_.at(kOrigin).store_options.path;
  fed_.at(kOrigin).writer.reset();
  fed_.at(kOrigin).store.reset();
  std::filesystem::copy(folder, backup.File("a"), std::filesystem::copy_options::recursive);
  fed_.Restart(kOrigin);
  Write(kOrigin, 3);
  SyncToNational(kOrigin, 6);
  TB_ASSERT_OK_AND_ASSIGN(std::vector<WitnessFinding> found, AskAndCheck(kOrigin, {a}));
  EXPECT_EQ(found[0].verdict, WitnessVerdict::kConsistent) << found[0].detail;

  // Restored from the backup.
  fed_.at(kOrigin).writer.reset();
  fed_.at(kOrigin).store.reset();
  std::filesystem::remove_all(folder);
  std::filesystem::copy(backup.File("a"), folder, std::filesystem::copy_options::recursive);
  fed_.Restart(kOrigin);
  ASSERT_EQ(HeldSize(kOrigin, a), 3u);
  TB_ASSERT_OK_AND_ASSIGN(found, AskAndCheck(kOrigin, {a}));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].verdict, WitnessVerdict::kOwnLogBehind) << found[0].detail;
  EXPECT_EQ(found[0].held_size, 3u);
  EXPECT_EQ(found[0].witnessed_size, 6u);
  EXPECT_TRUE(absl::StrContains(found[0].detail, "events 4..6 are missing here"))
      << found[0].detail;
  EXPECT_TRUE(WitnessChecker::MustStopAppending(found));
  EXPECT_EQ(*fed_.at(kOrigin).store->GetCounter("witness/own_log_behind"), 1u);
  // Its own log is never frozen: the node itself must act.
  EXPECT_FALSE(Frozen(kOrigin, a));

  // Appending anyway gives another history at the witnessed size.
  Write(kOrigin, 3);
  TB_ASSERT_OK_AND_ASSIGN(found, AskAndCheck(kOrigin, {a}));
  EXPECT_EQ(found[0].verdict, WitnessVerdict::kOwnLogForked) << found[0].detail;
  EXPECT_TRUE(WitnessChecker::MustStopAppending(found));
  // And beyond it: the witness's size-6 root is not our root at 6.
  Write(kOrigin, 2);
  TB_ASSERT_OK_AND_ASSIGN(found, AskAndCheck(kOrigin, {a}));
  EXPECT_EQ(found[0].verdict, WitnessVerdict::kOwnLogForked) << found[0].detail;
}

// A reply whose cosignature is forged, made with a key that is not the
// witness's, or whose origin signature is forged is refused whole: nothing
// is kept and nothing frozen, although it would otherwise prove an
// equivocation.
TEST_P(WitnessTest, ForgedCosignatureIsRejectedAndNothingIsKept) {
  ServeNational();
  const storage::LogId a = LogOf(kOrigin);
  Write(kOrigin, 6);
  SyncToNational(kOrigin, 6);
  Hold(kResidence, a, OtherHistory(kOrigin, 3));
  WitnessChecker checker = Checker(kResidence);
  TB_ASSERT_OK_AND_ASSIGN(v1::WitnessRequest request, checker.Request({a}));
  TB_ASSERT_OK_AND_ASSIGN(const v1::WitnessReply reply,
                          AskWitness(kNational, Target(), Tls(kResidence), request));

  auto refused = [&](const v1::WitnessReply& forged, absl::string_view says) {
    const absl::Status s = checker.Check(request, forged).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), says)) << s;
    EXPECT_EQ(EvidenceCount(kResidence, a), 0u) << "a refused reply keeps nothing";
    EXPECT_FALSE(Frozen(kResidence, a));
  };
  v1::WitnessReply flipped = reply;
  (*flipped.mutable_entries(0)
        ->mutable_witnessed()
        ->mutable_cosignature()
        ->mutable_signature())[4] ^= 1;
  refused(flipped, "cosignature by witness 000000");

  // Cosigned by the origin's key, claiming to be the witness.
  v1::WitnessReply by_origin = reply;
  auto cos = merkle::Cosign(reply.entries(0).witnessed().checkpoint().body(), kNational,
                            clock_.Now(), *fed_.at(kOrigin).key);
  ASSERT_TRUE(cos.ok()) << cos.status();
  v1::Cosignature* c = by_origin.mutable_entries(0)->mutable_witnessed()->mutable_cosignature();
  c->set_key_id(cos->key_id);
  c->set_signature(cos->signature);
  refused(by_origin, "the roster has no key");

  v1::WitnessReply origin_forged = reply;
  (*origin_forged.mutable_entries(0)
        ->mutable_witnessed()
        ->mutable_checkpoint()
        ->mutable_signature())[4] ^= 1;
  refused(origin_forged, "origin signature");

  v1::WitnessReply short_proof = reply;
  short_proof.mutable_entries(0)->set_old_root("short");
  refused(short_proof, "old_root is 5 bytes");

  // A corrupted proof verifies from no root: kept, but it freezes nothing
  // (the witness, not the origin, may be at fault).
  v1::WitnessReply corrupted = reply;
  ASSERT_GT(corrupted.entries(0).consistency_size(), 0);
  (*corrupted.mutable_entries(0)->mutable_consistency(0))[0] ^= 1;
  TB_ASSERT_OK_AND_ASSIGN(std::vector<WitnessFinding> found, checker.Check(request, corrupted));
  EXPECT_EQ(found[0].verdict, WitnessVerdict::kUnproven) << found[0].detail;
  EXPECT_EQ(*fed_.at(kResidence).store->GetCounter("witness/unproven"), 1u);
  EXPECT_EQ(EvidenceCount(kResidence, a), 1u);
  EXPECT_FALSE(Frozen(kResidence, a));

  // The genuine reply proves the equivocation.
  clock_.Advance(absl::Seconds(1));  // evidence is keyed by detection time
  TB_ASSERT_OK_AND_ASSIGN(found, checker.Check(request, reply));
  EXPECT_EQ(found[0].verdict, WitnessVerdict::kEquivocation) << found[0].detail;
  EXPECT_EQ(EvidenceCount(kResidence, a), 2u);
  EXPECT_TRUE(Frozen(kResidence, a));
}

TEST_P(WitnessTest, PeersTheRosterRefusesAreToldWhy) {
  ServeNational();
  const v1::WitnessRequest request = *Checker(kThird).Request({LogOf(kOrigin)});
  const absl::Status asked = AskWitness(kNational, Target(), Tls(kThird), request).status();
  EXPECT_EQ(asked.code(), absl::StatusCode::kPermissionDenied) << asked;
  EXPECT_TRUE(absl::StrContains(asked.message(), "suspended in roster v7: audit pending")) << asked;
  // A node that is not the witness says so.
  const absl::Status roster = FetchRoster(kNational, Target(), Tls(kOrigin), 1).status();
  EXPECT_EQ(roster.code(), absl::StatusCode::kFailedPrecondition) << roster;
}

TB_INSTANTIATE_FOR_BOTH_SUITES(WitnessTest);

}  // namespace
}  // namespace tongban::sync
