// Applying another origin's verified events: the residence receives the
// origin's history, derives the same links, keeps custody, and its own
// events then reach the origin; batches queued without waiting.
#include <algorithm>
#include <thread>

#include "gtest/gtest.h"
#include "storage/writer.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::storage {
namespace {

using crypto::SuiteId;
using testutil::kOrigin;
using testutil::kResidence;

// One node: its key, store and writer, in a folder of the test's temp dir.
struct TestNode {
  TestNode(const testutil::ScopedTempDir& dir, SuiteId suite, const std::string& code,
           const Clock* clock, bool relay = false) {
    const crypto::Suite& s = crypto::GetSuite(suite);
    key = *s.GenerateKey();
    StoreOptions so;
    so.path = dir.File(code);
    so.suite = suite;
    so.storage_key = *crypto::RandomBytes(s.symmetric_key_size());
    store = *Store::Open(so);
    WriterOptions wo;
    wo.node = code;
    wo.relay = relay;
    writer = *Writer::Open(store.get(), key.get(), wo, clock);
  }
  // Appends the basics of `n` persons registered in kOrigin.
  void AppendPersons(int n) {
    for (int i = 0; i < n; ++i) {
      auto r = writer->Append(testutil::Basics(testutil::MakeId(kOrigin, "19900101", i), "N"));
      EXPECT_TRUE(r.ok()) << r.status();
    }
  }
  // Events first..last of this node's log, as the sync layer hands them over
  // after verifying them.
  RemoteBatch Export(uint64_t first, uint64_t last) {
    EXPECT_TRUE(writer->WaitForCheckpoint(last, absl::Seconds(30)).ok());
    RemoteBatch rb;
    rb.log = writer->log();
    EXPECT_TRUE(store
                    ->ScanEvents(rb.log, first, last,
                                 [&](uint64_t seq, absl::string_view b) {
                                   RemoteEvent e;
                                   e.seq = seq;
                                   e.body = std::string(b);
                                   EXPECT_TRUE(e.parsed.ParseFromString(e.body));
                                   rb.events.push_back(std::move(e));
                                   return absl::OkStatus();
                                 })
                    .ok());
    auto cp = store->LatestCheckpoint(rb.log);
    rb.checkpoint = **cp;
    rb.checkpoint_size = last;
    rb.from_peer = rb.log.origin;
    rb.cursor = last;
    return rb;
  }

  std::unique_ptr<crypto::PrivateKey> key;
  std::unique_ptr<Store> store;
  std::unique_ptr<Writer> writer;
};

class ApplyRemoteTest : public testing::TestWithParam<SuiteId> {
 protected:
  testutil::ScopedTempDir dir_;
  FakeClock clock_;
};

TEST_P(ApplyRemoteTest, ResidenceReceivesHistoryAndItsEventsReachTheOrigin) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TestNode residence(dir_, GetParam(), kResidence, &clock_);
  const std::string person = testutil::MakeId(kOrigin, "19900101", 2);
  TB_ASSERT_OK(origin.writer->Append(testutil::Basics(person, "Li")));
  storage::RecordChange outflow;
  outflow.person = person;
  outflow.kind = v1::RECORD_KIND_OUTFLOW;
  outflow.record_id = "out-1";
  outflow.value.mutable_outflow()->set_destination_county(kResidence);
  *outflow.value.mutable_outflow()->mutable_left_on() = testutil::Day(2026, 3, 1);
  TB_ASSERT_OK_AND_ASSIGN(Appended out, origin.writer->Append(outflow));
  EXPECT_EQ(out.audience, (std::vector<std::string>{"000000", kResidence}));

  const RemoteBatch batch = origin.Export(1, 2);
  TB_ASSERT_OK(residence.writer->ApplyRemote(batch));

  // The history is there, byte for byte, with the record kept by the origin.
  TB_ASSERT_OK_AND_ASSIGN(std::string body, residence.store->GetEvent(batch.log, 2));
  EXPECT_EQ(body, batch.events[1].body);
  TB_ASSERT_OK_AND_ASSIGN(auto basics, residence.store->GetRecord(RecordKey(
                                           person, v1::RECORD_KIND_PERSON_BASICS, "basics")));
  ASSERT_TRUE(basics.has_value());
  EXPECT_EQ(basics->custodian(), kOrigin);
  TB_ASSERT_OK_AND_ASSIGN(auto links, residence.store->GetLinks(person));
  EXPECT_EQ(links.at(kOrigin).role(), v1::LINK_ROLE_ORIGIN);
  TB_ASSERT_OK_AND_ASSIGN(auto cursor,
                          residence.store->Get(Cf::kCursors, CursorKey(kOrigin, batch.log)));
  ASSERT_TRUE(cursor.has_value());
  v1::Position position;
  ASSERT_TRUE(position.ParseFromString(*cursor));
  EXPECT_EQ(position.seq(), 2u);
  TB_ASSERT_OK_AND_ASSIGN(auto cp, residence.store->LatestCheckpoint(batch.log));
  EXPECT_TRUE(cp.has_value());

  // The residence may not change the origin's record ...
  auto edit = testutil::Basics(person, "Changed");
  EXPECT_EQ(residence.writer->Append(edit).status().code(), absl::StatusCode::kFailedPrecondition);
  // ... and its own events about the person go to the origin.
  TB_ASSERT_OK_AND_ASSIGN(Appended in, residence.writer->Append(testutil::Inflow(person, kOrigin)));
  EXPECT_EQ(in.audience, (std::vector<std::string>{"000000", kOrigin}));
  TB_ASSERT_OK_AND_ASSIGN(Appended svc,
                          residence.writer->Append(testutil::Service(person, kResidence, "s1")));
  EXPECT_EQ(svc.audience, (std::vector<std::string>{"000000", kOrigin}));

  // The origin applies them and derives the same links as the residence.
  const RemoteBatch back = residence.Export(1, 2);
  TB_ASSERT_OK(origin.writer->ApplyRemote(back));
  TB_ASSERT_OK_AND_ASSIGN(auto origin_links, origin.store->GetLinks(person));
  TB_ASSERT_OK_AND_ASSIGN(auto residence_links, residence.store->GetLinks(person));
  ASSERT_EQ(origin_links.size(), residence_links.size());
  for (const auto& [node, link] : residence_links) {
    EXPECT_EQ(origin_links.at(node).SerializeAsString(), link.SerializeAsString()) << node;
  }
}

// Peers resend after reconnects: the same events again change nothing.
TEST_P(ApplyRemoteTest, DuplicatesAreNoOps) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TestNode residence(dir_, GetParam(), kResidence, &clock_);
  const std::string person = testutil::MakeId(kOrigin, "19900101", 2);
  TB_ASSERT_OK(origin.writer->Append(testutil::Basics(person, "Li")));
  const RemoteBatch batch = origin.Export(1, 1);
  TB_ASSERT_OK(residence.writer->ApplyRemote(batch));
  TB_ASSERT_OK(residence.writer->ApplyRemote(batch));
  TB_ASSERT_OK_AND_ASSIGN(auto basics, residence.store->GetRecord(RecordKey(
                                           person, v1::RECORD_KIND_PERSON_BASICS, "basics")));
  EXPECT_EQ(basics->versions(), 1u);
}

// The same position with other bytes is evidence of a fork: refused whole.
// The same events arriving through two peers at once (the origin and the
// national node's relay) are applied once, even while the first copy is
// still in a group that is not yet committed.
TEST_P(ApplyRemoteTest, SameEventsFromTwoPeersAtOnceAreAppliedOnce) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TestNode residence(dir_, GetParam(), kResidence, &clock_);
  constexpr int kPersons = 200;
  std::vector<std::string> persons;
  for (int i = 0; i < kPersons; ++i) {
    persons.push_back(testutil::MakeId(kOrigin, "19900101", i));
    TB_ASSERT_OK(origin.writer->Append(testutil::Basics(persons.back(), "P")).status());
  }
  std::vector<RemoteBatch> batches;
  for (uint64_t seq = 1; seq <= kPersons; ++seq) batches.push_back(origin.Export(seq, seq));
  auto apply_all = [&] {
    for (const RemoteBatch& b : batches) EXPECT_TRUE(residence.writer->ApplyRemote(b).ok());
  };
  std::thread first(apply_all), second(apply_all);
  first.join();
  second.join();
  for (const std::string& p : persons) {
    auto state = residence.store->GetRecord(RecordKey(p, v1::RECORD_KIND_PERSON_BASICS, "basics"));
    ASSERT_TRUE(state.ok() && state->has_value());
    EXPECT_EQ((*state)->versions(), 1u);
    EXPECT_EQ((*state)->heads_size(), 1);
  }
}

TEST_P(ApplyRemoteTest, OtherBytesAtAStoredSeqAreRefusedWhole) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TestNode residence(dir_, GetParam(), kResidence, &clock_);
  origin.AppendPersons(3);
  TB_ASSERT_OK(residence.writer->ApplyRemote(origin.Export(1, 1)));
  RemoteBatch forked = origin.Export(1, 3);
  forked.events[0].body += "x";
  const absl::Status s = residence.writer->ApplyRemote(forked);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  // Nothing of the refused batch was written: not its new events, not its cursor.
  EXPECT_EQ(residence.store->GetEvent(forked.log, 2).status().code(), absl::StatusCode::kNotFound);
  TB_ASSERT_OK_AND_ASSIGN(auto cursor,
                          residence.store->Get(Cf::kCursors, CursorKey(kOrigin, forked.log)));
  v1::Position position;
  ASSERT_TRUE(position.ParseFromString(*cursor));
  EXPECT_EQ(position.seq(), 1u);
  // The writer keeps working.
  TB_ASSERT_OK(residence.writer->ApplyRemote(origin.Export(2, 3)));
}

TEST_P(ApplyRemoteTest, NationalNodeRoutesEventsOnToTheirAudience) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TestNode national(dir_, GetParam(), "000000", &clock_, /*relay=*/true);
  const std::string person = testutil::MakeId(kOrigin, "19900101", 2);
  storage::RecordChange outflow;
  outflow.person = person;
  outflow.kind = v1::RECORD_KIND_OUTFLOW;
  outflow.record_id = "out-1";
  outflow.value.mutable_outflow()->set_destination_county(kResidence);
  *outflow.value.mutable_outflow()->mutable_left_on() = testutil::Day(2026, 3, 1);
  TB_ASSERT_OK(origin.writer->Append(testutil::Basics(person, "Li")));  // national only
  TB_ASSERT_OK(origin.writer->Append(outflow));                         // + 440305
  const RemoteBatch batch = origin.Export(1, 2);
  TB_ASSERT_OK(national.writer->ApplyRemote(batch));
  TB_ASSERT_OK_AND_ASSIGN(auto to_residence,
                          national.store->ScanRoute(kResidence, batch.log, 0, 10));
  EXPECT_EQ(to_residence, std::vector<uint64_t>{2});
}

// A new residence C writes before it knows the previous residence B (its
// backfill has not brought B's registration yet), so B is not in the
// audience C names. The national node knows B's link and routes C's event
// to B as well: B stays linked within the retention window.
TEST_P(ApplyRemoteTest, NationalNodeAlsoRoutesToNodesLinkedInItsOwnView) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TestNode residence(dir_, GetParam(), kResidence, &clock_);
  TestNode third(dir_, GetParam(), testutil::kThird, &clock_);
  TestNode national(dir_, GetParam(), "000000", &clock_, /*relay=*/true);
  const std::string person = testutil::MakeId(kOrigin, "19900101", 2);
  TB_ASSERT_OK(origin.writer->Append(testutil::Basics(person, "Li")));
  TB_ASSERT_OK(residence.writer->Append(testutil::Inflow(person, kOrigin)));
  storage::RecordChange moved = testutil::Inflow(person, kOrigin, "inflow-c");
  moved.value.mutable_inflow()->set_previous_residence(kResidence);
  *moved.value.mutable_inflow()->mutable_arrived_on() = testutil::Day(2026, 6, 1);
  *moved.value.mutable_inflow()->mutable_registered_on() = testutil::Day(2026, 6, 2);
  TB_ASSERT_OK(third.writer->Append(moved));
  TB_ASSERT_OK_AND_ASSIGN(Appended service,
                          third.writer->Append(testutil::Service(person, testutil::kThird, "s")));
  EXPECT_TRUE(std::find(service.audience.begin(), service.audience.end(), kResidence) ==
              service.audience.end())
      << "C did not know B when it wrote";
  TB_ASSERT_OK(national.writer->ApplyRemote(origin.Export(1, 1)));
  TB_ASSERT_OK(national.writer->ApplyRemote(residence.Export(1, 1)));
  const RemoteBatch from_c = third.Export(1, 2);
  TB_ASSERT_OK(national.writer->ApplyRemote(from_c));
  TB_ASSERT_OK_AND_ASSIGN(auto to_residence,
                          national.store->ScanRoute(kResidence, from_c.log, 0, 10));
  EXPECT_EQ(to_residence, (std::vector<uint64_t>{1, 2}))
      << "the inflow names B; the service reaches B through the national node's view";
}

TEST_P(ApplyRemoteTest, OwnLogIsNeverAppliedFromAPeer) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TB_ASSERT_OK(
      origin.writer->Append(testutil::Basics(testutil::MakeId(kOrigin, "19900101", 2), "N")));
  EXPECT_EQ(origin.writer->ApplyRemote(origin.Export(1, 1)).code(),
            absl::StatusCode::kInvalidArgument);
}

// Batches queued without waiting are applied in order; each reports the
// outcome of the writer's own checks before it is durable, and a refused one
// writes nothing.
TEST_P(ApplyRemoteTest, QueuedBatchesApplyInOrderAndReportTheirChecksFirst) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TestNode residence(dir_, GetParam(), kResidence, &clock_);
  origin.AppendPersons(4);
  const RemoteBatch first = origin.Export(1, 1);
  const RemoteBatch second = origin.Export(2, 3);
  std::unique_ptr<Writer::RemoteApply> a = residence.writer->StartApplyRemote(first);
  std::unique_ptr<Writer::RemoteApply> b = residence.writer->StartApplyRemote(second);
  TB_ASSERT_OK(a->WaitBuilt());
  TB_ASSERT_OK(b->WaitBuilt());
  TB_ASSERT_OK(b->Wait());
  EXPECT_TRUE(a->done());
  TB_ASSERT_OK(a->Wait());
  TB_ASSERT_OK_AND_ASSIGN(auto cursor,
                          residence.store->Get(Cf::kCursors, CursorKey(kOrigin, first.log)));
  v1::Position position;
  ASSERT_TRUE(position.ParseFromString(*cursor));
  EXPECT_EQ(position.seq(), 3u);

  // An event the origin signed whose payload does not parse.
  RemoteBatch bad = origin.Export(4, 4);
  bad.events[0].parsed.set_payload(std::string("\xff\xff\xff", 3));
  bad.events[0].body = bad.events[0].parsed.SerializeAsString();
  std::unique_ptr<Writer::RemoteApply> c = residence.writer->StartApplyRemote(bad);
  const absl::Status checked = c->WaitBuilt();
  EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument) << checked;
  EXPECT_EQ(c->Wait(), checked);
  EXPECT_EQ(residence.store->GetEvent(bad.log, 4).status().code(), absl::StatusCode::kNotFound);

  // This node's own log is refused at once.
  std::unique_ptr<Writer::RemoteApply> own = origin.writer->StartApplyRemote(first);
  EXPECT_TRUE(own->done());
  EXPECT_EQ(own->WaitBuilt().code(), absl::StatusCode::kInvalidArgument);
}

// Issue #14: a county whose clock reads ten years ahead registers the
// person. The residence applies the registration (signed history), but its
// clock does not follow, and the link the registration ends (the earlier
// residence's) ends at the horizon -- the applying node's clock plus
// max_clock_ahead -- not ten years from now.
TEST_P(ApplyRemoteTest, AFarFutureEventEndsLinksAtTheHorizonAndMovesNoClock) {
  FakeClock ahead(clock_.Now() + absl::Hours(24 * 3652));
  TestNode far(dir_, GetParam(), testutil::kThird, &ahead);
  TestNode residence(dir_, GetParam(), kResidence, &clock_);
  const std::string person = testutil::MakeId(kOrigin, "19900101", 2);
  // The residence registered the person first, today.
  TB_ASSERT_OK(residence.writer->Append(testutil::Inflow(person, kOrigin)));
  // The county ten years ahead registers the person too.
  TB_ASSERT_OK(far.writer->Append(testutil::Inflow(person, kOrigin)));
  TB_ASSERT_OK(residence.writer->ApplyRemote(far.Export(1, 1)));
  TB_ASSERT_OK_AND_ASSIGN(auto links, residence.store->GetLinks(person));
  const int64_t horizon =
      absl::ToUnixMicros(clock_.Now()) + absl::ToInt64Microseconds(kDefaultMaxClockAhead);
  EXPECT_EQ(links.at(kResidence).ended_at_micros(), horizon) << "not kept open for ten years";
  EXPECT_EQ(links.at(testutil::kThird).since().physical_micros(), horizon);
  // The residence's next own event carries its own time.
  TB_ASSERT_OK_AND_ASSIGN(Appended own,
                          residence.writer->Append(testutil::Service(person, kResidence, "s1")));
  TB_ASSERT_OK_AND_ASSIGN(std::string body,
                          residence.store->GetEvent(residence.writer->log(), own.id.seq()));
  v1::EventBody parsed;
  ASSERT_TRUE(parsed.ParseFromString(body));
  EXPECT_EQ(parsed.hlc().physical_micros(), absl::ToUnixMicros(clock_.Now()));
}

// A node whose own log holds stamps ahead of its clock (written before the
// bound, or with a clock that was wrong) keeps its stamps growing after a
// restart: its own log is restored into the clock whatever its stamps.
TEST_P(ApplyRemoteTest, OwnStampsKeepGrowingAfterARestartWhateverTheClock) {
  FakeClock ahead(clock_.Now() + absl::Hours(24 * 365));
  TestNode node(dir_, GetParam(), kOrigin, &ahead);
  TB_ASSERT_OK(
      node.writer->Append(testutil::Basics(testutil::MakeId(kOrigin, "19900101", 1), "A")));
  ASSERT_TRUE(node.writer->WaitForCheckpoint(1, absl::Seconds(30)).ok());
  node.writer.reset();
  WriterOptions wo;
  wo.node = kOrigin;
  TB_ASSERT_OK_AND_ASSIGN(node.writer, Writer::Open(node.store.get(), node.key.get(), wo, &clock_));
  TB_ASSERT_OK(
      node.writer->Append(testutil::Basics(testutil::MakeId(kOrigin, "19900101", 2), "B")));
  v1::EventBody first, second;
  ASSERT_TRUE(first.ParseFromString(*node.store->GetEvent(node.writer->log(), 1)));
  ASSERT_TRUE(second.ParseFromString(*node.store->GetEvent(node.writer->log(), 2)));
  EXPECT_GT(std::make_pair(second.hlc().physical_micros(), second.hlc().logical()),
            std::make_pair(first.hlc().physical_micros(), first.hlc().logical()));
}

// Issue 12: the writer's local append and its apply of a peer's event are
// one record-state update (records::NextRecordState), so the origin and
// every node it sends to hold the same state after each event. They used to
// differ after a retraction: the origin replaced the record's confirmed ID
// findings by the retraction's own (checked without a recorded sex, so a
// confirmed sex mismatch vanished) while peers kept them.
TEST_P(ApplyRemoteTest, OriginAndPeersHoldTheSameRecordStateAfterEveryEvent) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TestNode residence(dir_, GetParam(), kResidence, &clock_);
  const std::string person = testutil::MakeId(kOrigin, "19900101", 3);  // odd: male
  storage::RecordChange basics = testutil::Basics(person, "Li");
  basics.value.mutable_person_basics()->set_sex(v1::SEX_FEMALE);  // disagrees with the ID
  basics.confirm_findings = true;
  storage::RecordChange corrected = basics;
  corrected.value.mutable_person_basics()->set_name("Li Na");
  const std::string key = RecordKey(person, v1::RECORD_KIND_PERSON_BASICS, "basics");

  uint64_t seq = 0;
  for (const storage::RecordChange& change :
       {basics, corrected, testutil::Retraction(person, v1::RECORD_KIND_PERSON_BASICS, "basics"),
        basics}) {
    TB_ASSERT_OK_AND_ASSIGN(Appended appended, origin.writer->Append(change));
    ++seq;
    TB_ASSERT_OK(residence.writer->ApplyRemote(origin.Export(seq, seq)));
    TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::RecordState> at_origin, origin.store->GetRecord(key));
    TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::RecordState> at_peer,
                            residence.store->GetRecord(key));
    ASSERT_TRUE(at_origin.has_value() && at_peer.has_value());
    // The audience is the custodian's own memory of whom it sent to.
    EXPECT_FALSE(at_origin->audience().empty());
    at_origin->clear_audience();
    EXPECT_EQ(at_origin->SerializeAsString(), at_peer->SerializeAsString())
        << "after event " << seq << "\norigin: " << at_origin->DebugString()
        << "peer: " << at_peer->DebugString();
    ASSERT_EQ(at_origin->id_findings_size(), 1) << "after event " << seq;
    EXPECT_EQ(at_origin->id_findings(0), v1::ID_FINDING_SEX_MISMATCH);
  }
}

// A version that arrives after a later version of the same record (a
// backfill racing the live feed) is kept in the history but is no head: the
// record ends with the heads every node holds that got the events in order.
TEST_P(ApplyRemoteTest, AVersionArrivingAfterOneThatSupersedesItIsNoHead) {
  TestNode origin(dir_, GetParam(), kOrigin, &clock_);
  TestNode in_order(dir_, GetParam(), kResidence, &clock_);
  TestNode out_of_order(dir_, GetParam(), testutil::kThird, &clock_);
  const std::string person = testutil::MakeId(kOrigin, "19900101", 5);
  for (const char* name : {"v0", "v1", "v2"}) {
    TB_ASSERT_OK(origin.writer->Append(testutil::Basics(person, name)));
    clock_.Advance(absl::Seconds(1));
  }
  const RemoteBatch all = origin.Export(1, 3);
  TB_ASSERT_OK(in_order.writer->ApplyRemote(all));
  // v2, then v0 (whose child v1 is not there yet: a head for now), then v1.
  for (uint64_t seq : {3, 1, 2}) {
    TB_ASSERT_OK(out_of_order.writer->ApplyRemote(origin.Export(seq, seq)));
  }
  const std::string key = RecordKey(person, v1::RECORD_KIND_PERSON_BASICS, "basics");
  TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::RecordState> expected, in_order.store->GetRecord(key));
  TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::RecordState> got, out_of_order.store->GetRecord(key));
  ASSERT_EQ(got->heads_size(), 1) << got->DebugString();
  EXPECT_EQ(got->heads(0).SerializeAsString(), expected->heads(0).SerializeAsString());
  EXPECT_EQ(got->versions(), 3u);
  EXPECT_EQ(got->history_size(), 3);
  EXPECT_EQ(got->id_findings_size(), expected->id_findings_size());
}

TB_INSTANTIATE_FOR_BOTH_SUITES(ApplyRemoteTest);

}  // namespace
}  // namespace tongban::storage
