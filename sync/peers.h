// What a node knows about each peer, for the peer driver (sync/driver.h),
// operators (`tongbanctl peers`) and metrics:
//
//   PeerTable      live state of the sessions, in memory: connected since,
//                  last batch, acknowledgements, last error. Sessions report
//                  into it from their threads.
//   acked          what a peer acknowledged of each log we send it, stored
//                  by the sending session with every Ack ("acked/" keys): it
//                  tells what the peer still lacks, and an origin keeps every
//                  event until the peers that should have it acknowledged it
//                  (DESIGN.md section 7; this version never prunes its log).
//   holds          a peer that sent invalid data (a batch rejected with a
//                  RejectReason) is held: not dialled and refused at the
//                  handshake until an operator clears the hold. Stored, so a
//                  restart does not forget it.
//
// Thread safety: PeerTable is thread-safe. The free functions use a Store,
// which is.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "storage/store.h"

namespace tongban::sync {

struct PeerStatus {
  int sessions = 0;            // open sessions with the peer (either side dialled)
  absl::Time connected_since;  // when the first of them opened
  absl::Time last_batch;       // last batch sent or applied
  uint64_t acks = 0;           // acknowledgements received, all sessions
  uint64_t batches_sent = 0;
  uint64_t batches_applied = 0;
  uint64_t events_sent = 0;
  uint64_t events_applied = 0;
  std::string last_error;  // how the last failed session ended
  absl::Time last_error_at;
};

class PeerTable {
 public:
  void SessionStarted(const std::string& peer, absl::Time now);
  // `result` is how the session ended; a failure becomes last_error.
  void SessionEnded(const std::string& peer, const absl::Status& result, absl::Time now);
  // A dialled session failed, perhaps before it started (refused at the
  // handshake, unreachable): `result` becomes last_error.
  void DialFailed(const std::string& peer, const absl::Status& result, absl::Time now);
  void AckReceived(const std::string& peer);
  void BatchSent(const std::string& peer, uint64_t events, absl::Time now);
  // `took`: verification and durable apply of the batch.
  void BatchApplied(const std::string& peer, uint64_t events, absl::Time now,
                    absl::Duration took = absl::ZeroDuration());
  // Where BatchApplied records how long applies take (seconds); may be null.
  // Set before sessions start.
  void SetApplyLatency(metrics::Histogram* histogram) { apply_latency_ = histogram; }

  PeerStatus Get(const std::string& peer) const;
  std::map<std::string, PeerStatus> All() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, PeerStatus> peers_ ABSL_GUARDED_BY(mu_);
  metrics::Histogram* apply_latency_ = nullptr;
};

// --- Acknowledgements (sender side) ---

// Records that `peer` acknowledged `log` up to `seq` (never moves back).
absl::Status StoreAck(storage::Store& store, const std::string& peer, const storage::LogId& log,
                      uint64_t seq);
// What `peer` acknowledged of `log`; 0 if nothing.
absl::StatusOr<uint64_t> AckedBy(const storage::Store& store, const std::string& peer,
                                 const storage::LogId& log);

// True if we hold something `peer` should receive and has not acknowledged:
// our own log (whole, when the peer is `national`; else the events routed
// to it), or a person's history still to fetch from it.
absl::StatusOr<bool> HasPendingFor(const storage::Store& store, const storage::LogId& own,
                                   const std::string& peer, const std::string& national);

// --- Holds ---

absl::Status HoldPeer(storage::Store& store, const std::string& peer, const std::string& reason);
// Why `peer` is held, or nullopt.
absl::StatusOr<std::optional<std::string>> HoldOf(const storage::Store& store,
                                                  const std::string& peer);
// kNotFound if the peer was not held.
absl::Status ClearHold(storage::Store& store, const std::string& peer);

}  // namespace tongban::sync
