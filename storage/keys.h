// Key encodings of the node's RocksDB, one column family per index.
//
//   column family  key                                   value
//   "default"      "meta/" name                          bytes (format, suite, node)
//   "log"          log_id | seq                          EventBody bytes, exactly as signed
//   "tree"         log_id | level:u8 | index:be64        32-byte Merkle node, levels 4, 8, 12, ...
//   "checkpoints"  log_id | tree_size:be64               SignedCheckpoint
//   "records"      person:18 | kind:u8 | record_id       RecordState
//   "links"        person:18                             PersonLinks (every node linked)
//   "routes"       peer:6 | log_id | seq                 "" (the event is for that peer)
//   "cursors"      peer:6 | log_id                       cursor bytes (sync layer)
//   "counters"     name                                  u64, big-endian
//   "default"      "backfill/" peer:6 "/" person:18      seq (decimal) of the registration
//                                                        that linked us; fetch the history
//                                                        once the peer has it
//   "default"      "acked/" peer:6 "/" log_id               seq:be64 the peer acknowledged
//                                                        in that log (sender side)
//   "default"      "hold/" peer:6                        why sessions with the peer are
//                                                        held (it sent invalid data)
//   "default"      "evidence/" origin:6 "/" epoch "/"    EquivocationEvidence (sync/evidence.h);
//                  detected_at_micros (decimal)          epoch and time in decimal text
//   "default"      "frozen/" origin:6 "/" epoch          why the log is frozen for apply
//   "default"      "epoch"                               the epoch this node appends to
//                                                        (decimal; absent: 1), after a
//                                                        restart record (node/node.h)
//   "default"      "restart/" origin:6 "/" epoch         CosignedRestart (exchange.proto)
//                                                        closing that epoch of the log
//   "default"      "keyrot/" origin:6 "/" epoch "/" seq  SignedKeyRotation (event.proto) of
//                                                        the origin's log at that position,
//                                                        verified when stored (decimal text)
//   "default"      "names/" name 0x00 birth:8 person:18  record id of the person's basics
//                                                        (person search: NormalizedName of
//                                                        a basics head's name, birth date
//                                                        as YYYYMMDD; entries of earlier
//                                                        values stay and are filtered by
//                                                        the reader)
//   "default"      "lockout/" operator name              LockoutState (store.proto) of an
//                                                        operator (admin/auth.h)
//   "default"      "audit/e/" seq:be64                   audit entry bytes, exactly as hashed
//                                                        (grammar in storage/audit_log.h)
//   "default"      "audit/n/" level:u8 index:be64        32-byte Merkle node of the audit
//                                                        log, every level (leaves included)
//   "default"      "audit/c/" size:be64                  SignedCheckpoint of the audit log
//   "default"      "audit/h"                             head: size:be64 | chain head:32 |
//                                                        last entry time:be64 | checkpointed
//                                                        size:be64
//   "default"      "audit/o/" len:u8 operator seq:be64   "" (entries by operator)
//   "default"      "audit/p/" len:u8 person seq:be64     "" (entries by person)
//   "default"      "statsdirty/" token:be64 person:18    "" (the person's records changed
//                                                        since the statistics counters
//                                                        last counted them; PutRecord
//                                                        writes it, workflows/stats.h's
//                                                        follower deletes it)
//   "default"      "statsfacts/" person:18               what the person adds to the
//                                                        counters (workflows/stats.cc)
//   "default"      "stats/" name                         a statistics counter: be64
//                                                        two's-complement values,
//                                                        added by merge (names in
//                                                        workflows/stats.cc)
//
//   log_id := origin:6 ASCII digits | epoch:be64
//   seq    := be64, so bytewise order is numeric order
// Only every kStoredLevelStride-th level of each Merkle tree is stored: a node
// at another level is recomputed from at most 2^(stride-1) stored nodes
// below it, or from at most 8 leaves (the event bodies) below level 4. Proofs
// still need O(log n) reads, and appending writes 1/15 tree keys per event
// instead of two.
// Changing any of this changes the disk format: bump kFormatVersion.
//
// Thread safety: free functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/merkle/tree.h"

namespace tongban::storage {

inline constexpr int kFormatVersion = 1;

inline constexpr uint32_t kStoredLevelStride = 4;
inline bool IsStoredLevel(uint32_t level) { return level > 0 && level % kStoredLevelStride == 0; }

// An origin's log within one epoch.
struct LogId {
  std::string origin;  // 6-digit node code
  uint64_t epoch = 1;
  friend bool operator==(const LogId&, const LogId&) = default;
};

inline constexpr size_t kLogIdSize = 14;
inline constexpr size_t kPersonSize = 18;
inline constexpr size_t kNodeCodeSize = 6;

void AppendBe64(std::string* out, uint64_t v);
uint64_t DecodeBe64(absl::string_view in);  // REQUIRES: in.size() >= 8

std::string LogIdKey(const LogId& log);
// The LogId at the front of `key`. REQUIRES: key.size() >= kLogIdSize.
LogId DecodeLogId(absl::string_view key);
std::string EventKey(const LogId& log, uint64_t seq);
std::string NodeKey(const LogId& log, merkle::NodeId node);
std::string CheckpointKey(const LogId& log, uint64_t tree_size);
std::string RecordPrefix(absl::string_view person);
std::string RecordKey(absl::string_view person, int kind, absl::string_view record_id);
// The parts of a "records" key; views into the key.
struct RecordKeyParts {
  absl::string_view person;  // kPersonSize characters
  int kind = 0;              // a v1::RecordKind number
  absl::string_view record_id;
};
// Splits a "records" key into `out`; false when `key` is too short to be
// one (shorter than a person and a kind).
bool DecodeRecordKey(absl::string_view key, RecordKeyParts* out);
std::string LinkKey(absl::string_view person);
std::string RoutePrefix(absl::string_view peer, const LogId& log);
std::string RouteKey(absl::string_view peer, const LogId& log, uint64_t seq);
std::string CursorKey(absl::string_view peer, const LogId& log);
// "default" column family: a person whose history is still to be fetched
// from `peer` (written with the inflow registration that linked us).
std::string BackfillPrefix(absl::string_view peer);
std::string BackfillKey(absl::string_view peer, absl::string_view person);
// "default" column family: what `peer` acknowledged of `log` (the sender's
// record, for retention and for knowing what the peer still lacks).
std::string AckedPrefix(absl::string_view peer);
std::string AckedKey(absl::string_view peer, const LogId& log);
// "default" column family: the peer is held after sending invalid data.
std::string HoldKey(absl::string_view peer);
// "default" column family: the offline exchange with `peer` (a
// v1::BundlePeer, node/bundles.h).
std::string BundlePeerKey(absl::string_view peer);
// "default" column family: evidence that `log`'s origin showed two
// histories, and the freeze of the log that follows it (sync/evidence.h).
std::string EvidencePrefix(const LogId& log);
std::string EvidenceKey(const LogId& log, int64_t detected_at_micros);
std::string FrozenKey(const LogId& log);
// Every frozen log follows this prefix; DecodeFrozenKey gives a key's log
// (false for a key of another layout).
std::string FrozenPrefix();
bool DecodeFrozenKey(absl::string_view key, LogId* out);

// "default" column family: the epoch this node appends to (absent: 1), and
// the countersigned restart record that closed an epoch of `log`'s origin.
inline constexpr absl::string_view kOwnEpochKey = "epoch";
std::string RestartKey(const LogId& log);

// "default" column family: an origin's key rotations (common/merkle/rotation.h).
std::string KeyRotationPrefix(absl::string_view origin);
std::string KeyRotationKey(const LogId& log, uint64_t seq);

// "default" column family: an operator's lock-out state (admin/auth.h).
inline constexpr absl::string_view kLockoutPrefix = "lockout/";
std::string LockoutKey(absl::string_view operator_name);

// "default" column family: the person-search index (README "Web console").
// A name as the index holds it: surrounding whitespace removed, inner runs
// of whitespace made one space, ASCII letters lower case.
std::string NormalizedName(absl::string_view name);
// "names/" NormalizedName(name) 0x00 YYYYMMDD: every person of that name
// and birth date follows.
std::string NameIndexPrefix(absl::string_view name, int year, int month, int day);
std::string NameIndexKey(absl::string_view name, int year, int month, int day,
                         absl::string_view person);

// "default" column family: the operator audit log (storage/audit_log.h).
// The audit log is small next to the event logs (one entry per operator or
// peer access to personal data), so it shares "default" under a prefix
// instead of costing a column family (a memtable) of its own.
inline constexpr absl::string_view kAuditPrefix = "audit/";
inline constexpr absl::string_view kAuditHeadKey = "audit/h";
std::string AuditEntryKey(uint64_t seq);
std::string AuditNodeKey(merkle::NodeId node);
std::string AuditCheckpointKey(uint64_t size);
// `value` is at most 255 bytes (an operator name or a person's ID).
std::string AuditIndexPrefix(char index, absl::string_view value);
std::string AuditIndexKey(char index, absl::string_view value, uint64_t seq);

// "default" column family: the statistics counters (workflows/stats.h).
// The dirty marks: one per PutRecord, in the order written (tokens rise).
inline constexpr absl::string_view kStatsDirtyPrefix = "statsdirty/";
std::string StatsDirtyKey(uint64_t token, absl::string_view person);
// The person of a dirty mark; false for a key of another layout.
bool DecodeStatsDirtyKey(absl::string_view key, absl::string_view* person);
std::string StatsFactsKey(absl::string_view person);
// Counter `name` (any bytes; the statistics module names them).
inline constexpr absl::string_view kStatsCounterPrefix = "stats/";
std::string StatsCounterKey(absl::string_view name);

}  // namespace tongban::storage
