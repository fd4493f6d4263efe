#include "workflows/ledger.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "common/ids/region.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "workflows/measures.h"

namespace tongban::workflows {
namespace {

// The three columns of one ratio measure, by StatsRow field name.
struct MeasureColumns {
  const char* field;
  const char* numerator;
  const char* denominator;
  const char* ratio;
  int scale;  // 100: a percentage; 1000: per 1,000
};

const MeasureColumns kMeasures[] = {
    {"feedback", "已反馈协查数 inquiries replied", "收到协查数 inquiries received",
     "反馈率(%) feedback rate (%)", 100},
    {"on_time_feedback", "按时反馈数 replied on time", "到期协查数 inquiries due",
     "按时反馈率(%) on-time feedback rate (%)", 100},
    {"receipt", "已回执通报数 notices acknowledged", "需回执通报数 notices needing receipt",
     "接收率(%) receipt rate (%)", 100},
    {"registration_timeliness", "30日内登记数 registered within 30 days",
     "流入登记数 inflow registrations", "登记及时率(%) registration timeliness (%)", 100},
    {"arrived_without_origin_record", "流出地未建卡人数 arrived, no record at origin",
     "登记流入人数 persons registered as arrived",
     "流出地未建卡率(%) arrived without origin record (%)", 100},
    {"left_without_residence_record", "流入地未建卡人数 left, no record at residence",
     "流出满30日人数 persons left, arrival window closed",
     "流入地未建卡率(%) left without residence record (%)", 100},
    {"certificate_coverage", "持证人数 persons holding a valid certificate",
     "应持证人数 persons living here", "持证率(%) certificate coverage (%)", 100},
    {"completeness", "完整记录数 complete records", "记录数 records written",
     "完整率(%) completeness (%)", 100},
    {"id_findings", "身份证号问题数 ID findings", "核查记录数 records checked",
     "每千条问题数 ID findings per 1,000 records", 1000},
};

constexpr const char* kCrLf = "\r\n";

// The StatsRatio fields of StatsRow, in field order. Reflection, so that a
// measure added to stats.proto cannot be left out silently: LedgerColumns()
// names each one, and the unit test fails on a field without a name.
std::vector<const google::protobuf::FieldDescriptor*> RatioFields() {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  const google::protobuf::Descriptor* row = v1::StatsRow::descriptor();
  for (int i = 0; i < row->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = row->field(i);
    if (f->message_type() == v1::StatsRatio::descriptor()) fields.push_back(f);
  }
  return fields;
}

const MeasureColumns* ColumnsOf(const google::protobuf::FieldDescriptor* f) {
  for (const MeasureColumns& m : kMeasures) {
    if (f->name() == m.field) return &m;
  }
  return nullptr;
}

// numerator / denominator * scale with two decimals, rounded half up, in
// integers (no binary rounding); "" for a zero denominator.
std::string Ratio(uint64_t numerator, uint64_t denominator, int scale) {
  if (denominator == 0) return "";
  using U128 = unsigned __int128;
  const U128 twice = U128(numerator) * U128(scale) * 200 + denominator;
  const auto hundredths = static_cast<uint64_t>(twice / (U128(denominator) * 2));
  return absl::StrFormat("%d.%02d", hundredths / 100, hundredths % 100);
}

const char* LevelText(v1::StatsScopeLevel level) {
  switch (level) {
    case v1::STATS_SCOPE_LEVEL_NATION: return "nation";
    case v1::STATS_SCOPE_LEVEL_PROVINCE: return "province";
    default: return "county";
  }
}

std::string RegionName(const std::string& code) {
  if (code == "000000") return "全国";
  const std::optional<ids::Region> region = ids::FindRegion(code);
  return region.has_value() ? region->name : "";
}

// Orders scopes as ComputeStats does: the nation, then each province
// followed by its counties, by code.
std::string OrderKey(const std::string& code, v1::StatsScopeLevel level) {
  if (level == v1::STATS_SCOPE_LEVEL_NATION) return "";
  return absl::StrCat(code.substr(0, 2), level == v1::STATS_SCOPE_LEVEL_PROVINCE ? "0" : "1", code);
}

void AppendCsvLine(const std::vector<std::string>& cells, std::string* out) {
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, CsvField(cells[i]));
  }
  absl::StrAppend(out, kCrLf);
}

// The UTF-8 text in `encoding`, with a BOM for UTF-8.
absl::StatusOr<std::string> Encoded(const std::string& utf8, Encoding encoding) {
  if (encoding == Encoding::kUtf8) return absl::StrCat(kUtf8Bom, utf8);
  return EncodeUtf8(utf8, encoding);
}

// "YYYY-MM" of every month from the one holding `first` to the one holding
// `last`.
std::vector<std::string> MonthsOfDays(absl::CivilDay first, absl::CivilDay last) {
  std::vector<std::string> months;
  for (absl::CivilMonth m(first); m <= absl::CivilMonth(last); ++m) {
    months.push_back(absl::FormatCivilTime(m));
  }
  return months;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> LedgerMonths(absl::string_view from,
                                                      absl::string_view to) {
  TB_ASSIGN_OR_RETURN(const auto first,
                      workflows::StatsPeriodDays(v1::STATS_PERIOD_KIND_MONTH, from));
  TB_ASSIGN_OR_RETURN(const auto last, workflows::StatsPeriodDays(v1::STATS_PERIOD_KIND_MONTH, to));
  if (last.first < first.first) {
    return absl::InvalidArgumentError(absl::StrCat("--to ", to, " is before --from ", from));
  }
  const auto count = absl::CivilMonth(last.first) - absl::CivilMonth(first.first) + 1;
  if (count > kMaxLedgerMonths) {
    return absl::InvalidArgumentError(absl::StrCat(
        from, " .. ", to, " is ", count, " months; one export covers at most ", kMaxLedgerMonths));
  }
  return MonthsOfDays(first.first, last.second);
}

absl::StatusOr<std::vector<std::string>> StatisticalYearMonths(absl::string_view year) {
  TB_ASSIGN_OR_RETURN(const auto days,
                      workflows::StatsPeriodDays(v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, year));
  return MonthsOfDays(days.first, days.second);
}

std::vector<std::string> LedgerColumns() {
  std::vector<std::string> columns = {"统计期 period", "起始日 first day", "截止日 last day",
                                      "级别 level",    "区划代码 code",    "区划名称 name"};
  for (const google::protobuf::FieldDescriptor* f : RatioFields()) {
    const MeasureColumns* m = ColumnsOf(f);
    if (m == nullptr) {  // A new measure without names yet: still exported.
      columns.push_back(absl::StrCat(f->name(), " numerator"));
      columns.push_back(absl::StrCat(f->name(), " denominator"));
      columns.push_back(absl::StrCat(f->name(), " (%)"));
      continue;
    }
    columns.insert(columns.end(), {m->numerator, m->denominator, m->ratio});
  }
  columns.insert(columns.end(),
                 {"冲突记录数 records in conflict", "计算日 as of", "计算节点 computed by"});
  return columns;
}

absl::StatusOr<std::string> LedgerCsv(const std::vector<v1::StatsReply>& replies,
                                      Encoding encoding) {
  // Every scope of any reply, in ComputeStats's order.
  std::map<std::string, std::pair<std::string, v1::StatsScopeLevel>> scopes;
  for (const v1::StatsReply& reply : replies) {
    for (const v1::StatsRow& row : reply.rows()) {
      scopes.emplace(OrderKey(row.scope(), row.level()), std::make_pair(row.scope(), row.level()));
    }
  }
  const std::vector<const google::protobuf::FieldDescriptor*> fields = RatioFields();
  std::string text;
  AppendCsvLine(LedgerColumns(), &text);
  for (const v1::StatsReply& reply : replies) {
    std::map<std::string, const v1::StatsRow*> by_code;
    for (const v1::StatsRow& row : reply.rows()) by_code[row.scope()] = &row;
    for (const auto& [key, scope] : scopes) {
      const auto& [code, level] = scope;
      v1::StatsRow zero;  // left out of this reply: every count is 0
      auto it = by_code.find(code);
      const v1::StatsRow& row = it != by_code.end() ? *it->second : zero;
      std::vector<std::string> cells = {reply.period(),
                                        records::DateText(reply.first_day()),
                                        records::DateText(reply.last_day()),
                                        LevelText(level),
                                        code,
                                        RegionName(code)};
      for (const google::protobuf::FieldDescriptor* f : fields) {
        const auto& ratio =
            static_cast<const v1::StatsRatio&>(row.GetReflection()->GetMessage(row, f));
        const MeasureColumns* m = ColumnsOf(f);
        cells.push_back(absl::StrCat(ratio.numerator()));
        cells.push_back(absl::StrCat(ratio.denominator()));
        cells.push_back(Ratio(ratio.numerator(), ratio.denominator(), m ? m->scale : 100));
      }
      cells.insert(cells.end(), {absl::StrCat(row.records_in_conflict()),
                                 records::DateText(reply.as_of()), reply.computed_by()});
      AppendCsvLine(cells, &text);
    }
  }
  return Encoded(text, encoding);
}

absl::StatusOr<std::string> LedgerFlowsCsv(const std::vector<v1::StatsReply>& replies,
                                           Encoding encoding) {
  std::string text;
  AppendCsvLine({"统计期 period", "级别 level", "区划代码 code", "区划名称 name", "流动月份 month",
                 "流出地代码 origin", "流出地名称 origin name", "流入地代码 residence",
                 "流入地名称 residence name", "流入登记数 inflows", "流出登记数 outflows"},
                &text);
  for (const v1::StatsReply& reply : replies) {
    for (const v1::StatsRow& row : reply.rows()) {
      for (const v1::StatsFlow& f : row.flows()) {
        AppendCsvLine(
            {reply.period(), LevelText(row.level()), row.scope(), RegionName(row.scope()),
             f.month(), f.origin(), RegionName(f.origin()), f.residence(),
             RegionName(f.residence()), absl::StrCat(f.inflows()), absl::StrCat(f.outflows())},
            &text);
      }
    }
  }
  return Encoded(text, encoding);
}

}  // namespace tongban::workflows
