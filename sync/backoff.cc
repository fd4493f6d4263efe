#include "sync/backoff.h"

#include <algorithm>
#include <cassert>

namespace tongban::sync {

Backoff::Backoff(absl::Duration initial, absl::Duration maximum, uint64_t seed)
    : initial_(initial), maximum_(maximum), ceiling_(initial), rng_(seed) {
  assert(initial > absl::ZeroDuration() && initial <= maximum);
}

absl::Duration Backoff::Next() {
  const int64_t ceiling_us = std::max<int64_t>(1, absl::ToInt64Microseconds(ceiling_));
  const absl::Duration delay =
      absl::Microseconds(static_cast<int64_t>(rng_() % static_cast<uint64_t>(ceiling_us)));
  ceiling_ = std::min(ceiling_ * 2, maximum_);
  return delay;
}

void Backoff::Reset() { ceiling_ = initial_; }

}  // namespace tongban::sync
