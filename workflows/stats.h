// The statistics module (issue #4 item 5): the measures of DOMAIN.md
// ("Measures the national platform reports") per month or statistical year,
// by county and province, computed from the records a node holds. The
// national node computes every county, every province and the nation; a
// county node only its own row. `tongbanctl stats` prints FormatStatsTable.
//
// ComputeStats is a pure computation over the current state of the records
// column family (RecordState heads): one full scan, person by person (a
// person's records are adjacent in key order, so replies meet their
// inquiries and receipts their notices without an index). Its cost grows with
// every record the node holds, whatever the period: about 0.9 s for
// 1,000,000 records on the project's machine (bench/stats_bench.cc). So the
// Admin service answers from counters kept as records are applied
// (CountedStats, "Counters" below): the write path marks each person whose
// records changed, a follower evaluates the person's records before and
// after and adds the difference to counters keyed by (county, month or day)
// of the dates that matter (sent, deadline, answered, registered, left),
// leaving only the `now`-dependent cut-offs (overdue, arrival window closed,
// the reference day of certificate coverage) to the query. ComputeStats stays
// the reference the counters are tested against. Neither reads a clock:
// the caller passes `now`. Dates are the events' recorded dates (the
// payload's dates and the writer's time stamps), never the time a record
// reached this node; time stamps become days in China Standard Time (UTC+8).
//
// Which version of a record counts:
//   * the standing head (records/record_state.h, the one rule every part of
//     the node applies): the head with the largest hybrid clock stamp (then
//     the largest event origin, epoch, seq). A record with two or more heads
//     (a conflict an operator has not resolved yet) is counted once, by its
//     standing head, and also in records_in_conflict;
//   * a record whose standing head is a retraction (撤回) is not counted
//     anywhere, and does not answer an inquiry or a notice, nor hold a
//     certificate, nor make a registration two-sided;
//   * a head whose payload does not parse counts only in completeness (as
//     incomplete).
//
// What each measure counts (P = the period's days, today = `now` in CST):
//   feedback                 denominator: inquiries whose sent day
//       (sent_at_micros, else the standing head's stamp) is in P, attributed
//       to the county asked (to_county); numerator: those with a reply, i.e.
//       a live inquiry_reply of the same person written by that county whose
//       inquiry_record_id and inquiry_county name the inquiry and its writer.
//   on_time_feedback         denominator: inquiries to the county whose
//       deadline is in P and that are answered or whose deadline has passed
//       (deadline < today); numerator: those answered on or before the
//       deadline. Deadline = due_on if set, else the sent day + 15 (urgent),
//       30 (normal or unspecified) or 7 days (certificate mismatch), the
//       defaults of records::DeadlineRules. Reply day = replied_at_micros,
//       else the reply's stamp. An unanswered
//       inquiry not yet due is in neither count.
//   receipt                  notices with needs_receipt whose sent day is in
//       P, attributed to the county they were sent to; numerator: those with
//       a live receipt written by that county naming the notice and its
//       writer. Notices without needs_receipt are not counted.
//   registration_timeliness  inflow registrations with registered_on in P,
//       attributed to their writer (the residence); numerator: those with
//       registered_on - arrived_on <= 30 days (31 days is late).
//   arrived_without_origin_record  distinct persons with a live inflow
//       registration written by the county with registered_on in P;
//       numerator: those for whom this node holds no live outflow
//       registration written by the inflow's origin_county (to any
//       destination). A province or the nation counts each person once.
//   left_without_residence_record  distinct persons with a live outflow
//       registration written by the county with left_on in P and
//       left_on + 30 days < today (the arrival window has closed), leaving
//       out outflows followed by a live return home (returned_home,
//       effective_on >= left_on); numerator: those for whom this node holds
//       no live inflow registration written by the destination county.
//   certificate_coverage     "should hold one" = persons living in the county
//       on the reference day R = min(last day of P, today): the live inflow
//       with the latest arrived_on <= R is the county, and no live return
//       (returned home, or departed from that county) has effective_on in
//       [arrived_on, R]. DOMAIN.md: a migrant shows a certificate when the
//       arrival is registered. Numerator: those holding a live, unrevoked
//       certificate of any type with valid_from <= R <= valid_to.
//   completeness             live records whose standing head's stamp falls
//       in P, attributed to their writer (custodian); numerator: those whose
//       value parses, is of the record's kind and has every field the write
//       path requires (the kind table's, records/kinds.h) present. Presence only: the
//       validity of values is the write path's check, and what it accepts on
//       an operator's confirmation is counted below.
//   id_findings              over the same records: the confirmed citizen-ID
//       findings (RecordState.id_findings) / the records; shown per 1,000.
//   flows                    live inflows by arrived_on month and live
//       outflows by left_on month in P, origin x residence (counties in a
//       county row, provinces in a province or nation row); a county row
//       holds the flows where it is the origin or the residence.
// Counts by county add up to the province and nation rows, except the two
// one-sided measures (distinct persons per scope).
//
// Thread safety: free functions; ComputeStats reads the store concurrently
// with writers (each key is read as it is at the moment the scan passes it).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "storage/store.h"
#include "tongban/v1/stats.pb.h"
#include "workflows/measures.h"

namespace tongban::workflows {

struct StatsQuery {
  // The computing node's code: a county, a province "XX0000" or the national
  // "000000". Required; decides which scopes it may compute.
  std::string node;
  v1::StatsPeriodKind period_kind = v1::STATS_PERIOD_KIND_UNSPECIFIED;
  // "YYYY-MM" for a month, "YYYY" for the statistical year ending in YYYY
  // ("2026" = 2025-10-01 .. 2026-09-30).
  std::string period;
  // A county code, "XX0000", "000000", or "" for the node's own scope.
  std::string scope;
  // The computing node's time: decides what is overdue, whether an arrival
  // window has closed and the reference day of certificate coverage.
  absl::Time now;
};

// A query from the Admin request, for node `node` at `now`.
StatsQuery StatsQueryFromRequest(const v1::StatsRequest& request, std::string node, absl::Time now);

// Computes the rows of `query.scope` over `query.period` from the records in
// `store`. Errors:
//   kInvalidArgument   bad period (above); a scope or node code that is not
//                      "000000", a province "XX0000" or a current county code
//                      (the message names the code and the problem)
//   kPermissionDenied  a scope outside the node's own: a county node asked
//                      for another county, a province or the nation; a
//                      province node asked for another province
//   storage errors     as Store::ScanFrom returns them (kDataLoss for a
//                      stored RecordState that does not parse)
// Rows: the requested scope's row always (zeros if nothing counted); for a
// province or the nation also every county (and province) below it that has
// a non-zero count. Order: nation, then each province followed by its
// counties, by code.
absl::StatusOr<v1::StatsReply> ComputeStats(const storage::Store& store, const StatsQuery& query);

// The replies of several queries (e.g. the twelve months of a ledger and
// their statistical year) from one scan of the records: each person's
// records are read and parsed once and counted for every query. The same
// errors as ComputeStats, for the first query that has one; one reply per
// query, in order.
absl::StatusOr<std::vector<v1::StatsReply>> ComputeStatsMany(
    const storage::Store& store, const std::vector<StatsQuery>& queries);

// --- Counters: the same replies without a scan ---
//
// Each person's live records add a set of facts to counters kept in the
// store ("stats/" keys, storage/keys.h): per month and county the slots of
// feedback, receipt, timeliness, completeness, ID findings, conflicts and
// on-time (answered on time, answered late, unanswered, by deadline month),
// unanswered inquiries by deadline day, flows per month and county pair,
// the distinct-person measures per period (month and statistical year) and
// scope (county, province, nation), with the earliest day of each person's
// qualifying outflow, and certificate coverage as the changes of who lives
// where (and holds a certificate) on the days they change, by year, month
// and day. None of them depends on `now`: a query applies it to the day
// buckets (overdue = deadline < today; an outflow's window closed; the
// reference day of certificate coverage as a prefix sum).
//
// The follower: every Batch::PutRecord writes a dirty mark for the person
// (storage/keys.h "statsdirty/", a new key per write). UpdateStatsCounters
// evaluates each marked person's live records as the scan does, reads the
// facts stored for the person ("statsfacts/"), and writes the new facts,
// the difference added to the counters (a RocksDB merge that adds values:
// no counter is read) and the deletion of the marks it read in one batch: a restart finds either
// all of it or none (and the marks still there). Counting is by state, not by event, so a
// correction, a retraction, a reply that arrives late or a mark counted twice leaves the counters
// equal to a full scan. On a store that has no counters yet, the first call counts every person
// from one scan. One follower runs at a time in a process (a mutex); the caller runs it before
// answering and may run it on a timer.
struct StatsCounterProgress {
  bool rebuilt = false;          // this call counted the store from a scan
  uint64_t marks = 0;            // dirty marks consumed
  uint64_t persons_counted = 0;  // persons evaluated
  uint64_t persons_changed = 0;  // of those, persons whose facts changed
};
absl::StatusOr<StatsCounterProgress> UpdateStatsCounters(storage::Store& store);

// The replies of ComputeStats / ComputeStatsMany from the counters (after
// UpdateStatsCounters, equal to them). Cost: the counters of the period's
// months, bounded by counties x months, not by records.
absl::StatusOr<v1::StatsReply> CountedStats(const storage::Store& store, const StatsQuery& query);
absl::StatusOr<std::vector<v1::StatsReply>> CountedStatsMany(
    const storage::Store& store, const std::vector<StatsQuery>& queries);

}  // namespace tongban::workflows
