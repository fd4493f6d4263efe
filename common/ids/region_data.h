// The generated GB/T 2260 region table, as compiled into the binary by
// data/CMakeLists.txt (target tongban_region_data) from data/regions.tsv.
// Only common/ids/region.cc reads it; everything else uses region.h.
//
// Thread safety: immutable static data.
#pragma once

#include "absl/strings/string_view.h"

namespace tongban::ids::internal {

// The whole of data/regions.tsv, byte for byte: a header line, then
//   code \t name \t level \t current \t first_year \t last_year \n
// sorted by code (grammar in data/README.md). Static storage; never freed.
absl::string_view RegionTableTsv();

}  // namespace tongban::ids::internal
