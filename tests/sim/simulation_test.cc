// A deterministic simulation of a federation (issue 17, part 2): a national
// node and three counties, each with its own store, writer, signing key and
// clock, their sessions (sync/session.h, the logic every transport runs)
// driven from one thread by one seed, with the network simulated:
//
//   streams    a stream between two nodes is a pair of Sessions and a queue
//              each way; messages are delivered in order within a stream
//              (as gRPC does) and in any order across streams, a side pulls
//              its next message when the seed says so, and a stream may be
//              dropped at any step with whatever it still carried (a reset)
//   partitions a dropped stream stays down as long as the seed keeps it so;
//              any pair of nodes may talk, and relays (the national node)
//              and origins deliver the same events twice over
//   crashes    a node stops at any step (every stream to it dropped) and
//              starts again from what it stored
//   clocks     every node's clock is off the national node's by up to two
//              days either way, and all of them move on by the seed
//   disks      a node's disk fails a write or a sync at the seed's chosen
//              point, or fills up (storage/fault_injection.h); the store
//              stops (fail-stop) and the node is restarted on a healed disk
//              later, as tongband restarts its node in the process
//
// while clerks at the counties register persons, their departures and
// arrivals, services, entitlements and corrections. Every step waits for
// what it started (an append signed, a received batch durable), so that a
// seed's run depends on the seed alone: a failing seed prints itself and
// replays exactly with TB_SIM_FIRST_SEED=<seed> TB_SIM_SEEDS=1 (and
// TB_SIM_TRACE=1 to print its steps).
//
// After the steps, every stream is healed (each pair of nodes syncs until
// nothing moves) and the invariants are checked:
//   - every acknowledged write is held by the national node and by every
//     node whose duty it is to hold it: the person's origin and every
//     county that registered the person's arrival hold all of the person's
//     records, state for state as the national node does; a departure's
//     destination that has not registered the arrival holds only records
//     routed to it, each as the national node holds it;
//   - nothing is held twice (no event twice in a record's history);
//   - no county that is not linked to a person holds anything of it;
//   - no cursor ever goes back (checked after every step, restarts
//     included).
// Each node's sessions verify every batch before it is applied
// (sync/verify.h); a session that ends with an error fails the seed, unless
// its node's disk failed.
//
// TB_SIM_SEEDS (default 1000), TB_SIM_FIRST_SEED (1), TB_SIM_STEPS (250),
// TB_SIM_BUDGET_SECONDS (45, as make test runs it; 0: none; no seed starts
// after it), TEST_TMPDIR (/dev/shm if unset),
// TB_SIM_DISK_FAULTS (1; 0 leaves the disks sound), TB_SIM_SEED_SECONDS
// (120: a seed that runs longer stops the run with its replay line) and
// TB_SIM_TRACE. `make simulate SEEDS=N` runs more. Seeds alternate between
// the international (odd) and national (even) crypto suites.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/log.h"
#include "gtest/gtest.h"
#include "storage/fault_injection.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "sync/session.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"

namespace tongban {
namespace {

using testutil::kNational;

const std::vector<std::string>& Counties() {
  static const std::vector<std::string> c = {testutil::kOrigin, testutil::kResidence,
                                             testutil::kThird};
  return c;
}

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = ::getenv(name);
  uint64_t n = 0;
  return v != nullptr && absl::SimpleAtoi(v, &n) ? n : fallback;
}

// One stream between nodes a and b.
struct Stream {
  std::unique_ptr<sync::Session> at_a, at_b;
  std::deque<v1::SyncMessage> to_a, to_b;
};

struct Person {
  std::string id;
  std::string origin;       // 户籍地: writes basics, departures, entitlements
  std::string destination;  // of its departure; "" before
  bool arrived = false;     // the destination registered the arrival
  int versions = 0;         // of its basics
  int services = 0;
  bool entitled = false;
};

class Simulation {
 public:
  Simulation(uint64_t seed, int steps)
      : seed_(seed),
        steps_(steps),
        suite_(seed % 2 == 1 ? crypto::SuiteId::kIntl : crypto::SuiteId::kGm),
        rng_(seed),
        trace_(EnvNumber("TB_SIM_TRACE", 0) != 0),
        disk_faults_(EnvNumber("TB_SIM_DISK_FAULTS", 1) != 0),
        fed_(suite_, &clocks_[kNational]) {}

  // Runs the seed; "" if every invariant held, else what broke.
  std::string Run() {
    if (!trace_) SetMinLogLevel(LogLevel::kError);  // skewed clocks warn at every batch
    nodes_ = {kNational};
    for (const std::string& c : Counties()) nodes_.push_back(c);
    for (const std::string& n : nodes_) {
      // Up to two days off the national node's clock, either way.
      if (n != kNational) {
        clocks_[n].Advance(absl::Seconds(static_cast<int64_t>(Below(4 * 86400)) - 2 * 86400));
      }
      fed_.Add(n, &clocks_[n], &disks_[n]);
      if (Broken()) return failure_;
    }
    for (int step = 0; step < steps_ && !Broken(); ++step) {
      Step();
      for (const std::string& n : nodes_) {
        if (!Broken()) CheckCursors(n);
      }
    }
    if (!Broken()) Heal();
    if (!Broken()) CheckHoldings();
    return failure_;
  }

  const std::string& summary() const { return summary_; }

 private:
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }
  bool Broken() const { return !failure_.empty() || testing::Test::HasFailure(); }
  void Fail(std::string what) {
    if (failure_.empty()) failure_ = std::move(what);
    if (failure_.empty()) failure_ = "a check failed (see above)";
  }
  void Trace(const std::string& line) {
    if (trace_) fprintf(stderr, "seed %lu: %s\n", static_cast<unsigned long>(seed_), line.c_str());
  }

  void Step() {
    const uint64_t roll = Below(100);
    if (roll < 30) {
      Write();
    } else if (roll < 40) {
      Open();
    } else if (roll < 85) {
      Move();
    } else if (roll < 91) {
      Drop();
    } else if (roll < 94) {
      Crash();
    } else if (roll < 96) {
      if (disk_faults_) DiskFault();
    } else {
      const absl::Duration d = absl::Seconds(Below(3 * 3600));
      Trace(absl::StrCat("clocks advance ", absl::FormatDuration(d)));
      for (auto& [code, clock] : clocks_) clock.Advance(d);
    }
  }

  // A clerk's write at a county, following a person's story.
  void Write() {
    if (persons_.empty() || (persons_.size() < 10 && Below(4) == 0)) {
      Person p;
      p.origin = Pick(Counties());
      p.id = testutil::MakeId(p.origin, "19900101", static_cast<int>(persons_.size()) + 1);
      persons_.push_back(p);
      Append(p.origin, BasicsOf(persons_.back()));
      return;
    }
    Person& p = persons_[Below(persons_.size())];
    switch (Below(5)) {
      case 0:
        if (p.destination.empty()) {
          std::string to;
          do {
            to = Pick(Counties());
          } while (to == p.origin);
          if (Append(p.origin, testutil::Outflow(p.id, to))) p.destination = to;
        } else if (!p.arrived) {
          if (Append(p.destination, testutil::Inflow(p.id, p.origin))) p.arrived = true;
        }
        return;
      case 1:
      case 2: {
        // A service where the person is: at home, or where they arrived.
        const std::string at = p.arrived && Below(2) == 0 ? p.destination : p.origin;
        Append(at, testutil::Service(p.id, at, absl::StrCat("svc-", ++p.services)));
        return;
      }
      case 3:
        if (!p.entitled && Append(p.origin, testutil::Entitlement(p.id))) p.entitled = true;
        return;
      default:
        // A correction (更正) of the basics.
        ++p.versions;
        Append(p.origin, BasicsOf(p));
        return;
    }
  }

  storage::RecordChange BasicsOf(const Person& p) {
    storage::RecordChange c =
        testutil::Basics(p.id, absl::StrCat("Person ", p.id.substr(14, 3), " v", p.versions));
    c.value.mutable_person_basics()->set_hukou_region(p.origin);
    return c;
  }

  // Appends at `node` and waits until the event is signed; true if the
  // write was acknowledged.
  bool Append(const std::string& node, const storage::RecordChange& c) {
    storage::Writer& writer = *fed_.at(node).writer;
    absl::StatusOr<storage::Appended> a = writer.Append(c);
    if (!a.ok()) {
      Trace(absl::StrCat("write at ", node, " refused: ", a.status().ToString()));
      if (!absl::IsInvalidArgument(a.status()) && !absl::IsFailedPrecondition(a.status()) &&
          failed_disks_.count(node) == 0) {
        Fail(absl::StrCat("a clerk's write at ", node, " failed: ", a.status().ToString()));
      }
      return false;
    }
    Trace(
        absl::StrCat("write at ", node, ": kind ", c.kind, " ", c.record_id, " seq ", a->id.seq()));
    acked_.push_back({a->person, a->id});
    const absl::Status signed_ = writer.WaitForCheckpoint(a->id.seq(), absl::Seconds(30));
    if (!signed_.ok() && failed_disks_.count(node) == 0) {
      Fail(absl::StrCat("append at ", node, " not signed: ", signed_.ToString()));
    }
    return true;
  }

  std::vector<std::pair<std::string, std::string>> Pairs() const {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      for (size_t j = i + 1; j < nodes_.size(); ++j) pairs.push_back({nodes_[i], nodes_[j]});
    }
    return pairs;
  }

  void Open() {
    std::vector<std::pair<std::string, std::string>> closed;
    for (const auto& pair : Pairs()) {
      if (streams_.count(pair) == 0) closed.push_back(pair);
    }
    if (closed.empty()) return;
    const auto pair = Pick(closed);
    Trace(absl::StrCat("stream ", pair.first, "-", pair.second, " opens"));
    Stream s;
    s.at_a = fed_.OpenSession(pair.first, pair.second);
    s.at_b = fed_.OpenSession(pair.second, pair.first);
    absl::StatusOr<std::vector<v1::SyncMessage>> from_a = s.at_a->Start();
    absl::StatusOr<std::vector<v1::SyncMessage>> from_b = s.at_b->Start();
    if (!from_a.ok() || !from_b.ok()) {
      Fail(absl::StrCat("stream ", pair.first, "-", pair.second, " did not start: ",
                        (from_a.ok() ? from_b.status() : from_a.status()).ToString()));
      return;
    }
    for (v1::SyncMessage& m : *from_a) s.to_b.push_back(std::move(m));
    for (v1::SyncMessage& m : *from_b) s.to_a.push_back(std::move(m));
    streams_[pair] = std::move(s);
  }

  // One move on an open stream: a side pulls its next message, or the next
  // message one way is delivered (and what the receiver says back queued).
  void Move() {
    if (streams_.empty()) return;
    auto it = streams_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(Below(streams_.size())));
    const std::pair<std::string, std::string> pair = it->first;
    Stream& s = it->second;
    const bool towards_a = Below(2) == 0;
    sync::Session& receiver = towards_a ? *s.at_a : *s.at_b;
    sync::Session& sender = towards_a ? *s.at_b : *s.at_a;
    std::deque<v1::SyncMessage>& queue = towards_a ? s.to_a : s.to_b;
    std::deque<v1::SyncMessage>& back = towards_a ? s.to_b : s.to_a;
    const std::string& to = towards_a ? pair.first : pair.second;
    const std::string& from = towards_a ? pair.second : pair.first;
    if (queue.empty() || Below(3) == 0) {
      absl::StatusOr<std::optional<v1::SyncMessage>> next = sender.NextBatch();
      if (!next.ok()) return End(pair, from, next.status());
      if (next->has_value()) {
        Trace(absl::StrCat(from, " sends ", Describe(**next), " to ", to));
        queue.push_back(**std::move(next));
      }
      return;
    }
    v1::SyncMessage m = std::move(queue.front());
    queue.pop_front();
    Trace(absl::StrCat(to, " receives ", Describe(m), " from ", from));
    std::vector<v1::SyncMessage> out;
    absl::Status s1 = receiver.OnMessage(m, &out);
    // Durable before the next step, so that the run is the seed's alone.
    if (s1.ok()) s1 = receiver.FinishApplying(&out);
    if (!s1.ok()) return End(pair, to, s1);
    for (v1::SyncMessage& r : out) back.push_back(std::move(r));
  }

  static std::string Describe(const v1::SyncMessage& m) {
    switch (m.msg_case()) {
      case v1::SyncMessage::kBatch:
        return absl::StrCat(m.batch().backfill() ? "backfill " : "", "batch ", m.batch().origin(),
                            " events ", m.batch().events_size(), " watermark ",
                            m.batch().watermark());
      case v1::SyncMessage::kAck: return absl::StrCat("ack ", m.ack().origin(), ":", m.ack().seq());
      case v1::SyncMessage::kResync: return absl::StrCat("resync ", m.resync().origin());
      case v1::SyncMessage::kFetchPerson: return "fetch-person";
      case v1::SyncMessage::kFetchDone: return "fetch-done";
      default: return absl::StrCat("message ", m.msg_case());
    }
  }

  // A session ended with an error: between honest nodes on sound disks,
  // that is a bug.
  void End(const std::pair<std::string, std::string> pair, const std::string& at,
           const absl::Status& why) {
    Trace(absl::StrCat("the session of ", at, " on stream ", pair.first, "-", pair.second,
                       " ended: ", why.ToString()));
    if (failed_disks_.count(pair.first) != 0 || failed_disks_.count(pair.second) != 0) {
      streams_.erase(pair);
      return;
    }
    Fail(absl::StrCat("the session of ", at, " on stream ", pair.first, "-", pair.second,
                      " ended: ", why.ToString()));
    streams_.erase(pair);
  }

  void Drop() {
    if (streams_.empty()) return;
    auto it = streams_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(Below(streams_.size())));
    Trace(absl::StrCat("stream ", it->first.first, "-", it->first.second, " drops with ",
                       it->second.to_a.size() + it->second.to_b.size(), " messages"));
    streams_.erase(it);
  }

  void Crash() { Restart(Pick(nodes_)); }

  // The node stops (every stream to it dropped) and starts again from what
  // it stored, on a sound disk.
  void Restart(const std::string& n) {
    Trace(absl::StrCat("node ", n, " stops and starts again"));
    for (auto it = streams_.begin(); it != streams_.end();) {
      it = it->first.first == n || it->first.second == n ? streams_.erase(it) : std::next(it);
    }
    disks_[n].Heal();
    failed_disks_.erase(n);
    fed_.Restart(n);
  }

  // The disk under a node fails one of its next writes or syncs, or fills
  // up. Its store stops at the fault; the node is restarted later (Crash,
  // or before healing).
  void DiskFault() {
    const std::string& n = Pick(nodes_);
    storage::FaultInjection& disk = disks_[n];
    const int after = static_cast<int>(Below(12));
    switch (Below(3)) {
      case 0:
        Trace(absl::StrCat("disk of ", n, " fails a write after ", after, " more"));
        disk.FailNextWrites(1, after);
        break;
      case 1:
        Trace(absl::StrCat("disk of ", n, " fails a sync after ", after, " more"));
        disk.FailNextSyncs(1, after);
        break;
      default:
        Trace(absl::StrCat("disk of ", n, " is full"));
        disk.FillDisk();
        break;
    }
    failed_disks_.insert(n);
  }

  // No cursor of `node` (where it stands in a peer's copy of a log) ever
  // goes back, restarts included.
  void CheckCursors(const std::string& node) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> cursors =
        fed_.at(node).store->Scan(storage::Cf::kCursors, "");
    if (!cursors.ok()) return Fail(cursors.status().ToString());
    for (const auto& [key, value] : *cursors) {
      v1::Position p;
      if (!p.ParseFromString(value)) return Fail(absl::StrCat("a cursor at ", node, " is garbage"));
      uint64_t& seen = cursors_[{node, key}];
      if (p.seq() < seen) {
        return Fail(absl::StrCat("a cursor at ", node, " went back from ", seen, " to ", p.seq()));
      }
      seen = p.seq();
    }
  }

  // Every stream heals: each pair of nodes syncs, again, until nothing
  // moves.
  void Heal() {
    streams_.clear();
    for (const std::string& n : nodes_) {
      if (failed_disks_.count(n) != 0) Restart(n);
    }
    std::string before;
    for (int round = 0; round < 8; ++round) {
      for (const auto& [a, b] : Pairs()) {
        fed_.Sync(a, b);
        if (Broken()) return Fail(absl::StrCat("healing sync ", a, "-", b, " failed"));
        CheckCursors(a);
        CheckCursors(b);
      }
      std::string now;
      for (const std::string& n : nodes_) {
        for (const Person& p : persons_) absl::StrAppend(&now, Holding(n, p.id));
      }
      if (now == before) return;
      before = std::move(now);
    }
    Fail("the federation did not settle in 8 rounds of healing");
  }

  // A record as a node holds it: its latest state (custodian and heads)
  // and every event of its history.
  struct Held {
    std::string state;
    std::set<std::pair<std::string, uint64_t>> history;
    bool operator==(const Held&) const = default;
  };

  // A node's records of a person, by kind and record id.
  std::map<std::string, Held> Records(const std::string& node, const std::string& person) {
    std::map<std::string, Held> held;
    auto records = fed_.at(node).store->ListRecords(person);
    if (!records.ok()) {
      Fail(records.status().ToString());
      return held;
    }
    for (const auto& [key, state] : *records) {
      Held& h = held[absl::StrCat(key.first, "/", key.second)];
      h.state = absl::StrCat("by ", state.custodian(), " heads");
      for (const auto& head : state.heads()) {
        absl::StrAppend(&h.state, " ", head.event().origin(), ":", head.event().seq(), ":",
                        std::hash<std::string>{}(head.payload()));
      }
      for (const auto& e : state.history()) {
        if (!h.history.insert({e.origin(), e.seq()}).second) {
          Fail(absl::StrCat(node, " holds event ", e.origin(), ":", e.seq(), " twice in record ",
                            key.first, "/", key.second));
        }
      }
      if (h.history.size() != state.versions()) {
        Fail(absl::StrCat(node, " counts ", state.versions(), " versions of record ", key.first,
                          "/", key.second, " with ", h.history.size(), " in its history"));
      }
    }
    return held;
  }

  std::string Holding(const std::string& node, const std::string& person) {
    std::string s;
    for (const auto& [key, h] : Records(node, person)) {
      absl::StrAppend(&s, key, " ", h.state, " history");
      for (const auto& [origin, seq] : h.history) absl::StrAppend(&s, " ", origin, ":", seq);
      absl::StrAppend(&s, "\n");
    }
    return s;
  }

  void CheckHoldings() {
    // Every acknowledged write is at the national node.
    std::map<std::string, std::set<std::pair<std::string, uint64_t>>> at_national;
    for (const Person& p : persons_) {
      auto records = fed_.at(kNational).store->ListRecords(p.id);
      if (!records.ok()) return Fail(records.status().ToString());
      for (const auto& [key, state] : *records) {
        for (const auto& e : state.history()) at_national[p.id].insert({e.origin(), e.seq()});
      }
    }
    for (const auto& [person, id] : acked_) {
      if (at_national[person].count({id.origin(), id.seq()}) == 0) {
        return Fail(absl::StrCat("acknowledged event ", id.origin(), ":", id.seq(),
                                 " never reached the national node"));
      }
    }
    for (const Person& p : persons_) {
      const std::map<std::string, Held> whole = Records(kNational, p.id);
      // Where the person went and arrived, from what the national node
      // holds (a write refused for a faulty disk may still have been stored,
      // its outcome unknown to the clerk, and counts once healed).
      std::set<std::string> destinations;
      std::set<std::string> arrivals;
      auto at_national = fed_.at(kNational).store->ListRecords(p.id);
      if (!at_national.ok()) return Fail(at_national.status().ToString());
      for (const auto& [key, state] : *at_national) {
        if (key.first == v1::RECORD_KIND_OUTFLOW) destinations.insert(key.second.substr(4));
        if (key.first == v1::RECORD_KIND_INFLOW) arrivals.insert(state.custodian());
      }
      if (!p.destination.empty() && destinations.count(p.destination) == 0) {
        return Fail(
            absl::StrCat("the national node holds no departure of a person to ", p.destination));
      }
      if (p.arrived && arrivals.count(p.destination) == 0) {
        return Fail(
            absl::StrCat("the national node holds no arrival of a person at ", p.destination));
      }
      for (const std::string& c : Counties()) {
        const std::map<std::string, Held> held = Records(c, p.id);
        const bool full = c == p.origin || arrivals.count(c) != 0;
        const std::string where = absl::StrCat("person ", p.id.substr(0, 6), "********",
                                               p.id.substr(14), " at ", c, ": ");
        if (full && held != whole) {
          return Fail(absl::StrCat(where, "holds\n", Holding(c, p.id), "the national node\n",
                                   Holding(kNational, p.id)));
        }
        if (!full && destinations.count(c) == 0 && !held.empty()) {
          return Fail(absl::StrCat(where, "holds records of a person it is not linked to:\n",
                                   Holding(c, p.id)));
        }
        // A departure's destination before the arrival: what was routed to
        // it, each record at its latest state.
        for (const auto& [key, h] : held) {
          auto w = whole.find(key);
          if (w == whole.end() || w->second.state != h.state ||
              !std::includes(w->second.history.begin(), w->second.history.end(), h.history.begin(),
                             h.history.end())) {
            return Fail(absl::StrCat(where, "record ", key, " differs from the national node's:\n",
                                     Holding(c, p.id), "the national node\n",
                                     Holding(kNational, p.id)));
          }
        }
      }
    }
    summary_ = absl::StrCat(persons_.size(), " persons, ", acked_.size(), " writes");
  }

  const uint64_t seed_;
  const int steps_;
  const crypto::SuiteId suite_;
  std::mt19937_64 rng_;
  const bool trace_;
  const bool disk_faults_;
  std::map<std::string, FakeClock> clocks_;
  std::map<std::string, storage::FaultInjection> disks_;  // outlive the stores
  std::set<std::string> failed_disks_;                    // armed since the node last started
  testutil::TestFederation fed_;
  std::vector<std::string> nodes_;
  std::map<std::pair<std::string, std::string>, Stream> streams_;
  std::vector<Person> persons_;
  std::vector<std::pair<std::string, v1::EventId>> acked_;
  std::map<std::pair<std::string, std::string>, uint64_t> cursors_;
  std::string failure_;
  std::string summary_;
};

TEST(SimulationTest, EverySeedKeepsTheInvariants) {
  const uint64_t first = EnvNumber("TB_SIM_FIRST_SEED", 1);
  const uint64_t seeds = EnvNumber("TB_SIM_SEEDS", 1000);
  const int steps = static_cast<int>(EnvNumber("TB_SIM_STEPS", 250));
  const uint64_t budget = EnvNumber("TB_SIM_BUDGET_SECONDS", 45);
  // The stores on a tmpfs, unless the caller chose a folder.
  if (::getenv("TEST_TMPDIR") == nullptr && ::access("/dev/shm", W_OK) == 0) {
    ::setenv("TEST_TMPDIR", "/dev/shm", 0);
  }
  const absl::Time start = absl::Now();
  // A seed that hangs is a failure that names itself: after
  // TB_SIM_SEED_SECONDS (120) on one seed, the run stops with its replay line.
  const uint64_t seed_limit = EnvNumber("TB_SIM_SEED_SECONDS", 120);
  std::atomic<uint64_t> current{0};
  std::atomic<int64_t> seed_start{0};
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    while (!done.load()) {
      absl::SleepFor(absl::Milliseconds(500));
      const int64_t began = seed_start.load();
      if (began != 0 &&
          absl::ToUnixSeconds(absl::Now()) - began > static_cast<int64_t>(seed_limit)) {
        fprintf(stderr,
                "seed %lu hung: over %lu s on one seed; replay: TB_SIM_FIRST_SEED=%lu "
                "TB_SIM_SEEDS=1 TB_SIM_STEPS=%d TB_SIM_TRACE=1 tests/simulation_test\n",
                static_cast<unsigned long>(current.load()), static_cast<unsigned long>(seed_limit),
                static_cast<unsigned long>(current.load()), steps);
        abort();
      }
    }
  });
  uint64_t run = 0;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    if (budget != 0 && absl::Now() - start > absl::Seconds(budget)) break;
    current.store(seed);
    seed_start.store(absl::ToUnixSeconds(absl::Now()));
    Simulation sim(seed, steps);
    const std::string failure = sim.Run();
    seed_start.store(0);
    ++run;
    if (!failure.empty() || HasFailure()) {
      done.store(true);
      watchdog.join();
      ADD_FAILURE() << "seed " << seed << " broke an invariant: " << failure
                    << "\nreplay: TB_SIM_FIRST_SEED=" << seed
                    << " TB_SIM_SEEDS=1 TB_SIM_STEPS=" << steps << " TB_SIM_TRACE=1 "
                    << "tests/simulation_test";
      return;
    }
  }
  done.store(true);
  watchdog.join();
  printf("simulated %lu seeds (%lu..%lu), %d steps each, in %s\n", static_cast<unsigned long>(run),
         static_cast<unsigned long>(first), static_cast<unsigned long>(first + run - 1), steps,
         absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))).c_str());
  EXPECT_GT(run, 0u);
}

}  // namespace
}  // namespace tongban
