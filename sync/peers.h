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
#include "absl/strings/string_view.h"
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
  // Logs this peer refuses from us ("origin/epoch" -> reason): frozen there
  // after an equivocation, or shown a second history. We stop offering them
  // to it; every other log keeps flowing.
  std::map<std::string, std::string> refuses;
  // Batches of logs this node refused from the peer without ending the
  // session (their origin is frozen here, or equivocated).
  uint64_t batches_skipped = 0;
  // The peer's clock as its own events show it (as an origin, whoever
  // relayed them): how far the newest event of its latest batch was ahead of
  // this node's clock when received (zero if not ahead), and how many of its
  // events were ahead by more than the tolerance ([sync] max_clock_ahead):
  // applied, but not adopted by this node's hybrid clock.
  absl::Duration clock_ahead;
  absl::Time clock_seen_at;
  uint64_t events_ahead = 0;
  // Input read from the peer's sessions and not yet processed (batches until
  // applied), summed over its sessions, and the most it ever was: the
  // node's own accounting of what the peer makes it hold (InputAccount).
  uint64_t input_queued_bytes = 0;
  uint64_t input_queued_batches = 0;
  uint64_t input_peak_bytes = 0;
  uint64_t input_peak_batches = 0;
  // What the peer said of itself in its last Hello since this node started
  // (software version cleaned by CleanSoftwareVersion; 0: no Hello yet),
  // and the expiry of the certificate TLS verified when it last opened a
  // session with us (InfinitePast: not known).
  std::string software_version;
  uint64_t roster_version = 0;
  // The peer's clock minus ours when its last Hello arrived (nullopt: no
  // Hello with a time yet). A skew of minutes to days orders nothing
  // differently (events carry hybrid stamps), but an operator should mend
  // the clock.
  std::optional<absl::Duration> clock_skew;
  absl::Time cert_not_after = absl::InfinitePast();
};

// The most of a peer's software version a node keeps and shows.
inline constexpr size_t kMaxSoftwareVersion = 32;
// `said` with every character but [0-9A-Za-z.+_~-] replaced by '?' and cut
// to kMaxSoftwareVersion: a peer's words reach terminals and the console.
std::string CleanSoftwareVersion(absl::string_view said);

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
  // The peer refuses `log` ("origin/epoch") for `reason`. ClearRefusals
  // forgets what it refused before (each Hello states it again).
  void Refuses(const std::string& peer, const std::string& log, const std::string& reason);
  void ClearRefusals(const std::string& peer);
  void BatchSkipped(const std::string& peer);
  // The newest event of `origin` in a batch was `ahead` of our clock at
  // `now`; `beyond` of its events were further ahead than the tolerance.
  void ClockSeen(const std::string& origin, absl::Duration ahead, uint64_t beyond, absl::Time now);
  // A session with `peer` read (positive) or released (negative) input.
  void InputChanged(const std::string& peer, int64_t bytes, int64_t batches);
  // The peer's Hello said it runs `software_version` (cleaned here) and
  // roster `roster_version`.
  void HelloReceived(const std::string& peer, absl::string_view software_version,
                     uint64_t roster_version);
  // The peer's Hello said its clock read `peer_time` when ours read `now`.
  void ClockSkewSeen(const std::string& peer, absl::Time peer_time, absl::Time now);
  // TLS verified a certificate of `peer` expiring at `not_after`.
  void CertificateSeen(const std::string& peer, absl::Time not_after);
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
// kNotFound if the peer was not held. Also forgets the peer's unparsable
// sessions (UnparsableCounter), so it gets its allowance again.
absl::Status ClearHold(storage::Store& store, const std::string& peer);
// The store counter of sessions `peer` ended with bytes that do not parse.
std::string UnparsableCounter(const std::string& peer);

}  // namespace tongban::sync
