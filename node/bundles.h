// Offline exchange (离线平台, DESIGN.md section 8): what a session with a
// peer would carry, written to a bundle file (sync/bundle.h) and applied
// from one, for counties that cannot reach each other.
//
// Export (Node::ExportBundle) runs the sending half of a session
// (sync/session.h) against the positions the recipient stated in the newest
// bundle imported from it (its Hello), or against none: our Hello, every
// batch the feed gives (our own log routed to a county or whole to the
// national node; at the national node every log routed on to the
// recipient), the answers to the histories the recipient asked for
// (FetchPerson, then FetchDone), our own requests for histories whose
// linking registration the recipient will hold, a manifest, and the
// signature.
//
// Import (Node::ImportBundle) refuses a bundle whole, with nothing applied,
// when its header names another recipient or suite, its sender is not an
// active roster node or is held, its file key is sealed to a key this node
// does not hold, or any byte of it fails authentication or the sender's
// signature: the whole file is read and checked once before anything is
// applied. Then it runs the receiving half of a session with the sender
// over the bundle's messages: every batch goes through the batch verifier
// and the writer as over the network, with the same rejection reasons,
// counters, evidence and hold, and each batch is applied with its cursor in
// one write batch (an import killed half-way and run again finishes without
// duplicates). Batches already held are no-ops (a replayed or overlapping
// bundle); a log whose first batch assumes events this node lacks is not
// applied and its missing seqs are reported. The sender's Hello moves the
// sender's acknowledgements (retention) exactly as session Acks do, and is
// kept for the next export when the bundle is the newest from that sender.
// The reply carries an acknowledgement bundle: a bundle with no batches.
//
// A bundle may travel through any carrier (another county, the national
// node's operators): nothing in it depends on who carried it.
//
// Thread safety: one bundle at a time per node (a mutex in Node).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::node {

struct BundleProgress {
  uint64_t events = 0;
  uint64_t batches = 0;
  uint64_t bytes = 0;
  uint64_t events_estimate = 0;  // of the own log, at most; 0 if unknown
};

struct ExportedBundle {
  v1::BundleHeader header;
  v1::BundleManifest manifest;
  uint64_t bytes = 0;
  uint32_t answers = 0;  // FetchDone records
};

struct ImportedBundle {
  v1::BundleHeader header;
  v1::BundleManifest manifest;
  uint64_t batches_applied = 0;
  uint64_t events_applied = 0;
  uint64_t batches_not_applied = 0;
  std::vector<std::string> missing;  // "origin/epoch: seqs A..B"
  std::vector<std::string> notes;    // "origin/epoch: why"
  bool newest = false;
  uint32_t requests = 0;
  std::string ack;  // the acknowledgement bundle's bytes
  std::string ack_id;
};

using BundleSink = std::function<absl::Status(absl::string_view bytes)>;
using BundleProgressFn = std::function<void(const BundleProgress&)>;

}  // namespace tongban::node
