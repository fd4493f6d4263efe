// Issue 12: which version of a record counts. One record with two heads is
// applied in different orders on three nodes; the writer (the record state
// each holds), the statistics, the deadlines, the clerk's write path and the
// Admin's certificate reads (workflows/current.h) all agree on its current
// value: the standing head, the head with the largest stamp
// (records/record_state.h). Before, the deadlines and the Admin took the
// last head in the stored array, which is the order events arrived.
//
// The two heads are written as they arise in the field: the origin 620102
// writes version 1 in its log's epoch 1 and sends it; restored from a
// backup that lacked it, it starts epoch 2 and writes version 2 of the same
// records without seeing version 1. Receivers: 440305 (A) gets epoch 1
// first, 440106 (B) and the national node epoch 2 first.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "records/record_state.h"
#include "storage/writer.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "workflows/current.h"
#include "workflows/deadlines.h"
#include "workflows/stats.h"

namespace tongban::workflows {
namespace {

using testutil::Day;
using testutil::kOrigin;  // 620102

constexpr char kA[] = "440305";
constexpr char kB[] = "440106";
constexpr char kNational[] = "000000";

// One node's key, store and writer; `epoch` is its log's epoch.
struct Node {
  Node(const testutil::ScopedTempDir& dir, crypto::SuiteId suite, const std::string& code,
       const std::string& folder, uint64_t log_epoch, const crypto::PrivateKey* shared_key,
       const Clock* clock) {
    const crypto::Suite& s = crypto::GetSuite(suite);
    if (shared_key == nullptr) own_key = *s.GenerateKey();
    key = shared_key != nullptr ? shared_key : own_key.get();
    storage::StoreOptions so;
    so.path = dir.File(folder);
    so.suite = suite;
    so.storage_key = *crypto::RandomBytes(s.symmetric_key_size());
    store = *storage::Store::Open(so);
    storage::WriterOptions wo;
    wo.node = code;
    wo.epoch = log_epoch;
    wo.relay = code == kNational;
    writer = *storage::Writer::Open(store.get(), key, wo, clock);
  }

  // Every event of this node's log from `first`, as the sync layer hands
  // them over after verifying them.
  storage::RemoteBatch Export(uint64_t first) {
    const uint64_t last = writer->stats().last_seq;
    EXPECT_TRUE(writer->WaitForCheckpoint(last, absl::Seconds(30)).ok());
    storage::RemoteBatch rb;
    rb.log = writer->log();
    EXPECT_TRUE(store
                    ->ScanEvents(rb.log, first, last,
                                 [&](uint64_t seq, absl::string_view b) {
                                   storage::RemoteEvent e;
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
    return rb;
  }

  std::unique_ptr<crypto::PrivateKey> own_key;
  const crypto::PrivateKey* key;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<storage::Writer> writer;
};

storage::RecordChange Inquiry(const std::string& person, const std::string& to,
                              v1::InquiryType type, absl::Time sent, const v1::Date& due) {
  return testutil::Inquiry(person, to, "q1", type, sent, due);
}

storage::RecordChange Certificate(const std::string& person, bool revoked) {
  storage::RecordChange c;
  c.person = person;
  c.kind = v1::RECORD_KIND_CERTIFICATE;
  c.record_id = "cert-C1";
  v1::Certificate* cert = c.value.mutable_certificate();
  cert->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
  cert->set_number("C1");
  cert->set_issuer(kOrigin);
  *cert->mutable_valid_from() = Day(2026, 1, 1);
  *cert->mutable_valid_to() = Day(2027, 12, 31);
  cert->set_revoked(revoked);
  return c;
}

class CurrentValueTest : public testing::TestWithParam<crypto::SuiteId> {
 protected:
  void SetUp() override {
    epoch1_ = std::make_unique<Node>(dir_, GetParam(), kOrigin, "origin-1", 1, nullptr, &clock_);
    // The restored origin: the same key, a store without epoch 1's events.
    epoch2_ =
        std::make_unique<Node>(dir_, GetParam(), kOrigin, "origin-2", 2, epoch1_->key, &clock_);
    for (const char* code : {kA, kB, kNational}) {
      receivers_[code] = std::make_unique<Node>(dir_, GetParam(), code, code, 1, nullptr, &clock_);
    }
  }

  void Append(Node& node, const storage::RecordChange& c) {
    auto r = node.writer->Append(c);
    ASSERT_TRUE(r.ok()) << c.record_id << ": " << r.status();
  }

  // Applies `batches` to `node`, in order.
  void Apply(const std::string& node, const std::vector<const storage::RemoteBatch*>& batches) {
    for (const storage::RemoteBatch* b : batches) {
      TB_ASSERT_OK(receivers_.at(node)->writer->ApplyRemote(*b));
    }
  }

  v1::RecordState StateAt(const std::string& node, v1::RecordKind kind, const std::string& id) {
    auto state = receivers_.at(node)->store->GetRecord(storage::RecordKey(person_, kind, id));
    EXPECT_TRUE(state.ok() && state->has_value()) << node;
    return state.ok() && state->has_value() ? **state : v1::RecordState();
  }

  // The inquiry item every node tracks, as the national node sees it.
  v1::InquiryItem TrackedInquiry(const std::string& node) {
    auto tracked = TrackDeadlines(*receivers_.at(node)->store, kNational, /*national=*/true,
                                  records::Deadlines(), clock_.Now());
    EXPECT_TRUE(tracked.ok()) << tracked.status();
    EXPECT_EQ(tracked->inquiries.size(), 1u) << node;
    return tracked->inquiries.empty() ? v1::InquiryItem() : tracked->inquiries[0];
  }

  v1::StatsReply Stats(const std::string& node) {
    StatsQuery q;
    q.node = kNational;  // every scope of what this store holds
    q.period_kind = v1::STATS_PERIOD_KIND_STATISTICAL_YEAR;
    q.period = "2027";  // 2026-10-01 .. 2027-09-30
    q.now = clock_.Now();
    auto reply = ComputeStats(*receivers_.at(node)->store, q);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : v1::StatsReply();
  }

  static const v1::StatsRow* Row(const v1::StatsReply& reply, const std::string& scope) {
    for (const v1::StatsRow& row : reply.rows()) {
      if (row.scope() == scope) return &row;
    }
    return nullptr;
  }

  testutil::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Node> epoch1_, epoch2_;
  std::map<std::string, std::unique_ptr<Node>> receivers_;
  const std::string person_ = testutil::MakeId(kOrigin, "19900101", 7);
};

TEST_P(CurrentValueTest, WriterStatisticsDeadlinesAndAdminReadsAgreeInEveryArrivalOrder) {
  const absl::Time t1 = clock_.Now();
  Append(*epoch1_, testutil::Basics(person_, "Li"));
  Append(*epoch1_, Inquiry(person_, kA, v1::INQUIRY_TYPE_NORMAL, t1, Day(2026, 12, 31)));
  Append(*epoch1_, Certificate(person_, /*revoked=*/false));
  const storage::RemoteBatch first = epoch1_->Export(1);

  clock_.Advance(absl::Hours(1));  // version 2 is stamped later: it stands
  const absl::Time t2 = clock_.Now();
  Append(*epoch2_, Inquiry(person_, kB, v1::INQUIRY_TYPE_URGENT, t2, Day(2026, 12, 16)));
  Append(*epoch2_, Certificate(person_, /*revoked=*/true));
  const storage::RemoteBatch second = epoch2_->Export(1);

  Apply(kA, {&first, &second});
  Apply(kB, {&second, &first});
  Apply(kNational, {&second, &first});

  // The writer: every node holds both heads, in the order they came, and
  // the same one stands.
  std::set<std::vector<uint64_t>> head_orders;
  for (const char* node : {kA, kB, kNational}) {
    SCOPED_TRACE(node);
    const v1::RecordState q = StateAt(node, v1::RECORD_KIND_INQUIRY, "q1");
    ASSERT_EQ(q.heads_size(), 2);
    head_orders.insert({q.heads(0).event().epoch(), q.heads(1).event().epoch()});
    const records::Current current = records::CurrentOf(q);
    EXPECT_TRUE(current.conflict);
    EXPECT_EQ(current.head->event().epoch(), 2u);
    EXPECT_EQ(StateAt(node, v1::RECORD_KIND_CERTIFICATE, "cert-C1").heads_size(), 2);
  }
  EXPECT_EQ(head_orders.size(), 2u) << "the arrival orders did not differ";

  v1::InquiryItem tracked_at_a = TrackedInquiry(kA);
  v1::StatsReply stats_at_a = Stats(kA);
  for (const char* node : {kA, kB, kNational}) {
    SCOPED_TRACE(node);
    // The clerk's write path (times and deadlines kept from the current
    // version, replies checked against it).
    TB_ASSERT_OK_AND_ASSIGN(
        std::optional<v1::RecordValue> value,
        NewestValue(*receivers_.at(node)->store,
                    storage::RecordKey(person_, v1::RECORD_KIND_INQUIRY, "q1")));
    ASSERT_TRUE(value.has_value());
    EXPECT_EQ(value->inquiry().to_county(), kB);
    EXPECT_EQ(value->inquiry().type(), v1::INQUIRY_TYPE_URGENT);

    // The deadlines: the urgent inquiry to B, due 12-16.
    const v1::InquiryItem item = TrackedInquiry(node);
    EXPECT_EQ(item.to_county(), kB);
    EXPECT_EQ(item.type(), v1::INQUIRY_TYPE_URGENT);
    EXPECT_EQ(item.due_on().day(), 16);
    EXPECT_EQ(item.state(), "open");
    EXPECT_EQ(item.SerializeAsString(), tracked_at_a.SerializeAsString());

    // The statistics: the inquiry asks B (feedback is B's to give), both
    // records are in conflict, and every node counts the same.
    const v1::StatsReply stats = Stats(node);
    const v1::StatsRow* b = Row(stats, kB);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->feedback().denominator(), 1u);
    const v1::StatsRow* a = Row(stats, kA);
    EXPECT_TRUE(a == nullptr || a->feedback().denominator() == 0u);
    EXPECT_EQ(Row(stats, kOrigin)->records_in_conflict(), 2u);
    EXPECT_EQ(stats.SerializeAsString(), stats_at_a.SerializeAsString());

    // The Admin's certificate reads (payload, revocation list): revoked.
    bool retracted = true;
    TB_ASSERT_OK_AND_ASSIGN(
        std::optional<v1::Certificate> cert,
        CurrentCertificate(*receivers_.at(node)->store,
                           StateAt(node, v1::RECORD_KIND_CERTIFICATE, "cert-C1"), &retracted));
    ASSERT_TRUE(cert.has_value());
    EXPECT_TRUE(cert->revoked());
    EXPECT_FALSE(retracted);
  }

  // The restored origin withdraws the inquiry it can see (version 2). The
  // retraction stands over version 1 too: withdrawn everywhere, showing the
  // value it withdrew (the newest upsert by stamp, whatever the history's
  // order), and counted nowhere.
  clock_.Advance(absl::Hours(1));
  Append(*epoch2_, testutil::Retraction(person_, v1::RECORD_KIND_INQUIRY, "q1"));
  const storage::RemoteBatch third = epoch2_->Export(3);
  for (const char* node : {kA, kB, kNational}) Apply(node, {&third});
  tracked_at_a = TrackedInquiry(kA);
  stats_at_a = Stats(kA);
  for (const char* node : {kA, kB, kNational}) {
    SCOPED_TRACE(node);
    EXPECT_EQ(StateAt(node, v1::RECORD_KIND_INQUIRY, "q1").heads_size(), 2);
    bool retracted = false;
    TB_ASSERT_OK_AND_ASSIGN(
        std::optional<v1::RecordValue> value,
        NewestValue(*receivers_.at(node)->store,
                    storage::RecordKey(person_, v1::RECORD_KIND_INQUIRY, "q1"), &retracted));
    EXPECT_TRUE(retracted);
    ASSERT_TRUE(value.has_value());
    EXPECT_EQ(value->inquiry().to_county(), kB);
    const v1::InquiryItem item = TrackedInquiry(node);
    EXPECT_EQ(item.state(), "withdrawn");
    EXPECT_EQ(item.to_county(), kB);
    EXPECT_EQ(item.SerializeAsString(), tracked_at_a.SerializeAsString());
    const v1::StatsReply stats = Stats(node);
    const v1::StatsRow* b = Row(stats, kB);
    EXPECT_TRUE(b == nullptr || b->feedback().denominator() == 0u);
    EXPECT_EQ(Row(stats, kOrigin)->records_in_conflict(), 1u);  // the certificate
    EXPECT_EQ(stats.SerializeAsString(), stats_at_a.SerializeAsString());
  }
}

TB_INSTANTIATE_FOR_BOTH_SUITES(CurrentValueTest);

}  // namespace
}  // namespace tongban::workflows
