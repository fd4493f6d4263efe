#include "sync/feed.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/crypto/suite.h"
#include "common/merkle/tree.h"
#include "common/status_macros.h"

namespace tongban::sync {
namespace {

v1::Batch NewBatch(const storage::LogId& log, bool contiguous, uint64_t size,
                   v1::SignedCheckpoint checkpoint) {
  v1::Batch batch;
  batch.set_origin(log.origin);
  batch.set_epoch(log.epoch);
  batch.set_contiguous(contiguous);
  *batch.mutable_checkpoint() = std::move(checkpoint);
  batch.set_watermark(size);
  return batch;
}

// Adds the origin's key rotations up to the checkpoint's position, so that
// a receiver that has not seen them can verify a checkpoint signed by a key
// the roster does not list (exchange.proto Batch.key_rotations).
absl::Status AddKeyRotations(const storage::Store& store, const storage::LogId& log, uint64_t size,
                             v1::Batch* batch) {
  TB_ASSIGN_OR_RETURN(const std::vector<storage::KeyRotationEntry> rotations,
                      store.KeyRotations(log.origin));
  for (const storage::KeyRotationEntry& r : rotations) {
    if (r.log.epoch < log.epoch || (r.log.epoch == log.epoch && r.seq <= size)) {
      *batch->add_key_rotations() = r.rotation;
    }
  }
  return absl::OkStatus();
}

// Adds the consistency proof between the peer's checkpoint and ours. False
// when the peer holds a newer checkpoint of the log than ours and we do not
// hold the leaves to prove ours a prefix of it (a relay that has not yet
// received what the peer got from the origin directly): nothing can be sent
// on this log until we catch up.
absl::StatusOr<bool> AddConsistency(const storage::Store& store, const storage::LogId& log,
                                    crypto::Hasher& hasher, uint64_t peer_size, uint64_t size,
                                    v1::Batch* batch) {
  batch->set_consistency_from(peer_size);
  if (peer_size == 0 || peer_size == size) return true;
  if (peer_size > size) {
    TB_ASSIGN_OR_RETURN(uint64_t held, store.LastSeq(log));
    if (held < peer_size) return false;
  }
  absl::StatusOr<std::vector<crypto::Digest>> proof = merkle::ConsistencyProof(
      hasher, std::min(peer_size, size), std::max(peer_size, size), store.NodeReaderFor(log));
  if (!proof.ok() && peer_size > size && absl::IsDataLoss(proof.status())) {
    return false;  // leaves up to the peer's size are not all here
  }
  if (!proof.ok()) return proof.status();
  for (const crypto::Digest& d : *proof) batch->add_consistency(d.data(), d.size());
  return true;
}

// Adds the events `seqs` (ascending) that are covered by the checkpoint of
// `size` and fit the limits, and one batch inclusion proof for all of them.
// Returns how many of `seqs` it took.
absl::StatusOr<size_t> AddProvenEvents(const storage::Store& store, const storage::LogId& log,
                                       uint64_t size, const std::vector<uint64_t>& seqs,
                                       const FeedLimits& limits, crypto::Hasher& hasher,
                                       v1::Batch* batch) {
  size_t bytes = 0;
  std::vector<uint64_t> leaves;  // leaf index = seq - 1
  while (leaves.size() < seqs.size() && seqs[leaves.size()] <= size) {
    const uint64_t seq = seqs[leaves.size()];
    TB_ASSIGN_OR_RETURN(std::string body, store.GetEvent(log, seq));
    if (!leaves.empty() &&
        (leaves.size() == limits.max_events || bytes + body.size() > limits.max_bytes)) {
      break;
    }
    bytes += body.size();
    leaves.push_back(seq - 1);
    v1::Event* e = batch->add_events();
    e->set_seq(seq);
    e->set_body(std::move(body));
  }
  if (leaves.empty()) return 0;
  TB_ASSIGN_OR_RETURN(std::vector<crypto::Digest> proof,
                      merkle::BatchInclusionProof(hasher, leaves, size, store.NodeReaderFor(log)));
  for (const crypto::Digest& d : proof) batch->add_inclusion(d.data(), d.size());
  return leaves.size();
}

}  // namespace

absl::StatusOr<std::optional<v1::Batch>> ReadContiguous(const storage::Store& store,
                                                        const storage::LogId& log,
                                                        const PeerPosition& peer,
                                                        const FeedLimits& limits) {
  // How far the limits let this batch reach, then back to a checkpoint.
  uint64_t reach = peer.cursor;
  size_t bytes = 0;
  const absl::Status scanned =
      store.ScanEvents(log, peer.cursor + 1, peer.cursor + limits.max_events,
                       [&](uint64_t seq, absl::string_view body) {
                         bytes += body.size();
                         if (bytes > limits.max_bytes && reach > peer.cursor) {
                           return absl::CancelledError("batch full");  // stops the scan
                         }
                         reach = seq;
                         return absl::OkStatus();
                       });
  if (!scanned.ok() && !absl::IsCancelled(scanned)) return scanned;
  TB_ASSIGN_OR_RETURN(auto found, store.CheckpointAtOrBelow(log, reach));
  if (!found.has_value() || found->first <= peer.cursor) {
    // No checkpoint ends within the limits: send the first one past the
    // cursor whole (a checkpoint covers at most 1,024 events).
    TB_ASSIGN_OR_RETURN(found, store.CheckpointAtOrAbove(log, peer.cursor + 1));
    if (!found.has_value()) return std::nullopt;
  }
  const uint64_t size = found->first;
  v1::Batch batch = NewBatch(log, /*contiguous=*/true, size, std::move(found->second));
  TB_RETURN_IF_ERROR(AddKeyRotations(store, log, size, &batch));
  uint64_t expect = peer.cursor + 1;
  TB_RETURN_IF_ERROR(store.ScanEvents(log, expect, size, [&](uint64_t seq, absl::string_view body) {
    if (seq != expect) {
      return absl::DataLossError(absl::StrCat("log ", log.origin, " misses seq ", expect));
    }
    ++expect;
    v1::Event* e = batch.add_events();
    e->set_seq(seq);
    e->set_body(body.data(), body.size());
    return absl::OkStatus();
  }));
  if (expect != size + 1) {
    return absl::DataLossError(
        absl::StrCat("log ", log.origin, " misses seq ", expect, " of ", size));
  }
  std::unique_ptr<crypto::Hasher> hasher = crypto::GetSuite(store.suite()).NewHasher();
  TB_ASSIGN_OR_RETURN(bool proven,
                      AddConsistency(store, log, *hasher, peer.checkpoint_size, size, &batch));
  if (!proven) return std::nullopt;
  return batch;
}

absl::StatusOr<std::optional<v1::Batch>> ReadRouted(const storage::Store& store,
                                                    absl::string_view peer_code,
                                                    const storage::LogId& log,
                                                    const PeerPosition& peer,
                                                    const FeedLimits& limits) {
  TB_ASSIGN_OR_RETURN(auto latest, store.CheckpointAtOrBelow(log, ~uint64_t{0}));
  if (!latest.has_value() || latest->first <= peer.cursor) return std::nullopt;
  const uint64_t size = latest->first;
  v1::Batch batch = NewBatch(log, /*contiguous=*/false, size, std::move(latest->second));
  TB_RETURN_IF_ERROR(AddKeyRotations(store, log, size, &batch));

  TB_ASSIGN_OR_RETURN(std::vector<uint64_t> seqs,
                      store.ScanRoute(peer_code, log, peer.cursor, limits.max_events + 1));
  std::unique_ptr<crypto::Hasher> hasher = crypto::GetSuite(store.suite()).NewHasher();
  TB_ASSIGN_OR_RETURN(const size_t taken,
                      AddProvenEvents(store, log, size, seqs, limits, *hasher, &batch));
  if (taken < seqs.size() && seqs[taken] <= size) {
    // More is routed to the peer below the checkpoint: its cursor may
    // advance only to the last event sent.
    batch.set_watermark(batch.events().rbegin()->seq());
  }
  TB_ASSIGN_OR_RETURN(bool proven,
                      AddConsistency(store, log, *hasher, peer.checkpoint_size, size, &batch));
  if (!proven) return std::nullopt;
  return batch;
}

absl::StatusOr<std::optional<v1::Batch>> ReadSelected(const storage::Store& store,
                                                      const storage::LogId& log,
                                                      const PeerPosition& peer,
                                                      std::vector<uint64_t>* seqs,
                                                      const FeedLimits& limits) {
  if (seqs->empty()) return std::nullopt;
  TB_ASSIGN_OR_RETURN(auto latest, store.CheckpointAtOrBelow(log, ~uint64_t{0}));
  if (!latest.has_value() || latest->first < seqs->front()) return std::nullopt;
  const uint64_t size = latest->first;
  v1::Batch batch = NewBatch(log, /*contiguous=*/false, size, std::move(latest->second));
  batch.set_backfill(true);
  batch.set_watermark(0);
  TB_RETURN_IF_ERROR(AddKeyRotations(store, log, size, &batch));
  std::unique_ptr<crypto::Hasher> hasher = crypto::GetSuite(store.suite()).NewHasher();
  TB_ASSIGN_OR_RETURN(const size_t taken,
                      AddProvenEvents(store, log, size, *seqs, limits, *hasher, &batch));
  TB_ASSIGN_OR_RETURN(bool proven,
                      AddConsistency(store, log, *hasher, peer.checkpoint_size, size, &batch));
  if (!proven) return std::nullopt;  // the events stay queued
  seqs->erase(seqs->begin(), seqs->begin() + static_cast<std::ptrdiff_t>(taken));
  return batch;
}

}  // namespace tongban::sync
