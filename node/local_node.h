// LocalNode is the node core put together: the signing key and storage key
// from their files, the encrypted Store and the Writer on top of it. The
// daemon, the demo, the crash test and the benchmark all start from it.
//
// Files under `data_dir` (created on first start when create_keys is set):
//   signing.key   PEM private key of the suite (mode 0600)
//   signing.pub   its public key (PEM)
//   storage.key   hex storage key for encryption at rest (mode 0600)
//   db/           the RocksDB folder, encrypted
//
// Thread safety: the accessors are safe; the objects they return document
// their own.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
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
  const crypto::PrivateKey& signing_key() const { return *signing_key_; }
  const crypto::Suite& suite() const { return suite_; }

 private:
  explicit LocalNode(const crypto::Suite& suite) : suite_(suite) {}

  const crypto::Suite& suite_;
  // Declaration order is construction order; destruction runs in reverse,
  // so the writer stops before the store closes.
  std::unique_ptr<crypto::PrivateKey> signing_key_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Writer> writer_;
};

}  // namespace tongban::node
