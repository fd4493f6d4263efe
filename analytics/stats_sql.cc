#include "analytics/stats_sql.h"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analytics/pg.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "workflows/measures.h"

namespace tongban::analytics {
namespace {

using workflows::CodeText;
using workflows::kNation;
using workflows::LevelOf;

std::string DayText(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

absl::StatusOr<int> ParseScope(const std::string& scope) {
  if (scope.empty()) return kNation;
  const int code = workflows::Digits(scope);
  if (scope.size() != 6 || code < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("stats scope \"", absl::CHexEscape(scope.substr(0, 16)),
                     "\": give a county (6 digits), a province XX0000 or the nation 000000"));
  }
  return code;
}

}  // namespace

absl::StatusOr<v1::StatsReply> StatsFromAnalytics(const std::string& conninfo,
                                                  const v1::StatsRequest& request,
                                                  absl::CivilDay today) {
  v1::StatsReply reply;
  reply.set_period_kind(request.period_kind());
  reply.set_period(request.period());
  if (request.period_kind() == v1::STATS_PERIOD_KIND_UNSPECIFIED && request.period().empty()) {
    reply.set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
    reply.set_period(absl::StrFormat("%04d-%02d", today.year(), today.month()));
  }
  TB_ASSIGN_OR_RETURN(const auto days,
                      workflows::StatsPeriodDays(reply.period_kind(), reply.period()));
  TB_ASSIGN_OR_RETURN(const int code, ParseScope(request.scope()));
  const workflows::StatsScope scope{code, LevelOf(code)};
  TB_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> db,
                      PgConnection::Connect(conninfo, absl::Seconds(10), "tongbanctl"));
  PgConnection& conn = *db;

  TB_ASSIGN_OR_RETURN(PgRows exists, conn.Query("SELECT to_regprocedure("
                                                "'tongban.measures(date,date,date)') IS NOT NULL"));
  if (exists.size() != 1 || exists.text(0, 0) != "t") {
    return absl::FailedPreconditionError(
        "the database has no tongban.measures: is it the national node's analytics database "
        "([analytics] connection in its tongband.conf), and has the mirror run a version with "
        "the measures (schema version 2)?");
  }
  const std::string args =
      absl::StrCat("'", DayText(days.first), "'::date, '", DayText(days.second), "'::date");
  TB_ASSIGN_OR_RETURN(PgRows measures,
                      conn.Query(absl::StrCat("SELECT scope, measure, numerator, denominator "
                                              "FROM tongban.measures(",
                                              args, ", '", DayText(today), "'::date)")));
  TB_ASSIGN_OR_RETURN(PgRows flows,
                      conn.Query(absl::StrCat("SELECT extract(year FROM month)::integer * 100 + "
                                              "extract(month FROM month)::integer, origin, "
                                              "residence, inflows, outflows FROM tongban.flows(",
                                              args, ")")));

  std::map<int, std::array<std::array<uint64_t, 2>, workflows::kMeasureCount>> ratios;
  for (size_t i = 0; i < measures.size(); ++i) {
    const int row = static_cast<int>(measures.integer(i, 0));
    if (!scope.Wants(row)) continue;
    const std::string name = measures.text(i, 1);
    const auto* m = std::find(std::begin(workflows::kMeasureSqlNames),
                              std::end(workflows::kMeasureSqlNames), name);
    if (m == std::end(workflows::kMeasureSqlNames)) continue;  // a measure of a later schema
    ratios[row][m - std::begin(workflows::kMeasureSqlNames)] = {
        static_cast<uint64_t>(measures.integer(i, 2)),
        static_cast<uint64_t>(measures.integer(i, 3))};
  }
  // Each flow goes to the rows of its origin and residence (as ComputeStats
  // distributes them: StatsScope::FlowRows).
  using FlowKey = workflows::StatsScope::FlowKey;
  std::map<int, std::map<FlowKey, std::array<uint64_t, 2>>> row_flows;
  for (size_t i = 0; i < flows.size(); ++i) {
    const FlowKey key = {static_cast<int>(flows.integer(i, 0)),
                         static_cast<int>(flows.integer(i, 1)),
                         static_cast<int>(flows.integer(i, 2))};
    const std::array<uint64_t, 2> counts = {static_cast<uint64_t>(flows.integer(i, 3)),
                                            static_cast<uint64_t>(flows.integer(i, 4))};
    for (const auto& [row, k] : scope.FlowRows(key)) {
      std::array<uint64_t, 2>& into = row_flows[row][k];
      into[0] += counts[0];
      into[1] += counts[1];
    }
  }

  std::vector<int> codes = {code};
  for (const auto& [row, unused] : ratios) codes.push_back(row);
  for (const auto& [row, unused] : row_flows) codes.push_back(row);
  // Nation, then each province followed by its counties.
  std::sort(codes.begin(), codes.end(), workflows::RowOrder);
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  for (int c : codes) {
    v1::StatsRow* row = reply.add_rows();
    row->set_scope(CodeText(c));
    row->set_level(LevelOf(c));
    for (int m = 0; m < workflows::kMeasureCount; ++m) {
      v1::StatsRatio* ratio = workflows::MutableRatio(row, m);
      ratio->set_numerator(ratios[c][m][0]);
      ratio->set_denominator(ratios[c][m][1]);
    }
    for (const auto& [key, counts] : row_flows[c]) {
      v1::StatsFlow* f = row->add_flows();
      f->set_month(absl::StrFormat("%04d-%02d", key[0] / 100, key[0] % 100));
      f->set_origin(CodeText(key[1]));
      f->set_residence(CodeText(key[2]));
      f->set_inflows(counts[0]);
      f->set_outflows(counts[1]);
    }
  }
  *reply.mutable_first_day() = records::ToDate(days.first);
  *reply.mutable_last_day() = records::ToDate(days.second);
  *reply.mutable_as_of() = records::ToDate(today);
  reply.set_scope(CodeText(code));
  reply.set_computed_by("analytics");
  for (const auto& [measure, reason] : workflows::kNotComputable) {
    v1::StatsNotComputable* nc = reply.add_not_computable();
    nc->set_measure(measure);
    nc->set_reason(reason);
  }
  return reply;
}

}  // namespace tongban::analytics
