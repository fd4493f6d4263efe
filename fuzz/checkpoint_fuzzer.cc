// Fuzzes the checkpoint text (common/merkle/checkpoint.h): the parser must
// never crash, and what it accepts must be canonical (encoding it again
// gives the same bytes), since the text is exactly what is signed.
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "common/merkle/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<tongban::merkle::Checkpoint> c = tongban::merkle::ParseCheckpoint(text);
  if (c.ok() && tongban::merkle::EncodeCheckpoint(*c) != text) abort();
  return 0;
}
