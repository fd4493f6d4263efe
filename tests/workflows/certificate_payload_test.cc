// Offline certificates under both suites: the payload round trip and its
// size, the text form, every verdict (valid, expired, not yet valid, revoked
// and superseded via the national list, unknown issuer, unknown key, forged,
// wrong holder, malformed), a truncated payload and one byte altered in each
// region, and the revocation list's own signature.
#include "workflows/certificate_payload.h"

#include <map>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "gtest/gtest.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::workflows {
namespace {

using crypto::SuiteId;
using testutil::kOrigin;
using testutil::kResidence;
using v1::NodeEntry;

constexpr char kNationalCode[] = "000000";
constexpr char kPerson[] = "620102199001010012";
const absl::Time kIssued = absl::FromUnixSeconds(1796018132);  // 2026-11-30
const absl::CivilDay kToday(2026, 12, 1);

class CertificatePayloadTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(root_, suite().GenerateKey());
    v1::Roster& roster = roster_proto_;
    for (const char* code : {kNationalCode, kOrigin, kResidence}) {
      TB_ASSERT_OK_AND_ASSIGN(keys_[code], suite().GenerateKey());
      NodeEntry* node = roster.add_nodes();
      node->set_code(code);
      node->set_name(absl::StrCat("node ", code));
      const bool national = std::string(code) == kNationalCode;
      node->set_role(national ? NodeEntry::ROLE_NATIONAL : NodeEntry::ROLE_COUNTY);
      if (national) node->add_endpoints("127.0.0.1:7443");
      node->set_status(NodeEntry::NODE_STATUS_ACTIVE);
      const crypto::PublicKey& pub = keys_[code]->public_key();
      v1::SigningKey* key = node->add_signing_keys();
      key->set_suite(std::string(suite().name()));
      key->set_spki_der(pub.SpkiDer());
      key->set_key_id(pub.KeyId());
    }
    roster.set_version(1);
    roster.set_issued_at_micros(absl::ToUnixMicros(kIssued));
    roster.set_federation("test federation");
    Resign();

    cert_.set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
    cert_.set_number("HY-620102-2026-000123");
    cert_.set_issuer(kOrigin);
    *cert_.mutable_valid_from() = testutil::Day(2026, 11, 30);
    *cert_.mutable_valid_to() = testutil::Day(2027, 11, 29);
    (*cert_.mutable_attested_facts())["marital_status"] = "married";
    (*cert_.mutable_attested_facts())["children"] = "1";
  }

  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  // Signs roster_proto_ as the roster in use.
  void Resign() {
    TB_ASSERT_OK_AND_ASSIGN(v1::SignedRoster signed_roster,
                            sync::SignRoster(roster_proto_, *root_));
    TB_ASSERT_OK_AND_ASSIGN(sync::Roster verified,
                            sync::Roster::Verify(signed_roster, root_->public_key()));
    roster_ = std::make_unique<sync::Roster>(verified);
  }

  std::string Payload(const crypto::PrivateKey& key) {
    absl::StatusOr<std::string> p = SignCertificatePayload(cert_, kPerson, kIssued, key);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.value_or("");
  }
  std::string Payload() { return Payload(*keys_[kOrigin]); }

  CertificateVerification Check(absl::string_view bytes, const RevocationList* list = nullptr,
                                absl::CivilDay today = kToday,
                                std::optional<std::string> person = std::nullopt) {
    return VerifyCertificate(bytes, *roster_, list, today, std::move(person));
  }

  std::map<std::string, std::unique_ptr<crypto::PrivateKey>> keys_;
  std::unique_ptr<crypto::PrivateKey> root_;
  v1::Roster roster_proto_;
  std::unique_ptr<sync::Roster> roster_;
  v1::Certificate cert_;
};

TEST_P(CertificatePayloadTest, RoundTripIsCompactAndCarriesNoId) {
  const std::string bytes = Payload();
  std::cout << "[ size     ] " << suite().name() << ": " << bytes.size() << " bytes, text "
            << CertificateText(bytes).size() << " characters\n";
  EXPECT_LT(bytes.size(), 300u);
  EXPECT_FALSE(absl::StrContains(bytes, kPerson));
  TB_ASSERT_OK_AND_ASSIGN(DecodedCertificate d, DecodeCertificatePayload(bytes));
  EXPECT_EQ(d.claims.issuer, kOrigin);
  EXPECT_EQ(d.claims.key_id, keys_[kOrigin]->public_key().KeyId());
  EXPECT_EQ(d.claims.type, v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
  EXPECT_EQ(d.claims.number, cert_.number());
  EXPECT_EQ(d.claims.valid_from, absl::CivilDay(2026, 11, 30));
  EXPECT_EQ(d.claims.valid_to, absl::CivilDay(2027, 11, 29));
  EXPECT_EQ(d.claims.issued_at, kIssued);
  const std::vector<std::pair<std::string, std::string>> facts = {{"children", "1"},
                                                                  {"marital_status", "married"}};
  EXPECT_EQ(d.claims.facts, facts);
  // The text form is QR-alphanumeric and decodes to the same bytes.
  const std::string text = CertificateText(bytes);
  EXPECT_TRUE(absl::StartsWith(text, "TB1:"));
  for (char c : text) {
    EXPECT_TRUE(absl::ascii_isdigit(c) || absl::ascii_isupper(c) ||
                absl::string_view(" $%*+-./:").find(c) != absl::string_view::npos)
        << c;
  }
  TB_ASSERT_OK_AND_ASSIGN(std::string back, CertificateBytesFromText(text));
  EXPECT_EQ(back, bytes);
  // Two payloads of one certificate share no holder bytes (fresh salt).
  TB_ASSERT_OK_AND_ASSIGN(DecodedCertificate other, DecodeCertificatePayload(Payload()));
  EXPECT_NE(other.claims.holder_hash, d.claims.holder_hash);
}

TEST_P(CertificatePayloadTest, ValidAndHolderBinding) {
  const std::string bytes = Payload();
  CertificateVerification v = Check(bytes);
  EXPECT_EQ(v.verdict, Verdict::kValid) << v.detail;
  EXPECT_FALSE(v.holder_checked);
  v = Check(bytes, nullptr, kToday, kPerson);
  EXPECT_EQ(v.verdict, Verdict::kValid) << v.detail;
  EXPECT_TRUE(v.holder_checked);
  v = Check(bytes, nullptr, kToday, "620102199001010020");
  EXPECT_EQ(v.verdict, Verdict::kWrongHolder) << v.detail;
}

TEST_P(CertificatePayloadTest, ExpiredAndNotYetValid) {
  const std::string bytes = Payload();
  EXPECT_EQ(Check(bytes, nullptr, absl::CivilDay(2027, 11, 29)).verdict, Verdict::kValid);
  EXPECT_EQ(Check(bytes, nullptr, absl::CivilDay(2027, 11, 30)).verdict, Verdict::kExpired);
  EXPECT_EQ(Check(bytes, nullptr, absl::CivilDay(2026, 11, 30)).verdict, Verdict::kValid);
  EXPECT_EQ(Check(bytes, nullptr, absl::CivilDay(2026, 11, 29)).verdict, Verdict::kNotYetValid);
}

TEST_P(CertificatePayloadTest, RevokedAndSupersededViaTheNationalList) {
  const std::string bytes = Payload();
  TB_ASSERT_OK_AND_ASSIGN(
      std::string list_bytes,
      SignRevocationList({{kOrigin, "HY-OTHER", RevocationReason::kSuperseded},
                          {kOrigin, cert_.number(), RevocationReason::kRevoked}},
                         kNationalCode, kIssued, *keys_[kNationalCode]));
  TB_ASSERT_OK_AND_ASSIGN(RevocationList list, VerifyRevocationList(list_bytes, *roster_));
  ASSERT_EQ(list.entries.size(), 2u);
  CertificateVerification v = Check(bytes, &list);
  EXPECT_EQ(v.verdict, Verdict::kRevoked) << v.detail;
  EXPECT_TRUE(absl::StrContains(v.detail, "revoked")) << v.detail;
  // Revocation outranks expiry.
  EXPECT_EQ(Check(bytes, &list, absl::CivilDay(2030, 1, 1)).verdict, Verdict::kRevoked);
  // Another certificate on the list does not touch this one.
  TB_ASSERT_OK_AND_ASSIGN(std::string other_list,
                          SignRevocationList({{kOrigin, "HY-OTHER", RevocationReason::kSuperseded}},
                                             kNationalCode, kIssued, *keys_[kNationalCode]));
  TB_ASSERT_OK_AND_ASSIGN(RevocationList other, VerifyRevocationList(other_list, *roster_));
  EXPECT_EQ(Check(bytes, &other).verdict, Verdict::kValid);
  // Superseded certificates are refused as revoked, saying why.
  cert_.set_number("HY-OTHER");
  v = Check(Payload(), &other);
  EXPECT_EQ(v.verdict, Verdict::kRevoked);
  EXPECT_TRUE(absl::StrContains(v.detail, "superseded")) << v.detail;
}

TEST_P(CertificatePayloadTest, RevocationListSignatureIsChecked) {
  const std::vector<RevokedCertificate> entries = {{kOrigin, cert_.number()}};
  // Signed by a county, not the national node: refused.
  TB_ASSERT_OK_AND_ASSIGN(std::string by_county,
                          SignRevocationList(entries, kOrigin, kIssued, *keys_[kOrigin]));
  EXPECT_EQ(VerifyRevocationList(by_county, *roster_).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Claims the national node but signed with another key: refused.
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> stranger, suite().GenerateKey());
  TB_ASSERT_OK_AND_ASSIGN(std::string by_stranger,
                          SignRevocationList(entries, kNationalCode, kIssued, *stranger));
  EXPECT_EQ(VerifyRevocationList(by_stranger, *roster_).status().code(),
            absl::StatusCode::kPermissionDenied);
  // An entry altered after signing (the last byte of the number): refused.
  TB_ASSERT_OK_AND_ASSIGN(
      std::string good, SignRevocationList(entries, kNationalCode, kIssued, *keys_[kNationalCode]));
  TB_ASSERT_OK(VerifyRevocationList(good, *roster_).status());
  std::string altered = good;
  const size_t number_end = 4 + 3 + 8 + 4 + 4 + 3 + 1 + 1 + cert_.number().size() - 1;
  altered[number_end] ^= 0x01;
  EXPECT_EQ(VerifyRevocationList(altered, *roster_).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Truncated: a clear refusal naming the truncation.
  absl::Status truncated = VerifyRevocationList(good.substr(0, good.size() - 3), *roster_).status();
  EXPECT_EQ(truncated.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(truncated.message(), "truncated")) << truncated;
}

TEST_P(CertificatePayloadTest, UnknownIssuerAndUnknownKey) {
  // A county not in the roster.
  cert_.set_issuer("330106");
  CertificateVerification v = Check(Payload());
  EXPECT_EQ(v.verdict, Verdict::kUnknownIssuer) << v.detail;
  EXPECT_TRUE(absl::StrContains(v.detail, "330106 is not in roster")) << v.detail;
  // A roster county with a key the roster does not name.
  cert_.set_issuer(kOrigin);
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> other, suite().GenerateKey());
  v = Check(Payload(*other));
  EXPECT_EQ(v.verdict, Verdict::kUnknownIssuer) << v.detail;
  EXPECT_TRUE(absl::StrContains(v.detail, "is not a signing key of node 620102")) << v.detail;
}

// The roster's word on the issuer: a revoked county's certificates are no
// longer accepted offline; a suspended county's still are.
TEST_P(CertificatePayloadTest, IssuerStatusInTheRoster) {
  const std::string payload = Payload();
  NodeEntry* origin = roster_proto_.mutable_nodes(1);
  ASSERT_EQ(origin->code(), kOrigin);
  origin->set_status(NodeEntry::NODE_STATUS_SUSPENDED);
  roster_proto_.set_version(2);
  Resign();
  EXPECT_EQ(Check(payload).verdict, Verdict::kValid);
  origin->set_status(NodeEntry::NODE_STATUS_REVOKED);
  origin->set_status_reason("county abolished");
  roster_proto_.set_version(3);
  Resign();
  const CertificateVerification v = Check(payload);
  EXPECT_EQ(v.verdict, Verdict::kUnknownIssuer) << v.detail;
  EXPECT_TRUE(absl::StrContains(v.detail, "620102 is revoked in roster v3: county abolished"))
      << v.detail;
}

TEST_P(CertificatePayloadTest, ForgedSignature) {
  // Another county's key, under the origin's key id: the signature fails.
  std::string bytes = Payload(*keys_[kResidence]);
  TB_ASSERT_OK_AND_ASSIGN(std::string origin_id, HexDecode(keys_[kOrigin]->public_key().KeyId()));
  bytes.replace(4, 8, origin_id);
  CertificateVerification v = Check(bytes);
  EXPECT_EQ(v.verdict, Verdict::kForged) << v.detail;
}

// One byte altered in each region: never valid, and the verdict the region
// implies.
TEST_P(CertificatePayloadTest, OneByteAlteredInEachRegion) {
  const std::string bytes = Payload();
  const size_t number_at = 1 + 3 + 8 + 1 + 2 + 2 + 4 + 8 + 16;  // its length byte
  const size_t facts_at = number_at + 1 + cert_.number().size();
  TB_ASSERT_OK_AND_ASSIGN(DecodedCertificate d, DecodeCertificatePayload(bytes));
  const size_t sig_len_at = d.signed_bytes.size();
  struct Region {
    const char* name;
    size_t at;
    Verdict expected;
  };
  const Region regions[] = {
      {"version", 0, Verdict::kMalformed},
      {"issuer", 3, Verdict::kUnknownIssuer},
      {"key id", 4, Verdict::kUnknownIssuer},
      {"type", 12, Verdict::kForged},
      {"valid_from", 14, Verdict::kForged},
      {"valid_to", 16, Verdict::kForged},
      {"issued_at", 20, Verdict::kForged},
      {"holder salt", 21, Verdict::kForged},
      {"holder hash", 29, Verdict::kForged},
      {"number length", number_at, Verdict::kMalformed},
      {"number", number_at + 1, Verdict::kForged},
      {"fact count", facts_at, Verdict::kMalformed},
      {"fact value", sig_len_at - 1, Verdict::kForged},
      {"signature length", sig_len_at, Verdict::kMalformed},
      {"signature", sig_len_at + 10, Verdict::kForged},
      {"signature end", bytes.size() - 1, Verdict::kForged},
  };
  for (const Region& r : regions) {
    std::string altered = bytes;
    altered[r.at] ^= 0x01;
    CertificateVerification v = Check(altered);
    EXPECT_EQ(v.verdict, r.expected)
        << r.name << ": " << VerdictName(v.verdict) << ": " << v.detail;
  }
}

TEST_P(CertificatePayloadTest, TruncatedPayloadAndTextAreClearlyRefused) {
  const std::string bytes = Payload();
  for (size_t n : {size_t{0}, size_t{1}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    CertificateVerification v = Check(bytes.substr(0, n));
    EXPECT_EQ(v.verdict, Verdict::kMalformed) << n;
    EXPECT_TRUE(absl::StrContains(v.detail, "truncated")) << n << ": " << v.detail;
  }
  CertificateVerification v = Check(bytes + "x");
  EXPECT_EQ(v.verdict, Verdict::kMalformed);
  EXPECT_TRUE(absl::StrContains(v.detail, "after the signature")) << v.detail;

  const std::string text = CertificateText(bytes);
  EXPECT_FALSE(CertificateBytesFromText(text.substr(4)).ok());  // no prefix
  absl::Status s = CertificateBytesFromText(text.substr(0, text.size() - 1)).status();
  if (s.ok()) {
    // A cut at a triple boundary still decodes, to a payload that is short.
    EXPECT_EQ(Check(*CertificateBytesFromText(text.substr(0, text.size() - 1))).verdict,
              Verdict::kMalformed);
  }
  std::string bad = text;
  bad[10] = 'a';  // lower case is not base45
  s = CertificateBytesFromText(bad).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "character 11 is not base45")) << s;
  EXPECT_EQ(CertificateBytesFromText("TB1:::::").status().code(),
            absl::StatusCode::kInvalidArgument);  // a triple above 65535
}

TB_INSTANTIATE_FOR_BOTH_SUITES(CertificatePayloadTest);

}  // namespace
}  // namespace tongban::workflows
