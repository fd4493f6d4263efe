#include "common/crypto/openssl_util.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace tongban::crypto::internal {

std::string DrainOpenSslErrors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  unsigned long code;
  while ((code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      absl::StrAppend(&out, " (", data, ")");
    }
  }
  if (out.empty()) out = "no OpenSSL error detail";
  return out;
}

absl::Status OpenSslError(absl::StatusCode code, absl::string_view what) {
  return absl::Status(code, absl::StrCat(what, ": ", DrainOpenSslErrors()));
}

void OpenSslFatal(absl::string_view what) {
  const std::string detail = DrainOpenSslErrors();
  std::fprintf(stderr, "fatal OpenSSL failure in %.*s: %s\n", static_cast<int>(what.size()),
               what.data(), detail.c_str());
  std::abort();
}

void Cleanse(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace tongban::crypto::internal
