// The standing sessions of simulated counties (testutil::SimCounty) with a
// national node, all driven by gRPC's callback API on its shared threads (no
// thread per session), each on its own channel with the county's own
// certificate, Sync read and written as bytes like sync/transport.cc.
//
// A session says Hello (no positions: a simulated county receives nothing,
// and grants no credit, so the national node sends it no batch), reads the
// national node's Hello for where it stands in the county's log, and sends
// the county's next released batches from there, one at a time within the
// Credit granted; Acks record what the national node has made durable. A
// session that ends (the national node went down) is dialled again after a
// jittered exponential backoff (200 ms doubling to 5 s, like the nodes'
// [sync] retry settings in tools/federation-setup.sh), from a timer thread.
//
// Release(): the rate at which the counties "write" is the caller's: only
// released batches are sent.
//
// This header does not include gRPC.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/testutil/nation.h"

namespace tongban::testutil {

struct SimTotals {
  size_t sessions = 0;    // open now (the national node's Hello received)
  size_t admitted = 0;    // counties whose session was admitted at least once
  uint64_t acked = 0;     // events acknowledged, summed over counties
  uint64_t released = 0;  // events released, summed
  uint64_t sent = 0;      // batches sent, all sessions
  uint64_t dials = 0;     // sessions started (first dials and reconnects)
  uint64_t failures = 0;  // sessions that ended with an error
};

class SimSessions {
 public:
  // `counties` must outlive this object.
  SimSessions(std::string target, const std::vector<SimCounty>* counties);
  ~SimSessions();  // Close()

  // Dials the sessions of counties [from, to).
  void Open(size_t from, size_t to);
  // Makes the first `batches` batches of county `i` sendable (never fewer
  // than already released).
  void Release(size_t i, size_t batches);
  // The number of batches released for county `i`.
  size_t released(size_t i) const;
  // The last seq the national node acknowledged for county `i`.
  uint64_t acked(size_t i) const;
  SimTotals Totals() const;
  // How the last failed session of any county ended ("" if none).
  std::string last_error() const;
  // Cancels every session; no reconnects after it. Idempotent.
  void Close();

  struct Impl;  // internal (sim_sessions.cc)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tongban::testutil
