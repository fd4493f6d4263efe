// A simulated nation (issue #21, make bench-nation): a real national
// tongband process (the daemon binary, a child of this one), one real county
// (a node::Node in this process, dialling the national node like any
// county) and N simulated counties (tests/testutil/nation.h), each with its
// own certificate, signing key in the roster and log of signed events, whose
// standing sessions all run on gRPC's callback API in this process
// (tests/testutil/sim_sessions.h): not N daemons, not two threads each.
//
// Phases, one line of figures each:
//   make      the federation and every simulated county's log (ahead of time)
//   admit     N sessions dialled at once: the time until all are held
//   idle      every session held and idle: the national node's RSS, peak
//             RSS, threads, CPU and context switches over --idle seconds
//   latency   a real county's new person (one event at a time) until the
//             national node acknowledged it durable, p50/p99 of --samples,
//             with every session held and idle
//   steady    every simulated county writing, --rate events/s in all, for
//             --duration seconds, the real county's latency meanwhile, the
//             national node's CPU
//   outage    the national node stopped (SIGTERM) for --outage seconds while
//             the counties go on writing at --rate; then restarted: the time
//             until every session is held again (the counties redial with a
//             jittered backoff from 200 ms to 5 s) and until every event
//             written meanwhile is acknowledged
//   ingest    every county's remaining batches (--ingest-batches each)
//             released at once: events/s the national node applied (full
//             verification: signature, consistency and the recomputed root
//             of every batch), until all were acknowledged
//
// Flags: --counties=500 --rate=5000 --duration=10 --outage=10 --suite=intl
// --batch-events=16 --ingest-batches=4 --idle=10 --samples=100
// --session-workers=8 (the national node's [peer] session_workers)
// --admit-only (no logs: the make, admit, idle and latency phases only)
// --extra-sessions=0 (idle second sessions of the first counties' codes:
// headroom beyond the codes a roster may hold, e.g. 773 for the 3,624 of
// issue #21, since retired codes can hold no certificate, roster entry or
// log)
// --tongband=PATH (default: ../daemon/tongband beside this binary's folder).
#include <unistd.h>

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
#include "bench/bench_util.h"
#include "common/log.h"
#include "node/config.h"
#include "node/node.h"
#include "tests/testutil/nation.h"
#include "tests/testutil/ports.h"
#include "tests/testutil/records.h"
#include "tests/testutil/sim_sessions.h"

namespace tongban {
namespace {

using bench::Seconds;
using bench::SteadyClock;

testutil::ChildProcess* national_child = nullptr;  // stopped by Die()

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "nation_bench: %s\n", why.c_str());
  if (national_child != nullptr) national_child->Stop();
  std::exit(1);
}
template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}
void Must(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(absl::StrCat(what, ": ", s.ToString()));
}

struct Flags {
  size_t counties = 500;
  double rate = 5000;
  double duration = 10;
  double outage = 10;
  double idle = 10;
  size_t batch_events = 16;
  size_t ingest_batches = 4;
  size_t samples = 100;
  size_t extra = 0;            // idle second sessions of the first counties (headroom)
  size_t session_workers = 8;  // the national node's [peer] session_workers
  bool admit_only = false;     // no logs: admission, idle and latency only
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  std::string tongband;
};

bool Flag(const std::string& arg, const char* name, std::string* out) {
  const std::string prefix = absl::StrCat("--", name, "=");
  if (arg.rfind(prefix, 0) != 0) return false;
  *out = arg.substr(prefix.size());
  return true;
}

double Number(const std::string& s) {
  double v = 0;
  if (!absl::SimpleAtod(s, &v) || v < 0) Die(absl::StrCat("not a number: ", s));
  return v;
}

// Waits up to `timeout` for `done`; false if it did not come.
template <typename F>
bool Await(F done, double timeout) {
  const auto until = SteadyClock::now() + std::chrono::duration<double>(timeout);
  while (!done()) {
    if (SteadyClock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// The national node's resource use over an interval.
struct Usage {
  testutil::ProcessSample start;
  SteadyClock::time_point at;
};
Usage Begin(int pid) { return {Must(testutil::SampleProcess(pid), "sample"), SteadyClock::now()}; }
std::string End(int pid, const Usage& u) {
  const testutil::ProcessSample s = Must(testutil::SampleProcess(pid), "sample");
  const double seconds = Seconds(SteadyClock::now() - u.at);
  const double cpu =
      100.0 * static_cast<double>(s.cpu_ticks - u.start.cpu_ticks) / sysconf(_SC_CLK_TCK) / seconds;
  const double switches =
      static_cast<double>(s.voluntary_switches + s.involuntary_switches -
                          u.start.voluntary_switches - u.start.involuntary_switches) /
      seconds;
  return absl::StrFormat(
      "national RSS %.0f MiB (peak %.0f MiB), %d threads, CPU %.1f%% of a core, %.0f context "
      "switches/s",
      s.rss_kb / 1024.0, s.hwm_kb / 1024.0, static_cast<int>(s.threads), cpu, switches);
}

// Releases batches round-robin so that `rate` events/s are written in all.
class Pacer {
 public:
  Pacer(testutil::SimSessions* sim, const std::vector<testutil::SimCounty>* counties, double rate,
        std::vector<size_t>* released)
      : sim_(sim), counties_(counties), rate_(rate), released_(released) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Pacer() { Stop(); }
  // Stops; returns the events released.
  uint64_t Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return events_;
  }
  bool exhausted() const { return exhausted_; }

 private:
  void Run() {
    const auto start = SteadyClock::now();
    size_t next = 0;
    while (!stop_) {
      const double due = rate_ * Seconds(SteadyClock::now() - start);
      while (static_cast<double>(events_) < due && !exhausted_) {
        size_t tried = 0;
        while (tried < counties_->size() &&
               (*released_)[next] >= (*counties_)[next].batches.size()) {
          next = (next + 1) % counties_->size();
          ++tried;
        }
        if (tried == counties_->size()) {
          exhausted_ = true;
          break;
        }
        const testutil::SimCounty& c = (*counties_)[next];
        const size_t b = (*released_)[next]++;
        sim_->Release(next, b + 1);
        events_ += c.batch_end[b] - (b == 0 ? 0 : c.batch_end[b - 1]);
        next = (next + 1) % counties_->size();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  testutil::SimSessions* sim_;
  const std::vector<testutil::SimCounty>* counties_;
  double rate_;
  std::vector<size_t>* released_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> exhausted_{false};
  uint64_t events_ = 0;
  std::thread thread_;
};

// One new person at the real county, timed until the national node's Ack.
class RealCounty {
 public:
  explicit RealCounty(node::Node* node) : node_(node) {}
  bool connected() const { return node_->peers().Get("000000").sessions > 0; }
  double OneEvent() {
    const uint64_t before = node_->peers().Get("000000").acks;
    const std::string id = testutil::MakeId(
        node_->config().code, absl::StrFormat("19%02d0101", 50 + static_cast<int>(n_ / 1000) % 50),
        static_cast<int>(n_ % 1000));
    storage::RecordChange c = testutil::Basics(id, "latency");
    c.value.mutable_person_basics()->set_hukou_region(node_->config().code);
    ++n_;
    const auto t0 = SteadyClock::now();
    Must(node_->writer()->Append(c).status(), "real county append");
    if (!Await([&] { return node_->peers().Get("000000").acks > before; }, 30)) {
      Die("the real county's event was not acknowledged within 30 s");
    }
    return Seconds(SteadyClock::now() - t0);
  }

 private:
  node::Node* node_;
  uint64_t n_ = 0;
};

std::string Latencies(std::vector<double> v) {
  return absl::StrFormat("p50 %.3f s, p99 %.3f s, max %.3f s (%d events)",
                         bench::Percentile(v, 0.5), bench::Percentile(v, 0.99),
                         v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()),
                         static_cast<int>(v.size()));
}

int Run(const Flags& f) {
  const std::string suite(crypto::SuiteName(f.suite));
  char tmpl[] = "/tmp/tongban-nation-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  const std::string dir = tmpl;
  const int port = testutil::FreePortBlock(1);
  if (port < 0) Die("no free port");
  // Enough batches per county for the steady and outage phases at the rate,
  // then the ingest batches.
  const double per_county = f.rate * (f.duration + f.outage) / static_cast<double>(f.counties);
  const size_t paced = static_cast<size_t>(per_county / static_cast<double>(f.batch_events)) + 2;
  testutil::NationOptions o;
  o.suite = f.suite;
  o.dir = dir + "/federation";
  o.counties = f.counties;
  o.batches = f.admit_only ? 0 : paced + f.ingest_batches;
  o.batch_events = f.batch_events;
  o.national_port = port;
  o.session_workers = f.session_workers;
  auto t0 = SteadyClock::now();
  testutil::Nation nation = Must(testutil::MakeNation(o), "make the nation");
  std::printf(
      "%s make     %zu simulated counties, %zu batches of %zu events each: %.1f s (load %s)\n",
      suite.c_str(), f.counties, o.batches, f.batch_events, Seconds(SteadyClock::now() - t0),
      testutil::LoadAverage().c_str());
  std::fflush(stdout);

  testutil::ChildProcess national;
  national_child = &national;
  const std::string log = dir + "/national.log";
  Must(national.Start({f.tongband, "--config", nation.national_config}, log), "start tongband");
  node::Config real_config = Must(node::LoadConfig(nation.real_config), "real county config");
  std::unique_ptr<node::Node> real = Must(node::Node::Start(real_config, RealClock()), "real");
  RealCounty county(real.get());
  if (!Await([&] { return county.connected(); }, 60)) Die("the real county never connected");
  const testutil::ProcessSample empty = Must(testutil::SampleProcess(national.pid()), "sample");
  std::printf("%s start    national with the real county only: RSS %.0f MiB, %d threads\n",
              suite.c_str(), empty.rss_kb / 1024.0, static_cast<int>(empty.threads));

  testutil::SimSessions sim(nation.target, &nation.counties);
  // Headroom beyond the region table's codes: idle second sessions of the
  // first counties (with their certificates, no log to send).
  std::vector<testutil::SimCounty> extra(f.extra);
  for (size_t i = 0; i < f.extra; ++i) {
    extra[i].code = nation.counties[i % f.counties].code;
    extra[i].tls = nation.counties[i % f.counties].tls;
  }
  testutil::SimSessions extra_sim(nation.target, &extra);
  auto held = [&] { return sim.Totals().sessions + extra_sim.Totals().sessions; };
  const size_t all = f.counties + f.extra;
  t0 = SteadyClock::now();
  sim.Open(0, f.counties);
  extra_sim.Open(0, f.extra);
  if (!Await([&] { return held() == all; }, 300)) {
    Die(absl::StrCat("only ", held(), " of ", all, " sessions held after 300 s: ", sim.last_error(),
                     extra_sim.last_error()));
  }
  std::printf(
      "%s admit    %zu sessions (%zu simulated counties, %zu second sessions) held %.1f s after "
      "dialling (%lu dials, %lu failed: %s)\n",
      suite.c_str(), all, f.counties, f.extra, Seconds(SteadyClock::now() - t0),
      static_cast<unsigned long>(sim.Totals().dials + extra_sim.Totals().dials),
      static_cast<unsigned long>(sim.Totals().failures + extra_sim.Totals().failures),
      sim.last_error().substr(0, 120).c_str());
  std::fflush(stdout);

  std::this_thread::sleep_for(std::chrono::seconds(2));  // settle after admission
  Usage idle = Begin(national.pid());
  std::this_thread::sleep_for(std::chrono::duration<double>(f.idle));
  std::printf("%s idle     %zu sessions held, idle %.0f s: %s\n", suite.c_str(), held(), f.idle,
              End(national.pid(), idle).c_str());
  std::fflush(stdout);

  std::vector<double> lat;
  for (size_t i = 0; i < f.samples; ++i) lat.push_back(county.OneEvent());
  std::printf("%s latency  a real county's event at the national node, %zu sessions idle: %s\n",
              suite.c_str(), held(), Latencies(lat).c_str());
  std::fflush(stdout);

  // Steady writing.
  std::vector<size_t> released(f.counties, 0);
  if (!f.admit_only) {
    const uint64_t acked0 = sim.Totals().acked;
    Usage steady = Begin(national.pid());
    Pacer pacer(&sim, &nation.counties, f.rate, &released);
    std::vector<double> during;
    const auto until = SteadyClock::now() + std::chrono::duration<double>(f.duration);
    while (SteadyClock::now() < until) {
      during.push_back(county.OneEvent());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // about 20 a second
    }
    const uint64_t written = pacer.Stop();
    const double lasted = Seconds(SteadyClock::now() - steady.at);
    const std::string usage = End(national.pid(), steady);
    const bool caught = Await([&] { return sim.Totals().acked - acked0 >= written; }, 120);
    std::printf(
        "%s steady   %.0f events/s from %zu counties for %.1f s (%lu events): %s; real county's "
        "event %s; %s\n",
        suite.c_str(), f.rate, f.counties, lasted, static_cast<unsigned long>(written),
        usage.c_str(), Latencies(during).c_str(),
        caught ? "all acknowledged" : "NOT all acknowledged within 120 s");
    std::fflush(stdout);
  }

  // Outage: the national node down while the counties go on writing.
  if (f.outage > 0 && !f.admit_only) {
    const int stopped = national.Stop();
    const auto down = SteadyClock::now();
    Pacer pacer(&sim, &nation.counties, f.rate, &released);
    std::this_thread::sleep_for(std::chrono::duration<double>(f.outage));
    const uint64_t written = pacer.Stop();
    uint64_t expected = 0;
    for (size_t i = 0; i < f.counties; ++i) {
      expected += released[i] == 0 ? 0 : nation.counties[i].batch_end[released[i] - 1];
    }
    t0 = SteadyClock::now();
    Must(national.Start({f.tongband, "--config", nation.national_config}, log), "restart");
    const bool back = Await([&] { return held() == all; }, 600);
    const double held_after = Seconds(SteadyClock::now() - t0);
    const bool done = Await([&] { return sim.Totals().acked >= expected; }, 600);
    const double caught_after = Seconds(SteadyClock::now() - t0);
    std::printf(
        "%s outage   national down %.1f s (exit status %d) while %zu counties wrote %lu events "
        "at %.0f/s: after restart %s %.1f s, every event acknowledged %s %.1f s\n",
        suite.c_str(), Seconds(t0 - down), stopped, f.counties, static_cast<unsigned long>(written),
        f.rate, back ? "all sessions held in" : "NOT all sessions held after", held_after,
        done ? "in" : "NOT after", caught_after);
    std::fflush(stdout);
    if (!Await([&] { return county.connected(); }, 60)) Die("the real county never reconnected");
  }

  // Ingest: every county's remaining batches at once.
  if (f.ingest_batches > 0 && !f.admit_only) {
    const uint64_t acked0 = sim.Totals().acked;
    uint64_t expected = 0;
    Usage ingest = Begin(national.pid());
    t0 = SteadyClock::now();
    for (size_t i = 0; i < f.counties; ++i) {
      released[i] = nation.counties[i].batches.size();
      sim.Release(i, released[i]);
      expected += nation.counties[i].events();
    }
    const bool done = Await([&] { return sim.Totals().acked >= expected; }, 600);
    const double seconds = Seconds(SteadyClock::now() - t0);
    const uint64_t applied = sim.Totals().acked - acked0;
    std::printf(
        "%s ingest   %lu events from %zu counties released at once: %s in %.1f s, %.0f events/s "
        "applied; %s\n",
        suite.c_str(), static_cast<unsigned long>(applied), f.counties,
        done ? "all acknowledged" : "NOT all acknowledged", seconds,
        static_cast<double>(applied) / seconds, End(national.pid(), ingest).c_str());
    std::fflush(stdout);
  }
  sim.Close();
  extra_sim.Close();
  real->Stop();
  national.Stop();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace tongban

int main(int argc, char** argv) {
  using namespace tongban;
  SetMinLogLevel(LogLevel::kError);
  Flags f;
  f.tongband = (std::filesystem::canonical("/proc/self/exe").parent_path().parent_path() /
                "daemon" / "tongband")
                   .string();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string v;
    if (Flag(a, "counties", &v)) {
      f.counties = static_cast<size_t>(Number(v));
    } else if (Flag(a, "rate", &v)) {
      f.rate = Number(v);
    } else if (Flag(a, "duration", &v)) {
      f.duration = Number(v);
    } else if (Flag(a, "outage", &v)) {
      f.outage = Number(v);
    } else if (Flag(a, "idle", &v)) {
      f.idle = Number(v);
    } else if (Flag(a, "batch-events", &v)) {
      f.batch_events = std::max<size_t>(1, static_cast<size_t>(Number(v)));
    } else if (Flag(a, "ingest-batches", &v)) {
      f.ingest_batches = static_cast<size_t>(Number(v));
    } else if (a == "--admit-only") {
      f.admit_only = true;
    } else if (Flag(a, "extra-sessions", &v)) {
      f.extra = static_cast<size_t>(Number(v));
    } else if (Flag(a, "session-workers", &v)) {
      f.session_workers = std::max<size_t>(1, static_cast<size_t>(Number(v)));
    } else if (Flag(a, "samples", &v)) {
      f.samples = static_cast<size_t>(Number(v));
    } else if (Flag(a, "suite", &v)) {
      f.suite = Must(crypto::ParseSuiteId(v), "--suite");
    } else if (Flag(a, "tongband", &v)) {
      f.tongband = v;
    } else {
      Die(absl::StrCat("unknown flag ", a));
    }
  }
  return Run(f);
}
