// The federation PKI on OpenSSL 3 (X509, EVP). Formats: see pki.h.
//
// The small file helpers below repeat the rules of common/crypto/key_file.cc
// (whose helpers are private to that file): secrets are checked with fstat()
// on the opened descriptor, and new files are created with O_EXCL, synced,
// and removed again if anything fails.
#include "common/pki/pki.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/crypto/key_file.h"
#include "common/crypto/openssl_util.h"
#include "common/hex.h"
#include "common/ids/region.h"
#include "common/status_macros.h"

namespace tongban::pki {

// Builds TlsKey and Certificate from OpenSSL objects, which their public
// API does not allow.
struct PkiAccess {
  static TlsKey Key(EVP_PKEY* owned) {
    return TlsKey(std::shared_ptr<evp_pkey_st>(owned, EVP_PKEY_free));
  }
  static Certificate Cert(X509* owned) {
    return Certificate(std::shared_ptr<x509_st>(owned, X509_free));
  }
  static CertificateRequest Request(X509_REQ* owned) {
    return CertificateRequest(std::shared_ptr<X509_req_st>(owned, X509_REQ_free));
  }
};

namespace {

template <typename T, void (*Free)(T*)>
using Ptr = crypto::internal::OpenSslPtr<T, Free>;

using BioPtr = Ptr<BIO, BIO_free_all>;
using X509Ptr = Ptr<X509, X509_free>;
using PkeyPtr = Ptr<EVP_PKEY, EVP_PKEY_free>;
using BignumPtr = Ptr<BIGNUM, BN_free>;
using ExtPtr = Ptr<X509_EXTENSION, X509_EXTENSION_free>;
using NamePtr = Ptr<X509_NAME, X509_NAME_free>;
using StorePtr = Ptr<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = Ptr<X509_STORE_CTX, X509_STORE_CTX_free>;
using ReqPtr = Ptr<X509_REQ, X509_REQ_free>;

void FreeGeneralNames(GENERAL_NAMES* names) { GENERAL_NAMES_free(names); }
using GeneralNamesPtr = Ptr<GENERAL_NAMES, FreeGeneralNames>;

constexpr int kMaxDays = 36500;
constexpr mode_t kSecretMode = 0600;
constexpr mode_t kPublicMode = 0644;

// Drains this thread's OpenSSL error queue into "<what>: <errors>".
absl::Status OpenSslError(absl::StatusCode code, absl::string_view what) {
  std::string detail;
  unsigned long err;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!detail.empty()) detail += "; ";
    detail += buf;
  }
  if (detail.empty()) detail = "no OpenSSL error detail";
  return absl::Status(code, absl::StrCat(what, ": ", detail));
}
absl::Status Internal(absl::string_view what) {
  return OpenSslError(absl::StatusCode::kInternal, what);
}

// Refuses to prompt for a passphrase: our keys are never encrypted.
int NoPassphrase(char*, int, int, void*) { return 0; }

BioPtr MemBio(absl::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

// The DER of `x` by OpenSSL's i2d function for its type; empty on failure.
template <typename T, typename I2d>
std::string ToDer(T* x, I2d i2d) {
  unsigned char* der = nullptr;
  const int n = i2d(x, &der);
  if (n <= 0) return std::string();
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

std::string PubkeyDer(EVP_PKEY* key) { return ToDer(key, i2d_PUBKEY); }

// OK if `pem` holds exactly one PEM block and it is a `type` ("CERTIFICATE",
// "CERTIFICATE REQUEST"); `what` names it in the error.
absl::Status CheckOnePemBlock(absl::string_view pem, absl::string_view type,
                              absl::string_view what) {
  size_t blocks = 0;
  for (size_t pos = pem.find("-----BEGIN "); pos != absl::string_view::npos;
       pos = pem.find("-----BEGIN ", pos + 1)) {
    ++blocks;
  }
  if (blocks != 1 || !absl::StrContains(pem, absl::StrCat("-----BEGIN ", type, "-----"))) {
    return absl::InvalidArgumentError(absl::StrCat("not one PEM ", what, " (found ", blocks,
                                                   " PEM blocks; want exactly one ", type, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckP256(EVP_PKEY* key, absl::string_view what) {
  char group[64] = {0};
  size_t len = 0;
  if (!EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1 ||
      (std::strcmp(group, "prime256v1") != 0 && std::strcmp(group, "P-256") != 0)) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not an ECDSA P-256 key (TLS keys are P-256 under both suites)"));
  }
  return absl::OkStatus();
}

absl::Time FromAsn1Time(const ASN1_TIME* t) {
  struct tm tm;
  std::memset(&tm, 0, sizeof(tm));
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(::timegm(&tm));
}

std::string NameString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return std::string();
  // RFC 2253, but keep UTF-8 (Chinese names) readable instead of escaped.
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return BioContents(bio.get());
}

std::string Asn1StringText(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// The SAN entries of `type` (GEN_URI, GEN_DNS, GEN_IPADD) as text.
std::vector<std::string> SanEntries(X509* cert, int type) {
  std::vector<std::string> out;
  int crit = 0;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  if (names == nullptr) {
    ERR_clear_error();
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gen = sk_GENERAL_NAME_value(names.get(), i);
    if (gen->type != type) continue;
    if (type == GEN_URI) {
      out.push_back(Asn1StringText(gen->d.uniformResourceIdentifier));
    } else if (type == GEN_DNS) {
      out.push_back(Asn1StringText(gen->d.dNSName));
    } else if (type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gen->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {0};
      const int family = ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6;
      if ((ASN1_STRING_length(ip) == 4 || ASN1_STRING_length(ip) == 16) &&
          ::inet_ntop(family, ASN1_STRING_get0_data(ip), buf, sizeof(buf)) != nullptr) {
        out.push_back(buf);
      } else {
        out.push_back(absl::StrCat("<malformed IP of ", ASN1_STRING_length(ip), " bytes>"));
      }
    }
  }
  return out;
}

absl::Status ValidateDays(int days) {
  if (days < 1 || days > kMaxDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("validity of ", days, " days is out of range 1..", kMaxDays));
  }
  return absl::OkStatus();
}

// A DNS name for a SAN: labels of letters, digits and '-', an optional
// leading "*." wildcard.
absl::Status ValidateDnsName(absl::string_view name) {
  absl::string_view rest = name;
  if (absl::StartsWith(rest, "*.")) rest.remove_prefix(2);
  bool ok = !rest.empty() && name.size() <= 253;
  size_t label = 0;
  for (size_t i = 0; ok && i < rest.size(); ++i) {
    const char c = rest[i];
    if (c == '.') {
      ok = label > 0 && i + 1 < rest.size();
      label = 0;
    } else {
      ok = (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-') && ++label <= 63;
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("DNS name \"", name, "\" is not a host name (letters, digits, '-' and '.')"));
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Internal(absl::StrCat("adding extension ", OBJ_nid2sn(nid)));
  }
  return absl::OkStatus();
}

absl::Status PushName(GENERAL_NAMES* names, int type, ASN1_STRING* value) {
  GENERAL_NAME* gen = GENERAL_NAME_new();
  if (gen == nullptr || value == nullptr) {
    GENERAL_NAME_free(gen);
    ASN1_STRING_free(value);
    return Internal("building subjectAltName");
  }
  GENERAL_NAME_set0_value(gen, type, value);
  if (sk_GENERAL_NAME_push(names, gen) <= 0) {
    GENERAL_NAME_free(gen);
    return Internal("building subjectAltName");
  }
  return absl::OkStatus();
}

absl::StatusOr<ASN1_STRING*> Ia5(absl::string_view text) {
  ASN1_IA5STRING* s = ASN1_IA5STRING_new();
  if (s == nullptr || ASN1_STRING_set(s, text.data(), static_cast<int>(text.size())) != 1) {
    ASN1_IA5STRING_free(s);
    return Internal("building subjectAltName");
  }
  return s;
}

// A new certificate with a random serial, subject CN=`cn`, validity from
// one hour before `now` to `now` + `days`, and `key`'s public half.
absl::StatusOr<X509Ptr> NewCertificate(absl::string_view cn, int days, absl::Time now,
                                       EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return Internal("X509_new");
  }
  BignumPtr serial(BN_new());
  // 128 random bits with the top bit set: positive, and always 128 bits long.
  if (serial == nullptr || BN_rand(serial.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return Internal("generating the serial number");
  }
  NamePtr name(X509_NAME_new());
  if (name == nullptr ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1 ||
      X509_set_subject_name(cert.get(), name.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("subject name \"", cn, "\""));
  }
  time_t t = absl::ToTimeT(now);
  // Backdated an hour: a peer whose clock lags a little still accepts it.
  if (X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, -3600, &t) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, &t) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return Internal("setting validity and key");
  }
  return cert;
}

// --- files ---

}  // namespace

// --- TlsKey ---

absl::StatusOr<TlsKey> TlsKey::Generate() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return Internal("generating a P-256 key");
  return PkiAccess::Key(key);
}

absl::StatusOr<TlsKey> TlsKey::FromPem(absl::string_view pem) {
  BioPtr bio = MemBio(pem);
  if (bio == nullptr) return Internal("BIO_new_mem_buf");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr);
  if (key == nullptr) {
    ERR_clear_error();  // OpenSSL's detail adds nothing, and never the key.
    return absl::InvalidArgumentError("not a PEM private key (unencrypted PKCS#8)");
  }
  TlsKey result = PkiAccess::Key(key);
  TB_RETURN_IF_ERROR(CheckP256(key, "the private key"));
  return result;
}

absl::StatusOr<std::string> TlsKey::PrivatePem() const {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr) bio.reset(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("encoding the private key");
  }
  return BioContents(bio.get());
}

std::string TlsKey::SpkiDer() const { return PubkeyDer(key_.get()); }

// --- Certificate ---

absl::StatusOr<Certificate> Certificate::FromPem(absl::string_view pem) {
  TB_RETURN_IF_ERROR(CheckOnePemBlock(pem, "CERTIFICATE", "certificate"));
  BioPtr bio = MemBio(pem);
  if (bio == nullptr) return Internal("BIO_new_mem_buf");
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr);
  if (cert == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "malformed PEM certificate");
  }
  return PkiAccess::Cert(cert);
}

std::string Certificate::Pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert_.get()) != 1) return std::string();
  return BioContents(bio.get());
}

std::string Certificate::Der() const { return ToDer(cert_.get(), i2d_X509); }

std::string Certificate::Subject() const { return NameString(X509_get_subject_name(cert_.get())); }
std::string Certificate::Issuer() const { return NameString(X509_get_issuer_name(cert_.get())); }
absl::Time Certificate::not_before() const {
  return FromAsn1Time(X509_get0_notBefore(cert_.get()));
}
absl::Time Certificate::not_after() const { return FromAsn1Time(X509_get0_notAfter(cert_.get())); }

std::string Certificate::SerialHex() const {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_.get()), nullptr));
  if (bn == nullptr) return std::string();
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) return std::string();
  std::string out = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  return out;
}

std::string Certificate::Sha256Fingerprint() const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert_.get(), EVP_sha256(), md, &n) != 1) return std::string();
  std::vector<std::string> pairs;
  for (unsigned int i = 0; i < n; ++i) pairs.push_back(absl::StrFormat("%02X", md[i]));
  return absl::StrJoin(pairs, ":");
}

bool Certificate::IsCa() const { return X509_check_ca(cert_.get()) > 0; }
std::vector<std::string> Certificate::SanUris() const { return SanEntries(cert_.get(), GEN_URI); }
std::vector<std::string> Certificate::SanDnsNames() const {
  return SanEntries(cert_.get(), GEN_DNS);
}
std::vector<std::string> Certificate::SanIpAddresses() const {
  return SanEntries(cert_.get(), GEN_IPADD);
}
std::string Certificate::SpkiDer() const { return PubkeyDer(X509_get0_pubkey(cert_.get())); }

// --- CA and issuing ---

absl::StatusOr<KeyAndCertificate> CreateCa(const CaOptions& options) {
  if (options.name.empty()) return absl::InvalidArgumentError("the CA name is empty");
  TB_RETURN_IF_ERROR(ValidateDays(options.days));
  TB_ASSIGN_OR_RETURN(TlsKey key, TlsKey::Generate());
  TB_ASSIGN_OR_RETURN(X509Ptr cert,
                      NewCertificate(options.name, options.days, options.now, key.get()));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1) {
    return Internal("setting the issuer");
  }
  TB_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  TB_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  TB_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return Internal("signing the CA");
  return KeyAndCertificate{std::move(key), PkiAccess::Cert(cert.release())};
}

namespace {

// The subjectAltNames `uris`, `dns_names`, `ip_addresses` (each already
// validated but the IPs, which fail here if they are not IP text).
absl::StatusOr<GeneralNamesPtr> BuildSan(const std::vector<std::string>& uris,
                                         const std::vector<std::string>& dns_names,
                                         const std::vector<std::string>& ip_addresses) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return Internal("building subjectAltName");
  for (const std::string& uri : uris) {
    TB_ASSIGN_OR_RETURN(ASN1_STRING * s, Ia5(uri));
    TB_RETURN_IF_ERROR(PushName(names.get(), GEN_URI, s));
  }
  for (const std::string& dns : dns_names) {
    TB_ASSIGN_OR_RETURN(ASN1_STRING * s, Ia5(dns));
    TB_RETURN_IF_ERROR(PushName(names.get(), GEN_DNS, s));
  }
  for (const std::string& ip : ip_addresses) {
    ASN1_OCTET_STRING* bytes = a2i_IPADDRESS(ip.c_str());
    if (bytes == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("IP address \"", ip, "\" is not IPv4 or IPv6 text"));
    }
    TB_RETURN_IF_ERROR(PushName(names.get(), GEN_IPADD, bytes));
  }
  return names;
}

// A leaf certificate for `subject_key` issued by the CA: CA:FALSE,
// keyUsage digitalSignature, extendedKeyUsage `eku`, and subjectAltNames
// `uris`, `dns_names`, `ip_addresses` (each already validated but the IPs).
absl::StatusOr<Certificate> IssueLeafFor(EVP_PKEY* subject_key, const TlsKey& ca_key,
                                         const Certificate& ca_cert, absl::string_view cn, int days,
                                         absl::Time now, const char* eku,
                                         const std::vector<std::string>& uris,
                                         const std::vector<std::string>& dns_names,
                                         const std::vector<std::string>& ip_addresses) {
  if (!ca_cert.IsCa()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the issuer certificate (", ca_cert.Subject(), ") is not a CA"));
  }
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the CA key does not belong to the CA certificate");
  }
  TB_ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(cn, days, now, subject_key));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) != 1) {
    return Internal("setting the issuer");
  }
  X509* issuer = ca_cert.get();
  TB_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE"));
  TB_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature"));
  TB_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_ext_key_usage, eku));
  TB_RETURN_IF_ERROR(AddExtension(cert.get(), issuer, NID_subject_key_identifier, "hash"));
  TB_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always"));

  TB_ASSIGN_OR_RETURN(GeneralNamesPtr names, BuildSan(uris, dns_names, ip_addresses));
  if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) !=
      1) {
    return Internal("adding subjectAltName");
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) <= 0) {
    return Internal(absl::StrCat("signing the certificate of ", cn));
  }
  return PkiAccess::Cert(cert.release());
}

// A fresh key and a leaf certificate for it (IssueLeafFor).
absl::StatusOr<KeyAndCertificate> IssueLeaf(const TlsKey& ca_key, const Certificate& ca_cert,
                                            absl::string_view cn, int days, absl::Time now,
                                            const char* eku, const std::vector<std::string>& uris,
                                            const std::vector<std::string>& dns_names,
                                            const std::vector<std::string>& ip_addresses) {
  TB_ASSIGN_OR_RETURN(TlsKey key, TlsKey::Generate());
  TB_ASSIGN_OR_RETURN(Certificate cert, IssueLeafFor(key.get(), ca_key, ca_cert, cn, days, now, eku,
                                                     uris, dns_names, ip_addresses));
  return KeyAndCertificate{std::move(key), std::move(cert)};
}

// The rest of the one SAN URI of `cert` that starts with `prefix`.
// kInvalidArgument if there is none or more than one (`what` names the
// kind of certificate), or the certificate has two SAN extensions.
absl::StatusOr<std::string> OneUriAfter(const Certificate& cert, absl::string_view prefix,
                                        absl::string_view what) {
  int crit = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, &crit, nullptr)));
  ERR_clear_error();
  if (names == nullptr && crit == -2) {
    return absl::InvalidArgumentError(
        "certificate has more than one subjectAltName extension; refusing it");
  }
  std::vector<std::string> found;
  for (const std::string& uri : cert.SanUris()) {
    if (absl::StartsWith(uri, prefix)) found.push_back(uri.substr(prefix.size()));
  }
  if (found.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", cert.Subject(), " has ", found.size(), " \"", prefix,
                     "...\" subjectAltName URIs; ", what, " has exactly one"));
  }
  return found[0];
}

// After VerifyCertificate: `cert` is a leaf (not a CA) with extendedKeyUsage
// clientAuth, and serverAuth too if `server`. kPermissionDenied otherwise.
absl::Status CheckLeafUsage(const Certificate& cert, bool server, absl::string_view what) {
  if (cert.IsCa()) {
    return absl::PermissionDeniedError(
        absl::StrCat("certificate ", cert.Subject(), " is a CA, not ", what));
  }
  const uint32_t xku = X509_get_extended_key_usage(cert.get());
  if ((X509_get_extension_flags(cert.get()) & EXFLAG_XKUSAGE) == 0 ||
      (server && (xku & XKU_SSL_SERVER) == 0) || (xku & XKU_SSL_CLIENT) == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("certificate ", cert.Subject(), " lacks extendedKeyUsage ",
                     server ? "serverAuth and clientAuth" : "clientAuth"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KeyAndCertificate> IssueNodeCertificate(const TlsKey& ca_key,
                                                       const Certificate& ca_cert,
                                                       const NodeCertOptions& options) {
  TB_RETURN_IF_ERROR(ids::ValidateNodeCode(options.node_code));
  TB_RETURN_IF_ERROR(ValidateDays(options.days));
  for (const std::string& dns : options.dns_names) TB_RETURN_IF_ERROR(ValidateDnsName(dns));
  return IssueLeaf(ca_key, ca_cert, absl::StrCat("tongban node ", options.node_code), options.days,
                   options.now, "serverAuth,clientAuth",
                   {absl::StrCat(kNodeUriPrefix, options.node_code)}, options.dns_names,
                   options.ip_addresses);
}

absl::StatusOr<std::string> NodeCodeFromCertificate(const Certificate& cert) {
  TB_ASSIGN_OR_RETURN(std::string code, OneUriAfter(cert, kNodeUriPrefix, "a node certificate"));
  absl::Status valid = ids::ValidateNodeCode(code);
  if (!valid.ok()) return Prefixed("certificate's node URI", valid);
  return code;
}

bool IsOperatorRole(absl::string_view role) {
  for (absl::string_view r : kOperatorRoles) {
    if (r == role) return true;
  }
  return false;
}

absl::Status ValidateOperatorName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && absl::ascii_isalnum(name[0]);
  for (char c : name) {
    ok = ok &&
         ((c >= 'a' && c <= 'z') || absl::ascii_isdigit(c) || c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "operator name \"", name,
        "\" must be 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyAndCertificate> IssueOperatorCertificate(const TlsKey& ca_key,
                                                           const Certificate& ca_cert,
                                                           const OperatorCertOptions& options) {
  TB_RETURN_IF_ERROR(ids::ValidateNodeCode(options.county));
  TB_RETURN_IF_ERROR(ValidateOperatorName(options.name));
  if (!IsOperatorRole(options.role)) {
    return absl::InvalidArgumentError(absl::StrCat("operator role \"", options.role,
                                                   "\" is not one of ",
                                                   absl::StrJoin(kOperatorRoles, ", ")));
  }
  TB_RETURN_IF_ERROR(ValidateDays(options.days));
  return IssueLeaf(ca_key, ca_cert,
                   absl::StrCat("tongban operator ", options.name, " of ", options.county),
                   options.days, options.now, "clientAuth",
                   {absl::StrCat(kOperatorUriPrefix, options.county, ":", options.name),
                    absl::StrCat(kOperatorRoleUriPrefix, options.role)},
                   {}, {});
}

absl::StatusOr<OperatorIdentity> OperatorFromCertificate(const Certificate& cert) {
  TB_ASSIGN_OR_RETURN(std::string who,
                      OneUriAfter(cert, kOperatorUriPrefix, "an operator certificate"));
  TB_ASSIGN_OR_RETURN(std::string role,
                      OneUriAfter(cert, kOperatorRoleUriPrefix, "an operator certificate"));
  OperatorIdentity id;
  const size_t colon = who.find(':');
  id.county = who.substr(0, colon);
  id.name = colon == std::string::npos ? "" : who.substr(colon + 1);
  id.role = std::move(role);
  absl::Status valid = ids::ValidateNodeCode(id.county);
  if (valid.ok()) valid = ValidateOperatorName(id.name);
  if (valid.ok() && !IsOperatorRole(id.role)) {
    valid = absl::InvalidArgumentError(absl::StrCat("unknown role \"", id.role, "\""));
  }
  if (!valid.ok()) return Prefixed("certificate's operator URIs", valid);
  if (!cert.SanDnsNames().empty() || !cert.SanIpAddresses().empty() ||
      OneUriAfter(cert, kNodeUriPrefix, "").ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate ", cert.Subject(), " names a host or a node as well as an operator"));
  }
  return id;
}

absl::StatusOr<OperatorIdentity> VerifyOperatorCertificate(const Certificate& cert,
                                                           const Certificate& operator_ca,
                                                           absl::Time at) {
  TB_RETURN_IF_ERROR(VerifyCertificate(cert, operator_ca, at));
  TB_RETURN_IF_ERROR(CheckLeafUsage(cert, /*server=*/false, "an operator certificate"));
  absl::StatusOr<OperatorIdentity> id = OperatorFromCertificate(cert);
  if (!id.ok()) return absl::PermissionDeniedError(id.status().message());
  return id;
}

// --- certificate requests ---

absl::StatusOr<CertificateRequest> CertificateRequest::FromPem(absl::string_view pem) {
  TB_RETURN_IF_ERROR(CheckOnePemBlock(pem, "CERTIFICATE REQUEST", "certificate request"));
  BioPtr bio = MemBio(pem);
  if (bio == nullptr) return Internal("BIO_new_mem_buf");
  X509_REQ* req = PEM_read_bio_X509_REQ(bio.get(), nullptr, NoPassphrase, nullptr);
  if (req == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "malformed PEM certificate request");
  }
  return PkiAccess::Request(req);
}

std::string CertificateRequest::Pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_REQ(bio.get(), req_.get()) != 1) return std::string();
  return BioContents(bio.get());
}

std::string CertificateRequest::Der() const { return ToDer(req_.get(), i2d_X509_REQ); }

std::string CertificateRequest::Sha256Fingerprint() const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_REQ_digest(req_.get(), EVP_sha256(), md, &n) != 1) return std::string();
  std::vector<std::string> pairs;
  for (unsigned int i = 0; i < n; ++i) pairs.push_back(absl::StrFormat("%02X", md[i]));
  return absl::StrJoin(pairs, ":");
}

std::string CertificateRequest::SpkiDer() const {
  EVP_PKEY* key = X509_REQ_get0_pubkey(req_.get());
  if (key == nullptr) {
    ERR_clear_error();
    return std::string();
  }
  return PubkeyDer(key);
}

namespace {

// At most this many subjectAltNames in a request: a hostile request cannot
// make the CA print or copy an unbounded list.
constexpr int kMaxRequestNames = 64;

void FreeExtensions(STACK_OF(X509_EXTENSION) * exts) {
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}
using ExtensionsPtr = Ptr<STACK_OF(X509_EXTENSION), FreeExtensions>;
void FreeBasicConstraints(BASIC_CONSTRAINTS* bc) { BASIC_CONSTRAINTS_free(bc); }
using BasicConstraintsPtr = Ptr<BASIC_CONSTRAINTS, FreeBasicConstraints>;

// The subjectAltNames a request asks for, by kind.
struct RequestedNames {
  std::vector<std::string> uris;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

absl::StatusOr<std::string> IpText(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {0};
  const int len = ASN1_STRING_length(ip);
  if ((len != 4 && len != 16) ||
      ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), buf, sizeof(buf)) ==
          nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("request has an IP address of ", len, " bytes (not IPv4 or IPv6)"));
  }
  return std::string(buf);
}

absl::Status AddRequestedNames(X509_EXTENSION* ext, RequestedNames* out) {
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
  if (names == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("request's subjectAltName does not parse");
  }
  if (sk_GENERAL_NAME_num(names.get()) > kMaxRequestNames) {
    return absl::InvalidArgumentError(absl::StrCat("request asks for ",
                                                   sk_GENERAL_NAME_num(names.get()),
                                                   " subjectAltNames; at most ", kMaxRequestNames));
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gen = sk_GENERAL_NAME_value(names.get(), i);
    if (gen->type == GEN_URI) {
      out->uris.push_back(Asn1StringText(gen->d.uniformResourceIdentifier));
    } else if (gen->type == GEN_DNS) {
      out->dns_names.push_back(Asn1StringText(gen->d.dNSName));
    } else if (gen->type == GEN_IPADD) {
      TB_ASSIGN_OR_RETURN(std::string ip, IpText(gen->d.iPAddress));
      out->ip_addresses.push_back(std::move(ip));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("request asks for a subjectAltName of type ", gen->type,
                       " (only URI, DNS and IP names are certified)"));
    }
  }
  return absl::OkStatus();
}

// The checks every request passes, whatever it asks for: a P-256 key, a
// self-signature that verifies with it, and no extension but
// subjectAltName (once), basicConstraints CA:FALSE, keyUsage and
// extendedKeyUsage (the last two ignored: the CA decides them). Returns
// the names asked for.
absl::StatusOr<RequestedNames> CheckRequest(const CertificateRequest& request) {
  X509_REQ* req = request.get();
  EVP_PKEY* key = X509_REQ_get0_pubkey(req);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("request's public key does not parse");
  }
  TB_RETURN_IF_ERROR(CheckP256(key, "the request's key"));
  if (X509_REQ_verify(req, key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "request's self-signature does not verify with its key (tampered, or signed by "
        "another key)");
  }
  ExtensionsPtr exts(X509_REQ_get_extensions(req));
  ERR_clear_error();
  RequestedNames names;
  bool have_san = false;
  for (int i = 0; exts != nullptr && i < sk_X509_EXTENSION_num(exts.get()); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts.get(), i);
    const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (nid == NID_subject_alt_name) {
      if (have_san) {
        return absl::InvalidArgumentError("request has more than one subjectAltName extension");
      }
      have_san = true;
      TB_RETURN_IF_ERROR(AddRequestedNames(ext, &names));
    } else if (nid == NID_basic_constraints) {
      BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(X509V3_EXT_d2i(ext)));
      ERR_clear_error();
      if (bc == nullptr || bc->ca) {
        return absl::InvalidArgumentError(
            "request asks to be a CA (basicConstraints CA:TRUE); the CA issues only leaf "
            "certificates");
      }
    } else if (nid != NID_key_usage && nid != NID_ext_key_usage) {
      char oid[80] = {0};
      OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 0);
      return absl::InvalidArgumentError(
          absl::StrCat("request asks for extension ", oid,
                       ", which the CA decides (make the request with tongbanctl pki request)"));
    }
  }
  return names;
}

// Refuses each URI of `uris` that does not start with one of `prefixes`.
absl::Status OnlyUris(const std::vector<std::string>& uris,
                      std::initializer_list<absl::string_view> prefixes, absl::string_view what) {
  for (const std::string& uri : uris) {
    bool known = false;
    for (absl::string_view p : prefixes) known = known || absl::StartsWith(uri, p);
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("request asks for URI \"", uri, "\"; ", what,
                                                     " names only ",
                                                     absl::StrJoin(prefixes, "... and "), "..."));
    }
  }
  return absl::OkStatus();
}

// The rest of the one URI of `uris` that starts with `prefix`.
absl::StatusOr<std::string> OneRequestedUri(const std::vector<std::string>& uris,
                                            absl::string_view prefix, absl::string_view what) {
  std::vector<std::string> found;
  for (const std::string& uri : uris) {
    if (absl::StartsWith(uri, prefix)) found.push_back(uri.substr(prefix.size()));
  }
  if (found.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("request has ", found.size(), " \"", prefix,
                                                   "...\" URIs; ", what, " has exactly one"));
  }
  return found[0];
}

absl::Status ValidateNodeOptions(const NodeCertOptions& options) {
  TB_RETURN_IF_ERROR(ids::ValidateNodeCode(options.node_code));
  for (const std::string& dns : options.dns_names) TB_RETURN_IF_ERROR(ValidateDnsName(dns));
  if (options.dns_names.size() + options.ip_addresses.size() + 1 >
      static_cast<size_t>(kMaxRequestNames)) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxRequestNames - 1, " DNS names and IP addresses"));
  }
  return absl::OkStatus();
}

absl::Status ValidateOperatorOptions(const OperatorCertOptions& options) {
  TB_RETURN_IF_ERROR(ids::ValidateNodeCode(options.county));
  TB_RETURN_IF_ERROR(ValidateOperatorName(options.name));
  if (!IsOperatorRole(options.role)) {
    return absl::InvalidArgumentError(absl::StrCat("operator role \"", options.role,
                                                   "\" is not one of ",
                                                   absl::StrJoin(kOperatorRoles, ", ")));
  }
  return absl::OkStatus();
}

// A request for `key` with subject CN=`cn` and the given subjectAltNames,
// self-signed with ECDSA-with-SHA256.
absl::StatusOr<CertificateRequest> NewRequest(const TlsKey& key, absl::string_view cn,
                                              const std::vector<std::string>& uris,
                                              const std::vector<std::string>& dns_names,
                                              const std::vector<std::string>& ip_addresses) {
  ReqPtr req(X509_REQ_new());
  if (req == nullptr || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return Internal("X509_REQ_new");
  }
  NamePtr name(X509_NAME_new());
  if (name == nullptr ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1 ||
      X509_REQ_set_subject_name(req.get(), name.get()) != 1) {
    return Internal("setting the request's subject");
  }
  TB_ASSIGN_OR_RETURN(GeneralNamesPtr names, BuildSan(uris, dns_names, ip_addresses));
  ExtensionsPtr exts(sk_X509_EXTENSION_new_null());
  X509_EXTENSION* san = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
  if (exts == nullptr || san == nullptr || sk_X509_EXTENSION_push(exts.get(), san) <= 0) {
    X509_EXTENSION_free(san);
    return Internal("adding the request's subjectAltName");
  }
  if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
    return Internal("adding the request's extensions");
  }
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return Internal("signing the request");
  }
  return PkiAccess::Request(req.release());
}

}  // namespace

absl::StatusOr<CertificateRequest> CreateNodeRequest(const TlsKey& key,
                                                     const NodeCertOptions& options) {
  TB_RETURN_IF_ERROR(CheckP256(key.get(), "the key"));
  TB_RETURN_IF_ERROR(ValidateNodeOptions(options));
  return NewRequest(key, absl::StrCat("tongban node ", options.node_code),
                    {absl::StrCat(kNodeUriPrefix, options.node_code)}, options.dns_names,
                    options.ip_addresses);
}

absl::StatusOr<CertificateRequest> CreateOperatorRequest(const TlsKey& key,
                                                         const OperatorCertOptions& options) {
  TB_RETURN_IF_ERROR(CheckP256(key.get(), "the key"));
  TB_RETURN_IF_ERROR(ValidateOperatorOptions(options));
  return NewRequest(key, absl::StrCat("tongban operator ", options.name, " of ", options.county),
                    {absl::StrCat(kOperatorUriPrefix, options.county, ":", options.name),
                     absl::StrCat(kOperatorRoleUriPrefix, options.role)},
                    {}, {});
}

absl::StatusOr<NodeCertOptions> ReadNodeRequest(const CertificateRequest& request) {
  TB_ASSIGN_OR_RETURN(RequestedNames names, CheckRequest(request));
  TB_RETURN_IF_ERROR(OnlyUris(names.uris, {kNodeUriPrefix}, "a node certificate"));
  NodeCertOptions options;
  TB_ASSIGN_OR_RETURN(options.node_code,
                      OneRequestedUri(names.uris, kNodeUriPrefix, "a node certificate"));
  options.dns_names = std::move(names.dns_names);
  options.ip_addresses = std::move(names.ip_addresses);
  absl::Status valid = ValidateNodeOptions(options);
  if (!valid.ok()) return Prefixed("request", valid);
  return options;
}

absl::StatusOr<OperatorCertOptions> ReadOperatorRequest(const CertificateRequest& request) {
  TB_ASSIGN_OR_RETURN(RequestedNames names, CheckRequest(request));
  TB_RETURN_IF_ERROR(OnlyUris(names.uris, {kOperatorUriPrefix, kOperatorRoleUriPrefix},
                              "an operator certificate"));
  if (!names.dns_names.empty() || !names.ip_addresses.empty()) {
    return absl::InvalidArgumentError(
        "request asks for DNS names or IP addresses; an operator certificate names none");
  }
  TB_ASSIGN_OR_RETURN(std::string who,
                      OneRequestedUri(names.uris, kOperatorUriPrefix, "an operator certificate"));
  OperatorCertOptions options;
  TB_ASSIGN_OR_RETURN(
      options.role, OneRequestedUri(names.uris, kOperatorRoleUriPrefix, "an operator certificate"));
  const size_t colon = who.find(':');
  options.county = who.substr(0, colon);
  options.name = colon == std::string::npos ? "" : who.substr(colon + 1);
  absl::Status valid = ValidateOperatorOptions(options);
  if (!valid.ok()) return Prefixed("request", valid);
  return options;
}

absl::StatusOr<Certificate> SignNodeRequest(const TlsKey& ca_key, const Certificate& ca_cert,
                                            const CertificateRequest& request, int days,
                                            absl::Time now) {
  TB_ASSIGN_OR_RETURN(NodeCertOptions options, ReadNodeRequest(request));
  TB_RETURN_IF_ERROR(ValidateDays(days));
  return IssueLeafFor(X509_REQ_get0_pubkey(request.get()), ca_key, ca_cert,
                      absl::StrCat("tongban node ", options.node_code), days, now,
                      "serverAuth,clientAuth", {absl::StrCat(kNodeUriPrefix, options.node_code)},
                      options.dns_names, options.ip_addresses);
}

absl::StatusOr<Certificate> SignOperatorRequest(const TlsKey& ca_key, const Certificate& ca_cert,
                                                const CertificateRequest& request, int days,
                                                absl::Time now) {
  TB_ASSIGN_OR_RETURN(OperatorCertOptions options, ReadOperatorRequest(request));
  TB_RETURN_IF_ERROR(ValidateDays(days));
  return IssueLeafFor(X509_REQ_get0_pubkey(request.get()), ca_key, ca_cert,
                      absl::StrCat("tongban operator ", options.name, " of ", options.county), days,
                      now, "clientAuth",
                      {absl::StrCat(kOperatorUriPrefix, options.county, ":", options.name),
                       absl::StrCat(kOperatorRoleUriPrefix, options.role)},
                      {}, {});
}

absl::Status VerifyCertificate(const Certificate& cert, const Certificate& ca, absl::Time at) {
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return Internal("setting up certificate verification");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(at));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx.get()) == 1) return absl::OkStatus();
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return absl::PermissionDeniedError(
      absl::StrCat("certificate ", cert.Subject(), " does not verify against CA ", ca.Subject(),
                   " at ", absl::FormatTime(absl::RFC3339_sec, at, absl::UTCTimeZone()), ": ",
                   X509_verify_cert_error_string(err)));
}

absl::StatusOr<std::string> VerifyNodeCertificate(const Certificate& cert, const Certificate& ca,
                                                  absl::Time at) {
  TB_RETURN_IF_ERROR(VerifyCertificate(cert, ca, at));
  TB_RETURN_IF_ERROR(CheckLeafUsage(cert, /*server=*/true, "a node certificate"));
  absl::StatusOr<std::string> code = NodeCodeFromCertificate(cert);
  if (!code.ok()) return absl::PermissionDeniedError(code.status().message());
  return code;
}

// --- files ---

absl::StatusOr<TlsKey> ReadTlsKeyFile(const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string pem, crypto::ReadSmallFile(path, /*secret=*/true));
  absl::StatusOr<TlsKey> key = TlsKey::FromPem(pem);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key.ok()) return Prefixed(path, key.status());
  return key;
}

absl::Status WriteTlsKeyFile(const TlsKey& key, const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string pem, key.PrivatePem());
  absl::Status s = crypto::WriteNewFile(path, pem, kSecretMode);
  OPENSSL_cleanse(pem.data(), pem.size());
  return s;
}

absl::StatusOr<Certificate> ReadCertificateFile(const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string pem, crypto::ReadSmallFile(path, /*secret=*/false));
  absl::StatusOr<Certificate> cert = Certificate::FromPem(pem);
  if (!cert.ok()) return Prefixed(path, cert.status());
  return cert;
}

absl::Status WriteCertificateFile(const Certificate& cert, const std::string& path) {
  const std::string pem = cert.Pem();
  if (pem.empty()) return Internal(absl::StrCat(path, ": encoding the certificate"));
  return crypto::WriteNewFile(path, pem, kPublicMode);
}

absl::StatusOr<CertificateRequest> ReadCertificateRequestFile(const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string pem, crypto::ReadSmallFile(path, /*secret=*/false));
  absl::StatusOr<CertificateRequest> request = CertificateRequest::FromPem(pem);
  if (!request.ok()) return Prefixed(path, request.status());
  return request;
}

absl::Status WriteCertificateRequestFile(const CertificateRequest& request,
                                         const std::string& path) {
  const std::string pem = request.Pem();
  if (pem.empty()) return Internal(absl::StrCat(path, ": encoding the certificate request"));
  return crypto::WriteNewFile(path, pem, kPublicMode);
}

}  // namespace tongban::pki
