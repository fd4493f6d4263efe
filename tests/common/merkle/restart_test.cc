// Restart records under both suites: the documented text, the origin's
// signature, the national node's countersignature, and what is refused.
#include "common/merkle/restart.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::merkle {
namespace {

using crypto::SuiteId;

class RestartTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(origin_, suite().GenerateKey());
    TB_ASSERT_OK_AND_ASSIGN(witness_, suite().GenerateKey());
    record_.origin = "620102";
    record_.epoch = 1;
    record_.kept_size = 24;
    record_.signed_size = 27;
    record_.new_epoch = 2;
    record_.time_micros = 1796018132000000;
  }
  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  std::unique_ptr<crypto::PrivateKey> origin_;
  std::unique_ptr<crypto::PrivateKey> witness_;
  Restart record_;
};

TEST_P(RestartTest, SignsTheDocumentedTextAndVerifies) {
  TB_ASSERT_OK_AND_ASSIGN(SignedRestart s, SignRestart(record_, *origin_));
  EXPECT_EQ(s.body, absl::StrCat("tongban-restart/v1\n", suite().name(),
                                 "\n620102\n1\n24\n27\n2\n1796018132000000\n",
                                 origin_->public_key().KeyId(), "\n"));
  TB_ASSERT_OK_AND_ASSIGN(Restart r, VerifyRestart(s, origin_->public_key()));
  EXPECT_EQ(r.kept_size, 24u);
  EXPECT_EQ(r.signed_size, 27u);
  EXPECT_EQ(r.new_epoch, 2u);

  // Another key, a changed field or a changed signature: refused.
  EXPECT_FALSE(VerifyRestart(s, witness_->public_key()).ok());
  SignedRestart changed = s;
  changed.body = absl::StrReplaceAll(s.body, {{"\n24\n", "\n25\n"}});
  EXPECT_FALSE(VerifyRestart(changed, origin_->public_key()).ok());
  changed = s;
  changed.signature[changed.signature.size() / 2] ^= 1;
  EXPECT_FALSE(VerifyRestart(changed, origin_->public_key()).ok());
}

TEST_P(RestartTest, TheNationalNodesCountersignatureCoversTheWholeRecord) {
  TB_ASSERT_OK_AND_ASSIGN(SignedRestart s, SignRestart(record_, *origin_));
  TB_ASSERT_OK_AND_ASSIGN(Cosignature c,
                          CosignRestart(s.body, "000000", absl::FromUnixMicros(7), *witness_));
  EXPECT_EQ(c.witness, "000000");
  TB_EXPECT_OK(suite()
                   .NewVerifier(witness_->public_key())
                   ->Verify(absl::StrCat("tongban-restart-cosignature/v1\n", suite().name(),
                                         "\n000000\n", c.key_id, "\n7\n", s.body),
                            c.signature));
  TB_EXPECT_OK(VerifyRestartCosignature(c, s.body, witness_->public_key()).status());
  EXPECT_FALSE(VerifyRestartCosignature(c, s.body, origin_->public_key()).ok());
  const std::string other = absl::StrReplaceAll(s.body, {{"\n27\n", "\n28\n"}});
  EXPECT_FALSE(VerifyRestartCosignature(c, other, witness_->public_key()).ok());
  // A checkpoint cosignature is never over the same bytes: the headers
  // differ, so neither signature can be replayed as the other.
  EXPECT_TRUE(absl::StartsWith(EncodeRestartCosigned(GetParam(), c, s.body),
                               "tongban-restart-cosignature/v1\n"));
  EXPECT_FALSE(VerifyCosignature(c, s.body, witness_->public_key()).ok());
}

TEST_P(RestartTest, MalformedRecordsAreNeitherSignedNorParsed) {
  Restart r = record_;
  r.new_epoch = 3;
  EXPECT_FALSE(SignRestart(r, *origin_).ok());
  r = record_;
  r.signed_size = 23;  // below kept_size
  EXPECT_FALSE(SignRestart(r, *origin_).ok());
  r = record_;
  r.origin = "62010";
  EXPECT_FALSE(SignRestart(r, *origin_).ok());
  TB_ASSERT_OK_AND_ASSIGN(SignedRestart s, SignRestart(record_, *origin_));
  EXPECT_FALSE(ParseRestart(absl::StrReplaceAll(s.body, {{"\n24\n", "\n024\n"}})).ok());
  EXPECT_FALSE(ParseRestart(absl::StrCat(s.body, "x\n")).ok());
  EXPECT_FALSE(ParseRestart(s.body.substr(0, s.body.size() - 1)).ok());
  EXPECT_FALSE(ParseRestart("").ok());
}

TB_INSTANTIATE_FOR_BOTH_SUITES(RestartTest);

}  // namespace
}  // namespace tongban::merkle
