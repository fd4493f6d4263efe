#include "workflows/measures.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/ids/region.h"
#include "records/dates.h"

namespace tongban::workflows {
namespace {

absl::Status BadPeriod(absl::string_view period, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("stats period \"", absl::CHexEscape(period), "\": ", problem));
}

std::string Percent(const v1::StatsRatio& r, bool per_thousand) {
  if (r.denominator() == 0) return absl::StrCat(r.numerator(), "/0 = n/a");
  const double ratio = static_cast<double>(r.numerator()) / static_cast<double>(r.denominator());
  return per_thousand
             ? absl::StrFormat("%d/%d = %.1f per 1,000", r.numerator(), r.denominator(),
                               ratio * 1000)
             : absl::StrFormat("%d/%d = %.1f%%", r.numerator(), r.denominator(), ratio * 100);
}

}  // namespace

const char* const kMeasureSqlNames[kMeasureCount] = {
    "feedback",
    "on_time_feedback",
    "receipt",
    "registration_timeliness",
    "arrived_without_origin_record",
    "left_without_residence_record",
    "certificate_coverage",
    "completeness",
    "id_findings",
};

std::string CodeText(int code) { return absl::StrFormat("%06d", code); }

v1::StatsScopeLevel LevelOf(int code) {
  if (code == kNation) return v1::STATS_SCOPE_LEVEL_NATION;
  if (code % 10000 == 0) return v1::STATS_SCOPE_LEVEL_PROVINCE;
  return v1::STATS_SCOPE_LEVEL_COUNTY;
}

bool RowOrder(int a, int b) {
  const auto key = [](int c) {
    return std::make_tuple(c != kNation, ProvinceOf(c), c % 10000 != 0, c);
  };
  return key(a) < key(b);
}

bool StatsScope::WantsCounty(int county) const {
  if (!IsCounty(county)) return false;
  switch (level) {
    case v1::STATS_SCOPE_LEVEL_NATION: return true;
    case v1::STATS_SCOPE_LEVEL_PROVINCE: return ProvinceOf(county) == code;
    default: return county == code;
  }
}

bool StatsScope::Wants(int row) const {
  if (IsCounty(row)) return WantsCounty(row);
  if (row == kNation) return level == v1::STATS_SCOPE_LEVEL_NATION;
  return level == v1::STATS_SCOPE_LEVEL_NATION ||
         (level == v1::STATS_SCOPE_LEVEL_PROVINCE && row == code);
}

std::vector<std::pair<int, StatsScope::FlowKey>> StatsScope::FlowRows(const FlowKey& flow) const {
  std::vector<std::pair<int, FlowKey>> rows;
  const FlowKey provinces = {flow[0], ProvinceOf(flow[1]), ProvinceOf(flow[2])};
  for (int county : {flow[1], flow[2]}) {
    if (!WantsCounty(county)) continue;
    rows.push_back({county, flow});
    if (level != v1::STATS_SCOPE_LEVEL_COUNTY) rows.push_back({ProvinceOf(county), provinces});
  }
  if (level == v1::STATS_SCOPE_LEVEL_NATION) rows.push_back({kNation, provinces});
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

const char* const kMeasureLabels[kMeasureCount] = {
    "feedback rate (replied / received)",
    "on-time feedback rate (replied in time / due)",
    "receipt rate (acknowledged / needing receipt)",
    "registration timeliness (<= 30 days / all)",
    "arrived, no record at origin (persons)",
    "left, no record at residence (persons)",
    "certificate coverage (holding / living here)",
    "completeness (complete / records)",
    "ID findings (findings / records)",
};

// Each measure's field of StatsRow. A switch, not a table of member
// pointers: GCC's UBSan misreads calls through an array of them.
#define TB_STATS_FIELDS(access)                                          \
  switch (m) {                                                           \
    case kFeedback: return access(feedback);                             \
    case kOnTime: return access(on_time_feedback);                       \
    case kReceipt: return access(receipt);                               \
    case kTimeliness: return access(registration_timeliness);            \
    case kArrivedOneSided: return access(arrived_without_origin_record); \
    case kLeftOneSided: return access(left_without_residence_record);    \
    case kCertificate: return access(certificate_coverage);              \
    case kCompleteness: return access(completeness);                     \
    default: return access(id_findings);                                 \
  }
v1::StatsRatio* MutableRatio(v1::StatsRow* row, int m) {
#define TB_MUTABLE(f) row->mutable_##f()
  TB_STATS_FIELDS(TB_MUTABLE)
#undef TB_MUTABLE
}

const v1::StatsRatio& Ratio(const v1::StatsRow& row, int m) {
#define TB_GET(f) row.f()
  TB_STATS_FIELDS(TB_GET)
#undef TB_GET
}
#undef TB_STATS_FIELDS

bool SummedUp(int m) { return m != kArrivedOneSided && m != kLeftOneSided; }

const NotComputable kNotComputable[3] = {
    {"certificate coverage by certificate type",
     "the records carry no rule of who must hold which certificate (e.g. the "
     "marriage-fertility certificate by age and sex); coverage counts any valid "
     "certificate of a person living in the county"},
    {"registration timeliness under a 15-day provincial rule",
     "the records do not say which provinces register within 15 days; the "
     "30-day rule is applied everywhere"},
    {"accuracy beyond citizen-ID findings",
     "no record marks a value as found wrong (a correction does not say the "
     "earlier value was inaccurate); only confirmed ID findings are counted"},
};

int Digits(absl::string_view s) {
  if (s.empty() || s.size() > 9) return -1;
  int v = 0;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

absl::StatusOr<std::pair<absl::CivilDay, absl::CivilDay>> StatsPeriodDays(
    v1::StatsPeriodKind kind, absl::string_view period) {
  switch (kind) {
    case v1::STATS_PERIOD_KIND_MONTH: {
      const int year = period.size() == 7 && period[4] == '-' ? Digits(period.substr(0, 4)) : -1;
      const int month = year < 0 ? -1 : Digits(period.substr(5));
      if (month < 0) return BadPeriod(period, "a month is YYYY-MM, e.g. 2026-11");
      if (month < 1 || month > 12) {
        return BadPeriod(period, absl::StrCat("month ", period.substr(5), " is not 01..12"));
      }
      const absl::CivilMonth m(year, month);
      return std::make_pair(absl::CivilDay(m), absl::CivilDay(m + 1) - 1);
    }
    case v1::STATS_PERIOD_KIND_STATISTICAL_YEAR: {
      const int year = period.size() == 4 ? Digits(period) : -1;
      if (year < 1) {
        return BadPeriod(period,
                         "a statistical year is YYYY, the year it ends in: 2026 is "
                         "2025-10-01 .. 2026-09-30");
      }
      return std::make_pair(absl::CivilDay(year - 1, 10, 1), absl::CivilDay(year, 9, 30));
    }
    default: return BadPeriod(period, "the period kind must be month or statistical_year");
  }
}

std::string FormatStatsTable(const v1::StatsReply& reply) {
  std::string out = absl::StrFormat(
      "Statistics for %s %s (%s .. %s), scope %s, computed by %s as of %s\n",
      reply.period_kind() == v1::STATS_PERIOD_KIND_MONTH ? "month" : "statistical year",
      reply.period(), records::DateText(reply.first_day()), records::DateText(reply.last_day()),
      reply.scope(), reply.computed_by(), records::DateText(reply.as_of()));
  for (const v1::StatsRow& row : reply.rows()) {
    const char* level = row.level() == v1::STATS_SCOPE_LEVEL_NATION     ? "nation"
                        : row.level() == v1::STATS_SCOPE_LEVEL_PROVINCE ? "province"
                                                                        : "county";
    const std::optional<ids::Region> region = ids::FindRegion(row.scope());
    absl::StrAppend(&out, "\n", row.scope(), " ", level,
                    region.has_value() ? absl::StrCat(" ", region->name) : "", "\n");
    for (int m = 0; m < kMeasureCount; ++m) {
      const v1::StatsRatio& ratio = Ratio(row, m);
      absl::StrAppend(&out, absl::StrFormat("  %-48s %s\n", kMeasureLabels[m],
                                            Percent(ratio, m == kIdFindings)));
    }
    absl::StrAppend(&out, absl::StrFormat("  %-48s %d\n", "records in conflict (two heads)",
                                          row.records_in_conflict()));
    if (row.flows_size() == 0) {
      absl::StrAppend(&out, "  flows: none\n");
      continue;
    }
    absl::StrAppend(&out, "  flows     origin -> residence   inflows  outflows\n");
    for (const v1::StatsFlow& f : row.flows()) {
      absl::StrAppend(&out, absl::StrFormat("    %s   %s -> %s   %7d  %8d\n", f.month(), f.origin(),
                                            f.residence(), f.inflows(), f.outflows()));
    }
  }
  if (reply.not_computable_size() > 0) absl::StrAppend(&out, "\n");
  for (const v1::StatsNotComputable& nc : reply.not_computable()) {
    absl::StrAppend(&out, nc.measure(), ": not computable: ", nc.reason(), "\n");
  }
  return out;
}

}  // namespace tongban::workflows
