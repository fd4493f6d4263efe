#include "admin/totp.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/kdf.h"
#include "common/crypto/suite.h"
#include "common/status_macros.h"

namespace tongban::admin {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// RFC 3986 percent-encoding of everything but unreserved characters.
std::string UriEscape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::string_view("0123456789ABCDEF" + (c >> 4), 1),
                      absl::string_view("0123456789ABCDEF" + (c & 15), 1));
    }
  }
  return out;
}

}  // namespace

std::string Base32Encode(absl::string_view bytes) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

absl::StatusOr<std::string> Base32Decode(absl::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = absl::ascii_toupper(static_cast<unsigned char>(text[i]));
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= '2' && c <= '7') v = c - '2' + 26;
    if (v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("base32: character ", i + 1, " is not A-Z or 2-7"));
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  // Leftover bits must be padding zeros of an encoding of whole bytes.
  if (bits >= 5 || (buffer & ((1u << bits) - 1)) != 0) {
    return absl::InvalidArgumentError("base32: the length or the last character is not valid");
  }
  return out;
}

int64_t TotpStep(absl::Time at) {
  return absl::ToInt64Seconds(absl::Floor(at - absl::UnixEpoch(), kTotpStep)) /
         absl::ToInt64Seconds(kTotpStep);
}

absl::StatusOr<std::string> TotpCodeAt(absl::string_view secret, int64_t step, int digits) {
  if (digits < 6 || digits > 8) {
    return absl::InvalidArgumentError(absl::StrCat("TOTP: ", digits, " digits, 6 to 8 allowed"));
  }
  std::string counter(8, '\0');
  for (int i = 7; i >= 0; --i, step >>= 8) counter[i] = static_cast<char>(step & 0xff);
  TB_ASSIGN_OR_RETURN(std::string mac, crypto::HmacSha1(secret, counter));
  // RFC 4226 section 5.3: dynamic truncation.
  const int offset = mac[19] & 0xf;
  const uint32_t bin = (static_cast<uint32_t>(mac[offset] & 0x7f) << 24) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(mac[offset + 1])) << 16) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(mac[offset + 2])) << 8) |
                       static_cast<uint32_t>(static_cast<uint8_t>(mac[offset + 3]));
  uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  std::string code = absl::StrCat(bin % modulus);
  return std::string(digits - code.size(), '0') + code;
}

absl::StatusOr<int64_t> MatchTotp(absl::string_view secret, absl::string_view code, absl::Time at,
                                  int64_t last_used_step) {
  bool digits = code.size() == static_cast<size_t>(kTotpDigits);
  for (char c : code) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits) return absl::InvalidArgumentError("TOTP code is not 6 digits");
  const int64_t now = TotpStep(at);
  bool matched = false;
  int64_t step_matched = 0;
  // Every step is computed and compared, matched or not, so the time taken
  // does not tell which step matched.
  for (int64_t step = now - 1; step <= now + 1; ++step) {
    TB_ASSIGN_OR_RETURN(std::string expected, TotpCodeAt(secret, step));
    if (crypto::ConstantTimeEquals(expected, code) && step > last_used_step && !matched) {
      matched = true;
      step_matched = step;
    }
  }
  if (!matched) return absl::UnauthenticatedError("TOTP code does not match");
  return step_matched;
}

absl::StatusOr<std::string> GenerateTotpSecret() { return crypto::RandomBytes(kTotpSecretSize); }

std::string TotpUri(absl::string_view issuer, absl::string_view account, absl::string_view secret) {
  return absl::StrCat("otpauth://totp/", UriEscape(issuer), ":", UriEscape(account),
                      "?secret=", Base32Encode(secret), "&issuer=", UriEscape(issuer),
                      "&algorithm=SHA1&digits=6&period=30");
}

}  // namespace tongban::admin
