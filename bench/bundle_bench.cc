// The offline-bundle benchmark (issue #18, make bench-bundle). In one run,
// for each suite and trial, county 620102 holds a backlog of N outflow
// registrations to county 440305 (one per person, signed before timing):
//   export   620102 writes the bundle for 440305 (Node::ExportBundle into
//            a file): events per second and bundle bytes per event;
//   import   440305 alone (620102 stopped) reads the file, checks it whole
//            and applies it (Node::ImportBundle): events per second;
//   session  the same backlog on a fresh federation, both nodes up: from
//            440305's start until its cursor in 620102's log covers the
//            backlog (the session path's catch-up), events per second.
// Nodes are node::Node in this process, on federations made by
// tools/federation-setup.sh (the national node is not run). Each figure is
// the median of --trials; the ratio import/session uses medians of the same
// run. Flags: --events=N (default 1000000), --trials=N (default 3),
// --suites=intl,gm.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "bench/bench_util.h"
#include "common/ids/citizen_id.h"
#include "common/log.h"
#include "node/node.h"
#include "storage/keys.h"

extern char** environ;

namespace tongban {
namespace {

constexpr char kSender[] = "620102";
constexpr char kCounty[] = "440305";

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, v.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(v);
}
void Must(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

// N outflows to kCounty in batches of 1,024, signed before it returns.
void AppendBacklog(node::Node& node, size_t n) {
  storage::Writer* writer = node.writer();
  std::vector<storage::RecordChange> batch;
  for (size_t first = 0; first < n; first += 1024) {
    batch.clear();
    for (size_t p = first; p < std::min(n, first + 1024); ++p) {
      batch.push_back(bench::OutflowOf(kSender, p, kCounty));
    }
    for (const auto& r : writer->AppendAll(batch)) Must(r.status(), "append backlog");
  }
  const uint64_t last = Must(node.store()->LastSeq(writer->log()), "last seq");
  Must(writer->WaitForCheckpoint(last, absl::Minutes(10)), "backlog checkpoint");
}

bool PortsFree(int base, int n) {
  for (int p = base; p < base + n; ++p) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(p));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    ::close(fd);
    if (!ok) return false;
  }
  return true;
}

// A federation of 000000, kSender and kCounty in `dir`.
void SetUp(const std::string& dir, crypto::SuiteId suite) {
  static std::mt19937 rng(static_cast<uint32_t>(getpid()));
  int base = 0;
  while (base == 0) {
    const int candidate = std::uniform_int_distribution<int>(20000, 60000)(rng);
    if (PortsFree(candidate, 6)) base = candidate;
  }
  std::vector<std::string> argv = {"/bin/bash",
                                   TB_SETUP_SCRIPT,
                                   TB_BUILD_DIR,
                                   dir,
                                   std::string(crypto::SuiteName(suite)),
                                   absl::StrCat(base),
                                   "000000",
                                   kSender,
                                   kCounty};
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) std::exit(1);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "federation setup failed\n");
    std::exit(1);
  }
}

std::unique_ptr<node::Node> StartNode(const std::string& dir, const std::string& code) {
  node::Config config = Must(node::LoadConfig(dir + "/" + code + "/tongband.conf"), "config");
  node::NodeOptions options;
  options.witness_at_start = absl::Milliseconds(500);
  std::unique_ptr<node::Node> n = Must(node::Node::Start(config, RealClock(), options), "start");
  n->WaitForStartCheck(absl::Seconds(30));
  return n;
}

struct Trial {
  double export_rate = 0;
  double bytes_per_event = 0;
  double import_rate = 0;
  double session_rate = 0;
};

Trial RunTrial(crypto::SuiteId suite, size_t events, const std::string& root) {
  Trial t;
  const std::string bundle_dir = root + "/bundle";
  SetUp(bundle_dir, suite);
  const std::string file = root + "/backlog.tbb";
  {
    std::unique_ptr<node::Node> sender = StartNode(bundle_dir, kSender);
    AppendBacklog(*sender, events);
    std::FILE* f = std::fopen(file.c_str(), "wb");
    const auto began = bench::SteadyClock::now();
    node::ExportedBundle made = Must(sender->ExportBundle(
                                         kCounty, "",
                                         [f](absl::string_view b) {
                                           return std::fwrite(b.data(), 1, b.size(), f) == b.size()
                                                      ? absl::OkStatus()
                                                      : absl::ResourceExhaustedError("write");
                                         },
                                         nullptr),
                                     "export");
    std::fflush(f);
    ::fsync(fileno(f));
    std::fclose(f);
    const double secs = bench::Seconds(bench::SteadyClock::now() - began);
    t.export_rate = made.manifest.events() / secs;
    t.bytes_per_event = static_cast<double>(made.bytes) / made.manifest.events();
    sender->Stop();
  }
  {
    std::unique_ptr<node::Node> county = StartNode(bundle_dir, kCounty);
    const auto began = bench::SteadyClock::now();
    node::ImportedBundle got = Must(county->ImportBundle(file), "import");
    const double secs = bench::Seconds(bench::SteadyClock::now() - began);
    if (got.events_applied != events) {
      std::fprintf(stderr, "import applied %lu of %zu events\n", got.events_applied, events);
      std::exit(1);
    }
    t.import_rate = got.events_applied / secs;
    county->Stop();
  }
  std::filesystem::remove(file);
  const std::string session_dir = root + "/session";
  SetUp(session_dir, suite);
  {
    std::unique_ptr<node::Node> sender = StartNode(session_dir, kSender);
    AppendBacklog(*sender, events);
    const uint64_t target = Must(sender->store()->LastSeq(sender->writer()->log()), "last");
    const storage::LogId log = sender->writer()->log();
    const auto began = bench::SteadyClock::now();
    std::unique_ptr<node::Node> county = StartNode(session_dir, kCounty);
    for (;;) {
      std::optional<std::string> cursor = Must(
          county->store()->Get(storage::Cf::kCursors, storage::CursorKey(kSender, log)), "cursor");
      v1::Position p;
      if (cursor.has_value() && p.ParseFromString(*cursor) && p.seq() >= target) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    const double secs = bench::Seconds(bench::SteadyClock::now() - began);
    t.session_rate = events / secs;
    county->Stop();
    sender->Stop();
  }
  std::filesystem::remove_all(root);
  return t;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string s;
  std::getline(in, s);
  return s;
}

int Main(int argc, char** argv) {
  // The national node is not run: the counties' failed dials to it would
  // fill the output.
  SetMinLogLevel(LogLevel::kError);
  size_t events = 1000000, trials = 3;
  std::string suites = "intl,gm";
  for (int i = 1; i < argc; ++i) {
    if (bench::ParseFlag(argv[i], "events", &events) ||
        bench::ParseFlag(argv[i], "trials", &trials)) {
      continue;
    }
    if (absl::StartsWith(argv[i], "--suites=")) {
      suites = std::string(argv[i] + 9);
      continue;
    }
    std::fprintf(stderr, "unknown flag %s\n", argv[i]);
    return 2;
  }
  std::printf("offline bundles: %zu events, %zu trials; load average before: %s\n", events, trials,
              LoadAverage().c_str());
  for (absl::string_view name : absl::StrSplit(suites, ',')) {
    const crypto::SuiteId suite = Must(crypto::ParseSuiteId(name), "--suites");
    std::vector<double> ex, bpe, im, se;
    for (size_t i = 0; i < trials; ++i) {
      char tmpl[] = "/tmp/tongban-bundle-bench-XXXXXX";
      const std::string root = ::mkdtemp(tmpl);
      const Trial t = RunTrial(suite, events, root);
      std::printf(
          "  %s trial %zu: export %.0f ev/s (%.1f B/ev), import %.0f ev/s, session %.0f "
          "ev/s\n",
          std::string(name).c_str(), i + 1, t.export_rate, t.bytes_per_event, t.import_rate,
          t.session_rate);
      std::fflush(stdout);
      ex.push_back(t.export_rate);
      bpe.push_back(t.bytes_per_event);
      im.push_back(t.import_rate);
      se.push_back(t.session_rate);
    }
    std::printf(
        "%s medians: export %.0f ev/s, %.1f bytes/event; import %.0f ev/s; session "
        "catch-up %.0f ev/s; import/session %.2fx\n",
        std::string(name).c_str(), bench::Median(ex), bench::Median(bpe), bench::Median(im),
        bench::Median(se), bench::Median(im) / bench::Median(se));
  }
  std::printf("load average after: %s\n", LoadAverage().c_str());
  return 0;
}

}  // namespace
}  // namespace tongban

int main(int argc, char** argv) { return tongban::Main(argc, argv); }
