// The offline backup commands, run as `tongband backup-tool ...`. They open
// RocksDB (storage/backup.h), which tongbanctl never links
// (tests/layering_check.sh), so `tongbanctl backup list|verify` and
// `tongbanctl restore` run this in the tongband binary next to it, with the
// flags tongbanctl has already checked:
//
//   backup list   --dir DIR [--json]
//   backup verify --dir DIR [--id N] [--storage-key FILE] [--public-key FILE]
//                 [--data-dir DATA]
//   restore       --from DIR [--id N] --data-dir DATA [--storage-key FILE]
//
// Results go to `out`; a failure is one line on `err` (the message alone,
// which tongbanctl prefixes with the command) and the exit code of
// tongbanctl's table: 2 bad input, 3 refused, 1 other.
//
// Thread safety: single-threaded.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tongban::daemon {

// `args` starts with the command words ("backup", "list").
int RunBackupTool(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tongban::daemon
