// The statistics benchmark (issue #5: stats over 1,000,000 records in under
// a second): fills one encrypted store with --records record states of the
// national node's shape (persons who left one of ten counties for another,
// with inquiries, replies, notices, receipts and certificates), flushes it,
// then times workflows::ComputeStats for the nation over a statistical year and
// over a month, --trials times each, and prints the medians (wall time, and
// the thread's CPU time, since the machine is shared). Two floors come
// first: the bare scan of the records column family, and the scan with every
// RecordState parsed by the generated parser (which ComputeStats avoids: it
// reads only the heads, from the wire). Then (--counters=1, the default)
// the statistics counters (workflows/stats.h): built from the store once,
// then CountedStats for the same queries, checked equal to the scan's reply,
// the ledger's 13 queries from them, and the follower's time for 10,000
// record states put again. --counties=N spreads the persons over the first N
// current county codes (2,851: the nation) instead of ten.
//
// The records are put directly (Batch::PutRecord), not appended through the
// Writer: this measures the statistics scan, not the write path, and lets
// one store hold the records of many custodians as the national node's does.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "common/crypto/suite.h"
#include "common/ids/citizen_id.h"
#include "common/ids/region.h"
#include "records/dates.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tongban/v1/records.pb.h"
#include "tongban/v1/store.pb.h"
#include "workflows/stats.h"

namespace tongban::bench {
namespace {

// Current county-level codes in ten provinces (--counties=N: the first N
// current county-level codes of the region table instead).
std::vector<std::string> counties = {"620102", "440305", "440106", "330106", "110105",
                                     "310104", "510104", "420102", "370102", "500103"};
std::vector<std::string> FirstCounties(size_t n) {
  std::vector<std::string> out;
  for (int code = 110000; code <= 659999 && out.size() < n; ++code) {
    const std::string text = absl::StrFormat("%06d", code);
    if (code % 100 != 0 && ids::ValidateCurrentCountyCode(text).ok()) out.push_back(text);
  }
  return out;
}
const absl::TimeZone kCst = records::ChinaStandardTime();

// CPU time of the calling thread: the machine is shared, so wall time
// alone mixes in other processes' load.
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int64_t Micros(absl::CivilDay d) { return absl::ToUnixMicros(absl::FromCivil(d, kCst)); }

// Writes `records` record states, five kinds per person in turn, and
// returns the number written.
size_t Fill(storage::Store& store, size_t records) {
  const absl::CivilDay start(2025, 10, 1);
  size_t written = 0;
  uint64_t seq = 0;
  auto batch = std::make_unique<storage::Batch>(store);
  auto put = [&](const std::string& person, v1::RecordKind kind, const std::string& id,
                 const std::string& custodian, absl::CivilDay day, const v1::RecordValue& value) {
    v1::RecordState state;
    state.set_custodian(custodian);
    v1::RecordState::Head* head = state.add_heads();
    head->mutable_event()->set_origin(custodian);
    head->mutable_event()->set_epoch(1);
    head->mutable_event()->set_seq(++seq);
    head->mutable_hlc()->set_physical_micros(Micros(day) + 3600000000LL);
    head->set_operation(v1::OPERATION_UPSERT);
    head->set_payload(value.SerializeAsString());
    state.set_versions(1);
    *state.add_history() = head->event();
    batch->PutRecord(storage::RecordKey(person, kind, id), state);
    ++written;
    if (batch->count() >= 20000) {
      if (!store.Commit(*batch, /*sync=*/false).ok()) std::abort();
      batch = std::make_unique<storage::Batch>(store);
    }
  };
  for (size_t i = 0; written < records; ++i) {
    const size_t n = counties.size();
    const std::string origin = counties[i % n];
    const std::string residence = counties[(i + 1 + i / n % (n - 1)) % n];
    const absl::CivilDay birth = absl::CivilDay(1970, 1, 1) + static_cast<int64_t>(i / 500);
    const std::string first17 = absl::StrFormat("%s%04d%02d%02d%03d", origin, birth.year(),
                                                birth.month(), birth.day(), i % 500 * 2 + 1);
    const std::string person = first17 + ids::CheckCharacter(first17);
    const absl::CivilDay left = start + static_cast<int64_t>(i % 365);
    const absl::CivilDay registered = left + static_cast<int64_t>(i % 40);  // some late
    v1::RecordValue v;
    switch (i % 4) {  // the last records of each person vary
      case 0: {
        v1::Certificate* c = v.mutable_certificate();
        c->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
        c->set_number(absl::StrCat("C", i));
        c->set_issuer(origin);
        *c->mutable_valid_from() = records::ToDate(left - 10);
        *c->mutable_valid_to() = records::ToDate(left + 700);
        put(person, v1::RECORD_KIND_CERTIFICATE, absl::StrCat("cert-C", i), origin, left - 10, v);
        break;
      }
      case 1:
      case 2: {  // a notice, acknowledged one time in two
        v1::Notice* n = v.mutable_notice();
        n->set_to_county(residence);
        n->set_subject("inflow notified");
        n->set_needs_receipt(true);
        n->set_sent_at_micros(Micros(registered));
        put(person, v1::RECORD_KIND_NOTICE, "notice-1", origin, registered, v);
        if (i % 4 == 1) break;
        v.Clear();
        v1::Receipt* r = v.mutable_receipt();
        r->set_notice_record_id("notice-1");
        r->set_notice_county(origin);
        r->set_received_at_micros(Micros(registered + 3));
        put(person, v1::RECORD_KIND_RECEIPT, "receipt-1", residence, registered + 3, v);
        break;
      }
      default: {
        v1::Entitlement* e = v.mutable_entitlement();
        e->set_programme("奖励扶助");
        e->set_status(v1::ENTITLEMENT_STATUS_ACTIVE);
        e->set_amount_fen(80000);
        put(person, v1::RECORD_KIND_ENTITLEMENT, "ent-1", origin, left, v);
        break;
      }
    }
    v.Clear();
    v1::PersonBasics* p = v.mutable_person_basics();
    p->set_name("Benchmark Person");
    p->set_sex(v1::SEX_MALE);
    *p->mutable_birth_date() = records::ToDate(birth);
    p->set_hukou_region(origin);
    p->set_hukou_address("hukou address");
    put(person, v1::RECORD_KIND_PERSON_BASICS, "basics", origin, left - 30, v);
    v.Clear();
    v.mutable_outflow()->set_destination_county(residence);
    *v.mutable_outflow()->mutable_left_on() = records::ToDate(left);
    if (i % 7 != 0) {  // one in seven origins never registers the outflow
      put(person, v1::RECORD_KIND_OUTFLOW, absl::StrCat("out-", residence), origin, left, v);
    }
    v.Clear();
    v1::InflowRegistration* in = v.mutable_inflow();
    in->set_origin_county(origin);
    *in->mutable_arrived_on() = records::ToDate(left);
    *in->mutable_registered_on() = records::ToDate(registered);
    in->set_address("residence address");
    put(person, v1::RECORD_KIND_INFLOW, "inflow-1", residence, registered, v);
    v.Clear();
    v1::Inquiry* q = v.mutable_inquiry();
    q->set_type(i % 3 == 0 ? v1::INQUIRY_TYPE_URGENT : v1::INQUIRY_TYPE_NORMAL);
    q->set_to_county(residence);
    q->set_question("does the person live at the registered address?");
    q->set_sent_at_micros(Micros(registered));
    put(person, v1::RECORD_KIND_INQUIRY, "inq-1", origin, registered, v);
    if (i % 3 != 2) {  // two in three inquiries are answered, some late
      v.Clear();
      v1::InquiryReply* r = v.mutable_inquiry_reply();
      r->set_inquiry_record_id("inq-1");
      r->set_inquiry_county(origin);
      r->set_answer("confirmed");
      r->set_replied_at_micros(Micros(registered + static_cast<int64_t>(i % 20)));
      put(person, v1::RECORD_KIND_INQUIRY_REPLY, "reply-inq-1", residence, registered, v);
    }
  }
  if (batch->count() > 0 && !store.Commit(*batch, /*sync=*/true).ok()) std::abort();
  return written;
}

// Wall and CPU seconds of one ComputeStats.
std::pair<double, double> TimeStats(const storage::Store& store, const workflows::StatsQuery& query,
                                    v1::StatsReply* reply) {
  const auto start = SteadyClock::now();
  const double cpu_start = ThreadCpuSeconds();
  absl::StatusOr<v1::StatsReply> r = workflows::ComputeStats(store, query);
  const std::pair<double, double> seconds = {Seconds(SteadyClock::now() - start),
                                             ThreadCpuSeconds() - cpu_start};
  if (!r.ok()) {
    std::fprintf(stderr, "ComputeStats: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  *reply = *std::move(r);
  return seconds;
}

}  // namespace
}  // namespace tongban::bench

int main(int argc, char** argv) {
  using namespace tongban;
  size_t records = 1000000, trials = 3, counties = 0, counters = 1;
  for (int i = 1; i < argc; ++i) {
    if (bench::ParseFlag(argv[i], "records", &records) ||
        bench::ParseFlag(argv[i], "trials", &trials) ||
        bench::ParseFlag(argv[i], "counties", &counties) ||
        bench::ParseFlag(argv[i], "counters", &counters)) {
      continue;
    }
    std::fprintf(stderr,
                 "unknown flag %s\nflags: --records=N --trials=N --counties=N (the first N "
                 "current county codes instead of ten) --counters=0|1\n",
                 argv[i]);
    return 2;
  }
  if (counties > 1) bench::counties = bench::FirstCounties(counties);
  char tmpl[] = "/tmp/tongban-stats-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::string root = tmpl;
  {
    storage::StoreOptions options;
    options.path = root + "/store";
    options.suite = crypto::SuiteId::kIntl;
    options.storage_key =
        *crypto::RandomBytes(crypto::GetSuite(options.suite).symmetric_key_size());
    std::unique_ptr<storage::Store> store = *storage::Store::Open(options);
    const auto fill_start = bench::SteadyClock::now();
    const size_t written = bench::Fill(*store, records);
    if (!store->Flush().ok()) return 1;
    std::printf(
        "Tongban statistics benchmark: %zu record states in one store (intl, "
        "encrypted at rest), filled in %.1f s; %zu trials, medians.\n\n",
        written, bench::Seconds(bench::SteadyClock::now() - fill_start), trials);

    // The floors of a full-scan design: reading every record state once, and
    // parsing each with the generated parser.
    std::vector<double> scan_times, parse_times, scan_cpu, parse_cpu;
    for (size_t t = 0; t < trials; ++t) {
      for (bool parse : {false, true}) {
        v1::RecordState state;
        size_t bytes = 0;
        const auto start = bench::SteadyClock::now();
        const double cpu_start = bench::ThreadCpuSeconds();
        const absl::Status s = store->ScanFrom(
            storage::Cf::kRecords, "", "", false, [&](absl::string_view, absl::string_view v) {
              bytes += v.size();
              if (parse && !state.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
                std::abort();
              }
              return true;
            });
        if (!s.ok()) return 1;
        (parse ? parse_times : scan_times)
            .push_back(bench::Seconds(bench::SteadyClock::now() - start));
        (parse ? parse_cpu : scan_cpu).push_back(bench::ThreadCpuSeconds() - cpu_start);
      }
    }
    std::printf("scan of the records column family alone:  wall %.3f s, cpu %.3f s\n",
                bench::Median(scan_times), bench::Median(scan_cpu));
    std::printf("scan, RecordState generated parser:       wall %.3f s, cpu %.3f s\n",
                bench::Median(parse_times), bench::Median(parse_cpu));

    workflows::StatsQuery query;
    query.node = "000000";
    query.now = absl::FromCivil(absl::CivilDay(2026, 11, 30), bench::kCst);
    v1::StatsReply reply;
    for (const auto& [kind, period] : {std::pair{v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, "2026"},
                                       std::pair{v1::STATS_PERIOD_KIND_MONTH, "2026-03"}}) {
      query.period_kind = kind;
      query.period = period;
      std::vector<double> times, cpu;
      for (size_t t = 0; t < trials; ++t) {
        const auto [wall_s, cpu_s] = bench::TimeStats(*store, query, &reply);
        times.push_back(wall_s);
        cpu.push_back(cpu_s);
      }
      std::printf(
          "ComputeStats nation, %-16s %-7s: wall %.3f s (min %.3f, max %.3f), "
          "cpu %.3f s, %.0f records/s, %d rows\n",
          kind == v1::STATS_PERIOD_KIND_MONTH ? "month" : "statistical year", period,
          bench::Median(times), *std::min_element(times.begin(), times.end()),
          *std::max_element(times.begin(), times.end()), bench::Median(cpu),
          static_cast<double>(written) / bench::Median(times), reply.rows_size());
      std::fflush(stdout);
    }
    // A national ledger export of a statistical year: its twelve months and
    // the year, as thirteen queries one by one and from one scan.
    std::vector<workflows::StatsQuery> ledger;
    for (int m = 0; m < 12; ++m) {
      const absl::CivilMonth month = absl::CivilMonth(2025, 10) + m;
      query.period_kind = v1::STATS_PERIOD_KIND_MONTH;
      query.period = absl::FormatCivilTime(month);
      ledger.push_back(query);
    }
    query.period_kind = v1::STATS_PERIOD_KIND_STATISTICAL_YEAR;
    query.period = "2026";
    ledger.push_back(query);
    std::vector<double> one_by_one, one_scan;
    for (size_t t = 0; t < trials; ++t) {
      auto start = bench::SteadyClock::now();
      for (const workflows::StatsQuery& q : ledger) {
        if (!workflows::ComputeStats(*store, q).ok()) return 1;
      }
      one_by_one.push_back(bench::Seconds(bench::SteadyClock::now() - start));
      start = bench::SteadyClock::now();
      if (!workflows::ComputeStatsMany(*store, ledger).ok()) return 1;
      one_scan.push_back(bench::Seconds(bench::SteadyClock::now() - start));
    }
    std::printf(
        "ledger of a statistical year (13 queries): one by one wall %.3f s, "
        "ComputeStatsMany (one scan) wall %.3f s, ratio %.2f\n",
        bench::Median(one_by_one), bench::Median(one_scan),
        bench::Median(one_by_one) / bench::Median(one_scan));
    if (counters != 0) {
      // The counters (workflows/stats.h): built once from the store (every
      // record here was put without a follower, so the first run counts them
      // all), then each query reads counters only.
      auto start = bench::SteadyClock::now();
      absl::StatusOr<workflows::StatsCounterProgress> built =
          workflows::UpdateStatsCounters(*store);
      if (!built.ok()) {
        std::fprintf(stderr, "UpdateStatsCounters: %s\n", built.status().ToString().c_str());
        return 1;
      }
      std::printf(
          "\ncounters built from the store in %.1f s (%llu persons, %llu dirty marks consumed)\n",
          bench::Seconds(bench::SteadyClock::now() - start),
          static_cast<unsigned long long>(built->persons_counted),
          static_cast<unsigned long long>(built->marks));
      if (!store->Flush().ok()) return 1;
      for (const workflows::StatsQuery& q : {ledger.back(), ledger[5]}) {
        std::vector<double> times, cpu;
        absl::StatusOr<v1::StatsReply> counted;
        for (size_t t = 0; t < trials; ++t) {
          const auto t0 = bench::SteadyClock::now();
          const double cpu0 = bench::ThreadCpuSeconds();
          counted = workflows::CountedStats(*store, q);
          times.push_back(bench::Seconds(bench::SteadyClock::now() - t0));
          cpu.push_back(bench::ThreadCpuSeconds() - cpu0);
          if (!counted.ok()) return 1;
        }
        absl::StatusOr<v1::StatsReply> scanned = workflows::ComputeStats(*store, q);
        if (!scanned.ok()) return 1;
        const bool equal = scanned->SerializeAsString() == counted->SerializeAsString();
        std::printf(
            "CountedStats nation, %-16s %-7s: wall %.4f s (min %.4f, max %.4f), cpu %.4f s, "
            "%d rows, equal to the scan: %s\n",
            q.period_kind == v1::STATS_PERIOD_KIND_MONTH ? "month" : "statistical year",
            q.period.c_str(), bench::Median(times), *std::min_element(times.begin(), times.end()),
            *std::max_element(times.begin(), times.end()), bench::Median(cpu), counted->rows_size(),
            equal ? "yes" : "NO");
        std::fflush(stdout);
        if (!equal) return 1;
      }
      std::vector<double> ledger_times;
      for (size_t t = 0; t < trials; ++t) {
        start = bench::SteadyClock::now();
        if (!workflows::CountedStatsMany(*store, ledger).ok()) return 1;
        ledger_times.push_back(bench::Seconds(bench::SteadyClock::now() - start));
      }
      std::printf("ledger of a statistical year (13 queries) from the counters: wall %.4f s\n",
                  bench::Median(ledger_times));
      // The follower's cost per change: the first 10,000 record states put
      // again (each a new version of a record, as a correction is; their
      // persons are re-evaluated), then one run.
      const size_t more = bench::Fill(*store, 10000);
      start = bench::SteadyClock::now();
      built = workflows::UpdateStatsCounters(*store);
      if (!built.ok()) return 1;
      const double follow = bench::Seconds(bench::SteadyClock::now() - start);
      std::printf(
          "follower after %zu record states put again: %.3f s (%llu persons, %.0f record "
          "states/s)\n",
          more, follow, static_cast<unsigned long long>(built->persons_counted),
          static_cast<double>(more) / follow);
    }
    // The nation's block of the last reply, as tongbanctl stats prints it.
    reply.mutable_rows()->DeleteSubrange(1, reply.rows_size() - 1);
    std::printf("\n%s", workflows::FormatStatsTable(reply).c_str());
  }
  std::filesystem::remove_all(root);
  return 0;
}
