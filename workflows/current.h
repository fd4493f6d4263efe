// A record's current value as every read above storage takes it: the
// standing head's value (records/record_state.h), or for a retracted record
// the value it had before the retraction, read from the stored events of
// its history. The deadlines, the clerk's write path and the Admin's
// certificate reads (payload, revocation list) call these, so they agree
// with the statistics and with every other node holding the same events.
//
// Thread safety: free functions; safe for concurrent use on a Store.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "storage/store.h"
#include "tongban/v1/records.pb.h"
#include "tongban/v1/store.pb.h"

namespace tongban::workflows {

// The current value of the record stored under `record_key`, or for a
// retracted one the value it had before the retraction; nullopt for a
// record that does not exist or was only ever retracted. `retracted` says
// whether its standing head is a retraction. kDataLoss for a stored value
// or event that does not parse; storage errors as the store returns them.
absl::StatusOr<std::optional<v1::RecordValue>> NewestValue(const storage::Store& store,
                                                           const std::string& record_key,
                                                           bool* retracted = nullptr);
// The same for a state already read.
absl::StatusOr<std::optional<v1::RecordValue>> NewestValueOf(const storage::Store& store,
                                                             const v1::RecordState& state,
                                                             bool* retracted = nullptr);

// The certificate a record holds, by the same rule; nullopt when that value
// is no certificate.
absl::StatusOr<std::optional<v1::Certificate>> CurrentCertificate(const storage::Store& store,
                                                                  const v1::RecordState& state,
                                                                  bool* retracted = nullptr);

}  // namespace tongban::workflows
