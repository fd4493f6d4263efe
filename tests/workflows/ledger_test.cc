// The ledger CSV (workflows/ledger.h) from hand-made StatsReplies: bytes
// (BOM, CRLF, GB18030), RFC 4180 quoting, every count as the reply holds it,
// ratios rounded from the counts, empty ratios for zero denominators, scopes
// a reply left out filled with zeros, and the month ranges.
#include "workflows/ledger.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testutil/csv.h"

namespace tongban::workflows {
namespace {

using ::testing::ElementsAre;
using Record = testutil::CsvRecord;
using testutil::Only;

void SetRatio(v1::StatsRatio* r, uint64_t numerator, uint64_t denominator) {
  r->set_numerator(numerator);
  r->set_denominator(denominator);
}

v1::StatsReply Reply(const std::string& period, int month) {
  v1::StatsReply reply;
  reply.set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
  reply.set_period(period);
  reply.mutable_first_day()->set_year(2026);
  reply.mutable_first_day()->set_month(month);
  reply.mutable_first_day()->set_day(1);
  reply.mutable_last_day()->set_year(2026);
  reply.mutable_last_day()->set_month(month);
  reply.mutable_last_day()->set_day(30);
  reply.mutable_as_of()->set_year(2026);
  reply.mutable_as_of()->set_month(11);
  reply.mutable_as_of()->set_day(30);
  reply.set_scope("000000");
  reply.set_computed_by("000000");
  return reply;
}

v1::StatsRow* AddRow(v1::StatsReply* reply, const std::string& code, v1::StatsScopeLevel level) {
  v1::StatsRow* row = reply->add_rows();
  row->set_scope(code);
  row->set_level(level);
  return row;
}

// A nation reply for June with one county of Gansu, and one for July in
// which Gansu's county has nothing (so ComputeStats left it out) but a
// county of Guangdong has.
std::vector<v1::StatsReply> TwoMonths() {
  v1::StatsReply june = Reply("2026-06", 6);
  v1::StatsRow* nation = AddRow(&june, "000000", v1::STATS_SCOPE_LEVEL_NATION);
  SetRatio(nation->mutable_feedback(), 1, 3);
  SetRatio(nation->mutable_on_time_feedback(), 1, 32);
  SetRatio(nation->mutable_id_findings(), 1, 3);
  nation->set_records_in_conflict(2);
  v1::StatsRow* gansu = AddRow(&june, "620000", v1::STATS_SCOPE_LEVEL_PROVINCE);
  *gansu->mutable_feedback() = nation->feedback();
  v1::StatsRow* county = AddRow(&june, "620102", v1::STATS_SCOPE_LEVEL_COUNTY);
  SetRatio(county->mutable_feedback(), 1, 3);
  SetRatio(county->mutable_certificate_coverage(), 2, 3);
  v1::StatsFlow* flow = county->add_flows();
  flow->set_month("2026-06");
  flow->set_origin("440305");
  flow->set_residence("620102");
  flow->set_inflows(4);
  flow->set_outflows(1);

  v1::StatsReply july = Reply("2026-07", 7);
  AddRow(&july, "000000", v1::STATS_SCOPE_LEVEL_NATION);
  AddRow(&july, "440000", v1::STATS_SCOPE_LEVEL_PROVINCE);
  SetRatio(AddRow(&july, "440305", v1::STATS_SCOPE_LEVEL_COUNTY)->mutable_receipt(), 5, 5);
  return {june, july};
}

TEST(LedgerTest, OneRowPerScopeAndMonthWithTheRepliesCounts) {
  absl::StatusOr<std::string> csv = LedgerCsv(TwoMonths(), Encoding::kUtf8);
  ASSERT_TRUE(csv.ok()) << csv.status();
  const auto records = testutil::LedgerRecords(*csv);
  // Every scope in every month, in ComputeStats's order.
  std::vector<std::string> keys;
  for (const auto& r : records) {
    keys.push_back(absl::StrCat(r.at("period"), " ", r.at("level"), " ", r.at("code")));
  }
  EXPECT_THAT(
      keys, ElementsAre("2026-06 nation 000000", "2026-06 province 440000", "2026-06 county 440305",
                        "2026-06 province 620000", "2026-06 county 620102", "2026-07 nation 000000",
                        "2026-07 province 440000", "2026-07 county 440305",
                        "2026-07 province 620000", "2026-07 county 620102"));

  const Record nation = {
      {"name", "全国"},
      {"first day", "2026-06-01"},
      {"last day", "2026-06-30"},
      {"inquiries replied", "1"},
      {"inquiries received", "3"},
      {"feedback rate (%)", "33.33"},
      {"on-time feedback rate (%)", "3.13"},  // 1/32 = 3.125%: half up
      {"ID findings per 1,000 records", "333.33"},
      {"records in conflict", "2"},
      {"as of", "2026-11-30"},
      {"computed by", "000000"},
      // A zero denominator: the counts, and an empty ratio (not 0, not NaN).
      {"notices acknowledged", "0"},
      {"notices needing receipt", "0"},
      {"receipt rate (%)", ""},
  };
  EXPECT_EQ(Only(records[0], nation), nation);
  const Record lanzhou = {
      {"name", "城关区"}, {"certificate coverage (%)", "66.67"}, {"persons living here", "3"}};
  EXPECT_EQ(Only(records[4], lanzhou), lanzhou);
  // Left out of July's reply: all zeros, empty ratios.
  const Record lanzhou_july = {
      {"inquiries received", "0"}, {"feedback rate (%)", ""}, {"records in conflict", "0"}};
  EXPECT_EQ(Only(records[9], lanzhou_july), lanzhou_july);
  EXPECT_EQ(records[7].at("receipt rate (%)"), "100.00");
  EXPECT_EQ(records[2].at("receipt rate (%)"), "") << "440305 was not in June's reply";
}

// Every measure of StatsRow has its three columns, named in both languages.
TEST(LedgerTest, HeaderNamesEveryMeasureInChineseAndEnglish) {
  const std::vector<std::string> columns = LedgerColumns();
  int ratios = 0;
  const google::protobuf::Descriptor* row = v1::StatsRow::descriptor();
  for (int i = 0; i < row->field_count(); ++i) {
    if (row->field(i)->message_type() == v1::StatsRatio::descriptor()) ++ratios;
  }
  EXPECT_EQ(columns.size(), 6u + 3u * ratios + 3u);
  for (const std::string& c : columns) {
    const std::string chinese = c.substr(0, c.find(' '));
    EXPECT_TRUE(std::any_of(chinese.begin(), chinese.end(), [](char b) { return b & 0x80; }))
        << "no Chinese name: " << c;
    EXPECT_NE(c.find(' '), std::string::npos) << "no English name: " << c;
  }
}

TEST(LedgerTest, HeaderCellsWithCommasAreQuoted) {
  absl::StatusOr<std::string> csv = LedgerCsv({}, Encoding::kUtf8);
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_TRUE(absl::StartsWith(*csv, "\xEF\xBB\xBF统计期 period,起始日 first day,"));
  EXPECT_TRUE(absl::StrContains(*csv, ",\"流出地未建卡人数 arrived, no record at origin\","));
  EXPECT_TRUE(absl::EndsWith(*csv, "computed by\r\n"));
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\r\nlines"), "\"two\r\nlines\"");
}

TEST(LedgerTest, Gb18030HasNoBomAndDecodesToTheUtf8Ledger) {
  absl::StatusOr<std::string> utf8 = LedgerCsv(TwoMonths(), Encoding::kUtf8);
  absl::StatusOr<std::string> gb = LedgerCsv(TwoMonths(), Encoding::kGb18030);
  ASSERT_TRUE(utf8.ok() && gb.ok()) << utf8.status() << gb.status();
  // 统计期 in GB18030 (the same bytes as in GBK).
  EXPECT_TRUE(absl::StartsWith(*gb, "\xCD\xB3\xBC\xC6\xC6\xDA period,")) << gb->substr(0, 12);
  EXPECT_TRUE(absl::StrContains(*gb, "\xC8\xAB\xB9\xFA")) << "全国";
  absl::StatusOr<std::unique_ptr<Transcoder>> back = Transcoder::Open("UTF-8", "GB18030");
  ASSERT_TRUE(back.ok()) << back.status();
  std::string decoded;
  EXPECT_EQ((*back)->Convert(*gb, &decoded), std::string::npos);
  EXPECT_EQ("\xEF\xBB\xBF" + decoded, *utf8);
}

TEST(LedgerTest, FlowsOnePerRowAndFlow) {
  absl::StatusOr<std::string> csv = LedgerFlowsCsv(TwoMonths(), Encoding::kUtf8);
  ASSERT_TRUE(csv.ok()) << csv.status();
  const auto records = testutil::LedgerRecords(*csv);
  ASSERT_EQ(records.size(), 1u);
  const Record flow = {{"period", "2026-06"},     {"code", "620102"},      {"origin", "440305"},
                       {"origin name", "南山区"}, {"residence", "620102"}, {"inflows", "4"},
                       {"outflows", "1"}};
  EXPECT_EQ(Only(records[0], flow), flow);
}

TEST(LedgerTest, MonthRanges) {
  absl::StatusOr<std::vector<std::string>> months = LedgerMonths("2025-11", "2026-02");
  ASSERT_TRUE(months.ok()) << months.status();
  EXPECT_THAT(*months, ElementsAre("2025-11", "2025-12", "2026-01", "2026-02"));
  months = StatisticalYearMonths("2026");
  ASSERT_TRUE(months.ok()) << months.status();
  ASSERT_EQ(months->size(), 12u);
  EXPECT_EQ(months->front(), "2025-10");
  EXPECT_EQ(months->back(), "2026-09");
  EXPECT_EQ(LedgerMonths("2026-03", "2026-02").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LedgerMonths("2026-13", "2026-13").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LedgerMonths("2016-01", "2026-01").status().code(), absl::StatusCode::kInvalidArgument)
      << "121 months";
  EXPECT_TRUE(LedgerMonths("2016-02", "2026-01").ok()) << "120 months";
  EXPECT_EQ(StatisticalYearMonths("26").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tongban::workflows
