#include "common/ids/citizen_id.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace tongban::ids {
namespace {

using F = IdFinding;

// Fixed, so that no test reads the wall clock.
const absl::CivilDay kToday(2025, 1, 1);

// `first17` and its computed check character.
std::string WithCheck(const std::string& first17) { return first17 + CheckCharacter(first17); }

std::vector<F> Findings(absl::string_view raw, Sex sex = Sex::kUnspecified) {
  absl::StatusOr<CitizenId> id = CheckCitizenId(raw, sex, kToday);
  EXPECT_TRUE(id.ok()) << id.status();
  if (!id.ok()) return {};
  return id->findings;
}

// The message names the masked value and the problem, never the value.
void ExpectMalformed(absl::string_view raw, absl::string_view problem) {
  SCOPED_TRACE(raw);
  absl::StatusOr<CitizenId> id = CheckCitizenId(raw, Sex::kUnspecified, kToday);
  ASSERT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << id.status();
  const std::string message(id.status().message());
  EXPECT_EQ(message.rfind("citizen ID ", 0), 0u) << message;
  EXPECT_NE(message.find(std::string(problem)), std::string::npos) << message;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(raw);
  EXPECT_NE(message.find(MaskId(trimmed)), std::string::npos) << message;
  if (trimmed.size() > 2) {
    EXPECT_EQ(message.find(std::string(trimmed)), std::string::npos) << message;
  }
}

TEST(CitizenIdTest, StandardTestValuesHaveTheRightCheckCharacter) {
  EXPECT_EQ(CheckCharacter("11010519491231002"), 'X');
  EXPECT_EQ(CheckCharacter("44052418800101001"), '4');
}

TEST(CitizenIdTest, CleanIdHasNoFindings) {
  TB_ASSERT_OK_AND_ASSIGN(CitizenId id, CheckCitizenId("11010519491231002X", Sex::kFemale, kToday));
  EXPECT_EQ(id.normalized, "11010519491231002X");
  EXPECT_TRUE(id.findings.empty());
  ASSERT_TRUE(id.birth_date.has_value());
  EXPECT_EQ(*id.birth_date, absl::CivilDay(1949, 12, 31));
  EXPECT_EQ(id.sex, Sex::kFemale);
}

TEST(CitizenIdTest, TrimsSpacesAndUpperCasesX) {
  TB_ASSERT_OK_AND_ASSIGN(CitizenId id,
                          CheckCitizenId("  11010519491231002x ", Sex::kUnspecified, kToday));
  EXPECT_EQ(id.normalized, "11010519491231002X");
  EXPECT_TRUE(id.findings.empty());
}

// 440524 (Chaoyang county, Shantou) was gone before the 2002 revision, and
// 1880 is before the earliest accepted birth year: the check still holds.
TEST(CitizenIdTest, SecondTestValueIsCheckedButOldAndUnknown) {
  TB_ASSERT_OK_AND_ASSIGN(CitizenId id, CheckCitizenId("440524188001010014", Sex::kMale, kToday));
  EXPECT_EQ(id.findings, (std::vector<F>{F::kUnknownRegion, F::kImpossibleBirthDate}));
  EXPECT_FALSE(id.birth_date.has_value());
  EXPECT_EQ(id.sex, Sex::kMale);
}

TEST(CitizenIdTest, MalformedLengthsAreRejected) {
  ExpectMalformed("", "length 0");
  ExpectMalformed("1", "length 1");
  ExpectMalformed("1101051949123100", "length 16");
  ExpectMalformed("11010519491231002", "length 17");
  ExpectMalformed("11010519491231002X1", "length 19");
  ExpectMalformed("11010519491231002X11010519491231002X", "length 36");
  ExpectMalformed("   ", "length 0");
}

TEST(CitizenIdTest, MalformedCharactersAreRejected) {
  ExpectMalformed("11010519491231002Y", "character 18 is not a digit or X");
  ExpectMalformed("1101051949123100X2", "character 17 is not a digit");
  ExpectMalformed("11010519491 31002X", "character 12 is not a digit");
  ExpectMalformed("A1010519491231002X", "character 1 is not a digit");
  ExpectMalformed("11010549123100X", "character 15 is not a digit");  // No X in 15.
  ExpectMalformed("11010519491231\xe4\xb8\x80X", "character 15 is not a digit");
  ExpectMalformed("110105-19491231-02X", "length 19");
}

TEST(CitizenIdTest, ErrorNeverContainsTheWholeId) {
  const std::string id = "1101051949123100Z2";
  absl::StatusOr<CitizenId> r = CheckCitizenId(id, Sex::kUnspecified, kToday);
  ASSERT_FALSE(r.ok());
  const std::string message(r.status().message());
  EXPECT_EQ(message.find(id), std::string::npos) << message;
  EXPECT_EQ(message.find("19491231"), std::string::npos) << message;
  EXPECT_EQ(message, "citizen ID 110105********00Z2: character 17 is not a digit");
}

TEST(CitizenIdTest, BadCheckCharacterIsAFinding) {
  EXPECT_EQ(Findings("110105194912310021"), std::vector<F>{F::kBadCheckCharacter});
  EXPECT_EQ(Findings("110105194912310020"), std::vector<F>{F::kBadCheckCharacter});
  EXPECT_EQ(Findings("44052418800101001X"),
            (std::vector<F>{F::kBadCheckCharacter, F::kUnknownRegion, F::kImpossibleBirthDate}));
}

TEST(CitizenIdTest, UnknownRegionIsAFinding) {
  // 990105 is no province; 130171 is an NBS development zone, not GB/T 2260.
  EXPECT_EQ(Findings(WithCheck("99010519491231002")), std::vector<F>{F::kUnknownRegion});
  EXPECT_EQ(Findings("130171198001010013"), std::vector<F>{F::kUnknownRegion});
}

// 110103 Chongwen district merged into Dongcheng in 2010: the ID stays valid.
TEST(CitizenIdTest, RetiredRegionIsAFinding) {
  TB_ASSERT_OK_AND_ASSIGN(CitizenId id, CheckCitizenId("110103198001010013", Sex::kMale, kToday));
  EXPECT_EQ(id.findings, std::vector<F>{F::kRetiredRegion});
  EXPECT_EQ(id.birth_date, absl::CivilDay(1980, 1, 1));
}

TEST(CitizenIdTest, CityWithoutCountiesIsACurrentRegion) {
  EXPECT_TRUE(Findings("441900199001010036").empty());
  EXPECT_TRUE(Findings("620201199001010045").empty());
}

TEST(CitizenIdTest, ImpossibleBirthDatesAreFindings) {
  struct Case {
    const char* id;
    const char* why;
  };
  const Case cases[] = {
      {"110105200002300023", "February 30"},
      {"110105190002290025", "February 29 of 1900, not a leap year"},
      {"11010520300101001X", "in the future"},
      {"110105188912310010", "before 1890"},
      {"110105198013010013", "month 13"},
      {"110105198001000010", "day 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    TB_ASSERT_OK_AND_ASSIGN(CitizenId id, CheckCitizenId(c.id, Sex::kUnspecified, kToday));
    EXPECT_EQ(id.findings, std::vector<F>{F::kImpossibleBirthDate});
    EXPECT_FALSE(id.birth_date.has_value());
  }
}

TEST(CitizenIdTest, BoundaryBirthDatesArePossible) {
  EXPECT_TRUE(Findings("110105200002290021").empty());  // 2000 is a leap year.
  const std::string first = WithCheck("11010518900101001");
  EXPECT_TRUE(Findings(first).empty());
  const std::string today = WithCheck("11010520250101001");
  EXPECT_TRUE(Findings(today).empty());
  const std::string tomorrow = WithCheck("11010520250102001");
  EXPECT_EQ(Findings(tomorrow), std::vector<F>{F::kImpossibleBirthDate});
}

TEST(CitizenIdTest, AllZerosIsAPlaceholder) {
  TB_ASSERT_OK_AND_ASSIGN(CitizenId id, CheckCitizenId("000000000000000000", Sex::kFemale, kToday));
  EXPECT_EQ(id.findings, std::vector<F>{F::kPlaceholder});
  EXPECT_FALSE(id.birth_date.has_value());
  EXPECT_EQ(id.sex, Sex::kUnspecified);
}

TEST(CitizenIdTest, ChildWithoutIdIsAPlaceholderWithABirthDate) {
  TB_ASSERT_OK_AND_ASSIGN(CitizenId id, CheckCitizenId("000000201803050000", Sex::kMale, kToday));
  EXPECT_EQ(id.findings, std::vector<F>{F::kPlaceholder});
  EXPECT_EQ(id.birth_date, absl::CivilDay(2018, 3, 5));
  EXPECT_EQ(id.sex, Sex::kUnspecified);

  TB_ASSERT_OK_AND_ASSIGN(CitizenId bad_date,
                          CheckCitizenId("000000201802300000", Sex::kUnspecified, kToday));
  EXPECT_EQ(bad_date.findings, (std::vector<F>{F::kImpossibleBirthDate, F::kPlaceholder}));
  EXPECT_FALSE(bad_date.birth_date.has_value());
}

// With a real check character the value is no longer the placeholder form.
TEST(CitizenIdTest, ZeroRegionWithCheckCharacterIsNotAPlaceholder) {
  EXPECT_EQ(Findings("000000201803050003"), std::vector<F>{F::kUnknownRegion});
}

TEST(CitizenIdTest, SexMismatchIsAFindingBothWays) {
  // Sequence 002: even, female.
  EXPECT_EQ(Findings("11010519491231002X", Sex::kMale), std::vector<F>{F::kSexMismatch});
  EXPECT_TRUE(Findings("11010519491231002X", Sex::kFemale).empty());
  // Sequence 001: odd, male.
  EXPECT_EQ(Findings("110105198001010016", Sex::kFemale), std::vector<F>{F::kSexMismatch});
  EXPECT_TRUE(Findings("110105198001010016", Sex::kMale).empty());
  EXPECT_TRUE(Findings("110105198001010016", Sex::kUnspecified).empty());
}

// 320102800101123 -> 320102 19 800101 123, and the check character by hand:
// digits 3 2 0 1 0 2 1 9 8 0 0 1 0 1 1 2 3 times the weights give
// 21+18+0+5+0+8+2+9+48+0+0+9+0+5+8+8+6 = 147; 147 mod 11 = 4 -> '8'.
TEST(CitizenIdTest, LegacyFifteenDigitIdIsConverted) {
  TB_ASSERT_OK_AND_ASSIGN(CitizenId id, CheckCitizenId("320102800101123", Sex::kMale, kToday));
  EXPECT_EQ(id.normalized, "320102198001011238");
  EXPECT_EQ(id.findings, std::vector<F>{F::kConvertedFrom15});
  EXPECT_EQ(id.birth_date, absl::CivilDay(1980, 1, 1));
  EXPECT_EQ(id.sex, Sex::kMale);

  TB_ASSERT_OK_AND_ASSIGN(CitizenId x, CheckCitizenId(" 110105491231002 ", Sex::kMale, kToday));
  EXPECT_EQ(x.normalized, "11010519491231002X");
  EXPECT_EQ(x.findings, (std::vector<F>{F::kSexMismatch, F::kConvertedFrom15}));
}

TEST(CitizenIdTest, FindingsAreSortedAndUnique) {
  // Bad check, retired region, impossible date, sex mismatch, all at once.
  TB_ASSERT_OK_AND_ASSIGN(CitizenId id, CheckCitizenId("110103198002300011", Sex::kFemale, kToday));
  EXPECT_EQ(id.findings, (std::vector<F>{F::kBadCheckCharacter, F::kRetiredRegion,
                                         F::kImpossibleBirthDate, F::kSexMismatch}));
}

TEST(CitizenIdTest, FindingNamesAreStable) {
  EXPECT_EQ(IdFindingName(F::kBadCheckCharacter), "bad_check_character");
  EXPECT_EQ(IdFindingName(F::kUnknownRegion), "unknown_region");
  EXPECT_EQ(IdFindingName(F::kRetiredRegion), "retired_region");
  EXPECT_EQ(IdFindingName(F::kImpossibleBirthDate), "impossible_birth_date");
  EXPECT_EQ(IdFindingName(F::kPlaceholder), "placeholder");
  EXPECT_EQ(IdFindingName(F::kSexMismatch), "sex_mismatch");
  EXPECT_EQ(IdFindingName(F::kConvertedFrom15), "converted_from_15");
  EXPECT_EQ(static_cast<int>(F::kConvertedFrom15), 7);  // Stored: never renumber.
}

TEST(MaskIdTest, KeepsSixAndFourOfAnEighteenCharacterId) {
  EXPECT_EQ(MaskId("11010519491231002X"), "110105********002X");
}

TEST(MaskIdTest, MasksFifteenCharactersButTwo) {
  EXPECT_EQ(MaskId("320102800101123"), "32*************");
}

TEST(MaskIdTest, MasksGarbage) {
  EXPECT_EQ(MaskId(""), "");
  EXPECT_EQ(MaskId("12"), "**");
  EXPECT_EQ(MaskId("1234"), "****");
  EXPECT_EQ(MaskId("hello world"), "he*********");
  EXPECT_EQ(MaskId("11010519491231002X1"), "11*****************");
  EXPECT_EQ(MaskId("\xe4\xb8\x80\xe4\xb8\x80"), "******");
  EXPECT_EQ(MaskId(" 1101051949123"), "*1************");
}

// ISO 7064 MOD 11-2: with the check character's value (X = 10) at weight 1,
// the weighted sum of all 18 positions is 1 mod 11. TB_SEED=N (or
// --gtest_random_seed=N) replays a run.
TEST(CitizenIdTest, CheckCharacterMakesRandomDigitsPass) {
  const uint64_t seed = testutil::TestSeed("the random ID digits");
  SCOPED_TRACE(testutil::SeedTrace(seed));
  std::mt19937 rng(static_cast<uint32_t>(seed));
  const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  for (int i = 0; i < 2000; ++i) {
    std::string first17;
    for (int j = 0; j < 17; ++j) first17.push_back(static_cast<char>('0' + rng() % 10));
    const char check = CheckCharacter(first17);
    int sum = check == 'X' ? 10 : check - '0';
    for (int j = 0; j < 17; ++j) sum += (first17[j] - '0') * weights[j];
    ASSERT_EQ(sum % 11, 1) << first17 << check;

    const std::string id = first17 + check;
    TB_ASSERT_OK_AND_ASSIGN(CitizenId parsed, CheckCitizenId(id, Sex::kUnspecified, kToday));
    for (F f : parsed.findings) {
      ASSERT_NE(f, F::kBadCheckCharacter) << id;
    }
    // Any other last character fails.
    const char wrong = check == '0' ? '1' : '0';
    TB_ASSERT_OK_AND_ASSIGN(CitizenId bad,
                            CheckCitizenId(first17 + wrong, Sex::kUnspecified, kToday));
    if (bad.findings != std::vector<F>{F::kPlaceholder}) {
      ASSERT_EQ(bad.findings.front(), F::kBadCheckCharacter) << first17 + wrong;
    }
  }
}

}  // namespace
}  // namespace tongban::ids
