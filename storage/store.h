// Store is the node's RocksDB: every origin's log (exact body bytes), Merkle
// tree nodes, checkpoints, records, person links, the routing index, cursors
// and counters, in the column families of storage/keys.h, encrypted at rest.
//
// Every change is one Batch committed atomically. Commit() with sync writes
// the WAL and fsyncs before returning. After a failed commit the store is
// fail-stop: every later Commit() returns the first error (kDataLoss /
// kUnavailable / kResourceExhausted as it was), because the caller's in-memory
// state (the Merkle frontier) no longer matches the disk; reopening recovers.
//
// Thread safety: all methods may be called concurrently; a Batch belongs to
// one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/crypto/suite.h"
#include "common/merkle/tree.h"
#include "storage/backup.h"
#include "storage/fault_injection.h"
#include "storage/keys.h"
#include "storage/remote.h"
#include "tongban/v1/event.pb.h"
#include "tongban/v1/store.pb.h"

namespace rocksdb {
class DB;
class Env;
class WriteBatch;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace tongban::storage {

struct StoreOptions {
  // Folder for the RocksDB files. Created if missing. Required.
  std::string path;
  // The suite whose cipher encrypts the files at rest.
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  // Raw storage key (crypto::ReadStorageKeyFile). Required: there is no
  // unencrypted mode.
  std::string storage_key;
  // Memory for writes: every column family's memtables together (each
  // family's own at most a third of it, 4 to 32 MiB). A memtable is flushed
  // when it reaches its size or the families together reach this.
  size_t write_buffer_bytes = 48 << 20;
  // Block cache for reads. With write_buffer_bytes, most of what the store
  // holds in memory; the defaults keep a node's peak under PostgreSQL 15's
  // default shared_buffers subscriber (bench/compare.sh).
  size_t block_cache_bytes = 32 << 20;
  // Tests only (storage/fault_injection.h): the disk's faults. Null in
  // production. Not owned; outlives the store.
  const FaultInjection* faults = nullptr;
};

enum class Cf : int {
  kDefault = 0,
  kLog,
  kTree,
  kCheckpoints,
  kRecords,
  kLinks,
  kRoutes,
  kCursors,
  kCounters,
  kCount,
};

class Store;

// A set of writes applied atomically by Store::Commit on the store it was
// made for.
class Batch {
 public:
  explicit Batch(const Store& store);
  ~Batch();
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  void Put(Cf cf, absl::string_view key, absl::string_view value);
  void Delete(Cf cf, absl::string_view key);
  void PutEvent(const LogId& log, uint64_t seq, absl::string_view body);
  void PutNode(const LogId& log, merkle::NodeId node, const crypto::Digest& d);
  void PutCheckpoint(const LogId& log, uint64_t tree_size, const v1::SignedCheckpoint& checkpoint);
  // Also indexes a person's basics by name and birth date (keys.h "names/").
  void PutRecord(absl::string_view record_key, const v1::RecordState& state);
  // Replaces every link of `person`.
  void PutLinks(absl::string_view person, const std::map<std::string, v1::PersonLink>& links);
  void PutRoute(absl::string_view peer, const LogId& log, uint64_t seq);
  void PutCounter(absl::string_view name, uint64_t value);
  // The sync layer's keys in "default" (storage/keys.h): what `peer`
  // acknowledged of `log`; a held peer and why; a history fetched from
  // `peer`; evidence of an equivocation in `log`, and its freeze.
  void PutAcked(absl::string_view peer, const LogId& log, uint64_t seq);
  void PutHold(absl::string_view peer, absl::string_view why);
  void PutBundlePeer(absl::string_view peer, absl::string_view bundle_peer);
  void DeleteHold(absl::string_view peer);
  void DeleteBackfill(absl::string_view peer, absl::string_view person);
  void PutEvidence(const LogId& log, int64_t detected_at_micros,
                   const v1::EquivocationEvidence& evidence);
  void PutFrozen(const LogId& log, absl::string_view why);
  // The epoch this node appends to from its next start, and the
  // countersigned restart record (CosignedRestart bytes) that closed `log`
  // (keys.h "epoch", "restart/"; node/node.h).
  void PutOwnEpoch(uint64_t epoch);
  void PutRestart(const LogId& log, absl::string_view cosigned_restart);
  // A key rotation of `log`'s origin at `seq` (keys.h "keyrot/"), verified
  // by the caller: its own, or a peer's that the batch verifier accepted.
  void PutKeyRotation(const LogId& log, uint64_t seq, const v1::SignedKeyRotation& rotation);
  // An operator's lock-out state (admin/auth.h; keys.h "lockout/").
  void PutLockout(absl::string_view operator_name, const v1::LockoutState& state);

  // The statistics counters (keys.h "stats/", "statsfacts/",
  // "statsdirty/"; workflows/stats.h): a counter's values, a person's facts,
  // and the deletion of a dirty mark the follower counted (`mark` as read).
  void PutStatsCounter(absl::string_view name, absl::string_view values);
  // Adds `deltas` (be64 two's complement each) to the counter's values
  // element by element, without reading it (a RocksDB merge).
  void AddStatsCounter(absl::string_view name, absl::string_view deltas);
  void PutStatsFacts(absl::string_view person, absl::string_view facts);
  void DeleteStatsFacts(absl::string_view person);
  void DeleteStatsDirty(absl::string_view mark);

  size_t count() const;
  // The name-index entries of a person-basics record's heads (PutRecord
  // writes them; Store::Open uses it to index an older store).
  void IndexName(absl::string_view record_key, const v1::RecordState& state);
  size_t bytes() const;

 private:
  friend class Store;
  const Store* const store_;  // Not owned; outlives this.
  std::unique_ptr<rocksdb::WriteBatch> batch_;
  std::string scratch_;
};

struct RouteEntry {
  LogId log;
  uint64_t seq = 0;
};

class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  crypto::SuiteId suite() const { return suite_; }
  const std::string& path() const { return path_; }

  // Applies `batch` atomically. With `sync`, returns after the WAL is on disk.
  absl::Status Commit(Batch& batch, bool sync);
  // Number of Commit calls that reached RocksDB with sync (one fsync each).
  uint64_t synced_commits() const;

  // --- Logs ---
  // The highest seq stored for `log`, 0 if none.
  absl::StatusOr<uint64_t> LastSeq(const LogId& log) const;
  // The body of (log, seq), or kNotFound.
  absl::StatusOr<std::string> GetEvent(const LogId& log, uint64_t seq) const;
  // Calls fn(seq, body) for every stored seq in [first, last], in order, and
  // stops at the first error fn returns.
  absl::Status ScanEvents(const LogId& log, uint64_t first, uint64_t last,
                          const std::function<absl::Status(uint64_t, absl::string_view)>& fn) const;
  // A stored tree node (IsStoredLevel(node.level)), or kDataLoss.
  absl::StatusOr<crypto::Digest> GetNode(const LogId& log, merkle::NodeId node) const;
  // Any node of `log`'s tree: read if stored, else recomputed from the
  // stored nodes or leaves below it. kDataLoss if something is missing.
  absl::StatusOr<crypto::Digest> ReadNode(const LogId& log, merkle::NodeId node,
                                          crypto::Hasher& hasher) const;
  // A NodeReader for merkle:: proofs over `log` (ReadNode with its own
  // hasher). Borrows this store; use it from one thread at a time.
  merkle::NodeReader NodeReaderFor(const LogId& log) const;

  // --- Checkpoints ---
  // The checkpoint with the largest tree size, or nullopt.
  absl::StatusOr<std::optional<v1::SignedCheckpoint>> LatestCheckpoint(const LogId& log) const;
  absl::StatusOr<std::optional<v1::SignedCheckpoint>> GetCheckpoint(const LogId& log,
                                                                    uint64_t tree_size) const;
  // The checkpoint with the largest tree size <= `max_size`, with that
  // size; nullopt if there is none.
  absl::StatusOr<std::optional<std::pair<uint64_t, v1::SignedCheckpoint>>> CheckpointAtOrBelow(
      const LogId& log, uint64_t max_size) const;
  // The checkpoint with the smallest tree size >= `min_size`, or nullopt.
  absl::StatusOr<std::optional<std::pair<uint64_t, v1::SignedCheckpoint>>> CheckpointAtOrAbove(
      const LogId& log, uint64_t min_size) const;

  // --- Records and links ---
  absl::StatusOr<std::optional<v1::RecordState>> GetRecord(absl::string_view record_key) const;
  // Every record of `person`: (kind, record_id) -> state.
  absl::StatusOr<std::vector<std::pair<std::pair<int, std::string>, v1::RecordState>>> ListRecords(
      absl::string_view person) const;
  // node code -> link.
  absl::StatusOr<std::map<std::string, v1::PersonLink>> GetLinks(absl::string_view person) const;

  // --- Routing ---
  // Up to `limit` entries of `peer`'s route for `log` with seq > after.
  absl::StatusOr<std::vector<uint64_t>> ScanRoute(absl::string_view peer, const LogId& log,
                                                  uint64_t after, size_t limit) const;

  // Every log with events routed to `peer` (the logs a sender feeds it).
  absl::StatusOr<std::vector<LogId>> RouteLogs(absl::string_view peer) const;
  // Every log this node holds a checkpoint of.
  absl::StatusOr<std::vector<LogId>> CheckpointLogs() const;
  // Every cursor kept for events received from `peer`: log -> stored value
  // (the sync layer's Position bytes).
  absl::StatusOr<std::vector<std::pair<LogId, std::string>>> Cursors(absl::string_view peer) const;

  // Every key in `cf` that starts with `prefix`, with its value.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      Cf cf, absl::string_view prefix) const;
  // Calls fn(key, value) for the keys of `cf` that start with `prefix`, in
  // key order from the first key >= `start` (or, with `reverse`, in reverse
  // order from the last key <= `start`), until fn returns false. Bounded
  // scans and paging without loading the whole prefix.
  absl::Status ScanFrom(
      Cf cf, absl::string_view prefix, absl::string_view start, bool reverse,
      const std::function<bool(absl::string_view key, absl::string_view value)>& fn) const;

  // Persons whose basics are indexed under `name` (keys.h NormalizedName)
  // and this birth date, as (person, record id of the basics), at most
  // `limit`, by person. The index keeps earlier values: check each hit
  // against the record.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> FindByName(
      absl::string_view name, int year, int month, int day, size_t limit) const;

  // --- Counters and metadata ---
  absl::StatusOr<uint64_t> GetCounter(absl::string_view name) const;
  // Adds `delta` to counter `name` (durable with the next synced write).
  // Counters the Writer keeps (id_finding/*, custody_violation) must not be
  // changed here: it caches them.
  absl::Status Increment(absl::string_view name, uint64_t delta);
  // name -> value for every counter whose name starts with `prefix`.
  absl::StatusOr<std::map<std::string, uint64_t>> ListCounters(absl::string_view prefix) const;
  absl::StatusOr<std::optional<std::string>> Get(Cf cf, absl::string_view key) const;
  // The epoch this node appends to (keys.h "epoch"; 1 if none is stored).
  // kDataLoss if the stored value does not parse.
  absl::StatusOr<uint64_t> OwnEpoch() const;
  // Every key rotation stored of `origin`, in log order (epoch, seq).
  // kDataLoss if a stored one does not parse.
  absl::StatusOr<std::vector<KeyRotationEntry>> KeyRotations(absl::string_view origin) const;
  // An operator's lock-out state, or nullopt if none was stored;
  // kDataLoss if the stored bytes do not parse.
  absl::StatusOr<std::optional<v1::LockoutState>> GetLockout(absl::string_view operator_name) const;

  // Writes every memtable to SST files (before a backup, and in tests that
  // inspect the files).
  absl::Status Flush();

  // Bytes of all files in the folder (SST, WAL, ...), for status and metrics.
  uint64_t DiskBytes() const;

  // Flushes, then adds an incremental backup of this store to `dir`
  // (created if missing) while writes go on: the backup is a consistent
  // prefix of what was committed. Its metadata names `node`, the suite,
  // `now` and the latest stored checkpoint of `node`'s own log (of its
  // highest epoch), which the backup contains. Files are encrypted with this
  // store's key; the key is not in the backup. Backups of one process are
  // serialised. Implemented in storage/backup.cc.
  // Then, if `keep` > 0, removes all but the newest `keep` backups of `dir`
  // (BackupEngine::PurgeOldBackups: table files a kept backup shares stay).
  // The backup just made is the newest, so it is never removed. `keep` 0
  // removes nothing. A failed removal does not fail the call: it is in
  // CreatedBackup::purge, for the caller to log and report.
  absl::StatusOr<CreatedBackup> CreateBackup(const std::string& dir, const std::string& node,
                                             absl::Time now, uint32_t keep);

 private:
  friend class Batch;
  Store(std::string path, crypto::SuiteId suite);
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles_[static_cast<int>(c)]; }
  absl::Status CheckFormat();
  // Builds the name index of a store written before it existed (once).
  absl::Status IndexNamesOnce();
  // The first checkpoint at or after `size` (forward) or at or before it.
  absl::StatusOr<std::optional<std::pair<uint64_t, v1::SignedCheckpoint>>> SeekCheckpoint(
      const LogId& log, uint64_t size, bool forward) const;

  const std::string path_;
  const crypto::SuiteId suite_;
  std::unique_ptr<rocksdb::Env> env_;  // Outlives db_ (declared first).
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // Owned; freed before db_.

  mutable absl::Mutex mu_;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  absl::Mutex counter_mu_;  // serialises Increment's read-modify-write
  // The token of the next statistics dirty mark (Batch::PutRecord).
  mutable std::atomic<uint64_t> next_dirty_token_{1};
  uint64_t synced_commits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tongban::storage
