// Backups of a node's Store with RocksDB's BackupEngine: incremental (SST
// files are shared between backups), every file checksummed (crc32c of its
// plaintext), and every data file encrypted at rest exactly like the
// database, with the same storage key and cipher (storage/encryption.h).
// The storage key itself is never in a backup: only the db folder is
// backed up, and the key is kept apart.
//
// Folder layout (BackupEngine's):
//   DIR/meta/<id>                 the backup's file list, checksums and our
//                                 metadata below: PLAINTEXT, so `tongbanctl
//                                 backup list` works without the key. It
//                                 holds no personal data: file names, sizes,
//                                 checksums, the node code and a signed
//                                 checkpoint (public by design).
//   DIR/shared_checksum/*.sst     table files, shared by backups, encrypted
//   DIR/private/<id>/*            MANIFEST, CURRENT, OPTIONS, WAL, encrypted
//
// App metadata of a backup (BackupEngine's app_metadata), text lines:
//   "tongban-backup 1"
//   "node " code:6
//   "suite " ("intl" | "gm")
//   "epoch " decimal              the epoch of the checkpoint's log
//   "checkpoint_size " decimal    0: the own log had no checkpoint yet
//   "checkpoint " hex             v1::SignedCheckpoint bytes; absent if size 0
//   "created_micros " decimal     when the backup was made (UTC, Unix micros)
// Unknown lines are refused (a newer format needs a newer tongbanctl).
//
// Thread safety: free functions; backups of one process into one folder are
// serialised inside Store::CreateBackup. Different processes must not write
// into one folder at once (the daemon is the only writer; list, verify and
// restore only read it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/crypto/suite.h"

namespace tongban::storage {

struct BackupMetadata {
  std::string node;  // the node's 6-digit code
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  uint64_t epoch = 0;
  uint64_t checkpoint_size = 0;
  std::string checkpoint;  // v1::SignedCheckpoint bytes; empty if size 0
  int64_t created_micros = 0;
};

// The text above, and back. Parse errors are kDataLoss naming the line.
std::string EncodeBackupMetadata(const BackupMetadata& m);
absl::StatusOr<BackupMetadata> ParseBackupMetadata(absl::string_view text);

// One backup in a folder.
struct BackupEntry {
  uint32_t id = 0;
  uint64_t size_bytes = 0;  // payload bytes of its files (shared ones included)
  uint32_t files = 0;
  BackupMetadata metadata;
};

// What Store::CreateBackup made, and what it removed to keep the folder at
// its configured size.
struct CreatedBackup {
  BackupEntry backup;             // the backup just made
  std::vector<uint32_t> removed;  // ids of older backups removed, oldest first
  // OK, or why removing older backups failed (some may be gone, `removed`
  // says which). The backup itself is good either way.
  absl::Status purge;
};

// Every backup in `dir`, oldest first, read without the storage key.
// kNotFound if `dir` holds no backup folder; kDataLoss naming the backup if
// a backup's metadata does not parse (a corrupt meta file).
absl::StatusOr<std::vector<BackupEntry>> ListBackups(const std::string& dir);

// The backup `id` in `dir`, or the newest one when `id` is 0. kNotFound
// naming the id and the ids there.
absl::StatusOr<BackupEntry> FindBackup(const std::string& dir, uint32_t id);

// OK iff `storage_key` decrypts backup `id` of `dir`, checked on the header
// of its files before anything is read. Otherwise kFailedPrecondition:
//   "this backup cannot be opened without the storage key it was written
//   with; the storage key is kept apart from backups: ..."
absl::Status CheckBackupKey(const std::string& dir, const BackupEntry& backup,
                            const std::string& storage_key);

// What VerifyBackup and RestoreBackup checked.
struct BackupCheck {
  BackupEntry backup;
  uint64_t own_events = 0;  // events of the checkpoint's log in the backup
  bool checkpoint_verified = false;
};

// Checks backup `id` (0: newest) of `dir`: the storage key (CheckBackupKey),
// every file's checksum, then restores it into `scratch` (a folder that
// must not exist; removed afterwards), opens it with the key and checks that
// the recorded checkpoint verifies with `public_key` (the node's signing
// key) and matches the stored Merkle tree of the node's own log. kDataLoss
// for a file whose checksum or size is wrong, or a tree that does not match;
// kInvalidArgument for a checkpoint that does not verify with the key.
absl::StatusOr<BackupCheck> VerifyBackup(const std::string& dir, uint32_t id,
                                         const std::string& storage_key,
                                         const crypto::PublicKey& public_key,
                                         const std::string& scratch);

// OK unless a process holds the RocksDB lock of `db_dir` (a running
// tongband): then kFailedPrecondition saying to stop the service first.
absl::Status CheckNotInUse(const std::string& db_dir);

struct RestoreResult {
  BackupCheck check;
  std::string moved_aside;  // where the previous db went; empty if none
};

// Restores backup `id` (0: newest) of `dir` into `data_dir`/db, for a node
// whose daemon is stopped. Nothing is half-done:
//   1. refuses if data_dir/db is in use (CheckNotInUse) or the key does not
//      open the backup (CheckBackupKey), before anything is written;
//   2. restores into data_dir/db.restoring (a leftover of an interrupted
//      restore is removed first), opens it and checks the recorded checkpoint
//      against the tree (and its signature with `public_key` if not null);
//   3. renames an existing data_dir/db to data_dir/db.before-restore-<UTC
//      time> (never deleted), then db.restoring to db, and syncs data_dir.
absl::StatusOr<RestoreResult> RestoreBackup(const std::string& dir, uint32_t id,
                                            const std::string& storage_key,
                                            const std::string& data_dir,
                                            const crypto::PublicKey* public_key, absl::Time now);

}  // namespace tongban::storage
