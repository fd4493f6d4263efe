// Encryption at rest of every RocksDB file (SST, WAL, MANIFEST, OPTIONS,
// CURRENT) with the suite's block cipher in counter mode: AES-256-CTR (intl)
// or SM4-CTR (gm). Counter mode because RocksDB reads files at random
// offsets; integrity comes from RocksDB's block checksums and, above it, from
// the Merkle log.
//
// File format: every file starts with a 4,096-byte plaintext header
//   magic "TONGBAN-ENC-V1\0\0" (16) | suite id (1) | iv (16) | key check (16) | zeros
// key check := first 16 bytes of H("tongban storage key check" || key || iv)
// with the suite's hash, so a wrong key is refused with a clear error instead
// of reading garbage. The rest of the file is the data XORed with the key
// stream from counter block `iv`, offset by the data's position.
//
// Thread safety: the returned Env is safe for concurrent use.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/suite.h"
#include "storage/fault_injection.h"

namespace rocksdb {
class Env;
class FileSystem;
}  // namespace rocksdb

namespace tongban::storage {

// A RocksDB Env over the default one that encrypts every file with `key`
// (suite.symmetric_key_size() bytes). With `faults` (tests), the files go
// through it below the encryption, as they reach the disk; it must outlive
// the Env.
absl::StatusOr<std::unique_ptr<rocksdb::Env>> NewEncryptedEnv(
    const crypto::Suite& suite, const std::string& key, const FaultInjection* faults = nullptr);

// The same encryption as a FileSystem over the default one (backups route
// some files around it: storage/backup.cc).
absl::StatusOr<std::shared_ptr<rocksdb::FileSystem>> NewEncryptedFileSystem(
    const crypto::Suite& suite, const std::string& key);

// A FileSystem that lists encrypted files with their payload sizes (as the
// encrypted one does) but opens none of them: without the key, a backup's
// files can be counted and measured, never read.
std::shared_ptr<rocksdb::FileSystem> NewKeylessFileSystem();

// OK iff the encrypted file at `path` was written under `suite` with `key`
// (its header's key check). kFailedPrecondition saying which of the three
// does not hold (not a tongban encrypted file, another suite, another key);
// kUnavailable if the file cannot be read.
absl::Status CheckFileKey(const crypto::Suite& suite, const std::string& key,
                          const std::string& path);

}  // namespace tongban::storage
