// tongbanctl ledger export: the statistics of a range of months as
// spreadsheet CSV (commands_ledger.cc, node/cli/ledger.h).
//
// Thread safety: single-threaded, like the tool.
#pragma once

#include <vector>

#include "node/cli/tongbanctl.h"

namespace tongban::cli {

void AddLedgerCommands(std::vector<Command>* commands);

}  // namespace tongban::cli
