// Sealing a short secret (a file key) to a node's signing key, so that only
// the holder of the private key can open it: the key encapsulation of the
// offline bundle (sync/bundle.h), which is encrypted to its recipient's
// roster key.
//
//   gm:   SM2 public-key encryption (GB/T 32918.4, SM3 inside), as OpenSSL 3
//         implements it; the sealed form is 0x02 || the ASN.1 ciphertext.
//   intl: the Ed25519 key's Montgomery form (RFC 7748 section 4.1: the map
//         libsodium's crypto_sign_ed25519_pk_to_curve25519 uses), X25519
//         with a fresh ephemeral key, HMAC-SHA-256 of the shared secret over
//         "tongban-sealed-key/v1" || ephemeral || recipient as the key of an
//         AES-256-GCM seal; the sealed form is 0x01 || ephemeral (32 bytes)
//         || the seal.
// A signing key is used for encryption here only through these derived
// forms (intl) or SM2's own encryption scheme (gm), which GB/T 32918 defines
// for the same key pair.
//
// Errors: a sealed form that does not open with the key (another key,
// altered or truncated bytes, another suite) is kInvalidArgument; an OpenSSL
// failure that is not the input's fault is kInternal.
//
// Thread safety: free functions, safe to call concurrently.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/suite.h"

namespace tongban::crypto {

// Longest secret SealTo takes.
inline constexpr size_t kMaxSealedSecret = 64;

// Seals `secret` (1..kMaxSealedSecret bytes) to `to`.
absl::StatusOr<std::string> SealTo(const PublicKey& to, absl::string_view secret);

// Opens what SealTo sealed to `key`'s public half.
absl::StatusOr<std::string> OpenSealed(const PrivateKey& key, absl::string_view sealed);

}  // namespace tongban::crypto
