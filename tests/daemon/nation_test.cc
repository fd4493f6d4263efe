// A simulated nation against a real national node (issue #21): the
// tongband binary as the national node, one real county (a node::Node in
// this process) and a few hundred simulated counties (tests/testutil/
// nation.h), each with its own certificate, signing key and log, whose
// sessions run on gRPC's callback API in this process (sim_sessions.h).
//
//   EveryEventReachesNationalAndAudience  200 counties, 10 events each:
//       every county admitted; every
//       event each sent is in the national node's store (read after it
//       stopped) and acknowledged; every event routed to the real county
//       (inflow registrations of its people) reached it through the
//       national node's relay.
//   NationalThreadsDoNotGrowWithSessions  the national node's thread count
//       with 300 idle sessions is at most a small constant above that with
//       50. Fails on the synchronous transport (two threads per stream).
//
// REQUIRES: TB_TONGBAND, the tongband binary (tests/daemon/tests.cmake).
#include "tests/testutil/nation.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "node/config.h"
#include "node/local_node.h"
#include "node/node.h"
#include "tests/testutil/ports.h"
#include "tests/testutil/sim_sessions.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace tongban::testutil {
namespace {

// Sessions of the thread check; the delivery check writes a log for each of
// its sessions (most of the test's time), so it holds fewer.
constexpr size_t kCounties = 300;
constexpr size_t kWriting = 200;
constexpr size_t kFirst = 50;
// Threads the national node may add between 50 and 300 sessions: a
// transport whose threads do not grow per session still starts a few
// (gRPC's executor, timers) as load arrives.
constexpr uint64_t kThreadSlack = 16;

class NationTest : public ::testing::TestWithParam<crypto::SuiteId> {
 protected:
  // Starts the nation, each simulated county with one batch of `events`
  // (0: no log).
  void Start(size_t counties, size_t events) {
    SetMinLogLevel(LogLevel::kWarning);
    const int port = FreePortBlock(1);
    ASSERT_GT(port, 0) << "no free loopback port";
    NationOptions o;
    o.suite = GetParam();
    o.dir = dir_.File("nation");
    o.counties = counties;
    o.batches = events == 0 ? 0 : 1;
    o.batch_events = events;
    o.inflow_every = 5;
    o.national_port = port;
    TB_ASSERT_OK_AND_ASSIGN(nation_, MakeNation(o));
    ASSERT_TRUE(
        national_
            .Start({TB_TONGBAND, "--config", nation_.national_config}, dir_.File("national.log"))
            .ok());
    TB_ASSERT_OK_AND_ASSIGN(node::Config real, node::LoadConfig(nation_.real_config));
    TB_ASSERT_OK_AND_ASSIGN(real_, node::Node::Start(real, RealClock()));
    sim_ = std::make_unique<SimSessions>(nation_.target, &nation_.counties);
  }

  void TearDown() override {
    if (sim_ != nullptr) sim_->Close();
    sim_.reset();
    if (real_ != nullptr) real_->Stop();
    national_.Stop();
  }

  // Opens sessions [from, to) and waits until `to` are held.
  bool OpenAndWait(size_t from, size_t to) {
    sim_->Open(from, to);
    return WaitUntil([&] { return sim_->Totals().sessions == to; }, absl::Seconds(40),
                     absl::StrCat(to, " sessions held (", sim_->last_error(), ")"));
  }

  uint64_t NationalThreads() {
    absl::StatusOr<ProcessSample> s = SampleProcess(national_.pid());
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->threads : 0;
  }

  ScopedTempDir dir_;
  Nation nation_;
  ChildProcess national_;
  std::unique_ptr<node::Node> real_;
  std::unique_ptr<SimSessions> sim_;
};

TEST_P(NationTest, EveryEventReachesNationalAndAudience) {
  ASSERT_NO_FATAL_FAILURE(Start(kWriting, 10));
  ASSERT_TRUE(OpenAndWait(0, kWriting));
  EXPECT_EQ(sim_->Totals().admitted, kWriting);
  // Sessions dialled before the national node listened failed and were
  // dialled again; from here on none may fail.
  const uint64_t failures = sim_->Totals().failures;
  uint64_t events = 0, routed = 0;
  for (size_t i = 0; i < kWriting; ++i) {
    sim_->Release(i, nation_.counties[i].batches.size());
    events += nation_.counties[i].events();
    routed += nation_.counties[i].routed_to_real.size();
  }
  ASSERT_EQ(events, kWriting * 10);
  ASSERT_GT(routed, 0u) << "no simulated event is routed to the real county";
  ASSERT_TRUE(WaitUntil([&] { return sim_->Totals().acked == events; }, absl::Seconds(40),
                        absl::StrCat("every event acknowledged (", sim_->last_error(), ")")));
  // The real county holds every event routed to it, relayed by the national
  // node.
  ASSERT_TRUE(WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        for (const SimCounty& c : nation_.counties) {
          for (uint64_t seq : c.routed_to_real) {
            absl::StatusOr<std::string> e = real_->store()->GetEvent({c.code, c.epoch}, seq);
            if (absl::IsNotFound(e.status())) return false;
            if (!e.ok()) return e.status();
          }
        }
        return true;
      },
      absl::Seconds(40), "every routed event at the real county"));
  EXPECT_EQ(sim_->Totals().failures, failures) << sim_->last_error();
  // The national node's own store, read once it stopped: every county's
  // whole log.
  sim_->Close();
  real_->Stop();
  ASSERT_EQ(national_.Stop(), 0);
  node::LocalNodeOptions options;
  options.data_dir = nation_.national_data;
  options.suite = GetParam();
  options.writer.node = "000000";
  options.create_keys = false;
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<node::LocalNode> national,
                          node::LocalNode::Open(options, RealClock()));
  for (const SimCounty& c : nation_.counties) {
    TB_ASSERT_OK_AND_ASSIGN(uint64_t last, national->store()->LastSeq({c.code, c.epoch}));
    EXPECT_EQ(last, c.events()) << c.code;
  }
}

TEST_P(NationTest, NationalThreadsDoNotGrowWithSessions) {
  ASSERT_NO_FATAL_FAILURE(Start(kCounties, 0));
  ASSERT_TRUE(OpenAndWait(0, kFirst));
  const uint64_t at_first = NationalThreads();
  ASSERT_TRUE(OpenAndWait(kFirst, kCounties));
  const uint64_t at_all = NationalThreads();
  EXPECT_EQ(sim_->Totals().admitted, kCounties);
  EXPECT_LE(at_all, at_first + kThreadSlack)
      << "the national node's threads: " << at_first << " with " << kFirst << " sessions, "
      << at_all << " with " << kCounties;
}

TB_INSTANTIATE_FOR_BOTH_SUITES(NationTest);

}  // namespace
}  // namespace tongban::testutil
