#include "common/crypto/kdf.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "absl/strings/str_cat.h"
#include "common/crypto/openssl_util.h"
#include "common/status_macros.h"

namespace tongban::crypto {
namespace {

using internal::Bytes;
using internal::EvpMdPtr;

// The suite's hash, fetched per call (logins are rare; no cache needed).
absl::StatusOr<EvpMdPtr> FetchHash(absl::string_view name) {
  EvpMdPtr md(EVP_MD_fetch(nullptr, std::string(name).c_str(), nullptr));
  if (md == nullptr) return internal::OpenSslInternal(absl::StrCat("fetching ", name));
  return md;
}

absl::string_view HashName(SuiteId suite) { return suite == SuiteId::kGm ? "SM3" : "SHA256"; }

absl::StatusOr<std::string> HmacWith(absl::string_view hash, absl::string_view key,
                                     absl::string_view message) {
  TB_ASSIGN_OR_RETURN(EvpMdPtr md, FetchHash(hash));
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (HMAC(md.get(), Bytes(key), static_cast<int>(key.size()), Bytes(message), message.size(),
           internal::MutableBytes(out), &len) == nullptr) {
    return internal::OpenSslInternal(absl::StrCat("HMAC-", hash));
  }
  out.resize(len);
  return out;
}

}  // namespace

absl::StatusOr<std::string> Hmac(SuiteId suite, absl::string_view key, absl::string_view message) {
  return HmacWith(HashName(suite), key, message);
}

absl::StatusOr<std::string> HmacSha1(absl::string_view key, absl::string_view message) {
  return HmacWith("SHA1", key, message);
}

absl::StatusOr<std::string> Pbkdf2(SuiteId suite, absl::string_view password,
                                   absl::string_view salt, uint32_t iterations, size_t length) {
  if (iterations == 0 || length == 0) {
    return absl::InvalidArgumentError(absl::StrCat("PBKDF2: iterations (", iterations,
                                                   ") and length (", length, ") must be positive"));
  }
  TB_ASSIGN_OR_RETURN(EvpMdPtr md, FetchHash(HashName(suite)));
  std::string out(length, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data() != nullptr ? password.data() : "",
                        static_cast<int>(password.size()), Bytes(salt),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), md.get(),
                        static_cast<int>(length), internal::MutableBytes(out)) != 1) {
    return internal::OpenSslInternal("PBKDF2");
  }
  return out;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tongban::crypto
