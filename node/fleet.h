// What a node's housekeeping keeps for its operators between their calls:
// the fleet view (every other node of the roster with its sync state) and a
// history of the node's own metrics for the console's charts. Both are
// computed by Node's housekeeping thread (node/node.h) and read by the
// Admin logic, which sorts, pages and shapes them
// (admin/admin.h Fleet, MetricsHistory).
//
// Thread safety: FleetSnapshot is immutable once published;
// MetricsHistory is safe for concurrent use.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tongban::node {

struct FleetRow {
  std::string code;
  std::string name;
  std::string status;  // in the roster: active, suspended, revoked
  bool connected = false;
  absl::Time last_seen = absl::InfinitePast();
  uint64_t behind_outbound = 0;
  uint64_t behind_inbound = 0;
  uint64_t log_size = 0;
  std::string held;
  bool frozen = false;
  // From the node's last Hello since this node started ("", 0: unknown).
  std::string software_version;
  uint64_t roster_version = 0;
  // The newest signed checkpoint of its log held here (0, InfinitePast:
  // none).
  uint64_t checkpoint_size = 0;
  absl::Time checkpoint_time = absl::InfinitePast();
  // The expiry of the certificate it last presented to this node since
  // start (InfinitePast: unknown).
  absl::Time cert_not_after = absl::InfinitePast();
};

struct FleetSnapshot {
  absl::Time computed_at = absl::InfinitePast();
  uint64_t roster_version = 0;  // the roster this node ran when computed
  std::vector<FleetRow> rows;   // by code
};

// A certificate that expires within this is counted as expiring.
inline constexpr absl::Duration kCertExpiringWithin = absl::Hours(24 * 30);

// The number of `rows` in each state, for the metric tongban_fleet_nodes:
//   connected      a session is open
//   disconnected   none is open, and the node was seen since this one started
//   unseen         none is open, and it was not seen since this one started
//   held           held after sending invalid data
//   frozen         its log is frozen
//   cert_expiring  its certificate expires within kCertExpiringWithin of
//                  `now` or has expired (known certificates only)
//   roster_behind  its Hello named a roster older than `roster_version`
// The first three partition the rows; the others count rows in them. Every
// state is present, zero or not.
std::map<std::string, uint64_t> CountFleet(const std::vector<FleetRow>& rows, absl::Time now,
                                           uint64_t roster_version);

struct MetricsSample {
  absl::Time at;
  uint64_t own_events = 0;
  uint64_t events_applied = 0;
  uint64_t events_sent = 0;
  uint64_t behind_outbound = 0;  // largest of any peer
  uint64_t behind_inbound = 0;
  double max_lag_seconds = 0;
  uint32_t peers_connected = 0;
};

// The newest `capacity` samples, at most one per `interval`.
class MetricsHistory {
 public:
  static constexpr absl::Duration kInterval = absl::Seconds(10);
  static constexpr size_t kCapacity = 6 * 360;  // six hours

  // Keeps `s` unless the newest sample is less than kInterval older.
  void Add(const MetricsSample& s) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!samples_.empty() && s.at - samples_.back().at < kInterval) return;
    samples_.push_back(s);
    while (samples_.size() > kCapacity) samples_.pop_front();
  }
  // Oldest first.
  std::vector<MetricsSample> Samples() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return std::vector<MetricsSample>(samples_.begin(), samples_.end());
  }

 private:
  mutable absl::Mutex mu_;
  std::deque<MetricsSample> samples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban::node
