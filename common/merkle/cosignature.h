// Witness cosignatures: the national node's signature over an origin's
// signed checkpoint (DESIGN.md section 4, "Witness"). By cosigning, the
// witness states "I hold this checkpoint of the origin's log, and it is
// consistent with every checkpoint of that log I verified before".
//
// Signed bytes (UTF-8 text, each line ending in '\n', no other whitespace):
//   tongban-cosignature/v1
//   <suite: intl|gm>                 the witness key's suite
//   <witness: 6-digit node code>     "000000" for the national node
//   <key_id: 16 lower-case hex>      the witness's signing key (roster)
//   <time: decimal microseconds since the Unix epoch, UTC>  when it cosigned
//   <the origin's checkpoint text, exactly as the origin signed it (8 lines,
//    common/merkle/checkpoint.h)>
// The header line makes the text impossible to mistake for a checkpoint
// (whose first line is "tongban-checkpoint/v1") and vice versa, so neither
// signature can be replayed as the other. The origin's signature is not part
// of the text: the witness vouches for what the origin stated, and a verifier
// checks the origin's signature over the same checkpoint text separately.
//
// Thread safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/crypto/suite.h"
#include "common/merkle/checkpoint.h"

namespace tongban::merkle {

struct Cosignature {
  std::string witness;  // 6-digit node code
  std::string key_id;   // 16 hex: the witness key's KeyId()
  int64_t time_micros = 0;
  std::string signature;  // over EncodeCosigned(...)
};

// The lines a witness signs over any text it countersigns: `header`, the
// suite, witness, key id and time lines, then `body` unchanged. Each kind
// of text has a header of its own (checkpoints below; restart records,
// restart.h), so no countersignature can be replayed as another kind.
std::string EncodeCosignedText(absl::string_view header, crypto::SuiteId suite,
                               const Cosignature& cosignature, absl::string_view body);

// The exact bytes the witness signs: the header above, then
// `checkpoint_body` unchanged. `cosignature.signature` is not used.
std::string EncodeCosigned(crypto::SuiteId suite, const Cosignature& cosignature,
                           absl::string_view checkpoint_body);

// Cosigns `checkpoint_body` (an origin's checkpoint text, which must parse)
// as `witness` at `time`, with `key` (the witness's signing key).
// kInvalidArgument if the body does not parse, is of another suite than the
// key, or the witness code or time is malformed.
absl::StatusOr<Cosignature> Cosign(absl::string_view checkpoint_body, absl::string_view witness,
                                   absl::Time time, const crypto::PrivateKey& key);

// Verifies `cosignature` over `checkpoint_body` with `witness_key` and returns
// the parsed checkpoint. kInvalidArgument naming the problem: a body that does
// not parse, a suite other than the key's, a key id that is not the key's, a
// bad signature. The origin's own signature is not checked here.
absl::StatusOr<Checkpoint> VerifyCosignature(const Cosignature& cosignature,
                                             absl::string_view checkpoint_body,
                                             const crypto::PublicKey& witness_key);

}  // namespace tongban::merkle
