// Certificate expiry on a running county (DaemonTest): every certificate the
// node uses is a metric (tongban_certificate_expiry_timestamp_seconds, the
// notAfter as Unix seconds), and tongbanctl status warns from 30 days
// before. The county's TLS certificate here comes from pki request and pki
// sign (tools/federation-setup.sh), so its TLS sessions also show that a
// signed request works; the short-lived one below is made the same way.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/pki/pki.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/http.h"
#include "tests/testutil/prometheus_text.h"

namespace tongban::node {
namespace {

class CertExpiryDaemonTest : public DaemonTest {
 protected:
  // The samples of tongban_certificate_expiry_timestamp_seconds by label.
  std::map<std::string, double> Expiries() {
    std::map<std::string, double> out;
    absl::StatusOr<std::vector<testutil::ParsedFamily>> families = testutil::ParseExposition(
        testutil::Body(testutil::Get(county_->metrics_port(), "/metrics")));
    EXPECT_TRUE(families.ok()) << families.status();
    if (!families.ok()) return out;
    for (const testutil::ParsedFamily& f : *families) {
      if (f.name != "tongban_certificate_expiry_timestamp_seconds") continue;
      EXPECT_EQ(f.type, "gauge");
      for (const testutil::ParsedSample& s : f.samples) out[s.labels.at("certificate")] = s.value;
    }
    return out;
  }

  double NotAfter(const std::string& path) {
    absl::StatusOr<pki::Certificate> cert = pki::ReadCertificateFile(path);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return cert.ok() ? static_cast<double>(absl::ToUnixSeconds(cert->not_after())) : -1;
  }
};

TB_INSTANTIATE_FOR_BOTH_SUITES(CertExpiryDaemonTest);

TEST_P(CertExpiryDaemonTest, EveryCertificateExpiryIsAMetricAndStatusWarnsWithin30Days) {
  const std::string county = dir_.File(kCounty);
  // A year left on each: metrics for all three, and no warning.
  const std::map<std::string, double> year = Expiries();
  ASSERT_EQ(year.size(), 3u);
  EXPECT_EQ(year.at("node"), NotAfter(county + "/tls/node.crt"));
  EXPECT_EQ(year.at("federation_ca"), NotAfter(county + "/tls/ca.crt"));
  EXPECT_EQ(year.at("operator_ca"), NotAfter(county + "/operators/ca.crt"));
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"status"}, &err, &out), 0) << err;
  EXPECT_FALSE(absl::StrContains(out, "WARNING")) << out;
  EXPECT_TRUE(absl::StrContains(out, "operator CA")) << out;

  // The county asks for a new certificate, which the federation signs for
  // 10 days; the county restarts with it.
  county_.reset();
  ASSERT_EQ(
      RunCtl({"pki", "request", "--node", kCounty, "--out", county + "/tls10", "--ip", "127.0.0.1"},
             &err),
      0)
      << err;
  ASSERT_EQ(RunCtl({"pki", "sign", "--ca", dir_.File("ca"), "--request", county + "/tls10/node.csr",
                    "--out", county + "/tls10/node.crt", "--days", "10"},
                   &err),
            0)
      << err;
  TB_ASSERT_OK_AND_ASSIGN(Config config, LoadConfig(county + "/tongband.conf"));
  config.certificate = county + "/tls10/node.crt";
  config.private_key = county + "/tls10/node.key";
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(config, RealClock()));

  const std::map<std::string, double> soon = Expiries();
  EXPECT_EQ(soon.at("node"), NotAfter(county + "/tls10/node.crt"));
  EXPECT_NEAR(soon.at("node") - absl::ToUnixSeconds(absl::Now()), 10 * 86400, 120);
  EXPECT_EQ(soon.at("federation_ca"), year.at("federation_ca"));
  ASSERT_EQ(Ctl("admin", {"status"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "WARNING")) << out;
  EXPECT_TRUE(absl::StrContains(out, "the node's TLS certificate expires in 10 days")) << out;
  EXPECT_TRUE(absl::StrContains(out, "tongbanctl pki request")) << out;
  // Only the node's certificate is near its end.
  EXPECT_FALSE(absl::StrContains(out, "federation CA certificate expires")) << out;
  // The JSON reply carries every expiry for scripts.
  ASSERT_EQ(Ctl("admin", {"status", "--json"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "operator_ca_not_after_micros")) << out;
}

}  // namespace
}  // namespace tongban::node
