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
  kBadCheckCharacter = 1,    // check character does not match the 17 digits
  kUnknownRegion = 2,        // first six digits are in no GB/T 2260 revision
  kRetiredRegion = 3,        // region code valid once, retired since (normal)
  kImpossibleBirthDate = 4,  // not a calendar date, before 1890, or future
  kPlaceholder = 5,          // 18 zeros, or 000000 + birth date + 0000
  kSexMismatch = 6,          // sequence digit parity disagrees with recorded sex
  kConvertedFrom15 = 7,      // a legacy 15-digit ID, converted to 18
};

// "bad_check_character", "unknown_region", ... (stable, for metrics and CSV).
absl::string_view IdFindingName(IdFinding f);

// Placeholders, recognised in the 18-character form only (legacy 15-digit
// IDs predate them); a placeholder carries only kPlaceholder, plus
// kImpossibleBirthDate if its date is impossible:
//   "000000000000000000"           unknown person: no birth date, no sex.
//   "000000" YYYYMMDD "000" "0"    a child without an ID: region 000000,
//                                  sequence 000, check character '0'.
//                                  birth_date is set if the date is
//                                  possible; sex stays kUnspecified.
// Neither is checked for check character, region or sex.
struct CitizenId {
  std::string normalized;                    // 18 characters, final 'x' upper-cased
  std::vector<IdFinding> findings;           // empty for a clean ID, sorted, unique
  std::optional<absl::CivilDay> birth_date;  // absent if impossible/placeholder
  Sex sex = Sex::kUnspecified;               // from the sequence digit (odd male, even female)
};

// Validates `raw` (18 characters, or a legacy 15-digit ID which is converted
// by inserting "19" before the year and computing the check character).
// Leading and trailing ASCII spaces are trimmed. `recorded_sex`, when given,
// is compared with the sequence digit. `today` bounds the birth date.
// Findings (see IdFinding): the region is looked up with FindRegion() (any
// level): current -> none, only in a past revision -> kRetiredRegion, absent
// -> kUnknownRegion. The birth date must be a calendar date in
// [1890-01-01, today].
// Errors: kInvalidArgument "citizen ID <masked>: <problem>" for a malformed
// value: after trimming, a length other than 15 or 18, or a character that is
// not a digit (a final 'X' or 'x' is allowed in 18-character values). The
// message never holds the whole value (MaskId).
absl::StatusOr<CitizenId> CheckCitizenId(absl::string_view raw, Sex recorded_sex,
                                         absl::CivilDay today);

// GB 11643-1999 check character of 17 digits ('0'..'9' or 'X').
// REQUIRES: first17 is 17 ASCII digits.
char CheckCharacter(absl::string_view first17);

// "110105********002X": the first six and the last four characters kept.
// Anything that is not 18 characters long is masked whole except its first
// two characters, so a malformed value never leaks either; those two are kept
// only if the value is longer than four characters and they are printable
// ASCII. Masks bytes, so the result has the length of `id`.
std::string MaskId(absl::string_view id);

}  // namespace tongban::ids
