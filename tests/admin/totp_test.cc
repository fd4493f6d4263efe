#include "admin/totp.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::admin {
namespace {

constexpr char kRfcSecret[] = "12345678901234567890";  // RFC 6238 Appendix B, SHA-1

// RFC 6238 Appendix B, the SHA-1 rows: 8-digit codes. A 6-digit code is the
// same number modulo 10^6, so its last six digits.
TEST(TotpTest, Rfc6238Vectors) {
  const struct {
    int64_t unix_seconds;
    const char* code;
  } kVectors[] = {{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
                  {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}};
  for (const auto& v : kVectors) {
    const int64_t step = TotpStep(absl::FromUnixSeconds(v.unix_seconds));
    TB_ASSERT_OK_AND_ASSIGN(std::string eight, TotpCodeAt(kRfcSecret, step, 8));
    EXPECT_EQ(eight, v.code) << v.unix_seconds;
    TB_ASSERT_OK_AND_ASSIGN(std::string six, TotpCodeAt(kRfcSecret, step));
    EXPECT_EQ(six, std::string(v.code).substr(2)) << v.unix_seconds;
  }
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(59)), 1);
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(60)), 2);
}

// RFC 4648 section 10.
TEST(TotpTest, Base32Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {{"", ""},
                                                          {"f", "MY"},
                                                          {"fo", "MZXQ"},
                                                          {"foo", "MZXW6"},
                                                          {"foob", "MZXW6YQ"},
                                                          {"fooba", "MZXW6YTB"},
                                                          {"foobar", "MZXW6YTBOI"}};
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base32Encode(plain), encoded);
    TB_ASSERT_OK_AND_ASSIGN(std::string back, Base32Decode(encoded));
    EXPECT_EQ(back, plain);
  }
  TB_ASSERT_OK_AND_ASSIGN(std::string padded, Base32Decode("mzxw6yq="));
  EXPECT_EQ(padded, "foob");
  EXPECT_EQ(Base32Encode(kRfcSecret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  for (const char* bad : {"M", "MY1", "MZ", "MZXW6Y", "MZ XW"}) {
    EXPECT_EQ(Base32Decode(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(TotpTest, WindowIsOneStepEitherWayAndStepsAreNotReplayed) {
  const absl::Time now = absl::FromUnixSeconds(1796083215);
  const int64_t step = TotpStep(now);
  for (int64_t delta : {-1, 0, 1}) {
    TB_ASSERT_OK_AND_ASSIGN(std::string code, TotpCodeAt(kRfcSecret, step + delta));
    TB_ASSERT_OK_AND_ASSIGN(int64_t matched, MatchTotp(kRfcSecret, code, now, 0));
    EXPECT_EQ(matched, step + delta);
  }
  for (int64_t delta : {-2, 2}) {
    TB_ASSERT_OK_AND_ASSIGN(std::string code, TotpCodeAt(kRfcSecret, step + delta));
    EXPECT_EQ(MatchTotp(kRfcSecret, code, now, 0).status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  TB_ASSERT_OK_AND_ASSIGN(std::string code, TotpCodeAt(kRfcSecret, step));
  EXPECT_EQ(MatchTotp(kRfcSecret, code, now, /*last_used_step=*/step).status().code(),
            absl::StatusCode::kUnauthenticated);
  for (const char* bad : {"12345", "1234567", "12345a", ""}) {
    EXPECT_EQ(MatchTotp(kRfcSecret, bad, now, 0).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(TotpTest, EnrolmentSecretAndUri) {
  TB_ASSERT_OK_AND_ASSIGN(std::string a, GenerateTotpSecret());
  TB_ASSERT_OK_AND_ASSIGN(std::string b, GenerateTotpSecret());
  EXPECT_EQ(a.size(), kTotpSecretSize);
  EXPECT_NE(a, b);
  EXPECT_EQ(TotpUri("Tongban 620102", "li.wei", kRfcSecret),
            "otpauth://totp/Tongban%20620102:li.wei?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=Tongban%20620102&algorithm=SHA1&digits=6&period=30");
}

}  // namespace
}  // namespace tongban::admin
