// How events change a record's state, and which head stands
// (records/record_state.h): the same on every node, in any arrival order.
#include "records/record_state.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"
#include "records/dates.h"
#include "tests/testutil/records.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::records {
namespace {

v1::EventBody Event(const std::string& origin, uint64_t epoch, uint64_t seq, int64_t micros,
                    v1::Operation op, const v1::RecordValue& value,
                    std::vector<v1::EventId> parents = {}) {
  v1::EventBody e;
  e.set_origin(origin);
  e.set_epoch(epoch);
  e.set_seq(seq);
  e.mutable_hlc()->set_physical_micros(micros);
  e.set_operation(op);
  if (op == v1::OPERATION_UPSERT) e.set_payload(value.SerializeAsString());
  for (auto& p : parents) *e.add_parents() = std::move(p);
  return e;
}

v1::EventId Id(const v1::EventBody& e) {
  v1::EventId id;
  id.set_origin(e.origin());
  id.set_epoch(e.epoch());
  id.set_seq(e.seq());
  return id;
}

v1::RecordValue Service(int day) {
  v1::RecordValue v = testutil::Service("x", "440305", "s").value;
  *v.mutable_service()->mutable_delivered_on() = testutil::Day(2026, 4, day);
  return v;
}

v1::RecordState Apply(const std::vector<const v1::EventBody*>& events) {
  std::optional<v1::RecordState> state;
  for (const v1::EventBody* e : events) {
    state = NextRecordState(state.has_value() ? &*state : nullptr, *e);
  }
  return *state;
}

TEST(RecordStateTest, UpsertCorrectionAndRetraction) {
  const v1::EventBody first = Event("440305", 1, 1, 100, v1::OPERATION_UPSERT, Service(1));
  v1::EventBody with_findings = first;
  with_findings.add_id_findings(v1::ID_FINDING_PLACEHOLDER);
  v1::RecordState s = NextRecordState(nullptr, with_findings);
  EXPECT_EQ(s.custodian(), "440305");
  ASSERT_EQ(s.heads_size(), 1);
  EXPECT_EQ(s.heads(0).payload(), first.payload());
  EXPECT_EQ(s.versions(), 1u);
  ASSERT_EQ(s.id_findings_size(), 1);
  EXPECT_TRUE(s.audience().empty());

  // A correction names the head it supersedes.
  const v1::EventBody second =
      Event("440305", 1, 2, 200, v1::OPERATION_UPSERT, Service(2), {Id(first)});
  s = NextRecordState(&s, second);
  ASSERT_EQ(s.heads_size(), 1);
  EXPECT_EQ(s.heads(0).event().seq(), 2u);
  EXPECT_EQ(s.versions(), 2u);
  EXPECT_EQ(s.history_size(), 2);
  EXPECT_EQ(s.id_findings_size(), 0);  // the correction's own findings: none

  // A retraction keeps what was found about the person's ID.
  s.add_id_findings(v1::ID_FINDING_SEX_MISMATCH);
  v1::EventBody retract = Event("440305", 1, 3, 300, v1::OPERATION_RETRACT, {}, {Id(second)});
  retract.add_id_findings(v1::ID_FINDING_PLACEHOLDER);  // ignored: a retraction has no value
  s = NextRecordState(&s, retract);
  ASSERT_EQ(s.heads_size(), 1);
  EXPECT_EQ(s.heads(0).operation(), v1::OPERATION_RETRACT);
  ASSERT_EQ(s.id_findings_size(), 1);
  EXPECT_EQ(s.id_findings(0), v1::ID_FINDING_SEX_MISMATCH);
  EXPECT_TRUE(CurrentOf(s).retracted);
  TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::RecordValue> value, CurrentValue(s));
  EXPECT_FALSE(value.has_value());
}

// Two versions written without seeing each other (a custodian's new epoch
// after a restore): both stay heads, in arrival order, and every order of
// arrival stands the same one, the newer stamp.
TEST(RecordStateTest, TwoHeadsStandTheSameInEveryArrivalOrder) {
  const v1::EventBody base = Event("620102", 1, 4, 100, v1::OPERATION_UPSERT, Service(1));
  const v1::EventBody lost =
      Event("620102", 1, 5, 300, v1::OPERATION_UPSERT, Service(3), {Id(base)});
  const v1::EventBody rewritten =
      Event("620102", 2, 1, 200, v1::OPERATION_UPSERT, Service(2), {Id(base)});
  std::vector<const v1::EventBody*> order = {&base, &lost, &rewritten};
  std::set<std::vector<uint64_t>> head_orders;
  do {
    if (order.front() != &base) continue;  // parents arrive first (the sync layer's order)
    const v1::RecordState s = Apply(order);
    ASSERT_EQ(s.heads_size(), 2);
    head_orders.insert({s.heads(0).event().epoch(), s.heads(1).event().epoch()});
    const Current c = CurrentOf(s);
    EXPECT_TRUE(c.conflict);
    EXPECT_FALSE(c.retracted);
    ASSERT_NE(c.head, nullptr);
    EXPECT_EQ(c.head->event().epoch(), 1u);  // stamp 300 stands over 200
    EXPECT_EQ(c.head->event().seq(), 5u);
    TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::RecordValue> value, CurrentValue(s));
    EXPECT_EQ(value->service().delivered_on().day(), 3);
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(head_orders.size(), 2u);  // the stored order did differ

  // An operator resolves the conflict naming both heads.
  const v1::EventBody resolve =
      Event("620102", 2, 2, 400, v1::OPERATION_UPSERT, Service(4), {Id(lost), Id(rewritten)});
  const v1::RecordState s = Apply({&base, &rewritten, &lost, &resolve});
  ASSERT_EQ(s.heads_size(), 1);
  EXPECT_FALSE(CurrentOf(s).conflict);
}

TEST(RecordStateTest, StampOrderIsClockThenOriginEpochSeq) {
  const HeadStamp base{100, 0, "440305", 1, 5};
  HeadStamp later = base;
  later.physical_micros = 101;
  later.seq = 1;
  EXPECT_TRUE(StandsOver(later, base));
  EXPECT_FALSE(StandsOver(base, later));
  HeadStamp logical = base;
  logical.logical = 1;
  EXPECT_TRUE(StandsOver(logical, base));
  HeadStamp origin = base;
  origin.origin = "620102";
  origin.seq = 1;
  EXPECT_TRUE(StandsOver(origin, base));
  HeadStamp epoch = base;
  epoch.epoch = 2;
  epoch.seq = 1;
  EXPECT_TRUE(StandsOver(epoch, base));
  HeadStamp seq = base;
  seq.seq = 6;
  EXPECT_TRUE(StandsOver(seq, base));
  EXPECT_FALSE(StandsOver(base, base));

  v1::RecordState none;
  EXPECT_EQ(StandingHead(none), nullptr);
  EXPECT_EQ(CurrentOf(none).head, nullptr);
  TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::RecordValue> value, CurrentValue(none));
  EXPECT_FALSE(value.has_value());
}

TEST(RecordStateTest, AnUpsertHeadStandingOverARetractionIsTheValue) {
  const v1::EventBody base = Event("620102", 1, 1, 100, v1::OPERATION_UPSERT, Service(1));
  const v1::EventBody retract = Event("620102", 1, 2, 200, v1::OPERATION_RETRACT, {}, {Id(base)});
  const v1::EventBody other =
      Event("620102", 2, 1, 300, v1::OPERATION_UPSERT, Service(3), {Id(base)});
  for (const auto& order : {std::vector<const v1::EventBody*>{&base, &retract, &other},
                            std::vector<const v1::EventBody*>{&base, &other, &retract}}) {
    const v1::RecordState s = Apply(order);
    EXPECT_FALSE(CurrentOf(s).retracted);
    TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::RecordValue> value, CurrentValue(s));
    EXPECT_EQ(value->service().delivered_on().day(), 3);
  }
  v1::RecordState garbage = Apply({&base});
  garbage.mutable_heads(0)->set_payload("\xff\xff");
  EXPECT_EQ(CurrentValue(garbage).status().code(), absl::StatusCode::kDataLoss);
}

TEST(RecordStateTest, NewestUpsertIsByStampNotByPosition) {
  const std::vector<v1::EventBody> history = {
      Event("620102", 2, 1, 300, v1::OPERATION_UPSERT, Service(3)),
      Event("620102", 1, 1, 100, v1::OPERATION_UPSERT, Service(1)),
      Event("620102", 2, 2, 400, v1::OPERATION_RETRACT, {}),
  };
  const v1::EventBody* newest = NewestUpsert(history);
  ASSERT_NE(newest, nullptr);
  EXPECT_EQ(newest->hlc().physical_micros(), 300);
  EXPECT_EQ(NewestUpsert(absl::MakeConstSpan(history).subspan(2)), nullptr);
}

TEST(RecordStateTest, AnEventSupersededBeforeItArrivesJoinsTheHistoryOnly) {
  const v1::EventBody v1e = Event("620102", 1, 1, 100, v1::OPERATION_UPSERT, Service(1));
  const v1::EventBody v2e = Event("620102", 1, 2, 200, v1::OPERATION_UPSERT, Service(2), {Id(v1e)});
  const v1::RecordState after_v2 = NextRecordState(nullptr, v2e);
  EXPECT_FALSE(
      MaySupersede(after_v2, Event("620102", 1, 3, 300, v1::OPERATION_UPSERT, Service(3))));
  ASSERT_TRUE(MaySupersede(after_v2, v1e));
  EXPECT_TRUE(NamesAsParent({v2e}, v1e));
  EXPECT_FALSE(NamesAsParent({v1e}, v2e));
  const v1::RecordState s = NextRecordState(&after_v2, v1e, /*superseded=*/true);
  ASSERT_EQ(s.heads_size(), 1);
  EXPECT_EQ(s.heads(0).event().seq(), 2u);
  EXPECT_EQ(s.versions(), 2u);
  EXPECT_EQ(s.history_size(), 2);
}

TEST(RecordStateTest, OnlyTheCustodianChangesARecord) {
  const v1::RecordState s =
      NextRecordState(nullptr, Event("440305", 1, 1, 1, v1::OPERATION_UPSERT, Service(1)));
  EXPECT_TRUE(CustodyAllows(nullptr, "620102"));
  EXPECT_TRUE(CustodyAllows(&s, "440305"));
  EXPECT_FALSE(CustodyAllows(&s, "620102"));
}

TEST(DatesTest, ChinaStandardTimeDays) {
  // 2025-09-30 16:30 UTC is 2025-10-01 00:30 in China.
  const absl::Time t =
      absl::FromCivil(absl::CivilSecond(2025, 9, 30, 16, 30, 0), absl::UTCTimeZone());
  EXPECT_EQ(ChinaDay(t), absl::CivilDay(2025, 10, 1));
  EXPECT_EQ(ChinaDayOfMicros(absl::ToUnixMicros(t)), absl::CivilDay(2025, 10, 1));
  for (int64_t micros :
       {int64_t{0}, int64_t{-1}, absl::ToUnixMicros(t),
        absl::ToUnixMicros(t) - int64_t{3600} * 1000000, int64_t{-86400} * 1000000 * 400 + 7}) {
    EXPECT_EQ(ChinaDayNumber(micros), ChinaDayOfMicros(micros) - absl::CivilDay(1970, 1, 1))
        << micros;
  }
  EXPECT_EQ(DateText(testutil::Day(2026, 3, 1)), "2026-03-01");
  EXPECT_EQ(DateText(v1::Date()), "0000-00-00");
  EXPECT_FALSE(HasDate(v1::Date()));
  EXPECT_TRUE(HasDate(testutil::Day(2026, 3, 1)));
  EXPECT_EQ(ToCivilDay(ToDate(absl::CivilDay(2026, 2, 28))), absl::CivilDay(2026, 2, 28));
  EXPECT_EQ(EndOfDay(testutil::Day(2026, 3, 1)),
            absl::FromCivil(absl::CivilSecond(2026, 3, 1, 16, 0, 0), absl::UTCTimeZone()));
  EXPECT_EQ(ChinaTimeText(t), "2025-10-01 00:30:00");
  EXPECT_EQ(ChinaTimeText(t, "%Y-%m"), "2025-10");
}

}  // namespace
}  // namespace tongban::records
