// Time, injected. Components that need "now" hold a Clock* so that tests can
// drive time by hand (FakeClock) instead of sleeping.
//
// HybridClock issues hybrid logical clock stamps (Kulkarni et al. 2014):
// physical microseconds plus a logical counter, monotonic even if the wall
// clock steps back, and advanced past every stamp the node receives that is
// at most `max_ahead` ahead of its own wall clock. A stamp further ahead (a
// peer whose clock is wrong, or lies) is not adopted: one peer must not
// move every later stamp of this node. Stamps order events causally; they
// never order legal facts by themselves.
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

// How far ahead of the node's own clock a peer's stamp may be and still be
// adopted, unless configured otherwise ([sync] max_clock_ahead).
inline constexpr absl::Duration kDefaultMaxClockAhead = absl::Minutes(5);

class HybridClock {
 public:
  explicit HybridClock(const Clock* clock, absl::Duration max_ahead = kDefaultMaxClockAhead)
      : clock_(clock), max_ahead_(max_ahead) {}
  // A stamp greater than every stamp issued, adopted or restored before.
  HlcStamp Now();
  // Merges a stamp received from a peer if its physical time is at most
  // max_ahead ahead of the wall clock, and returns true; returns false and
  // changes nothing for a stamp further ahead.
  bool Observe(const HlcStamp& remote);
  // Adopts a stamp of this node's own log whatever it is (on restart, so
  // that its stamps keep growing).
  void Restore(const HlcStamp& own);
  absl::Duration max_ahead() const { return max_ahead_; }

 private:
  const Clock* const clock_;  // Not owned; outlives this.
  const absl::Duration max_ahead_;
  absl::Mutex mu_;
  HlcStamp last_ ABSL_GUARDED_BY(mu_);
};

// True if `stamp_micros` is more than `max_ahead` ahead of `now`.
inline bool TooFarAhead(int64_t stamp_micros, absl::Time now, absl::Duration max_ahead) {
  return absl::FromUnixMicros(stamp_micros) - now > max_ahead;
}

}  // namespace tongban
