// Electronic certificates (电子证明) that anyone can check offline: the compact
// signed payload a county issues (small enough for a QR code), its text form,
// the national node's signed revocation list, and the offline verification
// that needs nothing but the roster and that list (README "Offline
// certificates" has the formats byte by byte).
//
// Payload (version 1), big-endian integers:
//   version u8 = 1 | issuer u24 (six-digit county code as a number) |
//   key id 8 bytes (the issuer's roster signing key) | type u8 |
//   valid_from u16, valid_to u16 (days since 1970-01-01) |
//   issued_at u32 (Unix seconds) | holder salt 8 bytes | holder hash 16 bytes |
//   number: len u8 + bytes | facts: count u8, each key len u8 + bytes,
//   value len u8 + bytes (sorted by key) |
//   signature: len u8 + the issuer suite's signature over every byte before
//   the signature's length byte.
// Text form: "TB1:" + base45 (RFC 9285) of the bytes, all in the QR
// alphanumeric character set.
//
// The person: under PIPL's data minimisation the payload carries no ID
// number, only a binding: the first 16 bytes of the issuer suite's hash of
// "tongban-cert-holder/1" | salt | the normalized 18-character ID, with a
// fresh random 8-byte salt per payload. A verifier who holds the person's ID
// card checks the binding (--person); anyone else learns nothing that links
// two payloads of one person. An ID number has little entropy, so the hash
// does not stop a targeted guess by someone who already suspects whose
// certificate it is; it stops the payload from being an ID carrier.
//
// Verdict order (the first that applies wins): malformed (the encoding does
// not parse: prefix, base45, truncation, lengths, version, trailing bytes) ->
// unknown issuer (issuer not in the roster, revoked in it, or the key id is
// not one of its signing keys) -> forged (the signature does not verify) -> wrong holder
// (only when a person was given and the binding does not match) -> revoked
// (on the verified revocation list, revoked or superseded) -> not yet valid /
// expired (today in China Standard Time against the validity days) -> valid.
// Nothing the signature does not cover is ever reported as a state, and a
// revocation outranks an expiry.
//
// Thread safety: free functions; the structs are plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/crypto/suite.h"
#include "sync/roster.h"
#include "tongban/v1/records.pb.h"

namespace tongban::workflows {

inline constexpr uint8_t kCertificatePayloadVersion = 1;
inline constexpr absl::string_view kCertificateTextPrefix = "TB1:";
inline constexpr size_t kHolderSaltSize = 8;
inline constexpr size_t kHolderHashSize = 16;

// What a payload states (all of it covered by the signature).
struct CertificateClaims {
  std::string issuer;  // six-digit county code
  std::string key_id;  // 16 hex characters
  v1::CertificateType type = v1::CERTIFICATE_TYPE_UNSPECIFIED;
  std::string number;
  absl::CivilDay valid_from;
  absl::CivilDay valid_to;
  absl::Time issued_at;  // whole seconds
  std::string holder_salt;
  std::string holder_hash;
  std::vector<std::pair<std::string, std::string>> facts;  // sorted by key
};

// The holder binding of `person` (normalized) under `suite` and `salt`.
std::string HolderHash(crypto::SuiteId suite, absl::string_view salt, absl::string_view person);

// Builds and signs the payload of `cert` held for `person` with the issuer's
// signing key. kInvalidArgument naming the field that does not fit (dates
// outside 1970..2149, a number or fact longer than 255 bytes, more than 255
// facts, an issuer that is not six digits).
absl::StatusOr<std::string> SignCertificatePayload(const v1::Certificate& cert,
                                                   absl::string_view person, absl::Time issued_at,
                                                   const crypto::PrivateKey& key);

// A decoded payload: the claims, the signed bytes and the signature. Checks
// the encoding only (kInvalidArgument "certificate payload: ... at byte N").
struct DecodedCertificate {
  CertificateClaims claims;
  std::string signed_bytes;
  std::string signature;
};
absl::StatusOr<DecodedCertificate> DecodeCertificatePayload(absl::string_view bytes);

// "TB1:" + base45, and back (kInvalidArgument for a missing prefix or a
// character or triple that is not base45).
std::string CertificateText(absl::string_view bytes);
absl::StatusOr<std::string> CertificateBytesFromText(absl::string_view text);

// --- the national node's revocation list ---
//
// Format (version 1): magic "TBR" | version u8 = 1 | national code u24 |
// key id 8 bytes | issued_at u32 (Unix seconds; also the list's version:
// a newer list has a later time) | count u32 | entries sorted by (issuer,
// number), each issuer u24 | reason u8 (1 revoked, 2 superseded) | number
// len u8 + bytes | signature len u16 + the national key's signature over
// every byte before it.
enum class RevocationReason : uint8_t { kRevoked = 1, kSuperseded = 2 };

struct RevokedCertificate {
  std::string issuer;
  std::string number;
  RevocationReason reason = RevocationReason::kRevoked;
  friend bool operator<(const RevokedCertificate& a, const RevokedCertificate& b) {
    return std::tie(a.issuer, a.number) < std::tie(b.issuer, b.number);
  }
};

struct RevocationList {
  std::string national;
  std::string key_id;
  absl::Time issued_at;
  std::vector<RevokedCertificate> entries;  // sorted, unique
  // The entry for (issuer, number), or nullptr.
  const RevokedCertificate* Find(absl::string_view issuer, absl::string_view number) const;
};

// Sorts and de-duplicates `entries` (the first of equal ones is kept) and signs the list with the
// national node's key.
absl::StatusOr<std::string> SignRevocationList(std::vector<RevokedCertificate> entries,
                                               absl::string_view national, absl::Time issued_at,
                                               const crypto::PrivateKey& key);

// Parses `bytes` and checks its signature with the roster's national node
// key: kInvalidArgument for a malformed list, kPermissionDenied for a list
// not signed by the roster's national node.
absl::StatusOr<RevocationList> VerifyRevocationList(absl::string_view bytes,
                                                    const sync::Roster& roster);

// --- offline verification ---

enum class Verdict {
  kValid,
  kMalformed,
  kUnknownIssuer,
  kForged,
  kWrongHolder,
  kRevoked,
  kNotYetValid,
  kExpired,
};
// "valid", "malformed", "unknown issuer", "forged", "wrong holder",
// "revoked", "not yet valid", "expired".
absl::string_view VerdictName(Verdict v);

struct CertificateVerification {
  Verdict verdict = Verdict::kMalformed;
  std::string detail;                       // one line: why (never an ID)
  std::optional<CertificateClaims> claims;  // set once the payload decoded
  bool holder_checked = false;
};

// Verifies payload `bytes` with nothing but `roster` (already verified
// against the root key), an optional verified revocation list, `today`
// (China Standard Time) and, optionally, the holder's normalized ID.
CertificateVerification VerifyCertificate(absl::string_view bytes, const sync::Roster& roster,
                                          const RevocationList* revocations, absl::CivilDay today,
                                          std::optional<std::string> person);

}  // namespace tongban::workflows
