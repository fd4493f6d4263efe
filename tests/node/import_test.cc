// The import file parser (node/cli/import.h): every kind of bad row gets a
// finding by line and column, and a bad row never becomes a request.
#include "node/cli/import.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::cli {
namespace {

using ::testing::HasSubstr;

const absl::CivilDay kToday(2026, 11, 30);

struct Parsed {
  std::vector<ImportRow> rows;
  std::vector<ImportFinding> findings;
};

absl::StatusOr<Parsed> ParseAll(const std::string& text, Encoding encoding = Encoding::kUtf8) {
  std::istringstream in(text);
  absl::StatusOr<std::unique_ptr<ImportReader>> reader =
      ImportReader::Open("reg.csv", &in, encoding, kToday);
  if (!reader.ok()) return reader.status();
  Parsed p;
  std::optional<ImportRow> row;
  while ((*reader)->Next(&row, &p.findings)) {
    if (row.has_value()) p.rows.push_back(*row);
  }
  return p;
}

std::string ToGb18030(const std::string& utf8) {
  absl::StatusOr<std::string> out = EncodeUtf8(utf8, Encoding::kGb18030);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.value_or("");
}

std::vector<std::string> Lines(const std::vector<ImportFinding>& findings) {
  std::vector<std::string> out;
  for (const ImportFinding& f : findings) out.push_back(FindingCsvLine(f));
  return out;
}

constexpr char kHeader[] =
    "kind,person,name,sex,birth_date,hukou_region,destination_county,left_on,"
    "service_type,delivered_on,provider_county,notes\n";

// A file with every kind of bad row, each finding pinned by line and column.
TEST(ImportReaderTest, EveryKindOfBadRowGetsAFindingByLineAndColumn) {
  const std::string file = std::string(kHeader) +
      // 2: good person basics
      "person,110105199001010010,张三,male,1990-01-01,110105,,,,,,\n"
      // 3: good outflow
      "outflow,110105199001010010,,,,,440305,2026-03-01,,,,\n"
      // 4: broken UTF-8 in the name
      "person,620102198506150023,\xff\xfe,female,1985-06-15,620102,,,,,,\n"
      // 5: wrong column count
      "person,620102198506150023,李四,female\n"
      // 6: malformed ID
      "person,12345,王五,male,1990-01-01,110105,,,,,,\n"
      // 7: not a calendar day
      "outflow,110105199001010010,,,,,440305,2026-02-30,,,,\n"
      // 8: unknown county code
      "service,110105199001010010,,,,,,,health-check,2026-04-01,999999,\n"
      // 9: missing required field
      "person,440305199203200039,,male,1992-03-20,440305,,,,,,\n"
      // 10: a wrong check character is flagged, and the row still parses
      "person,110105199001010011,赵六,male,1990-01-01,110105,,,,,,\n"
      // 11-12: a quoted field with a comma, a quote and a line break
      "service,110105199001010010,,,,,,,health-check,2026-04-01,440305,\"a, \"\"b\"\"\n"
      "c\"\n"
      // 13: unknown kind
      "moved,110105199001010010,,,,,,,,,,\n"
      // 14: a column that does not apply to the kind, and a future date
      "outflow,110105199001010010,钱七,,,,440305,2027-01-01,,,,\n";
  TB_ASSERT_OK_AND_ASSIGN(Parsed p, ParseAll(file));
  EXPECT_THAT(
      Lines(p.findings),
      ::testing::ElementsAre(
          "reg.csv,4,,rejected: not valid UTF-8 at byte 27 of line 4",
          "reg.csv,5,,\"rejected: the row has 4 fields, the header has 12\"",
          "reg.csv,6,person,\"rejected: citizen ID 12***: length 5, want 18 (or 15 for a legacy "
          "ID)\"",
          "reg.csv,7,left_on,\"rejected: \"\"2026-02-30\"\" is not a real calendar day\"",
          "reg.csv,8,provider_county,\"rejected: region code \"\"999999\"\": unknown: in no "
          "GB/T 2260 revision\"",
          "reg.csv,9,name,rejected: required for kind person",
          "reg.csv,10,person,flagged: citizen ID 110105********0011 has findings: "
          "bad_check_character",
          "reg.csv,13,kind,\"rejected: \"\"moved\"\" is not one of: person, outflow, inflow, "
          "service\"",
          "reg.csv,14,name,rejected: does not apply to kind outflow"));
  // Rows 2, 3, 10 and 11 are requests; no rejected row is.
  ASSERT_EQ(p.rows.size(), 4u);
  EXPECT_EQ(p.rows[0].line, 2u);
  EXPECT_EQ(p.rows[0].request.value().person_basics().name(), "张三");
  EXPECT_EQ(p.rows[0].request.record_id(), "basics");
  EXPECT_EQ(p.rows[1].request.record_id(), "out-440305-2026-03-01");
  EXPECT_EQ(p.rows[2].line, 10u);
  EXPECT_TRUE(p.rows[2].has_id_findings);
  EXPECT_EQ(p.rows[3].line, 11u);
  EXPECT_EQ(p.rows[3].request.value().service().notes(), "a, \"b\"\nc");
  EXPECT_EQ(p.rows[3].request.record_id(), "svc-health-check-2026-04-01");
  // No reason shows a whole ID.
  for (const ImportFinding& f : p.findings) {
    EXPECT_THAT(f.reason, ::testing::Not(HasSubstr("110105199001010011")));
  }
}

TEST(ImportReaderTest, FutureDateIsRejectedByTheNodesOwnChecks) {
  TB_ASSERT_OK_AND_ASSIGN(
      Parsed p, ParseAll(std::string(kHeader) +
                         "outflow,110105199001010010,,,,,440305,2027-01-01,,,,\n"));
  ASSERT_EQ(p.findings.size(), 1u);
  EXPECT_EQ(p.findings[0].line, 2u);
  EXPECT_EQ(p.findings[0].column, "left_on");
  EXPECT_TRUE(p.rows.empty());
}

TEST(ImportReaderTest, UnknownColumnInTheHeaderIsAnErrorNamingIt) {
  absl::StatusOr<Parsed> p = ParseAll("kind,person,nmae\nperson,110105199001010010,x\n");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("reg.csv line 1: unknown column \"nmae\""));
}

TEST(ImportReaderTest, MissingOrDuplicateRequiredColumnIsAnError) {
  EXPECT_THAT(ParseAll("kind,name\n").status().message(),
              HasSubstr("required column \"person\" is missing"));
  EXPECT_THAT(ParseAll("kind,person,kind\n").status().message(),
              HasSubstr("column \"kind\" appears twice"));
  EXPECT_THAT(ParseAll("").status().message(), HasSubstr("the file is empty"));
}

TEST(ImportReaderTest, Utf8ByteOrderMarkAndCrlfAreAccepted) {
  TB_ASSERT_OK_AND_ASSIGN(
      Parsed p, ParseAll("\xEF\xBB\xBFkind,person,destination_county,left_on\r\n"
                         "outflow,110105199001010010,440305,2026-03-01\r\n"));
  EXPECT_TRUE(p.findings.empty());
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows[0].request.value().outflow().destination_county(), "440305");
}

TEST(ImportReaderTest, Gb18030FileRoundTrips) {
  const std::string utf8 =
      "kind,person,name,sex,birth_date,hukou_region,hukou_address\n"
      "person,110105199001010010,张三,男,1990-01-01,110105,北京市朝阳区𠀀路1号\n";
  TB_ASSERT_OK_AND_ASSIGN(Parsed p, ParseAll(ToGb18030(utf8), Encoding::kGb18030));
  EXPECT_TRUE(p.findings.empty());
  ASSERT_EQ(p.rows.size(), 1u);
  const v1::PersonBasics& b = p.rows[0].request.value().person_basics();
  EXPECT_EQ(b.name(), "张三");
  EXPECT_EQ(b.sex(), v1::SEX_MALE);
  EXPECT_EQ(b.hukou_address(), "北京市朝阳区𠀀路1号");
  // Read as UTF-8, the same bytes are a broken encoding, never a crash.
  TB_ASSERT_OK_AND_ASSIGN(Parsed wrong, ParseAll(ToGb18030(utf8), Encoding::kUtf8));
  ASSERT_EQ(wrong.findings.size(), 1u);
  EXPECT_THAT(wrong.findings[0].reason, HasSubstr("not valid UTF-8"));
  EXPECT_TRUE(wrong.rows.empty());
}

TEST(ImportReaderTest, BrokenGb18030IsAFindingForItsLine) {
  const std::string file = ToGb18030("kind,person,name,sex,birth_date,hukou_region\n") +
                           "person,110105199001010010,\x81\x20,male,1990-01-01,110105\n" +
                           ToGb18030("person,620102198506150023,李四,女,1985-06-15,620102\n");
  TB_ASSERT_OK_AND_ASSIGN(Parsed p, ParseAll(file, Encoding::kGb18030));
  ASSERT_EQ(p.findings.size(), 1u);
  EXPECT_EQ(FindingCsvLine(p.findings[0]),
            "reg.csv,2,,rejected: not valid GB18030 at byte 27 of line 2");
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows[0].line, 3u);
  EXPECT_EQ(p.rows[0].request.value().person_basics().name(), "李四");
}

TEST(ImportReaderTest, ExplicitRecordIdIsKept) {
  TB_ASSERT_OK_AND_ASSIGN(
      Parsed p, ParseAll("kind,person,record_id,destination_county,left_on\n"
                         "outflow,110105199001010010,out-1,440305,2026-03-01\n"));
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows[0].request.record_id(), "out-1");
}

TEST(ImportReaderTest, EncodingNames) {
  EXPECT_EQ(*ParseEncoding("UTF-8"), Encoding::kUtf8);
  EXPECT_EQ(*ParseEncoding("gb18030"), Encoding::kGb18030);
  EXPECT_FALSE(ParseEncoding("latin1").ok());
}

}  // namespace
}  // namespace tongban::cli
