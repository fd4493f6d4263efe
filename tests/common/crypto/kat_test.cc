// Known-answer tests: published vectors for every primitive of both suites.
// Each vector names its source.
#include <openssl/evp.h>

#include <string>

#include "common/crypto/suite.h"
#include "common/hex.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::crypto {
namespace {

std::string Unhex(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

std::string HashHex(SuiteId id, absl::string_view data) {
  std::unique_ptr<Hasher> hasher = GetSuite(id).NewHasher();
  return HexEncode(AsStringView(hasher->Hash(data)));
}

// ---------------------------------------------------------------- hashes

// FIPS 180-2 Appendix B.1, B.2, and the well-known empty-message digest.
TEST(IntlKatTest, Sha256Fips180Examples) {
  EXPECT_EQ(HashHex(SuiteId::kIntl, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashHex(SuiteId::kIntl, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(HashHex(SuiteId::kIntl, ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// GB/T 32905-2016 Appendix A, examples 1 and 2.
TEST(GmKatTest, Sm3GbT32905Examples) {
  EXPECT_EQ(HashHex(SuiteId::kGm, "abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
  std::string abcd16;
  for (int i = 0; i < 16; ++i) abcd16 += "abcd";
  EXPECT_EQ(HashHex(SuiteId::kGm, abcd16),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
}

// ---------------------------------------------------------------- Ed25519

struct Ed25519Vector {
  const char* name;
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 section 7.1, TEST 1, TEST 2 and TEST 3.
constexpr Ed25519Vector kRfc8032[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
     "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
     "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
     "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST(IntlKatTest, Ed25519Rfc8032Section71) {
  const Suite& suite = GetSuite(SuiteId::kIntl);
  for (const Ed25519Vector& v : kRfc8032) {
    SCOPED_TRACE(v.name);
    TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> key,
                            suite.PrivateKeyFromRaw(Unhex(v.seed)));
    // An Ed25519 SPKI is a fixed 12-byte prefix and the 32-byte key.
    const std::string spki = key->public_key().SpkiDer();
    ASSERT_EQ(spki.size(), 44u);
    EXPECT_EQ(HexEncode(spki.substr(12)), v.public_key);

    const std::string message = Unhex(v.message);
    TB_ASSERT_OK_AND_ASSIGN(std::string sig, key->NewSigner()->Sign(message));
    EXPECT_EQ(HexEncode(sig), v.signature);

    // The published public key, parsed on its own, verifies the published signature.
    TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PublicKey> pub,
                            suite.PublicKeyFromSpkiDer(spki.substr(0, 12) + Unhex(v.public_key)));
    std::unique_ptr<Verifier> verifier = suite.NewVerifier(*pub);
    TB_EXPECT_OK(verifier->Verify(message, Unhex(v.signature)));
    EXPECT_EQ(verifier->Verify(message + "x", Unhex(v.signature)).code(),
              absl::StatusCode::kInvalidArgument);
    std::string altered = Unhex(v.signature);
    altered[7] ^= 0x01;
    EXPECT_EQ(verifier->Verify(message, altered).code(), absl::StatusCode::kInvalidArgument);
  }
}

// ---------------------------------------------------------------- SM2

// GM/T 0003.5-2012 (= GB/T 32918.5-2017) Appendix A: SM2 signature on the
// recommended curve with SM3 and the default ID "1234567812345678",
// message "message digest" (the signer used k = 59276E27...DEAC1BC21).
constexpr char kSm2Private[] = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";
constexpr char kSm2PublicX[] = "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020";
constexpr char kSm2PublicY[] = "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13";
constexpr char kSm2R[] = "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3";
constexpr char kSm2S[] = "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa";

// DER SEQUENCE { INTEGER r, INTEGER s } for these r and s (both have the top
// bit set, so each INTEGER gets a leading zero byte).
std::string Sm2ExampleSignatureDer() {
  return Unhex(std::string("3046") + "022100" + kSm2R + "022100" + kSm2S);
}

TEST(GmKatTest, Sm2PublishedSignatureVerifiesWithDefaultId) {
  const Suite& suite = GetSuite(SuiteId::kGm);
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PrivateKey> key,
                          suite.PrivateKeyFromRaw(Unhex(kSm2Private)));
  // The SPKI ends in the uncompressed point 04 || x || y.
  const std::string spki = key->public_key().SpkiDer();
  ASSERT_GT(spki.size(), 65u);
  EXPECT_EQ(HexEncode(spki.substr(spki.size() - 65)),
            std::string("04") + kSm2PublicX + kSm2PublicY);

  std::unique_ptr<Verifier> verifier = suite.NewVerifier(key->public_key());
  TB_EXPECT_OK(verifier->Verify("message digest", Sm2ExampleSignatureDer()));
  EXPECT_EQ(verifier->Verify("message digesu", Sm2ExampleSignatureDer()).code(),
            absl::StatusCode::kInvalidArgument);
  std::string altered = Sm2ExampleSignatureDer();
  altered[10] ^= 0x01;
  EXPECT_EQ(verifier->Verify("message digest", altered).code(), absl::StatusCode::kInvalidArgument);

  // Our own signatures (random k) over the same message verify too.
  TB_ASSERT_OK_AND_ASSIGN(std::string sig, key->NewSigner()->Sign("message digest"));
  TB_EXPECT_OK(verifier->Verify("message digest", sig));
}

// ---------------------------------------------------------------- AEAD

struct AeadVector {
  const char* name;
  SuiteId suite;
  const char* key;
  const char* nonce;
  const char* aad;
  const char* plaintext;
  const char* ciphertext;
  const char* tag;
};

constexpr AeadVector kAeadVectors[] = {
    // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 15.
    {"GCM spec test case 15", SuiteId::kIntl,
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e"
     "2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b"
     "1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    // Same paper, test case 16 (60-byte plaintext, with AAD).
    {"GCM spec test case 16", SuiteId::kIntl,
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e"
     "2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b"
     "1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    // RFC 8998 Appendix A.1, SM4-GCM.
    {"RFC 8998 A.1", SuiteId::kGm, "0123456789abcdeffedcba9876543210", "00001234567800000000abcd",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccddddddddddddddddeeeeeeeeeeeeeeeeffffff"
     "ffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
     "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735d82710ca5c22f0ccfa7cbf"
     "93d496ac15a56834cbcf98c397b4024a2691233b8d",
     "83de3541e4c2b58177e065a9bf7b62ec"},
};

TEST(AeadKatTest, PublishedGcmVectors) {
  for (const AeadVector& v : kAeadVectors) {
    SCOPED_TRACE(v.name);
    TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Aead> aead, GetSuite(v.suite).NewAead(Unhex(v.key)));
    const std::string want = Unhex(v.nonce) + Unhex(v.ciphertext) + Unhex(v.tag);
    TB_ASSERT_OK_AND_ASSIGN(
        std::string sealed,
        aead->SealWithNonceForTest(Unhex(v.nonce), Unhex(v.plaintext), Unhex(v.aad)));
    EXPECT_EQ(HexEncode(sealed), HexEncode(want));
    TB_ASSERT_OK_AND_ASSIGN(std::string opened, aead->Open(want, Unhex(v.aad)));
    EXPECT_EQ(HexEncode(opened), v.plaintext);
    std::string tampered = want;
    tampered[20] ^= 0x80;
    EXPECT_EQ(aead->Open(tampered, Unhex(v.aad)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// ---------------------------------------------------------------- CTR

TEST(IntlKatTest, Aes256CtrSp800_38aF55) {
  // NIST SP 800-38A F.5.5 CTR-AES256.Encrypt.
  TB_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<CtrCipher> ctr,
      GetSuite(SuiteId::kIntl)
          .NewCtrCipher(Unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")));
  std::string data = Unhex(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc119"
      "1a0a52eff69f2445df4f9b17ad2b417be66c3710");
  TB_ASSERT_OK(ctr->Apply(Unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"), 0, data.data(), data.size()));
  EXPECT_EQ(HexEncode(data),
            "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c52b0930daa23de94ce870"
            "17ba2d84988ddfc9c58db67aada613c2dd08457941a6");
}

TEST(GmKatTest, Sm4CtrDraftRiboseExample) {
  // draft-ribose-cfrg-sm4 (SM4-CTR example), as carried in OpenSSL's
  // test/recipes/30-test_evp_data/evpciph_sm4.txt.
  TB_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<CtrCipher> ctr,
      GetSuite(SuiteId::kGm).NewCtrCipher(Unhex("0123456789abcdeffedcba9876543210")));
  std::string data = Unhex(
      "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccddddddddddddddddeeeeeeeeeeeeeeeeffffff"
      "ffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa");
  TB_ASSERT_OK(ctr->Apply(Unhex("0123456789abcdeffedcba9876543210"), 0, data.data(), data.size()));
  EXPECT_EQ(HexEncode(data),
            "c2b4759e78ac3cf43d0852f4e8d5f9fd7256e8a5fcb65a350ee00630912e44492a0b17e1b85b060d0fba"
            "612d8a95831638b361fd5ffacd942f081485a83ca35d");
}

TEST(GmKatTest, Sm4BlockGbT32907Example1) {
  // GB/T 32907-2016 example 1: key = plaintext = 0123456789abcdeffedcba9876543210
  // encrypts to 681edf34d206965e86b3e94f536e4246. The first CTR key-stream
  // block is E(K, iv), so CTR over zeros with iv = that plaintext yields it.
  TB_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<CtrCipher> ctr,
      GetSuite(SuiteId::kGm).NewCtrCipher(Unhex("0123456789abcdeffedcba9876543210")));
  std::string block(16, '\0');
  TB_ASSERT_OK(
      ctr->Apply(Unhex("0123456789abcdeffedcba9876543210"), 0, block.data(), block.size()));
  EXPECT_EQ(HexEncode(block), "681edf34d206965e86b3e94f536e4246");
}

}  // namespace
}  // namespace tongban::crypto
