// Dates of the domain: legal dates are days in China Standard Time (UTC+8,
// no daylight saving), whatever the machine's zone.
//
// Thread safety: free functions and constants.
#pragma once

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "tongban/v1/records.pb.h"

namespace tongban::records {

// China Standard Time.
absl::TimeZone ChinaStandardTime();

// A calendar day as a record's Date.
v1::Date ToDate(absl::CivilDay d);

}  // namespace tongban::records
