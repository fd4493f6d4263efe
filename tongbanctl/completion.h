// Shell completion for tongbanctl, generated from its command table (so it
// never falls behind the commands): `tongbanctl completion bash|zsh`
// prints a script completing groups, commands, each command's flags, the
// values of --suite and --role, profile names after --profile, and file
// names after any other flag that takes a value. The .deb installs both
// (bash-completion and zsh's vendor-completions folders).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "tongbanctl/tongbanctl.h"

namespace tongban::cli {

std::string BashCompletion(const std::vector<Command>& commands);
std::string ZshCompletion(const std::vector<Command>& commands);

}  // namespace tongban::cli
