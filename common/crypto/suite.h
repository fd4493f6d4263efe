// The two crypto suites behind one interface.
//
//   intl: Ed25519 signatures, SHA-256, AES-256-GCM (AES-256-CTR at rest)
//   gm:   SM2 signatures over SM3 with the default user ID
//         "1234567812345678" (GB/T 32918), SM3, SM4-GCM (SM4-CTR at rest)
//
// Everything is OpenSSL 3 EVP with algorithms fetched once per object and
// contexts reused. Every call works on exact bytes: callers sign and verify
// the bytes they store and send, never a re-serialized message.
//
// Errors: a bad signature, a malformed key or a failed AEAD tag is
// kInvalidArgument (the input's fault, never retried); an OpenSSL failure that
// is not the input's fault is kInternal, with the OpenSSL error text.
//
// Thread safety: Suite, PublicKey and PrivateKey are immutable and safe to
// share. Hasher, Signer, Verifier and Aead hold reusable OpenSSL contexts and
// belong to one thread at a time; make one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tongban::crypto {

enum class SuiteId { kIntl = 1, kGm = 2 };

// "intl" or "gm"; anything else is kInvalidArgument naming the value.
absl::StatusOr<SuiteId> ParseSuiteId(absl::string_view name);
absl::string_view SuiteName(SuiteId id);

// Both suites' hashes (SHA-256, SM3) give 32 bytes.
inline constexpr size_t kDigestSize = 32;
using Digest = std::array<uint8_t, kDigestSize>;

inline absl::string_view AsStringView(const Digest& d) {
  return absl::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

// A reusable hash context. Hash() of several parts hashes their concatenation.
class Hasher {
 public:
  virtual ~Hasher() = default;
  virtual Digest Hash(absl::Span<const absl::string_view> parts) = 0;
  Digest Hash(absl::string_view data) { return Hash({&data, 1}); }
};

// An immutable public key of the suite's signature algorithm.
class PublicKey {
 public:
  virtual ~PublicKey() = default;
  virtual SuiteId suite() const = 0;
  // SubjectPublicKeyInfo, DER and PEM.
  virtual std::string SpkiDer() const = 0;
  virtual std::string Pem() const = 0;
  // 16 lower-case hex characters: the first 8 bytes of the suite's hash of
  // the SPKI DER. Names the key in checkpoints and rosters.
  virtual std::string KeyId() const = 0;
};

// Checks signatures over exact bytes. A bad signature is kInvalidArgument.
class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual absl::Status Verify(absl::string_view message, absl::string_view signature) = 0;
};

class Signer {
 public:
  virtual ~Signer() = default;
  virtual absl::StatusOr<std::string> Sign(absl::string_view message) = 0;
};

// An immutable private key; it also knows its public half.
class PrivateKey {
 public:
  virtual ~PrivateKey() = default;
  virtual SuiteId suite() const = 0;
  virtual const PublicKey& public_key() const = 0;
  // PKCS#8, PEM, unencrypted (the file's permissions protect it).
  virtual std::string Pem() const = 0;
  virtual std::unique_ptr<Signer> NewSigner() const = 0;
};

// Authenticated encryption: AES-256-GCM or SM4-GCM with a 12-byte nonce and
// a 16-byte tag. Seal() output is nonce || ciphertext || tag with a fresh
// random nonce; Open() takes that layout back. A wrong key, altered bytes or
// a truncated input is kInvalidArgument.
class Aead {
 public:
  virtual ~Aead() = default;
  virtual absl::StatusOr<std::string> Seal(absl::string_view plaintext, absl::string_view aad) = 0;
  virtual absl::StatusOr<std::string> Open(absl::string_view sealed, absl::string_view aad) = 0;
  // The same with a caller-chosen nonce, for known-answer tests only.
  virtual absl::StatusOr<std::string> SealWithNonceForTest(absl::string_view nonce,
                                                           absl::string_view plaintext,
                                                           absl::string_view aad) = 0;
};

// The block cipher in counter mode, for encryption at rest where files are
// read at random offsets. Apply() XORs the key stream for byte offset
// `offset` of a stream whose first counter block is `iv` (16 bytes; the
// counter is the whole block, big-endian, incremented per 16 bytes).
// Encryption and decryption are the same call. Thread-safe: each call uses
// its own context.
class CtrCipher {
 public:
  virtual ~CtrCipher() = default;
  virtual absl::Status Apply(absl::string_view iv, uint64_t offset, char* data,
                             size_t size) const = 0;
};

// A suite: the factory of all of the above for one SuiteId.
class Suite {
 public:
  virtual ~Suite() = default;
  virtual SuiteId id() const = 0;
  absl::string_view name() const { return SuiteName(id()); }

  virtual std::unique_ptr<Hasher> NewHasher() const = 0;

  // A new random key pair.
  virtual absl::StatusOr<std::unique_ptr<PrivateKey>> GenerateKey() const = 0;
  // Parses a PEM private key (PKCS#8) or public key (SPKI) of this suite's
  // algorithm; a key of another algorithm is kInvalidArgument naming both.
  virtual absl::StatusOr<std::unique_ptr<PrivateKey>> PrivateKeyFromPem(
      absl::string_view pem) const = 0;
  virtual absl::StatusOr<std::unique_ptr<PublicKey>> PublicKeyFromPem(
      absl::string_view pem) const = 0;
  virtual absl::StatusOr<std::unique_ptr<PublicKey>> PublicKeyFromSpkiDer(
      absl::string_view der) const = 0;
  // For known-answer tests: a key from its raw private scalar / seed bytes
  // (32 bytes for both suites).
  virtual absl::StatusOr<std::unique_ptr<PrivateKey>> PrivateKeyFromRaw(
      absl::string_view raw) const = 0;
  virtual std::unique_ptr<Verifier> NewVerifier(const PublicKey& key) const = 0;

  // Symmetric key sizes: 32 bytes (AES-256) or 16 bytes (SM4).
  virtual size_t symmetric_key_size() const = 0;
  virtual absl::StatusOr<std::unique_ptr<Aead>> NewAead(absl::string_view key) const = 0;
  virtual absl::StatusOr<std::unique_ptr<CtrCipher>> NewCtrCipher(absl::string_view key) const = 0;
};

// The process-wide suite objects; never null, never freed.
const Suite& GetSuite(SuiteId id);

// `n` bytes from OpenSSL's CSPRNG.
absl::StatusOr<std::string> RandomBytes(size_t n);

}  // namespace tongban::crypto
