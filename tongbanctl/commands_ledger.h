// tongbanctl ledger export: the statistics of a range of months as
// spreadsheet CSV (commands_ledger.cc, workflows/ledger.h).
//
// Thread safety: single-threaded, like the tool.
#pragma once

#include <vector>

#include "tongbanctl/tongbanctl.h"

namespace tongban::cli {

void AddLedgerCommands(std::vector<Command>* commands);

}  // namespace tongban::cli
