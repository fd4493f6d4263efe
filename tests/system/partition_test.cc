// Separate tongband processes (a national node N and two counties, the
// origin A and the residence B) whose every link runs through a
// fault-injecting TCP proxy of the test's own (tests/testutil/tcp_proxy.h:
// each node reaches each other node through a proxy of that pair, named in
// a roster of its own). Clerks write on both sides while the federation is
// partitioned several ways, one after another:
//
//   1. A cut off from everyone (its links to N and B, and B's to A, hold);
//   2. N cut off from both counties, which still reach each other;
//   3. one-way: A's requests reach N but N's answers to A vanish, and B's
//      requests to N vanish while N's answers would pass;
//   4. every connection reset again and again;
//   5. slow links (every chunk 150 ms late).
//
// Then every link heals, and the federation must converge: for every
// person, the national node and both counties show the same records, state
// for state: every acknowledged write present, nothing twice.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
using testutil::TcpProxy;
constexpr char kNational[] = "000000";

class PartitionTest : public testutil::ProcessFederationTest {
 protected:
  PartitionTest() : ProcessFederationTest({kNational, kOrigin, kResidence}) {}

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpFederation());
    ASSERT_NO_FATAL_FAILURE(RouteThroughProxies());
    for (const std::string& n : nodes_) Start(n);
    for (const std::string& n : nodes_) {
      ASSERT_TRUE(WaitReady(n)) << "node " << n << " did not start; see its log";
    }
  }

  // A clerk's write at `code`, which a partition must never refuse: every
  // node writes its own records alone.
  void Write(const std::string& code, const storage::RecordChange& c) {
    absl::StatusOr<v1::WriteReply> reply = Clerk(code)->Write(testutil::WriteRequestOf(c));
    ASSERT_TRUE(reply.ok()) << "write at " << code << ": " << reply.status();
  }

  // Person n's story so far: registered at A, leaves for B, arrives there
  // and is served.
  void Story(int n) {
    const std::string p = testutil::MakeId(kOrigin, "19900101", 100 + n);
    persons_.push_back(p);
    ASSERT_NO_FATAL_FAILURE(Write(kOrigin, testutil::Basics(p, absl::StrCat("Person ", n))));
    ASSERT_NO_FATAL_FAILURE(Write(kOrigin, testutil::Outflow(p, kResidence)));
    ASSERT_NO_FATAL_FAILURE(Write(kResidence, testutil::Inflow(p, kOrigin)));
    ASSERT_NO_FATAL_FAILURE(
        Write(kResidence, testutil::Service(p, kResidence, absl::StrCat("svc-", n))));
  }

  // Stories written while the partition of the moment lasts.
  void WriteFor(absl::Duration d) {
    const absl::Time end = absl::Now() + d;
    while (absl::Now() < end) {
      ASSERT_NO_FATAL_FAILURE(Story(next_++));
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

  std::vector<std::string> persons_;
  int next_ = 0;
};

TB_INSTANTIATE_FOR_BOTH_SUITES(PartitionTest);

TEST_P(PartitionTest, TheFederationConvergesAfterPartitionsOfEveryKind) {
  constexpr absl::Duration kPhase = absl::Seconds(4);
  ASSERT_NO_FATAL_FAILURE(WriteFor(absl::Seconds(1)));

  // 1. A cut off from everyone: nothing A writes meanwhile leaves it.
  Link(kOrigin, kNational).Set(TcpProxy::Flow::kHold);
  Link(kOrigin, kResidence).Set(TcpProxy::Flow::kHold);
  Link(kResidence, kOrigin).Set(TcpProxy::Flow::kHold);
  size_t first = persons_.size();
  ASSERT_NO_FATAL_FAILURE(WriteFor(kPhase));
  for (size_t i = first; i < persons_.size(); ++i) {
    for (const std::string& n : {std::string(kNational), std::string(kResidence)}) {
      EXPECT_FALSE(absl::StrContains(Digest(n, persons_[i]).value_or(""), " 620102:"))
          << "an event A wrote while cut off reached " << n;
    }
  }
  HealAll();

  // 2. The national node cut off: it gets nothing meanwhile, and A's
  // records of a person who moved reach B directly.
  Link(kOrigin, kNational).Set(TcpProxy::Flow::kHold);
  Link(kResidence, kNational).Set(TcpProxy::Flow::kHold);
  first = persons_.size();
  ASSERT_NO_FATAL_FAILURE(WriteFor(kPhase));
  EXPECT_TRUE(testutil::WaitUntil(
      [&] {
        return absl::StrContains(Digest(kResidence, persons_[first]).value_or(""), " 620102:");
      },
      absl::Seconds(10), "A's records to reach B without the national node"));
  for (size_t i = first; i < persons_.size(); ++i) {
    EXPECT_EQ(Digest(kNational, persons_[i]).value_or("error"), "")
        << "the national node got records while cut off";
  }
  HealAll();

  // 3. One-way partitions.
  Link(kOrigin, kNational).SetBackward(TcpProxy::Flow::kHold);
  Link(kResidence, kNational).SetForward(TcpProxy::Flow::kHold);
  ASSERT_NO_FATAL_FAILURE(WriteFor(kPhase));
  HealAll();

  // 4. Resets, again and again.
  const absl::Time end = absl::Now() + kPhase;
  while (absl::Now() < end) {
    ASSERT_NO_FATAL_FAILURE(Story(next_++));
    for (const auto& from : nodes_) {
      for (const auto& to : nodes_) {
        if (from != to) Link(from, to).Reset();
      }
    }
    absl::SleepFor(absl::Milliseconds(300));
  }

  // 5. Slow links.
  for (const auto& from : nodes_) {
    for (const auto& to : nodes_) {
      if (from == to) continue;
      Link(from, to).SetSlowDelay(absl::Milliseconds(150));
      Link(from, to).Set(TcpProxy::Flow::kSlow);
    }
  }
  ASSERT_NO_FATAL_FAILURE(WriteFor(kPhase));
  HealAll();

  // Healed: every holder of a person shows the same records (each
  // person's four writes, at A and B, are in every digest).
  std::string mismatch;
  const bool converged = testutil::WaitUntil(
      [&] {
        mismatch.clear();
        for (size_t i = 0; i < persons_.size(); ++i) {
          std::string digests[3];
          const std::string holders[3] = {kNational, kOrigin, kResidence};
          for (int h = 0; h < 3; ++h) {
            absl::StatusOr<std::string> d = Digest(holders[h], persons_[i]);
            digests[h] = d.ok() ? *d : absl::StrCat("error: ", d.status().ToString());
          }
          if (digests[1].empty() || digests[0] != digests[1] || digests[2] != digests[1]) {
            mismatch = absl::StrCat("person ", i, ": national shows\n", digests[0], "A shows\n",
                                    digests[1], "B shows\n", digests[2]);
            return false;
          }
        }
        return true;
      },
      absl::Seconds(120), "every holder of a person to show the same records");
  EXPECT_TRUE(converged) << mismatch;
  EXPECT_GE(persons_.size(), 40u);
  // The proxies carried the sessions: every pair of nodes that exchanged
  // data had connections through its link.
  EXPECT_GT(Link(kOrigin, kNational).accepted(), 1u);
  EXPECT_GT(Link(kResidence, kNational).accepted(), 1u);
}

}  // namespace
}  // namespace tongban
