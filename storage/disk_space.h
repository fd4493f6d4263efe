// The free space of the filesystem that holds a folder: what the node
// checks against [storage] min_free_mib before it lets writes in
// (node/node.h, Disk space).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace tongban::storage {

// Bytes an unprivileged process may still write on the filesystem holding
// `dir` (statvfs: f_bavail * f_frsize). kNotFound if `dir` does not exist,
// kInternal naming `dir` and the system's reason otherwise.
absl::StatusOr<uint64_t> FreeBytes(const std::string& dir);

// "1.5 GiB", "37.2 MiB", "512 KiB", "12 bytes": for messages to operators.
std::string FormatBytes(uint64_t bytes);

}  // namespace tongban::storage
