// The import file parser (workflows/import_csv.h): every kind of bad row gets a
// finding by line and column, and a bad row never becomes a request.
#include "workflows/import_csv.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::workflows {
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
  const std::string file =
      std::string(kHeader) +
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
          "service, return, certificate, entitlement\"",
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

constexpr char kNewKindsHeader[] =
    "kind,person,return_type,effective_on,from_county,to_county,certificate_type,"
    "certificate_number,issuer,valid_from,valid_to,facts,programme,status,amount_fen,"
    "period_from,period_to,delivered_by\n";

// Good rows of the return, certificate and entitlement kinds.
TEST(ImportReaderTest, ReturnCertificateAndEntitlementRowsBecomeRequests) {
  const std::string file =
      std::string(kNewKindsHeader) +
      "return,110105199001010010,returned-home,2026-05-01,440305,,,,,,,,,,,,,\n"
      "return,110105199001010010,departed,2026-06-01,440305,310101,,,,,,,,,,,,\n"
      "certificate,110105199001010010,,,,,marriage-fertility,MF-2026-0001,110105,2026-01-01,"
      "2028-12-31,\"marital_status=married; children = 1;\",,,,,,\n"
      "certificate,110105199001010010,,,,,residence-permit,RP.7,110105,2026-01-01,2026-12-31,"
      ",,,,,,\n"
      "entitlement,110105199001010010,,,,,,,,,,,reward-support,active,9600,2026-01-01,"
      "2026-12-31,440305\n"
      "entitlement,110105199001010010,,,,,,,,,,,family-planning,eligible,,,,\n";
  TB_ASSERT_OK_AND_ASSIGN(Parsed p, ParseAll(file));
  EXPECT_THAT(Lines(p.findings), ::testing::IsEmpty());
  ASSERT_EQ(p.rows.size(), 6u);

  const v1::WriteRequest& home = p.rows[0].request;
  EXPECT_EQ(home.kind(), v1::RECORD_KIND_RETURN);
  EXPECT_EQ(home.record_id(), "return-2026-05-01");
  EXPECT_EQ(home.value().return_registration().type(), v1::RETURN_TYPE_RETURNED_HOME);
  EXPECT_EQ(home.value().return_registration().from_county(), "440305");
  EXPECT_EQ(home.value().return_registration().effective_on().month(), 5);
  EXPECT_EQ(p.rows[1].request.value().return_registration().type(), v1::RETURN_TYPE_DEPARTED);
  EXPECT_EQ(p.rows[1].request.value().return_registration().to_county(), "310101");

  const v1::WriteRequest& cert = p.rows[2].request;
  EXPECT_EQ(cert.kind(), v1::RECORD_KIND_CERTIFICATE);
  EXPECT_EQ(cert.record_id(), "cert-MF-2026-0001");
  const v1::Certificate& c = cert.value().certificate();
  EXPECT_EQ(c.type(), v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
  EXPECT_EQ(c.number(), "MF-2026-0001");
  EXPECT_EQ(c.issuer(), "110105");
  EXPECT_EQ(c.valid_to().year(), 2028);
  ASSERT_EQ(c.attested_facts_size(), 2);
  EXPECT_EQ(c.attested_facts().at("marital_status"), "married");
  EXPECT_EQ(c.attested_facts().at("children"), "1");
  EXPECT_EQ(p.rows[3].request.value().certificate().type(), v1::CERTIFICATE_TYPE_RESIDENCE_PERMIT);
  EXPECT_EQ(p.rows[3].request.value().certificate().attested_facts_size(), 0);

  const v1::WriteRequest& ent = p.rows[4].request;
  EXPECT_EQ(ent.kind(), v1::RECORD_KIND_ENTITLEMENT);
  EXPECT_EQ(ent.record_id(), "ent-reward-support");
  EXPECT_EQ(ent.value().entitlement().status(), v1::ENTITLEMENT_STATUS_ACTIVE);
  EXPECT_EQ(ent.value().entitlement().amount_fen(), 9600);
  EXPECT_EQ(ent.value().entitlement().period_from().year(), 2026);
  EXPECT_EQ(ent.value().entitlement().delivered_by(), "440305");
  EXPECT_EQ(p.rows[5].request.value().entitlement().amount_fen(), 0);

  // The same file read again gives the same record ids: a re-import writes
  // nothing new.
  TB_ASSERT_OK_AND_ASSIGN(Parsed again, ParseAll(file));
  for (size_t i = 0; i < p.rows.size(); ++i) {
    EXPECT_EQ(again.rows[i].request.record_id(), p.rows[i].request.record_id());
  }
}

// Every new kind of badness of the new kinds, each pinned by line and column;
// none of those rows becomes a request.
TEST(ImportReaderTest, BadReturnCertificateAndEntitlementRowsAreRejectedWhole) {
  const std::string file =
      std::string(kNewKindsHeader) +
      // 2: unknown return type
      "return,110105199001010010,moved-away,2026-05-01,440305,,,,,,,,,,,,,\n"
      // 3: missing effective date and from county
      "return,110105199001010010,departed,,,,,,,,,,,,,,,\n"
      // 4: to_county not a county code
      "return,110105199001010010,departed,2026-05-01,440305,12,,,,,,,,,,,,\n"
      // 5: unknown certificate type, bad issuer
      "certificate,110105199001010010,,,,,birth,N1,999999,2026-01-01,2026-12-31,,,,,,,\n"
      // 6: a fact without '=' and a fact with no name
      "certificate,110105199001010010,,,,,residence-permit,N2,110105,2026-01-01,2026-12-31,"
      "married;=x,,,,,,\n"
      // 7: a fact twice
      "certificate,110105199001010010,,,,,residence-permit,N3,110105,2026-01-01,2026-12-31,"
      "a=1;a=2,,,,,,\n"
      // 8: valid_to before valid_from (the node's own check)
      "certificate,110105199001010010,,,,,residence-permit,N4,110105,2026-12-31,2026-01-01,"
      ",,,,,,\n"
      // 9: a certificate number that cannot form a record id
      "certificate,110105199001010010,,,,,residence-permit,证 1,110105,2026-01-01,2026-12-31,"
      ",,,,,,\n"
      // 10: unknown status, amount not a number
      "entitlement,110105199001010010,,,,,,,,,,,reward-support,paused,12.50,,,\n"
      // 11: negative amount, amount too large is the same finding
      "entitlement,110105199001010010,,,,,,,,,,,reward-support,active,-5,,,\n"
      "entitlement,110105199001010010,,,,,,,,,,,reward-support,active,100000001,,,\n"
      // 13: period_to before period_from, not a calendar day
      "entitlement,110105199001010010,,,,,,,,,,,reward-support,active,1,2026-12-01,"
      "2026-01-01,\n"
      "entitlement,110105199001010010,,,,,,,,,,,reward-support,active,1,2026-02-30,,\n"
      // 15: a column of another kind, missing programme
      "entitlement,110105199001010010,returned-home,,,,,,,,,,,active,,,,\n"
      // 16: a malformed person on a new kind
      "entitlement,11010519900101001,,,,,,,,,,,reward-support,active,,,,\n";
  TB_ASSERT_OK_AND_ASSIGN(Parsed p, ParseAll(file));
  EXPECT_THAT(
      Lines(p.findings),
      ::testing::ElementsAre(
          "reg.csv,2,return_type,\"rejected: \"\"moved-away\"\" is not one of: returned-home, "
          "departed\"",
          "reg.csv,3,effective_on,rejected: required for kind return",
          "reg.csv,3,from_county,rejected: required for kind return",
          ::testing::StartsWith("reg.csv,4,to_county,\"rejected: region code \"\"12\"\""),
          "reg.csv,5,certificate_type,\"rejected: \"\"birth\"\" is not one of: "
          "marriage-fertility, residence-permit\"",
          ::testing::StartsWith("reg.csv,5,issuer,\"rejected: region code \"\"999999\"\""),
          "reg.csv,6,facts,\"rejected: \"\"married\"\" is not NAME=VALUE (facts are "
          "NAME=VALUE;NAME=VALUE)\"",
          "reg.csv,6,facts,\"rejected: \"\"=x\"\" is not NAME=VALUE (facts are "
          "NAME=VALUE;NAME=VALUE)\"",
          "reg.csv,7,facts,\"rejected: fact \"\"a\"\" appears twice\"",
          "reg.csv,8,valid_to,rejected: certificate.valid_to: is before certificate.valid_from",
          "reg.csv,9,certificate_number,\"rejected: record id \"\"cert-证 1\"\" is not 1 to 128 "
          "characters of A-Z a-z 0-9 . _ : -; give a record_id column\"",
          "reg.csv,10,status,\"rejected: \"\"paused\"\" is not one of: eligible, active, "
          "suspended, ended\"",
          "reg.csv,10,amount_fen,\"rejected: \"\"12.50\"\" is not a whole number of fen from 0 to "
          "100000000\"",
          "reg.csv,11,amount_fen,\"rejected: \"\"-5\"\" is not a whole number of fen from 0 to "
          "100000000\"",
          "reg.csv,12,amount_fen,\"rejected: \"\"100000001\"\" is not a whole number of fen from "
          "0 to 100000000\"",
          "reg.csv,13,period_to,rejected: entitlement.period_to: is before "
          "entitlement.period_from",
          "reg.csv,14,period_from,\"rejected: \"\"2026-02-30\"\" is not a real calendar day\"",
          "reg.csv,15,programme,rejected: required for kind entitlement",
          "reg.csv,15,return_type,rejected: does not apply to kind entitlement",
          "reg.csv,16,person,\"rejected: citizen ID 11***************: length 17, want 18 (or "
          "15 for a legacy ID)\""));
  EXPECT_THAT(p.rows, ::testing::IsEmpty());
  for (const ImportFinding& f : p.findings) {
    EXPECT_THAT(f.reason, ::testing::Not(HasSubstr("11010519900101001")));
  }
}

TEST(ImportReaderTest, FutureDateIsRejectedByTheNodesOwnChecks) {
  TB_ASSERT_OK_AND_ASSIGN(
      Parsed p,
      ParseAll(std::string(kHeader) + "outflow,110105199001010010,,,,,440305,2027-01-01,,,,\n"));
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
  TB_ASSERT_OK_AND_ASSIGN(Parsed p,
                          ParseAll("\xEF\xBB\xBFkind,person,destination_county,left_on\r\n"
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
  TB_ASSERT_OK_AND_ASSIGN(Parsed p,
                          ParseAll("kind,person,record_id,destination_county,left_on\n"
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
}  // namespace tongban::workflows
