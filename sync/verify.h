// Verification of a received Batch before anything of it is applied
// (DESIGN.md sections 4, 7 and 10: forged, tampered, replayed, reordered or
// equivocating data is rejected before apply, with evidence kept).
//
// BatchVerifier is pure: it reads the receiver's view of the origin's log
// through the ReceiverLog the caller fills, writes nothing, and returns
// either a storage::RemoteBatch ready for Writer::ApplyRemote or a rejection.
//
// A rejection is an absl::Status that carries a v1::RejectReason as a payload
// (RejectReasonOf reads it back). The code says what the session should do:
//   kInvalidArgument     the peer sent bad data; do not retry it until an
//                        operator acts (every reason below)
//   kFailedPrecondition  the batch was built for another receiver position
//                        (a stale consistency proof, reason MALFORMED) or the
//                        origin is frozen (reason FROZEN): resend Hello, or
//                        wait for an operator
//   anything else        the receiver's own state or a crypto library failure
//                        (no reason attached): not the peer's fault
// Messages name seqs, sizes, origins and key ids, never personal data.
//
// Checks, in this order (nothing is read from storage, hashed, or parsed
// out of an event body before the checkpoint's signature is verified; a
// forged batch can only ever be rejected):
//   1. FROZEN             the origin is frozen, or the batch carries an event
//                         after the seq its epoch was closed at
//   2. MALFORMED / GAP    shape, no crypto and no state: origin is a node
//                         code; a checkpoint is present; the batch's shape
//                         matches the receiver's (contiguous or routed);
//                         event seqs >= 1 and strictly ascending (a
//                         contiguous batch that repeats or reorders a seq is
//                         GAP, as exchange.proto documents); a batch
//                         inclusion proof in routed batches only; every hash
//                         32 bytes
//   3. MALFORMED          the checkpoint text parses and names this suite, the
//                         batch's origin and epoch
//   4. UNKNOWN_KEY        neither the roster nor a key rotation of the origin
//                         gives key `key_id`: key rotations the batch carries
//                         are checked here (each signed by the key it retires
//                         and the key it introduces, MALFORMED otherwise; at
//                         most 64), with those this receiver keeps
//                         (ReceiverLog.rotations), and must form one history
//                         rooted in the roster (common/merkle/rotation.h)
//      RETIRED_KEY        the key does not sign at the checkpoint's position:
//                         a rotation retired it before that tree size, or
//                         introduced it after
//   5. FORGED_SIGNATURE   merkle::VerifyCheckpoint fails
//   --- the checkpoint is now the origin's word ---
//   6. MALFORMED          an event seq beyond the checkpoint's tree size;
//                         routed: a batch inclusion proof with another number
//                         of hashes than the events' seqs and the tree size
//                         need (counted, not hashed)
//   7. EQUIVOCATION       against the held checkpoint: same size and another
//                         root, or the consistency proof between the smaller
//                         and the larger size fails (evidence returned). The
//                         batch's consistency_from must name the held size;
//                         when it does not, or the proof is missing, the
//                         batch was built for another position (MALFORMED,
//                         kFailedPrecondition) -- except at a contiguous
//                         receiver whose tree is the held checkpoint's and
//                         that grows: step 10 checks that extension itself,
//                         and also settles a failed proof there (events that
//                         extend its tree to the signed root mean a corrupt
//                         proof, MALFORMED; otherwise EQUIVOCATION)
//   8. GAP                contiguous: the events above the cursor are not
//                         exactly cursor+1 .. tree_size
//   9. REPLAY_MISMATCH    an event already stored here with other bytes
//                         (identical ones are dropped as harmless no-ops)
//  10. TAMPERED_BODY      contiguous: the stored tree extended by the new
//                         leaves does not hash to the signed root; routed: the
//                         batch inclusion proof (exchange.proto) does not lead
//                         from the leaves of all its events to the signed root
//  11. MALFORMED          a new event's body does not parse, or its origin,
//                         epoch or seq differs from the envelope (bodies are
//                         parsed only once the signed root covers them); a
//                         key-rotation entry that carries record fields or is
//                         not exactly a rotation of the key history of step 4
//
// Thread safety: none. A BatchVerifier holds a hasher; make one per thread
// (the applier's).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/suite.h"
#include "common/merkle/tree.h"
#include "storage/remote.h"
#include "tongban/v1/event.pb.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::sync {

// The reason `status` carries, or REJECT_REASON_UNSPECIFIED (OK, or an error
// that is not a rejection of the peer's data).
v1::RejectReason RejectReasonOf(const absl::Status& status);

// What the receiver holds of one origin's log (origin, epoch): the caller
// fills it from its store before each batch of that log.
struct ReceiverLog {
  // Cursor: every event of this log up to here that was meant for this
  // receiver is applied. For a contiguous receiver it must be the size of
  // its stored copy (every event 1..applied, none above), whichever peer
  // delivered them -- not a per-peer cursor, or its held checkpoint and
  // frontier would not match it.
  uint64_t applied = 0;
  // The latest checkpoint held for this log (verified when it was stored),
  // or nullopt if none.
  std::optional<v1::SignedCheckpoint> checkpoint;
  // The origin showed two histories; nothing more is accepted from it until
  // an operator acts.
  bool frozen = false;
  // The origin closed this epoch at this seq under a restart record the
  // national node countersigned (node/node.h): nothing after it is applied
  // (rejected as FROZEN).
  std::optional<uint64_t> closed_at;

  // The origin's key rotations this receiver keeps (Store::KeyRotations),
  // each verified when it was stored.
  std::vector<storage::KeyRotationEntry> rotations;

  // True if this receiver keeps the whole log (the national node); it then
  // accepts contiguous batches only, and routed receivers routed ones only.
  bool contiguous = false;
  // Contiguous receivers: the Merkle frontier of events 1..applied. If
  // unset, it is loaded through `tree` (e.g. Store::NodeReaderFor); if both
  // are unset, `applied` must be 0.
  std::optional<merkle::Frontier> frontier;
  merkle::NodeReader tree;

  // The stored body of `seq`, exactly as applied, or kNotFound. Any other
  // error passes through. Routed receivers are asked for every event of a
  // batch (a backfill can store events above the cursor); contiguous ones
  // for events at or below `applied` only. Required.
  std::function<absl::StatusOr<std::string>(uint64_t seq)> stored_body;
};

// The roster's public key `key_id` of `origin`, or nullptr if it has none.
// The pointer must stay valid for the duration of the Verify call.
using KeyLookup =
    std::function<const crypto::PublicKey*(absl::string_view origin, absl::string_view key_id)>;

// Both checkpoints of an equivocation, as received, to keep as evidence.
struct Equivocation {
  v1::SignedCheckpoint held;      // the one the receiver held
  v1::SignedCheckpoint received;  // the one in the rejected batch
  // The consistency proof the batch carried, as sent (may be empty).
  uint64_t consistency_from = 0;
  std::vector<std::string> consistency;
  // True when the two checkpoints alone prove it (same tree size, different
  // roots). Otherwise a consistency proof failed, which a buggy or hostile
  // sender could also cause by corrupting the proof (a contiguous receiver
  // rules that out when the batch grows its own tree; a routed one cannot):
  // confirm with the witness or the origin before blaming the origin.
  bool conclusive = false;
  std::string relayed_by;
};

struct VerifiedBatch {
  // New events (duplicates dropped), the checkpoint to store (nullopt when
  // the held one is as new or newer), stored-level tree nodes (contiguous),
  // `from_peer` and the cursor to store.
  //
  // cursor = max(applied, last event seq, watermark), where the watermark
  // counts only up to the checkpoint's tree size (a sender cannot move the
  // cursor over seqs no signed checkpoint covers yet), and for a contiguous
  // receiver not at all beyond the events it now holds (never past a gap).
  storage::RemoteBatch batch;
  // Contiguous receivers: the frontier at batch.cursor, for the next batch.
  std::optional<merkle::Frontier> frontier;
};

class BatchVerifier {
 public:
  // `suite` is the federation's suite (a process-wide object); `keys` looks
  // up roster keys.
  BatchVerifier(const crypto::Suite& suite, KeyLookup keys);
  BatchVerifier(const BatchVerifier&) = delete;
  BatchVerifier& operator=(const BatchVerifier&) = delete;

  // Verifies `batch`, received from `from_peer` (the mTLS identity), against
  // `log`, the receiver's view of (batch.origin, batch.epoch). Returns the
  // verified batch, or a rejection (see the file comment). On
  // REJECT_REASON_EQUIVOCATION, `*evidence` (if not null) receives both
  // checkpoints; the caller keeps it and freezes the origin.
  // REQUIRES: `log` describes the log (batch.origin(), batch.epoch()).
  absl::StatusOr<VerifiedBatch> Verify(const v1::Batch& batch, const ReceiverLog& log,
                                       absl::string_view from_peer,
                                       Equivocation* evidence = nullptr);

 private:
  const crypto::Suite& suite_;
  const KeyLookup keys_;
  std::unique_ptr<crypto::Hasher> hasher_;
};

}  // namespace tongban::sync
