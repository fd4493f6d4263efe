// The feed a sender reads for a peer: only what is routed to it, provable
// against a signed checkpoint by one batch proof, watermarks past what is not for it,
// and contiguous ranges that recompute to the signed root.
#include "sync/feed.h"

#include <bit>

#include "common/merkle/checkpoint.h"
#include "common/merkle/tree.h"
#include "gtest/gtest.h"
#include "storage/writer.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::sync {
namespace {

using crypto::SuiteId;
using testutil::kOrigin;
using testutil::kResidence;

class FeedTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    const crypto::Suite& suite = crypto::GetSuite(GetParam());
    key_ = *suite.GenerateKey();
    storage::StoreOptions so;
    so.path = dir_.File("db");
    so.suite = GetParam();
    so.storage_key = *crypto::RandomBytes(suite.symmetric_key_size());
    store_ = *storage::Store::Open(so);
    storage::WriterOptions wo;
    wo.node = kOrigin;
    writer_ = *storage::Writer::Open(store_.get(), key_.get(), wo, &clock_);
  }

  // Writes `n` person basics (national only) and, every third one, an
  // outflow to the residence (routed there too). Returns the outflow seqs.
  std::vector<uint64_t> WriteLog(int n) {
    std::vector<uint64_t> routed;
    for (int i = 0; i < n; ++i) {
      const std::string id = testutil::MakeId(kOrigin, "19900101", i);
      auto r = writer_->Append(testutil::Basics(id, "N"));
      EXPECT_TRUE(r.ok()) << r.status();
      if (i % 3 == 0) {
        storage::RecordChange out;
        out.person = id;
        out.kind = v1::RECORD_KIND_OUTFLOW;
        out.record_id = "out";
        out.value.mutable_outflow()->set_destination_county(kResidence);
        *out.value.mutable_outflow()->mutable_left_on() = testutil::Day(2026, 3, 1);
        auto o = writer_->Append(out);
        EXPECT_TRUE(o.ok()) << o.status();
        routed.push_back(o->id.seq());
      }
    }
    EXPECT_TRUE(writer_->WaitForCheckpoint(writer_->stats().last_seq, absl::Seconds(30)).ok());
    return routed;
  }

  merkle::Checkpoint Verified(const v1::Batch& b) {
    auto cp = merkle::VerifyCheckpoint({b.checkpoint().body(), b.checkpoint().signature()},
                                       crypto::GetSuite(GetParam()), key_->public_key());
    EXPECT_TRUE(cp.ok()) << cp.status();
    return *cp;
  }

  static std::vector<crypto::Digest> Digests(
      const google::protobuf::RepeatedPtrField<std::string>& in) {
    std::vector<crypto::Digest> out;
    for (const std::string& h : in) {
      crypto::Digest d;
      EXPECT_EQ(h.size(), d.size());
      std::copy(h.begin(), h.end(), d.begin());
      out.push_back(d);
    }
    return out;
  }

  // The batch's inclusion proof proves all its events against its
  // checkpoint.
  void ExpectProven(const v1::Batch& b) {
    const merkle::Checkpoint cp = Verified(b);
    std::unique_ptr<crypto::Hasher> h = crypto::GetSuite(GetParam()).NewHasher();
    std::vector<uint64_t> leaves;
    std::vector<crypto::Digest> leaf_hashes;
    for (const v1::Event& e : b.events()) {
      leaves.push_back(e.seq() - 1);
      leaf_hashes.push_back(merkle::LeafHash(*h, e.body()));
    }
    TB_EXPECT_OK(merkle::VerifyBatchInclusion(*h, leaves, cp.tree_size, leaf_hashes,
                                              Digests(b.inclusion()), cp.root));
  }

  testutil::ScopedTempDir dir_;
  FakeClock clock_;
  std::unique_ptr<crypto::PrivateKey> key_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Writer> writer_;
};

TEST_P(FeedTest, RoutedBatchCarriesOnlyThePeersEventsWithProofs) {
  const std::vector<uint64_t> routed = WriteLog(12);
  TB_ASSERT_OK_AND_ASSIGN(auto batch,
                          ReadRouted(*store_, kResidence, writer_->log(), {}, FeedLimits{}));
  ASSERT_TRUE(batch.has_value());
  const merkle::Checkpoint cp = Verified(*batch);
  EXPECT_EQ(cp.tree_size, writer_->stats().last_seq);
  EXPECT_FALSE(batch->contiguous());
  ASSERT_EQ(batch->events_size(), static_cast<int>(routed.size()));
  for (int i = 0; i < batch->events_size(); ++i) {
    const v1::Event& e = batch->events(i);
    EXPECT_EQ(e.seq(), routed[i]);
    v1::EventBody body;
    ASSERT_TRUE(body.ParseFromString(e.body()));
    EXPECT_EQ(body.kind(), v1::RECORD_KIND_OUTFLOW);  // nothing not routed to it
  }
  ExpectProven(*batch);
  // One proof for them all, shorter than one audit path per event.
  EXPECT_LT(static_cast<uint64_t>(batch->inclusion_size()),
            routed.size() * std::bit_width(cp.tree_size - 1));
  EXPECT_EQ(batch->watermark(), cp.tree_size);
  // At the watermark the peer has everything: nothing more to send.
  TB_ASSERT_OK_AND_ASSIGN(auto none, ReadRouted(*store_, kResidence, writer_->log(),
                                                {cp.tree_size, cp.tree_size}, FeedLimits{}));
  EXPECT_FALSE(none.has_value());
}

// A peer with nothing routed to it still gets a watermark, so its cursor
// does not stall.
TEST_P(FeedTest, EmptyBatchAdvancesAFilteredCursor) {
  WriteLog(4);
  TB_ASSERT_OK_AND_ASSIGN(auto batch,
                          ReadRouted(*store_, testutil::kThird, writer_->log(), {}, FeedLimits{}));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->events_size(), 0);
  EXPECT_EQ(batch->watermark(), writer_->stats().last_seq);
}

TEST_P(FeedTest, LimitsCutBatchesAndHoldTheWatermarkBack) {
  const std::vector<uint64_t> routed = WriteLog(12);
  FeedLimits limits;
  limits.max_events = 2;
  TB_ASSERT_OK_AND_ASSIGN(auto batch, ReadRouted(*store_, kResidence, writer_->log(), {}, limits));
  ASSERT_EQ(batch->events_size(), 2);
  EXPECT_EQ(batch->watermark(), routed[1]);
  TB_ASSERT_OK_AND_ASSIGN(auto next,
                          ReadRouted(*store_, kResidence, writer_->log(), {routed[1], 0}, limits));
  ASSERT_EQ(next->events_size(), 2);
  EXPECT_EQ(next->events(0).seq(), routed[2]);
  // Each proof covers exactly the events its batch took.
  ExpectProven(*batch);
  ExpectProven(*next);
}

TEST_P(FeedTest, ContiguousBatchRecomputesToTheSignedRootAndIsConsistent) {
  WriteLog(9);
  std::unique_ptr<crypto::Hasher> h = crypto::GetSuite(GetParam()).NewHasher();
  TB_ASSERT_OK_AND_ASSIGN(auto first, ReadContiguous(*store_, writer_->log(), {}, FeedLimits{}));
  ASSERT_TRUE(first.has_value());
  const merkle::Checkpoint cp = Verified(*first);
  ASSERT_EQ(first->events_size(), static_cast<int>(cp.tree_size));
  std::vector<crypto::Digest> leaves;
  for (const v1::Event& e : first->events()) leaves.push_back(merkle::LeafHash(*h, e.body()));
  EXPECT_EQ(merkle::RootOfLeaves(*h, leaves), cp.root);

  // A peer that holds an earlier checkpoint gets a consistency proof to it.
  TB_ASSERT_OK_AND_ASSIGN(auto early, store_->CheckpointAtOrAbove(writer_->log(), 1));
  ASSERT_TRUE(early.has_value());
  auto old = merkle::ParseCheckpoint(early->second.body());
  ASSERT_TRUE(old.ok());
  if (old->tree_size < cp.tree_size) {
    TB_ASSERT_OK_AND_ASSIGN(
        auto rest,
        ReadContiguous(*store_, writer_->log(), {old->tree_size, old->tree_size}, FeedLimits{}));
    ASSERT_TRUE(rest.has_value());
    EXPECT_EQ(rest->events(0).seq(), old->tree_size + 1);
    EXPECT_EQ(rest->consistency_from(), old->tree_size);
    const merkle::Checkpoint now = Verified(*rest);
    TB_EXPECT_OK(merkle::VerifyConsistency(*h, old->tree_size, now.tree_size, old->root, now.root,
                                           Digests(rest->consistency())));
  }
}

TB_INSTANTIATE_FOR_BOTH_SUITES(FeedTest);

}  // namespace
}  // namespace tongban::sync
