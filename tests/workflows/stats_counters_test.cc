// The statistics counters (workflows/stats.h "Counters") against the full
// scan they replace, under both crypto suites:
//   - a story through a federation (sessions in one process) with
//     corrections, retractions, a late reply, a revoked certificate, a
//     return home and restarts of the national node, checked after every
//     step for every county, province and the nation, every month and
//     statistical year around the story and several `now`s (so that
//     deadlines pass and arrival windows close with time);
//   - a property test: random record states (corrections, retractions,
//     conflicts, unparseable payloads, missing dates, unknown codes) put in a
//     random order with the follower run and the store reopened at random
//     points; the counters must equal the scan. The seed is printed on
//     failure; TB_STATS_SEED=N repeats one.
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "records/dates.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "workflows/stats.h"

namespace tongban::workflows {
namespace {

using testutil::Day;
using testutil::kNational;
using testutil::kOrigin;  // 620102

constexpr char kA[] = "440305";
constexpr char kB[] = "440106";

const absl::TimeZone kCst = absl::FixedTimeZone(8 * 3600);
absl::Time Cst(int y, int m, int d, int hh = 12) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, 0, 0), kCst);
}
int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// Every query a check compares: the nation, `provinces` and `counties`
// (each as its own scope), each month from 2025-06 to 2027-05 and each
// statistical year 2025..2028, at each of `nows`.
std::vector<StatsQuery> Queries(const std::vector<std::string>& scopes,
                                const std::vector<absl::Time>& nows) {
  std::vector<StatsQuery> out;
  std::vector<std::pair<v1::StatsPeriodKind, std::string>> periods;
  for (absl::CivilMonth m(2025, 6); m <= absl::CivilMonth(2027, 5); ++m) {
    periods.push_back(
        {v1::STATS_PERIOD_KIND_MONTH, absl::StrFormat("%04d-%02d", m.year(), m.month())});
  }
  for (int y = 2025; y <= 2028; ++y) {
    periods.push_back({v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, absl::StrCat(y)});
  }
  for (const absl::Time now : nows) {
    for (const auto& [kind, period] : periods) {
      for (const std::string& scope : scopes) {
        StatsQuery q;
        q.node = kNational;
        q.period_kind = kind;
        q.period = period;
        q.scope = scope;
        q.now = now;
        out.push_back(q);
      }
    }
  }
  return out;
}

// Runs the follower, then compares the counters' reply of every query with
// the scan's. Returns the number of queries compared.
size_t ExpectCountersEqualScan(storage::Store& store, const std::vector<StatsQuery>& queries,
                               const std::string& when) {
  auto progress = UpdateStatsCounters(store);
  EXPECT_TRUE(progress.ok()) << when << ": " << progress.status();
  auto scanned = ComputeStatsMany(store, queries);
  auto counted = CountedStatsMany(store, queries);
  EXPECT_TRUE(scanned.ok()) << when << ": " << scanned.status();
  EXPECT_TRUE(counted.ok()) << when << ": " << counted.status();
  if (!scanned.ok() || !counted.ok()) return 0;
  size_t differ = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    std::string diff;
    google::protobuf::util::MessageDifferencer d;
    d.ReportDifferencesToString(&diff);
    if (d.Compare((*scanned)[i], (*counted)[i])) continue;
    if (++differ <= 3) {
      ADD_FAILURE() << when << ": counters differ from the scan for period " << queries[i].period
                    << " scope \"" << queries[i].scope << "\" now "
                    << absl::FormatTime(queries[i].now, kCst) << ":\n"
                    << diff;
    }
  }
  EXPECT_EQ(differ, 0u) << when << ": queries whose counters differ from the scan";
  return queries.size();
}

// --- The story ---

storage::RecordChange Change(const std::string& person, v1::RecordKind kind,
                             const std::string& record_id) {
  storage::RecordChange c;
  c.person = person;
  c.kind = kind;
  c.record_id = record_id;
  return c;
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
                                  const v1::Date& from, const v1::Date& to, bool revoked) {
  storage::RecordChange c = Change(person, v1::RECORD_KIND_CERTIFICATE, "cert-" + number);
  v1::Certificate* cert = c.value.mutable_certificate();
  cert->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
  cert->set_number(number);
  cert->set_issuer(kOrigin);
  *cert->mutable_valid_from() = from;
  *cert->mutable_valid_to() = to;
  cert->set_revoked(revoked);
  return c;
}

storage::RecordChange Inquiry(const std::string& person, const std::string& id,
                              const std::string& to, absl::Time sent, const v1::Date& due) {
  storage::RecordChange c = Change(person, v1::RECORD_KIND_INQUIRY, id);
  v1::Inquiry* q = c.value.mutable_inquiry();
  q->set_type(v1::INQUIRY_TYPE_NORMAL);
  q->set_to_county(to);
  q->set_question("does the person live at the registered address?");
  q->set_sent_at_micros(Micros(sent));
  *q->mutable_due_on() = due;
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

storage::RecordChange Notice(const std::string& person, const std::string& id, absl::Time sent) {
  storage::RecordChange c = Change(person, v1::RECORD_KIND_NOTICE, id);
  v1::Notice* n = c.value.mutable_notice();
  n->set_to_county(kA);
  n->set_subject("inflow notified");
  n->set_needs_receipt(true);
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

storage::RecordChange Retraction(storage::RecordChange c) {
  c.value.Clear();
  c.operation = v1::OPERATION_RETRACT;
  c.reason = "registered in error";
  return c;
}

class StatsCountersStoryTest : public testing::TestWithParam<crypto::SuiteId> {
 protected:
  void SetUp() override {
    for (const char* code : {kNational, kOrigin, kA, kB}) fed_.Add(code);
  }

  void Write(const std::string& node, const storage::RecordChange& c) {
    auto r = fed_.at(node).writer->Append(c);
    ASSERT_TRUE(r.ok()) << node << " " << c.record_id << ": " << r.status();
  }

  // Every county to the national node and back, twice (relay, backfill).
  void SyncAll() {
    for (int round = 0; round < 2; ++round) {
      for (const char* county : {kOrigin, kA, kB}) fed_.Sync(county, kNational);
    }
  }

  size_t Check(const std::string& when) {
    const std::vector<StatsQuery> queries =
        Queries({"000000", "440000", "620000", kOrigin, kA, kB},
                {Cst(2026, 4, 15), Cst(2026, 10, 20), Cst(2026, 11, 30), Cst(2027, 6, 1)});
    return ExpectCountersEqualScan(*fed_.at(kNational).store, queries, when);
  }

  FakeClock clock_{Cst(2026, 9, 30)};
  testutil::TestFederation fed_{GetParam(), &clock_};
  const std::string p1_ = testutil::MakeId(kOrigin, "19900101", 1);
  const std::string p2_ = testutil::MakeId(kOrigin, "19920202", 3);
  const std::string p3_ = testutil::MakeId(kOrigin, "19930303", 5);
  const std::string p4_ = testutil::MakeId(kOrigin, "19940404", 7);
};

TEST_P(StatsCountersStoryTest,
       CountersEqualTheScanThroughCorrectionsRetractionsLateRepliesAndRestarts) {
  size_t compared = 0;
  // 1. The first records, counted from a store that had no counters.
  for (const std::string& p : {p1_, p2_, p3_, p4_})
    Write(kOrigin, testutil::Basics(p, "Test Person"));
  Write(kOrigin, Outflow(p1_, kA, Day(2026, 3, 1)));
  Write(kOrigin, Outflow(p3_, kB, Day(2026, 5, 1)));
  Write(kOrigin, Outflow(p4_, kB, Day(2026, 9, 10)));  // window closes 10-10
  Write(kOrigin, Certificate(p1_, "C1", Day(2026, 1, 1), Day(2027, 12, 31), false));
  Write(kOrigin, Certificate(p3_, "C3", Day(2025, 1, 1), Day(2026, 6, 30), false));
  Write(kA, Inflow(p1_, Day(2026, 3, 1), Day(2026, 3, 10)));
  Write(kA, Inflow(p2_, Day(2026, 4, 1), Day(2026, 5, 2)));
  Write(kB, Inflow(p3_, Day(2026, 5, 1), Day(2026, 5, 20)));
  Write(kOrigin, Inquiry(p1_, "q1", kA, Cst(2026, 2, 1), Day(2026, 3, 3)));
  Write(kOrigin, Inquiry(p3_, "q3", kB, Cst(2026, 6, 1), Day(2026, 7, 1)));
  Write(kOrigin, Inquiry(p3_, "q4", kB, Cst(2026, 9, 20), Day(2026, 10, 20)));  // due later
  Write(kA, Reply(p1_, "q1", Cst(2026, 2, 20)));
  Write(kOrigin, Notice(p1_, "n1", Cst(2026, 2, 10)));
  Write(kA, Receipt(p1_, "n1", Cst(2026, 2, 12)));
  SyncAll();
  compared += Check("after the first records");

  // 2. Restart before the follower sees the next changes: their dirty marks
  // are in the store, and the counters already counted are kept.
  Write(kA, Inflow(p1_, Day(2026, 3, 1), Day(2026, 4, 20)));  // correction: now late
  Write(kOrigin, Outflow(p1_, kB, Day(2026, 3, 1)));          // correction: destination
  SyncAll();
  fed_.Restart(kNational);
  compared += Check("after corrections and a restart");

  // 3. A late reply (q3 due 07-01, answered 09-29): from unanswered-overdue
  // to answered late; a retraction of a reply (q1 unanswered again) and of
  // an inflow (P2 no longer lives in A); a revoked certificate.
  clock_.Set(Cst(2026, 9, 30, 13));
  Write(kB, Reply(p3_, "q3", Cst(2026, 9, 29)));
  Write(kA, Retraction(Reply(p1_, "q1", Cst(2026, 2, 20))));
  Write(kA, Retraction(Inflow(p2_, Day(2026, 4, 1), Day(2026, 5, 2))));
  Write(kOrigin, Certificate(p1_, "C1", Day(2026, 1, 1), Day(2027, 12, 31), true));
  SyncAll();
  compared += Check("after a late reply, retractions and a revocation");

  // 4. A return home (P3 leaves B's coverage and its outflow stops counting)
  // and a reply to q4 after its deadline, with restarts of the national
  // node between the follower's runs and the check.
  storage::RecordChange home = Change(p3_, v1::RECORD_KIND_RETURN, "return-1");
  home.value.mutable_return_registration()->set_type(v1::RETURN_TYPE_RETURNED_HOME);
  *home.value.mutable_return_registration()->mutable_effective_on() = Day(2026, 8, 1);
  home.value.mutable_return_registration()->set_from_county(kB);
  Write(kOrigin, home);
  clock_.Set(Cst(2026, 11, 2));
  Write(kB, Reply(p3_, "q4", Cst(2026, 11, 1)));
  SyncAll();
  ASSERT_TRUE(UpdateStatsCounters(*fed_.at(kNational).store).ok());
  fed_.Restart(kNational);
  compared += Check("after a return home, a reply past its deadline and a restart");
  fed_.Restart(kNational);
  // Counting the same persons again changes nothing.
  compared += Check("after a second restart");
  EXPECT_GT(compared, 0u);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(StatsCountersStoryTest);

// --- The property test ---

const char* const kCodes[] = {"620102", "440305", "440106", "330106", "110105", "", "12345x"};

class RandomStates {
 public:
  explicit RandomStates(uint64_t seed) : rng_(seed) {}

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool Chance(int percent) { return Pick(100) < percent; }
  // A real county mostly, sometimes an empty or malformed code.
  std::string Code() { return kCodes[Chance(90) ? Pick(5) : 5 + Pick(2)]; }
  absl::CivilDay SomeDay() { return absl::CivilDay(2025, 6, 1) + Pick(700); }
  v1::Date Date() { return Chance(95) ? records::ToDate(SomeDay()) : v1::Date(); }
  int64_t At() {
    return absl::ToUnixMicros(absl::FromCivil(SomeDay(), kCst)) + Pick(86400) * 1000000LL;
  }

  // A record value of `kind` with random dates, codes and references.
  v1::RecordValue Value(v1::RecordKind kind) {
    v1::RecordValue v;
    switch (kind) {
      case v1::RECORD_KIND_INFLOW: {
        v1::InflowRegistration* in = v.mutable_inflow();
        in->set_origin_county(Code());
        *in->mutable_arrived_on() = Date();
        *in->mutable_registered_on() = Date();
        if (Chance(80)) in->set_address("residence address");
        break;
      }
      case v1::RECORD_KIND_OUTFLOW:
        v.mutable_outflow()->set_destination_county(Code());
        *v.mutable_outflow()->mutable_left_on() = Date();
        break;
      case v1::RECORD_KIND_RETURN: {
        v1::ReturnRegistration* r = v.mutable_return_registration();
        r->set_type(Chance(50) ? v1::RETURN_TYPE_RETURNED_HOME : v1::RETURN_TYPE_DEPARTED);
        *r->mutable_effective_on() = Date();
        r->set_from_county(Code());
        break;
      }
      case v1::RECORD_KIND_CERTIFICATE: {
        v1::Certificate* c = v.mutable_certificate();
        c->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
        c->set_number("C1");
        c->set_issuer(Code());
        const absl::CivilDay from = SomeDay();
        *c->mutable_valid_from() = records::ToDate(from);
        *c->mutable_valid_to() = records::ToDate(from + Pick(400));
        c->set_revoked(Chance(15));
        break;
      }
      case v1::RECORD_KIND_INQUIRY: {
        v1::Inquiry* q = v.mutable_inquiry();
        q->set_type(static_cast<v1::InquiryType>(Pick(4)));
        q->set_to_county(Code());
        q->set_question("question");
        if (Chance(80)) q->set_sent_at_micros(At());
        if (Chance(50)) *q->mutable_due_on() = Date();
        break;
      }
      case v1::RECORD_KIND_INQUIRY_REPLY: {
        v1::InquiryReply* r = v.mutable_inquiry_reply();
        r->set_inquiry_record_id(absl::StrCat("q", Pick(2)));
        r->set_inquiry_county(Code());
        r->set_answer("answer");
        if (Chance(85)) r->set_replied_at_micros(At());
        break;
      }
      case v1::RECORD_KIND_NOTICE: {
        v1::Notice* n = v.mutable_notice();
        n->set_to_county(Code());
        n->set_subject("subject");
        n->set_needs_receipt(Chance(80));
        if (Chance(85)) n->set_sent_at_micros(At());
        break;
      }
      case v1::RECORD_KIND_RECEIPT: {
        v1::Receipt* r = v.mutable_receipt();
        r->set_notice_record_id(absl::StrCat("n", Pick(2)));
        r->set_notice_county(Code());
        if (Chance(85)) r->set_received_at_micros(At());
        break;
      }
      default: {
        v1::PersonBasics* p = v.mutable_person_basics();
        p->set_name("Random Person");
        p->set_sex(v1::SEX_FEMALE);
        *p->mutable_birth_date() = Day(1990, 1, 1);
        p->set_hukou_region("620102");
        if (Chance(70)) p->set_hukou_address("hukou address");
        break;
      }
    }
    return v;
  }

  // One write: a record of a few persons, kinds and ids (so that later
  // writes replace earlier ones: corrections, retractions, late replies),
  // with one head or a conflict of two.
  std::pair<std::string, v1::RecordState> Write(const std::vector<std::string>& persons) {
    static const v1::RecordKind kKinds[] = {
        v1::RECORD_KIND_PERSON_BASICS, v1::RECORD_KIND_INFLOW,      v1::RECORD_KIND_OUTFLOW,
        v1::RECORD_KIND_RETURN,        v1::RECORD_KIND_CERTIFICATE, v1::RECORD_KIND_INQUIRY,
        v1::RECORD_KIND_INQUIRY_REPLY, v1::RECORD_KIND_NOTICE,      v1::RECORD_KIND_RECEIPT};
    const v1::RecordKind kind = kKinds[Pick(9)];
    const char* prefix = kind == v1::RECORD_KIND_INQUIRY  ? "q"
                         : kind == v1::RECORD_KIND_NOTICE ? "n"
                                                          : "r";
    const std::string id = absl::StrCat(prefix, Pick(2));
    v1::RecordState state;
    state.set_custodian(Code());
    const int heads = Chance(85) ? 1 : 2;
    for (int h = 0; h < heads; ++h) {
      v1::RecordState::Head* head = state.add_heads();
      head->mutable_event()->set_origin(kCodes[Pick(5)]);
      head->mutable_event()->set_epoch(1);
      head->mutable_event()->set_seq(++seq_);
      head->mutable_hlc()->set_physical_micros(At());
      head->mutable_hlc()->set_logical(Pick(3));
      if (Chance(12)) {
        head->set_operation(v1::OPERATION_RETRACT);
      } else {
        head->set_operation(v1::OPERATION_UPSERT);
        const int shape = Pick(100);
        if (shape < 3) {
          head->set_payload("\xff\xff not a record value");
        } else if (shape < 6) {
          head->set_payload(Value(kKinds[Pick(9)]).SerializeAsString());  // maybe another kind
        } else {
          head->set_payload(Value(kind).SerializeAsString());
        }
      }
    }
    for (int f = Pick(3) == 0 ? 1 + Pick(2) : 0; f > 0; --f) {
      state.add_id_findings(v1::ID_FINDING_BAD_CHECK_CHARACTER);
    }
    state.set_versions(1);
    return {storage::RecordKey(persons[Pick(static_cast<int>(persons.size()))], kind, id), state};
  }

 private:
  std::mt19937_64 rng_;
  uint64_t seq_ = 0;
};

class StatsCountersPropertyTest : public testing::TestWithParam<crypto::SuiteId> {};

TEST_P(StatsCountersPropertyTest, CountersEqualTheScanOverRandomEventOrders) {
  uint64_t first_seed = std::random_device()();
  if (const char* env = std::getenv("TB_STATS_SEED"); env != nullptr) {
    first_seed = std::strtoull(env, nullptr, 10);
  }
  const crypto::Suite& suite = crypto::GetSuite(GetParam());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  int rounds = 0;
  for (uint64_t seed = first_seed; rounds < 8 && absl::Now() < deadline; ++seed, ++rounds) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (repeat with TB_STATS_SEED=", seed, ")"));
    RandomStates random(seed);
    testutil::ScopedTempDir dir;
    storage::StoreOptions options;
    options.path = dir.File("store");
    options.suite = GetParam();
    options.storage_key = *crypto::RandomBytes(suite.symmetric_key_size());
    auto opened = storage::Store::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    std::unique_ptr<storage::Store> store = *std::move(opened);

    std::vector<std::string> persons;
    for (int i = 0; i < 8; ++i)
      persons.push_back(testutil::MakeId("620102", "19900101", 2 * i + 1));
    const int writes = 150 + random.Pick(150);
    for (int w = 0; w < writes; ++w) {
      // A batch of one to three writes, committed together.
      storage::Batch batch(*store);
      for (int n = 1 + random.Pick(3); n > 0; --n) {
        const auto [key, state] = random.Write(persons);
        batch.PutRecord(key, state);
      }
      ASSERT_TRUE(store->Commit(batch, /*sync=*/false).ok());
      if (random.Chance(10)) {
        ASSERT_TRUE(UpdateStatsCounters(*store).ok());
      }
      if (random.Chance(3)) {  // a restart, marks pending or not
        store.reset();
        auto again = storage::Store::Open(options);
        ASSERT_TRUE(again.ok()) << again.status();
        store = *std::move(again);
      }
      if (random.Chance(2)) {
        ExpectCountersEqualScan(*store, Queries({"000000"}, {absl::FromUnixMicros(random.At())}),
                                absl::StrCat("after write ", w));
      }
      if (HasFailure()) return;
    }
    std::vector<absl::Time> nows;
    for (int i = 0; i < 3; ++i) nows.push_back(absl::FromUnixMicros(random.At()));
    ExpectCountersEqualScan(*store,
                            Queries({"000000", "440000", "620000", "330000", "110000", "620102",
                                     "440305", "440106", "330106", "110105"},
                                    nows),
                            "at the end");
    if (HasFailure()) return;
  }
  EXPECT_GT(rounds, 0);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(StatsCountersPropertyTest);

}  // namespace
}  // namespace tongban::workflows
