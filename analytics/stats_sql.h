// Statistics from the analytics database (README "The national measures in
// SQL"): the StatsReply the national node's Stats gives, computed by
// PostgreSQL from the mirror's rows with tongban.measures and tongban.flows,
// for tongbanctl stats --from analytics. Store-free: it links libpq and the
// formats, not RocksDB (tests/layering_check.sh).
//
// Thread safety: free functions; the connection is the caller's.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "tongban/v1/stats.pb.h"

namespace tongban::analytics {

// The statistics of `request` (period kind and period, default the month of
// `today`; scope a county, a province XX0000 or the nation, default the
// nation) on `today` (China Standard Time) from the database of `conninfo`
// (libpq's; connected to only once the request is found good), framed as the node frames its
// replies (period, days, scope, computed_by "analytics", the measures not computable). Rows and
// flows are those ComputeStats gives on the same records, but for records_in_conflict (0: the
// database keeps one state per record). kInvalidArgument for a bad period or scope, naming it;
// kFailedPrecondition when the database has no tongban schema (no mirror has written to it); the
// database's error otherwise.
absl::StatusOr<v1::StatsReply> StatsFromAnalytics(const std::string& conninfo,
                                                  const v1::StatsRequest& request,
                                                  absl::CivilDay today);

}  // namespace tongban::analytics
