// The analytics mirror's ingest (issue #16): fills one encrypted store with
// --events events over ten counties' logs and twelve months (of eight
// kinds, in the national node's shape: Fill says which), starts a
// PostgreSQL 15 cluster of its own in a temporary folder (tests/analytics/pg_cluster.h: Debian's
// initdb and pg_ctl, a Unix socket, fsync off as in the tests), runs analytics::Mirror until every
// event is in tongban.record_state, and prints rows per second, the database's size per million
// events (the rows and the record_latest rollup apart), and the median time of typical national
// queries, the measures of a month and of a statistical year among them, over --trials runs.
//
// The events are put directly (Batch::PutEvent, with a checkpoint entry per
// log so that the mirror sees the log), not appended through the Writer:
// this measures the mirror, not the signing path.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
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
#include "tests/testutil/files.h"
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

// Puts `events` events, eight per person over the person's origin (O) and
// residence (R) counties' logs, in the shape the measures read: an inflow
// at R (one in seven registered late), an outflow at O (a service at R for
// one person in four), a certificate at R (one in nine revoked), an
// inquiry from R to O, O's reply (a service at R for one in three), a
// notice from O to R needing a receipt, R's receipt (a service at R for
// every other person), and the person's basics at O.
void Fill(storage::Store& store, size_t events) {
  const absl::TimeZone cst = records::ChinaStandardTime();
  const absl::CivilDay start(2025, 10, 1);
  auto batch = std::make_unique<storage::Batch>(store);
  std::map<std::string, uint64_t> seqs;
  for (size_t i = 0; i < events; ++i) {
    const size_t h = i / 8;  // the person
    const size_t slot = i % 8;
    const size_t c = h % 10;
    const std::string residence = kCounties[c];
    const std::string origin = kCounties[(c + 1 + h / 10 % 9) % 10];
    const absl::CivilDay birth = absl::CivilDay(1970, 1, 1) + static_cast<int64_t>(h / 500 % 15000);
    const std::string first17 = absl::StrFormat("%s%04d%02d%02d%03d", origin, birth.year(),
                                                birth.month(), birth.day(), h % 500 * 2 + 1);
    const absl::CivilDay day = start + static_cast<int64_t>(h % 365);
    auto micros = [&](absl::CivilDay d) {
      return absl::ToUnixMicros(absl::FromCivil(d, cst)) + static_cast<int64_t>(slot) * 1000000;
    };
    v1::RecordValue v;
    v1::RecordKind kind = v1::RECORD_KIND_SERVICE;
    std::string writer = residence;
    auto service = [&] {
      v1::ServiceRecord* s = v.mutable_service();
      s->set_type(v1::SERVICE_TYPE_HEALTH_CHECK);
      *s->mutable_delivered_on() = records::ToDate(day);
      s->set_provider_county(residence);
    };
    switch (slot) {
      case 0: {
        kind = v1::RECORD_KIND_INFLOW;
        v1::InflowRegistration* in = v.mutable_inflow();
        in->set_origin_county(origin);
        *in->mutable_arrived_on() = records::ToDate(day - (h % 7 == 0 ? 40 : 3));
        *in->mutable_registered_on() = records::ToDate(day);
        in->set_address("test address");
        break;
      }
      case 1:
        if (h % 4 == 3) {
          service();
          break;
        }
        kind = v1::RECORD_KIND_OUTFLOW;
        writer = origin;
        v.mutable_outflow()->set_destination_county(residence);
        *v.mutable_outflow()->mutable_left_on() = records::ToDate(day - 5);
        break;
      case 2: {
        kind = v1::RECORD_KIND_CERTIFICATE;
        v1::Certificate* cert = v.mutable_certificate();
        cert->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
        cert->set_issuer(residence);
        *cert->mutable_valid_from() = records::ToDate(day);
        *cert->mutable_valid_to() = records::ToDate(day + 365);
        cert->set_revoked(h % 9 == 0);
        break;
      }
      case 3:
        kind = v1::RECORD_KIND_INQUIRY;
        v.mutable_inquiry()->set_type(v1::INQUIRY_TYPE_NORMAL);
        v.mutable_inquiry()->set_to_county(origin);
        v.mutable_inquiry()->set_sent_at_micros(micros(day));
        *v.mutable_inquiry()->mutable_due_on() = records::ToDate(day + 30);
        break;
      case 4:
        if (h % 3 == 0) {
          service();
          break;
        }
        kind = v1::RECORD_KIND_INQUIRY_REPLY;
        writer = origin;
        v.mutable_inquiry_reply()->set_inquiry_record_id(absl::StrCat("inquiry-", h));
        v.mutable_inquiry_reply()->set_inquiry_county(residence);
        v.mutable_inquiry_reply()->set_matched(true);
        v.mutable_inquiry_reply()->set_replied_at_micros(micros(day + 10));
        break;
      case 5:
        kind = v1::RECORD_KIND_NOTICE;
        writer = origin;
        v.mutable_notice()->set_to_county(residence);
        v.mutable_notice()->set_needs_receipt(true);
        v.mutable_notice()->set_sent_at_micros(micros(day));
        break;
      case 6:
        if (h % 2 == 1) {
          service();
          break;
        }
        kind = v1::RECORD_KIND_RECEIPT;
        v.mutable_receipt()->set_notice_record_id(absl::StrCat("notice-", h));
        v.mutable_receipt()->set_notice_county(origin);
        v.mutable_receipt()->set_received_at_micros(micros(day + 2));
        break;
      default:
        kind = v1::RECORD_KIND_PERSON_BASICS;
        writer = origin;
        v.mutable_person_basics()->set_name("test name");
        v.mutable_person_basics()->set_hukou_region(origin);
        break;
    }
    v1::EventBody e;
    e.set_origin(writer);
    e.set_epoch(1);
    e.set_seq(++seqs[writer]);
    e.mutable_hlc()->set_physical_micros(micros(day + 12));
    e.set_person(first17 + ids::CheckCharacter(first17));
    e.set_kind(kind);
    e.set_record_id(
        absl::StrCat(absl::AsciiStrToLower(v1::RecordKind_Name(kind).substr(12)), "-", h));
    e.set_operation(v1::OPERATION_UPSERT);
    e.set_purpose(v1::PURPOSE_CASE_MANAGEMENT);
    e.set_payload(v.SerializeAsString());
    batch->PutEvent({writer, 1}, e.seq(), e.SerializeAsString());
    if (batch->count() >= 20000) {
      Check(store.Commit(*batch, false), "commit");
      batch = std::make_unique<storage::Batch>(store);
    }
  }
  for (const auto& [county, seq] : seqs) batch->PutCheckpoint({county, 1}, seq, {});
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
  bool explain = false;  // print each query's plans (auto_explain) before timing it
  std::string work_mem;  // the queries' work_mem (PostgreSQL's default, 4MB, without it)
  std::vector<std::string> server_settings;  // NAME=VALUE, each by ALTER SYSTEM
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--events=")) (void)absl::SimpleAtoi(a, &events);
    if (absl::ConsumePrefix(&a, "--trials=")) (void)absl::SimpleAtoi(a, &trials);
    if (absl::ConsumePrefix(&a, "--batch=")) (void)absl::SimpleAtoi(a, &batch_rows);
    if (a == "--explain") explain = true;
    if (absl::ConsumePrefix(&a, "--work-mem=")) work_mem = std::string(a);
    if (absl::ConsumePrefix(&a, "--server=")) server_settings.push_back(std::string(a));
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
  if (!server_settings.empty()) {
    absl::StatusOr<std::unique_ptr<analytics::PgConnection>> c =
        analytics::PgConnection::Connect((*pg)->conninfo(), absl::Seconds(5), "bench");
    Check(c.status(), "connect");
    for (const std::string& setting : server_settings) {
      const size_t eq = setting.find('=');
      if (eq == std::string::npos)
        Check(absl::InvalidArgumentError(setting), "--server=NAME=VALUE");
      Check((*c)->Exec(absl::StrCat("ALTER SYSTEM SET ", setting.substr(0, eq), " = '",
                                    setting.substr(eq + 1), "'")),
            setting.c_str());
      std::printf("server with %s\n", setting.c_str());
    }
    c->reset();
    Check((*pg)->StopServer(/*immediate=*/false), "postgres stop");
    Check((*pg)->StartServer(), "postgres start");
  }
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
  Check((*conn)->Exec("VACUUM ANALYZE tongban.record_state, tongban.record_latest"), "analyze");
  for (const char* table : {"record_state", "record_latest"}) {
    absl::StatusOr<analytics::PgRows> size = (*conn)->Query(absl::StrCat(
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = 'tongban' AND c.relkind = 'r' "
        "AND c.relname LIKE '",
        table, "_%'"));
    Check(size.status(), "size");
    const double bytes = static_cast<double>(size->integer(0, 0));
    std::printf("database: %s %.0f MiB, %.0f MiB per million events\n", table, bytes / (1 << 20),
                bytes / (1 << 20) / (static_cast<double>(events) / 1e6));
  }
  const std::pair<const char*, std::string> queries[] = {
      {"README question 1: flows between provinces by month",
       "SELECT arrival_month, origin_province, residence_province, count(*) "
       "FROM tongban.inflows GROUP BY 1, 2, 3"},
      {"registration timeliness by residence county, one month",
       "SELECT origin, count(*) FILTER (WHERE day2 - day1 <= 30), count(*) "
       "FROM tongban.record_state WHERE kind = 3 AND month = DATE '2026-03-01' GROUP BY 1"},
      {"one person's history (by person key)",
       "SELECT * FROM tongban.record_state WHERE person_key = (SELECT person_key FROM "
       "tongban.record_state_202603 LIMIT 1) ORDER BY written_at"},
      {"every measure of every scope, one month (measures_of('2026-03'))",
       "SELECT * FROM tongban.measures_of('2026-03', DATE '2026-12-01')"},
      {"every measure of every scope, a statistical year (measures_of('2026'))",
       "SELECT * FROM tongban.measures_of('2026', DATE '2026-12-01')"}};
  if (!work_mem.empty()) {
    Check((*conn)->Exec(absl::StrCat("SET work_mem = '", work_mem, "'")), "work_mem");
    std::printf("queries with work_mem = %s\n", work_mem.c_str());
  }
  if (explain) {  // the plans go to the server's log, printed from where it stood
    const std::string log = pg_dir.File("server.log");
    const size_t before = testutil::Contents(log).size();
    Check((*conn)->Exec("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
                        "SET auto_explain.log_analyze = on; "
                        "SET auto_explain.log_nested_statements = on"),
          "auto_explain");
    for (const auto& [name, sql] : queries) Query(**conn, sql, 1);
    Check((*conn)->Exec("SET auto_explain.log_min_duration = -1"), "auto_explain");
    std::printf("%s\n", testutil::Contents(log).substr(before).c_str());
  }
  for (const auto& [name, sql] : queries) {
    std::printf("query %-70s median %.3f s of %d\n", name, Query(**conn, sql, trials), trials);
  }
  return 0;
}

}  // namespace
}  // namespace tongban::bench

int main(int argc, char** argv) { return tongban::bench::Main(argc, argv); }
