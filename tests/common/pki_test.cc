// The federation PKI: CA and node certificates, the node code from the SAN
// URI, chain and validity checks, and the key and certificate files.
#include "common/pki/pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/crypto/key_file.h"
#include "common/crypto/suite.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::pki {
namespace {

// A fixed "now" keeps validity checks independent of the wall clock.
const absl::Time kNow = absl::FromUnixSeconds(1796018132);  // 2026-11-30

bool Contains(const absl::Status& s, absl::string_view text) {
  return absl::StrContains(s.message(), text);
}

using testutil::Contents;
using testutil::ModeOf;
using testutil::WriteFile;

class PkiTest : public testing::Test {
 protected:
  void SetUp() override {
    CaOptions ca;
    ca.name = "Test federation CA";
    ca.days = 3650;
    ca.now = kNow;
    TB_ASSERT_OK_AND_ASSIGN(ca_, CreateCa(ca));
  }

  NodeCertOptions NodeOptions(const std::string& code) const {
    NodeCertOptions options;
    options.node_code = code;
    options.dns_names = {"tongban.nanshan.example", "*.nanshan.example"};
    options.ip_addresses = {"10.1.2.3", "2001:db8::7"};
    options.days = 365;
    options.now = kNow;
    return options;
  }

  // A certificate signed by the CA whose SAN is exactly `san` (OpenSSL
  // config syntax), for shapes IssueNodeCertificate never makes.
  Certificate CertWithSan(const std::string& san) {
    X509* x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("odd"), -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca_->cert.get()));
    time_t t = absl::ToTimeT(kNow);
    X509_time_adj_ex(X509_getm_notBefore(x), 0, -60, &t);
    X509_time_adj_ex(X509_getm_notAfter(x), 10, 0, &t);
    absl::StatusOr<TlsKey> key = TlsKey::Generate();
    EXPECT_TRUE(key.ok());
    X509_set_pubkey(x, key->get());
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca_->cert.get(), x, nullptr, nullptr, 0);
    if (!san.empty()) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
      EXPECT_NE(ext, nullptr) << san;
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    }
    EXPECT_GT(X509_sign(x, ca_->key.get(), EVP_sha256()), 0);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(bio);
    X509_free(x);
    absl::StatusOr<Certificate> cert = Certificate::FromPem(pem);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return *cert;
  }

  std::optional<KeyAndCertificate> ca_;
  testutil::ScopedTempDir dir_;
};

TEST_F(PkiTest, CaIsSelfSignedWithCaExtensions) {
  const Certificate& cert = ca_->cert;
  EXPECT_TRUE(cert.IsCa());
  EXPECT_EQ(cert.Subject(), "CN=Test federation CA");
  EXPECT_EQ(cert.Issuer(), cert.Subject());
  // A random 128-bit serial with the top bit set: 32 hex digits.
  EXPECT_EQ(cert.SerialHex().size(), 32u) << cert.SerialHex();
  EXPECT_EQ(cert.not_after(), kNow + absl::Hours(24 * 3650));
  EXPECT_EQ(cert.not_before(), kNow - absl::Hours(1));
  TB_EXPECT_OK(VerifyCertificate(cert, cert, kNow));

  X509* x = cert.get();
  const int bc = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
  ASSERT_GE(bc, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(x, bc)), 1);
  EXPECT_EQ(X509_get_key_usage(x), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(NodeCodeFromCertificate(cert).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PkiTest, CaNameMayBeChinese) {
  CaOptions options;
  options.name = "粤甘通办 CA";
  options.now = kNow;
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate ca, CreateCa(options));
  EXPECT_EQ(ca.cert.Subject(), "CN=粤甘通办 CA");
}

TEST_F(PkiTest, NodeCertificateCarriesCodeNamesAndUsages) {
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate node,
                          IssueNodeCertificate(ca_->key, ca_->cert, NodeOptions("440305")));
  const Certificate& cert = node.cert;
  EXPECT_FALSE(cert.IsCa());
  EXPECT_EQ(cert.Subject(), "CN=tongban node 440305");
  EXPECT_EQ(cert.Issuer(), "CN=Test federation CA");
  EXPECT_EQ(cert.SanUris(), std::vector<std::string>{"urn:tongban:node:440305"});
  EXPECT_EQ(cert.SanDnsNames(),
            (std::vector<std::string>{"tongban.nanshan.example", "*.nanshan.example"}));
  EXPECT_EQ(cert.SanIpAddresses(), (std::vector<std::string>{"10.1.2.3", "2001:db8::7"}));
  EXPECT_EQ(cert.SerialHex().size(), 32u);
  EXPECT_EQ(cert.not_after(), kNow + absl::Hours(24 * 365));
  EXPECT_EQ(cert.SpkiDer(), node.key.SpkiDer());
  TB_ASSERT_OK_AND_ASSIGN(std::string code, NodeCodeFromCertificate(cert));
  EXPECT_EQ(code, "440305");
  TB_ASSERT_OK_AND_ASSIGN(std::string verified, VerifyNodeCertificate(cert, ca_->cert, kNow));
  EXPECT_EQ(verified, "440305");

  X509* x = cert.get();
  EXPECT_EQ(X509_get_key_usage(x), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(x), static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_EQ(X509_check_private_key(x, node.key.get()), 1);
}

TEST_F(PkiTest, SerialsAreRandom) {
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate a,
                          IssueNodeCertificate(ca_->key, ca_->cert, NodeOptions("440305")));
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate b,
                          IssueNodeCertificate(ca_->key, ca_->cert, NodeOptions("440305")));
  EXPECT_NE(a.cert.SerialHex(), b.cert.SerialHex());
  EXPECT_NE(a.key.SpkiDer(), b.key.SpkiDer());
}

TEST_F(PkiTest, FingerprintIsSha256OfDer) {
  const std::string der = ca_->cert.Der();
  unsigned char md[32];
  unsigned int n = 0;
  ASSERT_EQ(EVP_Digest(der.data(), der.size(), md, &n, EVP_sha256(), nullptr), 1);
  std::vector<std::string> pairs;
  for (unsigned int i = 0; i < n; ++i) pairs.push_back(absl::StrFormat("%02X", md[i]));
  EXPECT_EQ(ca_->cert.Sha256Fingerprint(), absl::StrJoin(pairs, ":"));
}

TEST_F(PkiTest, VerificationChecksValidityAtTheGivenTime) {
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate node,
                          IssueNodeCertificate(ca_->key, ca_->cert, NodeOptions("440305")));
  // notBefore is backdated an hour for clock skew, and no more.
  TB_EXPECT_OK(VerifyCertificate(node.cert, ca_->cert, kNow - absl::Minutes(59)));
  const absl::Status early = VerifyCertificate(node.cert, ca_->cert, kNow - absl::Hours(2));
  EXPECT_EQ(early.code(), absl::StatusCode::kPermissionDenied) << early;
  EXPECT_TRUE(Contains(early, "not yet valid")) << early;
  const absl::Status late = VerifyCertificate(node.cert, ca_->cert, kNow + absl::Hours(24 * 366));
  EXPECT_EQ(late.code(), absl::StatusCode::kPermissionDenied) << late;
  EXPECT_TRUE(Contains(late, "expired")) << late;
}

TEST_F(PkiTest, ExpiredCaFailsItsCertificates) {
  CaOptions short_ca;
  short_ca.days = 10;
  short_ca.now = kNow;
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate ca, CreateCa(short_ca));
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate node,
                          IssueNodeCertificate(ca.key, ca.cert, NodeOptions("440305")));
  TB_EXPECT_OK(VerifyCertificate(node.cert, ca.cert, kNow + absl::Hours(24 * 9)));
  EXPECT_EQ(VerifyCertificate(node.cert, ca.cert, kNow + absl::Hours(24 * 11)).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(PkiTest, CertificateOfAnotherCaIsRefused) {
  CaOptions other;
  other.name = "Other CA";
  other.now = kNow;
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate other_ca, CreateCa(other));
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate node,
                          IssueNodeCertificate(other_ca.key, other_ca.cert, NodeOptions("440305")));
  const absl::Status s = VerifyNodeCertificate(node.cert, ca_->cert, kNow).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(Contains(s, "issuer")) << s;
}

TEST_F(PkiTest, CaIsNotANodeCertificate) {
  const absl::Status s = VerifyNodeCertificate(ca_->cert, ca_->cert, kNow).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
}

TEST_F(PkiTest, NodeCodeNeedsExactlyOneNodeUri) {
  TB_ASSERT_OK_AND_ASSIGN(
      std::string one, NodeCodeFromCertificate(
                           CertWithSan("URI:urn:tongban:node:620102,URI:https://example.org/x")));
  EXPECT_EQ(one, "620102");

  const absl::Status none = NodeCodeFromCertificate(CertWithSan("DNS:tongban.example")).status();
  EXPECT_EQ(none.code(), absl::StatusCode::kInvalidArgument) << none;
  EXPECT_TRUE(Contains(none, "has 0")) << none;
  EXPECT_EQ(NodeCodeFromCertificate(CertWithSan("")).status().code(),
            absl::StatusCode::kInvalidArgument);

  const absl::Status two =
      NodeCodeFromCertificate(
          CertWithSan("URI:urn:tongban:node:440305,URI:urn:tongban:node:620102"))
          .status();
  EXPECT_EQ(two.code(), absl::StatusCode::kInvalidArgument) << two;
  EXPECT_TRUE(Contains(two, "has 2")) << two;

  const absl::Status bad =
      NodeCodeFromCertificate(CertWithSan("URI:urn:tongban:node:44030X")).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_TRUE(Contains(bad, "44030X")) << bad;
}

// --- operator certificates ---

class OperatorPkiTest : public PkiTest {
 protected:
  void SetUp() override {
    PkiTest::SetUp();
    CaOptions ca;
    ca.name = "Tongban operator CA 620102";
    ca.now = kNow;
    TB_ASSERT_OK_AND_ASSIGN(operator_ca_, CreateCa(ca));
  }

  static OperatorCertOptions Options(const std::string& name, const std::string& role) {
    OperatorCertOptions o;
    o.county = "620102";
    o.name = name;
    o.role = role;
    o.now = kNow;
    return o;
  }

  std::optional<KeyAndCertificate> operator_ca_;
};

TEST_F(OperatorPkiTest, OperatorCertificateCarriesIdentityAndClientAuthOnly) {
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate op,
                          IssueOperatorCertificate(operator_ca_->key, operator_ca_->cert,
                                                   Options("li.wei", "auditor")));
  EXPECT_EQ(op.cert.SanUris(), (std::vector<std::string>{"urn:tongban:operator:620102:li.wei",
                                                         "urn:tongban:role:auditor"}));
  EXPECT_FALSE(op.cert.IsCa());
  TB_ASSERT_OK_AND_ASSIGN(OperatorIdentity id,
                          VerifyOperatorCertificate(op.cert, operator_ca_->cert, kNow));
  EXPECT_EQ(id, (OperatorIdentity{"620102", "li.wei", "auditor"}));
  // Not a node certificate, whatever CA is asked.
  EXPECT_EQ(VerifyNodeCertificate(op.cert, operator_ca_->cert, kNow).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Expired after its year.
  EXPECT_EQ(VerifyOperatorCertificate(op.cert, operator_ca_->cert, kNow + absl::Hours(24 * 400))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(OperatorPkiTest, OnlyTheOperatorCaVouchesForOperators) {
  // Issued by the federation CA: refused against the operator CA.
  TB_ASSERT_OK_AND_ASSIGN(
      KeyAndCertificate stray,
      IssueOperatorCertificate(ca_->key, ca_->cert, Options("li.wei", "clerk")));
  EXPECT_EQ(VerifyOperatorCertificate(stray.cert, operator_ca_->cert, kNow).status().code(),
            absl::StatusCode::kPermissionDenied);
  // A node certificate is not an operator certificate.
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate node,
                          IssueNodeCertificate(ca_->key, ca_->cert, NodeOptions("620102")));
  const absl::Status s = VerifyOperatorCertificate(node.cert, ca_->cert, kNow).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(Contains(s, "urn:tongban:operator:")) << s;
}

TEST_F(OperatorPkiTest, OperatorIdentityNeedsExactlyOneOperatorAndOneRole) {
  TB_ASSERT_OK_AND_ASSIGN(
      OperatorIdentity id,
      OperatorFromCertificate(CertWithSan(
          "URI:urn:tongban:operator:620102:wang-1,URI:urn:tongban:role:administrator")));
  EXPECT_EQ(id, (OperatorIdentity{"620102", "wang-1", "administrator"}));
  for (const char* san : {
           "URI:urn:tongban:operator:620102:wang",  // no role
           "URI:urn:tongban:operator:620102:a,URI:urn:tongban:operator:620102:b,"
           "URI:urn:tongban:role:clerk",                                       // two operators
           "URI:urn:tongban:operator:620102:wang,URI:urn:tongban:role:root",   // unknown role
           "URI:urn:tongban:operator:620102:Wang,URI:urn:tongban:role:clerk",  // bad name
           "URI:urn:tongban:operator:62010:wang,URI:urn:tongban:role:clerk",   // bad county
           "URI:urn:tongban:operator:620102,URI:urn:tongban:role:clerk",       // no name
           "URI:urn:tongban:operator:620102:wang,URI:urn:tongban:role:clerk,"
           "URI:urn:tongban:node:620102",  // also a node
           "URI:urn:tongban:operator:620102:wang,URI:urn:tongban:role:clerk,"
           "DNS:ops.example",  // also a host
       }) {
    EXPECT_EQ(OperatorFromCertificate(CertWithSan(san)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << san;
  }
}

TEST_F(OperatorPkiTest, InvalidOperatorOptionsAreRefused) {
  for (const OperatorCertOptions& o :
       {Options("li wei", "clerk"), Options("", "clerk"), Options("li", "admin"),
        Options(std::string(65, 'a'), "clerk")}) {
    EXPECT_EQ(IssueOperatorCertificate(operator_ca_->key, operator_ca_->cert, o).status().code(),
              absl::StatusCode::kInvalidArgument)
        << o.name << " " << o.role;
  }
  OperatorCertOptions bad_county = Options("li", "clerk");
  bad_county.county = "12345";
  EXPECT_FALSE(IssueOperatorCertificate(operator_ca_->key, operator_ca_->cert, bad_county).ok());
}

TEST_F(PkiTest, SubjectIsNeverTheIdentity) {
  // CN says 440305 (it is "odd" here anyway); only the URI counts.
  const Certificate cert = CertWithSan("DNS:tongban-node-440305.example");
  EXPECT_FALSE(NodeCodeFromCertificate(cert).ok());
  EXPECT_FALSE(VerifyNodeCertificate(cert, ca_->cert, kNow).ok());
}

TEST_F(PkiTest, InvalidIssueOptionsAreRefused) {
  struct Case {
    std::string what;
    std::function<void(NodeCertOptions&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"bad code", [](NodeCertOptions& o) { o.node_code = "44030X"; }, "44030X"},
      {"short code", [](NodeCertOptions& o) { o.node_code = "4403"; }, "4403"},
      {"bad dns", [](NodeCertOptions& o) { o.dns_names = {"a b.example"}; }, "a b.example"},
      {"dns injection", [](NodeCertOptions& o) { o.dns_names = {"a.example,URI:x"}; },
       "a.example,URI:x"},
      {"bad ip", [](NodeCertOptions& o) { o.ip_addresses = {"10.1.2"}; }, "10.1.2"},
      {"zero days", [](NodeCertOptions& o) { o.days = 0; }, "0 days"},
  };
  for (const Case& c : cases) {
    NodeCertOptions options = NodeOptions("440305");
    c.change(options);
    const absl::Status s = IssueNodeCertificate(ca_->key, ca_->cert, options).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.what << ": " << s;
    EXPECT_TRUE(Contains(s, c.message)) << c.what << ": " << s;
  }
}

TEST_F(PkiTest, IssuingNeedsTheCaKeyAndACaCertificate) {
  TB_ASSERT_OK_AND_ASSIGN(TlsKey stranger, TlsKey::Generate());
  EXPECT_EQ(IssueNodeCertificate(stranger, ca_->cert, NodeOptions("440305")).status().code(),
            absl::StatusCode::kInvalidArgument);
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate node,
                          IssueNodeCertificate(ca_->key, ca_->cert, NodeOptions("440305")));
  EXPECT_EQ(IssueNodeCertificate(node.key, node.cert, NodeOptions("620102")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PkiTest, KeyAndCertificateFilesRoundTrip) {
  const std::string key_path = dir_.File("ca.key");
  const std::string cert_path = dir_.File("ca.crt");
  TB_ASSERT_OK(WriteTlsKeyFile(ca_->key, key_path));
  TB_ASSERT_OK(WriteCertificateFile(ca_->cert, cert_path));
  EXPECT_EQ(ModeOf(key_path), 0600u);
  EXPECT_EQ(ModeOf(cert_path), 0644u);
  EXPECT_TRUE(absl::StartsWith(Contents(key_path), "-----BEGIN PRIVATE KEY-----"));
  TB_ASSERT_OK_AND_ASSIGN(TlsKey key, ReadTlsKeyFile(key_path));
  TB_ASSERT_OK_AND_ASSIGN(Certificate cert, ReadCertificateFile(cert_path));
  EXPECT_EQ(key.SpkiDer(), ca_->key.SpkiDer());
  EXPECT_EQ(cert.Der(), ca_->cert.Der());
  // What was read can issue.
  TB_EXPECT_OK(IssueNodeCertificate(key, cert, NodeOptions("440305")).status());
}

TEST_F(PkiTest, FilesAreNeverOverwritten) {
  const std::string key_path = dir_.File("node.key");
  TB_ASSERT_OK(WriteTlsKeyFile(ca_->key, key_path));
  const std::string before = Contents(key_path);
  TB_ASSERT_OK_AND_ASSIGN(TlsKey other, TlsKey::Generate());
  const absl::Status s = WriteTlsKeyFile(other, key_path);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_TRUE(Contains(s, key_path)) << s;
  EXPECT_EQ(WriteCertificateFile(ca_->cert, key_path).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Contents(key_path), before);
}

TEST_F(PkiTest, ReadableKeyFileIsRefused) {
  const std::string key_path = dir_.File("ca.key");
  TB_ASSERT_OK(WriteTlsKeyFile(ca_->key, key_path));
  for (const mode_t mode : {0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(key_path.c_str(), mode), 0);
    const absl::Status s = ReadTlsKeyFile(key_path).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
    EXPECT_TRUE(Contains(s, key_path)) << s;
    EXPECT_TRUE(Contains(s, absl::StrFormat("%04o", mode))) << s;
    EXPECT_TRUE(Contains(s, "chmod 600")) << s;
  }
  // A certificate is public: no check.
  const std::string cert_path = dir_.File("ca.crt");
  TB_ASSERT_OK(WriteCertificateFile(ca_->cert, cert_path));
  ASSERT_EQ(::chmod(cert_path.c_str(), 0666), 0);
  TB_EXPECT_OK(ReadCertificateFile(cert_path).status());
}

TEST_F(PkiTest, MalformedFilesNameTheFile) {
  const std::string missing = dir_.File("missing.crt");
  const absl::Status s1 = ReadCertificateFile(missing).status();
  EXPECT_EQ(s1.code(), absl::StatusCode::kNotFound) << s1;
  EXPECT_TRUE(Contains(s1, missing)) << s1;

  const std::string garbage = dir_.File("garbage.crt");
  WriteFile(garbage, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0644);
  const absl::Status s2 = ReadCertificateFile(garbage).status();
  EXPECT_EQ(s2.code(), absl::StatusCode::kInvalidArgument) << s2;
  EXPECT_TRUE(Contains(s2, garbage)) << s2;

  const std::string two = dir_.File("two.crt");
  WriteFile(two, ca_->cert.Pem() + ca_->cert.Pem(), 0644);
  const absl::Status s3 = ReadCertificateFile(two).status();
  EXPECT_EQ(s3.code(), absl::StatusCode::kInvalidArgument) << s3;
  EXPECT_TRUE(Contains(s3, "2 PEM blocks")) << s3;

  const std::string key_as_cert = dir_.File("key.crt");
  TB_ASSERT_OK(WriteTlsKeyFile(ca_->key, key_as_cert));
  const absl::Status s4 = ReadCertificateFile(key_as_cert).status();
  EXPECT_EQ(s4.code(), absl::StatusCode::kInvalidArgument) << s4;
  EXPECT_FALSE(Contains(s4, "MII")) << s4;  // no key material echoed

  const std::string cert_as_key = dir_.File("cert.key");
  WriteFile(cert_as_key, ca_->cert.Pem(), 0600);
  EXPECT_EQ(ReadTlsKeyFile(cert_as_key).status().code(), absl::StatusCode::kInvalidArgument);
}

// TLS keys are P-256 whatever the suite: a suite's signing key is refused.
class PkiSuiteKeyTest : public testing::TestWithParam<crypto::SuiteId> {
 protected:
  testutil::ScopedTempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(BothSuites, PkiSuiteKeyTest,
                         testing::Values(crypto::SuiteId::kIntl, crypto::SuiteId::kGm),
                         [](const testing::TestParamInfo<crypto::SuiteId>& info) {
                           return std::string(crypto::SuiteName(info.param));
                         });

TEST_P(PkiSuiteKeyTest, SuiteSigningKeyIsNotATlsKey) {
  const crypto::Suite& suite = crypto::GetSuite(GetParam());
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> key, suite.GenerateKey());
  const std::string path = dir_.File("signing.key");
  TB_ASSERT_OK(crypto::WritePrivateKeyFile(*key, path));
  const absl::Status s = ReadTlsKeyFile(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "P-256")) << s;
  EXPECT_TRUE(Contains(s, path)) << s;
}

}  // namespace
}  // namespace tongban::pki
