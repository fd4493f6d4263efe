// Evidence of an origin that showed two histories (DESIGN.md section 4), as
// every detector keeps it: a sync session whose batch does not extend the
// checkpoint held (sync/session.h), and a witness comparison whose cosigned
// checkpoint does not extend it (sync/witness.h).
//
// Kept in the store's default column family under storage::EvidenceKey and
// storage::FrozenKey (storage/keys.h), written by Batch::PutEvidence and
// Batch::PutFrozen. A frozen log accepts nothing more (BatchVerifier: REJECT_REASON_FROZEN)
// until an operator acts.
//
// Thread safety: free functions over a Store that is safe to share.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "sync/verify.h"

namespace tongban::sync {

// Key of a frozen origin's log (storage/keys.h), for readers in sync/ and
// above.
using storage::FrozenKey;

// Every frozen log, in key order. kDataLoss for a key that does not parse.
absl::StatusOr<std::vector<storage::LogId>> FrozenLogs(const storage::Store& store);

// Stores `evidence` about `log`, reported by `from_peer` at `now`, durably.
// A conclusive one (the two checkpoints cannot both be true) also freezes the
// log, in the same write; an inconclusive one (a failed proof that the
// sender could have corrupted) is kept but freezes nothing. Logs at ERROR
// either way: operators are alerted.
absl::Status KeepEvidence(storage::Store& store, const storage::LogId& log,
                          const Equivocation& evidence, absl::string_view from_peer,
                          absl::Time now);

}  // namespace tongban::sync
