// Time, injected. Components that need "now" hold a Clock* so that tests can
// drive time by hand (FakeClock) instead of sleeping.
//
// HybridClock issues hybrid logical clock stamps (Kulkarni et al. 2014):
// physical microseconds plus a logical counter, monotonic even if the wall
// clock steps back, and advanced past every stamp the node receives. Stamps
// order events causally; they never order legal facts by themselves.
//
// Thread safety: all classes here are safe for concurrent use.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tongban {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The system's wall clock. Never freed.
Clock* RealClock();

class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1796083200)) : now_(start) {}
  absl::Time Now() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

struct HlcStamp {
  int64_t physical_micros = 0;
  uint32_t logical = 0;
  friend auto operator<=>(const HlcStamp&, const HlcStamp&) = default;
};

class HybridClock {
 public:
  explicit HybridClock(const Clock* clock) : clock_(clock) {}
  // A stamp greater than every stamp issued or observed before.
  HlcStamp Now();
  // Merges a stamp received from a peer.
  void Observe(const HlcStamp& remote);

 private:
  const Clock* const clock_;  // Not owned; outlives this.
  absl::Mutex mu_;
  HlcStamp last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban
