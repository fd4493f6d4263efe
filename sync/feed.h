// Feed reads the next batch one peer should receive from one origin's log,
// always from the durable log, routing index and stored checkpoints, so live
// delivery and catch-up after days offline are the same code path and a
// restart loses nothing (DESIGN.md section 7).
//
//   ReadContiguous  every event after the peer's cursor, up to a stored
//                   checkpoint: for a receiver of the whole log (the national
//                   node), which verifies by recomputing the root.
//   ReadRouted      the events routed to the peer (storage's routing index),
//                   with one batch inclusion proof for all of them against
//                   the latest checkpoint (exchange.proto), and a watermark so
//                   the peer's cursor advances past events that were not for
//                   it, even when none were.
// Both add a consistency proof from the checkpoint the peer holds.
//
// Thread safety: free functions over a Store that is safe to share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/store.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::sync {

struct FeedLimits {
  size_t max_events = 1024;    // events per batch
  size_t max_bytes = 1 << 20;  // event bytes per batch (at least one checkpoint's worth)
};

// Where the peer stands in the origin's log, as it said in its Hello.
struct PeerPosition {
  uint64_t cursor = 0;           // everything up to here applied
  uint64_t checkpoint_size = 0;  // the latest checkpoint it holds (0: none)
};

// nullopt when the peer already has everything up to the latest checkpoint.
absl::StatusOr<std::optional<v1::Batch>> ReadContiguous(const storage::Store& store,
                                                        const storage::LogId& log,
                                                        const PeerPosition& peer,
                                                        const FeedLimits& limits);

absl::StatusOr<std::optional<v1::Batch>> ReadRouted(const storage::Store& store,
                                                    absl::string_view peer_code,
                                                    const storage::LogId& log,
                                                    const PeerPosition& peer,
                                                    const FeedLimits& limits);

// The given events of `log` (ascending seqs), with their batch inclusion
// proof against the latest checkpoint, as a backfill batch, with a consistency
// proof from the checkpoint the peer holds. Takes as many from the front of
// `seqs` as the checkpoint covers and the limits allow, and removes them.
// nullopt if `seqs` is empty or no checkpoint covers its first yet.
absl::StatusOr<std::optional<v1::Batch>> ReadSelected(const storage::Store& store,
                                                      const storage::LogId& log,
                                                      const PeerPosition& peer,
                                                      std::vector<uint64_t>* seqs,
                                                      const FeedLimits& limits);

}  // namespace tongban::sync
