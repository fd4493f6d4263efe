// Behaviour of both suites: every test runs under intl and gm.
#include "common/crypto/suite.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <random>
#include <string>
#include <vector>

#include "common/hex.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::crypto {
namespace {

SuiteId Other(SuiteId id) { return id == SuiteId::kIntl ? SuiteId::kGm : SuiteId::kIntl; }

std::string Unhex(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

std::string PseudoRandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

TEST(SuiteIdTest, ParsesAndNamesBothSuites) {
  TB_ASSERT_OK_AND_ASSIGN(SuiteId intl, ParseSuiteId("intl"));
  EXPECT_EQ(intl, SuiteId::kIntl);
  TB_ASSERT_OK_AND_ASSIGN(SuiteId gm, ParseSuiteId("gm"));
  EXPECT_EQ(gm, SuiteId::kGm);
  EXPECT_EQ(SuiteName(SuiteId::kIntl), "intl");
  EXPECT_EQ(SuiteName(SuiteId::kGm), "gm");
  EXPECT_EQ(GetSuite(SuiteId::kGm).name(), "gm");
  EXPECT_EQ(&GetSuite(SuiteId::kIntl), &GetSuite(SuiteId::kIntl));
}

TEST(SuiteIdTest, UnknownNameIsInvalidArgumentNamingIt) {
  const absl::Status s = ParseSuiteId("GM").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("\"GM\""), absl::string_view::npos) << s;
}

TEST(RandomBytesTest, GivesFreshBytesOfTheRequestedLength) {
  TB_ASSERT_OK_AND_ASSIGN(std::string a, RandomBytes(32));
  TB_ASSERT_OK_AND_ASSIGN(std::string b, RandomBytes(32));
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  TB_ASSERT_OK_AND_ASSIGN(std::string empty, RandomBytes(0));
  EXPECT_TRUE(empty.empty());
}

class SuiteTest : public testing::TestWithParam<SuiteId> {
 protected:
  const Suite& suite() const { return GetSuite(GetParam()); }
  const Suite& other() const { return GetSuite(Other(GetParam())); }

  std::unique_ptr<PrivateKey> NewKey() const {
    absl::StatusOr<std::unique_ptr<PrivateKey>> key = suite().GenerateKey();
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? std::move(*key) : nullptr;
  }
};

INSTANTIATE_TEST_SUITE_P(BothSuites, SuiteTest, testing::Values(SuiteId::kIntl, SuiteId::kGm),
                         [](const testing::TestParamInfo<SuiteId>& info) {
                           return std::string(SuiteName(info.param));
                         });

// ---------------------------------------------------------------- hashing

TEST_P(SuiteTest, HashOfPartsIsHashOfConcatenation) {
  std::unique_ptr<Hasher> hasher = suite().NewHasher();
  const Digest whole = hasher->Hash("hello, world");
  const absl::string_view parts[] = {"hel", "", "lo, ", "world"};
  EXPECT_EQ(hasher->Hash(parts), whole);
  // The context is reused: the same input gives the same digest again.
  EXPECT_EQ(hasher->Hash("hello, world"), whole);
  EXPECT_NE(hasher->Hash("hello, world!"), whole);
  // The two suites hash differently.
  EXPECT_NE(other().NewHasher()->Hash("hello, world"), whole);
}

// ---------------------------------------------------------------- signatures

TEST_P(SuiteTest, SignaturesVerifyAndTamperingFails) {
  std::unique_ptr<PrivateKey> key = NewKey();
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->suite(), GetParam());
  EXPECT_EQ(key->public_key().suite(), GetParam());
  std::unique_ptr<Signer> signer = key->NewSigner();
  std::unique_ptr<Verifier> verifier = suite().NewVerifier(key->public_key());
  const std::vector<std::string> messages = {"", "a", "tongban event body",
                                             PseudoRandomBytes(100000, 1)};
  // One Signer and one Verifier serve many calls (contexts are re-initialised).
  for (int round = 0; round < 3; ++round) {
    for (const std::string& m : messages) {
      SCOPED_TRACE(m.size());
      TB_ASSERT_OK_AND_ASSIGN(std::string sig, signer->Sign(m));
      TB_EXPECT_OK(verifier->Verify(m, sig));

      std::string altered_message = m + "x";
      EXPECT_EQ(verifier->Verify(altered_message, sig).code(), absl::StatusCode::kInvalidArgument);
      if (!m.empty()) {
        altered_message = m;
        altered_message[m.size() / 2] ^= 0x01;
        EXPECT_EQ(verifier->Verify(altered_message, sig).code(),
                  absl::StatusCode::kInvalidArgument);
      }
      for (size_t i : {size_t{0}, sig.size() / 2, sig.size() - 1}) {
        std::string altered = sig;
        altered[i] ^= 0x04;
        EXPECT_EQ(verifier->Verify(m, altered).code(), absl::StatusCode::kInvalidArgument)
            << "byte " << i;
      }
      EXPECT_EQ(verifier->Verify(m, sig.substr(0, sig.size() - 1)).code(),
                absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(verifier->Verify(m, sig + '\0').code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(verifier->Verify(m, "").code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST_P(SuiteTest, AnotherKeysSignatureFails) {
  std::unique_ptr<PrivateKey> a = NewKey();
  std::unique_ptr<PrivateKey> b = NewKey();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->public_key().KeyId(), b->public_key().KeyId());
  TB_ASSERT_OK_AND_ASSIGN(std::string sig, a->NewSigner()->Sign("checkpoint"));
  EXPECT_EQ(suite().NewVerifier(b->public_key())->Verify("checkpoint", sig).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(SuiteTest, VerifierOfTheOtherSuiteRejectsItsKeys) {
  std::unique_ptr<PrivateKey> key = NewKey();
  ASSERT_NE(key, nullptr);
  TB_ASSERT_OK_AND_ASSIGN(std::string sig, key->NewSigner()->Sign("m"));
  const absl::Status s = other().NewVerifier(key->public_key())->Verify("m", sig);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

// ---------------------------------------------------------------- keys

TEST_P(SuiteTest, KeyIdIsFirstEightBytesOfSuiteHashOfSpki) {
  std::unique_ptr<PrivateKey> key = NewKey();
  ASSERT_NE(key, nullptr);
  const std::string spki = key->public_key().SpkiDer();
  const Digest d = suite().NewHasher()->Hash(spki);
  EXPECT_EQ(key->public_key().KeyId(), HexEncode(AsStringView(d).substr(0, 8)));
  EXPECT_EQ(key->public_key().KeyId().size(), 16u);
}

TEST_P(SuiteTest, KeysRoundTripThroughPemAndDer) {
  std::unique_ptr<PrivateKey> key = NewKey();
  ASSERT_NE(key, nullptr);
  const std::string pem = key->Pem();
  EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u) << pem;

  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> parsed, suite().PrivateKeyFromPem(pem));
  EXPECT_EQ(parsed->public_key().SpkiDer(), key->public_key().SpkiDer());
  EXPECT_EQ(parsed->public_key().KeyId(), key->public_key().KeyId());
  EXPECT_EQ(parsed->Pem(), pem);

  const std::string pub_pem = key->public_key().Pem();
  EXPECT_EQ(pub_pem.rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u) << pub_pem;
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PublicKey> pub, suite().PublicKeyFromPem(pub_pem));
  EXPECT_EQ(pub->KeyId(), key->public_key().KeyId());
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PublicKey> pub2,
                          suite().PublicKeyFromSpkiDer(key->public_key().SpkiDer()));
  EXPECT_EQ(pub2->Pem(), pub_pem);

  // A signature by the parsed key verifies with the parsed public keys.
  TB_ASSERT_OK_AND_ASSIGN(std::string sig, parsed->NewSigner()->Sign("round trip"));
  TB_EXPECT_OK(suite().NewVerifier(*pub)->Verify("round trip", sig));
  TB_EXPECT_OK(suite().NewVerifier(*pub2)->Verify("round trip", sig));
}

TEST_P(SuiteTest, KeysOfTheOtherAlgorithmAreRejectedNamingBoth) {
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> foreign, other().GenerateKey());
  const char* mine = GetParam() == SuiteId::kIntl ? "ED25519" : "SM2";
  const char* theirs = GetParam() == SuiteId::kIntl ? "SM2" : "ED25519";
  for (const absl::Status& s :
       {suite().PrivateKeyFromPem(foreign->Pem()).status(),
        suite().PublicKeyFromPem(foreign->public_key().Pem()).status(),
        suite().PublicKeyFromSpkiDer(foreign->public_key().SpkiDer()).status()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(mine), absl::string_view::npos) << s;
    EXPECT_NE(s.message().find(theirs), absl::string_view::npos) << s;
  }
}

TEST_P(SuiteTest, MalformedKeysAreInvalidArgument) {
  std::unique_ptr<PrivateKey> key = NewKey();
  ASSERT_NE(key, nullptr);
  const std::string pem = key->Pem();
  const std::string der = key->public_key().SpkiDer();
  const std::vector<std::string> bad_pems = {
      "", "garbage", pem.substr(0, pem.size() / 2),
      key->public_key().Pem(),  // a public key is not a private key
  };
  for (const std::string& p : bad_pems) {
    EXPECT_EQ(suite().PrivateKeyFromPem(p).status().code(), absl::StatusCode::kInvalidArgument)
        << p;
  }
  EXPECT_EQ(suite().PublicKeyFromPem("garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(suite().PublicKeyFromPem(pem).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(suite().PublicKeyFromSpkiDer("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(suite().PublicKeyFromSpkiDer(der.substr(0, der.size() - 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(suite().PublicKeyFromSpkiDer(der + '\0').status().code(),
            absl::StatusCode::kInvalidArgument);
  // An encrypted PKCS#8 file is refused rather than prompting for a password.
  const std::string encrypted =
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAc\n"
      "-----END ENCRYPTED PRIVATE KEY-----\n";
  EXPECT_EQ(suite().PrivateKeyFromPem(encrypted).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(SuiteTest, RawPrivateKeysAreDeterministic) {
  const std::string raw = PseudoRandomBytes(32, 7);
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> a, suite().PrivateKeyFromRaw(raw));
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> b, suite().PrivateKeyFromRaw(raw));
  EXPECT_EQ(a->public_key().SpkiDer(), b->public_key().SpkiDer());
  TB_ASSERT_OK_AND_ASSIGN(std::string sig, a->NewSigner()->Sign("raw"));
  TB_EXPECT_OK(suite().NewVerifier(b->public_key())->Verify("raw", sig));
  EXPECT_EQ(suite().PrivateKeyFromRaw(raw.substr(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(suite().PrivateKeyFromRaw(raw + "x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GmSuiteTest, Sm2ScalarOutOfRangeIsInvalidArgument) {
  const Suite& gm = GetSuite(SuiteId::kGm);
  const std::string n_minus_1 =
      Unhex("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54122");
  const std::string n_minus_2 =
      Unhex("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54121");
  EXPECT_EQ(gm.PrivateKeyFromRaw(std::string(32, '\0')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gm.PrivateKeyFromRaw(n_minus_1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gm.PrivateKeyFromRaw(std::string(32, '\xff')).status().code(),
            absl::StatusCode::kInvalidArgument);
  TB_EXPECT_OK(gm.PrivateKeyFromRaw(n_minus_2));
  TB_EXPECT_OK(gm.PrivateKeyFromRaw(std::string(31, '\0') + '\x01'));
}

// SM2 signatures must use the default ID "1234567812345678" (GB/T 35276).
// Cross-check against OpenSSL used directly with the ID set explicitly.
class Sm2DefaultIdTest : public testing::Test {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(key_, GetSuite(SuiteId::kGm).GenerateKey());
    const std::string pem = key_->Pem();
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    pkey_ = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    ASSERT_NE(pkey_, nullptr);
  }
  void TearDown() override { EVP_PKEY_free(pkey_); }

  std::string OpenSslSign(absl::string_view id, absl::string_view message) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    std::string sig(128, '\0');
    size_t len = sig.size();
    const bool ok =
        EVP_DigestSignInit_ex(ctx, &pctx, "SM3", nullptr, nullptr, pkey_, nullptr) == 1 &&
        EVP_PKEY_CTX_set1_id(pctx, id.data(), id.size()) == 1 &&
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EXPECT_TRUE(ok);
    sig.resize(len);
    return sig;
  }

  bool OpenSslVerify(absl::string_view id, absl::string_view message, absl::string_view sig) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    const bool ok =
        EVP_DigestVerifyInit_ex(ctx, &pctx, "SM3", nullptr, nullptr, pkey_, nullptr) == 1 &&
        EVP_PKEY_CTX_set1_id(pctx, id.data(), id.size()) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(message.data()),
                         message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
  }

  std::unique_ptr<PrivateKey> key_;
  EVP_PKEY* pkey_ = nullptr;
};

TEST_F(Sm2DefaultIdTest, SignatureWithExplicitDefaultIdVerifies) {
  std::unique_ptr<Verifier> verifier = GetSuite(SuiteId::kGm).NewVerifier(key_->public_key());
  TB_EXPECT_OK(verifier->Verify("msg", OpenSslSign("1234567812345678", "msg")));
  EXPECT_EQ(verifier->Verify("msg", OpenSslSign("ALICE123@YAHOO.COM", "msg")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(verifier->Verify("msg", OpenSslSign("", "msg")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(Sm2DefaultIdTest, OurSignatureVerifiesOnlyWithTheDefaultId) {
  TB_ASSERT_OK_AND_ASSIGN(std::string sig, key_->NewSigner()->Sign("msg"));
  EXPECT_TRUE(OpenSslVerify("1234567812345678", "msg", sig));
  EXPECT_FALSE(OpenSslVerify("ALICE123@YAHOO.COM", "msg", sig));
  // DER as OpenSSL produces: SEQUENCE { INTEGER r, INTEGER s }.
  ASSERT_GE(sig.size(), 8u);
  EXPECT_EQ(sig[0], '\x30');
  EXPECT_EQ(static_cast<size_t>(static_cast<unsigned char>(sig[1])), sig.size() - 2);
}

// OpenSSL errors are turned into Status and never left on the thread's queue,
// where they would be misreported by the next unrelated OpenSSL call.
TEST_P(SuiteTest, OpenSslErrorQueueIsLeftEmpty) {
  ERR_clear_error();
  std::unique_ptr<PrivateKey> key = NewKey();
  ASSERT_NE(key, nullptr);
  TB_ASSERT_OK_AND_ASSIGN(std::string sig, key->NewSigner()->Sign("m"));
  std::unique_ptr<Verifier> verifier = suite().NewVerifier(key->public_key());
  TB_EXPECT_OK(verifier->Verify("m", sig));
  EXPECT_FALSE(verifier->Verify("m", "not a signature").ok());
  EXPECT_FALSE(verifier->Verify("n", sig).ok());
  TB_EXPECT_OK(suite().PrivateKeyFromPem(key->Pem()));
  TB_EXPECT_OK(suite().PublicKeyFromPem(key->public_key().Pem()));
  TB_EXPECT_OK(suite().PublicKeyFromSpkiDer(key->public_key().SpkiDer()));
  EXPECT_FALSE(suite().PrivateKeyFromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n").ok());
  EXPECT_FALSE(suite().PublicKeyFromPem("junk").ok());
  EXPECT_FALSE(suite().PublicKeyFromSpkiDer("junk").ok());
  EXPECT_FALSE(other().PrivateKeyFromPem(key->Pem()).ok());
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Aead> aead,
                          suite().NewAead(std::string(suite().symmetric_key_size(), 'k')));
  TB_ASSERT_OK_AND_ASSIGN(std::string sealed, aead->Seal("p", "a"));
  sealed[13] ^= 1;
  EXPECT_FALSE(aead->Open(sealed, "a").ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// ---------------------------------------------------------------- AEAD

TEST_P(SuiteTest, AeadRoundTripsAndUsesFreshNonces) {
  TB_ASSERT_OK_AND_ASSIGN(std::string key, RandomBytes(suite().symmetric_key_size()));
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Aead> aead, suite().NewAead(key));
  for (const std::string& pt : {std::string(), std::string("x"), PseudoRandomBytes(15, 1),
                                PseudoRandomBytes(16, 2), PseudoRandomBytes(100001, 3)}) {
    for (const std::string& aad : {std::string(), std::string("event 620102/1/7")}) {
      SCOPED_TRACE(pt.size());
      TB_ASSERT_OK_AND_ASSIGN(std::string sealed, aead->Seal(pt, aad));
      EXPECT_EQ(sealed.size(), 12 + pt.size() + 16);
      TB_ASSERT_OK_AND_ASSIGN(std::string opened, aead->Open(sealed, aad));
      EXPECT_EQ(opened, pt);
      TB_ASSERT_OK_AND_ASSIGN(std::string sealed2, aead->Seal(pt, aad));
      EXPECT_NE(sealed.substr(0, 12), sealed2.substr(0, 12));
    }
  }
}

TEST_P(SuiteTest, AeadOpenFailuresAreInvalidArgument) {
  TB_ASSERT_OK_AND_ASSIGN(std::string key, RandomBytes(suite().symmetric_key_size()));
  TB_ASSERT_OK_AND_ASSIGN(std::string key2, RandomBytes(suite().symmetric_key_size()));
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Aead> aead, suite().NewAead(key));
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Aead> wrong, suite().NewAead(key2));
  const std::string pt = "personal record payload";
  TB_ASSERT_OK_AND_ASSIGN(std::string sealed, aead->Seal(pt, "aad"));
  auto expect_invalid = [&](Aead& a, absl::string_view input, absl::string_view aad,
                            const std::string& what) {
    const absl::Status s = a.Open(input, aad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << what << ": " << s;
  };
  expect_invalid(*wrong, sealed, "aad", "wrong key");
  expect_invalid(*aead, sealed, "aae", "wrong aad");
  expect_invalid(*aead, sealed, "", "missing aad");
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string flipped = sealed;
    flipped[i] ^= 0x20;
    expect_invalid(*aead, flipped, "aad", "flipped byte " + std::to_string(i));
  }
  expect_invalid(*aead, sealed.substr(0, sealed.size() - 1), "aad", "truncated by one");
  expect_invalid(*aead, sealed.substr(0, 27), "aad", "shorter than nonce and tag");
  expect_invalid(*aead, "", "aad", "empty");
  expect_invalid(*aead, sealed + "x", "aad", "extended");
  // The context is still good after failures.
  TB_ASSERT_OK_AND_ASSIGN(std::string opened, aead->Open(sealed, "aad"));
  EXPECT_EQ(opened, pt);
}

TEST_P(SuiteTest, AeadRejectsBadKeyAndNonceSizes) {
  EXPECT_EQ(suite().NewAead(std::string(suite().symmetric_key_size() - 1, 'k')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(suite().NewAead(std::string(other().symmetric_key_size(), 'k')).status().code(),
            absl::StatusCode::kInvalidArgument);
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Aead> aead,
                          suite().NewAead(std::string(suite().symmetric_key_size(), 'k')));
  EXPECT_EQ(aead->SealWithNonceForTest(std::string(11, 'n'), "p", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  TB_ASSERT_OK_AND_ASSIGN(std::string sealed,
                          aead->SealWithNonceForTest(std::string(12, 'n'), "p", ""));
  EXPECT_EQ(sealed.substr(0, 12), std::string(12, 'n'));
}

// ---------------------------------------------------------------- CTR

// `iv` + `blocks` as a 128-bit big-endian number, mod 2^128.
std::string AddToCounter(std::string iv, uint64_t blocks) {
  unsigned carry = 0;
  for (int i = 15; i >= 0; --i) {
    const unsigned sum = static_cast<unsigned char>(iv[i]) + (blocks & 0xff) + carry;
    iv[i] = static_cast<char>(sum & 0xff);
    carry = sum >> 8;
    blocks >>= 8;
  }
  return iv;
}

TEST_P(SuiteTest, CtrAtAnyOffsetEqualsSliceOfWholeStream) {
  TB_ASSERT_OK_AND_ASSIGN(std::string key, RandomBytes(suite().symmetric_key_size()));
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CtrCipher> ctr, suite().NewCtrCipher(key));
  const std::string iv = PseudoRandomBytes(16, 11);
  const std::string plain = PseudoRandomBytes(200, 12);
  std::string whole = plain;
  TB_ASSERT_OK(ctr->Apply(iv, 0, whole.data(), whole.size()));
  EXPECT_NE(whole, plain);
  for (size_t offset : {0, 1, 7, 15, 16, 17, 31, 33, 100, 199}) {
    for (size_t len : {0, 1, 5, 16, 17, 40}) {
      if (offset + len > plain.size()) continue;
      std::string part = plain.substr(offset, len);
      TB_ASSERT_OK(ctr->Apply(iv, offset, part.data(), part.size()));
      EXPECT_EQ(part, whole.substr(offset, len)) << "offset " << offset << " len " << len;
    }
  }
  // Applying again decrypts.
  TB_ASSERT_OK(ctr->Apply(iv, 0, whole.data(), whole.size()));
  EXPECT_EQ(whole, plain);
}

TEST_P(SuiteTest, CtrCounterCarriesAcrossTheWhole128BitBlock) {
  TB_ASSERT_OK_AND_ASSIGN(std::string key, RandomBytes(suite().symmetric_key_size()));
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CtrCipher> ctr, suite().NewCtrCipher(key));
  const std::vector<std::string> ivs = {
      Unhex("0000000000000000ffffffffffffffff"),  // carry into the high 64 bits
      Unhex("00000000fffffffffffffffffffffffe"),  // carry across many bytes
      Unhex("ffffffffffffffffffffffffffffffff"),  // wraps to zero
      Unhex("0123456789abcdef00000000fffffffe"),  // GCM-style 32-bit boundary
  };
  for (const std::string& iv : ivs) {
    SCOPED_TRACE(HexEncode(iv));
    // The stream from `iv`, 4 blocks long...
    std::string stream(64, '\0');
    TB_ASSERT_OK(ctr->Apply(iv, 0, stream.data(), stream.size()));
    for (uint64_t block = 0; block < 4; ++block) {
      // ...block i is the first key-stream block of counter iv + i.
      std::string ks(16, '\0');
      TB_ASSERT_OK(ctr->Apply(AddToCounter(iv, block), 0, ks.data(), ks.size()));
      EXPECT_EQ(HexEncode(stream.substr(block * 16, 16)), HexEncode(ks)) << "block " << block;
    }
    // And an unaligned offset past the carry lands in the right block.
    std::string tail(20, '\0');
    TB_ASSERT_OK(ctr->Apply(iv, 37, tail.data(), tail.size()));
    EXPECT_EQ(tail, stream.substr(37, 20));
  }
  // Offsets far into a file.
  const std::string iv = Unhex("000102030405060708090a0b0c0d0e0f");
  const uint64_t far = (uint64_t{1} << 40) + 5;
  std::string a(30, '\0');
  TB_ASSERT_OK(ctr->Apply(iv, far, a.data(), a.size()));
  std::string b(35, '\0');
  TB_ASSERT_OK(ctr->Apply(AddToCounter(iv, far / 16), 0, b.data(), b.size()));
  EXPECT_EQ(a, b.substr(5));
}

TEST_P(SuiteTest, CtrRejectsBadKeyAndIvSizes) {
  EXPECT_EQ(suite().NewCtrCipher("short").status().code(), absl::StatusCode::kInvalidArgument);
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CtrCipher> ctr,
                          suite().NewCtrCipher(std::string(suite().symmetric_key_size(), 'k')));
  char data[4] = {};
  EXPECT_EQ(ctr->Apply(std::string(15, 'i'), 0, data, sizeof(data)).code(),
            absl::StatusCode::kInvalidArgument);
  TB_EXPECT_OK(ctr->Apply(std::string(16, 'i'), 0, nullptr, 0));
}

}  // namespace
}  // namespace tongban::crypto
