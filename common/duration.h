// Durations as people write them in configuration files and flags.
//
// Thread safety: free functions.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tongban {

// "30s", "5m", "2h", "180d" (and "250ms") -> the duration; kInvalidArgument
// quoting the text otherwise.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);

}  // namespace tongban
