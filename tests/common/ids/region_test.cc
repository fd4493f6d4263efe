#include "common/ids/region.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "common/ids/region_data.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::ids {
namespace {

// The counts data/gen_regions.mjs printed for the committed regions.tsv
// (data/README.md). The margins let a regenerated table pass; a broken parse
// or a wrong source does not.
constexpr size_t kMeasuredCurrentCounties = 2851;
constexpr size_t kMeasuredRetiredCounties = 773;
constexpr size_t kMeasuredRegions = 4024;

void ExpectInvalid(const absl::Status& s, absl::string_view code, absl::string_view problem) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(code), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find(problem), absl::string_view::npos) << s;
}

// data/CMakeLists.txt cuts the file into raw literals at line ends; a bad cut
// would merge or split lines.
TEST(RegionTest, CompiledTableIsTheWholeFile) {
  const absl::string_view tsv = internal::RegionTableTsv();
  EXPECT_EQ(tsv.substr(0, tsv.find('\n')), "code\tname\tlevel\tcurrent\tfirst_year\tlast_year");
  ASSERT_FALSE(tsv.empty());
  EXPECT_EQ(tsv.back(), '\n');
  EXPECT_EQ(static_cast<size_t>(std::count(tsv.begin(), tsv.end(), '\n')), RegionCount() + 1);
  EXPECT_EQ(static_cast<size_t>(std::count(tsv.begin(), tsv.end(), '\t')), 5 * (RegionCount() + 1));
}

TEST(RegionTest, CountsArePlausible) {
  EXPECT_NEAR(static_cast<double>(CurrentCountyCount()), kMeasuredCurrentCounties, 50);
  EXPECT_NEAR(static_cast<double>(RetiredCountyCount()), kMeasuredRetiredCounties, 50);
  EXPECT_NEAR(static_cast<double>(RegionCount()), kMeasuredRegions, 150);
  // DOMAIN.md: about 2,850 county-level units; the 2002-2016 revisions hold
  // about 3,489 county codes, about 770 of them retired.
  EXPECT_GT(CurrentCountyCount(), 2800u);
  EXPECT_LT(CurrentCountyCount(), 2950u);
  EXPECT_GT(RetiredCountyCount(), 700u);
  EXPECT_LT(RetiredCountyCount(), 850u);
}

TEST(RegionTest, FindsACurrentCounty) {
  const std::optional<Region> r = FindRegion("110105");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, "110105");
  EXPECT_EQ(r->name, "朝阳区");
  EXPECT_EQ(r->level, RegionLevel::kCounty);
  EXPECT_TRUE(r->current);
  EXPECT_EQ(r->first_year, 2002);
  EXPECT_EQ(r->last_year, 2016);
  TB_EXPECT_OK(ValidateCurrentCountyCode("110105"));
  TB_EXPECT_OK(ValidateNodeCode("110105"));
}

// Created after the last gb2260 revision (2016): only the current table has it.
TEST(RegionTest, FindsACountyNewerThanTheRevisions) {
  const std::optional<Region> r = FindRegion("130284");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "滦州市");
  EXPECT_TRUE(r->current);
  EXPECT_EQ(r->first_year, 0);
  EXPECT_EQ(r->last_year, 0);
  TB_EXPECT_OK(ValidateCurrentCountyCode("130284"));
}

TEST(RegionTest, FindsAProvince) {
  const std::optional<Region> r = FindRegion("440000");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "广东省");
  EXPECT_EQ(r->level, RegionLevel::kProvince);
  EXPECT_TRUE(r->current);
  TB_EXPECT_OK(ValidateNodeCode("440000"));
  ExpectInvalid(ValidateCurrentCountyCode("440000"), "440000", "a province");
}

// The mainland-only current source leaves these out; GB/T 2260 lists them.
TEST(RegionTest, TaiwanHongKongAndMacaoAreCurrentProvinces) {
  for (const char* code : {"710000", "810000", "820000"}) {
    const std::optional<Region> r = FindRegion(code);
    ASSERT_TRUE(r.has_value()) << code;
    EXPECT_EQ(r->level, RegionLevel::kProvince);
    EXPECT_TRUE(r->current) << code;
  }
}

TEST(RegionTest, FindsAPrefecture) {
  const std::optional<Region> r = FindRegion("440300");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "深圳市");
  EXPECT_EQ(r->level, RegionLevel::kPrefecture);
  EXPECT_TRUE(r->current);
  ExpectInvalid(ValidateNodeCode("440300"), "440300", "a prefecture with counties");
  ExpectInvalid(ValidateCurrentCountyCode("440300"), "440300", "a prefecture");
}

// Dongguan has no counties: the city itself is the county-level unit.
TEST(RegionTest, CityWithoutCountiesIsCountyLevel) {
  const std::optional<Region> r = FindRegion("441900");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "东莞市");
  EXPECT_EQ(r->level, RegionLevel::kPrefecture);
  TB_EXPECT_OK(ValidateNodeCode("441900"));
  TB_EXPECT_OK(ValidateCurrentCountyCode("441900"));
  TB_EXPECT_OK(ValidateCurrentCountyCode("442000"));
  TB_EXPECT_OK(ValidateCurrentCountyCode("460400"));
}

// Chongwen district merged into Dongcheng in 2010; Miyun county became a
// district (110118) in 2015.
TEST(RegionTest, FindsRetiredCounties) {
  std::optional<Region> r = FindRegion("110103");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "崇文区");
  EXPECT_EQ(r->level, RegionLevel::kCounty);
  EXPECT_FALSE(r->current);
  EXPECT_EQ(r->first_year, 2002);
  EXPECT_EQ(r->last_year, 2009);
  ExpectInvalid(ValidateNodeCode("110103"), "110103", "retired since 2009");

  r = FindRegion("110228");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "密云县");
  EXPECT_FALSE(r->current);
  EXPECT_EQ(r->last_year, 2015);
  ExpectInvalid(ValidateCurrentCountyCode("110228"), "110228", "retired since 2015");
  const std::optional<Region> successor = FindRegion("110118");
  ASSERT_TRUE(successor.has_value());
  EXPECT_EQ(successor->name, "密云区");
  EXPECT_TRUE(successor->current);
}

TEST(RegionTest, UnknownCodes) {
  EXPECT_FALSE(FindRegion("990101").has_value());
  EXPECT_FALSE(FindRegion("440524").has_value());  // Retired before 2002.
  EXPECT_FALSE(FindRegion("").has_value());
  EXPECT_FALSE(FindRegion("1101").has_value());
  ExpectInvalid(ValidateNodeCode("990101"), "990101", "unknown");
  ExpectInvalid(ValidateCurrentCountyCode("440524"), "440524", "unknown");
}

// NBS statistics number development zones 71-80; they are not GB/T 2260.
TEST(RegionTest, DevelopmentZonesAreRejected) {
  EXPECT_FALSE(FindRegion("130171").has_value());  // Shijiazhuang high-tech zone.
  for (const char* code : {"130171", "110171", "220180", "999975"}) {
    ExpectInvalid(ValidateNodeCode(code), code, "statistical development zone");
    ExpectInvalid(ValidateCurrentCountyCode(code), code, "statistical development zone");
  }
  TB_EXPECT_OK(ValidateCurrentCountyCode("320481"));  // 81: a county-level city.
}

TEST(RegionTest, NationalCodeIsOnlyANode) {
  TB_EXPECT_OK(ValidateNodeCode("000000"));
  ExpectInvalid(ValidateCurrentCountyCode("000000"), "000000", "national");
  ExpectInvalid(ValidateNodeCode("000001"), "000001", "unknown");
  EXPECT_FALSE(FindRegion("000000").has_value());
}

TEST(RegionTest, MalformedCodesAreRejected) {
  ExpectInvalid(ValidateNodeCode("11010"), "11010", "not six digits");
  ExpectInvalid(ValidateNodeCode("1101050"), "1101050", "not six digits");
  ExpectInvalid(ValidateNodeCode("11010X"), "11010X", "not six digits");
  ExpectInvalid(ValidateCurrentCountyCode(""), "\"\"", "not six digits");
  ExpectInvalid(ValidateCurrentCountyCode(" 110105"), "110105", "not six digits");
}

// A citizen ID pasted into a region field must not end up in a log.
TEST(RegionTest, LongValuesAreNotEchoed) {
  const absl::Status s = ValidateNodeCode("11010519491231002X");
  ExpectInvalid(s, "110105...", "not six digits");
  EXPECT_EQ(s.message().find("19491231"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace tongban::ids
