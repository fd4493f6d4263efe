#include "node/fleet.h"

namespace tongban::node {

std::map<std::string, uint64_t> CountFleet(const std::vector<FleetRow>& rows, absl::Time now,
                                           uint64_t roster_version) {
  std::map<std::string, uint64_t> counts;
  for (const char* state : {"connected", "disconnected", "unseen", "held", "frozen",
                            "cert_expiring", "roster_behind"}) {
    counts[state] = 0;
  }
  for (const FleetRow& row : rows) {
    if (row.connected) {
      ++counts["connected"];
    } else if (row.last_seen == absl::InfinitePast()) {
      ++counts["unseen"];
    } else {
      ++counts["disconnected"];
    }
    if (!row.held.empty()) ++counts["held"];
    if (row.frozen) ++counts["frozen"];
    if (row.cert_not_after != absl::InfinitePast() &&
        row.cert_not_after - now < kCertExpiringWithin) {
      ++counts["cert_expiring"];
    }
    if (row.roster_version != 0 && row.roster_version < roster_version) ++counts["roster_behind"];
  }
  return counts;
}

}  // namespace tongban::node
