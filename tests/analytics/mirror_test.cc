// The analytics mirror end to end: a real PostgreSQL 15 cluster of the
// test's own (tests/analytics/pg_cluster.h), the national node and a county
// as daemons (tests/daemon/daemon_fixture.h), records written by the
// county's clerk. Through PostgreSQL stopped (fast and as by a crash) while
// records keep arriving, and the national node restarted, the database
// ends holding exactly the national node's record states: every event of
// every log it holds once, with the person only as the keyed hash.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "analytics/pg.h"
#include "analytics/rows.h"
#include "common/crypto/key_file.h"
#include "common/status_macros.h"
#include "tests/analytics/pg_cluster.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/wait.h"

namespace tongban::node {
namespace {

// The README's typical questions ("Views for staff, and typical
// questions"): every "-- N. ..." line in a ```sql block starts question N,
// whose SQL is the lines up to the next question or the block's end.
std::map<int, std::string> ReadmeQuestions() {
  std::ifstream in(TB_README);
  std::map<int, std::string> questions;
  std::string line;
  bool sql = false;
  int current = 0;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "```")) {
      sql = line == "```sql";
      current = 0;
      continue;
    }
    if (!sql) continue;
    int n = 0;
    if (absl::StartsWith(line, "-- ") && line.find(". ") != std::string::npos &&
        absl::SimpleAtoi(line.substr(3, line.find(". ") - 3), &n)) {
      current = n;
      continue;
    }
    if (current != 0) absl::StrAppend(&questions[current], line, "\n");
  }
  return questions;
}

// record_latest, the measures' rollup, against the latest state of each
// record computed from record_state: rows in one and not in the other.
constexpr char kRollupDiffers[] = R"sql(
  WITH want AS (
    SELECT DISTINCT ON (person_key, kind, origin, record_key)
           person_key, kind, origin, record_key, epoch, seq, operation = 1 AS live, month, day,
           written_at, region, region2, day1, day2, subtype, amount_fen, flag, ref_key,
           id_findings, complete
      FROM tongban.record_state
     ORDER BY person_key, kind, origin, record_key, written_at DESC, epoch DESC, seq DESC),
  got AS (
    SELECT person_key, kind, origin, record_key, epoch, seq, live, month, day, written_at,
           region, region2, day1, day2, subtype, amount_fen, flag, ref_key, id_findings, complete
      FROM tongban.record_latest)
  SELECT (SELECT count(*) FROM (TABLE want EXCEPT TABLE got) a),
         (SELECT count(*) FROM (TABLE got EXCEPT TABLE want) b))sql";

using Row = std::tuple<std::string, uint64_t, uint64_t, int, std::string>;  // origin..person

class AnalyticsMirrorTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (HasFatalFailure()) return;
    TB_ASSERT_OK_AND_ASSIGN(pg_, testutil::PgCluster::Start(pg_dir_.path()));
    national_port_ = national_->node().peer_port();
    RestartNational();
  }

  void TearDown() override {
    county_.reset();
    national_.reset();
    pg_.reset();
  }

  // The national daemon again, with [analytics] on, small batches (many
  // transactions) and quick retries.
  void RestartNational() {
    national_.reset();
    TB_ASSERT_OK_AND_ASSIGN(Config c, LoadConfig(dir_.File("000000") + "/tongband.conf"));
    c.peer_listen = absl::StrCat("127.0.0.1:", national_port_);
    c.analytics_connection = pg_->conninfo();
    c.analytics_batch_size = 7;
    // intl: months split by the person key's hash; gm: months only (the
    // layout for Citus).
    c.analytics_hash_partitions = GetParam() == crypto::SuiteId::kIntl ? 4 : 0;
    c.analytics_poll = absl::Seconds(1);
    c.retry_initial = absl::Milliseconds(100);
    c.retry_max = absl::Seconds(1);
    TB_ASSERT_OK_AND_ASSIGN(national_, daemon::Daemon::Start(c, RealClock()));
  }

  // Writes `c` at the county as its clerk.
  void Write(const storage::RecordChange& c) {
    v1::WriteRequest w;
    w.set_person(c.person);
    w.set_kind(c.kind);
    w.set_record_id(c.record_id);
    w.set_operation(c.operation);
    if (c.operation == v1::OPERATION_RETRACT) {
      w.set_reason("withdrawn in the test");
    } else {
      *w.mutable_value() = c.value;
    }
    TB_ASSERT_OK(As("clerk")->Write(w).status());
  }

  // Writes `n` persons at the county: person basics and an inflow from
  // 440305 each.
  void WriteRecords(int n) {
    for (int i = 0; i < n; ++i) {
      const std::string person = testutil::MakeId(kCounty, "19900101", next_++);
      persons_.push_back(person);
      Write(testutil::Basics(person, "Li"));
      Write(testutil::Inflow(person, "440305"));
    }
  }

  // The rows of `sql`, each as its columns joined by "|".
  std::vector<std::string> Rows(const std::string& sql) {
    std::vector<std::string> out;
    auto conn = analytics::PgConnection::Connect(pg_->conninfo(), absl::Seconds(5), "test");
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (!conn.ok()) return out;
    absl::StatusOr<analytics::PgRows> r = (*conn)->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status() << "\n" << sql;
    if (!r.ok()) return out;
    for (size_t i = 0; i < r->size(); ++i) {
      std::vector<std::string> cols;
      for (size_t c = 0; c < r->columns(); ++c) cols.push_back(r->text(i, c));
      out.push_back(absl::StrJoin(cols, "|"));
    }
    return out;
  }

  // Every event the national node holds, as rows (origin, epoch, seq, kind,
  // person key), in order.
  absl::StatusOr<std::vector<Row>> StoreRows() {
    storage::Store* store = national_->node().store();
    const crypto::Suite& suite = crypto::GetSuite(GetParam());
    TB_ASSIGN_OR_RETURN(
        std::string secret,
        crypto::ReadStorageKeyFile(suite, dir_.File("000000") + "/data/analytics.key"));
    analytics::PersonKeyer keyer(GetParam(), secret);
    TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> logs, store->CheckpointLogs());
    logs.push_back(national_->node().writer()->log());
    std::set<Row> rows;
    for (const storage::LogId& log : logs) {
      TB_ASSIGN_OR_RETURN(uint64_t last, store->LastSeq(log));
      TB_RETURN_IF_ERROR(store->ScanEvents(log, 1, last, [&](uint64_t seq, absl::string_view body) {
        v1::EventBody e;
        if (!e.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
          return absl::DataLossError("event");
        }
        TB_ASSIGN_OR_RETURN(std::string key, keyer.PersonKey(e.person()));
        rows.insert({log.origin, log.epoch, seq, static_cast<int>(e.kind()), key});
        return absl::OkStatus();
      }));
    }
    return std::vector<Row>(rows.begin(), rows.end());
  }

  // Every row of tongban.record_state, in the same order (duplicates kept).
  absl::StatusOr<std::vector<Row>> DatabaseRows() {
    TB_ASSIGN_OR_RETURN(
        auto conn, analytics::PgConnection::Connect(pg_->conninfo(), absl::Seconds(5), "test"));
    TB_ASSIGN_OR_RETURN(
        analytics::PgRows r,
        conn->Query("SELECT lpad(origin::text, 6, '0'), epoch, seq, kind, person_key::text "
                    "FROM tongban.record_state ORDER BY 1, 2, 3"));
    std::vector<Row> rows;
    for (size_t i = 0; i < r.size(); ++i) {
      rows.push_back({r.text(i, 0), static_cast<uint64_t>(r.integer(i, 1)),
                      static_cast<uint64_t>(r.integer(i, 2)), static_cast<int>(r.integer(i, 3)),
                      r.text(i, 4)});
    }
    return rows;
  }

  // The county's events have all reached the national node.
  bool NationalHasCountyLog() {
    storage::Store* county = county_->node().store();
    auto own = county->LastSeq(county_->node().writer()->log());
    auto held = national_->node().store()->LastSeq(county_->node().writer()->log());
    return own.ok() && held.ok() && *own == *held && *own > 0;
  }

  // Waits until the database holds exactly the national node's events.
  void ExpectMirrorEqualsStore(absl::string_view when) {
    ASSERT_TRUE(testutil::WaitUntil([&] { return NationalHasCountyLog(); }, absl::Seconds(60),
                                    "the county's log at the national node"));
    std::vector<Row> want, got;
    const bool equal = testutil::WaitUntil(
        [&]() -> absl::StatusOr<bool> {
          TB_ASSIGN_OR_RETURN(want, StoreRows());
          absl::StatusOr<std::vector<Row>> g = DatabaseRows();
          if (!g.ok()) return false;  // the table may not exist yet
          got = *std::move(g);
          return got == want;
        },
        absl::Seconds(60), "the mirror caught up");
    ASSERT_TRUE(equal) << when << ": store " << want.size() << " events, database " << got.size()
                       << " rows";
    // The rollup holds each record's latest state, no more and no less.
    EXPECT_EQ(Rows(kRollupDiffers), std::vector<std::string>{"0|0"}) << when;
    std::optional<analytics::MirrorStatus> s = national_->node().analytics();
    ASSERT_TRUE(s.has_value());
    EXPECT_TRUE(
        testutil::WaitUntil([&] { return national_->node().analytics()->behind_events == 0; },
                            absl::Seconds(10), "behind 0"));
  }

  testutil::ScopedTempDir pg_dir_;
  std::unique_ptr<testutil::PgCluster> pg_;
  int national_port_ = 0;
  int next_ = 1;
  std::vector<std::string> persons_;
};

TEST_P(AnalyticsMirrorTest, DatabaseHoldsEveryRecordStateOnceThroughOutagesAndRestarts) {
  WriteRecords(5);
  ExpectMirrorEqualsStore("first records");
  if (HasFatalFailure()) return;

  // PostgreSQL stopped: the national node goes on applying; the mirror
  // falls behind, says so, and catches up when PostgreSQL is back.
  TB_ASSERT_OK(pg_->StopServer(/*immediate=*/false));
  WriteRecords(6);
  ASSERT_TRUE(testutil::WaitUntil([&] { return NationalHasCountyLog(); }, absl::Seconds(60),
                                  "the national node applies while PostgreSQL is down"));
  ASSERT_TRUE(testutil::WaitUntil(
      [&] {
        auto s = national_->node().analytics();
        return !s->connected && s->behind_events >= 12 && !s->last_error.empty();
      },
      absl::Seconds(30), "the mirror reports it is behind"));
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"status"}, &err, &out, "000000"), 0) << err;
  EXPECT_NE(out.find("not connected"), std::string::npos) << out;
  EXPECT_NE(out.find("behind"), std::string::npos) << out;
  TB_ASSERT_OK(pg_->StartServer());
  ExpectMirrorEqualsStore("after PostgreSQL was stopped");
  if (HasFatalFailure()) return;

  // A crash of PostgreSQL (immediate stop) during the catch-up of a
  // backlog of many small batches.
  TB_ASSERT_OK(pg_->StopServer(/*immediate=*/false));
  WriteRecords(10);
  ASSERT_TRUE(testutil::WaitUntil([&] { return NationalHasCountyLog(); }, absl::Seconds(60),
                                  "applied while PostgreSQL is down"));
  TB_ASSERT_OK(pg_->StartServer());
  ASSERT_TRUE(testutil::WaitUntil([&] { return national_->node().analytics()->rows_written > 0; },
                                  absl::Seconds(30), "the catch-up began"));
  TB_ASSERT_OK(pg_->StopServer(/*immediate=*/true));
  TB_ASSERT_OK(pg_->StartServer());
  ExpectMirrorEqualsStore("after PostgreSQL crashed during the catch-up");
  if (HasFatalFailure()) return;

  // The national node restarted while records arrive: the cursors come back
  // from the database.
  WriteRecords(4);
  RestartNational();
  WriteRecords(3);
  ExpectMirrorEqualsStore("after the national node restarted");
  if (HasFatalFailure()) return;

  // A database as schema version 2 left it (no record_latest; the views
  // that read it gone with it): on connecting, the mirror makes the rollup
  // from the rows already there, then keeps it.
  national_.reset();
  Rows("DROP TABLE tongban.record_latest CASCADE");
  Rows("UPDATE tongban.meta SET value = '2' WHERE key = 'schema_version'");
  EXPECT_EQ(Rows("SELECT to_regclass('tongban.latest') IS NULL"), std::vector<std::string>{"t"});
  RestartNational();
  WriteRecords(2);
  ExpectMirrorEqualsStore("after an upgrade from schema version 2");
  if (HasFatalFailure()) return;
  EXPECT_EQ(Rows("SELECT value FROM tongban.meta WHERE key = 'schema_version'"),
            std::vector<std::string>{"3"});

  // Two inquiries to 440305 (the node sets their deadline: 30 days), one of
  // them withdrawn: the views see the standing one.
  Write(testutil::Inquiry(persons_[0], "440305", "inquiry-1", v1::INQUIRY_TYPE_NORMAL,
                          absl::FromUnixSeconds(1764547200), testutil::Day(2026, 1, 5)));
  Write(testutil::Inquiry(persons_[1], "440305", "inquiry-2", v1::INQUIRY_TYPE_NORMAL,
                          absl::FromUnixSeconds(1764547200), testutil::Day(2026, 1, 5)));
  ExpectMirrorEqualsStore("after the inquiries");
  if (HasFatalFailure()) return;
  // The withdrawal comes in a later batch: the rollup's state of the
  // inquiry is replaced by the later one.
  Write(testutil::Retraction(persons_[1], v1::RECORD_KIND_INQUIRY, "inquiry-2"));
  ExpectMirrorEqualsStore("after an inquiry was withdrawn");
  if (HasFatalFailure()) return;

  // The README's ten questions, as the README writes them, on what the test
  // wrote: n persons arrived in 620102 (Gansu) from 440305 (Guangdong) on
  // 2026-03-01, each registered within 30 days and none holding a
  // certificate; one inquiry to 440305 stands, sent today (the node stamps
  // it), unanswered, due in 30 days.
  const std::string n = std::to_string(persons_.size());
  TB_ASSERT_OK_AND_ASSIGN(uint64_t county_seq,
                          national_->node().store()->LastSeq(county_->node().writer()->log()));
  const std::string cursor =
      absl::StrCat(kCounty, "|", county_->node().writer()->log().epoch, "|", county_seq);
  const std::map<int, std::vector<std::string>> answers = {
      {1, {"2026-03-01|440000|620000|" + n}},
      {2, {"620102|2026|" + n + "|" + n}},
      {3, {"440305|1"}},
      {4, {"440000|0|1"}},
      {5, {"inflow|" + n, "inquiry|2", "person_basics|" + n}},
      {6, {"1|" + n}},
      {7, {cursor}},  // the time since each cursor moved is left out
      {8, {"440305|0|1|0.0000"}},
      {9, {"620102|0.0000"}},
      {10, {"2026-03-01|440000|620000|" + n + "|0"}},
  };
  const std::map<int, std::string> questions = ReadmeQuestions();
  ASSERT_EQ(questions.size(), answers.size()) << "questions in README.md";
  for (const auto& [number, sql] : questions) {
    SCOPED_TRACE(absl::StrCat("README question ", number, ":\n", sql));
    std::vector<std::string> rows = Rows(sql);
    if (number == 7) {
      for (std::string& r : rows) r.erase(r.rfind('|'));
      rows.erase(std::remove_if(rows.begin(), rows.end(),
                                [&](const std::string& r) { return r != cursor; }),
                 rows.end());
    }
    EXPECT_EQ(rows, answers.at(number));
  }

  // The status shows the mirror connected and caught up.
  ASSERT_EQ(Ctl("admin", {"status"}, &err, &out, "000000"), 0) << err;
  EXPECT_NE(out.find("connected, 0 behind"), std::string::npos) << out;

  // No citizen ID is in the database, in any column of any row.
  TB_ASSERT_OK_AND_ASSIGN(auto conn,
                          analytics::PgConnection::Connect(pg_->conninfo(), absl::Seconds(5), "t"));
  for (const std::string& person : persons_) {
    TB_ASSERT_OK_AND_ASSIGN(analytics::PgRows r,
                            conn->Query("SELECT count(*) FROM tongban.record_state r "
                                        "WHERE strpos(r::text, $1) > 0",
                                        {person}));
    EXPECT_EQ(r.integer(0, 0), 0);
  }
  // An inflow row carries its region codes and dates.
  TB_ASSERT_OK_AND_ASSIGN(analytics::PgRows in,
                          conn->Query("SELECT DISTINCT origin, region, day1::text, day2::text "
                                      "FROM tongban.record_state WHERE kind = 3"));
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in.text(0, 0), "620102");
  EXPECT_EQ(in.text(0, 1), "440305");
  EXPECT_EQ(in.text(0, 2), "2026-03-01");
  EXPECT_EQ(in.text(0, 3), "2026-03-10");
  // The rows sit in month partitions, split by the person key's hash where
  // asked (4 leaves under each month).
  TB_ASSERT_OK_AND_ASSIGN(
      analytics::PgRows parts,
      conn->Query("SELECT count(DISTINCT tongban.month_of(day)), count(DISTINCT tableoid), "
                  "(SELECT count(*) FROM pg_partition_tree('tongban.record_state') "
                  "WHERE isleaf) FROM tongban.record_state"));
  const int64_t months = parts.integer(0, 0);
  if (GetParam() == crypto::SuiteId::kIntl) {
    EXPECT_EQ(parts.integer(0, 2), 4 * months);
    EXPECT_GT(parts.integer(0, 1), months);
  } else {
    EXPECT_EQ(parts.integer(0, 2), months);
    EXPECT_EQ(parts.integer(0, 1), months);
  }
}

// The national node as a tongband process of its own, killed with SIGKILL
// at random moments, and PostgreSQL stopped as by a crash (immediate) at
// others, 20 times each, while the county's clerk keeps writing: the mirror
// is cut mid-batch, mid-COPY and mid-commit. Afterwards the database holds
// every event of every log the national node holds, each once.
TEST_P(AnalyticsMirrorTest, KilledAtRandomMomentsEndsWithEveryEventOnce) {
  constexpr int kKills = 20;
  WriteRecords(2);
  ExpectMirrorEqualsStore("before the kills");
  if (HasFatalFailure()) return;
  national_.reset();
  // The national node's configuration for the process: the roster's peer
  // port, and the mirror on with small batches and quick retries.
  const std::string conf = dir_.File("000000") + "/process.conf";
  {
    std::string text = testutil::Contents(dir_.File("000000") + "/tongband.conf");
    const std::string peer = "[peer]\nlisten = ";
    const size_t at = text.find(peer) + peer.size();
    text.replace(at, text.find('\n', at) - at, absl::StrCat("\"127.0.0.1:", national_port_, "\""));
    absl::StrAppend(&text, "\n[analytics]\nconnection = \"", pg_->conninfo(),
                    "\"\nbatch_size = 7\nhash_partitions = ",
                    GetParam() == crypto::SuiteId::kIntl ? 4 : 0, "\npoll = \"1s\"\n");
    std::ofstream(conf) << text;
  }
  const std::string log = dir_.File("national.log");
  auto start = [&] { return testutil::SpawnDetached({TB_TONGBAND, "--config", conf}, log, log); };

  // The clerk writes all along, two records a person.
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::thread clerk([&] {
    auto client = As("clerk");
    for (int i = 0; !stop.load(); ++i) {
      const std::string person = testutil::MakeId(kCounty, "19850101", 2 * i + 1);
      for (const storage::RecordChange& c :
           {testutil::Basics(person, "Li"), testutil::Inflow(person, "440305")}) {
        if (!client->Write(testutil::WriteRequestOf(c)).ok()) ++refused;
      }
      absl::SleepFor(absl::Milliseconds(15));
    }
  });

  const uint64_t seed = testutil::TestSeed("analytics mirror kills");
  SCOPED_TRACE(testutil::SeedTrace(seed));
  std::mt19937 rng(static_cast<uint32_t>(seed));
  auto moment = [&] {
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(200, 1500)(rng)));
  };
  pid_t national = start();
  // On a failed assertion: no process or thread left behind.
  struct Cleanup {
    pid_t* pid;
    std::atomic<bool>* stop;
    std::thread* clerk;
    ~Cleanup() {
      *stop = true;
      if (clerk->joinable()) clerk->join();
      if (*pid > 0) {
        ::kill(*pid, SIGKILL);
        waitpid(*pid, nullptr, 0);
      }
    }
  } cleanup{&national, &stop, &clerk};
  ASSERT_GT(national, 0);
  for (int k = 0; k < kKills; ++k) {
    moment();
    ASSERT_EQ(::kill(national, SIGKILL), 0);
    int status = 0;
    waitpid(national, &status, 0);
    national = start();
    ASSERT_GT(national, 0);
    moment();
    TB_ASSERT_OK(pg_->StopServer(/*immediate=*/true));
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 500)(rng)));
    TB_ASSERT_OK(pg_->StartServer());
  }
  moment();
  stop = true;
  clerk.join();
  EXPECT_EQ(refused.load(), 0) << "the county refused writes";
  ::kill(national, SIGTERM);
  int status = 0;
  waitpid(national, &status, 0);
  national = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testutil::Contents(log);
  // The process wrote rows between the kills (it connected after each).
  const std::string text = testutil::Contents(log);
  size_t connects = 0;
  for (size_t at = text.find("analytics mirror connected"); at != std::string::npos;
       at = text.find("analytics mirror connected", at + 1)) {
    ++connects;
  }
  EXPECT_GE(connects, static_cast<size_t>(kKills)) << text;

  // The node in this process again: the database equals its store.
  RestartNational();
  ExpectMirrorEqualsStore("after the kills");
}

TB_INSTANTIATE_FOR_BOTH_SUITES(AnalyticsMirrorTest);

}  // namespace
}  // namespace tongban::node
