#include "records/dates.h"

namespace tongban::records {

absl::TimeZone ChinaStandardTime() { return absl::FixedTimeZone(8 * 3600); }

v1::Date ToDate(absl::CivilDay d) {
  v1::Date out;
  out.set_year(static_cast<int32_t>(d.year()));
  out.set_month(d.month());
  out.set_day(d.day());
  return out;
}

}  // namespace tongban::records
