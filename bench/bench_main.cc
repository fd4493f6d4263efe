// The node-core benchmark. In one run, for both suites:
//   - the per-event signature rate (one signature per 200-byte event, the
//     design we avoid) and verification rate;
//   - the node's local append rate: validated record changes appended with
//     durable group commit (fsync per batch) and covered by signed
//     checkpoints, timed until the last event is under a signed checkpoint;
//   - light-load latency from Append() to a signed checkpoint covering it.
// Each figure is the median of several trials; ratios use medians of the
// same run. Flags: --events=N (per append trial, default 200000),
// --trials=N (default 3), --producers=N (default 4), --batch=N (default 256),
// --suites=intl,gm (default both).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "common/crypto/suite.h"
#include "common/ids/citizen_id.h"
#include "common/log.h"
#include "node/local_node.h"

namespace tongban {
namespace {

using Clock = bench::SteadyClock;
using bench::Median;
using bench::ParseFlag;
using bench::Percentile;
using bench::Seconds;
using bench::SignRate;
using bench::VerifyRate;

struct Flags {
  std::vector<crypto::SuiteId> suites = {crypto::SuiteId::kIntl, crypto::SuiteId::kGm};
  size_t events = 200000;
  int trials = 3;
  int producers = 4;
  size_t batch = 256;
};

std::string PersonId(size_t i) {
  // 100,000 distinct persons in current county 620102, born 1970-1999.
  const size_t p = i % 100000;
  std::string first17 = absl::StrFormat("620102%04d%02d%02d%03d", 1970 + p % 30, 1 + p / 30 % 12,
                                        1 + p / 360 % 28, p / 10080 % 1000);
  return first17 + ids::CheckCharacter(first17);
}

std::vector<storage::RecordChange> MakeChanges(size_t first, size_t n) {
  std::vector<storage::RecordChange> out;
  out.reserve(n);
  for (size_t i = first; i < first + n; ++i) {
    storage::RecordChange c;
    c.person = PersonId(i);
    c.kind = v1::RECORD_KIND_SERVICE;
    c.record_id = absl::StrCat("svc-", i);
    auto* s = c.value.mutable_service();
    s->set_type(v1::SERVICE_TYPE_HEALTH_CHECK);
    s->mutable_delivered_on()->set_year(2026);
    s->mutable_delivered_on()->set_month(1 + i % 11);
    s->mutable_delivered_on()->set_day(1 + i % 28);
    s->set_provider_county("620102");
    s->set_period("2026");
    s->set_notes("routine check, no findings; next visit in twelve months");
    out.push_back(std::move(c));
  }
  return out;
}

struct AppendResult {
  double rate = 0;
  uint64_t commits = 0;
  uint64_t checkpoints = 0;
};

AppendResult AppendRate(crypto::SuiteId suite, const Flags& flags, const std::string& dir) {
  std::unique_ptr<node::LocalNode> node = bench::OpenNode(suite, dir);
  storage::Writer* writer = node->writer();
  // Prepare the inputs first: the benchmark times the node, not the
  // generator.
  std::vector<std::vector<std::vector<storage::RecordChange>>> work(flags.producers);
  for (size_t first = 0, k = 0; first < flags.events; first += flags.batch, ++k) {
    work[k % flags.producers].push_back(
        MakeChanges(first, std::min(flags.batch, flags.events - first)));
  }
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int p = 0; p < flags.producers; ++p) {
    threads.emplace_back([&, p] {
      for (const auto& batch : work[p]) {
        for (const auto& r : writer->AppendAll(batch)) {
          if (!r.ok()) {
            std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
            std::exit(1);
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const absl::Status covered = writer->WaitForCheckpoint(flags.events, absl::Minutes(5));
  const double elapsed = Seconds(Clock::now() - start);
  if (!covered.ok()) {
    std::fprintf(stderr, "checkpoint: %s\n", covered.ToString().c_str());
    std::exit(1);
  }
  const storage::WriterStats stats = writer->stats();
  if (std::getenv("TB_BENCH_STAGES") != nullptr) {
    std::fprintf(stderr, "  stages over %.2f s: build %.2f s, commit %.2f s, sign %.2f s\n",
                 elapsed, absl::ToDoubleSeconds(stats.build_time),
                 absl::ToDoubleSeconds(stats.commit_time), absl::ToDoubleSeconds(stats.sign_time));
  }
  return {flags.events / elapsed, stats.commits, stats.checkpoints};
}

// Serial appends at light load: time from Append() call until a signed
// checkpoint covers the event, in milliseconds.
std::vector<double> LightLoadLatency(crypto::SuiteId suite, const std::string& dir, int n) {
  std::unique_ptr<node::LocalNode> node = bench::OpenNode(suite, dir);
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    const auto start = Clock::now();
    auto r = node->writer()->Append(MakeChanges(i, 1)[0]);
    if (!r.ok() || !node->writer()->WaitForCheckpoint(r->id.seq(), absl::Seconds(10)).ok()) {
      std::fprintf(stderr, "light-load append failed\n");
      std::exit(1);
    }
    ms.push_back(Seconds(Clock::now() - start) * 1000);
    // Light load: roughly 100 events per second.
    std::this_thread::sleep_until(start + std::chrono::milliseconds(10));
  }
  return ms;
}

}  // namespace
}  // namespace tongban

int main(int argc, char** argv) {
  using namespace tongban;
  SetMinLogLevel(LogLevel::kWarning);
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    size_t v = 0;
    if (ParseFlag(argv[i], "events", &flags.events)) continue;
    if (ParseFlag(argv[i], "trials", &v)) {
      flags.trials = static_cast<int>(v);
      continue;
    }
    if (ParseFlag(argv[i], "producers", &v)) {
      flags.producers = static_cast<int>(v);
      continue;
    }
    if (ParseFlag(argv[i], "batch", &flags.batch)) continue;
    if (std::string(argv[i]).rfind("--suites=", 0) == 0) {
      flags.suites.clear();
      for (absl::string_view name : absl::StrSplit(argv[i] + 9, ',')) {
        absl::StatusOr<crypto::SuiteId> id = crypto::ParseSuiteId(name);
        if (!id.ok()) {
          std::fprintf(stderr, "--suites: %s\n", id.status().ToString().c_str());
          return 2;
        }
        flags.suites.push_back(*id);
      }
      continue;
    }
    std::fprintf(stderr,
                 "unknown flag %s\nflags: --events=N --trials=N --producers=N --batch=N "
                 "--suites=intl,gm\n",
                 argv[i]);
    return 2;
  }
  char tmpl[] = "/tmp/tongban-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::string root = tmpl;
  std::printf(
      "Tongban node-core benchmark: %zu events per append trial, %d trials, "
      "%d producer threads, batches of %zu; medians.\n\n",
      flags.events, flags.trials, flags.producers, flags.batch);
  std::printf("%-6s %14s %14s %16s %10s %12s %12s %14s\n", "suite", "sign/s", "verify/s",
              "append ev/s", "x sign", "fsyncs", "checkpoints", "p50/p99 ms");
  for (crypto::SuiteId id : flags.suites) {
    const crypto::Suite& suite = crypto::GetSuite(id);
    std::vector<double> sign, verify, append;
    AppendResult last{};
    for (int t = 0; t < flags.trials; ++t) {
      sign.push_back(SignRate(suite, 0.5));
      verify.push_back(VerifyRate(suite, 0.5));
      const std::string dir = absl::StrCat(root, "/", suite.name(), "-", t);
      last = AppendRate(id, flags, dir);
      append.push_back(last.rate);
      std::filesystem::remove_all(dir);
    }
    const std::vector<double> lat =
        LightLoadLatency(id, absl::StrCat(root, "/", suite.name(), "-latency"), 200);
    const double s = Median(sign), a = Median(append);
    std::printf("%-6s %14.0f %14.0f %16.0f %10.1f %12lu %12lu %7.2f/%.2f\n",
                std::string(suite.name()).c_str(), s, Median(verify), a, a / s,
                static_cast<unsigned long>(last.commits),
                static_cast<unsigned long>(last.checkpoints), Percentile(lat, 0.5),
                Percentile(lat, 0.99));
    std::fflush(stdout);
  }
  std::filesystem::remove_all(root);
  std::printf(
      "\nsign/s, verify/s: one thread, 200-byte messages. append ev/s: validated "
      "service records,\ndurable (fsync per group commit) and covered by a signed "
      "checkpoint. x sign: append\nrate / per-event signing rate. fsyncs, "
      "checkpoints: of the last trial. p50/p99: Append()\nto signed checkpoint at "
      "~100 events/s.\n");
  return 0;
}
