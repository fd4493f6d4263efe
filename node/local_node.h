// LocalNode is the node core put together: the signing key and storage key
// from their files, the encrypted Store and the Writer on top of it. The
// daemon, the demo, the crash test and the benchmark all start from it.
//
// Files under `data_dir` (created on first start when create_keys is set):
//   signing.key   PEM private key of the suite (mode 0600)
//   signing.pub   its public key (PEM)
//   storage.key   hex storage key for encryption at rest (mode 0600)
//   db/           the RocksDB folder, encrypted
//   retired-signing-KEYID.key, .pub
//                 a signing key a rotation retired (RotateSigningKey): kept
//                 so that events appended before the rotation and signed
//                 only after a crash or a restore are signed with the key
//                 their position calls for; it signs nothing newer
//   signing.key.next
//                 the new key while a rotation is under way; at the next
//                 start it becomes signing.key if the log holds the rotation,
//                 and is removed otherwise
//
// Thread safety: the accessors are safe; the objects they return document
// their own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "storage/store.h"
#include "storage/writer.h"

namespace tongban::node {

struct LocalNodeOptions {
  std::string data_dir;  // Required.
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  storage::WriterOptions writer;  // writer.node is required
  // Generate the key files when they are missing (first start). When false,
  // missing keys are kNotFound naming the file.
  bool create_keys = true;
  // The store's memory (storage::StoreOptions; [storage] write_buffer_mib
  // and cache_mib of the configuration).
  size_t write_buffer_bytes = storage::StoreOptions().write_buffer_bytes;
  size_t block_cache_bytes = storage::StoreOptions().block_cache_bytes;
};

class LocalNode {
 public:
  // `clock` is not owned and must outlive the node.
  static absl::StatusOr<std::unique_ptr<LocalNode>> Open(const LocalNodeOptions& options,
                                                         const Clock* clock);
  // Stops the writer (finishing queued appends and their checkpoint), then
  // closes the store.
  ~LocalNode();

  storage::Store* store() { return store_.get(); }
  storage::Writer* writer() { return writer_.get(); }
  // The key that signs the log now (after any rotation). The reference
  // stays valid for the node's life, also after a later rotation.
  const crypto::PrivateKey& signing_key() const { return writer_->current_key(); }
  const crypto::Suite& suite() const { return suite_; }
  // Every signing key this node holds (current and retired) by key id, for
  // verifying what it signed before a rotation (its audit log, backups).
  const crypto::PublicKey* OwnPublicKey(absl::string_view key_id) const;
  // The same private key, for opening what peers sealed to one of this
  // node's roster keys (offline bundles); valid for the node's life.
  const crypto::PrivateKey* OwnPrivateKey(absl::string_view key_id) const;

  // Rotates the log's signing key (DESIGN.md section 3): generates a key
  // here, appends the rotation entry signed by the old and the new key, then
  // makes the new key signing.key (and signing.pub) and keeps the old one as
  // retired-signing-KEYID.key. Returns the entry. One rotation at a time.
  absl::StatusOr<storage::Appended> RotateSigningKey();

 private:
  explicit LocalNode(const crypto::Suite& suite) : suite_(suite) {}
  // signing.key.next left by a rotation that stopped half-way: the new key
  // if the log holds its rotation, else removed.
  absl::Status FinishRotation(const std::string& code);
  // Moves the key files after a durable rotation from `old_key` to `next`.
  absl::Status RetireKeyFiles(const crypto::PrivateKey& old_key, const crypto::PrivateKey& next);

  const crypto::Suite& suite_;
  std::string data_dir_;
  // Declaration order is construction order; destruction runs in reverse,
  // so the writer stops before the store closes.
  std::unique_ptr<crypto::PrivateKey> signing_key_;
  // Retired keys and keys made by rotations in this process: never freed
  // before the writer, which signs with them.
  mutable absl::Mutex keys_mu_;
  std::vector<std::unique_ptr<crypto::PrivateKey>> other_keys_ ABSL_GUARDED_BY(keys_mu_);
  absl::Mutex rotate_mu_;  // one rotation at a time
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Writer> writer_;
};

}  // namespace tongban::node
