#include "common/ids/citizen_id.h"

#include <algorithm>
#include <cassert>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/ids/region.h"

namespace tongban::ids {
namespace {

// GB 11643-1999 (ISO 7064 MOD 11-2): weight of position i is 2^(17-i) mod 11.
constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
constexpr char kCheckChars[] = "10X98765432";  // indexed by S mod 11

constexpr absl::string_view kAllZeros = "000000000000000000";
constexpr int kMinBirthYear = 1890;

[[maybe_unused]] bool AllDigits(  // For assert().
    absl::string_view s) {
  return std::all_of(s.begin(), s.end(), absl::ascii_isdigit);
}

int Digits(absl::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

absl::string_view TrimSpaces(absl::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

absl::Status Malformed(absl::string_view value, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("citizen ID ", MaskId(value), ": ", problem));
}

// The position (1-based) of the first character that is not allowed, or 0.
size_t FirstBadCharacter(absl::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    const bool last_of_18 = value.size() == 18 && i == 17;
    const char c = value[i];
    if (absl::ascii_isdigit(c)) continue;
    if (last_of_18 && (c == 'X' || c == 'x')) continue;
    return i + 1;
  }
  return 0;
}

// YYYYMMDD as a real date in [1890-01-01, today], or nullopt.
std::optional<absl::CivilDay> BirthDate(absl::string_view yyyymmdd, absl::CivilDay today) {
  const int year = Digits(yyyymmdd.substr(0, 4));
  const int month = Digits(yyyymmdd.substr(4, 2));
  const int day = Digits(yyyymmdd.substr(6, 2));
  const absl::CivilDay date(year, month, day);
  // CivilDay normalises out-of-range fields (Feb 30 -> Mar 2): a date is real
  // only if it survives unchanged.
  if (date.year() != year || date.month() != month || date.day() != day) {
    return std::nullopt;
  }
  if (date < absl::CivilDay(kMinBirthYear, 1, 1) || date > today) {
    return std::nullopt;
  }
  return date;
}

}  // namespace

absl::string_view IdFindingName(IdFinding f) {
  switch (f) {
    case IdFinding::kBadCheckCharacter: return "bad_check_character";
    case IdFinding::kUnknownRegion: return "unknown_region";
    case IdFinding::kRetiredRegion: return "retired_region";
    case IdFinding::kImpossibleBirthDate: return "impossible_birth_date";
    case IdFinding::kPlaceholder: return "placeholder";
    case IdFinding::kSexMismatch: return "sex_mismatch";
    case IdFinding::kConvertedFrom15: return "converted_from_15";
  }
  return "unspecified";
}

char CheckCharacter(absl::string_view first17) {
  assert(first17.size() == 17 && AllDigits(first17));
  int sum = 0;
  for (size_t i = 0; i < 17; ++i) sum += (first17[i] - '0') * kWeights[i];
  return kCheckChars[sum % 11];
}

std::string MaskId(absl::string_view id) {
  if (id.size() == 18) {
    return absl::StrCat(id.substr(0, 6), std::string(8, '*'), id.substr(14));
  }
  std::string masked(id.size(), '*');
  // Keep two leading characters only if the value is long enough that they
  // say little, and they are printable ASCII (no half UTF-8 characters).
  if (id.size() > 4) {
    for (size_t i = 0; i < 2; ++i) {
      if (absl::ascii_isgraph(static_cast<unsigned char>(id[i]))) masked[i] = id[i];
    }
  }
  return masked;
}

absl::StatusOr<CitizenId> CheckCitizenId(absl::string_view raw, Sex recorded_sex,
                                         absl::CivilDay today) {
  const absl::string_view value = TrimSpaces(raw);
  if (value.size() != 18 && value.size() != 15) {
    return Malformed(value,
                     absl::StrCat("length ", value.size(), ", want 18 (or 15 for a legacy ID)"));
  }
  if (const size_t bad = FirstBadCharacter(value); bad != 0) {
    return Malformed(value, absl::StrCat("character ", bad, " is not a digit",
                                         value.size() == 18 && bad == 18 ? " or X" : ""));
  }

  CitizenId id;
  std::vector<IdFinding>& findings = id.findings;
  bool check_ok = true;
  if (value.size() == 15) {
    const std::string first17 = absl::StrCat(value.substr(0, 6), "19", value.substr(6));
    id.normalized = absl::StrCat(first17, std::string(1, CheckCharacter(first17)));
    findings.push_back(IdFinding::kConvertedFrom15);
  } else {
    id.normalized = std::string(value);
    if (id.normalized[17] == 'x') id.normalized[17] = 'X';
    check_ok = CheckCharacter(absl::string_view(id.normalized).substr(0, 17)) == id.normalized[17];
  }
  const absl::string_view n = id.normalized;
  const absl::string_view region = n.substr(0, 6);
  const absl::string_view birth = n.substr(6, 8);
  const absl::string_view sequence = n.substr(14, 3);

  if (n == kAllZeros) {
    // Unknown person: nothing else in the value means anything.
    findings.push_back(IdFinding::kPlaceholder);
  } else if (value.size() == 18 && region == "000000" && sequence == "000" && n[17] == '0') {
    // A child without an ID: only the birth date is real.
    findings.push_back(IdFinding::kPlaceholder);
    id.birth_date = BirthDate(birth, today);
    if (!id.birth_date) findings.push_back(IdFinding::kImpossibleBirthDate);
  } else {
    if (!check_ok) findings.push_back(IdFinding::kBadCheckCharacter);
    const std::optional<Region> r = FindRegion(region);
    if (!r) {
      findings.push_back(IdFinding::kUnknownRegion);
    } else if (!r->current) {
      findings.push_back(IdFinding::kRetiredRegion);
    }
    id.birth_date = BirthDate(birth, today);
    if (!id.birth_date) findings.push_back(IdFinding::kImpossibleBirthDate);
    id.sex = (sequence[2] - '0') % 2 == 1 ? Sex::kMale : Sex::kFemale;
    if (recorded_sex != Sex::kUnspecified && recorded_sex != id.sex) {
      findings.push_back(IdFinding::kSexMismatch);
    }
  }

  std::sort(findings.begin(), findings.end());
  findings.erase(std::unique(findings.begin(), findings.end()), findings.end());
  return id;
}

}  // namespace tongban::ids
