#include "storage/audit_log.h"

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/tree.h"
#include "gtest/gtest.h"
#include "storage/keys.h"
#include "tests/testutil/files.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::storage {
namespace {

using crypto::SuiteId;

constexpr char kNode[] = "620102";
constexpr char kAlice[] = "11010519491231002X";
constexpr char kBob[] = "440305199001011234";

class AuditLogTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(std::string storage_key,
                            crypto::RandomBytes(suite().symmetric_key_size()));
    store_options_.path = dir_.File("db");
    store_options_.suite = GetParam();
    store_options_.storage_key = storage_key;
    TB_ASSERT_OK_AND_ASSIGN(key_, suite().GenerateKey());
    Reopen(/*checkpoint_every=*/4);
  }

  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  void Reopen(uint64_t checkpoint_every) {
    log_.reset();
    store_.reset();
    TB_ASSERT_OK_AND_ASSIGN(store_, Store::Open(store_options_));
    AuditLogOptions options;
    options.node_code = kNode;
    options.checkpoint_every = checkpoint_every;
    TB_ASSERT_OK_AND_ASSIGN(log_, AuditLog::Open(store_.get(), key_.get(), &clock_, options));
  }

  static AuditEntry Entry(const std::string& op, const std::string& action,
                          const std::string& person) {
    AuditEntry e;
    e.operator_name = op;
    e.role = "clerk";
    e.action = action;
    e.person = person;
    e.purpose = person.empty() ? "" : "answer an inquiry";
    e.outcome = "OK";
    return e;
  }

  // Appends n entries one second apart: operators alternate li/wang,
  // persons alternate Alice/Bob.
  void AppendMany(int n) {
    for (int i = 0; i < n; ++i) {
      clock_.Advance(absl::Seconds(1));
      TB_ASSERT_OK(log_->Append(
          Entry(i % 2 == 0 ? "li" : "wang", "person.read", i % 2 == 0 ? kAlice : kBob)));
    }
  }

  // The seqs Query() returns, in order.
  std::vector<uint64_t> SeqsOf(const AuditQuery& q) {
    absl::StatusOr<std::vector<AuditEntry>> got = log_->Query(q);
    EXPECT_TRUE(got.ok()) << got.status();
    std::vector<uint64_t> seqs;
    for (const AuditEntry& e : got.value_or(std::vector<AuditEntry>{})) seqs.push_back(e.seq);
    return seqs;
  }

  std::string StoredBytes(uint64_t seq) {
    absl::StatusOr<std::optional<std::string>> v = store_->Get(Cf::kDefault, AuditEntryKey(seq));
    EXPECT_TRUE(v.ok() && v->has_value());
    return v.ok() && v->has_value() ? **v : "";
  }

  void Overwrite(absl::string_view key, absl::string_view value) {
    Batch batch(*store_);
    batch.Put(Cf::kDefault, key, value);
    TB_ASSERT_OK(store_->Commit(batch, true));
  }

  void Remove(absl::string_view key) {
    Batch batch(*store_);
    batch.Delete(Cf::kDefault, key);
    TB_ASSERT_OK(store_->Commit(batch, true));
  }

  // Verify() fails with kDataLoss and a message containing `what`.
  void ExpectDamage(absl::string_view what) {
    absl::StatusOr<AuditVerifyReport> r = log_->Verify(key_->public_key());
    ASSERT_FALSE(r.ok()) << "Verify passed a damaged log";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
    EXPECT_NE(r.status().message().find(what), absl::string_view::npos) << r.status();
  }

  testutil::ScopedTempDir dir_;
  StoreOptions store_options_;
  FakeClock clock_;
  std::unique_ptr<crypto::PrivateKey> key_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<AuditLog> log_;
};

TEST_P(AuditLogTest, AppendAssignsSeqAndTimeAndReadsBack) {
  AuditEntry in = Entry("li", "person.read", kAlice);
  in.seq = 99;  // ignored
  TB_ASSERT_OK_AND_ASSIGN(AuditEntry out, log_->Append(in));
  EXPECT_EQ(out.seq, 1u);
  EXPECT_EQ(out.time, clock_.Now());
  TB_ASSERT_OK_AND_ASSIGN(AuditEntry back, log_->Get(1));
  EXPECT_EQ(back, out);
  EXPECT_EQ(back.person, kAlice);  // the full ID: the store encrypts it at rest
  EXPECT_EQ(log_->size(), 1u);
  EXPECT_EQ(log_->Get(2).status().code(), absl::StatusCode::kNotFound);
}

// The trail names whose data was touched, so it is personal data itself:
// like everything in the store, it never reaches the disk in the clear.
TEST_P(AuditLogTest, EntriesNeverReachDiskInTheClear) {
  AuditEntry e = Entry("li", "person.read", kAlice);
  e.purpose = "PURPOSE-TEXT-FOR-TEST";
  TB_ASSERT_OK(log_->Append(e));
  TB_ASSERT_OK(store_->Flush());
  const std::string all = testutil::AllFileBytes(store_options_.path);
  EXPECT_EQ(all.find(kAlice), std::string::npos);
  EXPECT_EQ(all.find("PURPOSE-TEXT-FOR-TEST"), std::string::npos);
  EXPECT_EQ(all.find("person.read"), std::string::npos);
}

TEST_P(AuditLogTest, InvalidEntriesNameTheFieldAndStoreNothing) {
  AuditEntry e = Entry("li", "person.read", kAlice);
  e.purpose = "";
  absl::Status s = log_->Append(e).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("purpose"), absl::string_view::npos) << s;
  e = Entry("li", "", "");
  s = log_->Append(e).status();
  EXPECT_NE(s.message().find("action is empty"), absl::string_view::npos) << s;
  e = Entry(std::string(65, 'x'), "person.read", "");
  s = log_->Append(e).status();
  EXPECT_NE(s.message().find("operator is 65 bytes"), absl::string_view::npos) << s;
  EXPECT_EQ(log_->size(), 0u);
}

TEST_P(AuditLogTest, AppendAllIsOneAtomicBatch) {
  std::vector<AuditEntry> batch;
  for (int i = 0; i < 6; ++i) batch.push_back(Entry("node:440305", "person.fetch", kBob));
  const uint64_t commits = store_->synced_commits();
  TB_ASSERT_OK_AND_ASSIGN(std::vector<AuditEntry> stored, log_->AppendAll(batch));
  EXPECT_EQ(store_->synced_commits(), commits + 1);
  ASSERT_EQ(stored.size(), 6u);
  EXPECT_EQ(stored.front().seq, 1u);
  EXPECT_EQ(stored.back().seq, 6u);
  TB_ASSERT_OK_AND_ASSIGN(auto cp, log_->LatestCheckpoint());
  TB_ASSERT_OK_AND_ASSIGN(merkle::Checkpoint c,
                          VerifyAuditCheckpoint(*cp, suite(), key_->public_key()));
  EXPECT_EQ(c.tree_size, 6u);  // crossed 4: signed at the batch's end

  batch[2].action = "";
  const absl::Status s = log_->AppendAll(batch).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "entry 3: audit entry: action is empty")) << s;
  EXPECT_EQ(log_->size(), 6u);
  TB_EXPECT_OK(log_->Verify(key_->public_key()));
}

TEST_P(AuditLogTest, OutcomeNamesTheCode) {
  EXPECT_EQ(AuditOutcome(absl::OkStatus()), "OK");
  EXPECT_EQ(AuditOutcome(absl::PermissionDeniedError("not linked")),
            "PERMISSION_DENIED: not linked");
  EXPECT_EQ(AuditOutcome(absl::InternalError(std::string(5000, 'x'))).size(), kAuditMaxLongField);
}

// A clock stepped back must not make seq order and time order disagree.
TEST_P(AuditLogTest, TimeNeverGoesBackwards) {
  AppendMany(1);
  const absl::Time first = clock_.Now();
  clock_.Advance(absl::Hours(-1));
  TB_ASSERT_OK_AND_ASSIGN(AuditEntry e, log_->Append(Entry("li", "person.read", kAlice)));
  EXPECT_EQ(e.time, first);
}

TEST_P(AuditLogTest, ChainContinuesAcrossReopen) {
  AppendMany(6);
  Reopen(4);
  EXPECT_EQ(log_->size(), 6u);
  AppendMany(5);
  TB_ASSERT_OK_AND_ASSIGN(AuditVerifyReport r, log_->Verify(key_->public_key()));
  EXPECT_EQ(r.entries, 11u);
  EXPECT_EQ(r.checkpoints, 2u);  // at 4 and 8
  EXPECT_EQ(r.signed_size, 8u);
}

TEST_P(AuditLogTest, CheckpointsAreSignedEveryNAndOnDemand) {
  TB_ASSERT_OK_AND_ASSIGN(auto none, log_->Checkpoint());
  EXPECT_FALSE(none.has_value());  // empty log: nothing to sign
  AppendMany(5);
  TB_ASSERT_OK_AND_ASSIGN(auto latest, log_->LatestCheckpoint());
  ASSERT_TRUE(latest.has_value());
  TB_ASSERT_OK_AND_ASSIGN(merkle::Checkpoint c,
                          VerifyAuditCheckpoint(*latest, suite(), key_->public_key()));
  EXPECT_EQ(c.tree_size, 4u);
  EXPECT_EQ(c.origin, kNode);

  TB_ASSERT_OK_AND_ASSIGN(auto tail, log_->Checkpoint());
  ASSERT_TRUE(tail.has_value());
  TB_ASSERT_OK_AND_ASSIGN(c, VerifyAuditCheckpoint(*tail, suite(), key_->public_key()));
  EXPECT_EQ(c.tree_size, 5u);
  // Nothing new: the same checkpoint comes back, nothing is signed.
  TB_ASSERT_OK_AND_ASSIGN(auto again, log_->Checkpoint());
  EXPECT_EQ(again->SerializeAsString(), tail->SerializeAsString());
}

// The node's event-log checkpoints and its audit checkpoints share a key;
// neither may pass for the other.
TEST_P(AuditLogTest, AuditCheckpointIsNeverAnEventLogCheckpoint) {
  AppendMany(4);
  TB_ASSERT_OK_AND_ASSIGN(auto sc, log_->LatestCheckpoint());
  ASSERT_TRUE(sc.has_value());
  EXPECT_FALSE(
      merkle::VerifyCheckpoint({sc->body(), sc->signature()}, suite(), key_->public_key()).ok());
  // And a wrong key or a changed byte is refused.
  TB_ASSERT_OK_AND_ASSIGN(auto other, suite().GenerateKey());
  EXPECT_EQ(VerifyAuditCheckpoint(*sc, suite(), other->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::SignedCheckpoint bent = *sc;
  bent.mutable_body()->back() ^= 1;
  EXPECT_FALSE(VerifyAuditCheckpoint(bent, suite(), key_->public_key()).ok());
}

TEST_P(AuditLogTest, QueryByTimeOperatorPersonWithLimitAndPaging) {
  const absl::Time t0 = clock_.Now();
  AppendMany(10);  // entry i at t0 + i seconds; odd seqs li/Alice, even wang/Bob
  using Seqs = std::vector<uint64_t>;
  AuditQuery q;
  q.from = t0 + absl::Seconds(3);
  q.to = t0 + absl::Seconds(7);
  EXPECT_EQ(SeqsOf(q), (Seqs{3, 4, 5, 6}));
  q.operator_name = "li";
  EXPECT_EQ(SeqsOf(q), (Seqs{3, 5}));

  AuditQuery by_person;
  by_person.person = kBob;
  by_person.limit = 3;
  EXPECT_EQ(SeqsOf(by_person), (Seqs{2, 4, 6}));
  by_person.cursor = 6;
  EXPECT_EQ(SeqsOf(by_person), (Seqs{8, 10}));

  AuditQuery newest;
  newest.newest_first = true;
  newest.limit = 2;
  newest.person = kAlice;
  EXPECT_EQ(SeqsOf(newest), (Seqs{9, 7}));
  newest.cursor = 7;
  newest.person.reset();
  EXPECT_EQ(SeqsOf(newest), (Seqs{6, 5}));

  AuditQuery mismatch;
  mismatch.person = kAlice;
  mismatch.operator_name = "wang";
  EXPECT_EQ(SeqsOf(mismatch), Seqs{});

  AuditQuery bad;
  bad.limit = 0;
  EXPECT_EQ(log_->Query(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

// Concurrent callers (several Admin calls at once) get dense seqs and one
// unbroken chain.
TEST_P(AuditLogTest, ConcurrentAppendsKeepOneChain) {
  Reopen(/*checkpoint_every=*/7);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        if (!log_->Append(Entry(absl::StrCat("op", t), "record.write", kAlice)).ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  TB_ASSERT_OK_AND_ASSIGN(AuditVerifyReport r, log_->Verify(key_->public_key()));
  EXPECT_EQ(r.entries, 80u);
  EXPECT_EQ(r.signed_size, 77u);
  AuditQuery q;
  q.operator_name = "op2";
  EXPECT_EQ(SeqsOf(q).size(), 20u);
}

TEST_P(AuditLogTest, VerifyPassesAnIntactLog) {
  AppendMany(9);
  TB_ASSERT_OK_AND_ASSIGN(AuditVerifyReport r, log_->Verify(key_->public_key()));
  EXPECT_EQ(r.entries, 9u);
  EXPECT_EQ(r.checkpoints, 2u);
}

TEST_P(AuditLogTest, VerifyNamesAnEditedEntry) {
  AppendMany(9);
  std::string bytes = StoredBytes(5);
  const size_t at = bytes.find("answer an inquiry");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'A';  // same length, still decodes
  Overwrite(AuditEntryKey(5), bytes);
  ExpectDamage("audit entry 5: changed since it was appended");
}

// An attacker who edits an entry and also the leaf hash recorded for it is
// caught by the next entry's link.
TEST_P(AuditLogTest, VerifyCatchesAnEditWithItsLeafRewritten) {
  AppendMany(9);
  std::string bytes = StoredBytes(5);
  bytes[bytes.size() - 1] = 'X';  // the outcome's last byte
  Overwrite(AuditEntryKey(5), bytes);
  std::unique_ptr<crypto::Hasher> h = suite().NewHasher();
  Overwrite(AuditNodeKey({0, 4}), crypto::AsStringView(merkle::LeafHash(*h, bytes)));
  ExpectDamage("audit entry 6: does not link to the hash of entry 5");
}

TEST_P(AuditLogTest, VerifyNamesADeletedEntry) {
  AppendMany(9);
  Remove(AuditEntryKey(4));
  ExpectDamage("audit entry 4: missing (deleted)");
}

TEST_P(AuditLogTest, VerifyNamesDeletedNewestEntries) {
  AppendMany(9);
  Remove(AuditEntryKey(9));
  ExpectDamage("audit entries 9 to 9 are missing");
}

TEST_P(AuditLogTest, VerifyNamesReorderedEntries) {
  AppendMany(9);
  const std::string three = StoredBytes(3);
  const std::string seven = StoredBytes(7);
  Overwrite(AuditEntryKey(3), seven);
  Overwrite(AuditEntryKey(7), three);
  ExpectDamage("audit entry 3: holds the bytes of entry 7");
}

TEST_P(AuditLogTest, VerifyCatchesAForgedCheckpointAndATamperedTree) {
  AppendMany(8);
  absl::StatusOr<std::optional<std::string>> cp = store_->Get(Cf::kDefault, AuditCheckpointKey(4));
  ASSERT_TRUE(cp.ok() && cp->has_value());
  v1::SignedCheckpoint sc;
  ASSERT_TRUE(sc.ParseFromString(**cp));
  sc.mutable_signature()->front() ^= 1;
  Overwrite(AuditCheckpointKey(4), sc.SerializeAsString());
  absl::StatusOr<AuditVerifyReport> r = log_->Verify(key_->public_key());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("audit checkpoint at size 4"), absl::string_view::npos)
      << r.status();
  Overwrite(AuditCheckpointKey(4), **cp);
  TB_ASSERT_OK(log_->Verify(key_->public_key()));

  Overwrite(AuditNodeKey({2, 1}), std::string(32, '\0'));  // leaves 5..8
  ExpectDamage("audit entry 8: the stored tree node level 2 index 1");
}

// A witness checks that the log only grew, from hashes alone.
TEST_P(AuditLogTest, ProofsVerifyAgainstSignedCheckpoints) {
  AppendMany(4);
  TB_ASSERT_OK_AND_ASSIGN(auto old_sc, log_->LatestCheckpoint());
  AppendMany(3);
  TB_ASSERT_OK_AND_ASSIGN(auto new_sc, log_->Checkpoint());
  TB_ASSERT_OK_AND_ASSIGN(merkle::Checkpoint old_c,
                          VerifyAuditCheckpoint(*old_sc, suite(), key_->public_key()));
  TB_ASSERT_OK_AND_ASSIGN(merkle::Checkpoint new_c,
                          VerifyAuditCheckpoint(*new_sc, suite(), key_->public_key()));
  ASSERT_EQ(new_c.tree_size, 7u);
  std::unique_ptr<crypto::Hasher> h = suite().NewHasher();
  TB_ASSERT_OK_AND_ASSIGN(auto consistency, log_->ConsistencyProof(4, 7));
  TB_EXPECT_OK(merkle::VerifyConsistency(*h, 4, 7, old_c.root, new_c.root, consistency));
  TB_ASSERT_OK_AND_ASSIGN(merkle::Checkpoint grown, VerifyAuditGrowth(*old_sc, *new_sc, consistency,
                                                                      suite(), key_->public_key()));
  EXPECT_EQ(grown.tree_size, 7u);
  TB_ASSERT_OK_AND_ASSIGN(auto inclusion, log_->InclusionProof(6, 7));
  TB_EXPECT_OK(merkle::VerifyInclusion(*h, 5, 7, merkle::LeafHash(*h, StoredBytes(6)), inclusion,
                                       new_c.root));
  EXPECT_EQ(log_->ConsistencyProof(4, 8).status().code(), absl::StatusCode::kInvalidArgument);
}

// A node that rewrites its trail and signs the new version with its own
// key is caught by a witness holding an older checkpoint.
TEST_P(AuditLogTest, WitnessCatchesARewrittenTrail) {
  AppendMany(4);
  TB_ASSERT_OK_AND_ASSIGN(auto witnessed, log_->LatestCheckpoint());
  // The same node and key, a history whose entry 2 differs.
  testutil::ScopedTempDir other_dir;
  StoreOptions other_options = store_options_;
  other_options.path = other_dir.File("db");
  TB_ASSERT_OK_AND_ASSIGN(auto other_store, Store::Open(other_options));
  AuditLogOptions options;
  options.node_code = kNode;
  TB_ASSERT_OK_AND_ASSIGN(auto rewritten,
                          AuditLog::Open(other_store.get(), key_.get(), &clock_, options));
  for (int i = 0; i < 7; ++i) {
    TB_ASSERT_OK(rewritten->Append(Entry("li", i == 1 ? "nothing.here" : "person.read", kAlice)));
  }
  TB_ASSERT_OK_AND_ASSIGN(auto forged, rewritten->Checkpoint());
  TB_ASSERT_OK(VerifyAuditCheckpoint(*forged, suite(), key_->public_key()).status());
  TB_ASSERT_OK_AND_ASSIGN(auto proof, rewritten->ConsistencyProof(4, 7));
  const absl::Status s =
      VerifyAuditGrowth(*witnessed, *forged, proof, suite(), key_->public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "did not only grow")) << s;
}

TEST_P(AuditLogTest, EntryBytesDecodeStrictly) {
  AuditEntry e = Entry("li", "person.read", kAlice);
  e.seq = 3;
  e.time = absl::FromUnixMicros(1796083200123456);
  crypto::Digest prev{};
  prev[0] = 7;
  const std::string bytes = EncodeAuditEntry(e, prev);
  TB_ASSERT_OK_AND_ASSIGN(DecodedAuditEntry d, DecodeAuditEntry(bytes));
  EXPECT_EQ(d.entry, e);
  EXPECT_EQ(d.prev, prev);
  EXPECT_EQ(DecodeAuditEntry(bytes + "x").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeAuditEntry(bytes.substr(0, bytes.size() - 1)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_FALSE(DecodeAuditEntry("").ok());
}

TEST_P(AuditLogTest, OpenRefusesAKeyOfTheOtherSuite) {
  const SuiteId other = GetParam() == SuiteId::kIntl ? SuiteId::kGm : SuiteId::kIntl;
  TB_ASSERT_OK_AND_ASSIGN(auto key, crypto::GetSuite(other).GenerateKey());
  AuditLogOptions options;
  options.node_code = kNode;
  EXPECT_EQ(AuditLog::Open(store_.get(), key.get(), &clock_, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(AuditLogTest);

}  // namespace
}  // namespace tongban::storage
