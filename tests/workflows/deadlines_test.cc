// Deadlines of inquiries (协查) and notices (通报) with a fake clock, across a
// federation in one process (origin A, residence B, the national node) and
// across restarts: every path (on time, late, overdue, withdrawn, awaiting
// feedback), the deadline from the sender's recorded time and not from the
// arrival, the same state on every node; the checks on the clerk's write
// path (replies and receipts to unknown items, duplicate services).
#include "workflows/deadlines.h"

#include "absl/strings/match.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "records/dates.h"
#include "storage/keys.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "workflows/import_batch.h"
#include "workflows/stats.h"

namespace tongban::workflows {
namespace {

using testutil::kNational;
using testutil::kOrigin;     // A
using testutil::kResidence;  // B

const absl::TimeZone kCst = absl::FixedTimeZone(8 * 3600);

v1::Date DayAfter(absl::Time t, int days) {
  return records::ToDate(absl::ToCivilDay(t, kCst) + days);
}

// The write a clerk's Write call makes: stamped as AdminApi::Write does.
v1::WriteRequest Request(const storage::RecordChange& c) { return testutil::WriteRequestOf(c); }

TEST(StampWorkflowTimesTest, TheNodeSetsTimesAndDeadlinesAndKeepsThemOnCorrection) {
  records::Deadlines deadlines;
  deadlines.provinces["440000"] = records::DeadlineRules{10, 20, 5, 25};
  const absl::Time sent = absl::FromCivil(absl::CivilSecond(2026, 12, 1, 23, 30, 0), kCst);
  // A client's times are replaced by the node's.
  v1::WriteRequest q =
      Request(testutil::Inquiry("x", kResidence, "inq-1", v1::INQUIRY_TYPE_URGENT,
                                absl::FromUnixSeconds(0), testutil::Day(2030, 1, 1)));
  StampWorkflowTimes(deadlines, sent, nullptr, &q);
  EXPECT_EQ(q.value().inquiry().sent_at_micros(), absl::ToUnixMicros(sent));
  // Guangdong's rules: urgent 10 days from the sender's day (China time).
  EXPECT_EQ(q.value().inquiry().due_on().DebugString(), DayAfter(sent, 10).DebugString());
  // To Gansu, the defaults: certificate mismatch 7 days.
  v1::WriteRequest m = Request(testutil::Inquiry(
      "x", kOrigin, "inq-2", v1::INQUIRY_TYPE_CERTIFICATE_MISMATCH, sent, v1::Date()));
  StampWorkflowTimes(deadlines, sent, nullptr, &m);
  EXPECT_EQ(m.value().inquiry().due_on().DebugString(), DayAfter(sent, 7).DebugString());

  // A correction a month later keeps the time sent and the deadline; a
  // changed type moves the deadline, counted from the day first sent.
  const absl::Time later = sent + absl::Hours(24 * 30);
  v1::WriteRequest corrected = q;
  corrected.mutable_value()->mutable_inquiry()->set_question("corrected");
  StampWorkflowTimes(deadlines, later, &q.value(), &corrected);
  EXPECT_EQ(corrected.value().inquiry().sent_at_micros(), absl::ToUnixMicros(sent));
  EXPECT_EQ(corrected.value().inquiry().due_on().DebugString(), DayAfter(sent, 10).DebugString());
  corrected.mutable_value()->mutable_inquiry()->set_type(v1::INQUIRY_TYPE_NORMAL);
  StampWorkflowTimes(deadlines, later, &q.value(), &corrected);
  EXPECT_EQ(corrected.value().inquiry().due_on().DebugString(), DayAfter(sent, 20).DebugString());

  // Notices: a deadline only when a receipt or feedback is asked for.
  v1::WriteRequest n;
  n.set_kind(v1::RECORD_KIND_NOTICE);
  n.mutable_value()->mutable_notice()->set_to_county(kResidence);
  StampWorkflowTimes(deadlines, sent, nullptr, &n);
  EXPECT_FALSE(n.value().notice().has_due_on());
  n.mutable_value()->mutable_notice()->set_needs_receipt(true);
  StampWorkflowTimes(deadlines, sent, nullptr, &n);
  EXPECT_EQ(n.value().notice().due_on().DebugString(), DayAfter(sent, 25).DebugString());

  // Receipts: the feedback time is when feedback is first given.
  v1::WriteRequest r;
  r.set_kind(v1::RECORD_KIND_RECEIPT);
  StampWorkflowTimes(deadlines, sent, nullptr, &r);
  EXPECT_EQ(r.value().receipt().received_at_micros(), absl::ToUnixMicros(sent));
  EXPECT_EQ(r.value().receipt().feedback_at_micros(), 0);
  v1::WriteRequest with_feedback = r;
  with_feedback.mutable_value()->mutable_receipt()->set_feedback("visited");
  StampWorkflowTimes(deadlines, later, &r.value(), &with_feedback);
  EXPECT_EQ(with_feedback.value().receipt().received_at_micros(), absl::ToUnixMicros(sent));
  EXPECT_EQ(with_feedback.value().receipt().feedback_at_micros(), absl::ToUnixMicros(later));
}

class WorkflowTest : public testing::TestWithParam<crypto::SuiteId> {
 protected:
  void SetUp() override {
    for (const char* code : {kNational, kOrigin, kResidence}) fed_.Add(code);
  }

  // Writes `c` at `node` as the Admin service would: checked and stamped
  // with the fake clock's time.
  absl::Status Write(const std::string& node, const storage::RecordChange& c,
                     bool confirm_duplicate = false) {
    v1::WriteRequest r = Request(c);
    r.set_confirm_duplicate(confirm_duplicate);
    storage::Store& store = *fed_.at(node).store;
    TB_ASSIGN_OR_RETURN(std::optional<v1::RecordValue> current,
                        NewestValue(store, storage::RecordKey(c.person, c.kind, c.record_id)));
    StampWorkflowTimes(deadlines_, clock_.Now(), current.has_value() ? &*current : nullptr, &r);
    TB_RETURN_IF_ERROR(CheckWorkflowWrite(store, node, c.person, r));
    return fed_.at(node).writer->Append(ChangeFrom(r, c.person)).status();
  }

  // Every pair synced, so that each node holds what it should.
  void SyncAll() {
    for (const auto& [a, b] : {std::pair{kOrigin, kResidence}, std::pair{kOrigin, kNational},
                               std::pair{kResidence, kNational}}) {
      SCOPED_TRACE(absl::StrCat("sync ", a, "-", b));
      fed_.Sync(a, b);
    }
  }

  // record id -> state, of inquiries or notices, at `node` now.
  std::map<std::string, std::string> States(const std::string& node, bool notices = false) {
    absl::StatusOr<Tracked> t =
        TrackDeadlines(*fed_.at(node).store, node, node == kNational, deadlines_, clock_.Now());
    EXPECT_TRUE(t.ok()) << t.status();
    std::map<std::string, std::string> out;
    if (!t.ok()) return out;
    if (notices) {
      for (const auto& i : t->notices) out[i.record_id()] = i.state();
    } else {
      for (const auto& i : t->inquiries) out[i.record_id()] = i.state();
    }
    return out;
  }

  storage::RecordChange Inquiry(const std::string& id, v1::InquiryType type) {
    return testutil::Inquiry(person_, kResidence, id, type, absl::FromUnixSeconds(0), v1::Date());
  }

  storage::RecordChange Reply(const std::string& inquiry) {
    return testutil::InquiryReply(person_, kOrigin, inquiry, absl::FromUnixSeconds(0));
  }

  storage::RecordChange Notice(const std::string& id, bool receipt, bool feedback) {
    storage::RecordChange c;
    c.person = person_;
    c.kind = v1::RECORD_KIND_NOTICE;
    c.record_id = id;
    v1::Notice* n = c.value.mutable_notice();
    n->set_to_county(kResidence);
    n->set_subject("moved on");
    n->set_needs_receipt(receipt);
    n->set_needs_feedback(feedback);
    return c;
  }

  storage::RecordChange Receipt(const std::string& notice, const std::string& feedback) {
    storage::RecordChange c;
    c.person = person_;
    c.kind = v1::RECORD_KIND_RECEIPT;
    c.record_id = absl::StrCat("receipt-", notice);
    c.value.mutable_receipt()->set_notice_record_id(notice);
    c.value.mutable_receipt()->set_notice_county(kOrigin);
    c.value.mutable_receipt()->set_feedback(feedback);
    return c;
  }

  void Days(int n) { clock_.Advance(absl::Hours(24 * n)); }

  // 2026-12-01 10:00 China time.
  FakeClock clock_{absl::FromCivil(absl::CivilSecond(2026, 12, 1, 10, 0, 0), kCst)};
  testutil::TestFederation fed_{GetParam(), &clock_};
  records::Deadlines deadlines_;
  const std::string person_ = testutil::MakeId(kOrigin, "19900101", 2);
};

TEST_P(WorkflowTest, InquiryDeadlinesOnEveryPathAndAcrossRestarts) {
  const absl::Time sent = clock_.Now();
  TB_ASSERT_OK(Write(kOrigin, Inquiry("on-time", v1::INQUIRY_TYPE_URGENT)));
  TB_ASSERT_OK(Write(kOrigin, Inquiry("late", v1::INQUIRY_TYPE_URGENT)));
  TB_ASSERT_OK(Write(kOrigin, Inquiry("overdue", v1::INQUIRY_TYPE_NORMAL)));
  TB_ASSERT_OK(Write(kOrigin, Inquiry("withdrawn", v1::INQUIRY_TYPE_NORMAL)));
  TB_ASSERT_OK(Write(kOrigin, Inquiry("open", v1::INQUIRY_TYPE_NORMAL)));
  EXPECT_EQ(States(kOrigin)["on-time"], "sent");

  // The residence is offline for ten days: the clock runs from the day sent.
  Days(10);
  SyncAll();
  EXPECT_EQ(States(kResidence), (std::map<std::string, std::string>{{"late", "received"},
                                                                    {"on-time", "received"},
                                                                    {"open", "received"},
                                                                    {"overdue", "received"},
                                                                    {"withdrawn", "received"}}));
  EXPECT_EQ(States(kNational)["open"], "open");  // between two counties
  absl::StatusOr<Tracked> at_b =
      TrackDeadlines(*fed_.at(kResidence).store, kResidence, false, deadlines_, clock_.Now());
  ASSERT_TRUE(at_b.ok());
  for (const v1::InquiryItem& i : at_b->inquiries) {
    const int days = i.type() == v1::INQUIRY_TYPE_URGENT ? 15 : 30;
    EXPECT_EQ(i.due_on().DebugString(), DayAfter(sent, days).DebugString()) << i.record_id();
    EXPECT_EQ(i.sent_at_micros(), absl::ToUnixMicros(sent));
  }
  // Due within 3 days? Not yet (urgent: due in 5 days); within 7, yes.
  EXPECT_FALSE(DueSoon("received", at_b->inquiries[0].due_on(), clock_.Now(), absl::Hours(72)));

  TB_ASSERT_OK(Write(kResidence, Reply("on-time")));  // day 10 of 15
  Days(6);                                            // day 16: urgent ones are past due
  EXPECT_EQ(States(kResidence)["late"], "overdue");
  TB_ASSERT_OK(Write(kResidence, Reply("late")));
  TB_ASSERT_OK(Write(kOrigin, testutil::Retraction(person_, v1::RECORD_KIND_INQUIRY, "withdrawn")));
  SyncAll();
  // A withdrawn inquiry cannot be answered.
  const absl::Status gone = Write(kResidence, Reply("withdrawn"));
  EXPECT_EQ(gone.code(), absl::StatusCode::kFailedPrecondition) << gone;
  EXPECT_TRUE(absl::StrContains(gone.message(), "withdrawn")) << gone;

  // Day 31: the normal ones are past due.
  Days(15);
  const std::map<std::string, std::string> expected = {{"late", "answered late"},
                                                       {"on-time", "answered"},
                                                       {"open", "overdue"},
                                                       {"overdue", "overdue"},
                                                       {"withdrawn", "withdrawn"}};
  SyncAll();
  EXPECT_EQ(States(kOrigin), expected);
  EXPECT_EQ(States(kResidence), expected);
  EXPECT_EQ(States(kNational), expected);

  // Across restarts: the states come from stored times, not memory.
  for (const char* code : {kOrigin, kResidence, kNational}) fed_.Restart(code);
  EXPECT_EQ(States(kOrigin), expected);
  EXPECT_EQ(States(kResidence), expected);
  EXPECT_EQ(States(kNational), expected);
  // Answered after a restart, past the deadline: late.
  TB_ASSERT_OK(Write(kResidence, Reply("open")));
  SyncAll();
  EXPECT_EQ(States(kOrigin)["open"], "answered late");
}

TEST_P(WorkflowTest, NoticeReceiptsAndFeedbackAgainstTheirDeadline) {
  TB_ASSERT_OK(Write(kOrigin, Notice("receipt", true, false)));
  TB_ASSERT_OK(Write(kOrigin, Notice("feedback", true, true)));
  TB_ASSERT_OK(Write(kOrigin, Notice("ignored", true, false)));
  TB_ASSERT_OK(Write(kOrigin, Notice("withdrawn", true, false)));
  TB_ASSERT_OK(Write(kOrigin, Notice("info", false, false)));  // not tracked
  Days(2);
  SyncAll();
  EXPECT_EQ(States(kResidence, true)["receipt"], "received");
  EXPECT_EQ(States(kResidence, true).count("info"), 0u);
  // A notice that asks for nothing gets no receipt.
  EXPECT_EQ(Write(kResidence, Receipt("info", "")).code(), absl::StatusCode::kFailedPrecondition);

  TB_ASSERT_OK(Write(kResidence, Receipt("receipt", "")));
  TB_ASSERT_OK(Write(kResidence, Receipt("feedback", "")));  // a receipt, feedback to follow
  TB_ASSERT_OK(Write(kOrigin, testutil::Retraction(person_, v1::RECORD_KIND_NOTICE, "withdrawn")));
  SyncAll();
  EXPECT_EQ(States(kOrigin, true),
            (std::map<std::string, std::string>{{"feedback", "awaiting feedback"},
                                                {"ignored", "sent"},
                                                {"receipt", "acknowledged"},
                                                {"withdrawn", "withdrawn"}}));
  Days(29);  // day 31: past the 30-day deadline
  TB_ASSERT_OK(Write(kResidence, Receipt("feedback", "visited; confirmed")));
  SyncAll();
  for (const char* code : {kOrigin, kResidence}) fed_.Restart(code);
  const std::map<std::string, std::string> expected = {{"feedback", "acknowledged late"},
                                                       {"ignored", "overdue"},
                                                       {"receipt", "acknowledged"},
                                                       {"withdrawn", "withdrawn"}};
  EXPECT_EQ(States(kOrigin, true), expected);
  EXPECT_EQ(States(kResidence, true), expected);
  EXPECT_EQ(States(kNational, true), expected);
}

TEST_P(WorkflowTest, RepliesAndReceiptsMustAnswerSomethingHeldHere) {
  // Nothing held: refused, the ID masked in the message.
  absl::Status s = Write(kResidence, Reply("inq-none"));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), person_)) << s;
  s = Write(kResidence, Receipt("notice-none", ""));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  // Held, but named with the wrong sender, or sent to another county.
  TB_ASSERT_OK(Write(kOrigin, Inquiry("inq-1", v1::INQUIRY_TYPE_NORMAL)));
  SyncAll();
  auto wrong_sender = Reply("inq-1");
  wrong_sender.value.mutable_inquiry_reply()->set_inquiry_county("330106");
  EXPECT_EQ(Write(kResidence, wrong_sender).code(), absl::StatusCode::kNotFound);
  s = Write(kNational, Reply("inq-1"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "was sent to county 440305")) << s;
  TB_EXPECT_OK(Write(kResidence, Reply("inq-1")));
}

TEST_P(WorkflowTest, ASecondServiceForThePeriodIsFlaggedBeforeItIsWritten) {
  // The person lives in the residence, so its services reach the origin.
  TB_ASSERT_OK(Write(kResidence, testutil::Inflow(person_, kOrigin, "in-b")));
  auto first = testutil::Service(person_, kResidence, "svc-1");
  first.value.mutable_service()->set_period("2026-11");
  TB_ASSERT_OK(Write(kResidence, first));
  auto again = first;
  again.record_id = "svc-2";
  const absl::Status flagged = Write(kResidence, again);
  EXPECT_EQ(flagged.code(), absl::StatusCode::kAlreadyExists) << flagged;
  EXPECT_TRUE(absl::StrContains(flagged.message(), "record svc-1 by county 440305")) << flagged;
  EXPECT_FALSE(absl::StrContains(flagged.message(), person_)) << flagged;
  TB_ASSERT_OK_AND_ASSIGN(
      auto nothing,
      fed_.at(kResidence).store->GetRecord(storage::RecordKey(person_, again.kind, "svc-2")));
  EXPECT_FALSE(nothing.has_value());
  // The origin, which received the first, flags its own second record too.
  SyncAll();
  again.value.mutable_service()->set_provider_county(kOrigin);
  EXPECT_EQ(Write(kOrigin, again).code(), absl::StatusCode::kAlreadyExists);
  // Confirmed by the clerk, it is written.
  TB_EXPECT_OK(Write(kOrigin, again, /*confirm_duplicate=*/true));
  // Another period, another beneficiary, or a correction of the same record
  // are not duplicates.
  auto other = first;
  other.record_id = "svc-3";
  other.value.mutable_service()->set_period("2026-12");
  TB_EXPECT_OK(Write(kResidence, other));
  auto child = first;
  child.record_id = "svc-4";
  child.value.mutable_service()->set_beneficiary_citizen_id(
      testutil::MakeId(kOrigin, "20200101", 5));
  TB_EXPECT_OK(Write(kResidence, child));
  first.value.mutable_service()->set_notes("corrected notes");
  TB_EXPECT_OK(Write(kResidence, first));
  // A retracted service no longer counts.
  TB_ASSERT_OK(Write(kResidence, testutil::Retraction(person_, v1::RECORD_KIND_SERVICE, "svc-3")));
  auto after = other;
  after.record_id = "svc-5";
  TB_EXPECT_OK(Write(kResidence, after));
}

// Entitlements set by the origin reach the residence, which records that it
// helped deliver one; the origin sees the delivery. A delivery must name an
// entitlement held here and not withdrawn.
TEST_P(WorkflowTest, TheResidenceRecordsThatItHelpedDeliverAnEntitlement) {
  TB_ASSERT_OK(Write(kOrigin, testutil::Outflow(person_, kResidence)));
  TB_ASSERT_OK(Write(kResidence, testutil::Inflow(person_, kOrigin, "in-b")));
  storage::RecordChange ent;
  ent.person = person_;
  ent.kind = v1::RECORD_KIND_ENTITLEMENT;
  ent.record_id = "ent-reward";
  ent.value.mutable_entitlement()->set_programme("reward");
  ent.value.mutable_entitlement()->set_status(v1::ENTITLEMENT_STATUS_ACTIVE);
  ent.value.mutable_entitlement()->set_amount_fen(10000);
  TB_ASSERT_OK(Write(kOrigin, ent));

  storage::RecordChange delivery = testutil::Service(person_, kResidence, "delivery-1");
  delivery.value.mutable_service()->set_type(v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY);
  delivery.value.mutable_service()->set_entitlement_record_id("ent-reward");
  delivery.value.mutable_service()->set_period("2026-11");
  // Not yet received at the residence: refused.
  EXPECT_EQ(Write(kResidence, delivery).code(), absl::StatusCode::kNotFound);
  SyncAll();
  TB_ASSERT_OK(Write(kResidence, delivery));
  // Naming no entitlement is bad input, whatever is held.
  auto unnamed = delivery;
  unnamed.record_id = "delivery-2";
  unnamed.value.mutable_service()->clear_entitlement_record_id();
  EXPECT_EQ(Write(kResidence, unnamed).code(), absl::StatusCode::kInvalidArgument);
  SyncAll();
  TB_ASSERT_OK_AND_ASSIGN(
      std::optional<v1::RecordValue> seen,
      NewestValue(*fed_.at(kOrigin).store,
                  storage::RecordKey(person_, v1::RECORD_KIND_SERVICE, "delivery-1")));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->service().entitlement_record_id(), "ent-reward");
  EXPECT_EQ(seen->service().provider_county(), kResidence);
  // Withdrawn by the origin: no further deliveries.
  TB_ASSERT_OK(
      Write(kOrigin, testutil::Retraction(person_, v1::RECORD_KIND_ENTITLEMENT, "ent-reward")));
  SyncAll();
  auto later = delivery;
  later.record_id = "delivery-3";
  later.value.mutable_service()->set_period("2026-12");
  EXPECT_EQ(Write(kResidence, later).code(), absl::StatusCode::kFailedPrecondition);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(WorkflowTest);

}  // namespace
}  // namespace tongban::workflows
