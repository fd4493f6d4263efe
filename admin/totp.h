// Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1,
// 30-second steps from the Unix epoch, 6 digits, what every authenticator
// app shows. Secrets are 20 random bytes, written in RFC 4648 base32 for
// enrolment (and in the accounts file, admin/operators.h).
//
// Errors: malformed base32 or a malformed code is kInvalidArgument; a code
// that matches no step in the window is kUnauthenticated. Messages never
// hold the secret or the code.
//
// Thread safety: free functions, safe to call concurrently.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tongban::admin {

inline constexpr absl::Duration kTotpStep = absl::Seconds(30);
inline constexpr int kTotpDigits = 6;
inline constexpr size_t kTotpSecretSize = 20;

// RFC 4648 base32: upper case, no padding.
std::string Base32Encode(absl::string_view bytes);
// Accepts upper or lower case, with or without '=' padding.
absl::StatusOr<std::string> Base32Decode(absl::string_view text);

// The time step containing `at`: floor(unix seconds / 30).
int64_t TotpStep(absl::Time at);
// The code of `step`, `digits` long (6 to 8; RFC 6238's vectors use 8).
absl::StatusOr<std::string> TotpCodeAt(absl::string_view secret, int64_t step,
                                       int digits = kTotpDigits);

// Checks a 6-digit `code` against the steps at-1, at, at+1 (clock drift of
// up to one step either way) and returns the step it matches. Steps at or
// before `last_used_step` are not accepted, so a code cannot be replayed.
// kInvalidArgument if `code` is not 6 ASCII digits; kUnauthenticated if no
// step matches.
absl::StatusOr<int64_t> MatchTotp(absl::string_view secret, absl::string_view code, absl::Time at,
                                  int64_t last_used_step);

// 20 random bytes.
absl::StatusOr<std::string> GenerateTotpSecret();
// The otpauth:// URI an authenticator app enrols from (as a QR code):
// otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
std::string TotpUri(absl::string_view issuer, absl::string_view account, absl::string_view secret);

}  // namespace tongban::admin
