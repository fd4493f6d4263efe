// tongbanctl ledger export: asks the node's Stats call for each month of the
// range (and, for --year, the statistical year as a whole), then writes the
// ledger (workflows/ledger.h) and, with --flows, the flows file. Nothing is
// written until every reply has arrived, and each file replaces its path
// atomically, so a failed export leaves no half file behind.
#include "tongbanctl/commands_ledger.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tongbanctl/admin_client.h"
#include "tongbanctl/files.h"
#include "workflows/ledger.h"

namespace tongban::cli {
namespace {

// The months asked for, and the statistical year for --year ("" otherwise).
struct Range {
  std::vector<std::string> months;
  std::string year;
};

absl::StatusOr<Range> RangeOf(const Args& args) {
  const bool span = args.Has("from") || args.Has("to");
  if (static_cast<int>(args.Has("month")) + static_cast<int>(args.Has("year")) +
          static_cast<int>(span) !=
      1) {
    return absl::InvalidArgumentError(
        "give one of --month YYYY-MM, --year YYYY, or --from YYYY-MM --to YYYY-MM");
  }
  Range range;
  if (args.Has("month")) {
    TB_ASSIGN_OR_RETURN(range.months,
                        workflows::LedgerMonths(args.Get("month"), args.Get("month")));
  } else if (args.Has("year")) {
    range.year = args.Get("year");
    TB_ASSIGN_OR_RETURN(range.months, workflows::StatisticalYearMonths(range.year));
  } else {
    TB_ASSIGN_OR_RETURN(std::string from, args.Required("from"));
    TB_ASSIGN_OR_RETURN(std::string to, args.Required("to"));
    TB_ASSIGN_OR_RETURN(range.months, workflows::LedgerMonths(from, to));
  }
  return range;
}

void AddQuery(v1::StatsPeriodKind kind, const std::string& period, const std::string& scope,
              v1::StatsManyRequest* request) {
  v1::StatsRequest* r = request->add_requests();
  r->set_period_kind(kind);
  r->set_period(period);
  r->set_scope(scope);
}

absl::Status LedgerExportCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(const std::string out, args.Required("out"));
  const std::string flows_out = args.Get("flows");
  if (flows_out == out) {
    return absl::InvalidArgumentError("--flows must name another file than --out");
  }
  const std::string encoding_name = args.Get("encoding", "utf-8");
  TB_ASSIGN_OR_RETURN(const workflows::Encoding encoding, workflows::ParseEncoding(encoding_name));
  TB_ASSIGN_OR_RETURN(const Range range, RangeOf(args));
  const std::string scope = args.Get("scope");
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));

  // Every month, and the statistical year's own reply (not a sum of its
  // months: persons are counted once per scope, and coverage is taken on
  // the year's last day), from one scan of the node's records.
  v1::StatsManyRequest request;
  for (const std::string& month : range.months) {
    AddQuery(v1::STATS_PERIOD_KIND_MONTH, month, scope, &request);
  }
  if (!range.year.empty()) {
    AddQuery(v1::STATS_PERIOD_KIND_STATISTICAL_YEAR, range.year, scope, &request);
  }
  TB_ASSIGN_OR_RETURN(v1::StatsManyReply answered, client->StatsMany(request));
  std::vector<v1::StatsReply> with_year(answered.replies().begin(), answered.replies().end());
  if (with_year.size() != static_cast<size_t>(request.requests_size())) {
    return absl::DataLossError("stats: the node answered another number of queries");
  }
  const std::vector<v1::StatsReply> replies(with_year.begin(),
                                            with_year.begin() + range.months.size());

  TB_ASSIGN_OR_RETURN(const std::string ledger, workflows::LedgerCsv(with_year, encoding));
  std::string flows;
  if (!flows_out.empty()) {
    TB_ASSIGN_OR_RETURN(flows, workflows::LedgerFlowsCsv(replies, encoding));
  }
  // Aggregates only (counts and region codes): readable like any report.
  TB_RETURN_IF_ERROR(WriteFileAtomically(out, ledger, 0644));
  if (!flows_out.empty()) TB_RETURN_IF_ERROR(WriteFileAtomically(flows_out, flows, 0644));

  // No field holds a line break, so rows are lines (less the header).
  auto rows = [](const std::string& csv) {
    return std::count_if(csv.begin(), csv.end(), [](char c) { return c == '\n'; }) - 1;
  };
  io.out << "ledger export: " << range.months.front() << " .. " << range.months.back()
         << (range.year.empty() ? "" : absl::StrCat(" and statistical year ", range.year))
         << ", scope " << with_year.front().scope() << ": " << rows(ledger) << " rows in " << out;
  if (!flows_out.empty()) io.out << ", " << rows(flows) << " flows in " << flows_out;
  io.out << " (" << (encoding == workflows::Encoding::kUtf8 ? "UTF-8 with BOM" : "GB18030")
         << ")\n";
  return absl::OkStatus();
}

}  // namespace

void AddLedgerCommands(std::vector<Command>* c) {
  std::vector<FlagSpec> flags = ConnectionFlags();
  for (const char* name : {"month", "year", "from", "to", "scope", "encoding", "out", "flows"}) {
    flags.push_back({name});
  }
  c->push_back(Command{
      "ledger", "export", "the measures per scope and month as a CSV ledger (统计台账)",
      "tongbanctl ledger export (--month YYYY-MM | --year YYYY | --from YYYY-MM --to YYYY-MM) "
      "[--scope CODE] [--encoding utf-8|gb18030] --out FILE.csv [--flows FILE.csv]",
      "  --month YYYY-MM        one calendar month\n"
      "  --year YYYY            the statistical year ending in YYYY (1 October YYYY-1 to\n"
      "                         30 September YYYY): its twelve months, then a total row\n"
      "                         per scope for the year as a whole\n"
      "  --from, --to YYYY-MM   the months from one to the other, both included\n"
      "  --scope CODE           a county, a province XX0000 or the nation 000000\n"
      "                         (default: the node's own; the national node with 000000\n"
      "                         exports the nation, every province and every county)\n"
      "  --encoding E           utf-8 (default; with a BOM) or gb18030\n"
      "  --out FILE             the ledger: one row per scope and month, numerator,\n"
      "                         denominator and rate of each measure (README \"Ledger\n"
      "                         export\"); replaced if it exists\n"
      "  --flows FILE           also write the flows (origin x residence by month)\n"
      "Connection flags as every online command (--node, --ca, --cert, --key,\n"
      "--password-file or --totp; see tongbanctl stats --help). Files are written only\n"
      "once every month's statistics arrived.\n\n"
      "Examples:\n"
      "  tongbanctl ledger export --year 2026 --scope 000000 --out ledger-2026.csv\n"
      "  tongbanctl ledger export --from 2026-01 --to 2026-06 --encoding gb18030 "
      "--out h1.csv --flows h1-flows.csv\n",
      flags, 0, 0, LedgerExportCmd});
}

}  // namespace tongban::cli
