// Backups of a node (storage/backup.h):
//
//   backup create    online: the running node backs itself up into its
//                    configured folder ([storage] backup_dir; Admin call
//                    Backup, administrators), then removes backups
//                    beyond [storage] backup_keep and prints their ids
//   backup list      offline: the backups in a folder (no key needed)
//   backup verify    offline: checksums, storage key, recorded checkpoint
//   restore          offline, daemon stopped: a backup into DATA/db
//
// The offline three open RocksDB, which tongbanctl does not link
// (tests/layering_check.sh): they run `tongband backup-tool ...`
// (daemon/backup_tool.h), found as $TONGBAND, else next to this program,
// else on PATH, and pass its output and exit code through.
//
// Thread safety: single-threaded, like the tool.
#pragma once

#include <vector>

#include "tongbanctl/tongbanctl.h"

namespace tongban::cli {

void AddBackupOnlineCommands(std::vector<Command>* commands);
void AddBackupOfflineCommands(std::vector<Command>* commands);

}  // namespace tongban::cli
