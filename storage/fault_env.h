// The file system under a store with FaultInjection (storage/fault_injection.h).
// For storage/*.cc only: tests use FaultInjection.
//
// Thread safety: the returned file system is safe for concurrent use.
#pragma once

#include <memory>

#include "storage/fault_injection.h"

namespace rocksdb {
class FileSystem;
}

namespace tongban::storage {

// A file system over `base` whose writes and syncs fail as `faults` says.
std::shared_ptr<rocksdb::FileSystem> NewFaultFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                                                        const FaultInjection& faults);

}  // namespace tongban::storage
