// Verification of a received Batch. The order of the checks is the contract
// of verify.h; the comments here say why each sits where it does.
#include "sync/verify.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/rotation.h"
#include "common/status_macros.h"
#include "storage/keys.h"

namespace tongban::sync {
namespace {

// The payload key under which a rejection carries its reason (the enum's
// number in decimal).
constexpr char kReasonUrl[] = "type.googleapis.com/tongban.v1.RejectReason";

absl::Status Reject(v1::RejectReason reason, absl::StatusCode code, absl::string_view message) {
  absl::Status s(code, message);
  s.SetPayload(kReasonUrl, absl::Cord(absl::StrCat(static_cast<int>(reason))));
  return s;
}

// The peer's fault: never retried until an operator acts.
absl::Status Reject(v1::RejectReason reason, absl::string_view message) {
  return Reject(reason, absl::StatusCode::kInvalidArgument, message);
}

bool IsNodeCode(absl::string_view s) {
  return s.size() == storage::kNodeCodeSize &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

crypto::Digest ToDigest(absl::string_view bytes) {  // REQUIRES: 32 bytes
  crypto::Digest d;
  std::memcpy(d.data(), bytes.data(), d.size());
  return d;
}

template <typename Hashes>
std::vector<crypto::Digest> ToDigests(const Hashes& hashes) {
  std::vector<crypto::Digest> out;
  out.reserve(hashes.size());
  for (const std::string& h : hashes) out.push_back(ToDigest(h));
  return out;
}

// A hash field of the wire format: exactly one digest.
absl::Status CheckHashes(const google::protobuf::RepeatedPtrField<std::string>& hashes,
                         absl::string_view what) {
  for (int i = 0; i < hashes.size(); ++i) {
    if (hashes[i].size() != crypto::kDigestSize) {
      return Reject(v1::REJECT_REASON_MALFORMED,
                    absl::StrCat(what, " hash ", i, " has ", hashes[i].size(), " bytes, want ",
                                 crypto::kDigestSize));
    }
  }
  return absl::OkStatus();
}

// Structure only: no crypto, no storage reads, nothing parsed out of a body.
absl::Status CheckBatchShape(const v1::Batch& batch, const ReceiverLog& log,
                             absl::string_view name) {
  if (!batch.has_checkpoint() || batch.checkpoint().body().empty()) {
    return Reject(v1::REJECT_REASON_MALFORMED,
                  absl::StrCat("batch of log ", name, " carries no checkpoint"));
  }
  if (batch.contiguous() != log.contiguous) {
    return Reject(
        v1::REJECT_REASON_MALFORMED,
        absl::StrCat("a ", batch.contiguous() ? "contiguous" : "routed", " batch of log ", name,
                     " for a receiver of ", log.contiguous ? "the whole log" : "routed events"));
  }
  // exchange.proto: a contiguous batch that skips or reorders a seq is a gap.
  const v1::RejectReason order =
      batch.contiguous() ? v1::REJECT_REASON_GAP : v1::REJECT_REASON_MALFORMED;
  uint64_t prev = 0;
  for (const v1::Event& e : batch.events()) {
    if (e.seq() == 0) {
      return Reject(v1::REJECT_REASON_MALFORMED,
                    absl::StrCat("batch of log ", name, " has an event with seq 0"));
    }
    if (e.seq() <= prev) {
      return Reject(order, absl::StrCat("batch of log ", name, ": event seq ", e.seq(),
                                        " follows seq ", prev, "; seqs must ascend"));
    }
    prev = e.seq();
  }
  if (batch.contiguous() && batch.inclusion_size() != 0) {
    return Reject(v1::REJECT_REASON_MALFORMED, absl::StrCat("contiguous batch of log ", name,
                                                            " carries a batch inclusion proof"));
  }
  TB_RETURN_IF_ERROR(CheckHashes(batch.inclusion(), "batch inclusion proof:"));
  return CheckHashes(batch.consistency(), "consistency proof:");
}

// One Verify call: the batch, the receiver's view, and what each step
// learns for the steps after it. The methods are the steps of verify.h, in
// its order; Verify calls them one after another.
class Verification {
 public:
  Verification(const crypto::Suite& suite, const KeyLookup& keys, crypto::Hasher& hasher,
               const v1::Batch& batch, const ReceiverLog& log, Equivocation* evidence)
      : suite_(suite),
        keys_(keys),
        hasher_(hasher),
        batch_(batch),
        log_(log),
        evidence_(evidence) {}

  absl::Status CheckNotFrozen() const;      // 1
  absl::Status CheckShape();                // 2
  absl::Status CheckCheckpointNamesLog();   // 3
  absl::Status LookUpKey();                 // 4
  absl::Status VerifySignature();           // 5
  absl::Status CheckEventsInSignedTree();   // 6
  absl::Status CheckConsistencyWithHeld();  // 7
  absl::Status CheckNoGap() const;          // 8
  absl::Status DropReplays();               // 9
  absl::Status CheckBodiesAreSigned();      // 10
  absl::Status ParseBodies();               // 11
  VerifiedBatch Result(absl::string_view from_peer) &&;

 private:
  absl::Status ParseHeldCheckpoint();
  absl::Status CheckConsistencyProof();
  absl::StatusOr<merkle::Frontier> StoredFrontier() const;
  absl::Status ExtendOwnTree();
  absl::Status VerifyRoutedInclusion();
  absl::Status Equivocate(bool conclusive, absl::string_view why);
  absl::Status BuildKeyHistory();
  absl::Status CheckRotationEntry(uint64_t seq, const v1::EventBody& body) const;

  const crypto::Suite& suite_;
  const KeyLookup& keys_;
  crypto::Hasher& hasher_;
  const v1::Batch& batch_;
  const ReceiverLog& log_;
  Equivocation* const evidence_;  // Not owned; may be null.

  std::string name_;                        // "origin/epoch", from step 2
  merkle::SignedCheckpoint signed_cp_;      // step 3
  merkle::Checkpoint parsed_;               // step 3: not yet the origin's word
  const crypto::PublicKey* key_ = nullptr;  // step 4
  // Step 4, when the origin rotated keys: its key history, every rotation
  // in it by body (stored or verified), and the ones to keep.
  std::optional<merkle::KeyHistory> history_;
  std::map<std::string, const v1::SignedKeyRotation*> known_rotations_;
  std::vector<storage::KeyRotationEntry> new_rotations_;
  merkle::Checkpoint cp_;                   // step 5: the origin's word
  std::vector<uint64_t> leaves_;            // step 6, routed: the events' leaf indexes
  std::optional<merkle::Checkpoint> held_;  // step 7
  // Set when a consistency proof failed at a receiver that can settle the
  // question itself in step 10: a corrupt proof from a buggy or hostile
  // sender must not get an honest origin frozen.
  std::string unsettled_equivocation_;  // step 7
  std::vector<int> fresh_;              // step 9: indexes of events not stored here yet
  VerifiedBatch out_;                   // steps 10 and 11
};

// 1. A frozen origin gets nothing applied, whoever relays it. Not this
// peer's fault, so not kInvalidArgument: an operator must act.
absl::Status Verification::CheckNotFrozen() const {
  if (log_.closed_at.has_value()) {
    for (const v1::Event& e : batch_.events()) {
      if (e.seq() <= *log_.closed_at) continue;
      return Reject(
          v1::REJECT_REASON_FROZEN, absl::StatusCode::kFailedPrecondition,
          absl::StrCat("epoch ", batch_.epoch(), " of origin ", batch_.origin(),
                       " was closed at seq ", *log_.closed_at,
                       " by a countersigned restart record; seq ", e.seq(), " is not applied"));
    }
  }
  if (!log_.frozen) return absl::OkStatus();
  return Reject(v1::REJECT_REASON_FROZEN, absl::StatusCode::kFailedPrecondition,
                absl::StrCat("origin ", IsNodeCode(batch_.origin()) ? batch_.origin() : "?",
                             " is frozen after an equivocation; an operator must "
                             "resolve it"));
}

// 2. Shape.
absl::Status Verification::CheckShape() {
  if (!IsNodeCode(batch_.origin())) {
    return Reject(v1::REJECT_REASON_MALFORMED, "batch origin is not a 6-digit node code");
  }
  name_ = absl::StrCat(batch_.origin(), "/", batch_.epoch());
  return CheckBatchShape(batch_, log_, name_);
}

// 3. The checkpoint names this log. Checked before the key lookup so that
// a checkpoint of another origin can never be verified with that origin's
// key and then stand for this one.
absl::Status Verification::CheckCheckpointNamesLog() {
  signed_cp_ =
      merkle::SignedCheckpoint{batch_.checkpoint().body(), batch_.checkpoint().signature()};
  absl::StatusOr<merkle::Checkpoint> parsed = merkle::ParseCheckpoint(signed_cp_.body);
  if (!parsed.ok()) {
    return Reject(v1::REJECT_REASON_MALFORMED, absl::StrCat("checkpoint of batch of log ", name_,
                                                            ": ", parsed.status().message()));
  }
  parsed_ = *std::move(parsed);
  if (parsed_.suite != suite_.id()) {
    return Reject(
        v1::REJECT_REASON_MALFORMED,
        absl::StrCat("checkpoint of log ", name_, " is for suite ",
                     crypto::SuiteName(parsed_.suite), "; this federation uses ", suite_.name()));
  }
  if (parsed_.origin != batch_.origin() || parsed_.epoch != batch_.epoch()) {
    return Reject(v1::REJECT_REASON_MALFORMED,
                  absl::StrCat("checkpoint is of log ", parsed_.origin, "/", parsed_.epoch,
                               ", the batch of log ", name_));
  }
  return absl::OkStatus();
}

// 4. The roster's key, or one the origin's key rotations give, valid at the
// checkpoint's position.
absl::Status Verification::LookUpKey() {
  if (log_.rotations.empty() && batch_.key_rotations().empty()) {
    key_ = keys_(batch_.origin(), parsed_.key_id);
    if (key_ == nullptr) {
      return Reject(v1::REJECT_REASON_UNKNOWN_KEY,
                    absl::StrCat("origin ", batch_.origin(), " has no key ", parsed_.key_id,
                                 " in the roster"));
    }
  } else {
    TB_RETURN_IF_ERROR(BuildKeyHistory());
    absl::StatusOr<const crypto::PublicKey*> key =
        history_->KeyFor(parsed_.key_id, {batch_.epoch(), parsed_.tree_size});
    if (!key.ok()) {
      return Reject(absl::IsNotFound(key.status()) ? v1::REJECT_REASON_UNKNOWN_KEY
                                                   : v1::REJECT_REASON_RETIRED_KEY,
                    absl::StrCat("checkpoint of log ", name_, " at tree size ", parsed_.tree_size,
                                 ": ", key.status().message()));
    }
    key_ = *key;
  }
  if (key_->suite() != suite_.id()) {  // our roster or configuration, not the peer
    return absl::FailedPreconditionError(
        absl::StrCat("roster key ", parsed_.key_id, " of origin ", batch_.origin(), " is a ",
                     crypto::SuiteName(key_->suite()), " key; this node runs ", suite_.name()));
  }
  return absl::OkStatus();
}

// The origin's key history: the rotations this receiver keeps and those the
// batch carries that it does not (each checked against both its keys; a
// forged one stops the batch at the first), rooted in the roster.
absl::Status Verification::BuildKeyHistory() {
  constexpr int kMaxKeyRotations = 64;
  if (batch_.key_rotations_size() > kMaxKeyRotations) {
    return Reject(v1::REJECT_REASON_MALFORMED,
                  absl::StrCat("batch of log ", name_, " carries ", batch_.key_rotations_size(),
                               " key rotations; at most ", kMaxKeyRotations));
  }
  std::vector<merkle::KeyRotation> all;
  for (const storage::KeyRotationEntry& e : log_.rotations) {
    // The same rotation can be listed twice: stored by a batch that the
    // session still counts among those being written (sync/session.cc).
    if (!known_rotations_.emplace(e.rotation.body(), &e.rotation).second) continue;
    absl::StatusOr<merkle::KeyRotation> r = merkle::ParseKeyRotation(e.rotation.body());
    if (!r.ok()) return absl::DataLossError(absl::StrCat("stored ", r.status().message()));
    all.push_back(*std::move(r));
  }
  for (int i = 0; i < batch_.key_rotations_size(); ++i) {
    const v1::SignedKeyRotation& s = batch_.key_rotations(i);
    if (known_rotations_.contains(s.body())) continue;
    absl::StatusOr<merkle::KeyRotation> r =
        merkle::VerifyKeyRotation({s.body(), s.old_signature(), s.new_signature()});
    if (!r.ok()) {
      return Reject(v1::REJECT_REASON_MALFORMED,
                    absl::StrCat("batch of log ", name_, ", key rotation ", i + 1, ": ",
                                 r.status().message()));
    }
    known_rotations_.emplace(s.body(), &s);
    new_rotations_.push_back(
        storage::KeyRotationEntry{storage::LogId{r->origin, r->epoch}, r->seq, s});
    all.push_back(*std::move(r));
  }
  const KeyLookup& keys = keys_;
  const std::string origin = batch_.origin();
  absl::StatusOr<merkle::KeyHistory> history = merkle::KeyHistory::Build(
      origin, suite_.id(),
      [&keys, origin](absl::string_view key_id) { return keys(origin, key_id); }, std::move(all));
  if (!history.ok()) {
    return Reject(v1::REJECT_REASON_UNKNOWN_KEY,
                  absl::StrCat("key history of log ", name_, ": ", history.status().message()));
  }
  history_ = *std::move(history);
  return absl::OkStatus();
}

// 5. The signature. Everything after this trusts only what it covers.
absl::Status Verification::VerifySignature() {
  absl::StatusOr<merkle::Checkpoint> verified = merkle::VerifyCheckpoint(signed_cp_, suite_, *key_);
  if (!verified.ok()) {
    if (!absl::IsInvalidArgument(verified.status())) return verified.status();
    return Reject(v1::REJECT_REASON_FORGED_SIGNATURE,
                  absl::StrCat("checkpoint of log ", name_, " at tree size ", parsed_.tree_size,
                               ": ", verified.status().message()));
  }
  cp_ = *std::move(verified);
  return absl::OkStatus();
}

// 6. Every event must be in the signed tree, and a routed batch's proof
// must have the shape its seqs and the signed tree size give (counted
// without hashing), so that step 10 can only find other bytes.
absl::Status Verification::CheckEventsInSignedTree() {
  if (!batch_.events().empty() && batch_.events().rbegin()->seq() > cp_.tree_size) {
    return Reject(
        v1::REJECT_REASON_MALFORMED,
        absl::StrCat("batch of log ", name_, " has event seq ", batch_.events().rbegin()->seq(),
                     " beyond its checkpoint's tree size ", cp_.tree_size));
  }
  if (log_.contiguous) return absl::OkStatus();
  leaves_.reserve(batch_.events_size());
  for (const v1::Event& e : batch_.events()) leaves_.push_back(e.seq() - 1);
  uint64_t want = 0;
  if (!leaves_.empty()) {
    absl::StatusOr<uint64_t> size = merkle::BatchInclusionProofSize(leaves_, cp_.tree_size);
    if (!size.ok()) return absl::InternalError(size.status().message());  // see step 2
    want = *size;
  }
  if (static_cast<uint64_t>(batch_.inclusion_size()) != want) {
    return Reject(v1::REJECT_REASON_MALFORMED,
                  absl::StrCat("routed batch of log ", name_, " has ", batch_.inclusion_size(),
                               " batch inclusion proof hashes; its ", leaves_.size(),
                               " events in tree size ", cp_.tree_size, " need ", want));
  }
  return absl::OkStatus();
}

// 7. Consistency with the checkpoint held.
absl::Status Verification::CheckConsistencyWithHeld() {
  TB_RETURN_IF_ERROR(ParseHeldCheckpoint());
  if (!held_.has_value() || held_->tree_size == 0) return absl::OkStatus();
  if (cp_.tree_size == held_->tree_size) {
    if (cp_.root != held_->root) {
      return Equivocate(/*conclusive=*/true,
                        absl::StrCat("two roots signed for tree size ", cp_.tree_size));
    }
    return absl::OkStatus();
  }
  return CheckConsistencyProof();
}

// The held checkpoint was verified when it was stored, so it is only parsed
// here.
absl::Status Verification::ParseHeldCheckpoint() {
  if (!log_.checkpoint.has_value()) return absl::OkStatus();
  absl::StatusOr<merkle::Checkpoint> h = merkle::ParseCheckpoint(log_.checkpoint->body());
  if (!h.ok()) {
    return absl::DataLossError(
        absl::StrCat("held checkpoint of log ", name_, ": ", h.status().message()));
  }
  if (h->origin != batch_.origin() || h->epoch != batch_.epoch()) {
    return absl::InternalError(
        absl::StrCat("held checkpoint is of log ", h->origin, "/", h->epoch, ", not of ", name_));
  }
  held_ = *std::move(h);
  return absl::OkStatus();
}

// Step 7 between two different non-zero tree sizes.
absl::Status Verification::CheckConsistencyProof() {
  // A proof is always non-empty between two different non-zero sizes, so an
  // empty one is a missing one.
  const bool proof_given =
      batch_.consistency_from() == held_->tree_size && !batch_.consistency().empty();
  // A contiguous receiver whose tree is the held checkpoint's sees for itself
  // whether the new leaves extend it (step 10).
  const bool extends_own_tree =
      log_.contiguous && cp_.tree_size > held_->tree_size && held_->tree_size == log_.applied;
  if (proof_given) {
    const bool grows = cp_.tree_size > held_->tree_size;
    const merkle::Checkpoint& small = grows ? *held_ : cp_;
    const merkle::Checkpoint& large = grows ? cp_ : *held_;
    const std::vector<crypto::Digest> proof = ToDigests(batch_.consistency());
    const absl::Status s = merkle::VerifyConsistency(hasher_, small.tree_size, large.tree_size,
                                                     small.root, large.root, proof);
    if (!s.ok()) {
      std::string why = absl::StrCat("tree sizes ", small.tree_size, " and ", large.tree_size,
                                     " are not consistent: ", s.message());
      if (!extends_own_tree) return Equivocate(/*conclusive=*/false, why);
      unsettled_equivocation_ = std::move(why);
    }
    return absl::OkStatus();
  }
  if (extends_own_tree) return absl::OkStatus();
  // Usually a race (another peer advanced our checkpoint after the sender
  // built the batch), so the session re-announces its position instead of
  // giving up on the peer.
  return Reject(
      v1::REJECT_REASON_MALFORMED, absl::StatusCode::kFailedPrecondition,
      absl::StrCat("batch of log ", name_, " at tree size ", cp_.tree_size,
                   " proves consistency from tree size ", batch_.consistency_from(), " with ",
                   batch_.consistency_size(), " hashes, but this receiver holds tree size ",
                   held_->tree_size, "; resend from the position it states"));
}

// The rejection of an equivocation; hands both checkpoints to the caller.
absl::Status Verification::Equivocate(bool conclusive, absl::string_view why) {
  if (evidence_ != nullptr) {
    evidence_->held = *log_.checkpoint;
    evidence_->received = batch_.checkpoint();
    evidence_->consistency_from = batch_.consistency_from();
    evidence_->consistency.assign(batch_.consistency().begin(), batch_.consistency().end());
    evidence_->conclusive = conclusive;
    evidence_->relayed_by = batch_.relayed_by();
  }
  return Reject(v1::REJECT_REASON_EQUIVOCATION,
                absl::StrCat("origin ", batch_.origin(), " epoch ", batch_.epoch(),
                             " showed two histories: ", why));
}

// 8. Contiguous: the events above the cursor are exactly the rest of the
// signed tree.
absl::Status Verification::CheckNoGap() const {
  if (!log_.contiguous) return absl::OkStatus();
  uint64_t expect = log_.applied + 1;
  for (const v1::Event& e : batch_.events()) {
    if (e.seq() <= log_.applied) continue;
    if (e.seq() != expect) {
      return Reject(v1::REJECT_REASON_GAP,
                    absl::StrCat("contiguous batch of log ", name_, " skips from seq ", expect,
                                 " to seq ", e.seq()));
    }
    ++expect;
  }
  if (cp_.tree_size > log_.applied && expect != cp_.tree_size + 1) {
    return Reject(
        v1::REJECT_REASON_GAP,
        absl::StrCat("contiguous batch of log ", name_, " for a receiver at seq ", log_.applied,
                     " ends at seq ", expect - 1, ", its checkpoint at tree size ", cp_.tree_size));
  }
  return absl::OkStatus();
}

// 9. Replays: identical bytes are dropped, other bytes rejected.
absl::Status Verification::DropReplays() {
  fresh_.reserve(batch_.events_size());
  for (int i = 0; i < batch_.events_size(); ++i) {
    const v1::Event& e = batch_.events(i);
    if (log_.contiguous && e.seq() > log_.applied) {
      fresh_.push_back(i);
      continue;
    }
    if (!log_.stored_body) {
      return absl::InternalError("ReceiverLog.stored_body is not set");
    }
    absl::StatusOr<std::string> stored = log_.stored_body(e.seq());
    if (stored.ok()) {
      if (*stored != e.body()) {
        return Reject(
            v1::REJECT_REASON_REPLAY_MISMATCH,
            absl::StrCat("event ", name_, "/", e.seq(), " differs from the copy applied here"));
      }
      continue;
    }
    if (!absl::IsNotFound(stored.status())) {
      return Prefixed(absl::StrCat("reading event ", name_, "/", e.seq()), stored.status());
    }
    if (log_.contiguous) {
      return absl::DataLossError(absl::StrCat("event ", name_, "/", e.seq(),
                                              " is missing here, below the cursor ", log_.applied));
    }
    fresh_.push_back(i);  // routed: an event we were not sent before (a backfill)
  }
  return absl::OkStatus();
}

// 10. The bytes of every new event are the ones the origin signed.
absl::Status Verification::CheckBodiesAreSigned() {
  if (log_.contiguous) return ExtendOwnTree();
  if (leaves_.empty()) return absl::OkStatus();
  return VerifyRoutedInclusion();
}

// The receiver's stored tree of this log, at the cursor.
absl::StatusOr<merkle::Frontier> Verification::StoredFrontier() const {
  merkle::Frontier frontier;
  if (log_.frontier.has_value()) {
    frontier = *log_.frontier;
  } else if (log_.tree) {
    absl::StatusOr<merkle::Frontier> loaded = merkle::Frontier::Load(log_.applied, log_.tree);
    if (!loaded.ok()) {
      return Prefixed(absl::StrCat("loading the tree of log ", name_), loaded.status());
    }
    frontier = *std::move(loaded);
  }
  if (frontier.size() != log_.applied) {
    return absl::InternalError(absl::StrCat("frontier of log ", name_, " has size ",
                                            frontier.size(), ", the cursor is ", log_.applied));
  }
  if (held_.has_value() && held_->tree_size == log_.applied && log_.applied != 0 &&
      frontier.Root(hasher_) != held_->root) {
    return absl::DataLossError(absl::StrCat("this node's tree of log ", name_,
                                            " does not match its checkpoint at tree size ",
                                            held_->tree_size));
  }
  return frontier;
}

// Step 10 at a contiguous receiver: the stored tree extended by the new
// leaves must hash to the signed root. This also settles a consistency proof
// that failed in step 7.
absl::Status Verification::ExtendOwnTree() {
  TB_ASSIGN_OR_RETURN(merkle::Frontier frontier, StoredFrontier());
  // With cp.tree_size < applied nothing is new: step 7 proved cp consistent
  // with the held checkpoint, and step 9 matched every event to our copy.
  if (cp_.tree_size >= log_.applied) {
    for (int i : fresh_) {
      frontier.Append(hasher_, merkle::LeafHash(hasher_, batch_.events(i).body()),
                      [&](merkle::NodeId id, const crypto::Digest& d) {
                        if (storage::IsStoredLevel(id.level)) {
                          out_.batch.tree_nodes.emplace_back(id, d);
                        }
                      });
    }
    const bool root_matches = frontier.Root(hasher_) == cp_.root;
    if (!unsettled_equivocation_.empty()) {
      if (!root_matches) return Equivocate(/*conclusive=*/false, unsettled_equivocation_);
      return Reject(v1::REJECT_REASON_MALFORMED,
                    absl::StrCat("consistency proof of log ", name_, " from tree size ",
                                 held_->tree_size, " to ", cp_.tree_size,
                                 " fails, yet the events extend this receiver's tree "
                                 "to the signed root: the proof is corrupt"));
    }
    if (!root_matches) {
      return Reject(
          v1::REJECT_REASON_TAMPERED_BODY,
          absl::StrCat("events ", log_.applied + 1, " to ", cp_.tree_size, " of log ", name_,
                       " do not hash to the signed root of tree size ", cp_.tree_size));
    }
  }
  out_.frontier = std::move(frontier);
  return absl::OkStatus();
}

// Step 10 at a routed receiver. One proof covers every event of the batch,
// the ones already held too (their bytes were matched in step 9, so they
// hash as signed).
absl::Status Verification::VerifyRoutedInclusion() {
  std::vector<crypto::Digest> leaf_hashes;
  leaf_hashes.reserve(leaves_.size());
  for (const v1::Event& e : batch_.events()) {
    leaf_hashes.push_back(merkle::LeafHash(hasher_, e.body()));
  }
  const absl::Status s = merkle::VerifyBatchInclusion(hasher_, leaves_, cp_.tree_size, leaf_hashes,
                                                      ToDigests(batch_.inclusion()), cp_.root);
  if (!s.ok()) {
    return Reject(v1::REJECT_REASON_TAMPERED_BODY,
                  absl::StrCat("events of log ", name_, ": ", s.message()));
  }
  return absl::OkStatus();
}

// 11. Parse what the origin signed and match it to the envelope.
absl::Status Verification::ParseBodies() {
  out_.batch.events.reserve(fresh_.size());
  for (int i : fresh_) {
    const v1::Event& e = batch_.events(i);
    storage::RemoteEvent& re = out_.batch.events.emplace_back();
    re.seq = e.seq();
    re.body = e.body();
    if (!re.parsed.ParseFromString(re.body)) {
      return Reject(
          v1::REJECT_REASON_MALFORMED,
          absl::StrCat("event ", name_, "/", e.seq(), ": body does not parse as an EventBody"));
    }
    const v1::EventBody& b = re.parsed;
    if (b.origin() != batch_.origin() || b.epoch() != batch_.epoch() || b.seq() != e.seq()) {
      return Reject(v1::REJECT_REASON_MALFORMED,
                    absl::StrCat("event ", name_, "/", e.seq(), ": body names event ",
                                 IsNodeCode(b.origin()) ? b.origin() : "(not a node code)", "/",
                                 b.epoch(), "/", b.seq()));
    }
    if (b.has_key_rotation()) TB_RETURN_IF_ERROR(CheckRotationEntry(e.seq(), b));
  }
  return absl::OkStatus();
}

// A key-rotation entry is nothing but a rotation of the history step 4
// verified, at its own position.
absl::Status Verification::CheckRotationEntry(uint64_t seq, const v1::EventBody& b) const {
  const std::string where = absl::StrCat("event ", name_, "/", seq, ": key rotation entry");
  if (!b.person().empty() || b.kind() != v1::RECORD_KIND_UNSPECIFIED || !b.record_id().empty() ||
      !b.payload().empty() || b.parents_size() != 0 || b.audience_size() != 0) {
    return Reject(v1::REJECT_REASON_MALFORMED, absl::StrCat(where, " carries record fields"));
  }
  auto it = known_rotations_.find(b.key_rotation().body());
  if (it == known_rotations_.end() ||
      it->second->old_signature() != b.key_rotation().old_signature() ||
      it->second->new_signature() != b.key_rotation().new_signature()) {
    return Reject(v1::REJECT_REASON_MALFORMED,
                  absl::StrCat(where, " is not one of the batch's key rotations"));
  }
  for (const merkle::KeyRotation& r : history_->rotations()) {
    if (r.epoch == batch_.epoch() && r.seq == seq &&
        merkle::EncodeKeyRotation(r) == b.key_rotation().body()) {
      return absl::OkStatus();
    }
  }
  return Reject(v1::REJECT_REASON_MALFORMED, absl::StrCat(where, " names another position"));
}

// The verified batch: the checkpoint to keep and the cursor to store
// (VerifiedBatch).
VerifiedBatch Verification::Result(absl::string_view from_peer) && {
  storage::RemoteBatch& rb = out_.batch;
  rb.log = storage::LogId{batch_.origin(), batch_.epoch()};
  if (!held_.has_value() || cp_.tree_size > held_->tree_size) {
    rb.checkpoint = batch_.checkpoint();
    rb.checkpoint_size = cp_.tree_size;
  } else {
    rb.checkpoint_size = held_->tree_size;  // keep the held one
  }
  rb.from_peer = std::string(from_peer);
  rb.received_from = rb.from_peer;
  rb.key_rotations = std::move(new_rotations_);
  uint64_t cursor = log_.applied;
  if (log_.contiguous) {
    // Every seq up to the signed tree size is now held; a watermark cannot
    // take a contiguous copy past what it holds.
    cursor = std::max(cursor, cp_.tree_size);
  } else {
    if (!batch_.events().empty()) cursor = std::max(cursor, batch_.events().rbegin()->seq());
    // The watermark is the sender's word, not the origin's: it moves the
    // cursor only over seqs a signed checkpoint already covers.
    cursor = std::max(cursor, std::min(batch_.watermark(), cp_.tree_size));
  }
  rb.cursor = cursor;
  return std::move(out_);
}

}  // namespace

v1::RejectReason RejectReasonOf(const absl::Status& status) {
  if (status.ok()) return v1::REJECT_REASON_UNSPECIFIED;
  const auto payload = status.GetPayload(kReasonUrl);  // absl::optional<Cord>
  int value = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &value) ||
      !v1::RejectReason_IsValid(value)) {
    return v1::REJECT_REASON_UNSPECIFIED;
  }
  return static_cast<v1::RejectReason>(value);
}

BatchVerifier::BatchVerifier(const crypto::Suite& suite, KeyLookup keys)
    : suite_(suite), keys_(std::move(keys)), hasher_(suite.NewHasher()) {}

// The steps of verify.h, in its order; each returns the first rejection.
absl::StatusOr<VerifiedBatch> BatchVerifier::Verify(const v1::Batch& batch, const ReceiverLog& log,
                                                    absl::string_view from_peer,
                                                    Equivocation* evidence) {
  Verification v(suite_, keys_, *hasher_, batch, log, evidence);
  TB_RETURN_IF_ERROR(v.CheckNotFrozen());           // 1. FROZEN
  TB_RETURN_IF_ERROR(v.CheckShape());               // 2. MALFORMED / GAP
  TB_RETURN_IF_ERROR(v.CheckCheckpointNamesLog());  // 3. MALFORMED
  TB_RETURN_IF_ERROR(v.LookUpKey());                // 4. UNKNOWN_KEY
  TB_RETURN_IF_ERROR(v.VerifySignature());          // 5. FORGED_SIGNATURE
  // --- the checkpoint is now the origin's word ---
  TB_RETURN_IF_ERROR(v.CheckEventsInSignedTree());   // 6. MALFORMED
  TB_RETURN_IF_ERROR(v.CheckConsistencyWithHeld());  // 7. EQUIVOCATION
  TB_RETURN_IF_ERROR(v.CheckNoGap());                // 8. GAP
  TB_RETURN_IF_ERROR(v.DropReplays());               // 9. REPLAY_MISMATCH
  TB_RETURN_IF_ERROR(v.CheckBodiesAreSigned());      // 10. TAMPERED_BODY
  TB_RETURN_IF_ERROR(v.ParseBodies());               // 11. MALFORMED
  return std::move(v).Result(from_peer);
}

}  // namespace tongban::sync
