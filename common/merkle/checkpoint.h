// Signed checkpoints: the origin signs (origin, epoch, tree_size, root, time,
// key_id) of its log, never individual events.
//
// Signed bytes (UTF-8 text, each line ending in '\n', no other whitespace):
//   tongban-checkpoint/v1
//   <suite: intl|gm>
//   <origin: 6-digit node code>
//   <epoch: decimal>
//   <tree_size: decimal>
//   <root: 64 lower-case hex>
//   <time: decimal microseconds since the Unix epoch, UTC>
//   <key_id: 16 lower-case hex>
// The text is the exact byte string that is signed, stored and sent; it is
// parsed strictly (any deviation is kInvalidArgument naming the line), so two
// parties can never disagree on what was signed.
//
// Thread safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/suite.h"

namespace tongban::merkle {

struct Checkpoint {
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  std::string origin;  // 6 digits
  uint64_t epoch = 0;
  uint64_t tree_size = 0;
  crypto::Digest root{};
  int64_t time_micros = 0;
  std::string key_id;  // 16 hex

  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// The canonical text above.
std::string EncodeCheckpoint(const Checkpoint& c);
absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text);

struct SignedCheckpoint {
  std::string body;       // EncodeCheckpoint() bytes, exactly as signed
  std::string signature;  // the suite's signature over body
};

// Signs `c` with `signer`; `c.key_id` must be the signer's key id.
absl::StatusOr<SignedCheckpoint> SignCheckpoint(const Checkpoint& c, crypto::Signer& signer);
// Parses and verifies. kInvalidArgument for a malformed body, a key id that is
// not `key`'s, or a bad signature.
absl::StatusOr<Checkpoint> VerifyCheckpoint(const SignedCheckpoint& sc, const crypto::Suite& suite,
                                            const crypto::PublicKey& key);

}  // namespace tongban::merkle
