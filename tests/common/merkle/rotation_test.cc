// Key rotations under both suites: the documented text, both signatures, and
// the key history they make: which key signs where, and what is refused.
#include "common/merkle/rotation.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "gtest/gtest.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::merkle {
namespace {

using crypto::SuiteId;

constexpr char kOrigin[] = "620102";
const absl::Time kWhen = absl::FromUnixSeconds(1796018132);

class RotationTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    for (auto* k : {&k0_, &k1_, &k2_}) {
      TB_ASSERT_OK_AND_ASSIGN(*k, suite().GenerateKey());
    }
  }
  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  KeyRotation Rotate(const crypto::PrivateKey& from, const crypto::PrivateKey& to, uint64_t epoch,
                     uint64_t seq) {
    absl::StatusOr<SignedKeyRotation> s = SignKeyRotation(kOrigin, epoch, seq, kWhen, from, to);
    EXPECT_TRUE(s.ok()) << s.status();
    absl::StatusOr<KeyRotation> r = VerifyKeyRotation(*s);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : KeyRotation();
  }

  // The roster lists only k0_.
  KeyHistory::RosterKeys Roster() const {
    const crypto::PrivateKey* k0 = k0_.get();
    return [k0](absl::string_view id) -> const crypto::PublicKey* {
      return id == k0->public_key().KeyId() ? &k0->public_key() : nullptr;
    };
  }

  std::string Id(const std::unique_ptr<crypto::PrivateKey>& k) { return k->public_key().KeyId(); }

  std::unique_ptr<crypto::PrivateKey> k0_, k1_, k2_;
};

TEST_P(RotationTest, SignsTheDocumentedTextWithBothKeys) {
  TB_ASSERT_OK_AND_ASSIGN(SignedKeyRotation s,
                          SignKeyRotation(kOrigin, 1, 40004, kWhen, *k0_, *k1_));
  EXPECT_EQ(s.body, absl::StrCat("tongban-key-rotation/v1\n", suite().name(),
                                 "\n620102\n1\n40004\n", absl::ToUnixMicros(kWhen), "\n", Id(k0_),
                                 "\n", HexEncode(k0_->public_key().SpkiDer()), "\n", Id(k1_), "\n",
                                 HexEncode(k1_->public_key().SpkiDer()), "\n"));
  TB_ASSERT_OK_AND_ASSIGN(KeyRotation r, VerifyKeyRotation(s));
  EXPECT_EQ(r.origin, kOrigin);
  EXPECT_EQ(r.seq, 40004u);
  EXPECT_EQ(r.old_key_id, Id(k0_));
  EXPECT_EQ(r.new_key_id, Id(k1_));
  EXPECT_EQ(EncodeKeyRotation(r), s.body);

  // Each signature is checked, by its own key.
  SignedKeyRotation bad = s;
  bad.old_signature[2] ^= 0x01;
  EXPECT_TRUE(absl::StrContains(VerifyKeyRotation(bad).status().message(), "old key's signature"));
  bad = s;
  bad.new_signature[2] ^= 0x01;
  EXPECT_TRUE(absl::StrContains(VerifyKeyRotation(bad).status().message(), "new key's signature"));
  bad = s;
  std::swap(bad.old_signature, bad.new_signature);
  EXPECT_FALSE(VerifyKeyRotation(bad).ok());
  // The text is the signed bytes: another seq breaks both signatures.
  bad = s;
  bad.body.replace(bad.body.find("\n40004\n"), 7, "\n40005\n");
  EXPECT_EQ(VerifyKeyRotation(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(RotationTest, MalformedTextIsRefusedNamingTheLine) {
  EXPECT_FALSE(SignKeyRotation(kOrigin, 1, 5, kWhen, *k0_, *k0_).ok());  // the same key
  EXPECT_FALSE(SignKeyRotation("62010", 1, 5, kWhen, *k0_, *k1_).ok());
  EXPECT_FALSE(SignKeyRotation(kOrigin, 0, 5, kWhen, *k0_, *k1_).ok());
  EXPECT_FALSE(SignKeyRotation(kOrigin, 1, 0, kWhen, *k0_, *k1_).ok());
  TB_ASSERT_OK_AND_ASSIGN(SignedKeyRotation s, SignKeyRotation(kOrigin, 1, 5, kWhen, *k0_, *k1_));
  struct Case {
    std::string from, to, says;
  } cases[] = {
      {"tongban-key-rotation/v1", "tongban-restart/v1", "line 1"},
      {"\n1\n5\n", "\n01\n5\n", "plain decimals"},
      {Id(k1_), std::string(16, 'f'), "new key has id"},
      {HexEncode(k0_->public_key().SpkiDer()), "00", "old key does not parse"},
  };
  for (const Case& c : cases) {
    std::string text = s.body;
    ASSERT_NE(text.find(c.from), std::string::npos) << c.from;
    text.replace(text.find(c.from), c.from.size(), c.to);
    absl::Status st = ParseKeyRotation(text).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.says;
    EXPECT_TRUE(absl::StrContains(st.message(), c.says)) << st;
  }
  EXPECT_FALSE(ParseKeyRotation(s.body + "\n").ok());
  EXPECT_FALSE(ParseKeyRotation(std::string(5000, 'x')).ok());
}

// The roster's key signs until its rotation, the new key from it on (and in
// later epochs), the next rotation retires that one in turn.
TEST_P(RotationTest, HistoryGivesEachKeyItsWindow) {
  TB_ASSERT_OK_AND_ASSIGN(
      KeyHistory h,
      KeyHistory::Build(kOrigin, GetParam(), Roster(),
                        {Rotate(*k1_, *k2_, 2, 7), Rotate(*k0_, *k1_, 1, 100)}));  // any order
  EXPECT_EQ(h.newest_key_id(), Id(k2_));
  ASSERT_EQ(h.rotations().size(), 2u);
  EXPECT_EQ(h.rotations()[0].seq, 100u);

  auto key_at = [&](const std::unique_ptr<crypto::PrivateKey>& k, uint64_t epoch, uint64_t size) {
    return h.KeyFor(Id(k), {epoch, size});
  };
  TB_ASSERT_OK_AND_ASSIGN(const crypto::PublicKey* k, key_at(k0_, 1, 99));
  EXPECT_EQ(k->KeyId(), Id(k0_));
  EXPECT_EQ(key_at(k0_, 1, 100).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(key_at(k0_, 1, 100).status().message(), "retired at epoch 1 seq 100"))
      << key_at(k0_, 1, 100).status();
  EXPECT_EQ(key_at(k1_, 1, 99).status().code(), absl::StatusCode::kFailedPrecondition);
  TB_EXPECT_OK(key_at(k1_, 1, 100));
  TB_EXPECT_OK(key_at(k1_, 2, 6));  // a later epoch
  EXPECT_EQ(key_at(k1_, 2, 7).status().code(), absl::StatusCode::kFailedPrecondition);
  TB_EXPECT_OK(key_at(k2_, 2, 7));
  TB_EXPECT_OK(key_at(k2_, 3, 1));
  EXPECT_EQ(key_at(k2_, 1, 500).status().code(), absl::StatusCode::kFailedPrecondition);
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> stranger, suite().GenerateKey());
  EXPECT_EQ(h.KeyFor(stranger->public_key().KeyId(), {1, 1}).status().code(),
            absl::StatusCode::kNotFound);

  // No rotation: the roster's key, everywhere.
  TB_ASSERT_OK_AND_ASSIGN(KeyHistory plain, KeyHistory::Build(kOrigin, GetParam(), Roster(), {}));
  TB_EXPECT_OK(plain.KeyFor(Id(k0_), {9, 9}));
  EXPECT_EQ(plain.newest_key_id(), "");
}

TEST_P(RotationTest, HistoriesThatDoNotHoldTogetherAreRefused) {
  auto build = [&](std::vector<KeyRotation> rs) {
    return KeyHistory::Build(kOrigin, GetParam(), Roster(), std::move(rs)).status();
  };
  // Made by a key the roster does not list and no rotation introduced.
  absl::Status s = build({Rotate(*k1_, *k2_, 1, 5)});
  EXPECT_TRUE(absl::StrContains(s.message(), "neither the roster nor an earlier rotation")) << s;
  // One key retired twice: the origin contradicts itself.
  s = build({Rotate(*k0_, *k1_, 1, 5), Rotate(*k0_, *k2_, 1, 9)});
  EXPECT_TRUE(absl::StrContains(s.message(), "retired already")) << s;
  // Two rotations at one position.
  s = build({Rotate(*k0_, *k1_, 1, 5), Rotate(*k1_, *k2_, 1, 5)});
  EXPECT_TRUE(absl::StrContains(s.message(), "two rotations")) << s;
  // A key brought back.
  s = build({Rotate(*k0_, *k1_, 1, 5), Rotate(*k1_, *k0_, 1, 9)});
  EXPECT_TRUE(absl::StrContains(s.message(), "used before")) << s;
  // Another origin's rotation.
  TB_ASSERT_OK_AND_ASSIGN(SignedKeyRotation other,
                          SignKeyRotation("620103", 1, 5, kWhen, *k0_, *k1_));
  TB_ASSERT_OK_AND_ASSIGN(KeyRotation parsed, VerifyKeyRotation(other));
  s = build({parsed});
  EXPECT_TRUE(absl::StrContains(s.message(), "is not one of origin 620102")) << s;
}

TB_INSTANTIATE_FOR_BOTH_SUITES(RotationTest);

}  // namespace
}  // namespace tongban::merkle
