// Small helpers shared by the OpenSSL-backed crypto code: owning pointers for
// OpenSSL objects and the one place where OpenSSL errors become absl::Status.
// Internal to common/: the crypto suites and the PKI use it; nothing above
// common/ includes it.
//
// Thread safety: free functions; the error queue they drain is per thread.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tongban::crypto::internal {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using OpenSslPtr = std::unique_ptr<T, OpenSslDeleter<T, Free>>;

using EvpMdPtr = OpenSslPtr<EVP_MD, EVP_MD_free>;
using EvpMdCtxPtr = OpenSslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpCipherPtr = OpenSslPtr<EVP_CIPHER, EVP_CIPHER_free>;
using EvpCipherCtxPtr = OpenSslPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using EvpPkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtxPtr = OpenSslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using BioPtr = OpenSslPtr<BIO, BIO_free_all>;
using BignumPtr = OpenSslPtr<BIGNUM, BN_clear_free>;
using BnCtxPtr = OpenSslPtr<BN_CTX, BN_CTX_free>;
using EcGroupPtr = OpenSslPtr<EC_GROUP, EC_GROUP_free>;
using EcPointPtr = OpenSslPtr<EC_POINT, EC_POINT_clear_free>;
using ParamBldPtr = OpenSslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = OpenSslPtr<OSSL_PARAM, OSSL_PARAM_free>;

// A non-null pointer to the bytes of `s` (OpenSSL rejects some null pointers
// even when the length is zero).
inline const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data() != nullptr ? s.data() : "");
}
inline unsigned char* MutableBytes(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}

// Drains this thread's OpenSSL error queue into one string
// ("error:...; error:..."), or "no OpenSSL error detail" if it is empty.
std::string DrainOpenSslErrors();

// A Status with `code` and the message "<what>: <drained OpenSSL errors>".
// Always empties the error queue.
absl::Status OpenSslError(absl::StatusCode code, absl::string_view what);
inline absl::Status OpenSslInternal(absl::string_view what) {
  return OpenSslError(absl::StatusCode::kInternal, what);
}

// For the few calls that cannot report a Status (Hasher::Hash) and fail only
// when memory runs out or OpenSSL is broken: prints the error and aborts.
[[noreturn]] void OpenSslFatal(absl::string_view what);

// Overwrites a secret before the memory is released.
void Cleanse(std::string& secret);

// A std::string holding secret bytes, wiped by the destructor.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  ~SecretString() { Cleanse(value_); }
  std::string& value() { return value_; }
  const std::string& value() const { return value_; }

 private:
  std::string value_;
};

}  // namespace tongban::crypto::internal
