#include "common/crypto/kdf.h"

#include "common/hex.h"
#include "gtest/gtest.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::crypto {
namespace {

std::string Hex(const absl::StatusOr<std::string>& s) {
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? HexEncode(*s) : "";
}

// RFC 4231 test case 2 and RFC 2202 test case 2 (key "Jefe").
TEST(KdfTest, HmacKnownAnswers) {
  EXPECT_EQ(Hex(Hmac(SuiteId::kIntl, "Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Hex(HmacSha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

// RFC 7914 section 11: PBKDF2-HMAC-SHA256.
TEST(KdfTest, Pbkdf2Sha256KnownAnswers) {
  EXPECT_EQ(Hex(Pbkdf2(SuiteId::kIntl, "passwd", "salt", 1, 64)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
            "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
  EXPECT_EQ(Hex(Pbkdf2(SuiteId::kIntl, "Password", "NaCl", 80000, 64)),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
            "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

TEST(KdfTest, RefusesZeroIterationsOrLength) {
  EXPECT_EQ(Pbkdf2(SuiteId::kGm, "p", "s", 0, 32).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pbkdf2(SuiteId::kGm, "p", "s", 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KdfTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

// SM3 has no published HMAC or PBKDF2 vectors, so both suites are checked
// against the definitions (RFC 2104, RFC 8018 section 5.2) built here from
// the suite's own Hasher, whose hash has its own known-answer tests.
class KdfDefinitionTest : public testing::TestWithParam<SuiteId> {
 protected:
  std::string H(absl::string_view data) {
    return std::string(AsStringView(GetSuite(GetParam()).NewHasher()->Hash(data)));
  }
  std::string DefinedHmac(std::string key, absl::string_view message) {
    constexpr size_t kBlock = 64;  // SHA-256 and SM3
    if (key.size() > kBlock) key = H(key);
    key.resize(kBlock, '\0');
    std::string ipad = key, opad = key;
    for (size_t i = 0; i < kBlock; ++i) {
      ipad[i] ^= 0x36;
      opad[i] ^= 0x5c;
    }
    return H(opad + H(ipad + std::string(message)));
  }
};

TEST_P(KdfDefinitionTest, HmacAndPbkdf2MatchTheirDefinitions) {
  const std::string long_key(100, 'k');  // longer than a block: hashed first
  for (const std::string& key : {std::string("Jefe"), long_key}) {
    TB_ASSERT_OK_AND_ASSIGN(std::string mac, Hmac(GetParam(), key, "message"));
    EXPECT_EQ(HexEncode(mac), HexEncode(DefinedHmac(key, "message")));
  }
  // Two blocks of output (40 bytes), three iterations.
  const std::string password = "correct horse", salt = "NaCl-salt";
  std::string expected;
  for (uint32_t block = 1; block <= 2; ++block) {
    std::string index = {0, 0, 0, static_cast<char>(block)};
    std::string u = DefinedHmac(password, salt + index);
    std::string t = u;
    for (int i = 1; i < 3; ++i) {
      u = DefinedHmac(password, u);
      for (size_t j = 0; j < t.size(); ++j) t[j] ^= u[j];
    }
    expected += t;
  }
  expected.resize(40);
  TB_ASSERT_OK_AND_ASSIGN(std::string derived, Pbkdf2(GetParam(), password, salt, 3, 40));
  EXPECT_EQ(HexEncode(derived), HexEncode(expected));
}

TB_INSTANTIATE_FOR_BOTH_SUITES(KdfDefinitionTest);

}  // namespace
}  // namespace tongban::crypto
