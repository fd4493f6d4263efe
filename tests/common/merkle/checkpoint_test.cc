// Checkpoint text format, strict parsing, and signing under both suites.
#include "common/merkle/checkpoint.h"

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/hex.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::merkle {
namespace {

using crypto::GetSuite;
using crypto::SuiteId;

Checkpoint Sample() {
  Checkpoint c;
  c.suite = SuiteId::kGm;
  c.origin = "320506";
  c.epoch = 3;
  c.tree_size = 1024;
  for (size_t i = 0; i < c.root.size(); ++i) c.root[i] = static_cast<uint8_t>(i * 7 + 1);
  c.time_micros = 1764481333123456;
  c.key_id = "0123456789abcdef";
  return c;
}

constexpr char kSampleText[] =
    "tongban-checkpoint/v1\n"
    "gm\n"
    "320506\n"
    "3\n"
    "1024\n"
    "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da\n"
    "1764481333123456\n"
    "0123456789abcdef\n";

TEST(CheckpointFormatTest, EncodesTheDocumentedText) {
  EXPECT_EQ(EncodeCheckpoint(Sample()), kSampleText);
  TB_ASSERT_OK_AND_ASSIGN(Checkpoint parsed, ParseCheckpoint(kSampleText));
  EXPECT_EQ(parsed, Sample());
}

TEST(CheckpointFormatTest, RoundTripsExtremeValues) {
  Checkpoint c = Sample();
  c.suite = SuiteId::kIntl;
  c.origin = "000000";
  c.epoch = 0;
  c.tree_size = std::numeric_limits<uint64_t>::max();
  c.time_micros = std::numeric_limits<int64_t>::max();
  c.root = {};
  TB_ASSERT_OK_AND_ASSIGN(Checkpoint parsed, ParseCheckpoint(EncodeCheckpoint(c)));
  EXPECT_EQ(parsed, c);
  c.epoch = std::numeric_limits<uint64_t>::max();
  c.tree_size = 0;
  c.time_micros = 0;
  TB_ASSERT_OK_AND_ASSIGN(parsed, ParseCheckpoint(EncodeCheckpoint(c)));
  EXPECT_EQ(parsed, c);
}

// Replaces line `line` (1-based) of the sample text.
std::string WithLine(int line, absl::string_view value) {
  std::vector<std::string> lines = absl::StrSplit(kSampleText, '\n');
  lines[line - 1] = std::string(value);
  return absl::StrJoin(lines, "\n");
}

struct BadCase {
  std::string text;
  int line;  // the line the error must name
};

TEST(CheckpointFormatTest, ParserIsStrictAndNamesTheLine) {
  const std::string sample = kSampleText;
  const std::vector<BadCase> cases = {
      {WithLine(1, "tongban-checkpoint/v2"), 1},
      {WithLine(1, "Tongban-checkpoint/v1"), 1},
      {WithLine(1, "tongban-checkpoint/v1 "), 1},
      {WithLine(2, "GM"), 2},
      {WithLine(2, "sm"), 2},
      {WithLine(2, ""), 2},
      {WithLine(3, "32050"), 3},
      {WithLine(3, "3205061"), 3},
      {WithLine(3, "32050a"), 3},
      {WithLine(3, "+32050"), 3},
      {WithLine(4, "03"), 4},
      {WithLine(4, ""), 4},
      {WithLine(4, "-3"), 4},
      {WithLine(4, "+3"), 4},
      {WithLine(4, " 3"), 4},
      {WithLine(4, "3.0"), 4},
      {WithLine(4, "0x3"), 4},
      {WithLine(4, "18446744073709551616"), 4},  // 2^64
      {WithLine(5, "00"), 5},
      {WithLine(5, "1e3"), 5},
      {WithLine(5, "99999999999999999999999"), 5},
      {WithLine(6, "01080F161D242B323940474E555C636A71787F868D949BA2A9B0B7BEC5CCD3DA"), 6},
      {WithLine(6, "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3d"), 6},
      {WithLine(6, "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dax"), 6},
      {WithLine(6, "g1080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da"), 6},
      {WithLine(7, "9223372036854775808"), 7},  // INT64_MAX + 1
      {WithLine(7, "-1"), 7},
      {WithLine(7, "01764481333123456"), 7},
      {WithLine(8, "0123456789ABCDEF"), 8},
      {WithLine(8, "0123456789abcde"), 8},
      {WithLine(8, "0123456789abcdefa"), 8},
      {WithLine(8, "0123456789abcdeg"), 8},
      {sample.substr(0, sample.size() - 1), 8},                // missing final newline
      {sample + "extra\n", 9},                                 // trailing data
      {sample + "\n", 9},                                      // trailing empty line
      {sample + "x", 9},                                       // trailing bytes
      {sample.substr(0, sample.find("0123456789abcdef")), 8},  // a line short
      {"", 1},
      {absl::StrReplaceAll(sample, {{"\n", "\r\n"}}), 1},
  };
  for (const BadCase& c : cases) {
    const absl::Status s = ParseCheckpoint(c.text).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(s.message().find(absl::StrCat("line ", c.line)), absl::string_view::npos)
        << "want line " << c.line << " in: " << s << "\nfor:\n"
        << c.text;
  }
}

class CheckpointSignatureTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(key_, suite().GenerateKey());
    TB_ASSERT_OK_AND_ASSIGN(other_key_, suite().GenerateKey());
    checkpoint_ = Sample();
    checkpoint_.suite = GetParam();
    checkpoint_.key_id = key_->public_key().KeyId();
  }

  const crypto::Suite& suite() const { return GetSuite(GetParam()); }

  std::unique_ptr<crypto::PrivateKey> key_;
  std::unique_ptr<crypto::PrivateKey> other_key_;
  Checkpoint checkpoint_;
};

INSTANTIATE_TEST_SUITE_P(BothSuites, CheckpointSignatureTest,
                         testing::Values(SuiteId::kIntl, SuiteId::kGm),
                         [](const testing::TestParamInfo<SuiteId>& info) {
                           return std::string(crypto::SuiteName(info.param));
                         });

TEST_P(CheckpointSignatureTest, SignedCheckpointVerifies) {
  TB_ASSERT_OK_AND_ASSIGN(SignedCheckpoint sc, SignCheckpoint(checkpoint_, *key_->NewSigner()));
  EXPECT_EQ(sc.body, EncodeCheckpoint(checkpoint_));
  TB_ASSERT_OK_AND_ASSIGN(Checkpoint verified, VerifyCheckpoint(sc, suite(), key_->public_key()));
  EXPECT_EQ(verified, checkpoint_);
}

TEST_P(CheckpointSignatureTest, TamperedBodyFails) {
  TB_ASSERT_OK_AND_ASSIGN(SignedCheckpoint sc, SignCheckpoint(checkpoint_, *key_->NewSigner()));
  // Every well-formed change of a field: the signature no longer matches.
  std::vector<Checkpoint> changed(5, checkpoint_);
  changed[0].origin = "320507";
  changed[1].epoch += 1;
  changed[2].tree_size += 1;
  changed[3].root[31] ^= 1;
  changed[4].time_micros += 1;
  for (const Checkpoint& c : changed) {
    SignedCheckpoint tampered = sc;
    tampered.body = EncodeCheckpoint(c);
    const absl::Status s = VerifyCheckpoint(tampered, suite(), key_->public_key()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
  SignedCheckpoint bad_sig = sc;
  bad_sig.signature[bad_sig.signature.size() / 2] ^= 0x10;
  EXPECT_EQ(VerifyCheckpoint(bad_sig, suite(), key_->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
  SignedCheckpoint malformed = sc;
  malformed.body += "\n";
  EXPECT_EQ(VerifyCheckpoint(malformed, suite(), key_->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CheckpointSignatureTest, WrongKeyOrKeyIdFails) {
  TB_ASSERT_OK_AND_ASSIGN(SignedCheckpoint sc, SignCheckpoint(checkpoint_, *key_->NewSigner()));
  // The checkpoint names key_, so other_key_ is refused by key id.
  absl::Status s = VerifyCheckpoint(sc, suite(), other_key_->public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(other_key_->public_key().KeyId()), absl::string_view::npos) << s;

  // Signed by other_key_ while naming key_: the id matches key_ but the
  // signature does not verify.
  TB_ASSERT_OK_AND_ASSIGN(SignedCheckpoint forged,
                          SignCheckpoint(checkpoint_, *other_key_->NewSigner()));
  s = VerifyCheckpoint(forged, suite(), key_->public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;

  // Naming other_key_ but signed by key_.
  Checkpoint renamed = checkpoint_;
  renamed.key_id = other_key_->public_key().KeyId();
  TB_ASSERT_OK_AND_ASSIGN(SignedCheckpoint mislabeled, SignCheckpoint(renamed, *key_->NewSigner()));
  s = VerifyCheckpoint(mislabeled, suite(), other_key_->public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST_P(CheckpointSignatureTest, SuiteMismatchFails) {
  const SuiteId other = GetParam() == SuiteId::kIntl ? SuiteId::kGm : SuiteId::kIntl;
  TB_ASSERT_OK_AND_ASSIGN(SignedCheckpoint sc, SignCheckpoint(checkpoint_, *key_->NewSigner()));
  EXPECT_EQ(VerifyCheckpoint(sc, GetSuite(other), key_->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A body claiming the other suite is refused before any signature check.
  Checkpoint claims_other = checkpoint_;
  claims_other.suite = other;
  TB_ASSERT_OK_AND_ASSIGN(SignedCheckpoint sc2, SignCheckpoint(claims_other, *key_->NewSigner()));
  EXPECT_EQ(VerifyCheckpoint(sc2, suite(), key_->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CheckpointSignatureTest, RefusesToSignMalformedCheckpoints) {
  std::vector<Checkpoint> bad(4, checkpoint_);
  bad[0].origin = "32050";
  bad[1].time_micros = -1;
  bad[2].key_id = "0123456789ABCDEF";
  bad[3].origin = "3205\n6";
  for (const Checkpoint& c : bad) {
    const absl::Status s = SignCheckpoint(c, *key_->NewSigner()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
}

}  // namespace
}  // namespace tongban::merkle
