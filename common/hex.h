// Lower-case hex encoding of bytes.
// Thread safety: free functions.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tongban {

std::string HexEncode(absl::string_view bytes);
// Accepts upper and lower case; an odd length or a non-hex character is
// kInvalidArgument naming the position.
absl::StatusOr<std::string> HexDecode(absl::string_view hex);

}  // namespace tongban
