// Restart records (DESIGN.md section 4, "Restore"): a node restored from a
// backup that lost events it had signed (they never left it, so no peer can
// give them back) closes its log's epoch at the size the national node holds
// and goes on in the next epoch. Appending to the old epoch would sign other
// events under seqs a peer may already hold, which every peer would take for
// a forked log. The node signs the record with its log key; the national
// node, which holds the old epoch up to `kept_size`, countersigns it.
//
// Signed bytes (UTF-8 text, each line ending in '\n', no other whitespace):
//   tongban-restart/v1
//   <suite: intl|gm>
//   <origin: 6-digit node code>
//   <epoch: decimal, >= 1>            the epoch it closes
//   <kept_size: decimal>              the size of that epoch's log the node and
//                                     the national node hold; nothing after it
//                                     will ever be signed in that epoch
//   <signed_size: decimal>            the size the node had signed before the
//                                     restore (>= kept_size); kept_size+1 ..
//                                     signed_size are the lost seqs
//   <new_epoch: decimal>              epoch + 1
//   <time: decimal microseconds since the Unix epoch, UTC>
//   <key_id: 16 lower-case hex>       the origin's signing key (roster)
// The national node's countersignature signs:
//   tongban-restart-cosignature/v1
//   <suite> <witness> <key_id> <time>   one per line, as in cosignature.h
//   <the restart text above, unchanged>
// The header lines keep both texts apart from checkpoints and checkpoint
// cosignatures, so no signature can be replayed as another.
//
// Thread safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/crypto/suite.h"
#include "common/merkle/cosignature.h"

namespace tongban::merkle {

struct Restart {
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  std::string origin;
  uint64_t epoch = 0;
  uint64_t kept_size = 0;
  uint64_t signed_size = 0;
  uint64_t new_epoch = 0;
  int64_t time_micros = 0;
  std::string key_id;
};

// The text above. `restart` must be well-formed (ParseRestart accepts it).
std::string EncodeRestart(const Restart& restart);
// Parses and checks the text: every field present and well-formed,
// signed_size >= kept_size, new_epoch == epoch + 1. kInvalidArgument naming
// the field.
absl::StatusOr<Restart> ParseRestart(absl::string_view text);

struct SignedRestart {
  std::string body;       // EncodeRestart's text
  std::string signature;  // the origin's, over `body`
};

// Signs `restart` with `key`, setting its suite and key id from the key.
// kInvalidArgument for a malformed record.
absl::StatusOr<SignedRestart> SignRestart(Restart restart, const crypto::PrivateKey& key);
// Verifies the origin's signature with `origin_key` (the roster key the
// record names) and returns the record. kInvalidArgument naming the problem.
absl::StatusOr<Restart> VerifyRestart(const SignedRestart& signed_restart,
                                      const crypto::PublicKey& origin_key);

// The national node's countersignature over a restart text (which must
// parse), as `witness` at `time`. Cosignature.signature is over
// EncodeRestartCosigned.
std::string EncodeRestartCosigned(crypto::SuiteId suite, const Cosignature& cosignature,
                                  absl::string_view restart_body);
absl::StatusOr<Cosignature> CosignRestart(absl::string_view restart_body, absl::string_view witness,
                                          absl::Time time, const crypto::PrivateKey& key);
// Verifies the countersignature with `witness_key`; the origin's signature
// is not checked here (VerifyRestart).
absl::StatusOr<Restart> VerifyRestartCosignature(const Cosignature& cosignature,
                                                 absl::string_view restart_body,
                                                 const crypto::PublicKey& witness_key);

}  // namespace tongban::merkle
