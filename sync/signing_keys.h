// The public keys that sign each origin's log, for checks that need a key by
// its id alone (a witness's answer, a restart record, this node's own entry
// at start): the roster's, or one that a key rotation of the origin stored
// here introduced (common/merkle/rotation.h; every stored rotation was
// verified against the origin's key history when it was stored). The batch
// verifier also checks each key's window (sync/verify.h step 4).
//
// Thread safety: Find may be called from any thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto/suite.h"
#include "common/merkle/rotation.h"
#include "storage/store.h"
#include "sync/verify.h"

namespace tongban::sync {

// Verifies each of `rotations` of `origin` (at most 64; each signed by the
// key it retires and the key it introduces) and builds the origin's key
// history from them and the roster. kInvalidArgument naming the problem.
absl::StatusOr<merkle::KeyHistory> VerifiedKeyHistory(
    absl::string_view origin, crypto::SuiteId suite, const KeyLookup& roster,
    const google::protobuf::RepeatedPtrField<v1::SignedKeyRotation>& rotations);

class SigningKeys {
 public:
  // `store` is not owned and must outlive this; `roster` looks up roster keys.
  SigningKeys(const storage::Store* store, KeyLookup roster);

  // The roster's key `key_id` of `origin`, else the key a stored rotation of
  // `origin` introduced, else nullptr. Keys from rotations are kept for the
  // life of this object, so the pointer stays valid as long as it.
  const crypto::PublicKey* Find(absl::string_view origin, absl::string_view key_id) const;
  // Find as a KeyLookup; borrows this object.
  KeyLookup AsLookup() const;

 private:
  const storage::Store* const store_;  // Not owned.
  const KeyLookup roster_;
  mutable absl::Mutex mu_;
  mutable std::map<std::pair<std::string, std::string>, std::unique_ptr<crypto::PublicKey>> rotated_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban::sync
