// The analytics mirror's ingest (issue #16): fills one encrypted store with
// --events events spread over ten origin logs and twelve months (inflow
// registrations of distinct persons, the national node's most common
// shape), starts a PostgreSQL 15 cluster of its own in a temporary folder
// (tests/analytics/pg_cluster.h: Debian's initdb and pg_ctl, a Unix socket,
// fsync off as in the tests), runs analytics::Mirror until every event is
// in tongban.record_state, and prints rows per second, the database's size
// per million rows, and the median time of three typical national queries
// over --trials runs.
//
// The events are put directly (Batch::PutEvent, with a checkpoint entry per
// log so that the mirror sees the log), not appended through the Writer:
// this measures the mirror, not the signing path.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "analytics/mirror.h"
#include "analytics/pg.h"
#include "bench/bench_util.h"
#include "common/crypto/suite.h"
#include "common/ids/citizen_id.h"
#include "records/dates.h"
#include "storage/store.h"
#include "tests/analytics/pg_cluster.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::bench {
namespace {

const char* const kCounties[] = {"620102", "440305", "440106", "330106", "110105",
                                 "310104", "510104", "420102", "370102", "500103"};

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
    std::exit(1);
  }
}

// Puts `events` inflow events, round-robin over the ten counties' logs.
void Fill(storage::Store& store, size_t events) {
  const absl::TimeZone cst = records::ChinaStandardTime();
  const absl::CivilDay start(2025, 10, 1);
  auto batch = std::make_unique<storage::Batch>(store);
  std::vector<uint64_t> seqs(10, 0);
  for (size_t i = 0; i < events; ++i) {
    const size_t c = i % 10;
    const std::string residence = kCounties[c];
    const std::string origin = kCounties[(c + 1 + i / 10 % 9) % 10];
    const absl::CivilDay birth = absl::CivilDay(1970, 1, 1) + static_cast<int64_t>(i / 500 % 15000);
    const std::string first17 = absl::StrFormat("%s%04d%02d%02d%03d", origin, birth.year(),
                                                birth.month(), birth.day(), i % 500 * 2 + 1);
    const absl::CivilDay day = start + static_cast<int64_t>(i % 365);
    v1::EventBody e;
    e.set_origin(residence);
    e.set_epoch(1);
    e.set_seq(++seqs[c]);
    e.mutable_hlc()->set_physical_micros(absl::ToUnixMicros(absl::FromCivil(day, cst)) +
                                         static_cast<int64_t>(i % 86400) * 1000000);
    e.set_person(first17 + ids::CheckCharacter(first17));
    e.set_kind(v1::RECORD_KIND_INFLOW);
    e.set_record_id(absl::StrCat("inflow-", i));
    e.set_operation(v1::OPERATION_UPSERT);
    e.set_purpose(v1::PURPOSE_CASE_MANAGEMENT);
    v1::RecordValue v;
    v1::InflowRegistration* in = v.mutable_inflow();
    in->set_origin_county(origin);
    *in->mutable_arrived_on() = records::ToDate(day - 3);
    *in->mutable_registered_on() = records::ToDate(day);
    in->set_address("test address");
    e.set_payload(v.SerializeAsString());
    batch->PutEvent({residence, 1}, e.seq(), e.SerializeAsString());
    if (batch->count() >= 20000) {
      Check(store.Commit(*batch, false), "commit");
      batch = std::make_unique<storage::Batch>(store);
    }
  }
  for (size_t c = 0; c < 10; ++c) batch->PutCheckpoint({kCounties[c], 1}, seqs[c], {});
  Check(store.Commit(*batch, true), "commit");
}

double Query(analytics::PgConnection& conn, const std::string& sql, int trials) {
  std::vector<double> times;
  for (int t = 0; t < trials; ++t) {
    const auto t0 = SteadyClock::now();
    absl::StatusOr<analytics::PgRows> r = conn.Query(sql);
    Check(r.status(), sql.c_str());
    times.push_back(Seconds(SteadyClock::now() - t0));
  }
  return Median(times);
}

int Main(int argc, char** argv) {
  size_t events = 1000000;
  int trials = 5;
  uint32_t batch_rows = 5000;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--events=")) (void)absl::SimpleAtoi(a, &events);
    if (absl::ConsumePrefix(&a, "--trials=")) (void)absl::SimpleAtoi(a, &trials);
    if (absl::ConsumePrefix(&a, "--batch=")) (void)absl::SimpleAtoi(a, &batch_rows);
  }
  testutil::ScopedTempDir dir;
  storage::StoreOptions so;
  so.path = dir.File("db");
  absl::StatusOr<std::string> key = crypto::RandomBytes(32);
  Check(key.status(), "key");
  so.storage_key = *key;
  absl::StatusOr<std::unique_ptr<storage::Store>> store = storage::Store::Open(so);
  Check(store.status(), "store");
  auto t0 = SteadyClock::now();
  Fill(**store, events);
  std::printf("filled %zu events in %.1f s\n", events, Seconds(SteadyClock::now() - t0));

  testutil::ScopedTempDir pg_dir;
  absl::StatusOr<std::unique_ptr<testutil::PgCluster>> pg =
      testutil::PgCluster::Start(pg_dir.path());
  Check(pg.status(), "postgres");
  analytics::MirrorOptions o;
  o.conninfo = (*pg)->conninfo();
  o.batch_rows = batch_rows;
  o.poll = absl::Milliseconds(100);
  o.store = store->get();
  o.own_log = {"000000", 1};
  o.secret = std::string(32, 'k');
  o.clock = RealClock();
  t0 = SteadyClock::now();
  absl::StatusOr<std::unique_ptr<analytics::Mirror>> mirror = analytics::Mirror::Start(o);
  Check(mirror.status(), "mirror");
  while ((*mirror)->status().rows_written < events) absl::SleepFor(absl::Milliseconds(20));
  const double took = Seconds(SteadyClock::now() - t0);
  (*mirror)->Stop();
  std::printf("mirror: %zu rows in %.1f s: %.0f rows/s (batch %u)\n", events, took,
              static_cast<double>(events) / took, batch_rows);

  absl::StatusOr<std::unique_ptr<analytics::PgConnection>> conn =
      analytics::PgConnection::Connect(o.conninfo, absl::Seconds(5), "bench");
  Check(conn.status(), "connect");
  Check((*conn)->Exec("VACUUM ANALYZE tongban.record_state"), "analyze");
  absl::StatusOr<analytics::PgRows> size = (*conn)->Query(
      "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
      "ON n.oid = c.relnamespace WHERE n.nspname = 'tongban' AND c.relkind = 'r' "
      "AND c.relname LIKE 'record_state_%'");
  Check(size.status(), "size");
  const double bytes = static_cast<double>(size->integer(0, 0));
  std::printf("database: %.0f MiB, %.0f MiB per million rows\n", bytes / (1 << 20),
              bytes / (1 << 20) / (static_cast<double>(events) / 1e6));
  const std::pair<const char*, std::string> queries[] = {
      {"inflows by origin province, residence province and month (a year)",
       "SELECT month, tongban.province(region), tongban.province(origin), count(*) "
       "FROM tongban.record_state WHERE kind = 3 GROUP BY 1, 2, 3"},
      {"registration timeliness by residence county, one month",
       "SELECT origin, count(*) FILTER (WHERE day2 - day1 <= 30), count(*) "
       "FROM tongban.record_state WHERE kind = 3 AND month = DATE '2026-03-01' GROUP BY 1"},
      {"one person's history (by person key)",
       "SELECT * FROM tongban.record_state WHERE person_key = (SELECT person_key FROM "
       "tongban.record_state_202603 LIMIT 1) ORDER BY written_at"}};
  for (const auto& [name, sql] : queries) {
    std::printf("query %-70s median %.3f s of %d\n", name, Query(**conn, sql, trials), trials);
  }
  return 0;
}

}  // namespace
}  // namespace tongban::bench

int main(int argc, char** argv) { return tongban::bench::Main(argc, argv); }
