// Verification of a received Batch. The order of the checks is the contract
// of verify.h; the comments here say why each sits where it does.
#include "sync/verify.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/merkle/checkpoint.h"
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
absl::Status CheckShape(const v1::Batch& batch, const ReceiverLog& log, absl::string_view name) {
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

absl::StatusOr<VerifiedBatch> BatchVerifier::Verify(const v1::Batch& batch, const ReceiverLog& log,
                                                    absl::string_view from_peer,
                                                    Equivocation* evidence) {
  crypto::Hasher& hasher = *hasher_;

  // 1. A frozen origin gets nothing applied, whoever relays it. Not this
  // peer's fault, so not kInvalidArgument: an operator must act.
  if (log.frozen) {
    return Reject(v1::REJECT_REASON_FROZEN, absl::StatusCode::kFailedPrecondition,
                  absl::StrCat("origin ", IsNodeCode(batch.origin()) ? batch.origin() : "?",
                               " is frozen after an equivocation; an operator must "
                               "resolve it"));
  }

  // 2. Shape.
  if (!IsNodeCode(batch.origin())) {
    return Reject(v1::REJECT_REASON_MALFORMED, "batch origin is not a 6-digit node code");
  }
  const std::string name = absl::StrCat(batch.origin(), "/", batch.epoch());
  TB_RETURN_IF_ERROR(CheckShape(batch, log, name));

  // 3. The checkpoint names this log. Checked before the key lookup so that
  // a checkpoint of another origin can never be verified with that origin's
  // key and then stand for this one.
  const merkle::SignedCheckpoint signed_cp{batch.checkpoint().body(),
                                           batch.checkpoint().signature()};
  absl::StatusOr<merkle::Checkpoint> parsed = merkle::ParseCheckpoint(signed_cp.body);
  if (!parsed.ok()) {
    return Reject(v1::REJECT_REASON_MALFORMED, absl::StrCat("checkpoint of batch of log ", name,
                                                            ": ", parsed.status().message()));
  }
  if (parsed->suite != suite_.id()) {
    return Reject(
        v1::REJECT_REASON_MALFORMED,
        absl::StrCat("checkpoint of log ", name, " is for suite ", crypto::SuiteName(parsed->suite),
                     "; this federation uses ", suite_.name()));
  }
  if (parsed->origin != batch.origin() || parsed->epoch != batch.epoch()) {
    return Reject(v1::REJECT_REASON_MALFORMED,
                  absl::StrCat("checkpoint is of log ", parsed->origin, "/", parsed->epoch,
                               ", the batch of log ", name));
  }

  // 4. The roster's key.
  const crypto::PublicKey* key = keys_(batch.origin(), parsed->key_id);
  if (key == nullptr) {
    return Reject(
        v1::REJECT_REASON_UNKNOWN_KEY,
        absl::StrCat("origin ", batch.origin(), " has no key ", parsed->key_id, " in the roster"));
  }
  if (key->suite() != suite_.id()) {  // our roster or configuration, not the peer
    return absl::FailedPreconditionError(
        absl::StrCat("roster key ", parsed->key_id, " of origin ", batch.origin(), " is a ",
                     crypto::SuiteName(key->suite()), " key; this node runs ", suite_.name()));
  }

  // 5. The signature. Everything after this trusts only what it covers.
  absl::StatusOr<merkle::Checkpoint> verified = merkle::VerifyCheckpoint(signed_cp, suite_, *key);
  if (!verified.ok()) {
    if (!absl::IsInvalidArgument(verified.status())) return verified.status();
    return Reject(v1::REJECT_REASON_FORGED_SIGNATURE,
                  absl::StrCat("checkpoint of log ", name, " at tree size ", parsed->tree_size,
                               ": ", verified.status().message()));
  }
  const merkle::Checkpoint& cp = *verified;

  // 6. Every event must be in the signed tree, and a routed batch's proof
  // must have the shape its seqs and the signed tree size give (counted
  // without hashing), so that step 10 can only find other bytes.
  if (!batch.events().empty() && batch.events().rbegin()->seq() > cp.tree_size) {
    return Reject(
        v1::REJECT_REASON_MALFORMED,
        absl::StrCat("batch of log ", name, " has event seq ", batch.events().rbegin()->seq(),
                     " beyond its checkpoint's tree size ", cp.tree_size));
  }
  std::vector<uint64_t> leaves;  // routed: the events' leaf indexes
  if (!log.contiguous) {
    leaves.reserve(batch.events_size());
    for (const v1::Event& e : batch.events()) leaves.push_back(e.seq() - 1);
    uint64_t want = 0;
    if (!leaves.empty()) {
      absl::StatusOr<uint64_t> size = merkle::BatchInclusionProofSize(leaves, cp.tree_size);
      if (!size.ok()) return absl::InternalError(size.status().message());  // see step 2
      want = *size;
    }
    if (static_cast<uint64_t>(batch.inclusion_size()) != want) {
      return Reject(v1::REJECT_REASON_MALFORMED,
                    absl::StrCat("routed batch of log ", name, " has ", batch.inclusion_size(),
                                 " batch inclusion proof hashes; its ", leaves.size(),
                                 " events in tree size ", cp.tree_size, " need ", want));
    }
  }

  // 7. Consistency with the checkpoint held. The held one was verified when
  // it was stored, so it is only parsed here.
  std::optional<merkle::Checkpoint> held;
  if (log.checkpoint.has_value()) {
    absl::StatusOr<merkle::Checkpoint> h = merkle::ParseCheckpoint(log.checkpoint->body());
    if (!h.ok()) {
      return absl::DataLossError(
          absl::StrCat("held checkpoint of log ", name, ": ", h.status().message()));
    }
    if (h->origin != batch.origin() || h->epoch != batch.epoch()) {
      return absl::InternalError(
          absl::StrCat("held checkpoint is of log ", h->origin, "/", h->epoch, ", not of ", name));
    }
    held = *std::move(h);
  }
  auto equivocation = [&](bool conclusive, absl::string_view why) {
    if (evidence != nullptr) {
      evidence->held = *log.checkpoint;
      evidence->received = batch.checkpoint();
      evidence->consistency_from = batch.consistency_from();
      evidence->consistency.assign(batch.consistency().begin(), batch.consistency().end());
      evidence->conclusive = conclusive;
      evidence->relayed_by = batch.relayed_by();
    }
    return Reject(v1::REJECT_REASON_EQUIVOCATION,
                  absl::StrCat("origin ", batch.origin(), " epoch ", batch.epoch(),
                               " showed two histories: ", why));
  };
  // Set when a consistency proof failed at a receiver that can settle the
  // question itself in step 10: a corrupt proof from a buggy or hostile
  // sender must not get an honest origin frozen.
  std::string unsettled_equivocation;
  if (held.has_value() && held->tree_size != 0) {
    if (cp.tree_size == held->tree_size) {
      if (cp.root != held->root) {
        return equivocation(/*conclusive=*/true,
                            absl::StrCat("two roots signed for tree size ", cp.tree_size));
      }
    } else {
      // A proof is always non-empty between two different non-zero sizes,
      // so an empty one is a missing one.
      const bool proof_given =
          batch.consistency_from() == held->tree_size && !batch.consistency().empty();
      // A contiguous receiver whose tree is the held checkpoint's sees for
      // itself whether the new leaves extend it (step 10).
      const bool extends_own_tree =
          log.contiguous && cp.tree_size > held->tree_size && held->tree_size == log.applied;
      if (proof_given) {
        const bool grows = cp.tree_size > held->tree_size;
        const merkle::Checkpoint& small = grows ? *held : cp;
        const merkle::Checkpoint& large = grows ? cp : *held;
        const std::vector<crypto::Digest> proof = ToDigests(batch.consistency());
        const absl::Status s = merkle::VerifyConsistency(hasher, small.tree_size, large.tree_size,
                                                         small.root, large.root, proof);
        if (!s.ok()) {
          std::string why = absl::StrCat("tree sizes ", small.tree_size, " and ", large.tree_size,
                                         " are not consistent: ", s.message());
          if (!extends_own_tree) return equivocation(/*conclusive=*/false, why);
          unsettled_equivocation = std::move(why);
        }
      } else if (!extends_own_tree) {
        // Usually a race (another peer advanced our checkpoint after the
        // sender built the batch), so the session re-announces its position
        // instead of giving up on the peer.
        return Reject(
            v1::REJECT_REASON_MALFORMED, absl::StatusCode::kFailedPrecondition,
            absl::StrCat("batch of log ", name, " at tree size ", cp.tree_size,
                         " proves consistency from tree size ", batch.consistency_from(), " with ",
                         batch.consistency_size(), " hashes, but this receiver holds tree size ",
                         held->tree_size, "; resend from the position it states"));
      }
    }
  }

  // 8. Contiguous: the events above the cursor are exactly the rest of the
  // signed tree.
  if (log.contiguous) {
    uint64_t expect = log.applied + 1;
    for (const v1::Event& e : batch.events()) {
      if (e.seq() <= log.applied) continue;
      if (e.seq() != expect) {
        return Reject(v1::REJECT_REASON_GAP,
                      absl::StrCat("contiguous batch of log ", name, " skips from seq ", expect,
                                   " to seq ", e.seq()));
      }
      ++expect;
    }
    if (cp.tree_size > log.applied && expect != cp.tree_size + 1) {
      return Reject(v1::REJECT_REASON_GAP,
                    absl::StrCat("contiguous batch of log ", name, " for a receiver at seq ",
                                 log.applied, " ends at seq ", expect - 1,
                                 ", its checkpoint at tree size ", cp.tree_size));
    }
  }

  // 9. Replays: identical bytes are dropped, other bytes rejected.
  std::vector<int> fresh;  // indexes of events not stored here yet
  fresh.reserve(batch.events_size());
  for (int i = 0; i < batch.events_size(); ++i) {
    const v1::Event& e = batch.events(i);
    if (log.contiguous && e.seq() > log.applied) {
      fresh.push_back(i);
      continue;
    }
    if (!log.stored_body) {
      return absl::InternalError("ReceiverLog.stored_body is not set");
    }
    absl::StatusOr<std::string> stored = log.stored_body(e.seq());
    if (stored.ok()) {
      if (*stored != e.body()) {
        return Reject(
            v1::REJECT_REASON_REPLAY_MISMATCH,
            absl::StrCat("event ", name, "/", e.seq(), " differs from the copy applied here"));
      }
      continue;
    }
    if (!absl::IsNotFound(stored.status())) {
      return Prefixed(absl::StrCat("reading event ", name, "/", e.seq()), stored.status());
    }
    if (log.contiguous) {
      return absl::DataLossError(absl::StrCat("event ", name, "/", e.seq(),
                                              " is missing here, below the cursor ", log.applied));
    }
    fresh.push_back(i);  // routed: an event we were not sent before (a backfill)
  }

  // 10. The bytes of every new event are the ones the origin signed.
  VerifiedBatch out;
  if (log.contiguous) {
    merkle::Frontier frontier;
    if (log.frontier.has_value()) {
      frontier = *log.frontier;
    } else if (log.tree) {
      absl::StatusOr<merkle::Frontier> loaded = merkle::Frontier::Load(log.applied, log.tree);
      if (!loaded.ok()) {
        return Prefixed(absl::StrCat("loading the tree of log ", name), loaded.status());
      }
      frontier = *std::move(loaded);
    }
    if (frontier.size() != log.applied) {
      return absl::InternalError(absl::StrCat("frontier of log ", name, " has size ",
                                              frontier.size(), ", the cursor is ", log.applied));
    }
    if (held.has_value() && held->tree_size == log.applied && log.applied != 0 &&
        frontier.Root(hasher) != held->root) {
      return absl::DataLossError(absl::StrCat("this node's tree of log ", name,
                                              " does not match its checkpoint at tree size ",
                                              held->tree_size));
    }
    // With cp.tree_size < applied nothing is new: step 7 proved cp consistent
    // with the held checkpoint, and step 9 matched every event to our copy.
    if (cp.tree_size >= log.applied) {
      for (int i : fresh) {
        frontier.Append(hasher, merkle::LeafHash(hasher, batch.events(i).body()),
                        [&](merkle::NodeId id, const crypto::Digest& d) {
                          if (storage::IsStoredLevel(id.level)) {
                            out.batch.tree_nodes.emplace_back(id, d);
                          }
                        });
      }
      const bool root_matches = frontier.Root(hasher) == cp.root;
      if (!unsettled_equivocation.empty()) {
        if (!root_matches) return equivocation(/*conclusive=*/false, unsettled_equivocation);
        return Reject(v1::REJECT_REASON_MALFORMED,
                      absl::StrCat("consistency proof of log ", name, " from tree size ",
                                   held->tree_size, " to ", cp.tree_size,
                                   " fails, yet the events extend this receiver's tree "
                                   "to the signed root: the proof is corrupt"));
      }
      if (!root_matches) {
        return Reject(
            v1::REJECT_REASON_TAMPERED_BODY,
            absl::StrCat("events ", log.applied + 1, " to ", cp.tree_size, " of log ", name,
                         " do not hash to the signed root of tree size ", cp.tree_size));
      }
    }
    out.frontier = std::move(frontier);
  } else if (!leaves.empty()) {
    // One proof covers every event of the batch, the ones already held too
    // (their bytes were matched in step 9, so they hash as signed).
    std::vector<crypto::Digest> leaf_hashes;
    leaf_hashes.reserve(leaves.size());
    for (const v1::Event& e : batch.events()) {
      leaf_hashes.push_back(merkle::LeafHash(hasher, e.body()));
    }
    const absl::Status s = merkle::VerifyBatchInclusion(hasher, leaves, cp.tree_size, leaf_hashes,
                                                        ToDigests(batch.inclusion()), cp.root);
    if (!s.ok()) {
      return Reject(v1::REJECT_REASON_TAMPERED_BODY,
                    absl::StrCat("events of log ", name, ": ", s.message()));
    }
  }

  // 11. Parse what the origin signed and match it to the envelope.
  out.batch.events.reserve(fresh.size());
  for (int i : fresh) {
    const v1::Event& e = batch.events(i);
    storage::RemoteEvent& re = out.batch.events.emplace_back();
    re.seq = e.seq();
    re.body = e.body();
    if (!re.parsed.ParseFromString(re.body)) {
      return Reject(
          v1::REJECT_REASON_MALFORMED,
          absl::StrCat("event ", name, "/", e.seq(), ": body does not parse as an EventBody"));
    }
    const v1::EventBody& b = re.parsed;
    if (b.origin() != batch.origin() || b.epoch() != batch.epoch() || b.seq() != e.seq()) {
      return Reject(v1::REJECT_REASON_MALFORMED,
                    absl::StrCat("event ", name, "/", e.seq(), ": body names event ",
                                 IsNodeCode(b.origin()) ? b.origin() : "(not a node code)", "/",
                                 b.epoch(), "/", b.seq()));
    }
  }

  storage::RemoteBatch& rb = out.batch;
  rb.log = storage::LogId{batch.origin(), batch.epoch()};
  if (!held.has_value() || cp.tree_size > held->tree_size) {
    rb.checkpoint = batch.checkpoint();
    rb.checkpoint_size = cp.tree_size;
  } else {
    rb.checkpoint_size = held->tree_size;  // keep the held one
  }
  rb.from_peer = std::string(from_peer);
  uint64_t cursor = log.applied;
  if (log.contiguous) {
    // Every seq up to the signed tree size is now held; a watermark cannot
    // take a contiguous copy past what it holds.
    cursor = std::max(cursor, cp.tree_size);
  } else {
    if (!batch.events().empty()) cursor = std::max(cursor, batch.events().rbegin()->seq());
    // The watermark is the sender's word, not the origin's: it moves the
    // cursor only over seqs a signed checkpoint already covers.
    cursor = std::max(cursor, std::min(batch.watermark(), cp.tree_size));
  }
  rb.cursor = cursor;
  return out;
}

}  // namespace tongban::sync
