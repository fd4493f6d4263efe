// Nodes whose clocks differ by minutes to days (issue #17): the national
// node N on time, the origin A two days ahead, the residence B three
// minutes behind, the third county C one minute ahead. Sessions run back to
// back (TestFederation) on each node's own clock.
//
//  * Every holder of a person shows the same record states, heads and
//    history in the same order, whatever the skews and the order the
//    events arrived in.
//  * Within [sync] max_clock_ahead (5 minutes) a node adopts a peer's
//    stamp, so what it writes after receiving an event is stamped after it
//    even when its own clock is behind (B after C's outflow).
//  * Beyond it (A, two days ahead) the events are applied and counted but
//    not adopted: B's clock is not dragged two days ahead.
//  * Each node shows every peer's skew from its Hello, signed: A at B about
//    +2 days, B at A about -2 days.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "sync/peers.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"

namespace tongban::sync {
namespace {

using testutil::kNational;
using testutil::kOrigin;
using testutil::kResidence;
using testutil::kThird;

// `base` moved by `offset`: a node's clock that is wrong by that much.
class OffsetClock : public Clock {
 public:
  OffsetClock(const Clock* base, absl::Duration offset) : base_(base), offset_(offset) {}
  absl::Time Now() const override { return base_->Now() + offset_; }

 private:
  const Clock* const base_;
  const absl::Duration offset_;
};

class ClockSkewTest : public testing::TestWithParam<crypto::SuiteId> {
 protected:
  void SetUp() override {
    fed_.Add(kNational);
    fed_.Add(kOrigin, &a_clock_);
    fed_.Add(kResidence, &b_clock_);
    fed_.Add(kThird, &c_clock_);
  }

  // A session between `a` and `b`, each recording what it sees in its own
  // peer table.
  void Sync(const std::string& a, const std::string& b) {
    clock_.Advance(absl::Seconds(30));
    fed_.Sync(a, b, [this](SessionOptions& o) { o.peers = &peers_[o.self]; });
  }

  HlcStamp Write(const std::string& node, const storage::RecordChange& c) {
    clock_.Advance(absl::Seconds(30));
    absl::StatusOr<storage::Appended> a = fed_.at(node).writer->Append(c);
    EXPECT_TRUE(a.ok()) << node << ": " << a.status();
    if (!a.ok()) return {};
    absl::StatusOr<std::string> body =
        fed_.at(node).store->GetEvent({a->id.origin(), a->id.epoch()}, a->id.seq());
    EXPECT_TRUE(body.ok()) << body.status();
    v1::EventBody parsed;
    EXPECT_TRUE(body.ok() && parsed.ParseFromString(*body));
    return HlcStamp{parsed.hlc().physical_micros(), parsed.hlc().logical()};
  }

  // The person's record states at `node`, in one comparable string.
  std::string States(const std::string& node, const std::string& person) {
    absl::StatusOr<std::vector<std::pair<std::pair<int, std::string>, v1::RecordState>>> records =
        fed_.at(node).store->ListRecords(person);
    EXPECT_TRUE(records.ok()) << records.status();
    std::string out;
    if (!records.ok()) return out;
    for (const auto& [key, state] : *records) {
      absl::StrAppend(&out, key.first, "/", key.second, ":");
      for (const auto& h : state.heads()) {
        absl::StrAppend(&out, " head ", h.event().origin(), "#", h.event().seq());
      }
      for (const auto& e : state.history()) absl::StrAppend(&out, " ", e.origin(), "#", e.seq());
      absl::StrAppend(&out, "\n");
    }
    return out;
  }

  FakeClock clock_;  // the true time
  OffsetClock a_clock_{&clock_, absl::Hours(48)};
  OffsetClock b_clock_{&clock_, -absl::Minutes(3)};
  OffsetClock c_clock_{&clock_, absl::Minutes(1)};
  testutil::TestFederation fed_{GetParam(), &clock_};
  std::map<std::string, PeerTable> peers_;
};

TB_INSTANTIATE_FOR_BOTH_SUITES(ClockSkewTest);

TEST_P(ClockSkewTest, SkewedClocksOrderEveryPersonsRecordsTheSameWayEverywhere) {
  // p: registered at A (two days ahead), leaves for B, arrives there.
  const std::string p = testutil::MakeId(kOrigin, "19900101", 1);
  Write(kOrigin, testutil::Basics(p, "P"));
  const HlcStamp p_out = Write(kOrigin, testutil::Outflow(p, kResidence));
  // q: registered at C (a minute ahead), leaves for B, arrives there.
  const std::string q = testutil::MakeId(kThird, "19900101", 2);
  Write(kThird, testutil::Basics(q, "Q"));
  const HlcStamp q_out = Write(kThird, testutil::Outflow(q, kResidence));

  Sync(kOrigin, kNational);
  Sync(kThird, kNational);
  Sync(kNational, kResidence);
  const HlcStamp q_in = Write(kResidence, testutil::Inflow(q, kThird));
  const HlcStamp p_in = Write(kResidence, testutil::Inflow(p, kOrigin));
  Write(kResidence, testutil::Service(p, kResidence, "svc-p"));
  // A later move of q on to A, whose arrival names B.
  Sync(kResidence, kNational);
  Sync(kNational, kOrigin);
  storage::RecordChange on = testutil::Inflow(q, kThird, "inflow-a");
  on.value.mutable_inflow()->set_previous_residence(kResidence);
  Write(kOrigin, on);
  for (int round = 0; round < 2; ++round) {
    for (const char* county : {kOrigin, kResidence, kThird}) Sync(county, kNational);
    Sync(kOrigin, kResidence);
  }

  // Within the tolerance, B adopted C's stamp: its arrival of q is stamped
  // after C's departure although B's clock is four minutes behind C's.
  EXPECT_GT(q_in, q_out);
  // Beyond it, B kept its own time: its arrival of p is stamped before A's
  // departure (two days ahead), and B's clock was not dragged forward.
  EXPECT_LT(p_in, p_out);
  EXPECT_LT(absl::FromUnixMicros(p_in.physical_micros), clock_.Now());
  EXPECT_GT(*fed_.at(kResidence).store->GetCounter("clock/events_ahead"), 0u);

  // The same states, heads and history order on every holder.
  for (const auto& [person, holders] : std::map<std::string, std::vector<std::string>>{
           {p, {kNational, kOrigin, kResidence}}, {q, {kNational, kThird, kResidence, kOrigin}}}) {
    const std::string at_national = States(kNational, person);
    EXPECT_FALSE(at_national.empty());
    for (const std::string& n : holders) {
      EXPECT_EQ(States(n, person), at_national) << "node " << n << " orders the records otherwise";
    }
  }

  // Each node shows its peers' skews, from their Hello.
  auto skew = [&](const std::string& at, const std::string& peer) {
    const PeerStatus s = peers_[at].Get(peer);
    EXPECT_TRUE(s.clock_skew.has_value()) << peer << " at " << at;
    return s.clock_skew.value_or(absl::InfiniteDuration());
  };
  EXPECT_EQ(skew(kNational, kOrigin), absl::Hours(48));
  EXPECT_EQ(skew(kNational, kResidence), -absl::Minutes(3));
  EXPECT_EQ(skew(kResidence, kOrigin), absl::Hours(48) + absl::Minutes(3));
  EXPECT_EQ(skew(kOrigin, kResidence), -absl::Hours(48) - absl::Minutes(3));
  EXPECT_EQ(skew(kThird, kNational), -absl::Minutes(1));
}

}  // namespace
}  // namespace tongban::sync
