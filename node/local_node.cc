#include "node/local_node.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/key_file.h"
#include "common/log.h"
#include "common/merkle/rotation.h"
#include "common/status_macros.h"

namespace tongban::node {
namespace {

bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

constexpr absl::string_view kRetiredPrefix = "retired-signing-";

std::string RetiredPath(const std::string& dir, const crypto::PublicKey& key,
                        absl::string_view ext) {
  return absl::StrCat(dir, "/", kRetiredPrefix, key.KeyId(), ext);
}

absl::Status Rename(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("rename ", from, " to ", to, ": ", ec.message()));
  return absl::OkStatus();
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
  node->data_dir_ = options.data_dir;
  storage::StoreOptions store_options;
  store_options.path = options.data_dir + "/db";
  store_options.suite = options.suite;
  store_options.write_buffer_bytes = options.write_buffer_bytes;
  store_options.block_cache_bytes = options.block_cache_bytes;
  TB_ASSIGN_OR_RETURN(store_options.storage_key, crypto::ReadStorageKeyFile(suite, storage_path));
  TB_ASSIGN_OR_RETURN(node->store_, storage::Store::Open(store_options));
  TB_RETURN_IF_ERROR(node->FinishRotation(options.writer.node));
  TB_ASSIGN_OR_RETURN(node->signing_key_, crypto::ReadPrivateKeyFile(suite, signing_path));
  // signing.pub follows signing.key (a rotation may have stopped between
  // the two).
  absl::StatusOr<std::unique_ptr<crypto::PublicKey>> pub =
      crypto::ReadPublicKeyFile(suite, public_path);
  if (!pub.ok() || (*pub)->KeyId() != node->signing_key_->public_key().KeyId()) {
    TB_RETURN_IF_ERROR(
        crypto::ReplaceFileAtomically(public_path, node->signing_key_->public_key().Pem(), 0644));
  }
  // The epoch a restart record began (node/node.h), else 1.
  storage::WriterOptions writer = options.writer;
  TB_ASSIGN_OR_RETURN(writer.epoch, node->store_->OwnEpoch());
  {
    absl::MutexLock lock(&node->keys_mu_);
    for (const auto& entry : std::filesystem::directory_iterator(options.data_dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (!absl::StartsWith(name, kRetiredPrefix) || !absl::EndsWith(name, ".key")) continue;
      TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PrivateKey> retired,
                          crypto::ReadPrivateKeyFile(suite, entry.path().string()));
      writer.earlier_keys.push_back(retired.get());
      node->other_keys_.push_back(std::move(retired));
    }
  }
  TB_ASSIGN_OR_RETURN(
      node->writer_,
      storage::Writer::Open(node->store_.get(), node->signing_key_.get(), writer, clock));
  return node;
}

absl::Status LocalNode::FinishRotation(const std::string& code) {
  const std::string next_path = data_dir_ + "/signing.key.next";
  const std::string signing_path = data_dir_ + "/signing.key";
  if (!Exists(next_path)) return absl::OkStatus();
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PrivateKey> next,
                      crypto::ReadPrivateKeyFile(suite_, next_path));
  TB_ASSIGN_OR_RETURN(const std::vector<storage::KeyRotationEntry> rotations,
                      store_->KeyRotations(code));
  bool in_log = false;
  for (const storage::KeyRotationEntry& r : rotations) {
    absl::StatusOr<merkle::KeyRotation> parsed = merkle::ParseKeyRotation(r.rotation.body());
    in_log = in_log || (parsed.ok() && parsed->new_key_id == next->public_key().KeyId());
  }
  if (!in_log) {
    std::error_code ec;
    std::filesystem::remove(next_path, ec);
    TB_LOG(WARNING) << "removed " << next_path
                    << ": a key rotation stopped before the log held it; the key is unchanged";
    return absl::OkStatus();
  }
  if (Exists(signing_path)) {
    TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PrivateKey> old,
                        crypto::ReadPrivateKeyFile(suite_, signing_path));
    if (old->public_key().KeyId() != next->public_key().KeyId()) {
      return RetireKeyFiles(*old, *next);
    }
  }
  TB_RETURN_IF_ERROR(Rename(next_path, signing_path));
  TB_LOG(WARNING) << "finished the key rotation to key " << next->public_key().KeyId()
                  << " that a stop interrupted";
  return absl::OkStatus();
}

absl::Status LocalNode::RetireKeyFiles(const crypto::PrivateKey& old,
                                       const crypto::PrivateKey& next) {
  // The old key is copied aside before the new one replaces it, so a stop
  // at any step leaves both keys on disk (FinishRotation redoes the rest).
  absl::Status kept =
      crypto::WritePrivateKeyFile(old, RetiredPath(data_dir_, old.public_key(), ".key"));
  if (!kept.ok() && !absl::IsAlreadyExists(kept)) return kept;
  TB_RETURN_IF_ERROR(Rename(data_dir_ + "/signing.key.next", data_dir_ + "/signing.key"));
  TB_RETURN_IF_ERROR(
      crypto::ReplaceFileAtomically(data_dir_ + "/signing.pub", next.public_key().Pem(), 0644));
  TB_RETURN_IF_ERROR(crypto::ReplaceFileAtomically(RetiredPath(data_dir_, old.public_key(), ".pub"),
                                                   old.public_key().Pem(), 0644));
  return absl::OkStatus();
}

absl::StatusOr<storage::Appended> LocalNode::RotateSigningKey() {
  absl::MutexLock rotating(&rotate_mu_);
  const crypto::PrivateKey& old = writer_->current_key();
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PrivateKey> next, suite_.GenerateKey());
  const std::string next_path = data_dir_ + "/signing.key.next";
  std::error_code ec;
  std::filesystem::remove(next_path, ec);  // left by a rotation that failed in this process
  TB_RETURN_IF_ERROR(crypto::WritePrivateKeyFile(*next, next_path));
  const crypto::PrivateKey* raw = next.get();
  {
    absl::MutexLock lock(&keys_mu_);
    other_keys_.push_back(std::move(next));
  }
  // Once this returns the log holds the rotation; if the files are not all
  // moved below, the next start finishes it (FinishRotation). A failure here
  // leaves signing.key.next for the next start to judge by the log.
  TB_ASSIGN_OR_RETURN(storage::Appended appended, writer_->RotateKey(raw));
  TB_RETURN_IF_ERROR(RetireKeyFiles(old, *raw));
  return appended;
}

const crypto::PublicKey* LocalNode::OwnPublicKey(absl::string_view key_id) const {
  if (signing_key_->public_key().KeyId() == key_id) return &signing_key_->public_key();
  absl::MutexLock lock(&keys_mu_);
  for (const auto& k : other_keys_) {
    if (k->public_key().KeyId() == key_id) return &k->public_key();
  }
  return nullptr;
}

const crypto::PrivateKey* LocalNode::OwnPrivateKey(absl::string_view key_id) const {
  if (signing_key_->public_key().KeyId() == key_id) return signing_key_.get();
  absl::MutexLock lock(&keys_mu_);
  for (const auto& k : other_keys_) {
    if (k->public_key().KeyId() == key_id) return k.get();
  }
  return nullptr;
}

LocalNode::~LocalNode() {
  writer_.reset();
  store_.reset();
}

}  // namespace tongban::node
