// AuditLog is the node's record of every access to personal data by an
// operator or a peer (DESIGN.md section 9, "Audit"; PIPL's processing
// records, MLPS level 3's protected audit trail). It lives in the node's
// Store under the "audit/" prefix of the default column family
// (storage/keys.h), so it is encrypted at rest like everything else there,
// and each entry keeps the person's full ID: the trail must say whose data
// was touched. Callers never log an entry's person; mask it (ids::MaskId).
//
// Integrity, in three layers:
//   * a hash chain: each entry carries the hash of the entry before it
//     (the RFC 9162 leaf hash of its exact bytes, under the store's suite),
//     so an entry cannot be edited, removed or moved without breaking the
//     link of the next one;
//   * a Merkle tree (common/merkle) over the same leaves, every node stored,
//     so inclusion and consistency proofs are available: a witness (the
//     national node) can check that the log only grew between two
//     checkpoints from hashes alone, without seeing any entry;
//   * signed checkpoints by the node key: every `checkpoint_every` entries
//     in the same write batch as the entry that reaches that count, and
//     whenever Checkpoint() is called (the daemon calls it on a timer, so an
//     idle log's tail is signed within that period). An AppendAll batch
//     that crosses the count is signed at its end.
//
// Entry bytes (exactly what is hashed and stored; decoding is strict):
//   entry   := version:u8 (=1) | seq:be64 | time:be64 | prev:32 | field{6}
//   time    := microseconds since the Unix epoch, UTC, two's complement
//   prev    := leaf hash of entry seq-1; 32 zero bytes for entry 1
//   field   := len:be16 | bytes, in this order: operator, role, action,
//              person, purpose, outcome
// Entry times never go backwards: a clock stepped back records the previous
// entry's time, so seq order is time order and a time range is a seq range.
//
// Checkpoint bytes (what is signed): the line "tongban-audit/v1\n" followed
// by the event-log checkpoint text of common/merkle/checkpoint.h with origin
// = the node code, epoch = 1, tree_size = the number of entries and root =
// the Merkle root. The first line keeps an audit checkpoint from ever being
// taken for a checkpoint of the node's event log, which the same key signs.
//
// Appends are durable and atomic: the entry, its index keys, the tree nodes
// it completes, the new head and any checkpoint are one write batch, synced
// before Append returns; a failed Append changes nothing, in memory or on
// disk.
//
// What Verify() cannot see alone: an attacker with the storage key who
// removes the newest entries together with their checkpoints and rewrites
// the head. A witness that countersigned an older checkpoint catches that
// (the consistency proof to it fails); that is what countersigning is for.
//
// Errors: invalid entries and queries are kInvalidArgument naming the field;
// a damaged log is kDataLoss naming the entry; storage errors pass through.
//
// Thread safety: all methods may be called concurrently; appends are
// serialised (one synced write batch each).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/tree.h"
#include "storage/store.h"
#include "tongban/v1/event.pb.h"

namespace tongban::storage {

struct AuditEntry {
  uint64_t seq = 0;                     // assigned by Append
  absl::Time time = absl::UnixEpoch();  // assigned by Append
  // Who: an operator's account name, or "node:<code>" for a peer. 1-64 bytes.
  std::string operator_name;
  // The role the access was made in: "clerk", "administrator", "auditor",
  // "peer". 1-32 bytes.
  std::string role;
  // What: "person.read", "record.write", "audit.query", ... 1-64 bytes.
  std::string action;
  // Whose data: the person's full 18-character ID as stored, or empty for an
  // action on no particular person. At most 32 bytes.
  std::string person;
  // Why: the operator's stated purpose or the peer's reason. Required when
  // `person` is set. At most 1024 bytes.
  std::string purpose;
  // How it ended: AuditOutcome(status). 1-1024 bytes.
  std::string outcome;

  friend bool operator==(const AuditEntry&, const AuditEntry&) = default;
};

// "OK", or "<CODE>: <message>" (e.g. "PERMISSION_DENIED: not linked"), cut
// to 1024 bytes. The message must already be free of personal data.
std::string AuditOutcome(const absl::Status& status);

// An entry with the given fields (seq and time are assigned by Append).
AuditEntry MakeAuditEntry(std::string who, absl::string_view role, absl::string_view action,
                          absl::string_view person, absl::string_view purpose,
                          const absl::Status& outcome);
// A peer node's access (operator "node:<code>", role "peer"): a person's
// history fetched, a where-query answered, or their refusal.
AuditEntry PeerAuditEntry(absl::string_view node_code, absl::string_view action,
                          absl::string_view person, absl::string_view purpose,
                          const absl::Status& outcome);

inline constexpr size_t kAuditMaxShortField = 64;
inline constexpr size_t kAuditMaxLongField = 1024;

// The entry bytes above. REQUIRES: the fields are within their limits.
std::string EncodeAuditEntry(const AuditEntry& entry, const crypto::Digest& prev);
struct DecodedAuditEntry {
  AuditEntry entry;
  crypto::Digest prev{};
};
// kDataLoss naming what is wrong if `bytes` is not exactly one entry.
absl::StatusOr<DecodedAuditEntry> DecodeAuditEntry(absl::string_view bytes);

// The signed bytes of an audit checkpoint, and their check: parses,
// verifies the signature with `key` and returns the checkpoint inside.
// kInvalidArgument if the first line is not "tongban-audit/v1", the rest is
// not a checkpoint of `suite`, its key id is not `key`'s or the signature is
// bad. The national node can use these without any entry.
std::string EncodeAuditCheckpoint(const merkle::Checkpoint& c);
absl::StatusOr<merkle::Checkpoint> VerifyAuditCheckpoint(const v1::SignedCheckpoint& sc,
                                                         const crypto::Suite& suite,
                                                         const crypto::PublicKey& key);

// For a witness (the national node), from hashes alone: both checkpoints
// verify under `key` (VerifyAuditCheckpoint) and name the same node, and
// `proof` (AuditLog::ConsistencyProof) shows that the log `older` signed is
// a prefix of the log `newer` signs: nothing was edited, removed or
// reordered in between. Returns `newer`'s checkpoint; kInvalidArgument
// saying what failed otherwise.
absl::StatusOr<merkle::Checkpoint> VerifyAuditGrowth(const v1::SignedCheckpoint& older,
                                                     const v1::SignedCheckpoint& newer,
                                                     absl::Span<const crypto::Digest> proof,
                                                     const crypto::Suite& suite,
                                                     const crypto::PublicKey& key);

struct AuditLogOptions {
  // This node's 6-digit code: the origin named in checkpoints. Required.
  std::string node_code;
  // Sign a checkpoint in the append that leaves this many entries unsigned.
  // 1 signs every entry (the cost is one signature per access: about 0.3 ms
  // under gm).
  uint64_t checkpoint_every = 256;
};

struct AuditQuery {
  // Entries with from <= time < to.
  absl::Time from = absl::InfinitePast();
  absl::Time to = absl::InfiniteFuture();
  // If set, only this operator's entries (exact name).
  std::optional<std::string> operator_name;
  // If set, only entries about this person (exact ID as stored).
  std::optional<std::string> person;
  // Order. Oldest first by default.
  bool newest_first = false;
  // Paging: oldest first, entries with seq > cursor; newest first, entries
  // with seq < cursor (0: from the newest). Pass the last seq returned.
  uint64_t cursor = 0;
  // 1 to 10,000.
  size_t limit = 100;
};

struct AuditVerifyReport {
  uint64_t entries = 0;      // entries walked
  uint64_t checkpoints = 0;  // signed checkpoints verified
  uint64_t signed_size = 0;  // size of the latest verified checkpoint
};

class AuditLog {
 public:
  // Opens the audit log kept in `store`, signing checkpoints with `key`.
  // Reads the head and the Merkle frontier only (cheap); run Verify() for a
  // full check. kInvalidArgument for bad options or a key of another suite
  // than the store's; kDataLoss if the head or the frontier is damaged.
  // `store`, `key` and `clock` are not owned and outlive this.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(Store* store, const crypto::PrivateKey* key,
                                                        const Clock* clock,
                                                        AuditLogOptions options);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends `entry` (its seq and time are assigned; the values passed are
  // ignored) and returns it as stored. Durable when it returns OK.
  // kInvalidArgument naming the field for a missing or oversized field, or a
  // person without a purpose.
  absl::StatusOr<AuditEntry> Append(AuditEntry entry);
  // The same for several entries, in order, in one synced write batch (one
  // fsync for a whole batch of peer accesses). All are appended or none:
  // an invalid entry fails the call naming it ("entry 3: ...").
  absl::StatusOr<std::vector<AuditEntry>> AppendAll(std::vector<AuditEntry> entries);

  // Signs a checkpoint of the current head if it is newer than the latest
  // checkpoint, and returns the latest checkpoint (nullopt for an empty
  // log).
  absl::StatusOr<std::optional<v1::SignedCheckpoint>> Checkpoint();
  absl::StatusOr<std::optional<v1::SignedCheckpoint>> LatestCheckpoint() const;

  // Number of entries.
  uint64_t size() const;
  // Entry `seq` (1-based); kNotFound past the end.
  absl::StatusOr<AuditEntry> Get(uint64_t seq) const;
  // Up to `limit` entries matching `query`, in seq order (see AuditQuery).
  absl::StatusOr<std::vector<AuditEntry>> Query(const AuditQuery& query) const;

  // Walks every entry up to the current size: each must be stored under its
  // own seq, decode, follow the previous one in time, link to the previous
  // entry's hash, and hash to the leaf recorded when it was appended; the
  // tree recomputed from them must match every stored checkpoint, whose
  // signatures are checked with `key`; the walk must end at the head.
  // kDataLoss naming the first damaged entry ("audit entry 7: ...") or
  // checkpoint, kInvalidArgument for a bad checkpoint signature.
  absl::StatusOr<AuditVerifyReport> Verify(const crypto::PublicKey& key) const;
  // The same, with the key each checkpoint names looked up by its id (this
  // node's current and retired signing keys, after a key rotation).
  using KeyById = std::function<const crypto::PublicKey*(absl::string_view key_id)>;
  absl::StatusOr<AuditVerifyReport> Verify(const KeyById& keys) const;

  // Content-free proofs over the Merkle tree (RFC 9162), for a witness:
  // leaf `seq` in the tree of `size` entries, and `old_size` to `new_size`.
  // kInvalidArgument for sizes beyond the log.
  absl::StatusOr<std::vector<crypto::Digest>> InclusionProof(uint64_t seq, uint64_t size) const;
  absl::StatusOr<std::vector<crypto::Digest>> ConsistencyProof(uint64_t old_size,
                                                               uint64_t new_size) const;

 private:
  struct Head {
    uint64_t size = 0;
    crypto::Digest chain{};        // leaf hash of entry `size`
    int64_t last_time_micros = 0;  // time of entry `size`
    uint64_t signed_size = 0;      // size of the latest checkpoint
  };

  AuditLog(Store* store, const crypto::PrivateKey* key, const Clock* clock,
           AuditLogOptions options);
  absl::StatusOr<AuditEntry> GetEntry(uint64_t seq, crypto::Digest* prev) const;
  merkle::NodeReader Reader() const;
  // Signs a checkpoint of (head_, frontier_) into `batch`.
  absl::Status AddCheckpoint(Batch& batch, const merkle::Frontier& frontier, int64_t now_micros)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // First seq in [1, size] whose time is >= t (size + 1 if none).
  absl::StatusOr<uint64_t> FirstSeqAtOrAfter(absl::Time t, uint64_t size) const;
  Head head() const;

  Store* const store_;                   // Not owned; outlives this.
  const crypto::PrivateKey* const key_;  // Not owned; outlives this.
  const Clock* const clock_;             // Not owned; outlives this.
  const AuditLogOptions options_;
  const crypto::Suite& suite_;

  mutable absl::Mutex mu_;
  Head head_ ABSL_GUARDED_BY(mu_);
  merkle::Frontier frontier_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<crypto::Signer> signer_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<crypto::Hasher> hasher_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban::storage
