// Dates of the domain: legal dates are days in China Standard Time (UTC+8,
// no daylight saving), whatever the machine's zone. Every conversion between
// a time and a day, and every date shown as text, goes through here.
//
// Thread safety: free functions and constants.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "tongban/v1/records.pb.h"

namespace tongban::records {

// UTC+8, in seconds.
inline constexpr int kChinaUtcOffsetSeconds = 8 * 3600;

// China Standard Time.
absl::TimeZone ChinaStandardTime();

// The day of `t` in China Standard Time.
absl::CivilDay ChinaDay(absl::Time t);
// The same for a time stamp in microseconds since the Unix epoch.
absl::CivilDay ChinaDayOfMicros(int64_t micros);
// The same as days since 1970-01-01, by integer arithmetic alone: for scans
// that convert millions of stamps (workflows/stats.cc).
int64_t ChinaDayNumber(int64_t micros);

// A calendar day as a record's Date.
v1::Date ToDate(absl::CivilDay d);
// A record's Date as a calendar day (an impossible date normalises, 02-30
// to 03-02: validate it first where that matters).
absl::CivilDay ToCivilDay(const v1::Date& d);
// Whether any field of `d` is set (an unset Date is all zeros).
bool HasDate(const v1::Date& d);

// "2026-03-01", the field values as they are (an unset date reads
// "0000-00-00").
std::string DateText(const v1::Date& d);
// `t` formatted (absl::FormatTime) in China Standard Time; "%Y-%m-%d %H:%M:%S"
// unless `format` says otherwise.
std::string ChinaTimeText(absl::Time t, const char* format = "%Y-%m-%d %H:%M:%S");

// The end of day `d` in China Standard Time (the next day's first moment):
// the moment a deadline on `d` passes.
absl::Time EndOfDay(const v1::Date& d);

}  // namespace tongban::records
