// Fuzzes the ledger export's inputs (workflows/ledger.h): the month range
// and statistical year a clerk types, and the StatsReply a node returns,
// written as CSV in both encodings.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>

#include "fuzz/fixtures.h"
#include "tongban/v1/stats.pb.h"
#include "workflows/ledger.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tongban::workflows;
  FuzzedDataProvider in(data, size);
  const std::string from = in.ConsumeRandomLengthString(16);
  const std::string to = in.ConsumeRandomLengthString(16);
  const std::string year = in.ConsumeRandomLengthString(8);
  (void)LedgerMonths(from, to);
  (void)StatisticalYearMonths(year);
  std::vector<tongban::v1::StatsReply> replies(1);
  const std::string reply = in.ConsumeRemainingBytesAsString();
  if (!replies[0].ParseFromString(reply)) return 0;
  for (Encoding e : {Encoding::kUtf8, Encoding::kGb18030}) {
    (void)LedgerCsv(replies, e);
    (void)LedgerFlowsCsv(replies, e);
  }
  return 0;
}
