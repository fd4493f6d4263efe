#include "node/local_node.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/crypto/key_file.h"
#include "common/status_macros.h"

namespace tongban::node {
namespace {

bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalNode>> LocalNode::Open(const LocalNodeOptions& options,
                                                           const Clock* clock) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir: empty");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("data_dir ", options.data_dir, ": ", ec.message()));
  }
  const crypto::Suite& suite = crypto::GetSuite(options.suite);
  std::unique_ptr<LocalNode> node(new LocalNode(suite));

  const std::string signing_path = options.data_dir + "/signing.key";
  const std::string public_path = options.data_dir + "/signing.pub";
  const std::string storage_path = options.data_dir + "/storage.key";
  if (options.create_keys && !Exists(signing_path)) {
    TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PrivateKey> key, suite.GenerateKey());
    TB_RETURN_IF_ERROR(crypto::WritePrivateKeyFile(*key, signing_path));
    TB_RETURN_IF_ERROR(crypto::WritePublicKeyFile(key->public_key(), public_path));
  }
  if (options.create_keys && !Exists(storage_path)) {
    TB_RETURN_IF_ERROR(crypto::GenerateStorageKeyFile(suite, storage_path));
  }
  TB_ASSIGN_OR_RETURN(node->signing_key_, crypto::ReadPrivateKeyFile(suite, signing_path));
  storage::StoreOptions store_options;
  store_options.path = options.data_dir + "/db";
  store_options.suite = options.suite;
  TB_ASSIGN_OR_RETURN(store_options.storage_key, crypto::ReadStorageKeyFile(suite, storage_path));
  TB_ASSIGN_OR_RETURN(node->store_, storage::Store::Open(store_options));
  // The epoch a restart record began (node/node.h), else 1.
  storage::WriterOptions writer = options.writer;
  TB_ASSIGN_OR_RETURN(writer.epoch, node->store_->OwnEpoch());
  TB_ASSIGN_OR_RETURN(
      node->writer_,
      storage::Writer::Open(node->store_.get(), node->signing_key_.get(), writer, clock));
  return node;
}

LocalNode::~LocalNode() {
  writer_.reset();
  store_.reset();
}

}  // namespace tongban::node
