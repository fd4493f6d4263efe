// Events of another origin, verified by the sync layer and ready to apply.
// Writer::ApplyRemote writes them, the record states and links they imply,
// the origin's checkpoint and tree nodes, and the receiver's cursor, in one
// batch (DESIGN.md section 7: cursors move in the same batch as the events).
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/crypto/suite.h"
#include "common/merkle/tree.h"
#include "storage/keys.h"
#include "tongban/v1/event.pb.h"

namespace tongban::storage {

struct RemoteEvent {
  uint64_t seq = 0;
  std::string body;      // exact bytes, as the origin signed them
  v1::EventBody parsed;  // parsed from `body`; origin, epoch, seq checked
};

// A key rotation of an origin's log at (log, seq) (common/merkle/rotation.h),
// as stored (keys.h "keyrot/") and as a verified batch brings it.
struct KeyRotationEntry {
  LogId log;
  uint64_t seq = 0;
  v1::SignedKeyRotation rotation;
};

struct RemoteBatch {
  LogId log;                        // the origin's log
  std::vector<RemoteEvent> events;  // new events only (duplicates dropped), ascending
  // The origin's checkpoint that covers them, to store (nullopt: keep the
  // one held).
  std::optional<v1::SignedCheckpoint> checkpoint;
  uint64_t checkpoint_size = 0;
  // Tree nodes the receiver now holds for a contiguous copy of the log
  // (stored levels only, see keys.h); empty for a routed subset.
  std::vector<std::pair<merkle::NodeId, crypto::Digest>> tree_nodes;
  // Key rotations to keep, which the verifier checked (with the checkpoint
  // they let it verify).
  std::vector<KeyRotationEntry> key_rotations;
  // The node the batch came from and the cursor to store for it: every event
  // of this log up to `cursor` that was meant for us is applied.
  std::string from_peer;
  uint64_t cursor = 0;
  // The node the batch came from, also for a backfill (which stores no
  // cursor): the writer's listeners are told it once the batch is durable,
  // so that its session sends the Ack and Credit (DurableChange::peers).
  std::string received_from;
};

}  // namespace tongban::storage
