// Witness cosignatures under both suites: the documented text, verification,
// and every way a cosignature can be forged or misapplied.
#include "common/merkle/cosignature.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::merkle {
namespace {

using crypto::SuiteId;

constexpr int64_t kCosignedAt = 1796018132290501;

class CosignatureTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(origin_, suite().GenerateKey());
    TB_ASSERT_OK_AND_ASSIGN(witness_, suite().GenerateKey());
    Checkpoint c;
    c.suite = GetParam();
    c.origin = "620102";
    c.epoch = 1;
    c.tree_size = 4;
    for (size_t i = 0; i < c.root.size(); ++i) c.root[i] = static_cast<uint8_t>(i);
    c.time_micros = 1796018132000000;
    c.key_id = origin_->public_key().KeyId();
    TB_ASSERT_OK_AND_ASSIGN(checkpoint_, SignCheckpoint(c, *origin_->NewSigner()));
  }

  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  absl::StatusOr<Cosignature> CosignSample() {
    return Cosign(checkpoint_.body, "000000", absl::FromUnixMicros(kCosignedAt), *witness_);
  }

  std::unique_ptr<crypto::PrivateKey> origin_;
  std::unique_ptr<crypto::PrivateKey> witness_;
  SignedCheckpoint checkpoint_;
};

TEST_P(CosignatureTest, SignsTheDocumentedTextOverTheExactCheckpoint) {
  TB_ASSERT_OK_AND_ASSIGN(Cosignature c, CosignSample());
  EXPECT_EQ(c.witness, "000000");
  EXPECT_EQ(c.key_id, witness_->public_key().KeyId());
  EXPECT_EQ(c.time_micros, kCosignedAt);
  const std::string text = EncodeCosigned(GetParam(), c, checkpoint_.body);
  EXPECT_EQ(text, absl::StrCat("tongban-cosignature/v1\n", suite().name(), "\n000000\n", c.key_id,
                               "\n", kCosignedAt, "\n", checkpoint_.body));
  // The signature is the suite's plain signature over that text.
  TB_EXPECT_OK(suite().NewVerifier(witness_->public_key())->Verify(text, c.signature));
  TB_ASSERT_OK_AND_ASSIGN(Checkpoint cp,
                          VerifyCosignature(c, checkpoint_.body, witness_->public_key()));
  EXPECT_EQ(cp.tree_size, 4u);
  EXPECT_EQ(cp.origin, "620102");
}

TEST_P(CosignatureTest, ForgedOrMisappliedCosignaturesAreRejected) {
  TB_ASSERT_OK_AND_ASSIGN(const Cosignature good, CosignSample());
  auto rejected = [&](const Cosignature& c, absl::string_view body, const crypto::PublicKey& key,
                      absl::string_view says) {
    const absl::Status s = VerifyCosignature(c, body, key).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), says)) << s;
  };
  Cosignature flipped = good;
  flipped.signature[5] ^= 0x01;
  rejected(flipped, checkpoint_.body, witness_->public_key(), "cosignature by witness 000000");
  Cosignature later = good;
  later.time_micros += 1;  // the time is signed
  rejected(later, checkpoint_.body, witness_->public_key(), "signature");
  // Another checkpoint under the same cosignature.
  Checkpoint other = *ParseCheckpoint(checkpoint_.body);
  other.tree_size = 5;
  rejected(good, EncodeCheckpoint(other), witness_->public_key(), "signature");
  // The origin's key is not the witness's.
  rejected(good, checkpoint_.body, origin_->public_key(), "names key");
  // An origin signature passed off as a cosignature: another text is signed.
  Cosignature from_origin = good;
  from_origin.key_id = origin_->public_key().KeyId();
  from_origin.signature = checkpoint_.signature;
  rejected(from_origin, checkpoint_.body, origin_->public_key(), "signature");
  rejected(good, "tongban-checkpoint/v1\n", witness_->public_key(), "cosigned checkpoint");
  Cosignature bad_witness = good;
  bad_witness.witness = "00000";
  rejected(bad_witness, checkpoint_.body, witness_->public_key(), "not a 6-digit node code");
}

TEST_P(CosignatureTest, RefusesToCosignWhatIsNotACheckpointOfItsSuite) {
  EXPECT_EQ(Cosign("not a checkpoint", "000000", absl::FromUnixMicros(kCosignedAt), *witness_)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  const SuiteId other_id = GetParam() == SuiteId::kIntl ? SuiteId::kGm : SuiteId::kIntl;
  TB_ASSERT_OK_AND_ASSIGN(auto other_key, crypto::GetSuite(other_id).GenerateKey());
  const absl::Status s =
      Cosign(checkpoint_.body, "000000", absl::FromUnixMicros(kCosignedAt), *other_key).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "witness key is a")) << s;
}

TB_INSTANTIATE_FOR_BOTH_SUITES(CosignatureTest);

}  // namespace
}  // namespace tongban::merkle
