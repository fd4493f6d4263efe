// Issue #14: a peer repeating refused requests must not grow the audit log
// at will, and the trail must still show the first refusal of each kind and
// every distinct person asked about.
#include "storage/refusal_audit.h"

#include "absl/strings/match.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "gtest/gtest.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::storage {
namespace {

using crypto::SuiteId;

constexpr char kAlice[] = "11010519491231002X";
constexpr char kBob[] = "440305199001011234";

class RefusalAuditTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    const crypto::Suite& suite = crypto::GetSuite(GetParam());
    StoreOptions so;
    so.path = dir_.File("db");
    so.suite = GetParam();
    TB_ASSERT_OK_AND_ASSIGN(so.storage_key, crypto::RandomBytes(suite.symmetric_key_size()));
    TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(so));
    TB_ASSERT_OK_AND_ASSIGN(key_, suite.GenerateKey());
    AuditLogOptions ao;
    ao.node_code = "620102";
    TB_ASSERT_OK_AND_ASSIGN(log_, AuditLog::Open(store_.get(), key_.get(), &clock_, ao));
    RefusalAuditOptions ro;
    ro.interval = absl::Hours(1);
    ro.max_persons = 3;
    refusals_ = std::make_unique<RefusalAudit>(log_.get(), &clock_, ro);
  }

  absl::Status Refuse(const std::string& peer, const std::string& person,
                      const std::string& action = "person.fetch") {
    clock_.Advance(absl::Seconds(1));
    return refusals_->Refused(PeerAuditEntry(peer, action, person, "backfill after linking",
                                             absl::PermissionDeniedError("not linked")));
  }

  std::vector<AuditEntry> All() {
    AuditQuery q;
    q.limit = 10000;
    auto got = log_->Query(q);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.value_or(std::vector<AuditEntry>{});
  }

  FakeClock clock_;
  testutil::ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<crypto::PrivateKey> key_;
  std::unique_ptr<AuditLog> log_;
  std::unique_ptr<RefusalAudit> refusals_;
};

TEST_P(RefusalAuditTest, RepeatsOfOnePeerAreOneCountEntryPerInterval) {
  for (int i = 0; i < 200; ++i) TB_ASSERT_OK(Refuse("440305", kAlice));
  // The first refusal is written at once, in full.
  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].operator_name, "node:440305");
  EXPECT_EQ(entries[0].person, kAlice);
  EXPECT_TRUE(absl::StartsWith(entries[0].outcome, "PERMISSION_DENIED")) << entries[0].outcome;
  EXPECT_EQ(refusals_->repeats(), 199u);
  // Still within the interval: a flush of ended intervals writes nothing.
  TB_ASSERT_OK(refusals_->Flush());
  EXPECT_EQ(All().size(), 1u);
  // The interval ends: one entry counts them all, from when to when.
  clock_.Advance(absl::Hours(1));
  TB_ASSERT_OK(refusals_->Flush());
  entries = All();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].operator_name, "node:440305");
  EXPECT_EQ(entries[1].action, "person.fetch");
  EXPECT_EQ(entries[1].outcome, entries[0].outcome);
  EXPECT_TRUE(entries[1].person.empty());
  EXPECT_TRUE(absl::StrContains(entries[1].purpose, "200 in all about 1 person"))
      << entries[1].purpose;
  // The next interval starts with a full entry again.
  TB_ASSERT_OK(Refuse("440305", kAlice));
  EXPECT_EQ(All().size(), 3u);
}

TEST_P(RefusalAuditTest, EveryDistinctPersonAndKindHasItsOwnEntry) {
  TB_ASSERT_OK(Refuse("440305", kAlice));
  TB_ASSERT_OK(Refuse("440305", kBob));
  TB_ASSERT_OK(Refuse("440305", kAlice));                  // a repeat
  TB_ASSERT_OK(Refuse("330106", kAlice));                  // another peer
  TB_ASSERT_OK(Refuse("440305", kAlice, "person.where"));  // another action
  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 4u);
  // A query by person finds every peer that asked about her.
  AuditQuery q;
  q.person = kBob;
  TB_ASSERT_OK_AND_ASSIGN(auto bob, log_->Query(q));
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(bob[0].operator_name, "node:440305");
  // At shutdown every open kind with repeats gets its count entry.
  TB_ASSERT_OK(refusals_->Flush(/*all=*/true));
  entries = All();
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_TRUE(absl::StrContains(entries[4].purpose, "3 in all about 2 persons"))
      << entries[4].purpose;
}

// Memory stays bounded: reaching max_persons (3 here) ends the interval.
TEST_P(RefusalAuditTest, ManyPersonsCloseTheIntervalEarly) {
  const std::string persons[] = {kAlice, kBob, "620102198001010011", "620102198001010038"};
  TB_ASSERT_OK(Refuse("440305", persons[0]));
  TB_ASSERT_OK(Refuse("440305", persons[0]));
  TB_ASSERT_OK(Refuse("440305", persons[1]));
  TB_ASSERT_OK(Refuse("440305", persons[2]));
  EXPECT_EQ(All().size(), 3u);
  TB_ASSERT_OK(Refuse("440305", persons[3]));  // closes the first interval, opens another
  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_TRUE(absl::StrContains(entries[3].purpose, "4 in all about 3 persons"))
      << entries[3].purpose;
  EXPECT_EQ(entries[4].person, persons[3]);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(RefusalAuditTest);

}  // namespace
}  // namespace tongban::storage
