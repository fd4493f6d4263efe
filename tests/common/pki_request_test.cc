// Certificate requests ("keys that stay home"): a node or operator key and
// a PKCS#10 request made where the key lives, signed by the CA into a
// certificate for that key; and every request the CA must refuse.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/crypto/key_file.h"
#include "common/crypto/suite.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::pki {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1796018132);  // 2026-11-30

bool Contains(const absl::Status& s, absl::string_view text) {
  return absl::StrContains(s.message(), text);
}

NodeCertOptions NodeOptions(const std::string& code) {
  NodeCertOptions options;
  options.node_code = code;
  options.dns_names = {"tongban.nanshan.example", "*.nanshan.example"};
  options.ip_addresses = {"10.1.2.3", "2001:db8::7"};
  return options;
}

OperatorCertOptions OperatorOptions(const std::string& name, const std::string& role) {
  OperatorCertOptions o;
  o.county = "620102";
  o.name = name;
  o.role = role;
  return o;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string ReqPem(X509_REQ* req) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  std::string pem = BioText(bio);
  BIO_free(bio);
  return pem;
}

// A request whose key is `pub`, signed by `signer`, with the extensions
// `exts` (NID and OpenSSL config value): shapes CreateNodeRequest never
// makes.
CertificateRequest RawRequest(EVP_PKEY* pub, EVP_PKEY* signer,
                              const std::vector<std::pair<int, std::string>>& exts) {
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, X509_REQ_VERSION_1);
  X509_REQ_set_pubkey(req, pub);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("odd"), -1, -1, 0);
  STACK_OF(X509_EXTENSION)* stack = sk_X509_EXTENSION_new_null();
  for (const auto& [nid, value] : exts) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, nullptr, nullptr, req, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    EXPECT_NE(ext, nullptr) << value;
    sk_X509_EXTENSION_push(stack, ext);
  }
  if (!exts.empty()) X509_REQ_add_extensions(req, stack);
  sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
  EXPECT_GT(X509_REQ_sign(req, signer, EVP_sha256()), 0);
  const std::string pem = ReqPem(req);
  X509_REQ_free(req);
  absl::StatusOr<CertificateRequest> parsed = CertificateRequest::FromPem(pem);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return *parsed;
}

class PkiRequestTest : public testing::Test {
 protected:
  void SetUp() override {
    CaOptions ca;
    ca.name = "Test federation CA";
    ca.now = kNow;
    TB_ASSERT_OK_AND_ASSIGN(ca_, CreateCa(ca));
    ca.name = "Tongban operator CA of 620102";
    TB_ASSERT_OK_AND_ASSIGN(operator_ca_, CreateCa(ca));
    TB_ASSERT_OK_AND_ASSIGN(key_, TlsKey::Generate());
  }

  // A request from `key_` with a node URI and the given other SANs.
  CertificateRequest NodeRequestWith(const std::string& san,
                                     std::vector<std::pair<int, std::string>> more = {}) {
    more.insert(more.begin(), {NID_subject_alt_name, san});
    return RawRequest(key_->get(), key_->get(), more);
  }

  absl::Status SignNode(const CertificateRequest& request) {
    return SignNodeRequest(ca_->key, ca_->cert, request, 365, kNow).status();
  }

  std::optional<KeyAndCertificate> ca_;
  std::optional<KeyAndCertificate> operator_ca_;
  std::optional<TlsKey> key_;
  testutil::ScopedTempDir dir_;
};

TEST_F(PkiRequestTest, NodeRequestSignsIntoACertificateForTheRequestersKey) {
  TB_ASSERT_OK_AND_ASSIGN(CertificateRequest request,
                          CreateNodeRequest(*key_, NodeOptions("440305")));
  // Through files, as it travels: the request out, the certificate back.
  const std::string csr = dir_.File("node.csr");
  TB_ASSERT_OK(WriteCertificateRequestFile(request, csr));
  EXPECT_EQ(testutil::ModeOf(csr), 0644);
  TB_ASSERT_OK_AND_ASSIGN(CertificateRequest received, ReadCertificateRequestFile(csr));
  EXPECT_EQ(received.Der(), request.Der());
  EXPECT_EQ(received.Sha256Fingerprint(), request.Sha256Fingerprint());

  TB_ASSERT_OK_AND_ASSIGN(NodeCertOptions asked, ReadNodeRequest(received));
  EXPECT_EQ(asked.node_code, "440305");
  EXPECT_EQ(asked.dns_names, NodeOptions("440305").dns_names);
  EXPECT_EQ(asked.ip_addresses, NodeOptions("440305").ip_addresses);

  TB_ASSERT_OK_AND_ASSIGN(Certificate cert,
                          SignNodeRequest(ca_->key, ca_->cert, received, 400, kNow));
  TB_ASSERT_OK_AND_ASSIGN(std::string code, VerifyNodeCertificate(cert, ca_->cert, kNow));
  EXPECT_EQ(code, "440305");
  EXPECT_EQ(cert.SanUris(), std::vector<std::string>{"urn:tongban:node:440305"});
  EXPECT_EQ(cert.SanDnsNames(), NodeOptions("440305").dns_names);
  EXPECT_EQ(cert.SanIpAddresses(), NodeOptions("440305").ip_addresses);
  // The certificate is for the key that never left the county.
  EXPECT_EQ(cert.SpkiDer(), key_->SpkiDer());
  EXPECT_EQ(X509_check_private_key(cert.get(), key_->get()), 1);
  // The CA decided the validity and the subject.
  EXPECT_EQ(cert.not_after(), kNow + absl::Hours(24 * 400));
  EXPECT_EQ(cert.Subject(), "CN=tongban node 440305");
  EXPECT_FALSE(cert.IsCa());
}

TEST_F(PkiRequestTest, FingerprintIsSha256OfTheRequestDer) {
  TB_ASSERT_OK_AND_ASSIGN(CertificateRequest request,
                          CreateNodeRequest(*key_, NodeOptions("440305")));
  const std::string der = request.Der();
  unsigned char md[32];
  unsigned int n = 0;
  ASSERT_EQ(EVP_Digest(der.data(), der.size(), md, &n, EVP_sha256(), nullptr), 1);
  std::vector<std::string> pairs;
  for (unsigned int i = 0; i < n; ++i) pairs.push_back(absl::StrFormat("%02X", md[i]));
  EXPECT_EQ(request.Sha256Fingerprint(), absl::StrJoin(pairs, ":"));
}

TEST_F(PkiRequestTest, OnlyKeyAndNamesAreCopiedFromTheRequest) {
  // A request asking for keyUsage keyCertSign and EKU codeSigning gets the
  // CA's usages, not those.
  CertificateRequest request =
      NodeRequestWith("URI:urn:tongban:node:440305",
                      {{NID_key_usage, "keyCertSign,cRLSign"}, {NID_ext_key_usage, "codeSigning"}});
  TB_ASSERT_OK_AND_ASSIGN(Certificate cert,
                          SignNodeRequest(ca_->key, ca_->cert, request, 30, kNow));
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_EQ(cert.Subject(), "CN=tongban node 440305");  // not "CN=odd"
}

TEST_F(PkiRequestTest, RequestSignedByAnotherKeyIsRefused) {
  TB_ASSERT_OK_AND_ASSIGN(TlsKey other, TlsKey::Generate());
  CertificateRequest request =
      RawRequest(key_->get(), other.get(), {{NID_subject_alt_name, "URI:urn:tongban:node:440305"}});
  const absl::Status s = SignNode(request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "self-signature does not verify")) << s;
}

TEST_F(PkiRequestTest, TamperedRequestIsRefused) {
  TB_ASSERT_OK_AND_ASSIGN(CertificateRequest request,
                          CreateNodeRequest(*key_, NodeOptions("440305")));
  // Change the code in the signed body from 440305 to 440306.
  std::string der = request.Der();
  const size_t at = der.find("urn:tongban:node:440305");
  ASSERT_NE(at, std::string::npos);
  der[at + std::string("urn:tongban:node:44030").size()] = '6';
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_REQ* raw = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  ASSERT_NE(raw, nullptr);
  const std::string pem = ReqPem(raw);
  X509_REQ_free(raw);
  TB_ASSERT_OK_AND_ASSIGN(CertificateRequest tampered, CertificateRequest::FromPem(pem));
  const absl::Status s = SignNode(tampered);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "self-signature does not verify")) << s;
  EXPECT_EQ(ReadNodeRequest(tampered).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PkiRequestTest, KeyOtherThanP256IsRefused) {
  EVP_PKEY* p384 = EVP_EC_gen("P-384");
  ASSERT_NE(p384, nullptr);
  CertificateRequest request =
      RawRequest(p384, p384, {{NID_subject_alt_name, "URI:urn:tongban:node:440305"}});
  EVP_PKEY_free(p384);
  const absl::Status s = SignNode(request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "not an ECDSA P-256 key")) << s;
}

TEST_F(PkiRequestTest, RequestAskingToBeACaIsRefused) {
  const absl::Status s = SignNode(NodeRequestWith("URI:urn:tongban:node:440305",
                                                  {{NID_basic_constraints, "critical,CA:TRUE"}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "CA:TRUE")) << s;
  // CA:FALSE asks for nothing the CA would not give.
  TB_EXPECT_OK(SignNode(
      NodeRequestWith("URI:urn:tongban:node:440305", {{NID_basic_constraints, "CA:FALSE"}})));
}

TEST_F(PkiRequestTest, BadNodeCodeIsRefused) {
  for (const char* san :
       {"URI:urn:tongban:node:44030", "URI:urn:tongban:node:44030X",
        "URI:urn:tongban:node:440305,URI:urn:tongban:node:440306", "DNS:tongban.nanshan.example"}) {
    const absl::Status s = SignNode(NodeRequestWith(san));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << san << ": " << s;
  }
  EXPECT_TRUE(Contains(SignNode(NodeRequestWith("URI:urn:tongban:node:44030X")), "request"));
}

TEST_F(PkiRequestTest, OtherNamesAndExtensionsAreRefused) {
  struct Case {
    std::string san;
    std::vector<std::pair<int, std::string>> more;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"URI:urn:tongban:node:440305,URI:https://evil.example", {}, "https://evil.example"},
      {"URI:urn:tongban:node:440305,URI:urn:tongban:operator:440305:root", {}, "operator"},
      {"URI:urn:tongban:node:440305,URI:urn:tongban:role:administrator", {}, "role"},
      {"URI:urn:tongban:node:440305,email:a@b.example", {}, "type"},
      {"URI:urn:tongban:node:440305,DNS:bad_name!", {}, "bad_name!"},
      {"URI:urn:tongban:node:440305", {{NID_netscape_comment, "hi"}}, "which the CA decides"},
  };
  for (const Case& c : cases) {
    const absl::Status s = SignNode(NodeRequestWith(c.san, c.more));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.san << ": " << s;
    EXPECT_TRUE(Contains(s, c.says)) << c.san << ": " << s;
  }
}

TEST_F(PkiRequestTest, TooManyNamesAreRefused) {
  std::string san = "URI:urn:tongban:node:440305";
  for (int i = 0; i < 64; ++i) absl::StrAppend(&san, ",DNS:h", i, ".example");
  const absl::Status s = SignNode(NodeRequestWith(san));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "at most 64")) << s;
}

TEST_F(PkiRequestTest, GarbageIsNotARequest) {
  for (const char* pem : {"", "hello",
                          "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                          "-----END CERTIFICATE REQUEST-----\n"}) {
    EXPECT_EQ(CertificateRequest::FromPem(pem).status().code(), absl::StatusCode::kInvalidArgument)
        << pem;
  }
  // A certificate is not a request.
  EXPECT_EQ(CertificateRequest::FromPem(ca_->cert.Pem()).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string path = dir_.File("garbage.csr");
  testutil::WriteFile(path, "not a request\n", 0644);
  const absl::Status s = ReadCertificateRequestFile(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, path)) << s;
}

TEST_F(PkiRequestTest, RequestFilesAreNeverOverwritten) {
  TB_ASSERT_OK_AND_ASSIGN(CertificateRequest request,
                          CreateNodeRequest(*key_, NodeOptions("440305")));
  const std::string path = dir_.File("node.csr");
  TB_ASSERT_OK(WriteCertificateRequestFile(request, path));
  EXPECT_EQ(WriteCertificateRequestFile(request, path).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(PkiRequestTest, InvalidRequestOptionsAreRefusedAtTheCounty) {
  NodeCertOptions bad = NodeOptions("44030");
  EXPECT_EQ(CreateNodeRequest(*key_, bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = NodeOptions("440305");
  bad.ip_addresses = {"10.1.2"};
  EXPECT_EQ(CreateNodeRequest(*key_, bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateOperatorRequest(*key_, OperatorOptions("li.na", "root")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateOperatorRequest(*key_, OperatorOptions("Li Na", "clerk")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PkiRequestTest, OperatorRequestSignsIntoAnOperatorCertificate) {
  TB_ASSERT_OK_AND_ASSIGN(CertificateRequest request,
                          CreateOperatorRequest(*key_, OperatorOptions("li.na", "clerk")));
  TB_ASSERT_OK_AND_ASSIGN(OperatorCertOptions asked, ReadOperatorRequest(request));
  EXPECT_EQ(asked.county, "620102");
  EXPECT_EQ(asked.name, "li.na");
  EXPECT_EQ(asked.role, "clerk");
  TB_ASSERT_OK_AND_ASSIGN(
      Certificate cert,
      SignOperatorRequest(operator_ca_->key, operator_ca_->cert, request, 90, kNow));
  TB_ASSERT_OK_AND_ASSIGN(OperatorIdentity who,
                          VerifyOperatorCertificate(cert, operator_ca_->cert, kNow));
  EXPECT_EQ(who, (OperatorIdentity{"620102", "li.na", "clerk"}));
  EXPECT_EQ(X509_check_private_key(cert.get(), key_->get()), 1);
  EXPECT_EQ(cert.not_after(), kNow + absl::Hours(24 * 90));
  // An operator certificate cannot pass for a node.
  EXPECT_FALSE(VerifyNodeCertificate(cert, operator_ca_->cert, kNow).ok());
}

TEST_F(PkiRequestTest, NodeAndOperatorRequestsAreNotInterchangeable) {
  TB_ASSERT_OK_AND_ASSIGN(CertificateRequest op,
                          CreateOperatorRequest(*key_, OperatorOptions("li.na", "administrator")));
  TB_ASSERT_OK_AND_ASSIGN(CertificateRequest node, CreateNodeRequest(*key_, NodeOptions("440305")));
  const absl::Status as_node = SignNode(op);
  EXPECT_EQ(as_node.code(), absl::StatusCode::kInvalidArgument) << as_node;
  EXPECT_TRUE(Contains(as_node, "urn:tongban:operator:")) << as_node;
  const absl::Status as_operator =
      SignOperatorRequest(operator_ca_->key, operator_ca_->cert, node, 90, kNow).status();
  EXPECT_EQ(as_operator.code(), absl::StatusCode::kInvalidArgument) << as_operator;
  // An operator request naming a host as well is refused.
  const absl::Status with_dns =
      SignOperatorRequest(operator_ca_->key, operator_ca_->cert,
                          RawRequest(key_->get(), key_->get(),
                                     {{NID_subject_alt_name,
                                       "URI:urn:tongban:operator:620102:li.na,"
                                       "URI:urn:tongban:role:clerk,DNS:h.example"}}),
                          90, kNow)
          .status();
  EXPECT_EQ(with_dns.code(), absl::StatusCode::kInvalidArgument) << with_dns;
  EXPECT_TRUE(Contains(with_dns, "names none")) << with_dns;
  // An unknown role is refused.
  const absl::Status bad_role =
      SignOperatorRequest(operator_ca_->key, operator_ca_->cert,
                          RawRequest(key_->get(), key_->get(),
                                     {{NID_subject_alt_name,
                                       "URI:urn:tongban:operator:620102:li.na,"
                                       "URI:urn:tongban:role:root"}}),
                          90, kNow)
          .status();
  EXPECT_EQ(bad_role.code(), absl::StatusCode::kInvalidArgument) << bad_role;
  EXPECT_TRUE(Contains(bad_role, "root")) << bad_role;
}

// TLS keys are P-256 whatever the suite: a request for a suite's signing
// key (Ed25519, SM2) is refused as the wrong key type.
class PkiRequestSuiteTest : public testing::TestWithParam<crypto::SuiteId> {
 protected:
  testutil::ScopedTempDir dir_;
};
TB_INSTANTIATE_FOR_BOTH_SUITES(PkiRequestSuiteTest);

TEST_P(PkiRequestSuiteTest, RequestForASuiteSigningKeyIsRefused) {
  const crypto::Suite& suite = crypto::GetSuite(GetParam());
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> key, suite.GenerateKey());
  const std::string path = dir_.File("signing.key");
  TB_ASSERT_OK(crypto::WritePrivateKeyFile(*key, path));
  const std::string pem = testutil::Contents(path);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* suite_key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(suite_key, nullptr);
  // Signed by a P-256 key so that the request parses whatever the suite's
  // algorithm: the key type is what is refused.
  TB_ASSERT_OK_AND_ASSIGN(TlsKey signer, TlsKey::Generate());
  CertificateRequest request =
      RawRequest(suite_key, signer.get(), {{NID_subject_alt_name, "URI:urn:tongban:node:440305"}});
  EVP_PKEY_free(suite_key);
  CaOptions ca_options;
  ca_options.now = kNow;
  TB_ASSERT_OK_AND_ASSIGN(KeyAndCertificate ca, CreateCa(ca_options));
  const absl::Status s = SignNodeRequest(ca.key, ca.cert, request, 30, kNow).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "not an ECDSA P-256 key")) << s;
}

}  // namespace
}  // namespace tongban::pki
