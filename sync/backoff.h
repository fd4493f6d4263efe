// Jittered exponential backoff for reconnecting to a peer ("full jitter":
// each delay is uniform in [0, ceiling), and the ceiling doubles per failure
// up to a maximum). Reset on the first acknowledgement from the peer, not on
// connect: a peer that accepts streams and drops them at once must still be
// backed off.
//
// Deterministic for a seed: the jitter is `rng() % ceiling` on a 64-bit
// Mersenne twister, not a std distribution, whose output differs between
// standard libraries.
//
// Thread safety: none; owned by one peer driver.
#pragma once

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace tongban::sync {

class Backoff {
 public:
  // REQUIRES: 0 < initial <= maximum.
  Backoff(absl::Duration initial, absl::Duration maximum, uint64_t seed);

  // The delay before the next attempt; widens the ceiling for the one after.
  absl::Duration Next();
  // Back to the initial ceiling.
  void Reset();

  absl::Duration ceiling() const { return ceiling_; }

 private:
  const absl::Duration initial_;
  const absl::Duration maximum_;
  absl::Duration ceiling_;
  std::mt19937_64 rng_;
};

}  // namespace tongban::sync
