// PeerDriver decides when this node dials which peer (DESIGN.md section 7):
//
//   who         a county or province node keeps one standing session with
//               the national node (it receives every feed and relays to
//               nodes that cannot be reached, so a county behind a firewall
//               still gets its events); it dials any other peer only while
//               it holds data that peer lacks (events routed to it above the
//               peer's acknowledged position, or a person's history to fetch
//               from it), and closes such a session after `idle_close`
//               without traffic or pending data. The national node dials
//               nobody: every county keeps a session to it.
//   retries     after a session fails or is refused, the next attempt waits
//               a jittered exponential backoff (sync/backoff.h) that resets
//               on the peer's first acknowledgement, not on connect;
//   holds       a peer held for invalid data (sync/peers.h) is not dialled,
//               and a session with it is stopped, until an operator clears
//               the hold.
//
// The driver runs on a thread of its own, waking every `tick` and whenever
// the writer made something durable. Tests call Tick() directly.
//
// Thread safety: Start, Stop, Tick and Snapshot may be called from any
// thread; Tick runs under the driver's lock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "sync/backoff.h"
#include "sync/peers.h"

namespace tongban::sync {

// A dialled session as the driver sees it (PeerConnection in production).
class DriverLink {
 public:
  virtual ~DriverLink() = default;
  // nullopt while the session runs; then how it ended.
  virtual std::optional<absl::Status> result() const = 0;
  // Closes the session cleanly and waits for it to end.
  virtual void Stop() = 0;
};

struct DriverOptions {
  std::string self;
  std::string national = "000000";
  absl::Duration retry_initial = absl::Seconds(1);
  absl::Duration retry_max = absl::Minutes(5);
  absl::Duration idle_close = absl::Seconds(60);
  absl::Duration tick = absl::Milliseconds(200);
  uint64_t seed = 1;  // backoff jitter
};

// What the driver knows of one peer, for `tongbanctl peers`.
struct DriverPeer {
  bool dialled = false;     // a session we dialled is running
  absl::Time next_attempt;  // when a failed peer may be dialled again
  int failures = 0;         // since the last acknowledgement
  std::optional<std::string> held;
};

class PeerDriver {
 public:
  // Starts a session with `peer`; nullptr if it cannot (the error logged).
  using Dialer = std::function<std::unique_ptr<DriverLink>(const std::string& peer)>;
  // The peers that may be dialled now: active in the roster, with an
  // endpoint, not this node.
  using Candidates = std::function<std::vector<std::string>()>;

  // Borrowed pointers must outlive the driver.
  PeerDriver(storage::Store* store, storage::Writer* writer, PeerTable* peers, const Clock* clock,
             DriverOptions options, Candidates candidates, Dialer dial);
  ~PeerDriver();  // Stop()

  // Starts the driver's thread; kResourceExhausted if it cannot (call
  // Stop() or destroy the driver then).
  absl::Status Start();
  // Stops the thread and every dialled session. Idempotent.
  void Stop();

  // One round of decisions at `now`.
  void Tick(absl::Time now);

  std::map<std::string, DriverPeer> Snapshot() const;

 private:
  struct State {
    explicit State(const DriverOptions& o, uint64_t seed)
        : backoff(o.retry_initial, o.retry_max, seed) {}
    std::unique_ptr<DriverLink> link;
    Backoff backoff;
    absl::Time dialled_at;
    absl::Time next_attempt = absl::InfinitePast();
    uint64_t acks_at_dial = 0;
    int failures = 0;
    std::optional<std::string> held;
  };

  void Loop();
  bool Standing(const std::string& peer) const;
  void TickPeer(const std::string& peer, State& st, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  storage::Store* const store_;
  storage::Writer* const writer_;
  PeerTable* const peers_;
  const Clock* const clock_;
  const DriverOptions options_;
  const Candidates candidates_;
  const Dialer dial_;

  // Guards the peers' states; held while deciding (which may stop a link).
  mutable absl::Mutex mu_;
  std::map<std::string, State> states_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // Wakes the loop. Separate from mu_: the writer's listener takes it on the
  // committer thread, which a session being stopped under mu_ may wait for.
  absl::Mutex wake_mu_;
  bool stop_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool woken_ ABSL_GUARDED_BY(wake_mu_) = false;
  int listener_ = -1;
  std::thread thread_;
};

}  // namespace tongban::sync
