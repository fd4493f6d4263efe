// Ledgers (统计台账): the statistics replies of a range of months (and of a
// statistical year) as CSV files for spreadsheet programs, written by
// `tongbanctl ledger export` (commands_ledger.cc, README "Ledger export").
// Pure: no network, no clock, so it is unit-tested on its own.
//
// Ledger file (LedgerCsv):
//   file     := [BOM] header CRLF { row CRLF }   RFC 4180 (workflows/csv.h)
//   BOM      := EF BB BF for UTF-8; none for GB18030 (spreadsheet programs
//               in China open a BOM-less CSV as GBK/GB18030)
//   header   := one row; each cell "中文名 English name" (LedgerColumns())
//   row      := one scope (county, province subtotal or nation total) over
//               one period of one reply, in reply order; within a reply the
//               nation, then each province followed by its counties, by code
//   columns  := period, first day, last day, level (county | province |
//               nation), code, name (GB/T 2260, "全国" for 000000), then per
//               measure of StatsRow (in field order) its numerator, its
//               denominator and the ratio, then records_in_conflict, the
//               computing node's day (as_of) and code (computed_by)
//   ratio    := the percentage (the ID-findings measure: per 1,000 records)
//               with two decimals, rounded half up from the exact counts;
//               empty when the denominator is 0
// Every scope that appears in any of the replies gets a row in every reply,
// with zeros where a reply left it out: ComputeStats leaves out exactly the
// scopes below the requested one whose counts are all zero.
//
// Flows file (LedgerFlowsCsv): the same framing; one row per StatsFlow of
// each row of each reply: period, level, code, name, month, origin code and
// name, residence code and name, inflows, outflows. A county row holds the
// flows where it is the origin or the residence, so a flow between two
// counties appears under both; province and nation rows hold province pairs.
//
// Thread safety: free functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tongban/v1/stats.pb.h"
#include "workflows/csv.h"

namespace tongban::workflows {

// The longest range one export asks for, in months (ten years).
inline constexpr int kMaxLedgerMonths = 120;

// The months from `from` to `to` ("YYYY-MM", both included), ascending.
// kInvalidArgument for a malformed month, `to` before `from`, or a range
// longer than kMaxLedgerMonths.
absl::StatusOr<std::vector<std::string>> LedgerMonths(absl::string_view from, absl::string_view to);

// The twelve months of the statistical year `year` ("2026": 2025-10 ..
// 2026-09); kInvalidArgument for a malformed year.
absl::StatusOr<std::vector<std::string>> StatisticalYearMonths(absl::string_view year);

// The ledger's header cells, in column order, UTF-8.
std::vector<std::string> LedgerColumns();

// The ledger of `replies` (format above) in `encoding`. kInternal if iconv
// cannot convert to GB18030.
absl::StatusOr<std::string> LedgerCsv(const std::vector<v1::StatsReply>& replies,
                                      Encoding encoding);

// The flows of `replies` (format above). Give it the month replies only: a
// statistical year's reply repeats the flows of its months.
absl::StatusOr<std::string> LedgerFlowsCsv(const std::vector<v1::StatsReply>& replies,
                                           Encoding encoding);

}  // namespace tongban::workflows
