// The two crypto suites on OpenSSL 3 EVP.
//
// Algorithms are fetched once per object (EVP_MD_fetch, EVP_CIPHER_fetch) and
// contexts are reused: a Hasher re-inits its EVP_MD_CTX with
// EVP_DigestInit_ex2, a Signer or Verifier resets and re-inits its one
// EVP_MD_CTX per call, an Aead keeps keyed cipher contexts and only sets a
// new nonce per message.
//
// SM2 signatures always use the GB/T 32918 default distinguishing ID
// "1234567812345678", set explicitly on every operation: OpenSSL 3.0 does not
// default to it, and signatures made with another ID do not verify.
//
// OpenSSL 3.0 has no SM4-GCM, so the gm suite's Aead is GCM (NIST SP 800-38D)
// built from OpenSSL's SM4-ECB (hash subkey and tag mask), SM4-CTR (the
// payload) and our constant-time GHASH (ghash.h). It is checked against the
// RFC 8998 test vector. The 12-byte nonce makes GCM's 32-bit counter start at
// 2; OpenSSL's CTR increments the whole 128-bit block, which is identical as
// long as the low 32 bits never wrap, so plaintexts are limited to GCM's own
// maximum of 2^32 - 2 blocks.
#include "common/crypto/suite.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/crypto/ghash.h"
#include "common/crypto/openssl_util.h"
#include "common/hex.h"
#include "common/status_macros.h"

namespace tongban::crypto {
namespace {

using internal::BignumPtr;
using internal::BioPtr;
using internal::BnCtxPtr;
using internal::Bytes;
using internal::Cleanse;
using internal::EcGroupPtr;
using internal::EcPointPtr;
using internal::EvpCipherCtxPtr;
using internal::EvpCipherPtr;
using internal::EvpMdCtxPtr;
using internal::EvpMdPtr;
using internal::EvpPkeyCtxPtr;
using internal::EvpPkeyPtr;
using internal::MutableBytes;
using internal::OpenSslError;
using internal::OpenSslFatal;
using internal::OpenSslInternal;
using internal::ParamBldPtr;
using internal::ParamPtr;
using internal::SecretString;

constexpr absl::string_view kSm2DefaultId = "1234567812345678";
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kBlockSize = 16;
// EVP update calls take an int length; larger inputs go in chunks.
constexpr size_t kMaxChunk = size_t{1} << 30;

// What distinguishes the two suites.
struct SuiteSpec {
  SuiteId id;
  const char* digest;       // the suite hash
  const char* key_type;     // EVP_PKEY type of signing keys
  const char* sign_digest;  // digest inside the signature; null for Ed25519
  const char* gcm;          // OpenSSL GCM cipher, or null: software GCM on `ecb`
  const char* ecb;          // block cipher for the software GCM
  const char* ctr;          // counter mode for encryption at rest
  size_t key_size;          // symmetric key bytes
};

constexpr SuiteSpec kIntlSpec = {SuiteId::kIntl, "SHA256", "ED25519",     nullptr,
                                 "AES-256-GCM",  nullptr,  "AES-256-CTR", 32};
constexpr SuiteSpec kGmSpec = {SuiteId::kGm, "SM3",     "SM2",     "SM3",
                               nullptr,      "SM4-ECB", "SM4-CTR", 16};

bool IsSm2(const SuiteSpec& spec) { return spec.id == SuiteId::kGm; }

// ---------------------------------------------------------------- Hasher

class EvpHasher final : public Hasher {
 public:
  explicit EvpHasher(const char* name)
      : md_(EVP_MD_fetch(nullptr, name, nullptr)), ctx_(EVP_MD_CTX_new()) {
    if (md_ == nullptr || ctx_ == nullptr) OpenSslFatal(absl::StrCat("fetch ", name));
    if (EVP_MD_get_size(md_.get()) != static_cast<int>(kDigestSize)) {
      OpenSslFatal(absl::StrCat(name, " digest size"));
    }
  }

  using Hasher::Hash;
  Digest Hash(absl::Span<const absl::string_view> parts) override {
    if (EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) != 1) {
      OpenSslFatal("EVP_DigestInit_ex2");
    }
    for (absl::string_view part : parts) {
      if (!part.empty() && EVP_DigestUpdate(ctx_.get(), part.data(), part.size()) != 1) {
        OpenSslFatal("EVP_DigestUpdate");
      }
    }
    Digest d;
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), d.data(), &len) != 1 || len != kDigestSize) {
      OpenSslFatal("EVP_DigestFinal_ex");
    }
    return d;
  }

 private:
  const EvpMdPtr md_;
  const EvpMdCtxPtr ctx_;
};

// ---------------------------------------------------------------- Keys

EvpPkeyPtr UpRef(EVP_PKEY* pkey) {
  if (EVP_PKEY_up_ref(pkey) != 1) OpenSslFatal("EVP_PKEY_up_ref");
  return EvpPkeyPtr(pkey);
}

absl::Status CheckKeyType(const SuiteSpec& spec, EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, spec.key_type) == 1) return absl::OkStatus();
  const char* actual = EVP_PKEY_get0_type_name(pkey);
  return absl::InvalidArgumentError(
      absl::StrCat("key is ", actual != nullptr ? actual : "of an unknown type", ", but suite ",
                   SuiteName(spec.id), " needs ", spec.key_type));
}

absl::StatusOr<std::string> SpkiDerOf(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey, &der);
  if (len <= 0) return OpenSslInternal("i2d_PUBKEY");
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return std::string();
  return std::string(data, static_cast<size_t>(len));
}

class EvpPublicKey final : public PublicKey {
 public:
  // Takes a key holding at least a public half; keeps only the public half.
  static absl::StatusOr<std::unique_ptr<EvpPublicKey>> Create(const SuiteSpec& spec,
                                                              EVP_PKEY* pkey) {
    TB_RETURN_IF_ERROR(CheckKeyType(spec, pkey));
    TB_ASSIGN_OR_RETURN(std::string der, SpkiDerOf(pkey));
    // Re-parse the SPKI so that this object never holds private material.
    const unsigned char* p = Bytes(der);
    EvpPkeyPtr pub(d2i_PUBKEY_ex(nullptr, &p, static_cast<long>(der.size()), nullptr, nullptr));
    if (pub == nullptr) return OpenSslInternal("d2i_PUBKEY_ex");
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), pub.get()) != 1) {
      return OpenSslInternal("PEM_write_bio_PUBKEY");
    }
    std::string pem = BioContents(bio.get());
    EvpHasher hasher(spec.digest);
    const Digest d = hasher.Hash(der);
    std::string key_id = HexEncode(absl::string_view(reinterpret_cast<const char*>(d.data()), 8));
    return std::unique_ptr<EvpPublicKey>(
        new EvpPublicKey(spec, std::move(pub), std::move(der), std::move(pem), std::move(key_id)));
  }

  SuiteId suite() const override { return spec_.id; }
  std::string SpkiDer() const override { return der_; }
  std::string Pem() const override { return pem_; }
  std::string KeyId() const override { return key_id_; }

  const SuiteSpec& spec() const { return spec_; }
  EVP_PKEY* pkey() const { return pkey_.get(); }

 private:
  EvpPublicKey(const SuiteSpec& spec, EvpPkeyPtr pkey, std::string der, std::string pem,
               std::string key_id)
      : spec_(spec),
        pkey_(std::move(pkey)),
        der_(std::move(der)),
        pem_(std::move(pem)),
        key_id_(std::move(key_id)) {}

  const SuiteSpec& spec_;
  const EvpPkeyPtr pkey_;
  const std::string der_;
  const std::string pem_;
  const std::string key_id_;
};

// Resets `ctx` (keeping its allocation) and starts a sign or verify operation
// with `pkey`. EVP_Digest{Sign,Verify}Init_ex creates the EVP_PKEY_CTX from
// `pkey` itself (EVP_PKEY_CTX_new_from_pkey), and our SM2 keys are always of
// key type "SM2" (CheckKeyType), so the context is the SM2 signature
// implementation; on it we set the default distinguishing ID.
absl::Status InitSignature(const SuiteSpec& spec, EVP_MD_CTX* ctx, EVP_PKEY* pkey, bool sign) {
  if (EVP_MD_CTX_reset(ctx) != 1) return OpenSslInternal("EVP_MD_CTX_reset");
  EVP_PKEY_CTX* pctx = nullptr;  // Owned by ctx.
  const int ok =
      sign ? EVP_DigestSignInit_ex(ctx, &pctx, spec.sign_digest, nullptr, nullptr, pkey, nullptr)
           : EVP_DigestVerifyInit_ex(ctx, &pctx, spec.sign_digest, nullptr, nullptr, pkey, nullptr);
  if (ok != 1) {
    return OpenSslInternal(sign ? "EVP_DigestSignInit_ex" : "EVP_DigestVerifyInit_ex");
  }
  if (IsSm2(spec) && EVP_PKEY_CTX_set1_id(pctx, kSm2DefaultId.data(), kSm2DefaultId.size()) != 1) {
    return OpenSslInternal("EVP_PKEY_CTX_set1_id");
  }
  return absl::OkStatus();
}

class EvpSigner final : public Signer {
 public:
  EvpSigner(const SuiteSpec& spec, EvpPkeyPtr pkey)
      : spec_(spec), pkey_(std::move(pkey)), ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr) OpenSslFatal("EVP_MD_CTX_new");
  }

  absl::StatusOr<std::string> Sign(absl::string_view message) override {
    TB_RETURN_IF_ERROR(InitSignature(spec_, ctx_.get(), pkey_.get(), /*sign=*/true));
    const int max_size = EVP_PKEY_get_size(pkey_.get());
    if (max_size <= 0) return OpenSslInternal("EVP_PKEY_get_size");
    std::string sig(static_cast<size_t>(max_size), '\0');
    size_t len = sig.size();
    if (EVP_DigestSign(ctx_.get(), MutableBytes(sig), &len, Bytes(message), message.size()) != 1) {
      return OpenSslInternal("EVP_DigestSign");
    }
    sig.resize(len);
    return sig;
  }

 private:
  const SuiteSpec& spec_;
  const EvpPkeyPtr pkey_;
  const EvpMdCtxPtr ctx_;
};

class EvpVerifier final : public Verifier {
 public:
  EvpVerifier(const SuiteSpec& spec, EvpPkeyPtr pkey)
      : spec_(spec), pkey_(std::move(pkey)), ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr) OpenSslFatal("EVP_MD_CTX_new");
  }

  absl::Status Verify(absl::string_view message, absl::string_view signature) override {
    TB_RETURN_IF_ERROR(InitSignature(spec_, ctx_.get(), pkey_.get(), /*sign=*/false));
    if (EVP_DigestVerify(ctx_.get(), Bytes(signature), signature.size(), Bytes(message),
                         message.size()) == 1) {
      return absl::OkStatus();
    }
    // A malformed or wrong signature leaves parse errors on the queue.
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("bad ", spec_.key_type, " signature"));
  }

 private:
  const SuiteSpec& spec_;
  const EvpPkeyPtr pkey_;
  const EvpMdCtxPtr ctx_;
};

// Used when NewVerifier() is given a key it cannot use: every call fails.
class FailingVerifier final : public Verifier {
 public:
  explicit FailingVerifier(absl::Status why) : why_(std::move(why)) {}
  absl::Status Verify(absl::string_view, absl::string_view) override { return why_; }

 private:
  const absl::Status why_;
};

class EvpPrivateKey final : public PrivateKey {
 public:
  static absl::StatusOr<std::unique_ptr<EvpPrivateKey>> Create(const SuiteSpec& spec,
                                                               EvpPkeyPtr pkey) {
    TB_RETURN_IF_ERROR(CheckKeyType(spec, pkey.get()));
    TB_ASSIGN_OR_RETURN(std::unique_ptr<EvpPublicKey> pub, EvpPublicKey::Create(spec, pkey.get()));
    return std::unique_ptr<EvpPrivateKey>(new EvpPrivateKey(spec, std::move(pkey), std::move(pub)));
  }

  SuiteId suite() const override { return spec_.id; }
  const PublicKey& public_key() const override { return *public_key_; }

  std::string Pem() const override {
    BioPtr bio(BIO_new(BIO_s_mem()));
    // PEM_write_bio_PrivateKey writes unencrypted PKCS#8 ("PRIVATE KEY").
    if (bio == nullptr || PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0,
                                                   nullptr, nullptr) != 1) {
      OpenSslFatal("PEM_write_bio_PrivateKey");
    }
    return BioContents(bio.get());  // The memory BIO wipes its buffer when freed.
  }

  std::unique_ptr<Signer> NewSigner() const override {
    return std::make_unique<EvpSigner>(spec_, UpRef(pkey_.get()));
  }

 private:
  EvpPrivateKey(const SuiteSpec& spec, EvpPkeyPtr pkey, std::unique_ptr<EvpPublicKey> pub)
      : spec_(spec), pkey_(std::move(pkey)), public_key_(std::move(pub)) {}

  const SuiteSpec& spec_;
  const EvpPkeyPtr pkey_;
  const std::unique_ptr<EvpPublicKey> public_key_;
};

// An SM2 key pair from the private scalar d: OpenSSL 3.0's EC fromdata needs
// the public point too, so compute P = d*G.
absl::StatusOr<EvpPkeyPtr> Sm2KeyFromScalar(absl::string_view raw) {
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_sm2));
  BnCtxPtr bn_ctx(BN_CTX_new());
  if (group == nullptr || bn_ctx == nullptr) return OpenSslInternal("SM2 group");
  BignumPtr d(BN_bin2bn(Bytes(raw), static_cast<int>(raw.size()), nullptr));
  BignumPtr max(BN_dup(EC_GROUP_get0_order(group.get())));
  if (d == nullptr || max == nullptr || BN_sub_word(max.get(), 2) != 1) {
    return OpenSslInternal("SM2 scalar");
  }
  // SM2 private keys are in [1, n-2] (GB/T 32918.1 section 6.1).
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), max.get()) > 0) {
    return absl::InvalidArgumentError("SM2 private scalar is not in [1, n-2]");
  }
  EcPointPtr pub(EC_POINT_new(group.get()));
  if (pub == nullptr ||
      EC_POINT_mul(group.get(), pub.get(), d.get(), nullptr, nullptr, bn_ctx.get()) != 1) {
    return OpenSslInternal("EC_POINT_mul");
  }
  unsigned char pub_oct[1 + 2 * 32];
  const size_t pub_len = EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED,
                                            pub_oct, sizeof(pub_oct), bn_ctx.get());
  if (pub_len != sizeof(pub_oct)) return OpenSslInternal("EC_POINT_point2oct");

  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub_oct, pub_len) != 1) {
    return OpenSslInternal("OSSL_PARAM_BLD");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "SM2", nullptr));
  EVP_PKEY* pkey = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return OpenSslInternal("EVP_PKEY_fromdata SM2");
  }
  return EvpPkeyPtr(pkey);
}

// ---------------------------------------------------------------- AEAD

// Runs EVP_CipherUpdate over `in` in int-sized chunks into `out` (same size).
absl::Status CipherUpdate(EVP_CIPHER_CTX* ctx, const unsigned char* in, size_t size,
                          unsigned char* out) {
  while (size > 0) {
    const size_t chunk = std::min(size, kMaxChunk);
    int out_len = 0;
    if (EVP_CipherUpdate(ctx, out, &out_len, in, static_cast<int>(chunk)) != 1 ||
        out_len != static_cast<int>(chunk)) {
      return OpenSslInternal("EVP_CipherUpdate");
    }
    in += chunk;
    out += chunk;
    size -= chunk;
  }
  return absl::OkStatus();
}

absl::Status CheckNonce(absl::string_view nonce) {
  if (nonce.size() != kNonceSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AEAD nonce is ", nonce.size(), " bytes, want ", kNonceSize));
  }
  return absl::OkStatus();
}

absl::Status TooShort(size_t size) {
  return absl::InvalidArgumentError(absl::StrCat("sealed input is ", size,
                                                 " bytes, shorter than nonce and tag (",
                                                 kNonceSize + kTagSize, ")"));
}

absl::Status AuthenticationFailed() {
  return absl::InvalidArgumentError(
      "AEAD authentication failed: wrong key, wrong associated data or altered bytes");
}

// Shared Seal/Open framing: nonce || ciphertext || tag.
class FramedAead : public Aead {
 public:
  absl::StatusOr<std::string> Seal(absl::string_view plaintext, absl::string_view aad) final {
    TB_ASSIGN_OR_RETURN(std::string nonce, RandomBytes(kNonceSize));
    return SealWithNonceForTest(nonce, plaintext, aad);
  }

  absl::StatusOr<std::string> SealWithNonceForTest(absl::string_view nonce,
                                                   absl::string_view plaintext,
                                                   absl::string_view aad) final {
    TB_RETURN_IF_ERROR(CheckNonce(nonce));
    std::string out(kNonceSize + plaintext.size() + kTagSize, '\0');
    std::memcpy(out.data(), nonce.data(), kNonceSize);
    unsigned char* body = MutableBytes(out) + kNonceSize;
    TB_RETURN_IF_ERROR(SealInto(nonce, plaintext, aad, body, body + plaintext.size()));
    return out;
  }

  absl::StatusOr<std::string> Open(absl::string_view sealed, absl::string_view aad) final {
    if (sealed.size() < kNonceSize + kTagSize) return TooShort(sealed.size());
    const absl::string_view nonce = sealed.substr(0, kNonceSize);
    const absl::string_view ciphertext =
        sealed.substr(kNonceSize, sealed.size() - kNonceSize - kTagSize);
    const absl::string_view tag = sealed.substr(sealed.size() - kTagSize);
    std::string plaintext(ciphertext.size(), '\0');
    absl::Status s = OpenInto(nonce, ciphertext, aad, tag, MutableBytes(plaintext));
    if (!s.ok()) {
      Cleanse(plaintext);
      return s;
    }
    return plaintext;
  }

 protected:
  // Encrypts `plaintext` into `ciphertext_out` (same size) and writes the
  // 16-byte tag to `tag_out`.
  virtual absl::Status SealInto(absl::string_view nonce, absl::string_view plaintext,
                                absl::string_view aad, unsigned char* ciphertext_out,
                                unsigned char* tag_out) = 0;
  // Checks `tag` and decrypts into `plaintext_out` (same size as ciphertext).
  virtual absl::Status OpenInto(absl::string_view nonce, absl::string_view ciphertext,
                                absl::string_view aad, absl::string_view tag,
                                unsigned char* plaintext_out) = 0;
};

// GCM as OpenSSL implements it (AES-256-GCM).
class EvpGcmAead final : public FramedAead {
 public:
  static absl::StatusOr<std::unique_ptr<Aead>> Create(const char* name, absl::string_view key) {
    EvpCipherPtr cipher(EVP_CIPHER_fetch(nullptr, name, nullptr));
    if (cipher == nullptr) return OpenSslInternal(absl::StrCat("fetch ", name));
    EvpCipherCtxPtr enc(EVP_CIPHER_CTX_new());
    EvpCipherCtxPtr dec(EVP_CIPHER_CTX_new());
    if (enc == nullptr || dec == nullptr ||
        EVP_CipherInit_ex2(enc.get(), cipher.get(), Bytes(key), nullptr, 1, nullptr) != 1 ||
        EVP_CipherInit_ex2(dec.get(), cipher.get(), Bytes(key), nullptr, 0, nullptr) != 1) {
      return OpenSslInternal(absl::StrCat("init ", name));
    }
    return std::unique_ptr<Aead>(new EvpGcmAead(std::move(enc), std::move(dec)));
  }

 protected:
  absl::Status SealInto(absl::string_view nonce, absl::string_view plaintext, absl::string_view aad,
                        unsigned char* ciphertext_out, unsigned char* tag_out) override {
    EVP_CIPHER_CTX* ctx = enc_.get();
    if (EVP_CipherInit_ex2(ctx, nullptr, nullptr, Bytes(nonce), 1, nullptr) != 1) {
      return OpenSslInternal("GCM seal init");
    }
    TB_RETURN_IF_ERROR(Aad(ctx, aad));
    TB_RETURN_IF_ERROR(CipherUpdate(ctx, Bytes(plaintext), plaintext.size(), ciphertext_out));
    unsigned char unused[kBlockSize];
    int len = 0;
    if (EVP_CipherFinal_ex(ctx, unused, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, tag_out) != 1) {
      return OpenSslInternal("GCM seal final");
    }
    return absl::OkStatus();
  }

  absl::Status OpenInto(absl::string_view nonce, absl::string_view ciphertext,
                        absl::string_view aad, absl::string_view tag,
                        unsigned char* plaintext_out) override {
    EVP_CIPHER_CTX* ctx = dec_.get();
    unsigned char tag_copy[kTagSize];
    std::memcpy(tag_copy, tag.data(), kTagSize);
    if (EVP_CipherInit_ex2(ctx, nullptr, nullptr, Bytes(nonce), 0, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag_copy) != 1) {
      return OpenSslInternal("GCM open init");
    }
    TB_RETURN_IF_ERROR(Aad(ctx, aad));
    TB_RETURN_IF_ERROR(CipherUpdate(ctx, Bytes(ciphertext), ciphertext.size(), plaintext_out));
    unsigned char unused[kBlockSize];
    int len = 0;
    if (EVP_CipherFinal_ex(ctx, unused, &len) != 1) {
      ERR_clear_error();
      return AuthenticationFailed();
    }
    return absl::OkStatus();
  }

 private:
  EvpGcmAead(EvpCipherCtxPtr enc, EvpCipherCtxPtr dec)
      : enc_(std::move(enc)), dec_(std::move(dec)) {}

  static absl::Status Aad(EVP_CIPHER_CTX* ctx, absl::string_view aad) {
    while (!aad.empty()) {
      const size_t chunk = std::min(aad.size(), kMaxChunk);
      int len = 0;
      if (EVP_CipherUpdate(ctx, nullptr, &len, Bytes(aad), static_cast<int>(chunk)) != 1) {
        return OpenSslInternal("GCM aad");
      }
      aad.remove_prefix(chunk);
    }
    return absl::OkStatus();
  }

  const EvpCipherCtxPtr enc_;  // keyed once; a new nonce per message
  const EvpCipherCtxPtr dec_;
};

// GCM (NIST SP 800-38D) from an OpenSSL block cipher in ECB and CTR mode plus
// our GHASH, for SM4 (see the file comment).
class SoftGcmAead final : public FramedAead {
 public:
  static absl::StatusOr<std::unique_ptr<Aead>> Create(const char* ecb_name, const char* ctr_name,
                                                      absl::string_view key) {
    EvpCipherPtr ecb(EVP_CIPHER_fetch(nullptr, ecb_name, nullptr));
    EvpCipherPtr ctr(EVP_CIPHER_fetch(nullptr, ctr_name, nullptr));
    if (ecb == nullptr || ctr == nullptr) {
      return OpenSslInternal(absl::StrCat("fetch ", ecb_name, "/", ctr_name));
    }
    EvpCipherCtxPtr ecb_ctx(EVP_CIPHER_CTX_new());
    EvpCipherCtxPtr ctr_ctx(EVP_CIPHER_CTX_new());
    if (ecb_ctx == nullptr || ctr_ctx == nullptr ||
        EVP_CipherInit_ex2(ecb_ctx.get(), ecb.get(), Bytes(key), nullptr, 1, nullptr) != 1 ||
        EVP_CIPHER_CTX_set_padding(ecb_ctx.get(), 0) != 1 ||
        EVP_CipherInit_ex2(ctr_ctx.get(), ctr.get(), Bytes(key), nullptr, 1, nullptr) != 1) {
      return OpenSslInternal(absl::StrCat("init ", ecb_name, "/", ctr_name));
    }
    std::array<uint8_t, kBlockSize> h{};
    const std::array<uint8_t, kBlockSize> zero{};
    TB_RETURN_IF_ERROR(CipherUpdate(ecb_ctx.get(), zero.data(), kBlockSize, h.data()));
    auto aead = std::unique_ptr<Aead>(new SoftGcmAead(std::move(ecb_ctx), std::move(ctr_ctx), h));
    OPENSSL_cleanse(h.data(), h.size());
    return aead;
  }

 protected:
  absl::Status SealInto(absl::string_view nonce, absl::string_view plaintext, absl::string_view aad,
                        unsigned char* ciphertext_out, unsigned char* tag_out) override {
    TB_RETURN_IF_ERROR(CheckLength(plaintext.size()));
    TB_RETURN_IF_ERROR(Ctr(nonce, Bytes(plaintext), plaintext.size(), ciphertext_out));
    std::array<uint8_t, kBlockSize> tag;
    TB_RETURN_IF_ERROR(Tag(
        nonce, aad,
        absl::string_view(reinterpret_cast<const char*>(ciphertext_out), plaintext.size()), tag));
    std::memcpy(tag_out, tag.data(), kTagSize);
    return absl::OkStatus();
  }

  absl::Status OpenInto(absl::string_view nonce, absl::string_view ciphertext,
                        absl::string_view aad, absl::string_view tag,
                        unsigned char* plaintext_out) override {
    TB_RETURN_IF_ERROR(CheckLength(ciphertext.size()));
    std::array<uint8_t, kBlockSize> expected;
    TB_RETURN_IF_ERROR(Tag(nonce, aad, ciphertext, expected));
    // Authenticate before decrypting anything.
    if (CRYPTO_memcmp(expected.data(), tag.data(), kTagSize) != 0) {
      return AuthenticationFailed();
    }
    return Ctr(nonce, Bytes(ciphertext), ciphertext.size(), plaintext_out);
  }

 private:
  SoftGcmAead(EvpCipherCtxPtr ecb, EvpCipherCtxPtr ctr, const std::array<uint8_t, kBlockSize>& h)
      : ecb_(std::move(ecb)), ctr_(std::move(ctr)), h_(h) {}
  ~SoftGcmAead() override { OPENSSL_cleanse(h_.data(), h_.size()); }

  static absl::Status CheckLength(size_t size) {
    // 2^32 - 2 blocks: the 32-bit GCM counter must not wrap.
    constexpr uint64_t kMax = ((uint64_t{1} << 32) - 2) * kBlockSize;
    if (static_cast<uint64_t>(size) > kMax) {
      return absl::InvalidArgumentError(
          absl::StrCat("GCM message of ", size, " bytes exceeds ", kMax));
    }
    return absl::OkStatus();
  }

  // The counter block J0 = nonce || 0x00000001, plus `add` in the last byte.
  static std::array<uint8_t, kBlockSize> CounterBlock(absl::string_view nonce, uint8_t add) {
    std::array<uint8_t, kBlockSize> block{};
    std::memcpy(block.data(), nonce.data(), kNonceSize);
    block[15] = static_cast<uint8_t>(1 + add);
    return block;
  }

  // GCTR from inc32(J0).
  absl::Status Ctr(absl::string_view nonce, const unsigned char* in, size_t size,
                   unsigned char* out) {
    const std::array<uint8_t, kBlockSize> counter = CounterBlock(nonce, 1);
    if (EVP_CipherInit_ex2(ctr_.get(), nullptr, nullptr, counter.data(), 1, nullptr) != 1) {
      return OpenSslInternal("SM4-CTR init");
    }
    return CipherUpdate(ctr_.get(), in, size, out);
  }

  // T = E(K, J0) xor GHASH(A, C).
  absl::Status Tag(absl::string_view nonce, absl::string_view aad, absl::string_view ciphertext,
                   std::array<uint8_t, kBlockSize>& tag) {
    internal::Ghash ghash(h_);
    ghash.UpdatePadded(aad);
    ghash.UpdatePadded(ciphertext);
    const std::array<uint8_t, kBlockSize> s = ghash.Finish(aad.size(), ciphertext.size());
    const std::array<uint8_t, kBlockSize> j0 = CounterBlock(nonce, 0);
    TB_RETURN_IF_ERROR(CipherUpdate(ecb_.get(), j0.data(), kBlockSize, tag.data()));
    for (size_t i = 0; i < kBlockSize; ++i) tag[i] ^= s[i];
    return absl::OkStatus();
  }

  const EvpCipherCtxPtr ecb_;  // keyed once; ECB keeps no state between blocks
  const EvpCipherCtxPtr ctr_;  // keyed once; a new counter per message
  std::array<uint8_t, kBlockSize> h_;
};

// ---------------------------------------------------------------- CTR

class EvpCtrCipher final : public CtrCipher {
 public:
  static absl::StatusOr<std::unique_ptr<CtrCipher>> Create(const char* name,
                                                           absl::string_view key) {
    EvpCipherPtr cipher(EVP_CIPHER_fetch(nullptr, name, nullptr));
    if (cipher == nullptr) return OpenSslInternal(absl::StrCat("fetch ", name));
    return std::unique_ptr<CtrCipher>(new EvpCtrCipher(std::move(cipher), std::string(key)));
  }

  absl::Status Apply(absl::string_view iv, uint64_t offset, char* data,
                     size_t size) const override {
    if (iv.size() != kBlockSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("CTR iv is ", iv.size(), " bytes, want ", kBlockSize));
    }
    if (size == 0) return absl::OkStatus();
    // The counter block of `offset`: iv + offset / 16, big-endian mod 2^128.
    unsigned char counter[kBlockSize];
    std::memcpy(counter, iv.data(), kBlockSize);
    uint64_t add = offset / kBlockSize;
    unsigned carry = 0;
    for (int i = kBlockSize - 1; i >= 0; --i) {
      const unsigned sum = counter[i] + static_cast<unsigned>(add & 0xff) + carry;
      counter[i] = static_cast<unsigned char>(sum);
      carry = sum >> 8;
      add >>= 8;
    }
    // Each call has its own context, so Apply() is thread-safe.
    EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (ctx == nullptr || EVP_CipherInit_ex2(ctx.get(), cipher_.get(), Bytes(key_.value()), counter,
                                             1, nullptr) != 1) {
      return OpenSslInternal("CTR init");
    }
    const size_t skip = offset % kBlockSize;
    if (skip > 0) {
      unsigned char unused[kBlockSize] = {};
      TB_RETURN_IF_ERROR(CipherUpdate(ctx.get(), unused, skip, unused));
      OPENSSL_cleanse(unused, sizeof(unused));
    }
    auto* bytes = reinterpret_cast<unsigned char*>(data);
    return CipherUpdate(ctx.get(), bytes, size, bytes);
  }

 private:
  EvpCtrCipher(EvpCipherPtr cipher, std::string key)
      : cipher_(std::move(cipher)), key_(std::move(key)) {}

  const EvpCipherPtr cipher_;  // fetched once; immutable and shareable
  const SecretString key_;
};

// ---------------------------------------------------------------- Suite

// Keys are small; anything larger is not a key (and would overflow an int).
constexpr size_t kMaxPemSize = size_t{1} << 20;

absl::Status CheckPemSize(absl::string_view pem) {
  if (pem.size() > kMaxPemSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("PEM input of ", pem.size(), " bytes is too large for a key"));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvpPkeyPtr> DecodePrivatePem(absl::string_view pem) {
  TB_RETURN_IF_ERROR(CheckPemSize(pem));
  // Only unencrypted PKCS#8 ("BEGIN PRIVATE KEY"); never prompts for a password.
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslInternal("BIO_new_mem_buf");
  EVP_PKEY* pkey = nullptr;
  if (pem.find("-----BEGIN PRIVATE KEY-----") == absl::string_view::npos ||
      PEM_read_bio_PrivateKey_ex(
          bio.get(), &pkey, [](char*, int, int, void*) { return -1; }, nullptr, nullptr, nullptr) ==
          nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not a PEM private key (unencrypted PKCS#8)");
  }
  return EvpPkeyPtr(pkey);
}

class EvpSuite final : public Suite {
 public:
  explicit EvpSuite(const SuiteSpec& spec) : spec_(spec) {}

  SuiteId id() const override { return spec_.id; }

  std::unique_ptr<Hasher> NewHasher() const override {
    return std::make_unique<EvpHasher>(spec_.digest);
  }

  absl::StatusOr<std::unique_ptr<PrivateKey>> GenerateKey() const override {
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, spec_.key_type, nullptr));
    EVP_PKEY* pkey = nullptr;
    if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
        EVP_PKEY_generate(ctx.get(), &pkey) != 1) {
      return OpenSslInternal(absl::StrCat("generate ", spec_.key_type, " key"));
    }
    return Wrap(EvpPrivateKey::Create(spec_, EvpPkeyPtr(pkey)));
  }

  absl::StatusOr<std::unique_ptr<PrivateKey>> PrivateKeyFromPem(
      absl::string_view pem) const override {
    TB_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, DecodePrivatePem(pem));
    return Wrap(EvpPrivateKey::Create(spec_, std::move(pkey)));
  }

  absl::StatusOr<std::unique_ptr<PublicKey>> PublicKeyFromPem(
      absl::string_view pem) const override {
    TB_RETURN_IF_ERROR(CheckPemSize(pem));
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (bio == nullptr) return OpenSslInternal("BIO_new_mem_buf");
    EvpPkeyPtr pkey(PEM_read_bio_PUBKEY_ex(bio.get(), nullptr, nullptr, nullptr, nullptr, nullptr));
    if (pkey == nullptr) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          "not a PEM public key (SubjectPublicKeyInfo)");
    }
    return WrapPublic(EvpPublicKey::Create(spec_, pkey.get()));
  }

  absl::StatusOr<std::unique_ptr<PublicKey>> PublicKeyFromSpkiDer(
      absl::string_view der) const override {
    TB_RETURN_IF_ERROR(CheckPemSize(der));
    const unsigned char* p = Bytes(der);
    EvpPkeyPtr pkey(d2i_PUBKEY_ex(nullptr, &p, static_cast<long>(der.size()), nullptr, nullptr));
    if (pkey == nullptr) {
      return OpenSslError(absl::StatusCode::kInvalidArgument, "not a DER SubjectPublicKeyInfo");
    }
    if (p != Bytes(der) + der.size()) {
      return absl::InvalidArgumentError("trailing bytes after SubjectPublicKeyInfo");
    }
    return WrapPublic(EvpPublicKey::Create(spec_, pkey.get()));
  }

  absl::StatusOr<std::unique_ptr<PrivateKey>> PrivateKeyFromRaw(
      absl::string_view raw) const override {
    if (raw.size() != 32) {
      return absl::InvalidArgumentError(
          absl::StrCat("raw ", spec_.key_type, " private key is ", raw.size(), " bytes, want 32"));
    }
    if (IsSm2(spec_)) {
      TB_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, Sm2KeyFromScalar(raw));
      return Wrap(EvpPrivateKey::Create(spec_, std::move(pkey)));
    }
    EvpPkeyPtr pkey(
        EVP_PKEY_new_raw_private_key_ex(nullptr, spec_.key_type, nullptr, Bytes(raw), raw.size()));
    if (pkey == nullptr) return OpenSslInternal("EVP_PKEY_new_raw_private_key_ex");
    return Wrap(EvpPrivateKey::Create(spec_, std::move(pkey)));
  }

  std::unique_ptr<Verifier> NewVerifier(const PublicKey& key) const override {
    if (const auto* ours = dynamic_cast<const EvpPublicKey*>(&key)) {
      if (ours->suite() != spec_.id) {
        return std::make_unique<FailingVerifier>(absl::InvalidArgumentError(
            absl::StrCat("a ", SuiteName(ours->suite()), " key cannot verify ", SuiteName(spec_.id),
                         " signatures")));
      }
      return std::make_unique<EvpVerifier>(spec_, UpRef(ours->pkey()));
    }
    // Another implementation of PublicKey: go through its SPKI.
    absl::StatusOr<std::unique_ptr<PublicKey>> parsed = PublicKeyFromSpkiDer(key.SpkiDer());
    if (!parsed.ok()) return std::make_unique<FailingVerifier>(parsed.status());
    return NewVerifier(**parsed);
  }

  size_t symmetric_key_size() const override { return spec_.key_size; }

  absl::StatusOr<std::unique_ptr<Aead>> NewAead(absl::string_view key) const override {
    TB_RETURN_IF_ERROR(CheckSymmetricKey(key));
    if (spec_.gcm != nullptr) return EvpGcmAead::Create(spec_.gcm, key);
    return SoftGcmAead::Create(spec_.ecb, spec_.ctr, key);
  }

  absl::StatusOr<std::unique_ptr<CtrCipher>> NewCtrCipher(absl::string_view key) const override {
    TB_RETURN_IF_ERROR(CheckSymmetricKey(key));
    return EvpCtrCipher::Create(spec_.ctr, key);
  }

 private:
  absl::Status CheckSymmetricKey(absl::string_view key) const {
    if (key.size() != spec_.key_size) {
      return absl::InvalidArgumentError(absl::StrCat("suite ", SuiteName(spec_.id), " needs a ",
                                                     spec_.key_size, "-byte key, got ",
                                                     key.size()));
    }
    return absl::OkStatus();
  }

  static absl::StatusOr<std::unique_ptr<PrivateKey>> Wrap(
      absl::StatusOr<std::unique_ptr<EvpPrivateKey>> key) {
    if (!key.ok()) return key.status();
    return std::unique_ptr<PrivateKey>(std::move(*key));
  }
  static absl::StatusOr<std::unique_ptr<PublicKey>> WrapPublic(
      absl::StatusOr<std::unique_ptr<EvpPublicKey>> key) {
    if (!key.ok()) return key.status();
    return std::unique_ptr<PublicKey>(std::move(*key));
  }

  const SuiteSpec& spec_;
};

}  // namespace

absl::StatusOr<SuiteId> ParseSuiteId(absl::string_view name) {
  if (name == "intl") return SuiteId::kIntl;
  if (name == "gm") return SuiteId::kGm;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown crypto suite \"", name, "\" (want intl or gm)"));
}

absl::string_view SuiteName(SuiteId id) {
  switch (id) {
    case SuiteId::kIntl: return "intl";
    case SuiteId::kGm: return "gm";
  }
  return "unknown";
}

const Suite& GetSuite(SuiteId id) {
  static const Suite* const intl = new EvpSuite(kIntlSpec);
  static const Suite* const gm = new EvpSuite(kGmSpec);
  switch (id) {
    case SuiteId::kIntl: return *intl;
    case SuiteId::kGm: return *gm;
  }
  std::abort();  // Not a SuiteId: a bug in the caller.
}

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    const size_t chunk = std::min(n - done, kMaxChunk);
    if (RAND_bytes(MutableBytes(out) + done, static_cast<int>(chunk)) != 1) {
      return OpenSslInternal("RAND_bytes");
    }
    done += chunk;
  }
  return out;
}

}  // namespace tongban::crypto
