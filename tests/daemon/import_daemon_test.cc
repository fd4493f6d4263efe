// tongbanctl import against a running county (DaemonTest): valid rows are
// written and bad ones reported; importing the same file again writes no
// new event; an interrupted import resumes after its progress file's line;
// each batch is one audit entry that says how many persons it touched.
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/daemon/daemon_fixture.h"

namespace tongban::node {
namespace {

using ::testing::HasSubstr;

class ImportDaemonTest : public DaemonTest {
 protected:
  uint64_t LogSize() {
    auto size = county_->node().store()->LastSeq(county_->node().writer()->log());
    EXPECT_TRUE(size.ok()) << size.status();
    return size.value_or(0);
  }
};

TEST_P(ImportDaemonTest, ImportWritesValidRowsOnceAndReportsTheRest) {
  const std::string file = dir_.File("register.csv");
  std::string text = "kind,person,name,sex,birth_date,hukou_region,destination_county,left_on\n";
  for (int n = 1; n <= 3; ++n) {
    const std::string id = testutil::MakeId(kCounty, "19900101", n);
    absl::StrAppend(&text, "person,", id, ",Person ", n, ",", n % 2 ? "male" : "female",
                    ",1990-01-01,620102,,\n", "outflow,", id, ",,,,,440305,2026-03-01\n");
  }
  // Line 8: an unknown county; line 9: a bad check character (flagged).
  absl::StrAppend(&text, "outflow,", testutil::MakeId(kCounty, "19900101", 1),
                  ",,,,,449999,2026-03-01\n");
  std::string flagged = testutil::MakeId(kCounty, "19900101", 5);
  flagged.back() = flagged.back() == '1' ? '2' : '1';
  absl::StrAppend(&text, "person,", flagged, ",Person 5,male,1990-01-01,620102,,\n");
  testutil::WriteFile(file, text, 0600);
  const std::string report = dir_.File("findings.csv");

  std::string err, out;
  EXPECT_EQ(Ctl("clerk", {"import", file, "--report", report, "--batch", "4"}, &err, &out), 2)
      << err;
  EXPECT_THAT(out, HasSubstr("8 rows read, 6 written, 0 unchanged, 1 rejected, 1 flagged"));
  EXPECT_THAT(err, HasSubstr("2 rows not written"));
  EXPECT_EQ(LogSize(), 6u);
  const std::string findings = testutil::Contents(report);
  EXPECT_THAT(findings, HasSubstr("file,line,column,reason\n"));
  EXPECT_THAT(findings, HasSubstr(",8,destination_county,"));
  EXPECT_THAT(findings, HasSubstr(",9,person,flagged: "));
  EXPECT_THAT(findings, ::testing::Not(HasSubstr(flagged)));
  EXPECT_FALSE(std::filesystem::exists(file + ".progress"));

  // The same file again: nothing new in the log.
  EXPECT_EQ(Ctl("clerk", {"import", file, "--report", report}, &err, &out), 2) << err;
  EXPECT_THAT(out, HasSubstr("8 rows read, 0 written, 6 unchanged, 1 rejected, 1 flagged"));
  EXPECT_EQ(LogSize(), 6u);

  // With the finding confirmed, the flagged row is written.
  EXPECT_EQ(Ctl("clerk", {"import", file, "--report", report, "--confirm-findings"}, &err, &out),
            2);
  EXPECT_THAT(out, HasSubstr("1 written, 6 unchanged"));
  EXPECT_EQ(LogSize(), 7u);

  // One audit entry per batch, naming the file, the lines and the persons.
  v1::AuditRequest q;
  q.set_limit(100);
  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply trail, As("auditor")->Audit(q));
  std::vector<std::string> imports;
  for (const v1::AuditEntry& e : trail.entries()) {
    if (e.action() == "record.import") imports.push_back(e.reason());
  }
  // Run 1: lines 2-5 and 6-7 (two batches in flight: either order); run 2:
  // 2-7; run 3: 2-9 (newest first).
  ASSERT_EQ(imports.size(), 4u);
  using ::testing::Contains;
  EXPECT_THAT(
      imports,
      Contains(HasSubstr(absl::StrCat("import of ", file, " lines 2-5: 4 rows, 2 persons"))));
  EXPECT_THAT(imports, Contains(HasSubstr("lines 6-7: 2 rows, 1 persons")));
  EXPECT_THAT(imports[1], HasSubstr("lines 2-7: 6 rows, 3 persons"));
  EXPECT_THAT(imports[0], HasSubstr("lines 2-9: 7 rows, 4 persons"));
}

// Returns, certificates and entitlements: written by the node that may write
// them, refused per row for a certificate of another issuer and for an
// entitlement of a person whose origin is another county.
TEST_P(ImportDaemonTest, ReturnCertificateAndEntitlementRowsFollowWhoMayWriteThem) {
  const std::string file = dir_.File("kinds.csv");
  const std::string home = testutil::MakeId(kCounty, "19900101", 21);
  const std::string guest = testutil::MakeId("440305", "19900101", 23);
  const std::string text = absl::StrCat(
      "kind,person,return_type,effective_on,from_county,origin_county,arrived_on,registered_on,"
      "address,certificate_type,certificate_number,issuer,valid_from,valid_to,facts,programme,"
      "status,amount_fen\n",
      // 2-4: the county's own person: a return, a certificate, an entitlement
      "return,", home, ",returned-home,2026-05-01,440305,,,,,,,,,,,,,\n", "certificate,", home,
      ",,,,,,,,marriage-fertility,MF-1,", kCounty,
      ",2026-01-01,2028-12-31,marital_status=married;children=1,,,\n", "entitlement,", home,
      ",,,,,,,,,,,,,,reward-support,active,9600\n",
      // 5: a certificate another county issues
      "certificate,", home, ",,,,,,,,residence-permit,RP-1,440305,2026-01-01,2026-12-31,,,,\n",
      // 6-7: a person who lives here, whose origin is 440305: not ours to
      // give an entitlement
      "inflow,", guest, ",,,,440305,2026-02-01,2026-02-10,Room 1,,,,,,,,,\n", "entitlement,", guest,
      ",,,,,,,,,,,,,,reward-support,eligible,\n");
  testutil::WriteFile(file, text, 0600);
  const std::string report = dir_.File("kinds.findings.csv");
  std::string err, out;
  // One batch: the writer sees the inflow's links when it takes the
  // entitlement after it (two batches in flight could arrive in either order).
  EXPECT_EQ(Ctl("clerk", {"import", file, "--report", report}, &err, &out), 2) << err;
  EXPECT_THAT(out, HasSubstr("6 rows read, 4 written, 0 unchanged, 2 rejected"));
  EXPECT_EQ(LogSize(), 4u);
  const std::string findings = testutil::Contents(report);
  EXPECT_THAT(findings, HasSubstr("kinds.csv,5,,\"rejected by the node: certificate cert-RP-1 "));
  EXPECT_THAT(findings, HasSubstr("only its issuer writes a certificate"));
  EXPECT_THAT(findings,
              HasSubstr("kinds.csv,7,,rejected by the node: entitlement ent-reward-support "));
  EXPECT_THAT(findings, HasSubstr("the person's origin is 440305"));
  EXPECT_THAT(findings, ::testing::Not(HasSubstr(guest)));

  // Again: every written row is unchanged.
  EXPECT_EQ(Ctl("clerk", {"import", file, "--report", report}, &err, &out), 2) << err;
  EXPECT_THAT(out, HasSubstr("6 rows read, 0 written, 4 unchanged, 2 rejected"));
  EXPECT_EQ(LogSize(), 4u);
}

TEST_P(ImportDaemonTest, InterruptedImportResumesAfterTheProgressFile) {
  const std::string file = dir_.File("resume.csv");
  std::string text = "kind,person,name,sex,birth_date,hukou_region\n";
  for (int n = 11; n <= 15; ++n) {  // lines 2..6
    absl::StrAppend(&text, "person,", testutil::MakeId(kCounty, "19900101", n), ",Person ", n, ",",
                    n % 2 ? "male" : "female", ",1990-01-01,620102\n");
  }
  // Line 7: an unknown hukou county.
  absl::StrAppend(&text, "person,", testutil::MakeId(kCounty, "19900101", 17),
                  ",Person 17,male,1990-01-01,449999\n");
  testutil::WriteFile(file, text, 0600);
  // A previous run wrote lines 2-4 and its findings, then stopped.
  testutil::WriteFile(file + ".progress", "4\n", 0600);
  const std::string report = file + ".findings.csv";
  testutil::WriteFile(report, "file,line,column,reason\n", 0600);
  std::string err, out;
  EXPECT_EQ(Ctl("clerk", {"import", file, "--batch", "1"}, &err, &out), 2) << err;
  EXPECT_THAT(out, HasSubstr("3 rows read (resumed after line 4), 2 written, 0 unchanged, "
                             "1 rejected"));
  EXPECT_EQ(LogSize(), 2u);
  EXPECT_FALSE(std::filesystem::exists(file + ".progress"));
  // The resumed run appends its findings to the report, each once.
  const std::string findings = testutil::Contents(report);
  EXPECT_EQ(findings.find("file,line,column,reason\n"), 0u);
  ASSERT_NE(findings.find(",7,hukou_region,"), std::string::npos) << findings;
  EXPECT_EQ(findings.find(",7,hukou_region,"), findings.rfind(",7,hukou_region,"));
  // The person of line 2 was left to the run that was interrupted.
  v1::PersonRequest read;
  read.set_person(testutil::MakeId(kCounty, "19900101", 11));
  read.set_reason("import check");
  EXPECT_EQ(As("clerk")->GetPerson(read).status().code(), absl::StatusCode::kNotFound);
  read.set_person(testutil::MakeId(kCounty, "19900101", 15));
  TB_ASSERT_OK(As("clerk")->GetPerson(read).status());

  // A progress file that is not a line number stops the import (exit 2).
  testutil::WriteFile(file + ".progress", "garbage\n", 0600);
  EXPECT_EQ(Ctl("clerk", {"import", file}, &err, &out), 2);
  EXPECT_THAT(err, HasSubstr("not a line number"));
}

TB_INSTANTIATE_FOR_BOTH_SUITES(ImportDaemonTest);

}  // namespace
}  // namespace tongban::node
