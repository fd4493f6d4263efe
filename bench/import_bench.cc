// The bulk-import benchmark (issue #5 item 7: import 1,000,000 generated
// rows, target at least 50,000 rows/s with intl). Generates a CSV register
// in memory (--rows rows, default 1,000,000: per person a person row, an
// outflow, a service, and an inflow of another person), then per trial:
//   parse    workflows/import_csv.h's reader: decode, split, validate every row
//            into WriteRequests (the client's work);
//   import   the node's work per batch (workflows/import_batch.h: normalize IDs,
//            one Writer::AppendAll whose appender skips unchanged rows, and
//            one fsync per --batch rows, default 1,000) on a fresh node;
//   total    both at once, as tongbanctl and the node run them: the parser
//            on one thread handing batches to two importers;
//   again    the same file on the same node: every row unchanged;
//   append   the reference: the same rows as RecordChanges straight into
//            Writer::AppendAll, one batch at a time, on a fresh node (no
//            parsing, no unchanged check), measured in the same trial,
//            since this machine's load moves absolute figures by 2x.
// The Admin RPC itself is not in the loop (gRPC on loopback moves about
// 4 M records/s in 1,000-record messages, LIMITS.md, so it is not the
// bound). Prints medians of --trials (default 3), in rows per second, and
// the CPU time the whole process (every thread: parser, importers, writer
// stages, RocksDB's) spent per row of the end-to-end run, which the load of
// other work on this shared machine moves much less than the rate.
// --total-only=1 runs only the end-to-end import and its re-import (for
// profiling them).
#include <sys/resource.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/bench_util.h"
#include "common/log.h"
#include "workflows/import_batch.h"
#include "workflows/import_csv.h"

namespace tongban::bench {
namespace {

const absl::CivilDay kToday(2026, 11, 30);

// An 18-character ID of `region`, born `day`, with sequence `seq`.
std::string Id(const std::string& region, absl::CivilDay day, int seq) {
  const std::string first17 =
      absl::StrFormat("%s%04d%02d%02d%03d", region, day.year(), day.month(), day.day(), seq);
  return first17 + ids::CheckCharacter(first17);
}

std::string Generate(size_t rows) {
  std::string out =
      "kind,person,name,sex,birth_date,hukou_region,destination_county,left_on,"
      "origin_county,arrived_on,registered_on,address,service_type,delivered_on,"
      "provider_county,notes\n";
  out.reserve(rows * 110);
  for (size_t i = 0; i < rows; ++i) {
    const size_t p = i / 4;
    const absl::CivilDay born = absl::CivilDay(1960, 1, 1) + static_cast<int>(p / 500);
    const int seq = static_cast<int>(p % 500) * 2 + 1;  // odd: male
    const std::string birth = absl::FormatCivilTime(born);
    const std::string day = absl::StrFormat("2026-%02d-%02d", 1 + p % 10, 1 + p % 28);
    // kind,person,name,sex,birth_date,hukou_region,destination_county,left_on,
    // origin_county,arrived_on,registered_on,address,service_type,delivered_on,
    // provider_county,notes
    std::vector<std::string> f(16);
    f[1] = Id("620102", born, seq);
    switch (i % 4) {
      case 0:
        f[0] = "person", f[2] = absl::StrCat("Person ", p), f[3] = "male", f[4] = birth;
        f[5] = "620102";
        break;
      case 1: f[0] = "outflow", f[6] = "440305", f[7] = day; break;
      case 2:
        f[0] = "service", f[12] = "health-check", f[13] = day, f[14] = "620102";
        f[15] = "\"routine, no findings\"";
        break;
      default:
        f[0] = "inflow", f[1] = Id("440305", born, seq), f[8] = "440305", f[9] = f[10] = day;
        f[11] = "\"Room 1, Building 2\"";
        break;
    }
    absl::StrAppend(&out, absl::StrJoin(f, ","), "\n");
  }
  return out;
}

// CPU seconds used so far by every thread of this process.
double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

using Batches = std::vector<v1::ImportRequest>;

// Parses `csv` into batches of `batch` rows; calls `emit` with each.
size_t Parse(const std::string& csv, size_t batch,
             const std::function<void(v1::ImportRequest)>& emit) {
  std::istringstream in(csv);
  auto reader = workflows::ImportReader::Open("bench.csv", &in, workflows::Encoding::kUtf8, kToday);
  if (!reader.ok()) {
    std::fprintf(stderr, "parse: %s\n", reader.status().ToString().c_str());
    std::exit(1);
  }
  std::optional<workflows::ImportRow> row;
  std::vector<workflows::ImportFinding> findings;
  v1::ImportRequest request;
  size_t rows = 0;
  while ((*reader)->Next(&row, &findings)) {
    if (!findings.empty() || !row.has_value()) {
      std::fprintf(stderr, "generated row has findings: %s\n",
                   workflows::FindingCsvLine(findings.front()).c_str());
      std::exit(1);
    }
    ++rows;
    *request.add_rows() = std::move(row->request);
    if (static_cast<size_t>(request.rows_size()) == batch) {
      emit(std::move(request));
      request = v1::ImportRequest();
    }
  }
  if (request.rows_size() > 0) emit(std::move(request));
  return rows;
}

struct Counts {
  uint64_t written = 0, unchanged = 0;
};

void Import(node::LocalNode& node, const v1::ImportRequest& r, Counts* counts) {
  auto reply = workflows::WriteImportBatch(node.writer(), r, workflows::ImportPersons(r, kToday));
  if (!reply.ok() || reply->rejected() > 0) {
    std::fprintf(
        stderr, "import: %s\n",
        reply.ok() ? reply->results(0).error().c_str() : reply.status().ToString().c_str());
    std::exit(1);
  }
  counts->written += reply->written();
  counts->unchanged += reply->unchanged();
}

// A parser thread and two importers, at most four batches between them.
Counts Pipelined(node::LocalNode& node, const std::string& csv, size_t batch) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<v1::ImportRequest> queue;
  bool done = false;
  std::thread parser([&] {
    Parse(csv, batch, [&](v1::ImportRequest r) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return queue.size() < 4; });
      queue.push_back(std::move(r));
      cv.notify_all();
    });
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  });
  // Two batches in flight, as tongbanctl sends them, so that one group is
  // built while the other waits for its fsync.
  Counts counts[2];
  auto importer = [&](Counts* c) {
    while (true) {
      v1::ImportRequest r;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !queue.empty() || done; });
        if (queue.empty()) return;
        r = std::move(queue.front());
        queue.pop_front();
        cv.notify_all();
      }
      Import(node, r, c);
    }
  };
  std::thread second(importer, &counts[1]);
  importer(&counts[0]);
  second.join();
  parser.join();
  return {counts[0].written + counts[1].written, counts[0].unchanged + counts[1].unchanged};
}

}  // namespace
}  // namespace tongban::bench

int main(int argc, char** argv) {
  using namespace tongban;
  using namespace tongban::bench;
  size_t rows = 1000000, batch = 1000, trials = 3, total_only = 0;
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i], "rows", &rows) && !ParseFlag(argv[i], "batch", &batch) &&
        !ParseFlag(argv[i], "trials", &trials) && !ParseFlag(argv[i], "total-only", &total_only)) {
      std::fprintf(stderr, "usage: %s [--rows=N] [--batch=N] [--trials=N] [--total-only=1]\n",
                   argv[0]);
      return 2;
    }
  }
  SetMinLogLevel(LogLevel::kWarning);
  const std::string csv = Generate(rows);
  std::printf("import benchmark: %zu rows (%.1f MB of CSV), batches of %zu, intl, %zu trials\n",
              rows, csv.size() / 1e6, batch, trials);
  std::vector<double> parse, import, total, again, append, total_cpu;
  const std::string base = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                        "/tongban-import-bench-", getpid());
  for (size_t t = 0; t < trials; ++t) {
    // Parse alone, keeping the batches for the import alone.
    Batches batches;
    auto start = SteadyClock::now();
    if (total_only == 0) {
      Parse(csv, batch, [&](v1::ImportRequest r) { batches.push_back(std::move(r)); });
      parse.push_back(rows / Seconds(SteadyClock::now() - start));
      {
        const std::string dir = absl::StrCat(base, "-a", t);
        auto node = OpenNode(crypto::SuiteId::kIntl, dir);
        Counts counts;
        start = SteadyClock::now();
        for (const v1::ImportRequest& r : batches) Import(*node, r, &counts);
        import.push_back(rows / Seconds(SteadyClock::now() - start));
        if (std::getenv("TB_BENCH_STAGES") != nullptr) {
          const storage::WriterStats st = node->writer()->stats();
          std::fprintf(stderr, "  writer: %llu commits, build %.2f s, commit %.2f s, sign %.2f s\n",
                       static_cast<unsigned long long>(st.commits),
                       absl::ToDoubleSeconds(st.build_time), absl::ToDoubleSeconds(st.commit_time),
                       absl::ToDoubleSeconds(st.sign_time));
        }
        node.reset();
        std::filesystem::remove_all(dir);
      }
      {
        std::vector<std::vector<storage::RecordChange>> changes;
        for (const v1::ImportRequest& r : batches) {
          std::vector<storage::RecordChange>& c = changes.emplace_back();
          for (const v1::WriteRequest& w : r.rows()) {
            c.push_back(workflows::ChangeFrom(w, w.person()));
          }
        }
        const std::string dir = absl::StrCat(base, "-c", t);
        auto node = OpenNode(crypto::SuiteId::kIntl, dir);
        start = SteadyClock::now();
        for (const auto& c : changes) {
          for (const auto& result : node->writer()->AppendAll(c)) {
            if (!result.ok()) {
              std::fprintf(stderr, "append: %s\n", result.status().ToString().c_str());
              return 1;
            }
          }
        }
        append.push_back(rows / Seconds(SteadyClock::now() - start));
        node.reset();
        std::filesystem::remove_all(dir);
      }
    }
    batches.clear();
    {
      const std::string dir = absl::StrCat(base, "-b", t);
      auto node = OpenNode(crypto::SuiteId::kIntl, dir);
      start = SteadyClock::now();
      const double cpu = CpuSeconds();
      Counts first = Pipelined(*node, csv, batch);
      total.push_back(rows / Seconds(SteadyClock::now() - start));
      total_cpu.push_back((CpuSeconds() - cpu) * 1e6 / rows);
      start = SteadyClock::now();
      Counts second = Pipelined(*node, csv, batch);
      again.push_back(rows / Seconds(SteadyClock::now() - start));
      if (first.written != rows || second.written != 0 || second.unchanged != rows) {
        std::fprintf(stderr, "idempotence broken: first wrote %llu, second %llu\n",
                     static_cast<unsigned long long>(first.written),
                     static_cast<unsigned long long>(second.written));
        return 1;
      }
      node.reset();
      std::filesystem::remove_all(dir);
    }
    std::printf(
        "  trial %zu: parse %.0f, import %.0f, total %.0f, again %.0f, append %.0f rows/s; "
        "total %.1f CPU us/row\n",
        t + 1, total_only ? 0 : parse.back(), total_only ? 0 : import.back(), total.back(),
        again.back(), total_only ? 0 : append.back(), total_cpu.back());
    std::fflush(stdout);
  }
  std::printf(
      "median rows/s: parse+validate %.0f | node import (AppendAll, fsync per batch) "
      "%.0f | end to end, pipelined %.0f | re-import, all unchanged %.0f | bare AppendAll "
      "%.0f (end to end / bare: %.2f) | end to end CPU us/row %.1f\n",
      Median(parse), Median(import), Median(total), Median(again), Median(append),
      Median(append) > 0 ? Median(total) / Median(append) : 0, Median(total_cpu));
  return 0;
}
