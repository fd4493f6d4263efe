#include "records/dates.h"

#include "absl/strings/str_format.h"

namespace tongban::records {

absl::TimeZone ChinaStandardTime() {
  // A fixed zone is cheap to copy; loading it once spares the lookup.
  static const absl::TimeZone* const tz =
      new absl::TimeZone(absl::FixedTimeZone(kChinaUtcOffsetSeconds));
  return *tz;
}

absl::CivilDay ChinaDay(absl::Time t) { return absl::ToCivilDay(t, ChinaStandardTime()); }

absl::CivilDay ChinaDayOfMicros(int64_t micros) { return ChinaDay(absl::FromUnixMicros(micros)); }

int64_t ChinaDayNumber(int64_t micros) {
  constexpr int64_t kMicrosPerDay = int64_t{86400} * 1000000;
  const int64_t local = micros + int64_t{kChinaUtcOffsetSeconds} * 1000000;
  int64_t days = local / kMicrosPerDay;
  if (local % kMicrosPerDay < 0) --days;  // round towards minus infinity
  return days;
}

v1::Date ToDate(absl::CivilDay d) {
  v1::Date out;
  out.set_year(static_cast<int32_t>(d.year()));
  out.set_month(d.month());
  out.set_day(d.day());
  return out;
}

absl::CivilDay ToCivilDay(const v1::Date& d) {
  return absl::CivilDay(d.year(), d.month(), d.day());
}

bool HasDate(const v1::Date& d) { return d.year() != 0 || d.month() != 0 || d.day() != 0; }

std::string DateText(const v1::Date& d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

std::string ChinaTimeText(absl::Time t, const char* format) {
  return absl::FormatTime(format, t, ChinaStandardTime());
}

absl::Time EndOfDay(const v1::Date& d) {
  return absl::FromCivil(ToCivilDay(d) + 1, ChinaStandardTime());
}

}  // namespace tongban::records
