// tongbanctl ledger export against running daemons (DaemonTest: a national
// node and county 620102). The county registers two arrivals from 440305,
// one departure to it and one inquiry to it; the national node, once those
// records reached it, exports the nation, both provinces and both counties
// for May and June 2026, every figure counted by hand below. The county
// exports its own statistical year in GB18030, and an export the node
// refuses leaves no file.
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/csv.h"
#include "tests/testutil/wait.h"
#include "workflows/csv.h"

namespace tongban::node {
namespace {

using testutil::CsvRecord;
using testutil::Day;
using testutil::Only;

constexpr char kFrom[] = "440305";  // not a member of the test federation

class LedgerDaemonTest : public DaemonTest {
 protected:
  void Write(const std::string& person, v1::RecordKind kind, const std::string& record_id,
             const v1::RecordValue& value) {
    v1::WriteRequest w;
    w.set_person(person);
    w.set_kind(kind);
    w.set_record_id(record_id);
    *w.mutable_value() = value;
    TB_ASSERT_OK(clerk_->Write(w).status());
  }

  void Arrival(const std::string& person, v1::Date arrived, v1::Date registered) {
    v1::RecordValue v;
    v1::InflowRegistration* in = v.mutable_inflow();
    in->set_origin_county(kFrom);
    *in->mutable_arrived_on() = arrived;
    *in->mutable_registered_on() = registered;
    in->set_address("test address");
    Write(person, v1::RECORD_KIND_INFLOW, "inflow-1", v);
  }

  std::unique_ptr<cli::AdminClient> clerk_;
};

// A person registered on the 5th after arriving on 20 May (on time), one
// registered on 10 June after arriving on 1 April (70 days: late), one who
// left for 440305 on 15 June and whom 440305 never registered.
TEST_P(LedgerDaemonTest, NationalExportCoversEveryScopeWithHandCountedFigures) {
  clerk_ = As("clerk");
  const std::string p1 = testutil::MakeId(kFrom, "19900101", 1);
  const std::string p2 = testutil::MakeId(kFrom, "19900101", 2);
  const std::string p3 = testutil::MakeId(kCounty, "19900101", 3);
  Arrival(p1, Day(2026, 5, 20), Day(2026, 6, 5));
  Arrival(p2, Day(2026, 4, 1), Day(2026, 6, 10));
  v1::RecordValue out;
  out.mutable_outflow()->set_destination_county(kFrom);
  *out.mutable_outflow()->mutable_left_on() = Day(2026, 6, 15);
  Write(p3, v1::RECORD_KIND_OUTFLOW, "out-1", out);
  // (An inquiry's time is the node's clock when it is written, so none can
  // be sent in June 2026 here: ledger_test covers the inquiry columns.)

  // Wait until the three records reached the national node.
  auto national = As("clerk", "", "000000");
  v1::StatsRequest june;
  june.set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
  june.set_period("2026-06");
  june.set_scope("000000");
  ASSERT_TRUE(testutil::WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        absl::StatusOr<v1::StatsReply> reply = national->Stats(june);
        if (!reply.ok()) return reply.status();
        const v1::StatsRow& n = reply->rows(0);
        return n.registration_timeliness().denominator() == 2 &&
               n.left_without_residence_record().denominator() == 1;
      },
      absl::Seconds(60), "the county's records to reach the national node"));

  const std::string ledger = dir_.File("ledger.csv");
  const std::string flows = dir_.File("flows.csv");
  std::string err, text;
  ASSERT_EQ(Ctl("clerk",
                {"ledger", "export", "--from", "2026-05", "--to", "2026-06", "--scope", "000000",
                 "--out", ledger, "--flows", flows},
                &err, &text, "000000"),
            0)
      << err;
  EXPECT_THAT(text, ::testing::HasSubstr("10 rows in " + ledger + ", 10 flows in " + flows));
  const std::vector<CsvRecord> rows = testutil::LedgerRecords(testutil::Contents(ledger));
  ASSERT_EQ(rows.size(), 10u);

  // Columns checked in every row, by (period, code).
  const CsvRecord zero_may = {{"inquiries received", "0"},
                              {"feedback rate (%)", ""},
                              {"inflow registrations", "0"},
                              {"registration timeliness (%)", ""},
                              {"left without residence record (%)", ""},
                              {"computed by", "000000"}};
  // Both arrivals live in 620102 on 31 May and on 30 June, neither holds a
  // certificate; registrations and the departure are June's.
  const CsvRecord gansu_may = {{"persons living here", "2"},  {"certificate coverage (%)", "0.00"},
                               {"inflow registrations", "0"}, {"registration timeliness (%)", ""},
                               {"inquiries received", "0"},   {"completeness (%)", ""}};
  const CsvRecord gansu_june = {
      {"registered within 30 days", "1"},
      {"inflow registrations", "2"},
      {"registration timeliness (%)", "50.00"},
      {"arrived, no record at origin", "2"},
      {"persons registered as arrived", "2"},
      {"arrived without origin record (%)", "100.00"},
      {"left, no record at residence", "1"},
      {"persons left, arrival window closed", "1"},
      {"left without residence record (%)", "100.00"},
      {"persons living here", "2"},
      {"certificate coverage (%)", "0.00"},
      {"inquiries received", "0"},
      {"feedback rate (%)", ""},
      {"records written", "0"},  // written now, not in June
      {"completeness (%)", ""},
  };
  // Guangdong: only the departure's flow names it.
  const CsvRecord guangdong_june = {
      {"inquiries replied", "0"},        {"inquiries received", "0"},
      {"feedback rate (%)", ""},         {"inquiries due", "0"},
      {"on-time feedback rate (%)", ""}, {"inflow registrations", "0"},
      {"persons living here", "0"},      {"certificate coverage (%)", ""}};
  // The nation: Gansu's registrations.
  const CsvRecord nation_june = gansu_june;
  const struct {
    const char* period;
    const char* level;
    const char* code;
    const char* name;
    const CsvRecord* want;
  } expected[] = {
      {"2026-05", "nation", "000000", "全国", &gansu_may},
      {"2026-05", "province", "440000", "广东省", &zero_may},
      {"2026-05", "county", "440305", "南山区", &zero_may},
      {"2026-05", "province", "620000", "甘肃省", &gansu_may},
      {"2026-05", "county", "620102", "城关区", &gansu_may},
      {"2026-06", "nation", "000000", "全国", &nation_june},
      {"2026-06", "province", "440000", "广东省", &guangdong_june},
      {"2026-06", "county", "440305", "南山区", &guangdong_june},
      {"2026-06", "province", "620000", "甘肃省", &gansu_june},
      {"2026-06", "county", "620102", "城关区", &gansu_june},
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(absl::StrCat(expected[i].period, " ", expected[i].code));
    CsvRecord want = *expected[i].want;
    want.insert({{"period", expected[i].period},
                 {"level", expected[i].level},
                 {"code", expected[i].code},
                 {"name", expected[i].name}});
    EXPECT_EQ(Only(rows[i], want), want);
  }

  // Flows: May's arrival from 440305 and June's departure to it, under the
  // nation, both provinces (as province pairs) and both counties.
  const std::vector<CsvRecord> flow_rows = testutil::LedgerRecords(testutil::Contents(flows));
  ASSERT_EQ(flow_rows.size(), 10u);
  const CsvRecord county_june = {{"period", "2026-06"}, {"code", "620102"},   {"month", "2026-06"},
                                 {"origin", "620102"},  {"residence", kFrom}, {"inflows", "0"},
                                 {"outflows", "1"}};
  EXPECT_EQ(Only(flow_rows[9], county_june), county_june);
  const CsvRecord nation_may = {{"period", "2026-05"},   {"level", "nation"}, {"origin", "440000"},
                                {"residence", "620000"}, {"inflows", "1"},    {"outflows", "0"}};
  EXPECT_EQ(Only(flow_rows[0], nation_may), nation_may);

  // The county's own statistical year in GB18030: twelve months and the
  // year's total, its figures the national node's.
  const std::string year = dir_.File("year.csv");
  ASSERT_EQ(
      Ctl("clerk", {"ledger", "export", "--year", "2026", "--encoding", "gb18030", "--out", year},
          &err, &text),
      0)
      << err;
  const std::string gb = testutil::Contents(year);
  ASSERT_TRUE(absl::StartsWith(gb, "\xCD\xB3\xBC\xC6\xC6\xDA period,")) << "统计期 in GB18030";
  TB_ASSERT_OK_AND_ASSIGN(auto to_utf8, workflows::Transcoder::Open("UTF-8", "GB18030"));
  std::string utf8;
  ASSERT_EQ(to_utf8->Convert(gb, &utf8), std::string::npos);
  const std::vector<CsvRecord> year_rows = testutil::LedgerRecords(workflows::kUtf8Bom + utf8);
  ASSERT_EQ(year_rows.size(), 13u);
  EXPECT_EQ(year_rows[0].at("period"), "2025-10");
  EXPECT_EQ(year_rows[11].at("period"), "2026-09");
  CsvRecord june_county = gansu_june;
  june_county["period"] = "2026-06";
  june_county["computed by"] = kCounty;
  EXPECT_EQ(Only(year_rows[8], june_county), june_county);
  CsvRecord total = gansu_june;  // nothing else happened in the year
  total.insert({{"period", "2026"},
                {"first day", "2025-10-01"},
                {"last day", "2026-09-30"},
                {"code", kCounty}});
  EXPECT_EQ(Only(year_rows[12], total), total);

  // The county may not export the nation: refused, and no file.
  const std::string refused = dir_.File("refused.csv");
  EXPECT_EQ(
      Ctl("clerk",
          {"ledger", "export", "--month", "2026-06", "--scope", "000000", "--out", refused}, &err),
      3)
      << err;
  EXPECT_THAT(err, ::testing::HasSubstr("stats scope 000000: node 620102 computes only its own"));
  EXPECT_FALSE(std::filesystem::exists(refused));
}

// The export formats what Stats returns; the crypto suite changes nothing it
// reads, so one suite is enough.
INSTANTIATE_TEST_SUITE_P(Intl, LedgerDaemonTest, testing::Values(crypto::SuiteId::kIntl),
                         testutil::SuiteParamName());

}  // namespace
}  // namespace tongban::node
