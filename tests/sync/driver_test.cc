// PeerDriver's decisions, tick by tick with fake links: the standing session
// to the national node, dialling a county only while it lacks our data,
// closing idle sessions, backoff that grows on failure and resets on the
// first acknowledgement, and holds that stop dialling until cleared.
#include "sync/driver.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"

namespace tongban::sync {
namespace {

using testutil::kNational;
using testutil::kOrigin;
using testutil::kResidence;

// What the test sees of a link; it outlives the link the driver owns.
struct LinkState {
  std::optional<absl::Status> ended;  // set by the test: the session ended
  bool stopped = false;               // the driver stopped it
};

struct FakeLink : DriverLink {
  explicit FakeLink(std::shared_ptr<LinkState> s) : state(std::move(s)) {}
  std::optional<absl::Status> result() const override { return state->ended; }
  void Stop() override {
    state->stopped = true;
    if (!state->ended.has_value()) state->ended = absl::OkStatus();
  }
  std::shared_ptr<LinkState> state;
};

class DriverTest : public ::testing::Test {
 protected:
  DriverTest() : fed_(crypto::SuiteId::kIntl, &clock_) {
    fed_.Add(kOrigin);
    DriverOptions o;
    o.self = kOrigin;
    o.retry_initial = absl::Seconds(1);
    o.retry_max = absl::Seconds(60);
    o.idle_close = absl::Seconds(30);
    driver_ = std::make_unique<PeerDriver>(
        store(), fed_.at(kOrigin).writer.get(), &table_, &clock_, o, [this] { return candidates_; },
        [this](const std::string& peer) -> std::unique_ptr<DriverLink> {
          links_[peer].push_back(std::make_shared<LinkState>());
          return std::make_unique<FakeLink>(links_[peer].back());
        });
  }

  storage::Store* store() { return fed_.at(kOrigin).store.get(); }
  int Dials(const std::string& peer) { return static_cast<int>(links_[peer].size()); }
  LinkState* Last(const std::string& peer) { return links_[peer].back().get(); }
  void Tick() { driver_->Tick(clock_.Now()); }

  FakeClock clock_;
  testutil::TestFederation fed_;
  PeerTable table_;
  std::vector<std::string> candidates_ = {kNational, kResidence};
  std::map<std::string, std::vector<std::shared_ptr<LinkState>>> links_;
  std::unique_ptr<PeerDriver> driver_;
};

TEST_F(DriverTest, StandingSessionToNationalOnlyWithoutPendingData) {
  Tick();
  EXPECT_EQ(Dials(kNational), 1);
  EXPECT_EQ(Dials(kResidence), 0);
  Tick();
  EXPECT_EQ(Dials(kNational), 1) << "a running session is not dialled again";
}

TEST_F(DriverTest, DialsACountyWhileItLacksOurDataThenClosesWhenIdle) {
  TB_ASSERT_OK(
      fed_.at(kOrigin)
          .writer->Append(testutil::Outflow(testutil::MakeId(kOrigin, "19900101", 1), kResidence))
          .status());
  Tick();
  ASSERT_EQ(Dials(kResidence), 1) << "an event is routed to the residence";
  // The residence acknowledges everything: nothing pending any more.
  TB_ASSERT_OK_AND_ASSIGN(uint64_t last, store()->LastSeq(fed_.at(kOrigin).writer->log()));
  TB_ASSERT_OK(StoreAck(*store(), kResidence, fed_.at(kOrigin).writer->log(), last));
  clock_.Advance(absl::Seconds(10));
  Tick();
  EXPECT_FALSE(Last(kResidence)->stopped) << "not idle long enough";
  clock_.Advance(absl::Seconds(25));
  Tick();
  EXPECT_TRUE(Last(kResidence)->stopped) << "idle for idle_close with nothing pending";
  Tick();
  EXPECT_EQ(Dials(kResidence), 1) << "nothing pending: no new attempt";
  EXPECT_FALSE(Last(kNational)->stopped) << "the standing session stays";
}

TEST_F(DriverTest, BackoffGrowsOnFailureAndResetsOnFirstAck) {
  Tick();
  absl::Duration last_wait = absl::ZeroDuration();
  absl::Duration max_wait = absl::ZeroDuration();
  for (int i = 0; i < 8; ++i) {
    Last(kNational)->ended = absl::UnavailableError("connection refused");
    Tick();  // notices the failure, schedules the retry
    EXPECT_EQ(table_.Get(kNational).last_error, "UNAVAILABLE: connection refused")
        << "operators see why, even when no session started";
    const DriverPeer p = driver_->Snapshot().at(kNational);
    EXPECT_EQ(p.failures, i + 1);
    last_wait = p.next_attempt - clock_.Now();
    EXPECT_GE(last_wait, absl::ZeroDuration());
    EXPECT_LE(last_wait, absl::Seconds(60));
    max_wait = std::max(max_wait, last_wait);
    const int dials = Dials(kNational);
    if (last_wait > absl::ZeroDuration()) {
      Tick();
      EXPECT_EQ(Dials(kNational), dials) << "no attempt before the retry is due";
    }
    clock_.Advance(last_wait + absl::Milliseconds(1));
    Tick();
    ASSERT_EQ(Dials(kNational), dials + 1) << "the retry happens once due";
  }
  // After 8 failures the ceiling is 60 s; full jitter almost surely drew
  // more than the initial 1 s at least once.
  EXPECT_GT(max_wait, absl::Seconds(1));
  // Connecting alone does not reset the backoff; an acknowledgement does.
  table_.AckReceived(kNational);
  Tick();
  EXPECT_EQ(driver_->Snapshot().at(kNational).failures, 0);
  Last(kNational)->ended = absl::UnavailableError("dropped");
  Tick();
  EXPECT_LE(driver_->Snapshot().at(kNational).next_attempt - clock_.Now(), absl::Seconds(1))
      << "after a reset the first wait is within the initial ceiling";
}

TEST_F(DriverTest, HeldPeerIsNotDialledUntilCleared) {
  Tick();
  ASSERT_EQ(Dials(kNational), 1);
  TB_ASSERT_OK(HoldPeer(*store(), kNational, "REJECT_REASON_TAMPERED_BODY"));
  Tick();
  EXPECT_TRUE(Last(kNational)->stopped) << "the running session is stopped";
  clock_.Advance(absl::Hours(1));
  Tick();
  EXPECT_EQ(Dials(kNational), 1) << "no attempt while held";
  EXPECT_EQ(driver_->Snapshot().at(kNational).held, "REJECT_REASON_TAMPERED_BODY");
  TB_ASSERT_OK(ClearHold(*store(), kNational));
  EXPECT_EQ(ClearHold(*store(), kNational).code(), absl::StatusCode::kNotFound);
  Tick();
  EXPECT_EQ(Dials(kNational), 2) << "dialled again once an operator cleared it";
}

TEST_F(DriverTest, PeerLeavingTheCandidatesIsClosed) {
  Tick();
  candidates_ = {kResidence};  // e.g. suspended in a newer roster
  Tick();
  EXPECT_TRUE(Last(kNational)->stopped);
}

TEST(DriverNationalTest, NationalNodeDialsNobody) {
  FakeClock clock;
  testutil::TestFederation fed(crypto::SuiteId::kIntl, &clock);
  fed.Add(kNational);
  PeerTable table;
  DriverOptions o;
  o.self = kNational;
  int dials = 0;
  PeerDriver driver(
      fed.at(kNational).store.get(), fed.at(kNational).writer.get(), &table, &clock, o,
      [] {
        return std::vector<std::string>{kOrigin, kResidence};
      },
      [&](const std::string&) -> std::unique_ptr<DriverLink> {
        ++dials;
        return nullptr;
      });
  driver.Tick(clock.Now());
  EXPECT_EQ(dials, 0);
}

}  // namespace
}  // namespace tongban::sync
