// The one place rocksdb::Status becomes absl::Status.
#pragma once

#include "absl/status/status.h"

namespace rocksdb {
class Status;
}

namespace tongban::storage {

// NotFound -> kNotFound, Corruption -> kDataLoss, Busy/TryAgain/TimedOut ->
// kUnavailable, NoSpace -> kResourceExhausted, InvalidArgument (including a
// wrong storage key) -> kInvalidArgument, anything else -> kInternal.
absl::Status FromRocksStatus(const rocksdb::Status& s);

}  // namespace tongban::storage
