// Offline certificates end to end, under both suites: a county clerk issues
// a certificate through the Admin service, gets its payload (and through
// tongbanctl a text file and a PNG QR code), and it verifies offline with
// nothing but the setup's roster.signed and root.pub; once revoked, the
// national node's signed revocation list makes it "revoked", and the county
// refuses to sign a payload for it; a renewal puts the certificate it
// supersedes on the list too.
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto/key_file.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/wait.h"
#include "workflows/certificate_payload.h"

namespace tongban::node {
namespace {

class CertificateDaemonTest : public DaemonTest {
 protected:
  v1::WriteRequest CertificateWrite(const std::string& person, bool revoked,
                                    const std::string& number = "HY-620102-1",
                                    const std::string& supersedes = "") {
    v1::WriteRequest w;
    w.set_person(person);
    w.set_kind(v1::RECORD_KIND_CERTIFICATE);
    w.set_record_id("cert-" + number);
    v1::Certificate* c = w.mutable_value()->mutable_certificate();
    c->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
    c->set_number(number);
    c->set_supersedes(supersedes);
    c->set_issuer(kCounty);
    const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::FixedTimeZone(8 * 3600));
    *c->mutable_valid_from() = testutil::Day(2026, 1, 1);
    *c->mutable_valid_to() = testutil::Day(static_cast<int>(today.year()) + 1, 12, 31);
    (*c->mutable_attested_facts())["marital_status"] = "married";
    c->set_revoked(revoked);
    if (revoked) w.set_reason("issued in error");
    return w;
  }

  // The setup's roster, verified with the setup's root public key.
  sync::Roster SetupRoster() {
    auto root = crypto::ReadPublicKeyFile(crypto::GetSuite(GetParam()), dir_.File("root.pub"));
    EXPECT_TRUE(root.ok()) << root.status();
    v1::SignedRoster signed_roster;
    EXPECT_TRUE(signed_roster.ParseFromString(testutil::Contents(dir_.File("roster.signed"))));
    auto roster = sync::Roster::Verify(signed_roster, **root);
    EXPECT_TRUE(roster.ok()) << roster.status();
    return *roster;
  }

  // tongbanctl `args` with its output in `out`; the exit code.
  int Tongbanctl(const std::string& args, std::string* out) {
    const std::string path = dir_.File("tongbanctl.out");
    const int rc = std::system(absl::StrCat(TB_TONGBANCTL, " ", args, " >", path, " 2>&1").c_str());
    *out = testutil::Contents(path);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }

  std::string ClerkFlags() {
    const std::string ops = dir_.File(kCounty) + "/operators/";
    return absl::StrCat("--node 127.0.0.1:", county_->admin_port(), " --ca ", dir_.File(kCounty),
                        "/tls/ca.crt --cert ", ops, "clerk.crt --key ", ops,
                        "clerk.key --password-file ", ops, "clerk.password");
  }
};

TEST_P(CertificateDaemonTest, IssuedPayloadVerifiesOfflineAndRevocationReachesTheList) {
  const std::string person = testutil::MakeId(kCounty, "19900101", 11);
  auto clerk = As("clerk");
  TB_ASSERT_OK(clerk->Write(CertificateWrite(person, false)).status());

  v1::CertificatePayloadRequest get;
  get.set_person(person);
  get.set_number("HY-620102-1");
  get.set_reason("handed to the person");
  TB_ASSERT_OK_AND_ASSIGN(v1::CertificatePayloadReply reply, clerk->CertificatePayload(get));
  EXPECT_LT(reply.payload().size(), 300u);
  EXPECT_FALSE(absl::StrContains(reply.payload(), person));
  EXPECT_FALSE(absl::StrContains(reply.text(), person));
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::FixedTimeZone(8 * 3600));
  const sync::Roster roster = SetupRoster();
  workflows::CertificateVerification v =
      workflows::VerifyCertificate(reply.payload(), roster, nullptr, today, person);
  EXPECT_EQ(v.verdict, workflows::Verdict::kValid) << v.detail;
  EXPECT_TRUE(v.holder_checked);

  // The reading of the payload is audited, naming the person.
  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply trail, As("auditor")->Audit({}));
  bool audited = false;
  for (const v1::AuditEntry& e : trail.entries()) {
    audited |= e.action() == "certificate.payload" && e.person() == person;
  }
  EXPECT_TRUE(audited);

  // tongbanctl: the text and the QR code, then the offline check of the text.
  const std::string prefix = dir_.File("hy-1");
  std::string out;
  ASSERT_EQ(Tongbanctl(absl::StrCat("certificate qr ", person, " --number HY-620102-1 --out ",
                                    prefix, " ", ClerkFlags()),
                       &out),
            0)
      << out;
  EXPECT_FALSE(absl::StrContains(out, person)) << out;
  EXPECT_TRUE(absl::StartsWith(testutil::Contents(prefix + ".txt"), "TB1:"));
  EXPECT_TRUE(absl::StartsWith(testutil::Contents(prefix + ".png"), "\x89PNG\r\n\x1a\n"));
  const std::string offline =
      absl::StrCat("certificate verify --roster ", dir_.File("roster.signed"), " --root-key ",
                   dir_.File("root.pub"));
  ASSERT_EQ(Tongbanctl(absl::StrCat(offline, " --in ", prefix, ".txt --person ", person), &out), 0)
      << out;
  EXPECT_TRUE(absl::StartsWith(out, "valid: ")) << out;
  EXPECT_TRUE(absl::StrContains(out, "holder: matches")) << out;

  // A truncated text file: malformed, exit 2, one clear line.
  const std::string text = testutil::Contents(prefix + ".txt");
  testutil::WriteFile(dir_.File("cut.txt"), text.substr(0, text.size() / 2), 0644);
  EXPECT_EQ(Tongbanctl(absl::StrCat(offline, " --in ", dir_.File("cut.txt")), &out), 2) << out;
  EXPECT_TRUE(absl::StrContains(out, "malformed")) << out;

  // The county is not the national node: it publishes no list.
  EXPECT_EQ(clerk->RevocationList({}).status().code(), absl::StatusCode::kFailedPrecondition);

  // Revoked at the county; the national node lists it once synced.
  TB_ASSERT_OK(clerk->Write(CertificateWrite(person, true)).status());
  EXPECT_EQ(clerk->CertificatePayload(get).status().code(), absl::StatusCode::kFailedPrecondition)
      << "no payload for a revoked certificate";
  // A renewal supersedes the old certificate: no payload for it, and listed.
  TB_ASSERT_OK(clerk->Write(CertificateWrite(person, false, "HY-620102-A")).status());
  TB_ASSERT_OK(
      clerk->Write(CertificateWrite(person, false, "HY-620102-B", "cert-HY-620102-A")).status());
  v1::CertificatePayloadRequest old = get;
  old.set_number("HY-620102-A");
  EXPECT_EQ(clerk->CertificatePayload(old).status().code(), absl::StatusCode::kFailedPrecondition)
      << "no payload for a superseded certificate";
  auto national = As("admin", "", "000000");
  v1::RevocationListReply list_reply;
  testutil::WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        absl::StatusOr<v1::RevocationListReply> reply = national->RevocationList({});
        if (!reply.ok()) return reply.status();
        list_reply = *std::move(reply);
        return list_reply.entries() >= 2;
      },
      absl::Seconds(60), "the revocations to reach the national node");
  ASSERT_EQ(list_reply.entries(), 2u) << "the revocations did not reach the national node";
  TB_ASSERT_OK_AND_ASSIGN(workflows::RevocationList list,
                          workflows::VerifyRevocationList(list_reply.list(), roster));
  ASSERT_NE(list.Find(kCounty, "HY-620102-A"), nullptr);
  EXPECT_EQ(list.Find(kCounty, "HY-620102-A")->reason, workflows::RevocationReason::kSuperseded);
  ASSERT_NE(list.Find(kCounty, "HY-620102-1"), nullptr);
  EXPECT_EQ(list.Find(kCounty, "HY-620102-1")->reason, workflows::RevocationReason::kRevoked);
  EXPECT_EQ(list.Find(kCounty, "HY-620102-B"), nullptr);
  v = workflows::VerifyCertificate(reply.payload(), roster, &list, today, std::nullopt);
  EXPECT_EQ(v.verdict, workflows::Verdict::kRevoked) << v.detail;

  testutil::WriteFile(dir_.File("revocations.bin"), list_reply.list(), 0644);
  EXPECT_EQ(Tongbanctl(absl::StrCat(offline, " --in ", prefix, ".txt --revocations ",
                                    dir_.File("revocations.bin")),
                       &out),
            3)
      << out;
  EXPECT_TRUE(absl::StrContains(out, "revoked: ")) << out;
  EXPECT_FALSE(absl::StrContains(out, "WARNING")) << out;
  // A list older than --max-list-age: the verdict stands, with a warning.
  EXPECT_EQ(Tongbanctl(absl::StrCat(offline, " --in ", prefix, ".txt --revocations ",
                                    dir_.File("revocations.bin"), " --max-list-age 0s"),
                       &out),
            3)
      << out;
  EXPECT_TRUE(absl::StrContains(out,
                                "WARNING: the revocation list is 0 days old (more than "
                                "--max-list-age 0s)"))
      << out;
  EXPECT_EQ(Tongbanctl(absl::StrCat(offline, " --in ", prefix, ".txt --max-list-age soon"), &out),
            2)
      << out;
}

TB_INSTANTIATE_FOR_BOTH_SUITES(CertificateDaemonTest);

}  // namespace
}  // namespace tongban::node
