#include "storage/rocksdb_status.h"

#include <rocksdb/status.h>

namespace tongban::storage {

absl::Status FromRocksStatus(const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  const std::string text = s.ToString();
  if (s.IsNotFound()) return absl::NotFoundError(text);
  if (s.IsCorruption()) return absl::DataLossError(text);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) {
    return absl::UnavailableError(text);
  }
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(text);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(text);
  if (s.IsIOError()) return absl::UnavailableError(text);
  return absl::InternalError(text);
}

}  // namespace tongban::storage
