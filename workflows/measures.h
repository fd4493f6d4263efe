// The measures of DOMAIN.md as StatsRow holds them, the periods they are
// computed over, and the human-readable table of a reply: the parts of the
// statistics that need no store, shared by the computation
// (workflows/stats.h) and tongbanctl.
//
// Thread safety: free functions and constants.
#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "tongban/v1/stats.pb.h"

namespace tongban::workflows {

// Measures with a numerator and a denominator, in StatsRow order.
enum Measure {
  kFeedback,
  kOnTime,
  kReceipt,
  kTimeliness,
  kArrivedOneSided,  // distinct persons per scope: not summed up
  kLeftOneSided,     // distinct persons per scope: not summed up
  kCertificate,
  kCompleteness,
  kIdFindings,
  kMeasureCount,
};

// Each measure's label in FormatStatsTable.
extern const char* const kMeasureLabels[kMeasureCount];

// Each measure's ratio in a row. REQUIRES: 0 <= m < kMeasureCount.
v1::StatsRatio* MutableRatio(v1::StatsRow* row, int m);
const v1::StatsRatio& Ratio(const v1::StatsRow& row, int m);

// Whether a province's or the nation's count is the sum of its counties'
// (false for the measures that count distinct persons per scope).
bool SummedUp(int m);

// What the records cannot support (yet), reported in every reply.
struct NotComputable {
  const char* measure;
  const char* reason;
};
extern const NotComputable kNotComputable[3];

// The value of a string of at most nine decimal digits, or -1.
int Digits(absl::string_view s);

// Region codes as integers, as the statistics hold them: 0 the nation,
// XX0000 a province, any other positive code a county.
inline constexpr int kNation = 0;
inline bool IsCounty(int code) { return code > 0 && code % 10000 != 0; }
inline int ProvinceOf(int code) { return code / 10000 * 10000; }
// Six digits: 440305, 440000, 000000.
std::string CodeText(int code);
v1::StatsScopeLevel LevelOf(int code);
// Rows in a reply's order: the nation, then each province followed by its
// counties, by code.
bool RowOrder(int a, int b);

// The rows a statistics query computes: its scope (a county, a province or
// the nation) at its level. The node's Stats and the analytics database's
// (analytics/stats_sql.h) choose rows and distribute flows through it alike.
struct StatsScope {
  int code = kNation;
  v1::StatsScopeLevel level = v1::STATS_SCOPE_LEVEL_NATION;

  // A county whose row the query computes.
  bool WantsCounty(int county) const;
  // Whether a row of `code` (a county, a province or the nation) belongs in
  // the reply.
  bool Wants(int code) const;
  // The rows a flow (year * 100 + month, origin, residence) counts in, each
  // once: a wanted county's row as it is, and (above county level) its
  // province's and the nation's with both counties as their provinces.
  using FlowKey = std::array<int, 3>;
  std::vector<std::pair<int, FlowKey>> FlowRows(const FlowKey& flow) const;
};

// The SQL name of each measure in the analytics database (StatsRow's field
// names, analytics/schema.sql tongban.measures).
extern const char* const kMeasureSqlNames[kMeasureCount];

// The first and last day of a period. kInvalidArgument naming the period and
// the problem for an unknown kind or a period not of the kind's format
// ("stats period \"2026-13\": month 13 is not 01..12").
absl::StatusOr<std::pair<absl::CivilDay, absl::CivilDay>> StatsPeriodDays(v1::StatsPeriodKind kind,
                                                                          absl::string_view period);

// The reply as a human-readable table: a heading with the period and scope,
// then a block per row with each measure as "numerator/denominator = xx.x%"
// ("0/0 = n/a"; ID findings "per 1,000"), the row's flows, and the
// measures that are not computable. Counts and region codes only.
std::string FormatStatsTable(const v1::StatsReply& reply);

}  // namespace tongban::workflows
