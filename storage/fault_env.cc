// FaultInjection over RocksDB's FileSystem. RocksDB 7 opens every file
// through Env::GetFileSystem(), so the wrapper is a FileSystemWrapper (an
// EnvWrapper's file methods would be bypassed); the store makes its Env from
// it with NewCompositeEnv, under the encryption (storage/encryption.cc).
#include "storage/fault_env.h"

#include <rocksdb/file_system.h>
#include <rocksdb/io_status.h>

#include <cstring>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"

namespace tongban::storage {

struct FaultInjection::State {
  // The fault for a write (or a sync) of a file of `kind`, counted; OK if
  // none.
  rocksdb::IOStatus OnWrite(FileKinds kind) {
    absl::MutexLock lock(&mu);
    if ((kind & kinds) == 0) return rocksdb::IOStatus::OK();
    ++counts.writes;
    if (full) {
      ++counts.failed_writes;
      return rocksdb::IOStatus::NoSpace("injected full disk");
    }
    if (pass_writes > 0) {
      --pass_writes;
    } else if (fail_writes > 0) {
      --fail_writes;
      ++counts.failed_writes;
      return rocksdb::IOStatus::IOError("injected write fault");
    }
    return rocksdb::IOStatus::OK();
  }

  rocksdb::IOStatus OnSync(FileKinds kind) {
    absl::MutexLock lock(&mu);
    if ((kind & kinds) == 0) return rocksdb::IOStatus::OK();
    ++counts.syncs;
    if (pass_syncs > 0) {
      --pass_syncs;
    } else if (fail_syncs > 0) {
      --fail_syncs;
      ++counts.failed_syncs;
      return rocksdb::IOStatus::IOError("injected sync fault");
    }
    return rocksdb::IOStatus::OK();
  }

  mutable absl::Mutex mu;
  FileKinds kinds ABSL_GUARDED_BY(mu) = kAllFiles;
  int pass_writes ABSL_GUARDED_BY(mu) = 0;  // before the failing ones
  int fail_writes ABSL_GUARDED_BY(mu) = 0;
  int pass_syncs ABSL_GUARDED_BY(mu) = 0;
  int fail_syncs ABSL_GUARDED_BY(mu) = 0;
  bool full ABSL_GUARDED_BY(mu) = false;
  FaultCounts counts ABSL_GUARDED_BY(mu);
};

FileKinds FileKindOf(const char* path) {
  const char* slash = std::strrchr(path, '/');
  const absl::string_view name = slash == nullptr ? path : slash + 1;
  if (absl::EndsWith(name, ".log") && name != "LOG") return kWalFile;
  if (absl::EndsWith(name, ".sst")) return kTableFile;
  if (absl::StartsWith(name, "MANIFEST-")) return kManifestFile;
  return kOtherFile;
}

FaultInjection::FaultInjection() : state_(std::make_shared<State>()) {}
FaultInjection::~FaultInjection() = default;

void FaultInjection::SetFileKinds(FileKinds kinds) {
  absl::MutexLock lock(&state_->mu);
  state_->kinds = kinds;
}

void FaultInjection::FailNextWrites(int n, int after) {
  absl::MutexLock lock(&state_->mu);
  state_->pass_writes = after;
  state_->fail_writes = n;
}

void FaultInjection::FailNextSyncs(int n, int after) {
  absl::MutexLock lock(&state_->mu);
  state_->pass_syncs = after;
  state_->fail_syncs = n;
}

void FaultInjection::FillDisk() {
  absl::MutexLock lock(&state_->mu);
  state_->full = true;
}

void FaultInjection::Heal() {
  absl::MutexLock lock(&state_->mu);
  state_->full = false;
  state_->pass_writes = state_->fail_writes = 0;
  state_->pass_syncs = state_->fail_syncs = 0;
}

FaultCounts FaultInjection::counts() const {
  absl::MutexLock lock(&state_->mu);
  return state_->counts;
}

namespace {

using rocksdb::DataVerificationInfo;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// A file being written, whose writes and syncs ask the state first.
class FaultFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultFile(std::unique_ptr<rocksdb::FSWritableFile> file, FileKinds kind,
            std::shared_ptr<FaultInjection::State> state)
      : FSWritableFileOwnerWrapper(std::move(file)), kind_(kind), state_(std::move(state)) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = state_->OnWrite(kind_);
    return s.ok() ? target()->Append(data, o, dbg) : s;
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const DataVerificationInfo& v,
                  IODebugContext* dbg) override {
    IOStatus s = state_->OnWrite(kind_);
    return s.ok() ? target()->Append(data, o, v, dbg) : s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            IODebugContext* dbg) override {
    IOStatus s = state_->OnWrite(kind_);
    return s.ok() ? target()->PositionedAppend(data, offset, o, dbg) : s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            const DataVerificationInfo& v, IODebugContext* dbg) override {
    IOStatus s = state_->OnWrite(kind_);
    return s.ok() ? target()->PositionedAppend(data, offset, o, v, dbg) : s;
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = state_->OnSync(kind_);
    return s.ok() ? target()->Sync(o, dbg) : s;
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = state_->OnSync(kind_);
    return s.ok() ? target()->Fsync(o, dbg) : s;
  }
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& o,
                     IODebugContext* dbg) override {
    IOStatus s = state_->OnSync(kind_);
    return s.ok() ? target()->RangeSync(offset, nbytes, o, dbg) : s;
  }

 private:
  const FileKinds kind_;
  const std::shared_ptr<FaultInjection::State> state_;
};

class FaultFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FaultFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                  std::shared_ptr<FaultInjection::State> state)
      : FileSystemWrapper(base), state_(std::move(state)) {}

  const char* Name() const override { return "TongbanFaultInjection"; }

  IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                           std::unique_ptr<rocksdb::FSWritableFile>* r,
                           IODebugContext* dbg) override {
    return Wrap(f, target()->NewWritableFile(f, o, r, dbg), r);
  }
  IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                              std::unique_ptr<rocksdb::FSWritableFile>* r,
                              IODebugContext* dbg) override {
    return Wrap(f, target()->ReopenWritableFile(f, o, r, dbg), r);
  }
  IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                             const rocksdb::FileOptions& o,
                             std::unique_ptr<rocksdb::FSWritableFile>* r,
                             IODebugContext* dbg) override {
    return Wrap(f, target()->ReuseWritableFile(f, old, o, r, dbg), r);
  }

 private:
  IOStatus Wrap(const std::string& name, IOStatus opened,
                std::unique_ptr<rocksdb::FSWritableFile>* r) {
    if (opened.ok())
      *r = std::make_unique<FaultFile>(std::move(*r), FileKindOf(name.c_str()), state_);
    return opened;
  }

  const std::shared_ptr<FaultInjection::State> state_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> NewFaultFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                                                        const FaultInjection& faults) {
  return std::make_shared<FaultFileSystem>(std::move(base), faults.state());
}

}  // namespace tongban::storage
