#include "storage/writer.h"

#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/rotation.h"
#include "common/merkle/tree.h"
#include "gtest/gtest.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::storage {
namespace {

using crypto::SuiteId;
using testutil::kOrigin;
using testutil::kResidence;
using testutil::kThird;

constexpr absl::Duration kWait = absl::Seconds(30);

class WriterTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    const crypto::Suite& suite = crypto::GetSuite(GetParam());
    TB_ASSERT_OK_AND_ASSIGN(key_, suite.GenerateKey());
    StoreOptions so;
    so.path = dir_.File("db");
    so.suite = GetParam();
    TB_ASSERT_OK_AND_ASSIGN(so.storage_key, crypto::RandomBytes(suite.symmetric_key_size()));
    store_options_ = so;
    TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(so));
    OpenWriter(kOrigin);
  }

  void OpenWriter(const std::string& node) {
    writer_.reset();
    WriterOptions wo;
    wo.node = node;
    TB_ASSERT_OK_AND_ASSIGN(writer_, Writer::Open(store_.get(), key_.get(), wo, &clock_));
  }

  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  // Verifies the latest checkpoint's signature and that its root is the MTH
  // of the leaves as stored.
  merkle::Checkpoint VerifyLatestCheckpoint() {
    auto latest = store_->LatestCheckpoint(writer_->log());
    EXPECT_TRUE(latest.ok() && latest->has_value());
    auto cp = merkle::VerifyCheckpoint({(*latest)->body(), (*latest)->signature()}, suite(),
                                       key_->public_key());
    EXPECT_TRUE(cp.ok()) << cp.status();
    std::unique_ptr<crypto::Hasher> h = suite().NewHasher();
    std::vector<crypto::Digest> leaves;
    EXPECT_TRUE(store_
                    ->ScanEvents(writer_->log(), 1, cp->tree_size,
                                 [&](uint64_t, absl::string_view body) {
                                   leaves.push_back(merkle::LeafHash(*h, body));
                                   return absl::OkStatus();
                                 })
                    .ok());
    EXPECT_EQ(leaves.size(), cp->tree_size);
    EXPECT_EQ(merkle::RootOfLeaves(*h, leaves), cp->root);
    return *cp;
  }

  testutil::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<crypto::PrivateKey> key_;
  StoreOptions store_options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Writer> writer_;
};

TEST_P(WriterTest, AppendWritesEventStateLinkAndRouteInOneBatch) {
  const uint64_t commits_before = store_->synced_commits();
  TB_ASSERT_OK_AND_ASSIGN(Appended a,
                          writer_->Append(testutil::Basics("11010519491231002X", "Li")));
  EXPECT_EQ(a.id.seq(), 1u);
  EXPECT_EQ(a.audience, std::vector<std::string>{"000000"});
  EXPECT_TRUE(a.findings.empty());
  // One batch for the append; the checkpoint is a separate, later commit.
  TB_ASSERT_OK(writer_->WaitForCheckpoint(1, kWait));
  EXPECT_EQ(store_->synced_commits() - commits_before, 2u);

  TB_ASSERT_OK_AND_ASSIGN(std::string bytes, store_->GetEvent(writer_->log(), 1));
  v1::EventBody body;
  ASSERT_TRUE(body.ParseFromString(bytes));
  EXPECT_EQ(body.person(), "11010519491231002X");
  EXPECT_EQ(body.origin(), kOrigin);
  EXPECT_EQ(body.purpose(), v1::PURPOSE_CASE_MANAGEMENT);
  TB_ASSERT_OK_AND_ASSIGN(
      auto state, store_->GetRecord(RecordKey(a.person, v1::RECORD_KIND_PERSON_BASICS, "basics")));
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->custodian(), kOrigin);
  EXPECT_EQ(state->heads(0).payload(), body.payload());
  TB_ASSERT_OK_AND_ASSIGN(auto links, store_->GetLinks(a.person));
  ASSERT_EQ(links.count(kOrigin), 1u);
  EXPECT_EQ(links[kOrigin].role(), v1::LINK_ROLE_ORIGIN);
  TB_ASSERT_OK_AND_ASSIGN(auto route, store_->ScanRoute("000000", writer_->log(), 0, 10));
  EXPECT_EQ(route, std::vector<uint64_t>{1});
}

// Light load: every event gets a checkpoint of its own, and every checkpoint
// matches the stored leaves; inclusion proofs come from stored nodes.
TEST_P(WriterTest, EachEventIsCoveredByASignedCheckpoint) {
  const std::string id = testutil::MakeId(kOrigin, "19850607", 11);
  for (int i = 1; i <= 6; ++i) {
    auto change = testutil::Basics(id, "Wang");
    change.record_id = absl::StrCat("basics-", i);
    TB_ASSERT_OK_AND_ASSIGN(Appended a, writer_->Append(change));
    EXPECT_EQ(a.id.seq(), static_cast<uint64_t>(i));
    TB_ASSERT_OK(writer_->WaitForCheckpoint(a.id.seq(), kWait));
    const merkle::Checkpoint cp = VerifyLatestCheckpoint();
    EXPECT_EQ(cp.tree_size, static_cast<uint64_t>(i));
    EXPECT_EQ(cp.origin, kOrigin);
    EXPECT_EQ(cp.key_id, key_->public_key().KeyId());
  }
  std::unique_ptr<crypto::Hasher> h = suite().NewHasher();
  const merkle::Checkpoint cp = VerifyLatestCheckpoint();
  for (uint64_t seq = 1; seq <= 6; ++seq) {
    TB_ASSERT_OK_AND_ASSIGN(std::string body, store_->GetEvent(writer_->log(), seq));
    TB_ASSERT_OK_AND_ASSIGN(
        auto proof,
        merkle::InclusionProof(*h, seq - 1, cp.tree_size, store_->NodeReaderFor(writer_->log())));
    TB_EXPECT_OK(merkle::VerifyInclusion(*h, seq - 1, cp.tree_size, merkle::LeafHash(*h, body),
                                         proof, cp.root));
  }
  EXPECT_EQ(writer_->stats().checkpoints, 6u);
}

TEST_P(WriterTest, BadInputIsRejectedAndNothingIsStored) {
  struct Case {
    storage::RecordChange change;
    absl::StatusCode code;
    std::string expect;
  };
  std::vector<Case> cases;
  auto malformed = testutil::Basics("1101051949123100XX", "Li");
  cases.push_back({malformed, absl::StatusCode::kInvalidArgument, "person: citizen ID"});
  auto bad_date = testutil::Basics("11010519491231002X", "Li");
  *bad_date.value.mutable_person_basics()->mutable_birth_date() = testutil::Day(1990, 2, 29);
  cases.push_back({bad_date, absl::StatusCode::kInvalidArgument,
                   "person_basics.birth_date: 1990-02-29 is not a calendar date"});
  auto bad_region = testutil::Basics("11010519491231002X", "Li");
  bad_region.value.mutable_person_basics()->set_hukou_region("123456");
  cases.push_back({bad_region, absl::StatusCode::kInvalidArgument, "person_basics.hukou_region"});
  auto bad_kind = testutil::Basics("11010519491231002X", "Li");
  bad_kind.kind = v1::RECORD_KIND_OUTFLOW;
  cases.push_back({bad_kind, absl::StatusCode::kInvalidArgument, "payload"});
  auto bad_id = testutil::Basics("11010519491231002X", "Li");
  bad_id.record_id = "has space";
  cases.push_back({bad_id, absl::StatusCode::kInvalidArgument, "record_id"});
  storage::RecordChange retract_missing;
  retract_missing.person = "11010519491231002X";
  retract_missing.kind = v1::RECORD_KIND_SERVICE;
  retract_missing.record_id = "nope";
  retract_missing.operation = v1::OPERATION_RETRACT;
  retract_missing.reason = "entered twice";
  cases.push_back({retract_missing, absl::StatusCode::kNotFound, "no record service nope"});
  auto no_reason = retract_missing;
  no_reason.reason.clear();
  cases.push_back({no_reason, absl::StatusCode::kInvalidArgument, "reason"});

  for (const Case& c : cases) {
    const absl::Status s = writer_->Append(c.change).status();
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_NE(s.message().find(c.expect), absl::string_view::npos) << s;
    // No error message carries a whole ID.
    EXPECT_EQ(s.message().find("11010519491231002X"), absl::string_view::npos) << s;
    EXPECT_EQ(s.message().find("1101051949123100XX"), absl::string_view::npos) << s;
  }
  TB_ASSERT_OK_AND_ASSIGN(uint64_t last, store_->LastSeq(writer_->log()));
  EXPECT_EQ(last, 0u);
  TB_ASSERT_OK_AND_ASSIGN(auto records, store_->ListRecords("11010519491231002X"));
  EXPECT_TRUE(records.empty());
}

// A bad change in a batch fails alone; the others commit with dense seqs.
TEST_P(WriterTest, OneBadChangeDoesNotSpoilItsBatch) {
  std::vector<storage::RecordChange> changes;
  changes.push_back(testutil::Basics(testutil::MakeId(kOrigin, "19800101", 1), "A"));
  changes.push_back(testutil::Basics("not-an-id", "B"));
  changes.push_back(testutil::Basics(testutil::MakeId(kOrigin, "19800101", 3), "C"));
  auto results = writer_->AppendAll(changes);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok());
  EXPECT_FALSE(results[1].ok());
  ASSERT_TRUE(results[2].ok());
  EXPECT_EQ(results[0]->id.seq(), 1u);
  EXPECT_EQ(results[2]->id.seq(), 2u);
}

TEST_P(WriterTest, IdFindingsNeedConfirmationAndAreStoredAndCounted) {
  // Check character wrong (correct is X).
  auto change = testutil::Basics("110105194912310021", "Zhao");
  const absl::Status refused = writer_->Append(change).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("bad_check_character"), absl::string_view::npos);
  EXPECT_NE(refused.message().find("110105********0021"), absl::string_view::npos);

  change.confirm_findings = true;
  TB_ASSERT_OK_AND_ASSIGN(Appended a, writer_->Append(change));
  EXPECT_EQ(a.findings, std::vector<ids::IdFinding>{ids::IdFinding::kBadCheckCharacter});
  TB_ASSERT_OK_AND_ASSIGN(
      auto state, store_->GetRecord(RecordKey(a.person, v1::RECORD_KIND_PERSON_BASICS, "basics")));
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->id_findings_size(), 1);
  EXPECT_EQ(state->id_findings(0), v1::ID_FINDING_BAD_CHECK_CHARACTER);
  TB_ASSERT_OK_AND_ASSIGN(uint64_t count, store_->GetCounter("id_finding/bad_check_character"));
  EXPECT_EQ(count, 1u);
  // An update of the same record does not count the same finding again; a
  // second record does.
  TB_ASSERT_OK(writer_->Append(change));
  auto other = change;
  other.record_id = "basics-2";
  TB_ASSERT_OK(writer_->Append(other));
  TB_ASSERT_OK_AND_ASSIGN(count, store_->GetCounter("id_finding/bad_check_character"));
  EXPECT_EQ(count, 2u);
}

TEST_P(WriterTest, UpdatesAndRetractionsSupersedeHeads) {
  auto change = testutil::Basics("11010519491231002X", "Li");
  TB_ASSERT_OK_AND_ASSIGN(Appended first, writer_->Append(change));
  change.value.mutable_person_basics()->set_name("Li (corrected)");
  TB_ASSERT_OK_AND_ASSIGN(Appended second, writer_->Append(change));
  storage::RecordChange retract;
  retract.person = change.person;
  retract.kind = change.kind;
  retract.record_id = change.record_id;
  retract.operation = v1::OPERATION_RETRACT;
  retract.reason = "registered in error";
  TB_ASSERT_OK_AND_ASSIGN(Appended third, writer_->Append(retract));

  TB_ASSERT_OK_AND_ASSIGN(std::string bytes, store_->GetEvent(writer_->log(), 3));
  v1::EventBody body;
  ASSERT_TRUE(body.ParseFromString(bytes));
  ASSERT_EQ(body.parents_size(), 1);
  EXPECT_EQ(body.parents(0).seq(), second.id.seq());
  EXPECT_EQ(body.operation(), v1::OPERATION_RETRACT);
  EXPECT_EQ(body.reason(), "registered in error");
  TB_ASSERT_OK_AND_ASSIGN(auto state,
                          store_->GetRecord(RecordKey(first.person, change.kind, "basics")));
  EXPECT_EQ(state->versions(), 3u);
  EXPECT_EQ(state->heads(0).operation(), v1::OPERATION_RETRACT);
  EXPECT_EQ(writer_->Append(retract).status().code(), absl::StatusCode::kFailedPrecondition);
}

// Custody: a record another node keeps is never written here.
TEST_P(WriterTest, RecordsKeptByAnotherNodeAreRefused) {
  const std::string id = "11010519491231002X";
  Batch batch(*store_);
  v1::RecordState foreign;
  foreign.set_custodian(kResidence);
  batch.PutRecord(RecordKey(id, v1::RECORD_KIND_SERVICE, "svc-1"), foreign);
  TB_ASSERT_OK(store_->Commit(batch, true));
  const absl::Status s = writer_->Append(testutil::Service(id, kOrigin, "svc-1")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("kept by node 440305"), absl::string_view::npos) << s;
}

// An import's upserts skip a record that already holds their value: in the
// same call, in a later one, and across two calls in flight at once.
TEST_P(WriterTest, SkipIfUnchangedWritesEachValueOnce) {
  const std::string id = testutil::MakeId(kOrigin, "19920304", 41);
  RecordChange svc = testutil::Service(id, kOrigin, "svc-1");
  svc.skip_if_unchanged = true;
  std::vector<absl::StatusOr<Appended>> r = writer_->AppendAll({svc, svc});
  TB_ASSERT_OK(r[0].status());
  TB_ASSERT_OK(r[1].status());
  EXPECT_FALSE(r[0]->unchanged);
  EXPECT_TRUE(r[1]->unchanged);
  EXPECT_EQ(r[1]->id.seq(), r[0]->id.seq());
  TB_ASSERT_OK_AND_ASSIGN(Appended again, writer_->Append(svc));
  EXPECT_TRUE(again.unchanged);

  // Two callers at once with the same new value: one event.
  RecordChange changed = svc;
  changed.value.mutable_service()->set_notes("second visit");
  std::vector<absl::StatusOr<Appended>> other;
  std::thread t([&] { other = writer_->AppendAll({changed}); });
  std::vector<absl::StatusOr<Appended>> mine = writer_->AppendAll({changed});
  t.join();
  TB_ASSERT_OK(mine[0].status());
  TB_ASSERT_OK(other[0].status());
  EXPECT_NE(mine[0]->unchanged, other[0]->unchanged);
  TB_ASSERT_OK_AND_ASSIGN(auto state, store_->GetRecord(RecordKey(svc.person, svc.kind, "svc-1")));
  EXPECT_EQ(state->versions(), 2u);
  // Without the flag the same value is a new version.
  svc.skip_if_unchanged = false;
  TB_ASSERT_OK_AND_ASSIGN(Appended forced, writer_->Append(svc));
  EXPECT_FALSE(forced.unchanged);
}

// Entitlements follow the person from the origin: the residence writes none,
// even in the same call as the inflow that links the origin; the origin does.
TEST_P(WriterTest, OnlyThePersonsOriginWritesEntitlements) {
  OpenWriter(kResidence);
  const std::string id = testutil::MakeId(kOrigin, "19920304", 31);
  const RecordChange ent = testutil::Entitlement(id);
  const std::vector<RecordChange> both = {testutil::Inflow(id, kOrigin), ent};
  std::vector<absl::StatusOr<Appended>> r = writer_->AppendAll(both);
  TB_ASSERT_OK(r[0].status());
  EXPECT_EQ(r[1].status().code(), absl::StatusCode::kFailedPrecondition) << r[1].status();
  EXPECT_NE(r[1].status().message().find("the person's origin is 620102"), absl::string_view::npos)
      << r[1].status();
  OpenWriter(kOrigin);
  TB_ASSERT_OK(writer_->Append(ent).status());
}

// The residence's events reach the origin named in its inflow registration.
TEST_P(WriterTest, AudienceFollowsThePersonsLinks) {
  OpenWriter(kResidence);
  const std::string id = testutil::MakeId(kOrigin, "19920304", 21);
  const std::string stranger = testutil::MakeId(kOrigin, "19920304", 23);
  TB_ASSERT_OK_AND_ASSIGN(Appended in, writer_->Append(testutil::Inflow(id, kOrigin)));
  EXPECT_EQ(in.audience, (std::vector<std::string>{"000000", kOrigin}));
  TB_ASSERT_OK_AND_ASSIGN(Appended svc,
                          writer_->Append(testutil::Service(id, kResidence, "svc-1")));
  EXPECT_EQ(svc.audience, (std::vector<std::string>{"000000", kOrigin}));
  // A person with no links here goes to the national node only.
  TB_ASSERT_OK_AND_ASSIGN(Appended other,
                          writer_->Append(testutil::Service(stranger, kResidence, "s")));
  EXPECT_EQ(other.audience, std::vector<std::string>{"000000"});
  TB_ASSERT_OK_AND_ASSIGN(auto to_origin, store_->ScanRoute(kOrigin, writer_->log(), 0, 10));
  EXPECT_EQ(to_origin, (std::vector<uint64_t>{1, 2}));
  TB_ASSERT_OK_AND_ASSIGN(auto to_national, store_->ScanRoute("000000", writer_->log(), 0, 10));
  EXPECT_EQ(to_national, (std::vector<uint64_t>{1, 2, 3}));
}

// A correction or retraction reaches every node that received an earlier
// version, even one the person's links no longer name: the counterpart of
// a withdrawn inquiry, the first destination of a corrected outflow.
TEST_P(WriterTest, CorrectionsReachEveryEarlierReceiver) {
  const std::string id = testutil::MakeId(kOrigin, "19920304", 21);
  const absl::Time sent = absl::FromUnixSeconds(1796083200);
  TB_ASSERT_OK_AND_ASSIGN(Appended asked, writer_->Append(testutil::Inquiry(
                                              id, kThird, "inq-1", v1::INQUIRY_TYPE_NORMAL, sent,
                                              testutil::Day(2026, 12, 31))));
  EXPECT_EQ(asked.audience, (std::vector<std::string>{"000000", kThird}));
  TB_ASSERT_OK_AND_ASSIGN(Appended withdrawn, writer_->Append(testutil::Retraction(
                                                  id, v1::RECORD_KIND_INQUIRY, "inq-1")));
  EXPECT_EQ(withdrawn.audience, (std::vector<std::string>{"000000", kThird}));

  auto outflow = testutil::Outflow(id, kResidence, "out-1");
  TB_ASSERT_OK_AND_ASSIGN(Appended first, writer_->Append(outflow));
  EXPECT_EQ(first.audience, (std::vector<std::string>{"000000", kResidence}));
  // Corrected: the person went to the third county, not the residence.
  outflow.value.mutable_outflow()->set_destination_county(kThird);
  TB_ASSERT_OK_AND_ASSIGN(Appended corrected, writer_->Append(outflow));
  EXPECT_EQ(corrected.audience, (std::vector<std::string>{"000000", kThird, kResidence}));
  TB_ASSERT_OK_AND_ASSIGN(auto to_residence, store_->ScanRoute(kResidence, writer_->log(), 0, 10));
  EXPECT_EQ(to_residence, (std::vector<uint64_t>{3, 4}));
}

// Concurrent writers each get an acknowledged seq; together the seqs are
// dense and unique, and the log they form verifies against its checkpoint.
// (Whether concurrent callers share an fsync depends on timing; that one
// batch of changes is one commit is tested deterministically below, and the
// benchmark reports fsyncs per run.)
TEST_P(WriterTest, ConcurrentAppendsGetDenseUniqueSeqs) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto c = testutil::Basics(testutil::MakeId(kOrigin, "19700101", t * 100 + i), "N");
        auto r = writer_->Append(c);
        ASSERT_TRUE(r.ok()) << r.status();
        seqs[t].push_back(r->id.seq());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (const auto& v : seqs) all.insert(v.begin(), v.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), static_cast<uint64_t>(kThreads * kPerThread));
  TB_ASSERT_OK(writer_->WaitForCheckpoint(kThreads * kPerThread, kWait));
  VerifyLatestCheckpoint();
}

// Under load one checkpoint covers many events, at most the configured cap.
TEST_P(WriterTest, BatchesAreCoveredByFewCheckpoints) {
  std::vector<storage::RecordChange> changes;
  for (int i = 0; i < 3000; ++i) {
    changes.push_back(testutil::Basics(testutil::MakeId(kOrigin, "19700101", i % 1000), "N"));
    changes.back().record_id = absl::StrCat("b", i);
  }
  for (const auto& r : writer_->AppendAll(changes)) ASSERT_TRUE(r.ok()) << r.status();
  TB_ASSERT_OK(writer_->WaitForCheckpoint(3000, kWait));
  const WriterStats stats = writer_->stats();
  EXPECT_EQ(stats.last_seq, 3000u);
  EXPECT_LE(stats.checkpoints, 3000u / 1024 + 3);  // capped at 1,024 events each
  EXPECT_LE(stats.commits, 4u);                    // max_group 1,024
  EXPECT_EQ(VerifyLatestCheckpoint().tree_size, 3000u);
}

TEST_P(WriterTest, RestartResumesTheLog) {
  for (int i = 0; i < 10; ++i) {
    auto c = testutil::Basics(testutil::MakeId(kOrigin, "19700101", i), "N");
    TB_ASSERT_OK(writer_->Append(c));
  }
  writer_.reset();  // signs what it appended before it stops
  store_.reset();
  TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(store_options_));
  OpenWriter(kOrigin);
  EXPECT_EQ(writer_->stats().signed_size, 10u);
  TB_ASSERT_OK_AND_ASSIGN(Appended a, writer_->Append(testutil::Basics(
                                          testutil::MakeId(kOrigin, "19700101", 99), "N")));
  EXPECT_EQ(a.id.seq(), 11u);
  TB_ASSERT_OK(writer_->WaitForCheckpoint(11, kWait));
  EXPECT_EQ(VerifyLatestCheckpoint().tree_size, 11u);
}

// Our own events fetched back after a restore (the node verified them
// against its own checkpoint): appended as they were signed, with the record
// states and routes they imply, signed again to the same root; events that
// do not follow on, or of another log, are refused and nothing is stored.
TEST_P(WriterTest, RecoveredOwnEventsAreAppendedAsSignedAndSignedAgainToTheSameRoot) {
  std::vector<std::string> people;
  for (int i = 0; i < 5; ++i) {
    people.push_back(testutil::MakeId(kOrigin, "19700101", i));
    TB_ASSERT_OK(writer_->Append(testutil::Basics(people.back(), "N")));
  }
  TB_ASSERT_OK(writer_->WaitForCheckpoint(5, kWait));
  const merkle::Checkpoint original = VerifyLatestCheckpoint();
  RemoteBatch lost;
  lost.log = writer_->log();
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    RemoteEvent& e = lost.events.emplace_back();
    e.seq = seq;
    TB_ASSERT_OK_AND_ASSIGN(e.body, store_->GetEvent(writer_->log(), seq));
    ASSERT_TRUE(e.parsed.ParseFromString(e.body));
  }

  // The same node, restored with nothing of its log.
  writer_.reset();
  store_.reset();
  std::filesystem::remove_all(store_options_.path);
  TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(store_options_));
  OpenWriter(kOrigin);
  RemoteBatch ahead = lost;
  ahead.events.erase(ahead.events.begin());  // starts at seq 2
  EXPECT_EQ(writer_->AppendRecovered(ahead).code(), absl::StatusCode::kFailedPrecondition);
  RemoteBatch other = lost;
  other.log.origin = kResidence;
  EXPECT_EQ(writer_->AppendRecovered(other).code(), absl::StatusCode::kInvalidArgument);
  TB_ASSERT_OK_AND_ASSIGN(uint64_t last, store_->LastSeq(writer_->log()));
  EXPECT_EQ(last, 0u);

  TB_ASSERT_OK(writer_->AppendRecovered(lost));
  TB_ASSERT_OK(writer_->WaitForCheckpoint(5, kWait));
  const merkle::Checkpoint again = VerifyLatestCheckpoint();
  EXPECT_EQ(again.tree_size, 5u);
  EXPECT_EQ(again.root, original.root);
  for (const std::string& person : people) {
    TB_ASSERT_OK_AND_ASSIGN(
        auto state, store_->GetRecord(RecordKey(person, v1::RECORD_KIND_PERSON_BASICS, "basics")));
    ASSERT_TRUE(state.has_value());
    EXPECT_EQ(state->custodian(), kOrigin);
    EXPECT_EQ(std::vector<std::string>(state->audience().begin(), state->audience().end()),
              std::vector<std::string>{"000000"});
  }
  TB_ASSERT_OK_AND_ASSIGN(auto route, store_->ScanRoute("000000", writer_->log(), 0, 10));
  EXPECT_EQ(route, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  // The log goes on after them.
  TB_ASSERT_OK_AND_ASSIGN(Appended next, writer_->Append(testutil::Basics(
                                             testutil::MakeId(kOrigin, "19700101", 9), "N")));
  EXPECT_EQ(next.id.seq(), 6u);
}

// Key rotation (DESIGN.md section 3): the entry sits in the log at its seq,
// signed by both keys; checkpoints below it stay the old key's, from it on
// they are the new key's, across a restart with the new key as the node's
// key; and a log fetched back into an empty store (a restore) is signed
// again with the key each position calls for.
TEST_P(WriterTest, KeyRotationSignsFromItsSeqOnAcrossRestartsAndRestores) {
  for (int i = 0; i < 2; ++i) {
    TB_ASSERT_OK(writer_->Append(testutil::Basics(testutil::MakeId(kOrigin, "19700101", i), "N")));
  }
  TB_ASSERT_OK(writer_->WaitForCheckpoint(2, kWait));
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> next, suite().GenerateKey());
  EXPECT_EQ(writer_->RotateKey(key_.get()).status().code(), absl::StatusCode::kFailedPrecondition);
  TB_ASSERT_OK_AND_ASSIGN(Appended rotated, writer_->RotateKey(next.get()));
  EXPECT_EQ(rotated.id.seq(), 3u);
  EXPECT_EQ(&writer_->current_key(), next.get());
  TB_ASSERT_OK(writer_->Append(testutil::Basics(testutil::MakeId(kOrigin, "19700101", 2), "N")));
  TB_ASSERT_OK(writer_->WaitForCheckpoint(4, kWait));

  const LogId log = writer_->log();
  auto key_id_at = [&](uint64_t size) {
    auto cp = store_->GetCheckpoint(log, size);
    EXPECT_TRUE(cp.ok() && cp->has_value()) << size;
    return cp.ok() && cp->has_value() ? merkle::ParseCheckpoint((*cp)->body())->key_id : "";
  };
  EXPECT_EQ(key_id_at(2), key_->public_key().KeyId());
  EXPECT_EQ(key_id_at(4), next->public_key().KeyId());
  TB_ASSERT_OK_AND_ASSIGN(std::string body, store_->GetEvent(log, 3));
  v1::EventBody entry;
  ASSERT_TRUE(entry.ParseFromString(body));
  EXPECT_TRUE(entry.person().empty());
  TB_ASSERT_OK_AND_ASSIGN(
      merkle::KeyRotation r,
      merkle::VerifyKeyRotation({entry.key_rotation().body(), entry.key_rotation().old_signature(),
                                 entry.key_rotation().new_signature()}));
  EXPECT_EQ(r.seq, 3u);
  EXPECT_EQ(r.old_key_id, key_->public_key().KeyId());
  EXPECT_EQ(r.new_key_id, next->public_key().KeyId());
  TB_ASSERT_OK_AND_ASSIGN(std::vector<KeyRotationEntry> stored, store_->KeyRotations(kOrigin));
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].rotation.body(), entry.key_rotation().body());

  // What the national node would send back, in two rounds: 1..2 with the
  // checkpoint at 2, 3..4 with the one at 4.
  RemoteBatch lost[2];
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    RemoteBatch& part = lost[seq <= 2 ? 0 : 1];
    part.log = log;
    RemoteEvent& e = part.events.emplace_back();
    e.seq = seq;
    TB_ASSERT_OK_AND_ASSIGN(e.body, store_->GetEvent(log, seq));
    ASSERT_TRUE(e.parsed.ParseFromString(e.body));
    TB_ASSERT_OK_AND_ASSIGN(part.checkpoint, store_->GetCheckpoint(log, seq));
    part.checkpoint_size = seq;
  }
  TB_ASSERT_OK_AND_ASSIGN(auto before, store_->LatestCheckpoint(log));
  const merkle::Checkpoint original = *merkle::ParseCheckpoint((*before).body());

  // Restarted with the new key as its key: it goes on signing with it.
  auto reopen = [&](const crypto::PrivateKey* key, std::vector<const crypto::PrivateKey*> earlier) {
    writer_.reset();
    WriterOptions wo;
    wo.node = kOrigin;
    wo.earlier_keys = std::move(earlier);
    return Writer::Open(store_.get(), key, wo, &clock_);
  };
  TB_ASSERT_OK_AND_ASSIGN(writer_, reopen(next.get(), {}));
  TB_ASSERT_OK(writer_->Append(testutil::Basics(testutil::MakeId(kOrigin, "19700101", 3), "N")));
  TB_ASSERT_OK(writer_->WaitForCheckpoint(5, kWait));
  EXPECT_EQ(key_id_at(5), next->public_key().KeyId());
  // Restarted with the retired key as its key file: refused, naming the key
  // that signs the log now.
  absl::Status stale = reopen(key_.get(), {}).status();
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition) << stale;
  EXPECT_TRUE(absl::StrContains(stale.message(), next->public_key().KeyId())) << stale;

  // Restored with nothing of its log: the fetched-back entries are signed
  // again, below the rotation with the retired key, to the same root.
  store_.reset();
  std::filesystem::remove_all(store_options_.path);
  TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(store_options_));
  TB_ASSERT_OK_AND_ASSIGN(writer_, reopen(next.get(), {}));
  const absl::Status without_old = writer_->AppendRecovered(lost[0]);
  EXPECT_EQ(without_old.code(), absl::StatusCode::kFailedPrecondition) << without_old;
  EXPECT_TRUE(absl::StrContains(without_old.message(), key_->public_key().KeyId()));
  TB_ASSERT_OK_AND_ASSIGN(writer_, reopen(next.get(), {key_.get()}));
  TB_ASSERT_OK(writer_->AppendRecovered(lost[0]));
  TB_ASSERT_OK(writer_->WaitForCheckpoint(2, kWait));
  EXPECT_EQ(key_id_at(2), key_->public_key().KeyId());
  TB_ASSERT_OK(writer_->AppendRecovered(lost[1]));
  TB_ASSERT_OK(writer_->WaitForCheckpoint(4, kWait));
  TB_ASSERT_OK_AND_ASSIGN(auto again, store_->LatestCheckpoint(log));
  const merkle::Checkpoint resigned = *merkle::ParseCheckpoint((*again).body());
  EXPECT_EQ(resigned.tree_size, 4u);
  EXPECT_EQ(resigned.root, original.root);
  EXPECT_EQ(resigned.key_id, next->public_key().KeyId());
  TB_ASSERT_OK_AND_ASSIGN(stored, store_->KeyRotations(kOrigin));
  EXPECT_EQ(stored.size(), 1u);
  EXPECT_EQ(&writer_->current_key(), next.get());
  writer_.reset();  // before `next`, which it signs with
}

// A leaf whose stored bytes change between append and signing is never
// signed, and the writer then refuses to extend the log.
TEST_P(WriterTest, LeafChangedBeforeSigningIsNeverSigned) {
  writer_.reset();
  WriterOptions wo;
  wo.node = kOrigin;
  bool tampered = false;
  wo.before_sign_for_test = [&](uint64_t tree_size) {
    if (tampered || tree_size < 1) return;
    // One letter of the address: the body still parses, only its hash changes.
    std::string body = *store_->GetEvent(LogId{kOrigin, 1}, tree_size);
    const size_t at = body.find("Lanzhou test address");
    ASSERT_NE(at, std::string::npos);
    body[at] = 'l';
    Batch batch(*store_);
    batch.PutEvent(LogId{kOrigin, 1}, tree_size, body);
    ASSERT_TRUE(store_->Commit(batch, true).ok());
    tampered = true;
  };
  TB_ASSERT_OK_AND_ASSIGN(writer_, Writer::Open(store_.get(), key_.get(), wo, &clock_));
  TB_EXPECT_OK(writer_->failure());
  TB_ASSERT_OK(writer_->Append(testutil::Basics("11010519491231002X", "Li")));
  const absl::Status s = writer_->WaitForCheckpoint(1, kWait);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(writer_->failure().code(), absl::StatusCode::kDataLoss);  // what readiness reports
  EXPECT_NE(s.message().find("refusing to sign"), absl::string_view::npos) << s;
  const absl::Status append =
      writer_->Append(testutil::Basics(testutil::MakeId(kOrigin, "19700101", 9), "N")).status();
  EXPECT_EQ(append.code(), absl::StatusCode::kDataLoss) << append;
  TB_ASSERT_OK_AND_ASSIGN(auto latest, store_->LatestCheckpoint(LogId{kOrigin, 1}));
  EXPECT_FALSE(latest.has_value());
}

// A signed leaf changed on disk while the node was down stops the next start.
TEST_P(WriterTest, SignedLeafChangedOnDiskStopsTheNextStart) {
  for (int i = 0; i < 4; ++i) {
    TB_ASSERT_OK(writer_->Append(testutil::Basics(testutil::MakeId(kOrigin, "19700101", i), "N")));
  }
  writer_.reset();  // signs all four before it stops
  {
    const LogId log{kOrigin, 1};
    TB_ASSERT_OK_AND_ASSIGN(std::string body, store_->GetEvent(log, 3));
    const size_t at = body.find("Lanzhou test address");
    ASSERT_NE(at, std::string::npos);
    body[at] = 'l';
    Batch batch(*store_);
    batch.PutEvent(log, 3, body);
    TB_ASSERT_OK(store_->Commit(batch, true));
  }
  WriterOptions wo;
  wo.node = kOrigin;
  const absl::Status s = Writer::Open(store_.get(), key_.get(), wo, &clock_).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("does not match the signed checkpoint"), absl::string_view::npos) << s;
}

TB_INSTANTIATE_FOR_BOTH_SUITES(WriterTest);

}  // namespace
}  // namespace tongban::storage
