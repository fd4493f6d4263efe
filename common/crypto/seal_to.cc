#include "common/crypto/seal_to.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "common/crypto/kdf.h"
#include "common/crypto/openssl_util.h"
#include "common/status_macros.h"

namespace tongban::crypto {
namespace {

using internal::BignumPtr;
using internal::BioPtr;
using internal::BnCtxPtr;
using internal::Bytes;
using internal::EvpPkeyCtxPtr;
using internal::EvpPkeyPtr;
using internal::MutableBytes;
using internal::OpenSslInternal;
using internal::SecretString;

constexpr char kIntlTag = 0x01;
constexpr char kGmTag = 0x02;
constexpr size_t kX25519Bytes = 32;
constexpr char kLabel[] = "tongban-sealed-key/v1";

absl::Status NotOurs() {
  return absl::InvalidArgumentError(
      "the sealed key does not open with this key (sealed to another key, or altered)");
}

absl::StatusOr<EvpPkeyPtr> PublicPkey(const PublicKey& key) {
  const std::string der = key.SpkiDer();
  const unsigned char* p = Bytes(der);
  EvpPkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (pkey == nullptr) return OpenSslInternal("d2i_PUBKEY");
  return pkey;
}

absl::StatusOr<EvpPkeyPtr> PrivatePkey(const PrivateKey& key) {
  SecretString pem(key.Pem());
  BioPtr bio(BIO_new_mem_buf(pem.value().data(), static_cast<int>(pem.value().size())));
  if (bio == nullptr) return OpenSslInternal("BIO_new_mem_buf");
  EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (pkey == nullptr) return OpenSslInternal("PEM_read_bio_PrivateKey");
  return pkey;
}

// RFC 7748 / RFC 8032: u = (1 + y) / (1 - y) mod 2^255 - 19, where y is the
// Edwards point's coordinate in the Ed25519 public key.
absl::StatusOr<std::string> MontgomeryPublic(const PublicKey& ed) {
  TB_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, PublicPkey(ed));
  unsigned char raw[32];
  size_t len = sizeof(raw);
  if (EVP_PKEY_get_raw_public_key(pkey.get(), raw, &len) != 1 || len != sizeof(raw)) {
    return OpenSslInternal("Ed25519 raw public key");
  }
  raw[31] &= 0x7f;  // the sign of x
  BnCtxPtr ctx(BN_CTX_new());
  BignumPtr p(BN_new()), y(BN_lebin2bn(raw, sizeof(raw), nullptr)), one(BN_new()), num(BN_new()),
      den(BN_new()), u(BN_new());
  if (ctx == nullptr || p == nullptr || y == nullptr || one == nullptr || num == nullptr ||
      den == nullptr || u == nullptr || BN_set_bit(p.get(), 255) != 1 ||
      BN_sub_word(p.get(), 19) != 1 || BN_one(one.get()) != 1 ||
      BN_mod_add(num.get(), one.get(), y.get(), p.get(), ctx.get()) != 1 ||
      BN_mod_sub(den.get(), one.get(), y.get(), p.get(), ctx.get()) != 1) {
    return OpenSslInternal("Montgomery form");
  }
  if (BN_is_zero(den.get())) {
    return absl::InvalidArgumentError("Ed25519 key has no Montgomery form (y = 1)");
  }
  BignumPtr inv(BN_mod_inverse(nullptr, den.get(), p.get(), ctx.get()));
  if (inv == nullptr || BN_mod_mul(u.get(), num.get(), inv.get(), p.get(), ctx.get()) != 1) {
    return OpenSslInternal("Montgomery form");
  }
  std::string out(kX25519Bytes, '\0');
  if (BN_bn2lebinpad(u.get(), MutableBytes(out), static_cast<int>(out.size())) != 32) {
    return OpenSslInternal("Montgomery form");
  }
  return out;
}

// The X25519 private key of an Ed25519 key: the first half of SHA-512 of
// its seed (RFC 8032 section 5.1.5; X25519 clamps it itself).
absl::StatusOr<EvpPkeyPtr> MontgomeryPrivate(const PrivateKey& ed) {
  TB_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, PrivatePkey(ed));
  SecretString seed(std::string(32, '\0'));
  size_t len = seed.value().size();
  if (EVP_PKEY_get_raw_private_key(pkey.get(), MutableBytes(seed.value()), &len) != 1 ||
      len != 32) {
    return OpenSslInternal("Ed25519 raw private key");
  }
  SecretString h(std::string(64, '\0'));
  unsigned int hlen = 0;
  if (EVP_Digest(seed.value().data(), seed.value().size(), MutableBytes(h.value()), &hlen,
                 EVP_sha512(), nullptr) != 1 ||
      hlen != 64) {
    return OpenSslInternal("SHA-512 of the Ed25519 seed");
  }
  EvpPkeyPtr x(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, Bytes(h.value()), 32));
  if (x == nullptr) return OpenSslInternal("X25519 private key");
  return x;
}

absl::StatusOr<std::string> X25519(EVP_PKEY* mine, absl::string_view their_raw) {
  EvpPkeyPtr theirs(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, Bytes(their_raw), their_raw.size()));
  if (theirs == nullptr) return NotOurs();
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, mine, nullptr));
  std::string shared(kX25519Bytes, '\0');
  size_t len = shared.size();
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1) return OpenSslInternal("X25519");
  // A low-order point (all-zero secret) fails here: the input's fault.
  if (EVP_PKEY_derive_set_peer(ctx.get(), theirs.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), MutableBytes(shared), &len) != 1 || len != kX25519Bytes) {
    internal::DrainOpenSslErrors();
    internal::Cleanse(shared);
    return NotOurs();
  }
  return shared;
}

absl::StatusOr<std::string> RawPublic(EVP_PKEY* pkey) {
  std::string out(kX25519Bytes, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(pkey, MutableBytes(out), &len) != 1 || len != kX25519Bytes) {
    return OpenSslInternal("X25519 raw public key");
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Aead>> KeyEncryptionKey(absl::string_view shared,
                                                       absl::string_view ephemeral,
                                                       absl::string_view recipient) {
  TB_ASSIGN_OR_RETURN(std::string kek,
                      Hmac(SuiteId::kIntl, shared, absl::StrCat(kLabel, ephemeral, recipient)));
  SecretString wiped(std::move(kek));
  return GetSuite(SuiteId::kIntl).NewAead(wiped.value());
}

absl::StatusOr<std::string> SealIntl(const PublicKey& to, absl::string_view secret) {
  TB_ASSIGN_OR_RETURN(std::string recipient, MontgomeryPublic(to));
  EvpPkeyPtr eph(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  if (eph == nullptr) return OpenSslInternal("X25519 key generation");
  TB_ASSIGN_OR_RETURN(std::string eph_pub, RawPublic(eph.get()));
  TB_ASSIGN_OR_RETURN(std::string raw_shared, X25519(eph.get(), recipient));
  SecretString shared(std::move(raw_shared));
  TB_ASSIGN_OR_RETURN(std::unique_ptr<Aead> aead,
                      KeyEncryptionKey(shared.value(), eph_pub, recipient));
  TB_ASSIGN_OR_RETURN(std::string sealed, aead->Seal(secret, kLabel));
  return absl::StrCat(absl::string_view(&kIntlTag, 1), eph_pub, sealed);
}

absl::StatusOr<std::string> OpenIntl(const PrivateKey& key, absl::string_view sealed) {
  if (sealed.size() < kX25519Bytes) return NotOurs();
  const absl::string_view eph_pub = sealed.substr(0, kX25519Bytes);
  TB_ASSIGN_OR_RETURN(EvpPkeyPtr mine, MontgomeryPrivate(key));
  TB_ASSIGN_OR_RETURN(std::string recipient, RawPublic(mine.get()));
  TB_ASSIGN_OR_RETURN(std::string raw_shared, X25519(mine.get(), eph_pub));
  SecretString shared(std::move(raw_shared));
  TB_ASSIGN_OR_RETURN(std::unique_ptr<Aead> aead,
                      KeyEncryptionKey(shared.value(), eph_pub, recipient));
  absl::StatusOr<std::string> opened = aead->Open(sealed.substr(kX25519Bytes), kLabel);
  if (!opened.ok()) return NotOurs();
  return opened;
}

absl::StatusOr<std::string> SealGm(const PublicKey& to, absl::string_view secret) {
  TB_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, PublicPkey(to));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  size_t len = 0;
  if (ctx == nullptr || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_encrypt(ctx.get(), nullptr, &len, Bytes(secret), secret.size()) != 1) {
    return OpenSslInternal("SM2 encryption");
  }
  std::string out(len, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), MutableBytes(out), &len, Bytes(secret), secret.size()) != 1) {
    return OpenSslInternal("SM2 encryption");
  }
  out.resize(len);
  return absl::StrCat(absl::string_view(&kGmTag, 1), out);
}

absl::StatusOr<std::string> OpenGm(const PrivateKey& key, absl::string_view sealed) {
  TB_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, PrivatePkey(key));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  size_t len = 0;
  if (ctx == nullptr || EVP_PKEY_decrypt_init(ctx.get()) != 1) {
    return OpenSslInternal("SM2 decryption");
  }
  // SM2 checks its own hash (C3) while decrypting: a wrong key or altered
  // bytes fail here.
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, Bytes(sealed), sealed.size()) != 1) {
    internal::DrainOpenSslErrors();
    return NotOurs();
  }
  std::string out(len, '\0');
  if (EVP_PKEY_decrypt(ctx.get(), MutableBytes(out), &len, Bytes(sealed), sealed.size()) != 1) {
    internal::DrainOpenSslErrors();
    return NotOurs();
  }
  out.resize(len);
  return out;
}

}  // namespace

absl::StatusOr<std::string> SealTo(const PublicKey& to, absl::string_view secret) {
  if (secret.empty() || secret.size() > kMaxSealedSecret) {
    return absl::InvalidArgumentError(
        absl::StrCat("a sealed secret is 1 to ", kMaxSealedSecret, " bytes, not ", secret.size()));
  }
  return to.suite() == SuiteId::kGm ? SealGm(to, secret) : SealIntl(to, secret);
}

absl::StatusOr<std::string> OpenSealed(const PrivateKey& key, absl::string_view sealed) {
  const char want = key.suite() == SuiteId::kGm ? kGmTag : kIntlTag;
  if (sealed.empty() || sealed[0] != want) return NotOurs();
  sealed.remove_prefix(1);
  absl::StatusOr<std::string> opened =
      key.suite() == SuiteId::kGm ? OpenGm(key, sealed) : OpenIntl(key, sealed);
  if (opened.ok() && (opened->empty() || opened->size() > kMaxSealedSecret)) return NotOurs();
  return opened;
}

}  // namespace tongban::crypto
