// Separate tongband processes (a national node and three counties, set up
// by tools/federation-setup.sh) sync while clerks work through the Admin
// service, and one county is killed with SIGKILL at random moments, at
// least 20 times, and restarted. Afterwards every node converges: for every
// person, every node that holds the person shows the same records, state
// for state, and a county that was never linked to the person holds
// nothing of it.
//
// The workload: persons registered at the origin A (620102) leave for B
// (440305), which registers their arrival and a service; some move on to C
// (330106), whose arrival names B as the previous residence; others return
// home to A. B is the node killed: it writes, receives and answers
// histories, so kills land in every part of the sync path.

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testutil/process_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/wait.h"

namespace tongban {
namespace {

using testutil::kOrigin;     // A
using testutil::kResidence;  // B
using testutil::kThird;      // C
constexpr char kNational[] = "000000";
const std::vector<std::string> kNodes = {kNational, kOrigin, kResidence, kThird};

constexpr int kPersons = 24;
constexpr int kKills = 20;

class FederationKillTest : public testutil::ProcessFederationTest {
 protected:
  FederationKillTest() : ProcessFederationTest(kNodes) {}

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpFederation());
    for (const std::string& n : kNodes) Start(n);
    for (const std::string& n : kNodes) {
      ASSERT_TRUE(WaitReady(n)) << "node " << n << " did not start; see its log";
    }
  }

  // Writes through `code`'s Admin service, retrying while the node is down
  // (the killed one); a refusal of the write itself fails the test.
  void Write(const std::string& code, const storage::RecordChange& c) {
    const v1::WriteRequest r = testutil::WriteRequestOf(c);
    absl::Status last;
    const bool written = testutil::WaitUntil(
        [&]() -> absl::StatusOr<bool> {
          auto clerk = Clerk(code);
          absl::StatusOr<v1::WriteReply> reply = clerk->Write(r);
          if (reply.ok()) return true;
          last = reply.status();
          if (absl::IsUnavailable(last) || absl::IsDeadlineExceeded(last) ||
              absl::IsCancelled(last)) {
            return false;  // the node is down: retry
          }
          return absl::Status(last.code(),
                              absl::StrCat("write refused at ", code, ": ", last.message()));
        },
        absl::Seconds(60), absl::StrCat("a write at ", code));
    if (!written) FAIL() << "write at " << code << " kept failing: " << last;
  }
};

TEST_P(FederationKillTest, NodesConvergeAfterTwentyKillsDuringSync) {
  std::vector<std::string> persons;
  for (int i = 0; i < kPersons; ++i) {
    persons.push_back(testutil::MakeId(kOrigin, "19900101", 100 + i));
  }
  auto movers = [&](int i) { return i % 3 == 0; };     // B, then C
  auto returners = [&](int i) { return i % 3 == 1; };  // B, then home

  std::atomic<bool> work_done{false};
  std::atomic<int> kills{0};
  const uint64_t seed = testutil::TestSeed("the kill timing");
  SCOPED_TRACE(testutil::SeedTrace(seed));
  std::thread killer([&] {
    SCOPED_TRACE(testutil::SeedTrace(seed));
    std::mt19937 rng(static_cast<uint32_t>(seed));
    while (kills < kKills || !work_done) {
      absl::SleepFor(absl::Milliseconds(200 + static_cast<int>(rng() % 1300)));
      Kill(kResidence);
      ++kills;
      absl::SleepFor(absl::Milliseconds(50 + static_cast<int>(rng() % 300)));
      Start(kResidence);
      // Most kills land on a running node; every fourth may land while it
      // starts. Without the wait, a start slower than the interval (under
      // the sanitizers, on a loaded machine) was killed every time and the
      // clerks' writes never got through.
      if (kills % 4 != 0) {
        EXPECT_TRUE(WaitReady(kResidence)) << "B did not start";
      }
      if (kills >= kKills && work_done) break;
    }
  });

  for (int i = 0; i < kPersons; ++i) {
    const std::string& p = persons[i];
    Write(kOrigin, testutil::Basics(p, absl::StrCat("Person ", i)));
    Write(kOrigin, testutil::Outflow(p, kResidence));
    Write(kResidence, testutil::Inflow(p, kOrigin));
    Write(kResidence, testutil::Service(p, kResidence, absl::StrCat("svc-", i)));
  }
  for (int i = 0; i < kPersons; ++i) {
    const std::string& p = persons[i];
    if (movers(i)) {
      storage::RecordChange in = testutil::Inflow(p, kOrigin, "inflow-c");
      in.value.mutable_inflow()->set_previous_residence(kResidence);
      *in.value.mutable_inflow()->mutable_arrived_on() = testutil::Day(2026, 6, 1);
      *in.value.mutable_inflow()->mutable_registered_on() = testutil::Day(2026, 6, 5);
      Write(kThird, in);
      // A later service (the same one on the same day would be flagged as
      // a duplicate before it is written).
      storage::RecordChange svc = testutil::Service(p, kThird, absl::StrCat("svc-c-", i));
      *svc.value.mutable_service()->mutable_delivered_on() = testutil::Day(2026, 6, 10);
      Write(kThird, svc);
    } else if (returners(i)) {
      storage::RecordChange back;
      back.person = p;
      back.kind = v1::RECORD_KIND_RETURN;
      back.record_id = "return-1";
      v1::ReturnRegistration* r = back.value.mutable_return_registration();
      r->set_type(v1::RETURN_TYPE_RETURNED_HOME);
      *r->mutable_effective_on() = testutil::Day(2026, 9, 1);
      r->set_from_county(kResidence);
      Write(kOrigin, back);
    }
  }
  work_done = true;
  killer.join();
  ASSERT_GE(kills.load(), kKills);
  ASSERT_TRUE(WaitReady(kResidence));

  // Convergence: every holder of a person shows the same records.
  std::string mismatch;
  testutil::WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        mismatch.clear();
        for (int i = 0; i < kPersons && mismatch.empty(); ++i) {
          std::vector<std::string> holders = {kNational, kOrigin, kResidence};
          if (movers(i)) holders.push_back(kThird);
          std::map<std::string, std::string> digests;
          for (const std::string& n : holders) {
            absl::StatusOr<std::string> d = Digest(n, persons[i]);
            digests[n] = d.ok() ? *d : absl::StrCat("error: ", d.status().ToString());
          }
          for (const std::string& n : holders) {
            if (digests[n] != digests[kOrigin] || digests[n].empty()) {
              mismatch = absl::StrCat("person ", i, ": node ", n, " shows\n", digests[n],
                                      "origin shows\n", digests[kOrigin]);
              break;
            }
          }
          if (mismatch.empty() && !movers(i)) {
            absl::StatusOr<std::string> c = Digest(kThird, persons[i]);
            if (!c.ok()) return c.status();
            if (!c->empty()) {
              return absl::FailedPreconditionError(
                  absl::StrCat("C was never linked to person ", i, " yet holds records:\n", *c));
            }
          }
        }
        return mismatch.empty();
      },
      absl::Seconds(180), "every holder of a person to show the same records");
  EXPECT_EQ(mismatch, "") << "no convergence after " << kills << " kills";
}

TB_INSTANTIATE_FOR_BOTH_SUITES(FederationKillTest);

}  // namespace
}  // namespace tongban
