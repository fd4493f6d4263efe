// Fuzzes the configuration file parser (node/config.h ParseConfig) over the
// text of a file; the paths it names are resolved but never opened.
#include <cstdint>

#include "node/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  (void)tongban::node::ParseConfig(text, "/nonexistent/fuzz/tongband.conf");
  return 0;
}
