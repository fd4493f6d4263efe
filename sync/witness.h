// The witness (DESIGN.md section 4): the national node countersigns
// ("cosigns") the latest checkpoint of every origin it holds, and every node
// compares what it was shown with what the witness holds.
//
//   national node   Witness::Answer: for each log asked about, its latest
//                   checkpoint with a cosignature (common/merkle/cosignature.h)
//                   and an RFC 9162 consistency proof from the asker's tree
//                   size. It keeps every log whole and verified consistency as
//                   it applied (sync/verify.h), so its stored checkpoints are
//                   already checked; cosigning states that it holds them.
//   every node      WitnessChecker: Request() lists the logs it holds and its
//                   latest checkpoint size of each; Check() verifies the
//                   reply (origin signature, cosignature, proofs) and compares:
//                   another origin that showed it a checkpoint inconsistent
//                   with the witnessed one is kept as evidence and frozen
//                   exactly as a sync session does (sync/evidence.h); its own
//                   log reports whether the witness holds more of it than it
//                   has (events lost, e.g. restored from a backup) or a
//                   checkpoint inconsistent with it (the log forked).
//
// Countersignatures are never on the write path: the witness cosigns lazily,
// when asked, and caches the cosignature of each log's latest checkpoint
// (see Witness). A county that cannot reach the national node keeps working;
// the daemon asks again later.
//
// Thread safety: Witness may be called concurrently (it serves gRPC
// threads). WitnessChecker is safe for concurrent use too; it holds no state
// beyond what it borrows.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/rotation.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "sync/verify.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::sync {

// A request may name at most this many logs (the federation has about
// 2,850 nodes, each with one log per epoch).
inline constexpr int kMaxWitnessLogs = 4096;

// --- The national node's side ---

// Why lazily: cosigning after every applied batch would put one signature
// per batch on the national node's apply path (SM2 signs about 3,000 times a
// second, catch-up applies tens of thousands of events a second in batches
// of any size) for checkpoints nobody may ever ask about. Asked lazily, it
// costs at most one signature per log per new checkpoint that someone asks
// about, whatever the number of askers: the cosignature of each log's latest
// checkpoint is cached until the log grows. The cosigning time therefore says
// "held by then", which is what a restored node needs to know.
class Witness {
 public:
  // `store` holds every log whole; `key` is the national node's signing key
  // (the roster lists it under `self`). Borrowed objects outlive this.
  Witness(const storage::Store* store, const crypto::PrivateKey* key, const Clock* clock,
          std::string self);
  Witness(const Witness&) = delete;
  Witness& operator=(const Witness&) = delete;

  // The answer to `request`: one entry per log asked, in order. kInvalidArgument
  // naming the entry for a malformed request (too many logs, an origin that
  // is not six digits); storage and signing errors pass through.
  absl::StatusOr<v1::WitnessReply> Answer(const v1::WitnessRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The latest checkpoint of `log` with its cosignature, or nullopt if this
  // node holds none.
  absl::StatusOr<std::optional<v1::CosignedCheckpoint>> Latest(const storage::LogId& log)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Signatures made so far (each cached cosignature once).
  uint64_t cosignatures() const ABSL_LOCKS_EXCLUDED(mu_);

  // Cosigns with `key` from now on (after the national node rotated its
  // key); the cached cosignatures are dropped. Not owned; outlives this.
  void SetKey(const crypto::PrivateKey* key) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const storage::Store* const store_;  // Not owned.
  const Clock* const clock_;           // Not owned.
  const std::string self_;
  mutable absl::Mutex mu_;
  const crypto::PrivateKey* key_ ABSL_GUARDED_BY(mu_);  // Not owned.
  std::map<std::pair<std::string, uint64_t>, v1::CosignedCheckpoint> cache_ ABSL_GUARDED_BY(mu_);
  uint64_t cosignatures_ ABSL_GUARDED_BY(mu_) = 0;
};

// --- Every node's side ---

// What a comparison found for one log.
enum class WitnessVerdict {
  kConsistent,     // the witnessed checkpoint equals or provably extends ours
                   // (also when we hold nothing of the log yet)
  kNotHeld,        // the witness holds no checkpoint of the log
  kWitnessBehind,  // the witness holds less of another origin's log than we
                   // do: nothing to compare until it catches up
  kEquivocation,   // another origin signed two histories: evidence kept, the
                   // log frozen for apply; operators are alerted
  kUnproven,       // the witness's consistency proof does not verify from any
                   // root: evidence kept (inconclusive), nothing frozen
  kOwnLogBehind,   // our own log: the witness holds a checkpoint larger than
                   // our log. Events we signed were lost (restored from a
                   // backup): do not append; start a new epoch
  kOwnLogForked,   // our own log: the witness holds a checkpoint of it that is
                   // inconsistent with what we hold. Do not append
};
absl::string_view WitnessVerdictName(WitnessVerdict verdict);

struct WitnessFinding {
  storage::LogId log;
  WitnessVerdict verdict = WitnessVerdict::kConsistent;
  uint64_t held_size = 0;       // our checkpoint's tree size, as asked
  uint64_t witnessed_size = 0;  // the witnessed checkpoint's, 0 if none
  // The witnessed checkpoint, both signatures verified; unset if none.
  std::optional<v1::CosignedCheckpoint> witnessed;
  // One line for logs and operators: sizes, origins, what to do. No
  // personal data.
  std::string detail;
};

struct WitnessCheckerOptions {
  std::string self;                // this node's code
  std::string witness = "000000";  // the witness's code (the national node)
};

class WitnessChecker {
 public:
  // `keys` looks up roster signing keys, for origins and for the witness
  // alike (RosterHolder::FindSigningKey). Borrowed objects outlive this.
  WitnessChecker(storage::Store* store, const crypto::Suite& suite, KeyLookup keys,
                 const Clock* clock, WitnessCheckerOptions options);

  // A request naming `logs` (every log we hold a checkpoint of, our own
  // included, when empty) with our latest checkpoint's tree size of each.
  absl::StatusOr<v1::WitnessRequest> Request(std::vector<storage::LogId> logs = {}) const;

  // Verifies `reply` to `request` and compares it with what we hold; one
  // finding per log, in request order. The whole reply is verified before
  // anything is kept: a reply that does not match the request, a witness or
  // origin key not in the roster, a forged cosignature or origin signature, or
  // a malformed proof is kInvalidArgument naming the log, and nothing is kept
  // or frozen. Storage errors pass through. Evidence is kept (and a log
  // frozen) only for kEquivocation and kUnproven. Every finding that is not
  // kConsistent is logged at WARNING; the four that call for an operator are
  // counted ("witness/equivocation", "witness/unproven",
  // "witness/own_log_behind", "witness/own_log_forked").
  absl::StatusOr<std::vector<WitnessFinding>> Check(const v1::WitnessRequest& request,
                                                    const v1::WitnessReply& reply);

  // True if any finding means this node must not append to its own log.
  static bool MustStopAppending(const std::vector<WitnessFinding>& findings);

 private:
  struct Verified;
  // `witness_keys`: the witness's key history when the reply carries its
  // key rotations, else null.
  absl::StatusOr<Verified> VerifyEntry(const v1::WitnessRequest::Held& asked,
                                       const v1::WitnessReply::Entry& entry,
                                       const merkle::KeyHistory* witness_keys) const;
  absl::Status Compare(const Verified& v, WitnessFinding* finding);
  absl::Status CompareOwn(const Verified& v, const merkle::Checkpoint& held,
                          WitnessFinding* finding);

  storage::Store* const store_;  // Not owned.
  const crypto::Suite& suite_;
  const KeyLookup keys_;
  const Clock* const clock_;  // Not owned.
  const WitnessCheckerOptions options_;
};

}  // namespace tongban::sync
