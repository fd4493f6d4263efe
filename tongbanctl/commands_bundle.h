// Offline exchange (离线平台, node/bundles.h):
//
//   bundle export    what a session would send peer CODE, into a file sealed
//                    to it (Admin call ExportBundle, administrators)
//   bundle import    a bundle from a peer, verified whole and applied; writes
//                    the acknowledgement bundle to carry back
//
// Thread safety: single-threaded, like the tool.
#pragma once

#include <vector>

#include "tongbanctl/tongbanctl.h"

namespace tongban::cli {

void AddBundleCommands(std::vector<Command>* commands);

}  // namespace tongban::cli
