// tongbanctl import: bulk import of a county register (commands_import.cc).
//
// Thread safety: single-threaded, like the tool.
#pragma once

#include <vector>

#include "tongbanctl/tongbanctl.h"

namespace tongban::cli {

void AddImportCommands(std::vector<Command>* commands);

}  // namespace tongban::cli
