// Validation of record values before anything is stored: every field that
// names a date, a region or a citizen ID is checked, and the first problem is
// returned as kInvalidArgument naming the field and what is wrong
// ("inflow.arrived_on: 2026-02-30 is not a calendar date"). Citizen IDs in
// messages are masked.
//
// The person's own ID is graded separately (ids::CheckCitizenId) because its
// findings are stored and counted; IDs inside a payload (spouse, children,
// a service's beneficiary) must be well-formed, and their findings are not
// graded.
//
// Thread safety: free functions.
#pragma once

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "records/kinds.h"
#include "tongban/v1/records.pb.h"

namespace tongban::records {

// Checks that `value` holds the case of `kind`, that it has every field the
// kind requires (records/kinds.h: "inflow.arrived_on: missing"), and that
// every field present is valid.
// `today` bounds dates that cannot lie in the future (birth, arrival,
// delivery); validity periods and deadlines may.
absl::Status ValidateRecordValue(v1::RecordKind kind, const v1::RecordValue& value,
                                 absl::CivilDay today);

// A date field: a real calendar day from 1890-01-01; with `not_after`, not
// after that day.
absl::Status ValidateDate(const char* field, const v1::Date& date, const absl::CivilDay* not_after);

}  // namespace tongban::records
