#include "storage/encryption.h"

#include <rocksdb/env.h>
#include <rocksdb/env_encryption.h>
#include <rocksdb/file_system.h>

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/fault_env.h"

namespace tongban::storage {
namespace {

constexpr size_t kPrefixLength = 4096;
constexpr char kMagic[16] = {'T', 'O', 'N', 'G', 'B', 'A', 'N', '-',
                             'E', 'N', 'C', '-', 'V', '1', 0,   0};
constexpr size_t kSuiteOffset = 16;
constexpr size_t kIvOffset = 17;
constexpr size_t kIvSize = 16;
constexpr size_t kCheckOffset = kIvOffset + kIvSize;
constexpr size_t kCheckSize = 16;

std::string KeyCheckOf(const crypto::Suite& suite, const std::string& key, const std::string& iv) {
  std::unique_ptr<crypto::Hasher> hasher = suite.NewHasher();
  const absl::string_view parts[] = {"tongban storage key check", key, iv};
  const crypto::Digest d = hasher->Hash(parts);
  return std::string(crypto::AsStringView(d).substr(0, kCheckSize));
}

class CtrStream : public rocksdb::BlockAccessCipherStream {
 public:
  CtrStream(const crypto::CtrCipher* cipher, std::string iv)
      : cipher_(cipher), iv_(std::move(iv)) {}

  size_t BlockSize() override { return 16; }

  rocksdb::Status Encrypt(uint64_t offset, char* data, size_t size) override {
    return Apply(offset, data, size);
  }
  rocksdb::Status Decrypt(uint64_t offset, char* data, size_t size) override {
    return Apply(offset, data, size);
  }

 protected:
  void AllocateScratch(std::string& scratch) override { scratch.resize(16); }
  rocksdb::Status EncryptBlock(uint64_t index, char* data, char*) override {
    return Apply(index * 16, data, 16);
  }
  rocksdb::Status DecryptBlock(uint64_t index, char* data, char*) override {
    return Apply(index * 16, data, 16);
  }

 private:
  rocksdb::Status Apply(uint64_t offset, char* data, size_t size) {
    const absl::Status s = cipher_->Apply(iv_, offset, data, size);
    if (!s.ok()) return rocksdb::Status::IOError("storage cipher", s.ToString());
    return rocksdb::Status::OK();
  }

  const crypto::CtrCipher* const cipher_;  // Not owned; the provider outlives streams.
  const std::string iv_;
};

class Provider : public rocksdb::EncryptionProvider {
 public:
  Provider(const crypto::Suite& suite, std::string key, std::unique_ptr<crypto::CtrCipher> cipher)
      : suite_(suite), key_(std::move(key)), cipher_(std::move(cipher)) {}

  const char* Name() const override { return "TongbanCtrProvider"; }
  size_t GetPrefixLength() const override { return kPrefixLength; }

  rocksdb::Status CreateNewPrefix(const std::string& fname, char* prefix,
                                  size_t length) const override {
    if (length < kPrefixLength) {
      return rocksdb::Status::InvalidArgument("prefix too short for " + fname);
    }
    absl::StatusOr<std::string> iv = crypto::RandomBytes(kIvSize);
    if (!iv.ok()) return rocksdb::Status::IOError(iv.status().ToString());
    std::memset(prefix, 0, length);
    std::memcpy(prefix, kMagic, sizeof(kMagic));
    prefix[kSuiteOffset] = static_cast<char>(suite_.id());
    std::memcpy(prefix + kIvOffset, iv->data(), kIvSize);
    const std::string check = KeyCheck(*iv);
    std::memcpy(prefix + kCheckOffset, check.data(), kCheckSize);
    return rocksdb::Status::OK();
  }

  rocksdb::Status AddCipher(const std::string&, const char*, size_t, bool) override {
    // The key is fixed at construction from the node's key file; RocksDB
    // only calls this when a provider is built from an options string.
    return rocksdb::Status::NotSupported(
        "tongban storage keys come from the key file, not options strings");
  }

  rocksdb::Status CreateCipherStream(
      const std::string& fname, const rocksdb::EnvOptions&, rocksdb::Slice& prefix,
      std::unique_ptr<rocksdb::BlockAccessCipherStream>* result) override {
    if (prefix.size() < kPrefixLength || std::memcmp(prefix.data(), kMagic, sizeof(kMagic)) != 0) {
      return rocksdb::Status::InvalidArgument(fname +
                                              ": not encrypted with a tongban storage key "
                                              "(a plaintext or foreign database?)");
    }
    if (static_cast<uint8_t>(prefix[kSuiteOffset]) != static_cast<uint8_t>(suite_.id())) {
      return rocksdb::Status::InvalidArgument(fname +
                                              ": encrypted under the other crypto suite than '" +
                                              std::string(suite_.name()) + "'");
    }
    const std::string iv(prefix.data() + kIvOffset, kIvSize);
    if (std::memcmp(prefix.data() + kCheckOffset, KeyCheck(iv).data(), kCheckSize) != 0) {
      return rocksdb::Status::InvalidArgument(
          fname +
          ": the storage key does not match the key this database "
          "was encrypted with");
    }
    *result = std::make_unique<CtrStream>(cipher_.get(), iv);
    return rocksdb::Status::OK();
  }

 private:
  std::string KeyCheck(const std::string& iv) const { return KeyCheckOf(suite_, key_, iv); }

  const crypto::Suite& suite_;
  const std::string key_;
  const std::unique_ptr<crypto::CtrCipher> cipher_;
};

// Files keep the prefix length (sizes are reported without it), but no
// cipher stream is ever made: there is no key.
class KeylessProvider : public rocksdb::EncryptionProvider {
 public:
  const char* Name() const override { return "TongbanKeylessProvider"; }
  size_t GetPrefixLength() const override { return kPrefixLength; }
  rocksdb::Status CreateNewPrefix(const std::string& fname, char*, size_t) const override {
    return rocksdb::Status::NotSupported(fname + ": no storage key given");
  }
  rocksdb::Status AddCipher(const std::string&, const char*, size_t, bool) override {
    return rocksdb::Status::NotSupported("no storage key given");
  }
  rocksdb::Status CreateCipherStream(const std::string& fname, const rocksdb::EnvOptions&,
                                     rocksdb::Slice&,
                                     std::unique_ptr<rocksdb::BlockAccessCipherStream>*) override {
    return rocksdb::Status::NotSupported(fname + ": no storage key given");
  }
};

}  // namespace

absl::StatusOr<std::shared_ptr<rocksdb::FileSystem>> NewEncryptedFileSystem(
    const crypto::Suite& suite, const std::string& key) {
  if (key.size() != suite.symmetric_key_size()) {
    return absl::InvalidArgumentError(absl::StrCat("storage key: ", key.size(), " bytes, suite ",
                                                   suite.name(), " needs ",
                                                   suite.symmetric_key_size()));
  }
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::CtrCipher> cipher, suite.NewCtrCipher(key));
  return rocksdb::NewEncryptedFS(rocksdb::FileSystem::Default(),
                                 std::make_shared<Provider>(suite, key, std::move(cipher)));
}

std::shared_ptr<rocksdb::FileSystem> NewKeylessFileSystem() {
  return rocksdb::NewEncryptedFS(rocksdb::FileSystem::Default(),
                                 std::make_shared<KeylessProvider>());
}

absl::Status CheckFileKey(const crypto::Suite& suite, const std::string& key,
                          const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char header[kCheckOffset + kCheckSize];
  if (!in.read(header, sizeof(header))) {
    return absl::UnavailableError(absl::StrCat(path, ": cannot read its header"));
  }
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": not encrypted with a tongban storage key"));
  }
  if (static_cast<uint8_t>(header[kSuiteOffset]) != static_cast<uint8_t>(suite.id())) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": encrypted under another crypto suite than '", suite.name(), "'"));
  }
  const std::string iv(header + kIvOffset, kIvSize);
  if (key.size() != suite.symmetric_key_size() ||
      std::memcmp(header + kCheckOffset, KeyCheckOf(suite, key, iv).data(), kCheckSize) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": encrypted with another storage key than the one given"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<rocksdb::Env>> NewEncryptedEnv(const crypto::Suite& suite,
                                                              const std::string& key,
                                                              const FaultInjection* faults) {
  if (key.size() != suite.symmetric_key_size()) {
    return absl::InvalidArgumentError(absl::StrCat("storage key: ", key.size(), " bytes, suite ",
                                                   suite.name(), " needs ",
                                                   suite.symmetric_key_size()));
  }
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::CtrCipher> cipher, suite.NewCtrCipher(key));
  auto provider = std::make_shared<Provider>(suite, key, std::move(cipher));
  if (faults != nullptr) {
    return rocksdb::NewCompositeEnv(rocksdb::NewEncryptedFS(
        NewFaultFileSystem(rocksdb::FileSystem::Default(), *faults), provider));
  }
  return std::unique_ptr<rocksdb::Env>(rocksdb::NewEncryptedEnv(rocksdb::Env::Default(), provider));
}

}  // namespace tongban::storage
