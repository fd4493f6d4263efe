// The fleet view at the national node of a running federation (issue 21):
// the county's Hello states its software and roster version, the national
// node keeps the expiry of the certificate TLS verified and finds the newest
// signed checkpoint of the county's log; the Admin call returns them,
// `tongbanctl fleet` shows them, and the metric tongban_fleet_nodes counts
// the county by state.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/pki/pki.h"
#include "common/version.h"
#include "gtest/gtest.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/files.h"
#include "tests/testutil/http.h"
#include "tests/testutil/prometheus_text.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/wait.h"
#include "tongbanctl/admin_client.h"

namespace tongban::node {
namespace {

class FleetDaemonTest : public DaemonTest {};

TEST_P(FleetDaemonTest, NationalNodeShowsEachCountysVersionsCheckpointAndCertificate) {
  // A record at the county, so that the national node holds a signed
  // checkpoint of the county's log.
  const std::string person = testutil::MakeId(kCounty, "19900307", 31);
  TB_ASSERT_OK(As("clerk")->Write(BasicsWrite(person)).status());
  TB_ASSERT_OK_AND_ASSIGN(
      pki::Certificate cert,
      pki::Certificate::FromPem(testutil::Contents(dir_.File(kCounty) + "/tls/node.crt")));

  auto national = As("admin", "", "000000");
  v1::FleetReply reply;
  v1::FleetNode row;
  ASSERT_TRUE(testutil::WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        absl::StatusOr<v1::FleetReply> got = national->Fleet(v1::FleetRequest());
        if (absl::IsUnavailable(got.status())) return false;  // not computed yet
        if (!got.ok()) return got.status();
        reply = *std::move(got);
        for (const v1::FleetNode& n : reply.nodes()) {
          if (n.code() == kCounty) row = n;
        }
        return row.connected() && row.checkpoint_size() >= 1 && !row.software_version().empty() &&
               row.cert_not_after_micros() != 0;
      },
      absl::Seconds(30), "the county's versions, checkpoint and certificate at the national node"));
  EXPECT_EQ(row.software_version(), Version());
  EXPECT_GE(reply.roster_version(), 1u);
  EXPECT_EQ(row.roster_version(), reply.roster_version());
  // What TLS verified: the county's own certificate.
  EXPECT_EQ(row.cert_not_after_micros(), absl::ToUnixMicros(cert.not_after()));
  EXPECT_GT(row.checkpoint_micros(), 0);
  EXPECT_LE(row.checkpoint_micros(), reply.computed_at_micros());
  EXPECT_GE(row.log_size(), 1u);

  // tongbanctl fleet: one line per node, the version, roster and the days
  // left of the certificate (as the setup issued it).
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"fleet", "--sort", "cert-expiry"}, &err, &out, "000000"), 0) << err;
  const std::vector<std::string> lines = absl::StrSplit(out, '\n');
  ASSERT_GE(lines.size(), 4u) << out;
  const std::string& header = lines[2];
  for (const char* column : {"SEEN", "CHECKPOINT", "VERSION", "ROSTER", "CERT DAYS", "HELD"}) {
    EXPECT_TRUE(absl::StrContains(header, column)) << column << " in\n" << out;
  }
  const std::string& county = lines[3];
  EXPECT_TRUE(absl::StartsWith(county, kCounty)) << out;
  EXPECT_TRUE(absl::StrContains(county, absl::StrCat("  ", Version(), "  "))) << out;
  EXPECT_TRUE(absl::StrContains(county, absl::StrCat("  v", reply.roster_version(), "  "))) << out;
  EXPECT_TRUE(absl::StrContains(county, "  now  ")) << out;
  const int64_t days = (absl::ToUnixMicros(cert.not_after()) - reply.computed_at_micros()) /
                       (int64_t{86400} * 1000000);
  EXPECT_TRUE(absl::StrContains(county, absl::StrCat("  ", days, "  ")) ||
              absl::StrContains(county, absl::StrCat("  ", days - 1, "  ")))
      << days << " days in\n"
      << out;
  // About 130 columns with the roster's bilingual name (in bytes here: a
  // Chinese character is 3 bytes and 2 columns).
  EXPECT_LT(county.size(), 160u) << out;

  // The counts by state, one series per state and none per county; the
  // county counts as expiring if the setup issued its certificate for 30
  // days or less (fleet_test counts both cases).
  const double expiring = days <= 30 ? 1 : 0;
  std::map<std::string, double> states;
  EXPECT_TRUE(testutil::WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        auto families = testutil::ParseExposition(
            testutil::Body(testutil::Get(national_->metrics_port(), "/metrics")));
        if (!families.ok()) return families.status();
        states.clear();
        for (const auto& f : *families) {
          if (f.name != "tongban_fleet_nodes") continue;
          for (const auto& sample : f.samples) states[sample.labels.at("state")] = sample.value;
        }
        return states["connected"] == 1 && states["cert_expiring"] == expiring;
      },
      absl::Seconds(30), "the county counted in tongban_fleet_nodes"));
  const std::map<std::string, double> expected = {
      {"connected", 1}, {"disconnected", 0},         {"unseen", 0},       {"held", 0},
      {"frozen", 0},    {"cert_expiring", expiring}, {"roster_behind", 0}};
  EXPECT_EQ(states, expected);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(FleetDaemonTest);

}  // namespace
}  // namespace tongban::node
