// Keyed hashing and password-based key derivation over OpenSSL 3 EVP:
// HMAC (RFC 2104) and PBKDF2 (RFC 8018) with the suite's hash (SHA-256 for
// intl, SM3 for gm), and HMAC-SHA1 for TOTP (RFC 6238 fixes SHA-1 for the
// codes authenticator apps show; its use there is as a PRF, where SHA-1's
// collision weakness does not apply).
//
// Errors: an OpenSSL failure is kInternal with OpenSSL's text; iterations of
// 0 or an output length of 0 are kInvalidArgument.
//
// Thread safety: free functions, safe to call concurrently.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/suite.h"

namespace tongban::crypto {

// HMAC with the suite's hash: 32 bytes.
absl::StatusOr<std::string> Hmac(SuiteId suite, absl::string_view key, absl::string_view message);
// HMAC-SHA1: 20 bytes.
absl::StatusOr<std::string> HmacSha1(absl::string_view key, absl::string_view message);

// PBKDF2 with HMAC over the suite's hash: `length` bytes.
absl::StatusOr<std::string> Pbkdf2(SuiteId suite, absl::string_view password,
                                   absl::string_view salt, uint32_t iterations, size_t length);

// True iff a and b are equal, in time that depends on their lengths only.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace tongban::crypto
