// The build's version: the project version from CMakeLists.txt and the
// commit it was built from (`git describe --always --dirty`, or "unknown"
// outside git), for `tongband --version`, `tongbanctl --version` and the
// tongban_build_info metric. The definitions are generated at build time
// (cmake/version.cmake) into the library tongban_version, which only the
// programs and the daemon link, so a new commit relinks little.
//
// Thread safety: constants.
#pragma once

namespace tongban {

const char* Version();  // "0.1.0"
const char* Commit();   // "6999462d1c3a", "6999462d1c3a-dirty" or "unknown"

}  // namespace tongban
