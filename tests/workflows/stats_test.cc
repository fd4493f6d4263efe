// The statistics module over a small federation whose every count was worked
// out by hand (the comments beside each expectation): the origin 620102
// (Gansu) and two residences in one province, 440305 and 440106 (Guangdong),
// write records; sessions carry them to the national node, which computes
// every county and province, and to the counties, which compute their own.
//
// The story, dates in China Standard Time (writes happen on 2026-09-30, the
// stats are computed on 2026-11-30):
//   P1  O: basics, outflow to A left 2026-03-01, certificate valid
//          2026-01-01..2027-12-31; A: inflow arrived 03-01 registered 03-10
//   P2  (ID with a wrong check character, confirmed: one finding per record)
//       O: basics; A: inflow arrived 04-01 registered 05-02 (31 days: late),
//       no outflow at the origin (one-sided), no certificate
//   P3  O: basics, outflow to B left 05-01, certificate valid
//          2025-01-01..2026-06-30 (expired on the reference day);
//       B: inflow arrived 05-01 registered 05-20
//   P4  O: basics, outflow to B left 06-01; B never registers (one-sided)
//   P5  O: basics; A: inflow arrived 07-01 registered 07-05, then retracted
//   Inquiries, from O:
//     Q1 to A (P1), normal, sent 2025-09-30 23:30, due 2025-10-30,
//        replied 2025-10-10 (on time)
//     Q2 to A (P1), urgent, sent 2025-10-01 00:30 (still 09-30 in UTC), no
//        due_on: due 2025-10-16; replied 2025-10-20 (late)
//     Q3 to B (P3), normal, sent 2026-02-01, due 2026-03-03, never replied
//     Q4 to B (P3), normal, sent 2026-09-20, due 2026-10-20, never replied
//   Notices, from O to A (P1): N1 needs a receipt, sent 2026-02-10,
//     acknowledged 02-12; N2 needs a receipt, sent 03-10, not acknowledged;
//     N3 needs none, sent 03-11 (not counted).
#include "workflows/stats.h"

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "storage/writer.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::workflows {
namespace {

using testutil::Change;
using testutil::Day;
using testutil::kNational;
using testutil::kOrigin;  // O, 620102

constexpr char kA[] = "440305";  // Shenzhen Nanshan
constexpr char kB[] = "440106";  // Guangzhou Tianhe

const absl::TimeZone kCst = absl::FixedTimeZone(8 * 3600);

absl::Time Cst(int y, int m, int d, int hh = 12, int mm = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, 0), kCst);
}
int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

std::string WrongCheckCharacter(const std::string& id) {
  std::string bad = id;
  bad.back() = id.back() == '0' ? '1' : '0';
  return bad;
}

storage::RecordChange Outflow(const std::string& person, const std::string& to,
                              const v1::Date& left) {
  storage::RecordChange c = testutil::Outflow(person, to);
  *c.value.mutable_outflow()->mutable_left_on() = left;
  return c;
}

storage::RecordChange Inflow(const std::string& person, const v1::Date& arrived,
                             const v1::Date& registered) {
  storage::RecordChange c = testutil::Inflow(person, kOrigin);
  *c.value.mutable_inflow()->mutable_arrived_on() = arrived;
  *c.value.mutable_inflow()->mutable_registered_on() = registered;
  return c;
}

storage::RecordChange Certificate(const std::string& person, const std::string& number,
                                  const v1::Date& from, const v1::Date& to) {
  storage::RecordChange c = Change(person, v1::RECORD_KIND_CERTIFICATE, "cert-" + number);
  v1::Certificate* cert = c.value.mutable_certificate();
  cert->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
  cert->set_number(number);
  cert->set_issuer(kOrigin);
  *cert->mutable_valid_from() = from;
  *cert->mutable_valid_to() = to;
  return c;
}

storage::RecordChange Inquiry(const std::string& person, const std::string& id,
                              const std::string& to, v1::InquiryType type, absl::Time sent,
                              const v1::Date* due) {
  storage::RecordChange c = Change(person, v1::RECORD_KIND_INQUIRY, id);
  v1::Inquiry* q = c.value.mutable_inquiry();
  q->set_type(type);
  q->set_to_county(to);
  q->set_question("does the person live at the registered address?");
  q->set_sent_at_micros(Micros(sent));
  if (due != nullptr) *q->mutable_due_on() = *due;
  return c;
}

storage::RecordChange Reply(const std::string& person, const std::string& inquiry, absl::Time at) {
  storage::RecordChange c = Change(person, v1::RECORD_KIND_INQUIRY_REPLY, "reply-" + inquiry);
  v1::InquiryReply* r = c.value.mutable_inquiry_reply();
  r->set_inquiry_record_id(inquiry);
  r->set_inquiry_county(kOrigin);
  r->set_answer("confirmed on a household visit");
  r->set_matched(true);
  r->set_replied_at_micros(Micros(at));
  return c;
}

storage::RecordChange Notice(const std::string& person, const std::string& id, bool needs_receipt,
                             absl::Time sent) {
  storage::RecordChange c = Change(person, v1::RECORD_KIND_NOTICE, id);
  v1::Notice* n = c.value.mutable_notice();
  n->set_to_county(kA);
  n->set_subject("inflow notified");
  n->set_needs_receipt(needs_receipt);
  n->set_sent_at_micros(Micros(sent));
  return c;
}

storage::RecordChange Receipt(const std::string& person, const std::string& notice, absl::Time at) {
  storage::RecordChange c = Change(person, v1::RECORD_KIND_RECEIPT, "receipt-" + notice);
  v1::Receipt* r = c.value.mutable_receipt();
  r->set_notice_record_id(notice);
  r->set_notice_county(kOrigin);
  r->set_received_at_micros(Micros(at));
  return c;
}

void ExpectRatio(const v1::StatsRatio& r, uint64_t numerator, uint64_t denominator,
                 const char* what) {
  EXPECT_EQ(r.numerator(), numerator) << what;
  EXPECT_EQ(r.denominator(), denominator) << what;
}

class StatsTest : public testing::Test {
 protected:
  void SetUp() override {
    for (const char* code : {kNational, kOrigin, kA, kB}) fed_.Add(code);
    WriteStory();
    // Everyone to the national node, then back out (relay), twice so that
    // replies and receipts reach the origin and backfill settles.
    for (int round = 0; round < 2; ++round) {
      for (const char* county : {kOrigin, kA, kB}) Sync(county, kNational);
    }
  }

  void Write(const std::string& node, storage::RecordChange c) {
    c.confirm_findings = c.person == p2_;
    auto r = fed_.at(node).writer->Append(c);
    ASSERT_TRUE(r.ok()) << node << " " << c.record_id << ": " << r.status();
  }

  void WriteStory() {
    for (const std::string& p : {p1_, p2_, p3_, p4_, p5_}) {
      Write(kOrigin, testutil::Basics(p, "Test Person"));
    }
    Write(kOrigin, Outflow(p1_, kA, Day(2026, 3, 1)));
    Write(kOrigin, Outflow(p3_, kB, Day(2026, 5, 1)));
    Write(kOrigin, Outflow(p4_, kB, Day(2026, 6, 1)));
    Write(kOrigin, Certificate(p1_, "C1", Day(2026, 1, 1), Day(2027, 12, 31)));
    Write(kOrigin, Certificate(p3_, "C3", Day(2025, 1, 1), Day(2026, 6, 30)));
    Write(kA, Inflow(p1_, Day(2026, 3, 1), Day(2026, 3, 10)));
    Write(kA, Inflow(p2_, Day(2026, 4, 1), Day(2026, 5, 2)));
    Write(kA, Inflow(p5_, Day(2026, 7, 1), Day(2026, 7, 5)));
    storage::RecordChange retract = Change(p5_, v1::RECORD_KIND_INFLOW, "inflow-1");
    retract.operation = v1::OPERATION_RETRACT;
    retract.reason = "registered in error";
    Write(kA, retract);
    Write(kB, Inflow(p3_, Day(2026, 5, 1), Day(2026, 5, 20)));

    const v1::Date q1_due = Day(2025, 10, 30), q3_due = Day(2026, 3, 3), q4_due = Day(2026, 10, 20);
    Write(kOrigin,
          Inquiry(p1_, "q1", kA, v1::INQUIRY_TYPE_NORMAL, Cst(2025, 9, 30, 23, 30), &q1_due));
    Write(kOrigin,
          Inquiry(p1_, "q2", kA, v1::INQUIRY_TYPE_URGENT, Cst(2025, 10, 1, 0, 30), nullptr));
    Write(kOrigin, Inquiry(p3_, "q3", kB, v1::INQUIRY_TYPE_NORMAL, Cst(2026, 2, 1), &q3_due));
    Write(kOrigin, Inquiry(p3_, "q4", kB, v1::INQUIRY_TYPE_NORMAL, Cst(2026, 9, 20), &q4_due));
    Write(kA, Reply(p1_, "q1", Cst(2025, 10, 10)));
    Write(kA, Reply(p1_, "q2", Cst(2025, 10, 20)));

    Write(kOrigin, Notice(p1_, "n1", true, Cst(2026, 2, 10)));
    Write(kOrigin, Notice(p1_, "n2", true, Cst(2026, 3, 10)));
    Write(kOrigin, Notice(p1_, "n3", false, Cst(2026, 3, 11)));
    Write(kA, Receipt(p1_, "n1", Cst(2026, 2, 12)));
  }

  void Sync(const std::string& a, const std::string& b) { fed_.Sync(a, b); }

  absl::StatusOr<v1::StatsReply> Stats(const std::string& node, v1::StatsPeriodKind kind,
                                       const std::string& period, const std::string& scope = "",
                                       absl::Time now = Cst(2026, 11, 30)) {
    v1::StatsRequest request;
    request.set_period_kind(kind);
    request.set_period(period);
    request.set_scope(scope);
    return ComputeStats(*fed_.at(node).store, StatsQueryFromRequest(request, node, now));
  }

  static const v1::StatsRow& Row(const v1::StatsReply& reply, const std::string& scope) {
    for (const v1::StatsRow& row : reply.rows()) {
      if (row.scope() == scope) return row;
    }
    ADD_FAILURE() << "no row " << scope;
    static const v1::StatsRow kEmpty;
    return kEmpty;
  }

  // Writes happen on 2026-09-30 (CST): every date of the story is in the past.
  FakeClock clock_{Cst(2026, 9, 30)};
  testutil::TestFederation fed_{crypto::SuiteId::kIntl, &clock_};
  const std::string p1_ = testutil::MakeId(kOrigin, "19900101", 1);
  const std::string p2_ = WrongCheckCharacter(testutil::MakeId(kOrigin, "19920202", 3));
  const std::string p3_ = testutil::MakeId(kOrigin, "19930303", 5);
  const std::string p4_ = testutil::MakeId(kOrigin, "19940404", 7);
  const std::string p5_ = testutil::MakeId(kOrigin, "19950505", 9);
};

TEST_F(StatsTest, NationalStatisticalYearMatchesTheHandCount) {
  TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply reply,
                          Stats(kNational, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026"));
  EXPECT_EQ(reply.first_day().year(), 2025);
  EXPECT_EQ(reply.first_day().month(), 10);
  EXPECT_EQ(reply.last_day().year(), 2026);
  EXPECT_EQ(reply.last_day().month(), 9);
  EXPECT_EQ(reply.last_day().day(), 30);
  // Nation, then each province followed by its counties.
  std::vector<std::string> scopes;
  for (const v1::StatsRow& row : reply.rows()) scopes.push_back(row.scope());
  EXPECT_EQ(scopes,
            (std::vector<std::string>{"000000", "440000", "440106", "440305", "620000", "620102"}));

  const v1::StatsRow& a = Row(reply, kA);
  // Received in SY2026: Q2 only (Q1 was sent on 2025-09-30 CST); replied.
  ExpectRatio(a.feedback(), 1, 1, "A feedback");
  // Due in SY2026: Q1 (10-30, replied 10-10) and Q2 (10-16, replied 10-20).
  ExpectRatio(a.on_time_feedback(), 1, 2, "A on time");
  // N1 acknowledged, N2 not; N3 needs no receipt.
  ExpectRatio(a.receipt(), 1, 2, "A receipt");
  // P1 after 9 days, P2 after 31 (late); P5's retracted inflow is not counted.
  ExpectRatio(a.registration_timeliness(), 1, 2, "A timeliness");
  // P2 has no outflow at the origin; P1 has.
  ExpectRatio(a.arrived_without_origin_record(), 1, 2, "A one-sided arrivals");
  ExpectRatio(a.left_without_residence_record(), 0, 0, "A one-sided departures");
  // Living in A on 2026-09-30: P1 (certificate valid) and P2 (none).
  ExpectRatio(a.certificate_coverage(), 1, 2, "A certificates");
  // A's live records: inflows of P1 and P2, two replies, one receipt; P2's
  // inflow carries its one confirmed finding.
  ExpectRatio(a.completeness(), 5, 5, "A completeness");
  ExpectRatio(a.id_findings(), 1, 5, "A findings");

  const v1::StatsRow& b = Row(reply, kB);
  ExpectRatio(b.feedback(), 0, 2, "B feedback");         // Q3, Q4
  ExpectRatio(b.on_time_feedback(), 0, 1, "B on time");  // Q3; Q4 due in SY2027
  ExpectRatio(b.receipt(), 0, 0, "B receipt");
  ExpectRatio(b.registration_timeliness(), 1, 1, "B timeliness");  // P3, 19 days
  ExpectRatio(b.arrived_without_origin_record(), 0, 1, "B one-sided arrivals");
  ExpectRatio(b.certificate_coverage(), 0, 1, "B certificates");  // P3's expired
  ExpectRatio(b.completeness(), 1, 1, "B completeness");

  const v1::StatsRow& o = Row(reply, kOrigin);
  // Left in SY2026 with the arrival window closed: P1 (A registered), P3 (B
  // registered), P4 (nobody).
  ExpectRatio(o.left_without_residence_record(), 1, 3, "O one-sided departures");
  // 5 basics, 3 outflows, 2 certificates, 4 inquiries, 3 notices; P2's
  // basics carries a finding.
  ExpectRatio(o.completeness(), 17, 17, "O completeness");
  ExpectRatio(o.id_findings(), 1, 17, "O findings");
  ExpectRatio(o.feedback(), 0, 0, "O feedback");

  // The province adds its two counties.
  const v1::StatsRow& gd = Row(reply, "440000");
  EXPECT_EQ(gd.level(), v1::STATS_SCOPE_LEVEL_PROVINCE);
  ExpectRatio(gd.feedback(), 1, 3, "44 feedback");
  ExpectRatio(gd.on_time_feedback(), 1, 3, "44 on time");
  ExpectRatio(gd.receipt(), 1, 2, "44 receipt");
  ExpectRatio(gd.registration_timeliness(), 2, 3, "44 timeliness");
  ExpectRatio(gd.arrived_without_origin_record(), 1, 3, "44 one-sided arrivals");
  ExpectRatio(gd.certificate_coverage(), 1, 3, "44 certificates");
  ExpectRatio(gd.completeness(), 6, 6, "44 completeness");
  ExpectRatio(gd.id_findings(), 1, 6, "44 findings");

  const v1::StatsRow& nation = Row(reply, "000000");
  EXPECT_EQ(nation.level(), v1::STATS_SCOPE_LEVEL_NATION);
  ExpectRatio(nation.feedback(), 1, 3, "nation feedback");
  ExpectRatio(nation.arrived_without_origin_record(), 1, 3, "nation one-sided arrivals");
  ExpectRatio(nation.left_without_residence_record(), 1, 3, "nation one-sided departures");
  ExpectRatio(nation.completeness(), 23, 23, "nation completeness");
  ExpectRatio(nation.id_findings(), 2, 23, "nation findings");
  EXPECT_EQ(nation.records_in_conflict(), 0u);

  // Flows: inflows P1 (03), P2 (04), P3 (05); outflows P1 (03), P3 (05), P4
  // (06); P5's retracted inflow is not a flow.
  ASSERT_EQ(a.flows_size(), 2);
  EXPECT_EQ(a.flows(0).month(), "2026-03");
  EXPECT_EQ(a.flows(0).origin(), kOrigin);
  EXPECT_EQ(a.flows(0).residence(), kA);
  EXPECT_EQ(a.flows(0).inflows(), 1u);
  EXPECT_EQ(a.flows(0).outflows(), 1u);
  EXPECT_EQ(a.flows(1).month(), "2026-04");
  EXPECT_EQ(a.flows(1).inflows(), 1u);
  EXPECT_EQ(a.flows(1).outflows(), 0u);
  ASSERT_EQ(nation.flows_size(), 4);
  uint64_t in = 0, out = 0;
  for (const v1::StatsFlow& f : nation.flows()) {
    EXPECT_EQ(f.origin(), "620000");
    EXPECT_EQ(f.residence(), "440000");
    in += f.inflows();
    out += f.outflows();
  }
  EXPECT_EQ(in, 3u);
  EXPECT_EQ(out, 3u);
  EXPECT_EQ(nation.flows(3).month(), "2026-06");
  EXPECT_EQ(nation.flows(3).outflows(), 1u);
  EXPECT_EQ(nation.flows(3).inflows(), 0u);
}

// 2025-09-30 23:30 and 2025-10-01 00:30 CST are both 2025-09-30 in UTC: the
// month and the statistical year follow China Standard Time.
// A correction (更正) counts with its new value, on the writer and on the
// national node once it arrives: P2's late registration date corrected to
// within 30 days makes A's timeliness 2 of 2.
TEST_F(StatsTest, StatisticsCountTheCorrectedValue) {
  Write(kA, Inflow(p2_, Day(2026, 4, 1), Day(2026, 4, 20)));
  Sync(kA, kNational);
  for (const char* node : {kNational, kA}) {
    TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply reply,
                            Stats(node, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026", kA));
    ExpectRatio(Row(reply, kA).registration_timeliness(), 2, 2, node);
  }
}

// One scan for many queries gives, query by query, what one query gives.
TEST_F(StatsTest, ManyQueriesInOneScanEqualOneByOne) {
  std::vector<StatsQuery> queries;
  for (const char* month : {"2025-10", "2026-02", "2026-03", "2026-05", "2026-07", "2026-09"}) {
    v1::StatsRequest r;
    r.set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
    r.set_period(month);
    queries.push_back(StatsQueryFromRequest(r, kNational, Cst(2026, 11, 30)));
  }
  v1::StatsRequest year;
  year.set_period_kind(v1::STATS_PERIOD_KIND_STATISTICAL_YEAR);
  year.set_period("2026");
  year.set_scope("440000");
  queries.push_back(StatsQueryFromRequest(year, kNational, Cst(2026, 11, 30)));
  TB_ASSERT_OK_AND_ASSIGN(std::vector<v1::StatsReply> many,
                          ComputeStatsMany(*fed_.at(kNational).store, queries));
  ASSERT_EQ(many.size(), queries.size());
  size_t nonzero = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply one,
                            ComputeStats(*fed_.at(kNational).store, queries[i]));
    EXPECT_EQ(many[i].SerializeAsString(), one.SerializeAsString()) << queries[i].period;
    nonzero += one.rows_size() > 1;
  }
  EXPECT_GE(nonzero, 4u);  // the months compared hold the story's records
  // A bad query anywhere fails the whole call, naming it.
  queries[2].period = "2026-13";
  EXPECT_EQ(ComputeStatsMany(*fed_.at(kNational).store, queries).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StatsTest, MonthAndStatisticalYearBoundariesAreInChinaStandardTime) {
  using Measure = const v1::StatsRatio& (v1::StatsRow::*)() const;
  constexpr auto kMonth = v1::STATS_PERIOD_KIND_MONTH;
  constexpr auto kYear = v1::STATS_PERIOD_KIND_STATISTICAL_YEAR;
  const struct {
    v1::StatsPeriodKind kind;
    const char* period;
    const char* scope;
    Measure measure;
    uint64_t numerator, denominator;
    const char* why;
  } kCases[] = {
      {kMonth, "2025-09", kA, &v1::StatsRow::feedback, 1, 1, "Q1"},
      {kMonth, "2025-09", kA, &v1::StatsRow::on_time_feedback, 0, 0, "nothing due"},
      {kMonth, "2025-10", kA, &v1::StatsRow::feedback, 1, 1, "Q2"},
      {kMonth, "2025-10", kA, &v1::StatsRow::on_time_feedback, 1, 2, "Q1 in time, Q2 late"},
      {kYear, "2025", kA, &v1::StatsRow::feedback, 1, 1, "Q1"},
      {kYear, "2025", kA, &v1::StatsRow::on_time_feedback, 0, 0, "nothing due"},
      // May 2026: P2 registered 05-02 (late) at A, P3 05-20 at B.
      {kMonth, "2026-05", kA, &v1::StatsRow::registration_timeliness, 0, 1, "P2"},
      {kMonth, "2026-05", kB, &v1::StatsRow::registration_timeliness, 1, 1, "P3"},
      {kMonth, "2026-05", "440000", &v1::StatsRow::registration_timeliness, 1, 2, "P2, P3"},
  };
  for (const auto& c : kCases) {
    TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply reply, Stats(kNational, c.kind, c.period));
    ExpectRatio((Row(reply, c.scope).*c.measure)(), c.numerator, c.denominator,
                absl::StrCat(c.period, " ", c.scope, ": ", c.why).c_str());
  }
  TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply may,
                          Stats(kNational, v1::STATS_PERIOD_KIND_MONTH, "2026-05"));
  ASSERT_EQ(Row(may, "440000").flows_size(), 1);
  EXPECT_EQ(Row(may, "440000").flows(0).inflows(), 1u);   // P3
  EXPECT_EQ(Row(may, "440000").flows(0).outflows(), 1u);  // P3
}

// An unanswered inquiry whose deadline has not come is neither on time nor
// late; once the deadline passes it is late.
TEST_F(StatsTest, AnInquiryNotYetDueIsNotCountedLate) {
  TB_ASSERT_OK_AND_ASSIGN(
      v1::StatsReply before,
      Stats(kNational, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2027", kB, Cst(2026, 10, 1)));
  ExpectRatio(Row(before, kB).on_time_feedback(), 0, 0, "Q4 not yet due");
  TB_ASSERT_OK_AND_ASSIGN(
      v1::StatsReply after,
      Stats(kNational, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2027", kB, Cst(2026, 10, 21)));
  ExpectRatio(Row(after, kB).on_time_feedback(), 0, 1, "Q4 overdue");
  EXPECT_EQ(after.rows_size(), 1);
}

// A county node computes its own row from what it holds, and gets the same
// counts as the national node does for it.
TEST_F(StatsTest, ACountyNodeComputesItsOwnRowAsTheNationalNodeDoes) {
  TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply own,
                          Stats(kA, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026"));
  EXPECT_EQ(own.scope(), kA);
  ASSERT_EQ(own.rows_size(), 1);
  TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply national,
                          Stats(kNational, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026"));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(own.rows(0), Row(national, kA)))
      << own.rows(0).DebugString() << "\nnational:\n"
      << Row(national, kA).DebugString();

  // The province scope at the national node: the province and its counties.
  TB_ASSERT_OK_AND_ASSIGN(
      v1::StatsReply gd,
      Stats(kNational, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026", "440000"));
  ASSERT_EQ(gd.rows_size(), 3);
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(gd.rows(0), Row(national, "440000")));
}

// Records the write path would never produce, as a peer running older or
// faulty software could leave them: a value missing a required field, a
// payload that does not parse, a conflict (two heads) whose newer head is an
// upsert or a retraction. Put straight into the national node's store.
TEST_F(StatsTest, IncompleteRecordsAndConflictsAreCountedAsDocumented) {
  storage::Store& store = *fed_.at(kNational).store;
  const std::string p9 = testutil::MakeId(kOrigin, "19960606", 11);
  uint64_t seq = 1000;
  auto head = [&](absl::Time at, v1::Operation op, std::string payload) {
    v1::RecordState::Head h;
    h.mutable_event()->set_origin(kA);
    h.mutable_event()->set_epoch(1);
    h.mutable_event()->set_seq(++seq);
    h.mutable_hlc()->set_physical_micros(Micros(at));
    h.set_operation(op);
    h.set_payload(std::move(payload));
    return h;
  };
  v1::RecordValue complete;
  complete.mutable_service()->set_type(v1::SERVICE_TYPE_HEALTH_CHECK);
  *complete.mutable_service()->mutable_delivered_on() = Day(2026, 9, 1);
  complete.mutable_service()->set_provider_county(kA);
  v1::RecordValue no_provider = complete;
  no_provider.mutable_service()->clear_provider_county();
  const absl::Time t = Cst(2026, 9, 30);
  auto put = [&](const std::string& id, std::vector<v1::RecordState::Head> heads,
                 int findings = 0) {
    v1::RecordState state;
    state.set_custodian(kA);
    for (auto& h : heads) {
      *state.add_history() = h.event();
      *state.add_heads() = std::move(h);
    }
    for (int i = 0; i < findings; ++i) state.add_id_findings(v1::ID_FINDING_PLACEHOLDER);
    storage::Batch batch(store);
    batch.PutRecord(storage::RecordKey(p9, v1::RECORD_KIND_SERVICE, id), state);
    TB_ASSERT_OK(store.Commit(batch, /*sync=*/true));
  };
  put("svc-no-provider", {head(t, v1::OPERATION_UPSERT, no_provider.SerializeAsString())},
      /*findings=*/2);
  put("svc-garbage", {head(t, v1::OPERATION_UPSERT, "\xff\xff\xff")});
  put("svc-conflict",
      {head(t, v1::OPERATION_UPSERT, no_provider.SerializeAsString()),
       head(t + absl::Minutes(1), v1::OPERATION_UPSERT, complete.SerializeAsString())});
  put("svc-conflict-retracted", {head(t, v1::OPERATION_UPSERT, complete.SerializeAsString()),
                                 head(t + absl::Minutes(1), v1::OPERATION_RETRACT, "")});

  TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply reply,
                          Stats(kNational, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026", kA));
  const v1::StatsRow& a = Row(reply, kA);
  // A's 5 records, then: no provider (incomplete), garbage (incomplete), the
  // conflict by its newer, complete head; the retracted conflict not at all.
  ExpectRatio(a.completeness(), 6, 8, "A completeness");
  ExpectRatio(a.id_findings(), 3, 8, "A findings");  // P2's one, two here
  EXPECT_EQ(a.records_in_conflict(), 1u);

  // A value that is no RecordState stops the computation.
  storage::Batch batch(store);
  batch.Put(storage::Cf::kRecords, storage::RecordKey(p9, v1::RECORD_KIND_SERVICE, "svc-bad"),
            "\x0a\xff");
  TB_ASSERT_OK(store.Commit(batch, /*sync=*/true));
  EXPECT_EQ(Stats(kNational, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(StatsTest, BadQueriesAreRefusedNamingWhatIsWrong) {
  auto bad_month = Stats(kNational, v1::STATS_PERIOD_KIND_MONTH, "2026-13");
  EXPECT_EQ(bad_month.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_month.status().message().find("\"2026-13\""), absl::string_view::npos)
      << bad_month.status();
  EXPECT_EQ(Stats(kNational, v1::STATS_PERIOD_KIND_MONTH, "2026-1").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto bad_year = Stats(kNational, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026-11");
  EXPECT_EQ(bad_year.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_year.status().message().find("2025-10-01"), absl::string_view::npos)
      << bad_year.status();
  EXPECT_EQ(Stats(kNational, v1::STATS_PERIOD_KIND_UNSPECIFIED, "2026").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto bad_scope = Stats(kNational, v1::STATS_PERIOD_KIND_MONTH, "2026-11", "44030");
  EXPECT_EQ(bad_scope.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_scope.status().message().find("stats scope"), absl::string_view::npos)
      << bad_scope.status();
  // A county computes only its own row.
  for (const char* other : {kB, "440000", "000000"}) {
    auto refused = Stats(kA, v1::STATS_PERIOD_KIND_MONTH, "2026-11", other);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << other;
  }
}

TEST_F(StatsTest, TheTableShowsCountsAndRatiosAndNoPersonalData) {
  TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply reply,
                          Stats(kNational, v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026"));
  const std::string table = FormatStatsTable(reply);
  EXPECT_NE(table.find("statistical year 2026 (2025-10-01 .. 2026-09-30)"), std::string::npos)
      << table;
  EXPECT_NE(table.find("1/2 = 50.0%"), std::string::npos) << table;
  EXPECT_NE(table.find("2/3 = 66.7%"), std::string::npos) << table;
  EXPECT_NE(table.find("0/0 = n/a"), std::string::npos) << table;
  EXPECT_NE(table.find("1/5 = 200.0 per 1,000"), std::string::npos) << table;
  EXPECT_NE(table.find("not computable: "), std::string::npos) << table;
  EXPECT_NE(table.find("2026-06   620102 -> 440106         0         1"), std::string::npos)
      << table;
  for (const std::string& p : {p1_, p2_, p3_, p4_, p5_}) {
    EXPECT_EQ(table.find(p.substr(0, 14)), std::string::npos);
    EXPECT_EQ(reply.SerializeAsString().find(p.substr(0, 14)), std::string::npos);
  }
  EXPECT_EQ(table.find("Test Person"), std::string::npos);
}

}  // namespace
}  // namespace tongban::workflows
