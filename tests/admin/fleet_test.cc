// The fleet view's order and pages on the keys issue 21 added (software and
// roster version, checkpoint time, certificate expiry), and the counts by
// state behind the metric tongban_fleet_nodes. Pure functions over rows: no
// node, no clock.
#include "node/fleet.h"

#include <string>
#include <vector>

#include "admin/admin.h"
#include "gtest/gtest.h"

namespace tongban::admin {
namespace {

using node::FleetRow;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

FleetRow Row(const std::string& code) {
  FleetRow row;
  row.code = code;
  row.name = "county " + code;
  row.status = "active";
  return row;
}

std::vector<std::string> Codes(const std::vector<const FleetRow*>& page) {
  std::vector<std::string> codes;
  for (const FleetRow* row : page) codes.push_back(row->code);
  return codes;
}

// Five counties: two certificates known, one of them soon expiring; one
// unknown version; roster and checkpoints varied.
std::vector<FleetRow> Rows() {
  std::vector<FleetRow> rows = {Row("110101"), Row("120101"), Row("130102"), Row("140105"),
                                Row("150102")};
  rows[0].software_version = "0.9.1";
  rows[1].software_version = "0.10.0";
  rows[2].software_version = "";  // no Hello since start
  rows[3].software_version = "0.9.12";
  rows[4].software_version = "0.9.1";
  rows[0].roster_version = 4;
  rows[1].roster_version = 3;
  rows[3].roster_version = 5;
  rows[4].roster_version = 5;
  rows[1].checkpoint_time = kNow - absl::Hours(1);
  rows[3].checkpoint_time = kNow - absl::Hours(30);
  rows[4].checkpoint_time = kNow - absl::Minutes(5);
  rows[2].cert_not_after = kNow + absl::Hours(24 * 400);
  rows[4].cert_not_after = kNow + absl::Hours(24 * 10);
  return rows;
}

TEST(FleetPageTest, SoftwareVersionSortsAsVersionsNotAsText) {
  const std::vector<FleetRow> rows = Rows();
  // Unknown first; 0.9.1 < 0.9.12 < 0.10.0 (text order would put 0.10.0
  // before 0.9.1); ties by code.
  EXPECT_EQ(Codes(FleetPage(rows, v1::FLEET_SORT_SOFTWARE_VERSION, false, 0, 10)),
            (std::vector<std::string>{"130102", "110101", "150102", "140105", "120101"}));
  EXPECT_EQ(Codes(FleetPage(rows, v1::FLEET_SORT_SOFTWARE_VERSION, true, 0, 2)),
            (std::vector<std::string>{"120101", "140105"}));
}

TEST(FleetPageTest, CertificateExpirySoonestFirstAndUnknownLast) {
  const std::vector<FleetRow> rows = Rows();
  EXPECT_EQ(Codes(FleetPage(rows, v1::FLEET_SORT_CERT_EXPIRY, false, 0, 10)),
            (std::vector<std::string>{"150102", "130102", "110101", "120101", "140105"}));
  // The second page of two.
  EXPECT_EQ(Codes(FleetPage(rows, v1::FLEET_SORT_CERT_EXPIRY, false, 2, 2)),
            (std::vector<std::string>{"110101", "120101"}));
}

TEST(FleetPageTest, RosterVersionAndCheckpointTimeOrderAndPage) {
  const std::vector<FleetRow> rows = Rows();
  // Unknown roster (0) first, then 3, 4, 5, 5.
  EXPECT_EQ(Codes(FleetPage(rows, v1::FLEET_SORT_ROSTER_VERSION, false, 0, 10)),
            (std::vector<std::string>{"130102", "120101", "110101", "140105", "150102"}));
  // No checkpoint first, then the oldest: who stopped signing.
  EXPECT_EQ(Codes(FleetPage(rows, v1::FLEET_SORT_CHECKPOINT_TIME, false, 0, 10)),
            (std::vector<std::string>{"110101", "130102", "140105", "120101", "150102"}));
  EXPECT_EQ(Codes(FleetPage(rows, v1::FLEET_SORT_CHECKPOINT_TIME, true, 1, 1)),
            (std::vector<std::string>{"120101"}));
  // Past the end: an empty page, not an error.
  EXPECT_TRUE(FleetPage(rows, v1::FLEET_SORT_CHECKPOINT_TIME, false, 7, 10).empty());
  EXPECT_EQ(FleetPage(rows, v1::FLEET_SORT_CHECKPOINT_TIME, false, 4, 10).size(), 1u);
}

TEST(FleetCountTest, CountsEveryStateOnceAndTheFirstThreePartition) {
  std::vector<FleetRow> rows = Rows();
  rows[0].connected = true;
  rows[0].last_seen = kNow;
  rows[1].last_seen = kNow - absl::Minutes(3);  // disconnected
  rows[1].held = "REJECT_REASON_BAD_SIGNATURE: batch 2";
  rows[3].frozen = true;
  rows[3].cert_not_after = kNow - absl::Hours(1);  // expired: counted as expiring
  // rows 2, 3 and 4 unseen since start. Roster now 5: 110101 (4) and
  // 120101 (3) behind; 130102 never said (0), not counted.
  const std::map<std::string, uint64_t> counts = node::CountFleet(rows, kNow, 5);
  const std::map<std::string, uint64_t> expected = {
      {"connected", 1}, {"disconnected", 1},  {"unseen", 3},       {"held", 1},
      {"frozen", 1},    {"cert_expiring", 2}, {"roster_behind", 2}};
  EXPECT_EQ(counts, expected);
  // A certificate 30 days and a minute away is not yet expiring.
  rows[4].cert_not_after = kNow + node::kCertExpiringWithin + absl::Minutes(1);
  EXPECT_EQ(node::CountFleet(rows, kNow, 5).at("cert_expiring"), 1u);
  // No rows: every state present, zero.
  const std::map<std::string, uint64_t> none = node::CountFleet({}, kNow, 5);
  EXPECT_EQ(none.size(), 7u);
  for (const auto& [state, n] : none) EXPECT_EQ(n, 0u) << state;
}

}  // namespace
}  // namespace tongban::admin
