#include "sync/verify.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/tree.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "sync/signing_keys.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::sync {
namespace {

using crypto::SuiteId;
using storage::LogId;
using testutil::kOrigin;
using testutil::kResidence;

constexpr absl::Duration kWait = absl::Seconds(30);
constexpr char kAddress[] = "Lanzhou test address";

// A receiver's copy of one origin's log, in memory: what the applier would
// read from its store, and what it would write after a verified batch.
struct Receiver {
  bool contiguous = false;
  uint64_t applied = 0;
  std::optional<v1::SignedCheckpoint> checkpoint;
  std::optional<merkle::Frontier> frontier;
  std::map<uint64_t, std::string> bodies;
  bool frozen = false;
  std::optional<uint64_t> closed_at;
  std::vector<storage::KeyRotationEntry> rotations;

  ReceiverLog View() const {
    ReceiverLog v;
    v.rotations = rotations;
    v.applied = applied;
    v.checkpoint = checkpoint;
    v.frozen = frozen;
    v.closed_at = closed_at;
    v.contiguous = contiguous;
    v.frontier = frontier;
    v.stored_body = [this](uint64_t seq) -> absl::StatusOr<std::string> {
      auto it = bodies.find(seq);
      if (it == bodies.end()) return absl::NotFoundError("not stored");
      return it->second;
    };
    return v;
  }

  void Apply(const VerifiedBatch& v) {
    for (const storage::RemoteEvent& e : v.batch.events) bodies[e.seq] = e.body;
    if (v.batch.checkpoint.has_value()) checkpoint = v.batch.checkpoint;
    applied = v.batch.cursor;
    if (contiguous) frontier = v.frontier;
    rotations.insert(rotations.end(), v.batch.key_rotations.begin(), v.batch.key_rotations.end());
  }
};

// An origin's real log: a store and a Writer appending to it.
struct OriginLog {
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<storage::Writer> writer;
  const LogId& log() const { return writer->log(); }
};

template <typename T>
T ValueOr(absl::StatusOr<T> s, const char* what) {
  EXPECT_TRUE(s.ok()) << what << ": " << s.status();
  if (!s.ok()) return T{};
  return *std::move(s);
}

bool Tamper(std::string* body) {
  const size_t at = body->find(kAddress);
  if (at == std::string::npos) return false;
  (*body)[at] = 'l';  // still parses; only its hash changes
  return true;
}

class VerifyTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(key_, suite().GenerateKey());
    roster_[{kOrigin, key_->public_key().KeyId()}] = &key_->public_key();
    OpenOrigin(&a_, "a");
    verifier_ = std::make_unique<BatchVerifier>(
        suite(),
        [this](absl::string_view origin, absl::string_view key_id) -> const crypto::PublicKey* {
          auto it = roster_.find({std::string(origin), std::string(key_id)});
          return it == roster_.end() ? nullptr : it->second;
        });
  }

  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  // A store with a Writer of origin kOrigin signing with key_.
  void OpenOrigin(OriginLog* o, const std::string& name) {
    storage::StoreOptions so;
    so.path = dir_.File(name);
    so.suite = GetParam();
    TB_ASSERT_OK_AND_ASSIGN(so.storage_key, crypto::RandomBytes(suite().symmetric_key_size()));
    TB_ASSERT_OK_AND_ASSIGN(o->store, storage::Store::Open(so));
    storage::WriterOptions wo;
    wo.node = kOrigin;
    TB_ASSERT_OK_AND_ASSIGN(o->writer,
                            storage::Writer::Open(o->store.get(), key_.get(), wo, &clock_));
  }

  // Appends `n` person records one at a time, so that every tree size has a
  // checkpoint of its own.
  void Append(OriginLog& o, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string id = NewPerson();
      TB_ASSERT_OK_AND_ASSIGN(storage::Appended a, o.writer->Append(testutil::Basics(id, "N")));
      TB_ASSERT_OK(o.writer->WaitForCheckpoint(a.id.seq(), kWait));
    }
  }

  std::string NewPerson() {
    ids_.push_back(testutil::MakeId(kOrigin, "19800101", static_cast<int>(ids_.size())));
    return ids_.back();
  }

  v1::SignedCheckpoint CheckpointAt(OriginLog& o, uint64_t size) {
    auto cp = o.store->GetCheckpoint(o.log(), size);
    EXPECT_TRUE(cp.ok() && cp->has_value()) << "no checkpoint at size " << size;
    return cp.ok() && cp->has_value() ? **cp : v1::SignedCheckpoint();
  }

  merkle::Checkpoint Parsed(const v1::SignedCheckpoint& sc) {
    return ValueOr(merkle::ParseCheckpoint(sc.body()), "checkpoint");
  }

  std::string Body(OriginLog& o, uint64_t seq) {
    return ValueOr(o.store->GetEvent(o.log(), seq), "event");
  }

  // Adds the consistency proof between `held` (the receiver's tree size)
  // and the batch's tree size, from `o`'s tree.
  void AddConsistency(OriginLog& o, uint64_t held, uint64_t size, v1::Batch* b) {
    std::unique_ptr<crypto::Hasher> h = suite().NewHasher();
    const auto proof =
        ValueOr(merkle::ConsistencyProof(*h, std::min(held, size), std::max(held, size),
                                         o.store->NodeReaderFor(o.log())),
                "consistency proof");
    b->set_consistency_from(held);
    for (const crypto::Digest& d : proof) b->add_consistency(std::string(crypto::AsStringView(d)));
  }

  // Events first..size of `o` with the checkpoint at `size`.
  v1::Batch Contiguous(OriginLog& o, uint64_t first, uint64_t size) {
    v1::Batch b;
    b.set_origin(kOrigin);
    b.set_epoch(1);
    b.set_contiguous(true);
    for (uint64_t seq = first; seq <= size; ++seq) {
      v1::Event* e = b.add_events();
      e->set_seq(seq);
      e->set_body(Body(o, seq));
    }
    *b.mutable_checkpoint() = CheckpointAt(o, size);
    return b;
  }

  // Events `seqs` of `o` with their batch inclusion proof against the
  // checkpoint at `size`.
  v1::Batch Routed(OriginLog& o, const std::vector<uint64_t>& seqs, uint64_t size) {
    std::unique_ptr<crypto::Hasher> h = suite().NewHasher();
    v1::Batch b;
    b.set_origin(kOrigin);
    b.set_epoch(1);
    std::vector<uint64_t> leaves;
    for (uint64_t seq : seqs) {
      v1::Event* e = b.add_events();
      e->set_seq(seq);
      e->set_body(Body(o, seq));
      leaves.push_back(seq - 1);
    }
    if (!leaves.empty()) {
      const auto proof =
          ValueOr(merkle::BatchInclusionProof(*h, leaves, size, o.store->NodeReaderFor(o.log())),
                  "batch inclusion proof");
      for (const crypto::Digest& d : proof) b.add_inclusion(std::string(crypto::AsStringView(d)));
    }
    *b.mutable_checkpoint() = CheckpointAt(o, size);
    return b;
  }

  // A checkpoint over `leaves` (exact bytes) signed by key_ for kOrigin:
  // an origin that signs whatever it likes.
  v1::SignedCheckpoint SignLeaves(const std::vector<std::string>& leaves) {
    std::unique_ptr<crypto::Hasher> h = suite().NewHasher();
    std::vector<crypto::Digest> hashes;
    for (const std::string& l : leaves) hashes.push_back(merkle::LeafHash(*h, l));
    merkle::Checkpoint c;
    c.suite = GetParam();
    c.origin = kOrigin;
    c.epoch = 1;
    c.tree_size = leaves.size();
    c.root = merkle::RootOfLeaves(*h, hashes);
    c.time_micros = 1796083200000000;
    c.key_id = key_->public_key().KeyId();
    return Resign(c, *key_);
  }

  static v1::SignedCheckpoint Resign(const merkle::Checkpoint& c, const crypto::PrivateKey& key) {
    std::unique_ptr<crypto::Signer> signer = key.NewSigner();
    const merkle::SignedCheckpoint sc =
        ValueOr(merkle::SignCheckpoint(c, *signer), "sign checkpoint");
    v1::SignedCheckpoint out;
    out.set_body(sc.body);
    out.set_signature(sc.signature);
    return out;
  }

  absl::StatusOr<VerifiedBatch> Verify(const v1::Batch& b, const Receiver& r,
                                       Equivocation* evidence = nullptr) {
    return verifier_->Verify(b, r.View(), kOrigin, evidence);
  }

  // Accepts `b` into `r`; returns what was verified.
  VerifiedBatch Accept(const v1::Batch& b, Receiver& r) {
    absl::StatusOr<VerifiedBatch> v = Verify(b, r);
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok()) return VerifiedBatch();
    r.Apply(*v);
    return *std::move(v);
  }

  // A rejection produces no RemoteBatch, names its reason, and carries no
  // person ID in its message.
  void ExpectRejected(const absl::StatusOr<VerifiedBatch>& v, v1::RejectReason reason,
                      absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
    ASSERT_FALSE(v.ok()) << "accepted; want " << v1::RejectReason_Name(reason);
    EXPECT_EQ(RejectReasonOf(v.status()), reason)
        << v1::RejectReason_Name(RejectReasonOf(v.status())) << ": " << v.status();
    EXPECT_EQ(v.status().code(), code) << v.status();
    for (const std::string& id : ids_) {
      EXPECT_EQ(v.status().message().find(id), absl::string_view::npos) << v.status();
    }
  }

  testutil::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<crypto::PrivateKey> key_;
  std::map<std::pair<std::string, std::string>, const crypto::PublicKey*> roster_;
  OriginLog a_;
  std::vector<std::string> ids_;  // every person ID written, in seq order of a_
  std::unique_ptr<BatchVerifier> verifier_;
};

// The national node receives a whole log: it recomputes the root from its
// own tree plus the new leaves, and keeps the stored-level nodes.
TEST_P(VerifyTest, ContiguousBatchIsAcceptedAndRootMatches) {
  std::vector<storage::RecordChange> changes;
  for (int i = 0; i < 40; ++i) changes.push_back(testutil::Basics(NewPerson(), "N"));
  for (const auto& r : a_.writer->AppendAll(changes)) ASSERT_TRUE(r.ok()) << r.status();
  TB_ASSERT_OK(a_.writer->WaitForCheckpoint(40, kWait));
  TB_ASSERT_OK_AND_ASSIGN(auto latest, a_.store->LatestCheckpoint(a_.log()));
  ASSERT_TRUE(latest.has_value());
  ASSERT_EQ(Parsed(*latest).tree_size, 40u);

  Receiver national;
  national.contiguous = true;
  const v1::Batch batch = Contiguous(a_, 1, 40);
  TB_ASSERT_OK_AND_ASSIGN(VerifiedBatch v, Verify(batch, national));
  const storage::RemoteBatch& rb = v.batch;
  EXPECT_EQ(rb.log, (LogId{kOrigin, 1}));
  EXPECT_EQ(rb.from_peer, kOrigin);
  ASSERT_EQ(rb.events.size(), 40u);
  for (size_t i = 0; i < rb.events.size(); ++i) {
    EXPECT_EQ(rb.events[i].seq, i + 1);
    EXPECT_EQ(rb.events[i].body, batch.events(i).body());
    EXPECT_EQ(rb.events[i].parsed.seq(), i + 1);
    EXPECT_EQ(rb.events[i].parsed.origin(), kOrigin);
    EXPECT_EQ(rb.events[i].parsed.person(), ids_[i]);
  }
  ASSERT_TRUE(rb.checkpoint.has_value());
  EXPECT_EQ(rb.checkpoint->body(), latest->body());
  EXPECT_EQ(rb.checkpoint_size, 40u);
  EXPECT_EQ(rb.cursor, 40u);
  std::unique_ptr<crypto::Hasher> h = suite().NewHasher();
  ASSERT_TRUE(v.frontier.has_value());
  EXPECT_EQ(v.frontier->size(), 40u);
  EXPECT_EQ(v.frontier->Root(*h), Parsed(*latest).root);
  // Stored levels only: the two complete level-4 subtrees, as the origin
  // stored them.
  ASSERT_EQ(rb.tree_nodes.size(), 2u);
  for (const auto& [id, digest] : rb.tree_nodes) {
    EXPECT_TRUE(storage::IsStoredLevel(id.level));
    TB_ASSERT_OK_AND_ASSIGN(crypto::Digest want, a_.store->GetNode(a_.log(), id));
    EXPECT_EQ(digest, want);
  }
  national.Apply(v);

  // The next batch extends the receiver's tree; no consistency proof is
  // needed because the receiver recomputes the root itself.
  Append(a_, 5);
  TB_ASSERT_OK_AND_ASSIGN(VerifiedBatch next, Verify(Contiguous(a_, 41, 45), national));
  EXPECT_EQ(next.batch.events.size(), 5u);
  EXPECT_EQ(next.batch.cursor, 45u);
  EXPECT_EQ(next.batch.checkpoint_size, 45u);
  EXPECT_EQ(next.frontier->Root(*h), Parsed(CheckpointAt(a_, 45)).root);

  // The same with the receiver's tree read through a NodeReader (here the
  // origin's store holds the same log) and a consistency proof supplied.
  Receiver reader_based = national;
  reader_based.frontier.reset();
  ReceiverLog view = reader_based.View();
  view.tree = a_.store->NodeReaderFor(a_.log());
  v1::Batch with_proof = Contiguous(a_, 41, 45);
  AddConsistency(a_, 40, 45, &with_proof);
  TB_ASSERT_OK_AND_ASSIGN(VerifiedBatch again, verifier_->Verify(with_proof, view, kOrigin));
  EXPECT_EQ(again.batch.events.size(), 5u);
  EXPECT_EQ(again.frontier->Root(*h), next.frontier->Root(*h));
}

// A county gets the events routed to it, each with an inclusion proof; the
// watermark moves its cursor, but never past the signed tree size.
TEST_P(VerifyTest, RoutedSubsetWithInclusionProofsIsAccepted) {
  Append(a_, 8);
  Receiver county;
  TB_ASSERT_OK_AND_ASSIGN(VerifiedBatch v, Verify(Routed(a_, {2, 5, 7}, 8), county));
  ASSERT_EQ(v.batch.events.size(), 3u);
  EXPECT_EQ(v.batch.events[0].seq, 2u);
  EXPECT_EQ(v.batch.events[0].parsed.person(), ids_[1]);
  EXPECT_EQ(v.batch.events[1].parsed.person(), ids_[4]);
  EXPECT_EQ(v.batch.events[2].parsed.person(), ids_[6]);
  EXPECT_EQ(v.batch.checkpoint_size, 8u);
  EXPECT_TRUE(v.batch.checkpoint.has_value());
  EXPECT_TRUE(v.batch.tree_nodes.empty());
  EXPECT_FALSE(v.frontier.has_value());
  EXPECT_EQ(v.batch.cursor, 7u);

  v1::Batch marked = Routed(a_, {2, 5, 7}, 8);
  marked.set_watermark(8);
  TB_ASSERT_OK_AND_ASSIGN(v, Verify(marked, county));
  EXPECT_EQ(v.batch.cursor, 8u);
  marked.set_watermark(1000);  // beyond anything signed: counts up to 8 only
  TB_ASSERT_OK_AND_ASSIGN(v, Verify(marked, county));
  EXPECT_EQ(v.batch.cursor, 8u);

  // An empty batch keeps a filtered cursor moving.
  v1::Batch empty = Routed(a_, {}, 6);
  empty.set_watermark(6);
  TB_ASSERT_OK_AND_ASSIGN(v, Verify(empty, county));
  EXPECT_TRUE(v.batch.events.empty());
  EXPECT_EQ(v.batch.cursor, 6u);

  // A contiguous receiver never moves past what it holds.
  Receiver national;
  national.contiguous = true;
  v1::Batch whole = Contiguous(a_, 1, 3);
  whole.set_watermark(8);
  TB_ASSERT_OK_AND_ASSIGN(v, Verify(whole, national));
  EXPECT_EQ(v.batch.cursor, 3u);
}

// Peers resend after every reconnect: events already applied with the same
// bytes are dropped, and the held checkpoint is kept.
TEST_P(VerifyTest, ExactDuplicateReplayIsANoOp) {
  Append(a_, 4);
  Receiver national;
  national.contiguous = true;
  Accept(Contiguous(a_, 1, 4), national);
  TB_ASSERT_OK_AND_ASSIGN(VerifiedBatch v, Verify(Contiguous(a_, 1, 4), national));
  EXPECT_TRUE(v.batch.events.empty());
  EXPECT_FALSE(v.batch.checkpoint.has_value());
  EXPECT_EQ(v.batch.checkpoint_size, 4u);
  EXPECT_EQ(v.batch.cursor, 4u);
  EXPECT_TRUE(v.batch.tree_nodes.empty());
  // An older batch, entirely applied, is harmless too.
  v1::Batch old = Contiguous(a_, 1, 2);
  AddConsistency(a_, 4, 2, &old);
  TB_ASSERT_OK_AND_ASSIGN(v, Verify(old, national));
  EXPECT_TRUE(v.batch.events.empty());
  EXPECT_EQ(v.batch.cursor, 4u);
  // An overlapping one yields only what is new.
  Append(a_, 2);
  TB_ASSERT_OK_AND_ASSIGN(v, Verify(Contiguous(a_, 3, 6), national));
  ASSERT_EQ(v.batch.events.size(), 2u);
  EXPECT_EQ(v.batch.events[0].seq, 5u);
  EXPECT_EQ(v.batch.cursor, 6u);

  Receiver county;
  Accept(Routed(a_, {1, 3}, 4), county);
  TB_ASSERT_OK_AND_ASSIGN(v, Verify(Routed(a_, {1, 3}, 4), county));
  EXPECT_TRUE(v.batch.events.empty());
  EXPECT_FALSE(v.batch.checkpoint.has_value());
  EXPECT_EQ(v.batch.cursor, 3u);
  TB_ASSERT_OK_AND_ASSIGN(v, Verify(Routed(a_, {3, 4}, 4), county));
  ASSERT_EQ(v.batch.events.size(), 1u);
  EXPECT_EQ(v.batch.events[0].seq, 4u);
}

// Checkpoints of one history stay consistent from batch to batch, in either
// order; a proof built for another receiver position asks for a resend.
TEST_P(VerifyTest, CheckpointsAreConsistentAcrossBatches) {
  Append(a_, 3);
  Receiver county;
  Accept(Routed(a_, {1, 3}, 3), county);
  Append(a_, 3);
  v1::Batch grow = Routed(a_, {5}, 6);
  AddConsistency(a_, 3, 6, &grow);
  VerifiedBatch v = Accept(grow, county);
  EXPECT_EQ(v.batch.checkpoint_size, 6u);
  ASSERT_TRUE(county.checkpoint.has_value());
  EXPECT_EQ(Parsed(*county.checkpoint).tree_size, 6u);
  EXPECT_EQ(county.applied, 5u);

  // An older checkpoint (a backfill built earlier) is checked against the
  // newer one held, and does not replace it.
  v1::Batch stale = Routed(a_, {2}, 3);
  AddConsistency(a_, 6, 3, &stale);
  v = Accept(stale, county);
  ASSERT_EQ(v.batch.events.size(), 1u);
  EXPECT_EQ(v.batch.events[0].seq, 2u);
  EXPECT_FALSE(v.batch.checkpoint.has_value());
  EXPECT_EQ(v.batch.checkpoint_size, 6u);
  EXPECT_EQ(v.batch.cursor, 5u);

  // The same tree size needs no proof.
  TB_ASSERT_OK(Verify(Routed(a_, {6}, 6), county));

  // A proof from the size the sender thought we held.
  Append(a_, 2);
  v1::Batch from_old = Routed(a_, {7}, 8);
  AddConsistency(a_, 3, 8, &from_old);
  ExpectRejected(Verify(from_old, county), v1::REJECT_REASON_MALFORMED,
                 absl::StatusCode::kFailedPrecondition);
  ExpectRejected(Verify(Routed(a_, {7}, 8), county), v1::REJECT_REASON_MALFORMED,
                 absl::StatusCode::kFailedPrecondition);
  v1::Batch right = Routed(a_, {7}, 8);
  AddConsistency(a_, 6, 8, &right);
  v = Accept(right, county);
  EXPECT_EQ(v.batch.checkpoint_size, 8u);
  EXPECT_EQ(county.applied, 7u);
}

TEST_P(VerifyTest, ForgedCheckpointSignatureIsRejected) {
  Append(a_, 3);
  Receiver county;
  Receiver national;
  national.contiguous = true;

  v1::Batch flipped = Contiguous(a_, 1, 3);
  std::string* sig = flipped.mutable_checkpoint()->mutable_signature();
  (*sig)[sig->size() / 2] ^= 0x01;
  ExpectRejected(Verify(flipped, national), v1::REJECT_REASON_FORGED_SIGNATURE);

  // Another key signs a checkpoint naming the origin's key id.
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> mallory, suite().GenerateKey());
  v1::Batch impostor = Routed(a_, {1, 2, 3}, 3);
  *impostor.mutable_checkpoint() = Resign(Parsed(impostor.checkpoint()), *mallory);
  EXPECT_EQ(Parsed(impostor.checkpoint()).key_id, key_->public_key().KeyId());
  ExpectRejected(Verify(impostor, county), v1::REJECT_REASON_FORGED_SIGNATURE);

  // A body changed under a valid signature (a later tree size).
  v1::Batch stretched = Contiguous(a_, 1, 3);
  merkle::Checkpoint c = Parsed(stretched.checkpoint());
  c.tree_size = 4;
  stretched.mutable_checkpoint()->set_body(merkle::EncodeCheckpoint(c));
  ExpectRejected(Verify(stretched, national), v1::REJECT_REASON_FORGED_SIGNATURE);

  v1::Batch unsigned_cp = Contiguous(a_, 1, 3);
  unsigned_cp.mutable_checkpoint()->clear_signature();
  ExpectRejected(Verify(unsigned_cp, national), v1::REJECT_REASON_FORGED_SIGNATURE);
}

TEST_P(VerifyTest, TamperedEventBodyIsRejected) {
  Append(a_, 3);
  Receiver national;
  national.contiguous = true;
  v1::Batch contiguous = Contiguous(a_, 1, 3);
  ASSERT_TRUE(Tamper(contiguous.mutable_events(1)->mutable_body()));
  ExpectRejected(Verify(contiguous, national), v1::REJECT_REASON_TAMPERED_BODY);

  Receiver county;
  v1::Batch routed = Routed(a_, {1, 2}, 3);
  ASSERT_TRUE(Tamper(routed.mutable_events(1)->mutable_body()));
  ExpectRejected(Verify(routed, county), v1::REJECT_REASON_TAMPERED_BODY);

  // A body swapped for another signed one: its proof is for another leaf.
  v1::Batch swapped = Routed(a_, {1, 2}, 3);
  swapped.mutable_events(0)->set_body(Body(a_, 3));
  ExpectRejected(Verify(swapped, county), v1::REJECT_REASON_TAMPERED_BODY);

  // Two bodies swapped: each is then claimed at the other's seq.
  Append(a_, 5);
  v1::Batch exchanged = Routed(a_, {2, 3, 7}, 8);
  exchanged.mutable_events(0)->set_body(Body(a_, 3));
  exchanged.mutable_events(1)->set_body(Body(a_, 2));
  ExpectRejected(Verify(exchanged, county), v1::REJECT_REASON_TAMPERED_BODY);

  // A proof hash flipped, at either end of a sparse batch's proof.
  for (const int which : {0, -1}) {
    v1::Batch bad_proof = Routed(a_, {2, 6}, 8);
    ASSERT_GE(bad_proof.inclusion_size(), 2);
    const int i = which < 0 ? bad_proof.inclusion_size() - 1 : which;
    (*bad_proof.mutable_inclusion(i))[0] ^= 0x01;
    ExpectRejected(Verify(bad_proof, county), v1::REJECT_REASON_TAMPERED_BODY);
  }
  // The same proof under another signed tree size: same shape, other root.
  v1::Batch other_size = Routed(a_, {1}, 3);
  *other_size.mutable_checkpoint() = CheckpointAt(a_, 4);
  ExpectRejected(Verify(other_size, county), v1::REJECT_REASON_TAMPERED_BODY);
}

TEST_P(VerifyTest, GapIsRejected) {
  Append(a_, 5);
  Receiver national;
  national.contiguous = true;

  v1::Batch missing_middle = Contiguous(a_, 1, 5);
  missing_middle.mutable_events()->DeleteSubrange(2, 1);  // seq 3
  ExpectRejected(Verify(missing_middle, national), v1::REJECT_REASON_GAP);

  ExpectRejected(Verify(Contiguous(a_, 2, 5), national), v1::REJECT_REASON_GAP);

  v1::Batch short_end = Contiguous(a_, 1, 5);
  short_end.mutable_events()->RemoveLast();
  ExpectRejected(Verify(short_end, national), v1::REJECT_REASON_GAP);

  v1::Batch nothing = Contiguous(a_, 1, 5);
  nothing.clear_events();
  ExpectRejected(Verify(nothing, national), v1::REJECT_REASON_GAP);

  v1::Batch reordered = Contiguous(a_, 1, 5);
  reordered.mutable_events()->SwapElements(1, 2);
  ExpectRejected(Verify(reordered, national), v1::REJECT_REASON_GAP);

  Accept(Contiguous(a_, 1, 2), national);
  ExpectRejected(Verify(Contiguous(a_, 4, 5), national), v1::REJECT_REASON_GAP);
  TB_EXPECT_OK(Verify(Contiguous(a_, 3, 5), national));
}

TEST_P(VerifyTest, ReplayWithDifferentBytesIsRejected) {
  Append(a_, 4);
  Receiver national;
  national.contiguous = true;
  Accept(Contiguous(a_, 1, 4), national);
  v1::Batch replay = Contiguous(a_, 1, 4);
  ASSERT_TRUE(Tamper(replay.mutable_events(1)->mutable_body()));
  ExpectRejected(Verify(replay, national), v1::REJECT_REASON_REPLAY_MISMATCH);

  Receiver county;
  Accept(Routed(a_, {1, 2, 3}, 4), county);
  v1::Batch routed = Routed(a_, {2}, 4);
  ASSERT_TRUE(Tamper(routed.mutable_events(0)->mutable_body()));
  ExpectRejected(Verify(routed, county), v1::REJECT_REASON_REPLAY_MISMATCH);
}

// The origin signs a second history with the same key: presented after the
// first, it is refused with both checkpoints as evidence.
TEST_P(VerifyTest, InconsistentCheckpointsAreEquivocation) {
  OriginLog fork;
  OpenOrigin(&fork, "fork");
  Append(a_, 3);
  Append(fork, 5);  // other persons: another history of the same log

  Receiver county;
  Accept(Routed(a_, {1, 2, 3}, 3), county);
  const v1::SignedCheckpoint held = *county.checkpoint;

  v1::Batch longer = Routed(fork, {4, 5}, 5);
  AddConsistency(fork, 3, 5, &longer);
  longer.set_relayed_by("000000");
  Equivocation evidence;
  ExpectRejected(Verify(longer, county, &evidence), v1::REJECT_REASON_EQUIVOCATION);
  EXPECT_EQ(evidence.held.body(), held.body());
  EXPECT_EQ(evidence.held.signature(), held.signature());
  EXPECT_EQ(evidence.received.body(), CheckpointAt(fork, 5).body());
  EXPECT_EQ(evidence.received.signature(), CheckpointAt(fork, 5).signature());
  EXPECT_EQ(evidence.consistency_from, 3u);
  EXPECT_FALSE(evidence.consistency.empty());
  EXPECT_FALSE(evidence.conclusive);
  EXPECT_EQ(evidence.relayed_by, "000000");

  // The same tree size with another root proves it by itself.
  Equivocation same_size;
  ExpectRejected(Verify(Routed(fork, {1}, 3), county, &same_size), v1::REJECT_REASON_EQUIVOCATION);
  EXPECT_TRUE(same_size.conclusive);
  EXPECT_EQ(same_size.received.body(), CheckpointAt(fork, 3).body());
  EXPECT_NE(Parsed(same_size.held).root, Parsed(same_size.received).root);

  // A smaller tree of the other history.
  v1::Batch smaller = Routed(fork, {1}, 2);
  AddConsistency(fork, 3, 2, &smaller);
  ExpectRejected(Verify(smaller, county), v1::REJECT_REASON_EQUIVOCATION);

  // A receiver of the whole log, shown the fork with its proof.
  Receiver national;
  national.contiguous = true;
  Accept(Contiguous(a_, 1, 3), national);
  v1::Batch rest = Contiguous(fork, 4, 5);
  AddConsistency(fork, 3, 5, &rest);
  Equivocation whole;
  ExpectRejected(Verify(rest, national, &whole), v1::REJECT_REASON_EQUIVOCATION);
  EXPECT_EQ(whole.received.body(), CheckpointAt(fork, 5).body());
  // Without a proof it cannot tell a fork from altered leaves.
  ExpectRejected(Verify(Contiguous(fork, 4, 5), national), v1::REJECT_REASON_TAMPERED_BODY);

  // The caller freezes the origin; nothing more is accepted from it.
  county.frozen = true;
  ExpectRejected(Verify(Routed(a_, {1, 2, 3}, 3), county), v1::REJECT_REASON_FROZEN,
                 absl::StatusCode::kFailedPrecondition);
}

// A corrupt consistency proof of an honest history: a receiver of the whole
// log sees that the events extend its tree and blames the proof; a routed
// receiver cannot tell, and says so in the evidence.
TEST_P(VerifyTest, CorruptConsistencyProofOfAnHonestHistory) {
  Append(a_, 3);
  Receiver national;
  national.contiguous = true;
  Accept(Contiguous(a_, 1, 3), national);
  Receiver county;
  Accept(Routed(a_, {2}, 3), county);
  Append(a_, 2);

  v1::Batch contiguous = Contiguous(a_, 4, 5);
  AddConsistency(a_, 3, 5, &contiguous);
  (*contiguous.mutable_consistency(0))[0] ^= 0x01;
  Equivocation none;
  ExpectRejected(Verify(contiguous, national, &none), v1::REJECT_REASON_MALFORMED);
  EXPECT_TRUE(none.received.body().empty());

  v1::Batch routed = Routed(a_, {4}, 5);
  AddConsistency(a_, 3, 5, &routed);
  (*routed.mutable_consistency(0))[0] ^= 0x01;
  Equivocation unsure;
  ExpectRejected(Verify(routed, county, &unsure), v1::REJECT_REASON_EQUIVOCATION);
  EXPECT_FALSE(unsure.conclusive);
}

TEST_P(VerifyTest, UnknownKeyIsRejected) {
  Append(a_, 2);
  Receiver county;
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> other, suite().GenerateKey());
  v1::Batch b = Routed(a_, {1, 2}, 2);
  merkle::Checkpoint c = Parsed(b.checkpoint());
  c.key_id = other->public_key().KeyId();
  *b.mutable_checkpoint() = Resign(c, *other);
  ExpectRejected(Verify(b, county), v1::REJECT_REASON_UNKNOWN_KEY);
  // A key of another node does not sign for this origin.
  roster_[{kResidence, other->public_key().KeyId()}] = &other->public_key();
  ExpectRejected(Verify(b, county), v1::REJECT_REASON_UNKNOWN_KEY);
  // Once the roster lists it for the origin, the same batch verifies.
  roster_[{kOrigin, other->public_key().KeyId()}] = &other->public_key();
  TB_EXPECT_OK(Verify(b, county));
}

// Key rotation (DESIGN.md section 3): the origin's entry in its own log,
// signed by the old and the new key, makes receivers accept the new key
// without a new roster; old events still verify under the old key; a
// retired key signs nothing after its end, and the new key nothing before
// its start.
TEST_P(VerifyTest, KeyRotationMovesSigningToTheNewKeyFromItsEntryOn) {
  Append(a_, 3);
  Receiver national;
  national.contiguous = true;
  Accept(Contiguous(a_, 1, 3), national);
  Receiver county;
  Accept(Routed(a_, {1, 2, 3}, 3), county);

  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> next, suite().GenerateKey());
  TB_ASSERT_OK_AND_ASSIGN(storage::Appended rotated, a_.writer->RotateKey(next.get()));
  EXPECT_EQ(rotated.id.seq(), 4u);
  Append(a_, 2);  // seqs 5 and 6
  EXPECT_EQ(Parsed(CheckpointAt(a_, 3)).key_id, key_->public_key().KeyId());
  EXPECT_EQ(Parsed(CheckpointAt(a_, 6)).key_id, next->public_key().KeyId());
  TB_ASSERT_OK_AND_ASSIGN(std::vector<storage::KeyRotationEntry> stored,
                          a_.store->KeyRotations(kOrigin));
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].seq, 4u);
  const v1::SignedKeyRotation& rotation = stored[0].rotation;

  // The roster does not list the new key: without the rotation the batch
  // cannot be verified.
  v1::Batch bare = Routed(a_, {5, 6}, 6);
  AddConsistency(a_, 3, 6, &bare);
  ExpectRejected(Verify(bare, county), v1::REJECT_REASON_UNKNOWN_KEY);
  // With it, as the feed sends it, the batch verifies and the rotation is
  // handed on to be kept.
  v1::Batch routed = bare;
  *routed.add_key_rotations() = rotation;
  VerifiedBatch v = Accept(routed, county);
  ASSERT_EQ(v.batch.key_rotations.size(), 1u);
  EXPECT_EQ(v.batch.key_rotations[0].seq, 4u);
  // Kept, it serves later batches that do not carry it.
  Append(a_, 1);
  v1::Batch later = Routed(a_, {7}, 7);
  AddConsistency(a_, 6, 7, &later);
  EXPECT_TRUE(Accept(later, county).batch.key_rotations.empty());

  // The national node receives the entry itself as an event of the log.
  v1::Batch whole = Contiguous(a_, 4, 7);
  AddConsistency(a_, 3, 7, &whole);
  *whole.add_key_rotations() = rotation;
  VerifiedBatch w = Accept(whole, national);
  ASSERT_EQ(w.batch.events.size(), 4u);
  EXPECT_TRUE(w.batch.events[0].parsed.has_key_rotation());
  EXPECT_TRUE(w.batch.events[0].parsed.person().empty());

  // A rotation whose old-key signature is broken is refused, whole.
  v1::Batch forged = Routed(a_, {5, 6}, 6);
  *forged.add_key_rotations() = rotation;
  (*forged.mutable_key_rotations(0)->mutable_old_signature())[3] ^= 0x01;
  ExpectRejected(Verify(forged, Receiver()), v1::REJECT_REASON_MALFORMED);

  // The retired key signing after its end: refused, whether the receiver
  // keeps the rotation or the batch carries it.
  merkle::Checkpoint c6 = Parsed(CheckpointAt(a_, 6));
  c6.key_id = key_->public_key().KeyId();
  v1::Batch old_signed = Routed(a_, {5, 6}, 6);
  *old_signed.mutable_checkpoint() = Resign(c6, *key_);
  Receiver keeps;
  keeps.rotations = stored;
  ExpectRejected(Verify(old_signed, keeps), v1::REJECT_REASON_RETIRED_KEY);
  *old_signed.add_key_rotations() = rotation;
  ExpectRejected(Verify(old_signed, Receiver()), v1::REJECT_REASON_RETIRED_KEY);
  // The new key signing before its start: refused too.
  merkle::Checkpoint c3 = Parsed(CheckpointAt(a_, 3));
  c3.key_id = next->public_key().KeyId();
  v1::Batch early = Routed(a_, {1, 2, 3}, 3);
  *early.mutable_checkpoint() = Resign(c3, *next);
  ExpectRejected(Verify(early, keeps), v1::REJECT_REASON_RETIRED_KEY);
  // What the old key signed before its end still verifies.
  TB_EXPECT_OK(Verify(Routed(a_, {1, 2, 3}, 3), keeps));
  // A rotation listed twice, stored and in a batch the session still counts
  // as being written (the receiver's pipelined verification), is one
  // rotation, not two at the same position.
  Receiver twice = keeps;
  twice.rotations.insert(twice.rotations.end(), stored.begin(), stored.end());
  TB_EXPECT_OK(Verify(Routed(a_, {1, 2, 3}, 3), twice));

  // A peer cannot make a receiver check more than 64 rotations per batch,
  // nor per witness answer.
  v1::Batch flood = routed;
  google::protobuf::RepeatedPtrField<v1::SignedKeyRotation> many;
  for (int i = 0; i < 65; ++i) *many.Add() = rotation;
  *flood.mutable_key_rotations() = many;
  ExpectRejected(Verify(flood, Receiver()), v1::REJECT_REASON_MALFORMED);
  const KeyLookup roster = [this](absl::string_view origin, absl::string_view key_id) {
    auto it = roster_.find({std::string(origin), std::string(key_id)});
    return it == roster_.end() ? nullptr : it->second;
  };
  const absl::Status too_many = VerifiedKeyHistory(kOrigin, GetParam(), roster, many).status();
  EXPECT_EQ(too_many.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(too_many.message(), "at most 64")) << too_many;
  many.RemoveLast();
  TB_EXPECT_OK(VerifiedKeyHistory(kOrigin, GetParam(), roster, {many.begin(), many.begin() + 1}));
  a_.writer.reset();  // before `next`, which it signs with
}

TEST_P(VerifyTest, FrozenOriginIsRejected) {
  Append(a_, 2);
  Receiver county;
  county.frozen = true;
  ExpectRejected(Verify(Routed(a_, {1, 2}, 2), county), v1::REJECT_REASON_FROZEN,
                 absl::StatusCode::kFailedPrecondition);
  Receiver national;
  national.contiguous = true;
  national.frozen = true;
  ExpectRejected(Verify(Contiguous(a_, 1, 2), national), v1::REJECT_REASON_FROZEN,
                 absl::StatusCode::kFailedPrecondition);
}

// An epoch closed by a restart record at seq 2: events up to it are still
// taken (a late copy), any after it is not.
TEST_P(VerifyTest, EventsAfterAClosedEpochAreRejected) {
  Append(a_, 3);
  Receiver national;
  national.contiguous = true;
  national.closed_at = 2;
  Accept(Contiguous(a_, 1, 2), national);
  ExpectRejected(Verify(Contiguous(a_, 3, 3), national), v1::REJECT_REASON_FROZEN,
                 absl::StatusCode::kFailedPrecondition);
}

TEST_P(VerifyTest, MalformedBatchIsRejected) {
  Append(a_, 3);
  Receiver county;
  Receiver national;
  national.contiguous = true;
  const v1::Batch routed = Routed(a_, {1, 2}, 3);
  const v1::Batch contiguous = Contiguous(a_, 1, 3);

  struct Case {
    std::string what;
    v1::Batch batch;
    const Receiver* receiver;
  };
  std::vector<Case> cases;
  auto add = [&](std::string what, const v1::Batch& base, const Receiver& r,
                 const std::function<void(v1::Batch*)>& change) {
    v1::Batch b = base;
    change(&b);
    cases.push_back({std::move(what), std::move(b), &r});
  };
  add("origin is not a node code", routed, county, [](v1::Batch* b) { b->set_origin("62010"); });
  add("no checkpoint", routed, county, [](v1::Batch* b) { b->clear_checkpoint(); });
  add("checkpoint text", routed, county,
      [](v1::Batch* b) { b->mutable_checkpoint()->set_body("tongban-checkpoint/v1\n"); });
  add("envelope of another origin", routed, county,
      [](v1::Batch* b) { b->set_origin(kResidence); });
  add("envelope of another epoch", contiguous, national, [](v1::Batch* b) { b->set_epoch(2); });
  add("contiguous batch at a routed receiver", contiguous, county, [](v1::Batch*) {});
  add("routed batch at a contiguous receiver", routed, national, [](v1::Batch*) {});
  const std::string a_hash(crypto::kDigestSize, 'h');
  add("routed batch without its proof", routed, county, [](v1::Batch* b) { b->clear_inclusion(); });
  add("proof one hash too long", routed, county, [&](v1::Batch* b) { b->add_inclusion(a_hash); });
  add("proof of events the batch does not carry", routed, county,
      [](v1::Batch* b) { b->clear_events(); });
  add("proof of another set of events", routed, county,
      [](v1::Batch* b) { b->mutable_events()->RemoveLast(); });
  add("short hash", routed, county, [](v1::Batch* b) { b->mutable_inclusion(0)->pop_back(); });
  add("short consistency hash", routed, county, [](v1::Batch* b) { b->add_consistency("0123"); });
  add("descending seqs", routed, county,
      [](v1::Batch* b) { b->mutable_events()->SwapElements(0, 1); });
  add("seq 0", routed, county, [](v1::Batch* b) { b->mutable_events(0)->set_seq(0); });
  add("event beyond the tree size", routed, county, [&](v1::Batch* b) {
    v1::Event* e = b->add_events();
    e->set_seq(4);
    e->set_body(Body(a_, 3));
  });
  add("contiguous batch with an inclusion proof", contiguous, national,
      [&](v1::Batch* b) { b->add_inclusion(a_hash); });
  add("checkpoint of another suite", routed, county, [&](v1::Batch* b) {
    merkle::Checkpoint c = Parsed(b->checkpoint());
    c.suite = GetParam() == SuiteId::kIntl ? SuiteId::kGm : SuiteId::kIntl;
    *b->mutable_checkpoint() = Resign(c, *key_);
  });
  add("checkpoint of another epoch", routed, county, [&](v1::Batch* b) {
    merkle::Checkpoint c = Parsed(b->checkpoint());
    c.epoch = 2;
    *b->mutable_checkpoint() = Resign(c, *key_);
  });

  // The origin itself signs bodies that are not what their envelopes say.
  const std::string garbage("\xff\xff\xff", 3);  // wire type 7: never parses
  v1::Batch signed_garbage;
  signed_garbage.set_origin(kOrigin);
  signed_garbage.set_epoch(1);
  signed_garbage.set_contiguous(true);
  signed_garbage.add_events()->set_seq(1);
  signed_garbage.mutable_events(0)->set_body(garbage);
  *signed_garbage.mutable_checkpoint() = SignLeaves({garbage});
  Receiver fresh_national;
  fresh_national.contiguous = true;
  add("body does not parse", signed_garbage, fresh_national, [](v1::Batch*) {});
  add("body of another seq", signed_garbage, fresh_national, [&](v1::Batch* b) {
    b->mutable_events(0)->set_body(Body(a_, 2));
    *b->mutable_checkpoint() = SignLeaves({Body(a_, 2)});
  });
  add("body of another origin", signed_garbage, fresh_national, [&](v1::Batch* b) {
    v1::EventBody body;
    ASSERT_TRUE(body.ParseFromString(Body(a_, 1)));
    body.set_origin(kResidence);
    const std::string bytes = body.SerializeAsString();
    b->mutable_events(0)->set_body(bytes);
    *b->mutable_checkpoint() = SignLeaves({bytes});
  });

  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ExpectRejected(Verify(c.batch, *c.receiver), v1::REJECT_REASON_MALFORMED);
  }
  // The unchanged batches were fine.
  TB_EXPECT_OK(Verify(routed, county));
  TB_EXPECT_OK(Verify(contiguous, national));
}

TEST(RejectReasonOfTest, OnlyRejectionsCarryAReason) {
  EXPECT_EQ(RejectReasonOf(absl::OkStatus()), v1::REJECT_REASON_UNSPECIFIED);
  EXPECT_EQ(RejectReasonOf(absl::InvalidArgumentError("x")), v1::REJECT_REASON_UNSPECIFIED);
  absl::Status odd = absl::InvalidArgumentError("x");
  odd.SetPayload("type.googleapis.com/tongban.v1.RejectReason", absl::Cord("99"));
  EXPECT_EQ(RejectReasonOf(odd), v1::REJECT_REASON_UNSPECIFIED);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(VerifyTest);

}  // namespace
}  // namespace tongban::sync
