// Signing-key rotation (DESIGN.md section 3): an entry in the origin's own
// log, signed by the key it retires and by the key it introduces. The new key
// signs every checkpoint of the log from the entry's position on; the old
// key signs nothing from there on, and everything it signed before stays
// verifiable under it (public keys are never dropped).
//
// Signed bytes (UTF-8 text, each line ending in '\n', no other whitespace):
//   tongban-key-rotation/v1
//   <suite: intl|gm>
//   <origin: 6-digit node code>
//   <epoch: decimal, >= 1>
//   <seq: decimal, >= 1>          the entry's own seq in that epoch's log
//   <time: decimal microseconds since the Unix epoch, UTC>
//   <old key_id: 16 lower-case hex>
//   <old key: SubjectPublicKeyInfo DER, lower-case hex>
//   <new key_id: 16 lower-case hex>
//   <new key: SubjectPublicKeyInfo DER, lower-case hex>
// Both signatures are over these bytes. The header keeps the text apart from
// checkpoints, cosignatures and restart records, so no signature can be
// replayed as another.
//
// Positions: a rotation at (epoch e, seq s) makes the new key sign the
// checkpoints of epoch e with tree size >= s and of every later epoch; the
// old key signs those of epoch e below s and of earlier epochs.
//
// Thread safety: plain values and free functions; a KeyHistory is immutable
// once built.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/suite.h"

namespace tongban::merkle {

struct KeyRotation {
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  std::string origin;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  int64_t time_micros = 0;
  std::string old_key_id;
  std::string old_spki_der;
  std::string new_key_id;
  std::string new_spki_der;
};

// The text above. `r` must be well-formed (ParseKeyRotation accepts it).
std::string EncodeKeyRotation(const KeyRotation& r);
// Parses and checks the text: every field present and well-formed, the two
// keys parse as keys of the suite with the key ids given, and differ.
// kInvalidArgument naming the line.
absl::StatusOr<KeyRotation> ParseKeyRotation(absl::string_view text);

struct SignedKeyRotation {
  std::string body;  // EncodeKeyRotation's text
  std::string old_signature;
  std::string new_signature;
};

// Signs the rotation from `old_key` to `new_key` at (origin, epoch, seq):
// fills the suite and both keys from the keys. kInvalidArgument for keys of
// two suites, the same key twice or a malformed position.
absl::StatusOr<SignedKeyRotation> SignKeyRotation(absl::string_view origin, uint64_t epoch,
                                                  uint64_t seq, absl::Time time,
                                                  const crypto::PrivateKey& old_key,
                                                  const crypto::PrivateKey& new_key);
// Parses the text and checks both signatures against the keys it names.
// Whether the old key may rotate at all is KeyHistory's question.
// kInvalidArgument naming the problem.
absl::StatusOr<KeyRotation> VerifyKeyRotation(const SignedKeyRotation& s);

// A place in an origin's history: (epoch, tree size), in that order.
struct LogPosition {
  uint64_t epoch = 0;
  uint64_t size = 0;
  friend auto operator<=>(const LogPosition&, const LogPosition&) = default;
};

// Which key may sign an origin's checkpoint at which position: the keys the
// roster lists (from the start) and the keys rotations introduced (from the
// rotation's position on), each until a rotation retires it.
class KeyHistory {
 public:
  // The roster's key `key_id` of the origin, or nullptr.
  using RosterKeys = std::function<const crypto::PublicKey*(absl::string_view key_id)>;

  // Builds the history of `origin` from `rotations` (parsed; their
  // signatures checked by the caller, or read from this node's own store),
  // in any order. Each rotation must be by a key the roster lists or an
  // earlier rotation introduced, still valid at its position; a key is
  // retired once and introduced once. kInvalidArgument naming the rotation
  // otherwise (another origin or suite; two rotations of one key is an
  // origin contradicting itself).
  static absl::StatusOr<KeyHistory> Build(absl::string_view origin, crypto::SuiteId suite,
                                          RosterKeys roster, std::vector<KeyRotation> rotations);

  // The key `key_id` if it may sign the checkpoint at `at`. kNotFound when
  // neither the roster nor a rotation gives the key; kFailedPrecondition
  // naming the window when the key signs only before or after `at`.
  absl::StatusOr<const crypto::PublicKey*> KeyFor(absl::string_view key_id, LogPosition at) const;
  // The key `key_id` whatever its window (for signatures that name no log
  // position, such as the witness's cosignatures), or nullptr.
  const crypto::PublicKey* Find(absl::string_view key_id) const;

  // The rotations, by position.
  const std::vector<KeyRotation>& rotations() const { return rotations_; }
  // The key the newest rotation introduced, or "" when there is none.
  std::string newest_key_id() const;

 private:
  struct Window {
    const crypto::PublicKey* key = nullptr;
    std::shared_ptr<const crypto::PublicKey> owned;  // keys that rotations introduced
    std::optional<LogPosition> from;                 // nullopt: from the start (roster)
    std::optional<LogPosition> until;                // retired at this position
    std::string successor;                           // the key that retired it
  };
  std::string origin_;
  RosterKeys roster_;
  std::vector<KeyRotation> rotations_;
  std::map<std::string, Window> windows_;  // by key id
};

}  // namespace tongban::merkle
