// Fuzzes the bulk import reader (workflows/import_csv.h, workflows/csv.h):
// the first byte picks the encoding (even: UTF-8, odd: GB18030), the rest
// is the file; every row is read to the end of the file.
#include <cstdint>
#include <sstream>

#include "absl/time/civil_time.h"
#include "workflows/import_csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tongban::workflows;
  if (size == 0) return 0;
  const Encoding encoding = data[0] % 2 == 0 ? Encoding::kUtf8 : Encoding::kGb18030;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  auto reader = ImportReader::Open("fuzz.csv", &in, encoding, absl::CivilDay(2026, 12, 6));
  if (!reader.ok()) return 0;
  std::optional<ImportRow> row;
  std::vector<ImportFinding> findings;
  while ((*reader)->Next(&row, &findings)) {
    for (const ImportFinding& f : findings) (void)FindingCsvLine(f);
    findings.clear();
  }
  return 0;
}
