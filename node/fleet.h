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
};

struct FleetSnapshot {
  absl::Time computed_at = absl::InfinitePast();
  std::vector<FleetRow> rows;  // by code
};

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
