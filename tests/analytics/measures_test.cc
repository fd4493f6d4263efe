// The national measures in SQL (analytics/schema.sql: tongban.measures_of,
// tongban.flows) against the node's own statistics (workflows/stats.h), on
// the same records: a random federation story (sessions in one process,
// tests/sync/test_federation.h) of five counties writing every kind the
// measures read (outflows, inflows, returns home and departures,
// certificates with corrections and revocations, inquiries and replies,
// notices and receipts, retractions, a person whose ID carries a finding),
// every log at the national node, mirrored (analytics/mirror.h) into a
// PostgreSQL 15 cluster of the test's own. For every month and statistical
// year around the story, at three `now`s, every numerator and denominator
// of every county, province and the nation, and every flow, must be what
// `Stats` gives. The seed is printed on failure; TB_MEASURES_SEED=N
// repeats one.
#include "workflows/measures.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analytics/mirror.h"
#include "analytics/pg.h"
#include "analytics/stats_sql.h"
#include "common/crypto/suite.h"
#include "common/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "records/dates.h"
#include "tests/analytics/pg_cluster.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/spawn.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"
#include "workflows/stats.h"

namespace tongban::analytics {
namespace {

using testutil::Change;
using testutil::Day;

constexpr char kNational[] = "000000";
// Two origins (Gansu, Beijing) and three residences in two provinces.
const std::vector<std::string> kOrigins = {"620102", "110105"};
const std::vector<std::string> kResidences = {"440305", "440106", "330106"};

const absl::TimeZone kCst = absl::FixedTimeZone(8 * 3600);
const absl::CivilDay kFirstDay(2025, 6, 1), kLastDay(2027, 5, 31);

absl::Time Noon(absl::CivilDay d) {
  return absl::FromCivil(absl::CivilSecond(d) + 12 * 3600, kCst);
}

// One write of the story: at `when` (the clock is set there; writes run in
// time order), by `node`.
struct Action {
  absl::Time when;
  std::string node;
  storage::RecordChange change;
};

class Story {
 public:
  explicit Story(uint64_t seed) : rng_(seed) {}

  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  bool Chance(int percent) { return Pick(100) < percent; }
  absl::CivilDay SomeDay() { return kFirstDay + Pick(static_cast<int>(kLastDay - kFirstDay) + 1); }
  // A day `from` plus 0..`days`, never past the story's last day.
  absl::CivilDay After(absl::CivilDay from, int days) {
    return std::min(kLastDay, from + Pick(days + 1));
  }

  // Every write of `persons` persons, in time order.
  std::vector<Action> Make(int persons) {
    std::vector<Action> out;
    for (int i = 0; i < persons; ++i) AddPerson(i, &out);
    std::stable_sort(out.begin(), out.end(),
                     [](const Action& a, const Action& b) { return a.when < b.when; });
    return out;
  }

 private:
  void Add(std::vector<Action>* out, absl::CivilDay day, const std::string& node,
           storage::RecordChange c) {
    out->push_back({Noon(day) + absl::Minutes(Pick(600)), node, std::move(c)});
  }

  void AddPerson(int i, std::vector<Action>* out) {
    const std::string& origin = kOrigins[Pick(2)];
    std::string person = testutil::MakeId(origin, "19900101", 2 * i + 1);
    const bool finding = i == 0;  // a wrong check character, confirmed
    if (finding) person.back() = person.back() == '0' ? '1' : '0';
    auto add = [&](absl::CivilDay day, const std::string& node, storage::RecordChange c) {
      c.confirm_findings = finding;
      Add(out, day, node, std::move(c));
    };
    add(kFirstDay, origin, testutil::Basics(person, "Random Person"));
    const std::string& residence = kResidences[Pick(3)];
    const absl::CivilDay left = SomeDay();
    if (Chance(75)) {  // the origin registers the departure
      storage::RecordChange c = testutil::Outflow(person, residence);
      *c.value.mutable_outflow()->mutable_left_on() = records::ToDate(left);
      add(After(left, 20), origin, c);
    }
    if (Chance(75)) {  // the residence registers the arrival, maybe late
      const absl::CivilDay arrived = After(left, 10);
      const absl::CivilDay registered = After(arrived, 45);
      // Some from another origin than the ID's (a wrong or moved hukou).
      storage::RecordChange c =
          testutil::Inflow(person, Chance(85) ? origin : kOrigins[Pick(2)], "inflow-" + residence);
      *c.value.mutable_inflow()->mutable_arrived_on() = records::ToDate(arrived);
      *c.value.mutable_inflow()->mutable_registered_on() = records::ToDate(registered);
      add(registered, residence, c);
      if (Chance(10)) {
        storage::RecordChange r =
            testutil::Retraction(person, v1::RECORD_KIND_INFLOW, "inflow-" + residence);
        add(registered + 1 + Pick(30), residence, r);  // after the inflow, always
      }
    }
    if (Chance(25)) {  // back home, or gone from the residence
      const bool home = Chance(50);
      const absl::CivilDay on = After(left, 300);
      storage::RecordChange c = Change(person, v1::RECORD_KIND_RETURN, "return-1");
      v1::ReturnRegistration* r = c.value.mutable_return_registration();
      r->set_type(home ? v1::RETURN_TYPE_RETURNED_HOME : v1::RETURN_TYPE_DEPARTED);
      *r->mutable_effective_on() = records::ToDate(on);
      r->set_from_county(home ? origin : residence);
      r->set_to_county(home ? residence : origin);
      add(on, home ? origin : residence, c);
    }
    if (Chance(60)) {  // a certificate from the origin, maybe revoked later
      const absl::CivilDay from = SomeDay();
      storage::RecordChange c = Change(person, v1::RECORD_KIND_CERTIFICATE, "cert-C1");
      v1::Certificate* cert = c.value.mutable_certificate();
      cert->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
      cert->set_number("C1");
      cert->set_issuer(origin);
      *cert->mutable_valid_from() = records::ToDate(from);
      *cert->mutable_valid_to() = records::ToDate(from + 30 + Pick(500));
      add(from, origin, c);
      if (Chance(20)) {
        cert->set_revoked(true);
        add(from + 1 + Pick(100), origin, c);
      }
    }
    for (int q = Pick(3); q > 0; --q) {  // inquiries to the residence, some replied
      const absl::CivilDay sent = SomeDay();
      const std::string id = absl::StrCat("q", q);
      const auto type = static_cast<v1::InquiryType>(1 + Pick(3));
      storage::RecordChange c = testutil::Inquiry(person, residence, id, type, Noon(sent),
                                                  records::ToDate(sent + 5 + Pick(30)));
      if (Chance(40)) c.value.mutable_inquiry()->clear_due_on();  // the type's days
      add(sent, origin, c);
      if (Chance(65)) {
        const absl::CivilDay at = After(sent, 40);
        add(at, residence, testutil::InquiryReply(person, origin, id, Noon(at)));
      }
    }
    for (int n = Pick(3); n > 0; --n) {  // notices to the residence, some acknowledged
      const absl::CivilDay sent = SomeDay();
      const std::string id = absl::StrCat("n", n);
      storage::RecordChange c = Change(person, v1::RECORD_KIND_NOTICE, id);
      v1::Notice* notice = c.value.mutable_notice();
      notice->set_to_county(residence);
      notice->set_subject("inflow notified");
      notice->set_needs_receipt(Chance(75));
      notice->set_sent_at_micros(absl::ToUnixMicros(Noon(sent)));
      add(sent, origin, c);
      if (Chance(60)) {
        const absl::CivilDay at = After(sent, 20);
        storage::RecordChange r = Change(person, v1::RECORD_KIND_RECEIPT, "receipt-" + id);
        r.value.mutable_receipt()->set_notice_record_id(id);
        r.value.mutable_receipt()->set_notice_county(origin);
        r.value.mutable_receipt()->set_received_at_micros(absl::ToUnixMicros(Noon(at)));
        add(at, residence, r);
      }
    }
  }

  std::mt19937_64 rng_;
};

// (scope, measure) -> (numerator, denominator), zeros left out.
using Counts = std::map<std::pair<int, std::string>, std::pair<uint64_t, uint64_t>>;
// (month, origin, residence) -> (inflows, outflows).
using Flows =
    std::map<std::tuple<std::string, std::string, std::string>, std::pair<uint64_t, uint64_t>>;

std::string DayText(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

class AnalyticsMeasuresTest : public testing::TestWithParam<crypto::SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(pg_, testutil::PgCluster::Start(pg_dir_.path()));
  }

  absl::StatusOr<PgRows> Query(const std::string& sql) {
    TB_ASSIGN_OR_RETURN(auto conn,
                        PgConnection::Connect(pg_->conninfo(), absl::Seconds(10), "test"));
    return conn->Query(sql);
  }

  // The story of `seed` through a federation, mirrored into a fresh schema.
  void Run(uint64_t seed) {
    ASSERT_TRUE(Query("DROP SCHEMA IF EXISTS tongban CASCADE").ok());
    Story story(seed);
    FakeClock clock(Noon(kFirstDay) - absl::Hours(1));
    testutil::TestFederation fed(GetParam(), &clock);
    fed.Add(kNational);
    for (const auto* list : {&kOrigins, &kResidences}) {
      for (const std::string& code : *list) fed.Add(code);
    }
    int written = 0;
    for (const Action& a : story.Make(40)) {
      if (a.when > clock.Now()) clock.Set(a.when);
      auto r = fed.at(a.node).writer->Append(a.change);
      ASSERT_TRUE(r.ok()) << a.node << " " << a.change.record_id << " at "
                          << absl::FormatTime(a.when, kCst) << ": " << r.status();
      ++written;
    }
    // Every log to the national node (twice, so that what the relay
    // carries back settles).
    for (int round = 0; round < 2; ++round) {
      for (const auto* list : {&kOrigins, &kResidences}) {
        for (const std::string& code : *list) fed.Sync(code, kNational);
      }
    }

    storage::Store& store = *fed.at(kNational).store;
    MirrorOptions o;
    o.conninfo = pg_->conninfo();
    o.batch_rows = 97;
    o.hash_partitions = GetParam() == crypto::SuiteId::kIntl ? 4 : 0;
    o.poll = absl::Milliseconds(50);
    o.retry_initial = absl::Milliseconds(50);
    o.retry_max = absl::Milliseconds(500);
    o.store = &store;
    o.own_log = fed.at(kNational).writer->log();
    o.suite = GetParam();
    TB_ASSERT_OK_AND_ASSIGN(o.secret, crypto::RandomBytes(32));
    o.clock = &clock;
    TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Mirror> mirror, Mirror::Start(o));
    ASSERT_TRUE(testutil::WaitUntil(
        [&] {
          absl::StatusOr<PgRows> n = Query("SELECT count(*) FROM tongban.record_state");
          return n.ok() && n->integer(0, 0) == written;
        },
        absl::Seconds(60), "every event in the database"));
    mirror->Stop();

    std::vector<std::pair<v1::StatsPeriodKind, std::string>> periods;
    for (absl::CivilMonth m(2025, 6); m <= absl::CivilMonth(2027, 6); ++m) {
      periods.push_back(
          {v1::STATS_PERIOD_KIND_MONTH, absl::StrFormat("%04d-%02d", m.year(), m.month())});
    }
    for (int y = 2025; y <= 2028; ++y) {
      periods.push_back({v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, absl::StrCat(y)});
    }
    size_t compared = 0;
    for (absl::CivilDay today :
         {absl::CivilDay(2026, 3, 15), absl::CivilDay(2026, 11, 30), absl::CivilDay(2027, 7, 1)}) {
      for (const auto& [kind, period] : periods) {
        SCOPED_TRACE(absl::StrCat("period ", period, ", today ", DayText(today)));
        ExpectSqlEqualsStats(store, kind, period, today, &compared);
        if (HasFailure()) return;
      }
    }
    // The story must give every measure something to count.
    EXPECT_GT(compared, 1000u);

    v1::StatsRequest year;
    year.set_period_kind(v1::STATS_PERIOD_KIND_STATISTICAL_YEAR);
    year.set_period("2026");
    ExpectCtlPrintsStats(store, year, {"--year", "2026"});
    v1::StatsRequest month;
    month.set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
    month.set_period("2026-03");
    month.set_scope("440000");
    ExpectCtlPrintsStats(store, month, {"--month", "2026-03", "--scope", "440000"});
  }

  // Compares the SQL measures and flows of one period on `today` with
  // `Stats` of the national node's store; adds to `compared` how many counts
  // and flows Stats gave.
  void ExpectSqlEqualsStats(const storage::Store& store, v1::StatsPeriodKind kind,
                            const std::string& period, absl::CivilDay today, size_t* compared) {
    v1::StatsRequest request;
    request.set_period_kind(kind);
    request.set_period(period);
    TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply reply,
                            workflows::ComputeStats(store, workflows::StatsQueryFromRequest(
                                                               request, kNational, Noon(today))));
    Counts want;
    Flows want_flows;
    for (const v1::StatsRow& row : reply.rows()) {
      for (int m = 0; m < workflows::kMeasureCount; ++m) {
        const v1::StatsRatio& r = workflows::Ratio(row, m);
        if (r.numerator() == 0 && r.denominator() == 0) continue;
        want[{std::stoi(row.scope()), workflows::kMeasureSqlNames[m]}] = {r.numerator(),
                                                                          r.denominator()};
      }
      if (row.level() != v1::STATS_SCOPE_LEVEL_COUNTY) continue;
      for (const v1::StatsFlow& f : row.flows()) {
        want_flows[{f.month(), f.origin(), f.residence()}] = {f.inflows(), f.outflows()};
      }
    }
    TB_ASSERT_OK_AND_ASSIGN(PgRows rows,
                            Query(absl::StrCat("SELECT scope, measure, numerator, denominator "
                                               "FROM tongban.measures_of('",
                                               period, "', '", DayText(today), "')")));
    Counts got;
    for (size_t i = 0; i < rows.size(); ++i) {
      got[{static_cast<int>(rows.integer(i, 0)), rows.text(i, 1)}] = {
          static_cast<uint64_t>(rows.integer(i, 2)), static_cast<uint64_t>(rows.integer(i, 3))};
    }
    TB_ASSERT_OK_AND_ASSIGN(
        PgRows flow_rows,
        Query(absl::StrCat("SELECT to_char(f.month, 'YYYY-MM'), lpad(f.origin::text, 6, '0'), "
                           "lpad(f.residence::text, 6, '0'), f.inflows, f.outflows "
                           "FROM tongban.period_days('",
                           period, "') p, LATERAL tongban.flows(p.first_day, p.last_day) f")));
    Flows got_flows;
    for (size_t i = 0; i < flow_rows.size(); ++i) {
      got_flows[{flow_rows.text(i, 0), flow_rows.text(i, 1), flow_rows.text(i, 2)}] = {
          static_cast<uint64_t>(flow_rows.integer(i, 3)),
          static_cast<uint64_t>(flow_rows.integer(i, 4))};
    }
    for (const auto& [key, counts] : want) {
      auto it = got.find(key);
      EXPECT_TRUE(it != got.end() && it->second == counts)
          << key.second << " of " << key.first << ": Stats " << counts.first << "/" << counts.second
          << ", SQL "
          << (it == got.end() ? std::string("none")
                              : absl::StrCat(it->second.first, "/", it->second.second));
    }
    for (const auto& [key, counts] : got) {
      EXPECT_TRUE(want.count(key) == 1) << key.second << " of " << key.first << ": SQL "
                                        << counts.first << "/" << counts.second << ", Stats none";
    }
    EXPECT_EQ(got_flows, want_flows);
    *compared += want.size() + want_flows.size();

    // The whole reply tongbanctl stats --from analytics shows: the same rows,
    // flows distributed to provinces and the nation, and frame.
    TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply from_sql,
                            StatsFromAnalytics(pg_->conninfo(), request, today));
    reply.set_computed_by("analytics");
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(from_sql, reply))
        << "analytics:\n"
        << workflows::FormatStatsTable(from_sql) << "node:\n"
        << workflows::FormatStatsTable(reply);
  }

  // tongbanctl stats --from analytics `args` prints what the node's Stats
  // gives today.
  void ExpectCtlPrintsStats(const storage::Store& store, const v1::StatsRequest& request,
                            std::vector<std::string> args) {
    args.insert(args.begin(),
                {TB_TONGBANCTL, "stats", "--from", "analytics", "--db", pg_->conninfo()});
    std::string out, err;
    ASSERT_EQ(testutil::SpawnAndWait(args, pg_dir_.File("ctl"), &err, &out), 0) << err;
    TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply reply,
                            workflows::ComputeStats(store, workflows::StatsQueryFromRequest(
                                                               request, kNational, absl::Now())));
    reply.set_computed_by("analytics");
    EXPECT_EQ(out, workflows::FormatStatsTable(reply));
  }

  testutil::ScopedTempDir pg_dir_;
  std::unique_ptr<testutil::PgCluster> pg_;
};

TEST_P(AnalyticsMeasuresTest, SqlMeasuresEqualTheNodesStatisticsOverRandomStories) {
  uint64_t first_seed = std::random_device()();
  if (const char* env = std::getenv("TB_MEASURES_SEED"); env != nullptr) {
    first_seed = std::strtoull(env, nullptr, 10);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(25);
  int rounds = 0;
  for (uint64_t seed = first_seed; rounds < 3 && absl::Now() < deadline; ++seed, ++rounds) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (repeat with TB_MEASURES_SEED=", seed, ")"));
    Run(seed);
    if (HasFailure()) return;
  }
}

// No signing or hashing here: one suite.
class AnalyticsStatsCtlTest : public testing::Test {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(pg_, testutil::PgCluster::Start(pg_dir_.path()));
  }

  testutil::ScopedTempDir pg_dir_;
  std::unique_ptr<testutil::PgCluster> pg_;
};

TEST_F(AnalyticsStatsCtlTest, BadQueriesAndAnEmptyDatabaseGetOneClearError) {
  auto ctl = [&](std::vector<std::string> args, std::string* err) {
    args.insert(args.begin(), {TB_TONGBANCTL, "stats"});
    std::string out;
    return testutil::SpawnAndWait(args, pg_dir_.File("ctl"), err, &out);
  };
  const std::string db = pg_->conninfo();
  std::string err;
  // The database exists but no mirror wrote to it.
  EXPECT_NE(ctl({"--from", "analytics", "--db", db}, &err), 0);
  EXPECT_NE(err.find("no tongban.measures"), std::string::npos) << err;
  EXPECT_NE(ctl({"--from", "elsewhere"}, &err), 0);
  EXPECT_NE(err.find("--from \"elsewhere\": give node (the default) or analytics"),
            std::string::npos)
      << err;
  EXPECT_NE(ctl({"--from", "analytics", "--scan", "--db", db}, &err), 0);
  EXPECT_NE(err.find("not both"), std::string::npos) << err;
  EXPECT_NE(ctl({"--db", db}, &err), 0);
  EXPECT_NE(err.find("give it with --from analytics"), std::string::npos) << err;
  EXPECT_NE(ctl({"--from", "analytics", "--db", "host=/nonexistent", "--month", "2026-13"}, &err),
            0);
  EXPECT_NE(err.find("2026-13"), std::string::npos) << err;
  EXPECT_NE(ctl({"--from", "analytics", "--db", db, "--scope", "44"}, &err), 0);
  EXPECT_NE(err.find("stats scope \"44\""), std::string::npos) << err;
  // Nothing listening there.
  EXPECT_NE(ctl({"--from", "analytics", "--db", "host=127.0.0.1 port=1 dbname=x"}, &err), 0);
  EXPECT_NE(err.find("127.0.0.1"), std::string::npos) << err;
  // Each error is one line.
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TB_INSTANTIATE_FOR_BOTH_SUITES(AnalyticsMeasuresTest);

}  // namespace
}  // namespace tongban::analytics
