#include "common/clock.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace tongban {
namespace {
class SystemClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};
}  // namespace

Clock* RealClock() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  now_ += d;
}

void FakeClock::Set(absl::Time t) {
  absl::MutexLock lock(&mu_);
  now_ = t;
}

HlcStamp HybridClock::Now() {
  const int64_t wall = absl::ToUnixMicros(clock_->Now());
  absl::MutexLock lock(&mu_);
  if (wall > last_.physical_micros) {
    last_ = HlcStamp{wall, 0};
  } else {
    ++last_.logical;
  }
  return last_;
}

bool HybridClock::Observe(const HlcStamp& remote) {
  if (TooFarAhead(remote.physical_micros, clock_->Now(), max_ahead_)) return false;
  absl::MutexLock lock(&mu_);
  last_ = std::max(last_, remote);
  return true;
}

void HybridClock::Restore(const HlcStamp& own) {
  absl::MutexLock lock(&mu_);
  last_ = std::max(last_, own);
}

}  // namespace tongban
