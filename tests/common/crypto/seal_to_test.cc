#include "common/crypto/seal_to.h"

#include "gtest/gtest.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::crypto {
namespace {

class SealToTest : public testing::TestWithParam<SuiteId> {
 protected:
  const Suite& suite() const { return GetSuite(GetParam()); }
  std::unique_ptr<PrivateKey> NewKey() const {
    absl::StatusOr<std::unique_ptr<PrivateKey>> key = suite().GenerateKey();
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? *std::move(key) : nullptr;
  }
};

// Opening succeeds only if the public map (intl: Edwards to Montgomery) and
// the private map agree, so a round trip over many keys checks both.
TEST_P(SealToTest, OpensWithTheRecipientsKeyOnly) {
  for (int i = 0; i < 20; ++i) {
    std::unique_ptr<PrivateKey> key = NewKey();
    ASSERT_NE(key, nullptr);
    const std::string secret(suite().symmetric_key_size(), static_cast<char>('a' + i));
    TB_ASSERT_OK_AND_ASSIGN(std::string sealed, SealTo(key->public_key(), secret));
    TB_ASSERT_OK_AND_ASSIGN(std::string opened, OpenSealed(*key, sealed));
    EXPECT_EQ(opened, secret);
    // Each seal is fresh (ephemeral key or SM2's random k).
    TB_ASSERT_OK_AND_ASSIGN(std::string again, SealTo(key->public_key(), secret));
    EXPECT_NE(again, sealed);
    std::unique_ptr<PrivateKey> other = NewKey();
    EXPECT_EQ(OpenSealed(*other, sealed).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_P(SealToTest, AnyAlteredByteOrTruncationIsRefused) {
  std::unique_ptr<PrivateKey> key = NewKey();
  ASSERT_NE(key, nullptr);
  TB_ASSERT_OK_AND_ASSIGN(std::string sealed, SealTo(key->public_key(), "0123456789abcdef"));
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_EQ(OpenSealed(*key, bad).status().code(), absl::StatusCode::kInvalidArgument)
        << "byte " << i;
  }
  for (size_t n : {size_t{0}, size_t{1}, sealed.size() / 2, sealed.size() - 1}) {
    EXPECT_EQ(OpenSealed(*key, sealed.substr(0, n)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << "length " << n;
  }
}

TEST_P(SealToTest, RefusesEmptyAndLongSecrets) {
  std::unique_ptr<PrivateKey> key = NewKey();
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(SealTo(key->public_key(), "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SealTo(key->public_key(), std::string(kMaxSealedSecret + 1, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A seal made for one suite does not open under the other's key.
TEST(SealToCrossSuiteTest, OtherSuitesSealIsRefused) {
  TB_ASSERT_OK_AND_ASSIGN(auto intl, GetSuite(SuiteId::kIntl).GenerateKey());
  TB_ASSERT_OK_AND_ASSIGN(auto gm, GetSuite(SuiteId::kGm).GenerateKey());
  TB_ASSERT_OK_AND_ASSIGN(std::string to_intl, SealTo(intl->public_key(), "secret"));
  TB_ASSERT_OK_AND_ASSIGN(std::string to_gm, SealTo(gm->public_key(), "secret"));
  EXPECT_EQ(OpenSealed(*gm, to_intl).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenSealed(*intl, to_gm).status().code(), absl::StatusCode::kInvalidArgument);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(SealToTest);

}  // namespace
}  // namespace tongban::crypto
