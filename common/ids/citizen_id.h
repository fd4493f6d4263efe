// Citizen ID numbers (GB 11643-1999), validated and graded.
//
// Grading, because field data is imperfect and refusing a real person is
// worse than flagging: a malformed value (wrong length, characters that are
// not digits or a final X) is rejected with kInvalidArgument; everything else
// that is doubtful is accepted with findings that the caller must have the
// operator confirm, and that are stored with the record and counted.
//
// Error messages and logs never carry a whole ID: use MaskId().
//
// Thread safety: free functions, safe to call concurrently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"

namespace tongban::ids {

enum class Sex { kUnspecified = 0, kMale = 1, kFemale = 2 };

// Values are stored with records (proto enum IdFinding mirrors them): never
// renumber.
enum class IdFinding {
  kBadCheckCharacter = 1,  // check character does not match the 17 digits
  kUnknownRegion = 2,      // first six digits are in no GB/T 2260 revision
  kRetiredRegion = 3,      // region code valid once, retired since (normal)
  kImpossibleBirthDate = 4,  // not a calendar date, before 1890, or future
  kPlaceholder = 5,        // 18 zeros, or 000000 + birth date + 0000
  kSexMismatch = 6,        // sequence digit parity disagrees with recorded sex
  kConvertedFrom15 = 7,    // a legacy 15-digit ID, converted to 18
};

// "bad_check_character", "unknown_region", ... (stable, for metrics and CSV).
absl::string_view IdFindingName(IdFinding f);

struct CitizenId {
  std::string normalized;  // 18 characters, final 'x' upper-cased
  std::vector<IdFinding> findings;  // empty for a clean ID, sorted, unique
  std::optional<absl::CivilDay> birth_date;  // absent if impossible/placeholder
  Sex sex = Sex::kUnspecified;  // from the sequence digit (odd male, even female)
};

// Validates `raw` (18 characters, or a legacy 15-digit ID which is converted
// by inserting "19" before the year and computing the check character).
// Leading and trailing ASCII spaces are trimmed. `recorded_sex`, when given,
// is compared with the sequence digit. `today` bounds the birth date.
// Errors: kInvalidArgument "citizen ID <masked>: <problem>" for a malformed
// value (length, characters).
absl::StatusOr<CitizenId> CheckCitizenId(absl::string_view raw,
                                         Sex recorded_sex,
                                         absl::CivilDay today);

// GB 11643-1999 check character of 17 digits ('0'..'9' or 'X').
// REQUIRES: first17 is 17 ASCII digits.
char CheckCharacter(absl::string_view first17);

// "110105********002X": the first six and the last four characters kept.
// Anything that is not 18 characters long is masked whole except its first
// two characters, so a malformed value never leaks either.
std::string MaskId(absl::string_view id);

}  // namespace tongban::ids
