// The words of the records' enums in the console's message catalogs. The
// catalogs under console/assets/i18n hold the console's own messages; the
// words of every record enum (kinds, sexes, certificate and service types,
// purposes, ID findings, link roles, inquiry and notice states...) come from
// records/words.h, their one home, and are merged into the catalogs when the
// console loads them: "enum.INQUIRY_TYPE_URGENT" (the proto value's name)
// and "state.answered_late" (the state's token, spaces as underscores).
//
// Thread safety: free functions.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "records/words.h"

namespace tongban::console {

// The catalog `catalog_json` (a flat JSON object of strings) with the
// records' words in `lang` added. kInvalidArgument if the catalog is not a
// JSON object or already holds one of those keys (a second home for a word
// records/ owns).
absl::StatusOr<std::string> MergeRecordWords(absl::string_view catalog_json, records::Lang lang);

}  // namespace tongban::console
