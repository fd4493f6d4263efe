// Key files under both suites: modes, refusals and error messages.
#include "common/crypto/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::crypto {
namespace {

SuiteId Other(SuiteId id) { return id == SuiteId::kIntl ? SuiteId::kGm : SuiteId::kIntl; }

using testutil::Contents;
using testutil::ModeOf;
using testutil::WriteFile;

bool Contains(const absl::Status& s, absl::string_view text) {
  return s.message().find(text) != absl::string_view::npos;
}

class KeyFileTest : public testing::TestWithParam<SuiteId> {
 protected:
  const Suite& suite() const { return GetSuite(GetParam()); }
  testutil::ScopedTempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(BothSuites, KeyFileTest, testing::Values(SuiteId::kIntl, SuiteId::kGm),
                         [](const testing::TestParamInfo<SuiteId>& info) {
                           return std::string(SuiteName(info.param));
                         });

TEST_P(KeyFileTest, PrivateKeyRoundTripsWithMode0600) {
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> key, suite().GenerateKey());
  const std::string path = dir_.File("node.key");
  TB_ASSERT_OK(WritePrivateKeyFile(*key, path));
  EXPECT_EQ(ModeOf(path), 0600u);
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> read, ReadPrivateKeyFile(suite(), path));
  EXPECT_EQ(read->public_key().KeyId(), key->public_key().KeyId());
  TB_ASSERT_OK_AND_ASSIGN(std::string sig, read->NewSigner()->Sign("m"));
  TB_EXPECT_OK(suite().NewVerifier(key->public_key())->Verify("m", sig));
}

TEST_P(KeyFileTest, WritingNeverOverwrites) {
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> a, suite().GenerateKey());
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> b, suite().GenerateKey());
  const std::string path = dir_.File("node.key");
  TB_ASSERT_OK(WritePrivateKeyFile(*a, path));
  const std::string before = Contents(path);
  const absl::Status s = WritePrivateKeyFile(*b, path);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_TRUE(Contains(s, path)) << s;
  EXPECT_EQ(Contents(path), before);
  EXPECT_EQ(WritePublicKeyFile(b->public_key(), path).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(GenerateStorageKeyFile(suite(), path).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Contents(path), before);
}

TEST_P(KeyFileTest, SecretsReadableByGroupOrOthersAreRefused) {
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> key, suite().GenerateKey());
  const std::string key_path = dir_.File("node.key");
  const std::string storage_path = dir_.File("storage.key");
  TB_ASSERT_OK(WritePrivateKeyFile(*key, key_path));
  TB_ASSERT_OK(GenerateStorageKeyFile(suite(), storage_path));
  for (mode_t mode : {0640, 0604, 0660, 0602, 0644, 0610, 0601}) {
    for (const std::string& path : {key_path, storage_path}) {
      SCOPED_TRACE(absl::StrFormat("%s %04o", path, mode));
      ASSERT_EQ(::chmod(path.c_str(), mode), 0);
      const absl::Status s = path == key_path ? ReadPrivateKeyFile(suite(), path).status()
                                              : ReadStorageKeyFile(suite(), path).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
      EXPECT_TRUE(Contains(s, path)) << s;
      EXPECT_TRUE(Contains(s, absl::StrFormat("%04o", mode))) << s;
      EXPECT_TRUE(Contains(s, "chmod 600 " + path)) << s;
    }
  }
  // Owner-only modes are fine, including read-only.
  for (mode_t mode : {0600, 0400}) {
    ASSERT_EQ(::chmod(key_path.c_str(), mode), 0);
    TB_EXPECT_OK(ReadPrivateKeyFile(suite(), key_path));
  }
}

TEST_P(KeyFileTest, MissingFileIsNotFoundNamingIt) {
  const std::string path = dir_.File("absent.key");
  for (const absl::Status& s :
       {ReadPrivateKeyFile(suite(), path).status(), ReadPublicKeyFile(suite(), path).status(),
        ReadStorageKeyFile(suite(), path).status()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
    EXPECT_TRUE(Contains(s, path)) << s;
  }
}

TEST_P(KeyFileTest, MalformedPrivateKeyIsInvalidArgumentNamingTheFile) {
  const std::string path = dir_.File("node.key");
  WriteFile(path, "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", 0600);
  absl::Status s = ReadPrivateKeyFile(suite(), path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, path + ": not a PEM private key")) << s;

  // A valid key of the other suite's algorithm.
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> foreign,
                          GetSuite(Other(GetParam())).GenerateKey());
  const std::string foreign_path = dir_.File("foreign.key");
  TB_ASSERT_OK(WritePrivateKeyFile(*foreign, foreign_path));
  s = ReadPrivateKeyFile(suite(), foreign_path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, foreign_path)) << s;

  // A directory is not a key file.
  s = ReadPrivateKeyFile(suite(), dir_.path()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST_P(KeyFileTest, PublicKeyRoundTripsAndIsNotASecret) {
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> key, suite().GenerateKey());
  const std::string path = dir_.File("node.pub");
  TB_ASSERT_OK(WritePublicKeyFile(key->public_key(), path));
  EXPECT_EQ(ModeOf(path), 0644u);
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PublicKey> pub, ReadPublicKeyFile(suite(), path));
  EXPECT_EQ(pub->KeyId(), key->public_key().KeyId());

  const std::string bad = dir_.File("bad.pub");
  WriteFile(bad, "hello\n", 0644);
  const absl::Status s = ReadPublicKeyFile(suite(), bad).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, bad)) << s;
}

TEST_P(KeyFileTest, StorageKeyIsOneLineOfLowerCaseHex) {
  const std::string path = dir_.File("storage.key");
  TB_ASSERT_OK(GenerateStorageKeyFile(suite(), path));
  EXPECT_EQ(ModeOf(path), 0600u);
  const std::string content = Contents(path);
  const size_t hex_chars = 2 * suite().symmetric_key_size();
  EXPECT_EQ(hex_chars, GetParam() == SuiteId::kIntl ? 64u : 32u);
  ASSERT_EQ(content.size(), hex_chars + 1);
  EXPECT_EQ(content.back(), '\n');
  EXPECT_EQ(content.find_first_not_of("0123456789abcdef"), hex_chars);
  TB_ASSERT_OK_AND_ASSIGN(std::string key, ReadStorageKeyFile(suite(), path));
  EXPECT_EQ(key.size(), suite().symmetric_key_size());
  // The key works with the suite's ciphers.
  TB_EXPECT_OK(suite().NewAead(key));
  TB_EXPECT_OK(suite().NewCtrCipher(key));

  const std::string path2 = dir_.File("storage2.key");
  TB_ASSERT_OK(GenerateStorageKeyFile(suite(), path2));
  EXPECT_NE(Contents(path2), content);

  // The trailing newline is optional.
  const std::string bare = dir_.File("bare.key");
  WriteFile(bare, content.substr(0, hex_chars), 0600);
  TB_ASSERT_OK_AND_ASSIGN(std::string bare_key, ReadStorageKeyFile(suite(), bare));
  EXPECT_EQ(bare_key, key);
}

TEST_P(KeyFileTest, MalformedStorageKeyIsInvalidArgumentWithoutEchoingIt) {
  const size_t n = 2 * suite().symmetric_key_size();
  const std::string good(n, 'a');
  const std::string other_size(2 * GetSuite(Other(GetParam())).symmetric_key_size(), 'b');
  const std::string cases[] = {
      "",
      "\n",
      good.substr(1) + "\n",
      good + "a\n",
      std::string(n, 'A') + "\n",  // upper case
      good.substr(1) + "g\n",
      good + "\n\n",
      good + " \n",
      " " + good,
      good + "\r\n",
      other_size + "\n",
  };
  int i = 0;
  for (const std::string& content : cases) {
    const std::string path = dir_.File("bad" + std::to_string(i++) + ".key");
    WriteFile(path, content, 0600);
    const absl::Status s = ReadStorageKeyFile(suite(), path).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << path << ": " << s;
    EXPECT_TRUE(Contains(s, path)) << s;
    if (content.size() > 4) {
      EXPECT_FALSE(Contains(s, content.substr(0, 8))) << "echoes the key: " << s;
    }
  }
}

}  // namespace
}  // namespace tongban::crypto

namespace tongban::crypto {
namespace {

// Root replacing a file another user owns (tongbanctl operator add on the
// daemon's accounts file) leaves it to that user, with the new mode.
TEST(ReplaceFileTest, RootKeepsTheOwnerOfTheFileItReplaces) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root can give a file away";
  testutil::ScopedTempDir dir;
  const std::string path = dir.File("accounts");
  TB_ASSERT_OK(ReplaceFileAtomically(path, "v1\n", 0600));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);  // a new file is the writer's
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  TB_ASSERT_OK(ReplaceFileAtomically(path, "v2\n", 0600));
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(testutil::Contents(path), "v2\n");
}

}  // namespace
}  // namespace tongban::crypto
