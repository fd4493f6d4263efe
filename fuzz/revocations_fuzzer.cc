// Fuzzes the national revocation list (workflows/certificate_payload.h) as
// an offline verifier reads it: VerifyRevocationList against the roster of
// fuzz/fixed_roster.h. Structure-aware: an input either hands over raw
// bytes (the seed corpus holds a signed list per suite), or signs a list
// of entries it describes with the national node's fixed key and then
// maybe flips one byte of it. Properties, whatever the bytes: a list that
// verifies has its entries sorted and unique, each one found by Find; a
// list the target signed verifies and holds exactly the entries it was
// given (sorted, first of equal ones kept); one with a byte flipped never
// verifies.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fuzz/fixed_roster.h"
#include "workflows/certificate_payload.h"

namespace tongban::fuzz {
namespace {

using workflows::RevocationReason;
using workflows::RevokedCertificate;

void CheckVerified(const workflows::RevocationList& list) {
  for (size_t i = 0; i < list.entries.size(); ++i) {
    const RevokedCertificate& e = list.entries[i];
    if (i > 0 && !(list.entries[i - 1] < e)) abort();  // sorted, unique
    if (list.Find(e.issuer, e.number) != &e) abort();
  }
}

void SignedByTarget(FuzzedDataProvider& in, crypto::SuiteId suite) {
  std::vector<RevokedCertificate> entries;
  std::map<std::pair<std::string, std::string>, RevocationReason> first;
  const int n = in.ConsumeIntegralInRange(0, 20);
  for (int i = 0; i < n; ++i) {
    RevokedCertificate e;
    e.issuer = in.PickValueInArray({kOrigin, kCounty, kNational});
    e.number = in.ConsumeRandomLengthString(40);
    e.reason = in.ConsumeBool() ? RevocationReason::kRevoked : RevocationReason::kSuperseded;
    first.emplace(std::make_pair(e.issuer, e.number), e.reason);
    entries.push_back(std::move(e));
  }
  const absl::Time issued = absl::FromUnixSeconds(in.ConsumeIntegralInRange<int64_t>(0, 1 << 30));
  absl::StatusOr<std::string> bytes =
      workflows::SignRevocationList(entries, kNational, issued, *FixedKey(suite, kNationalRole));
  if (!bytes.ok()) return;  // entries the format cannot hold (a number too long)
  const bool flip = in.ConsumeBool() && !bytes->empty();
  if (flip) {
    const size_t at = in.ConsumeIntegralInRange<size_t>(0, bytes->size() - 1);
    (*bytes)[at] = static_cast<char>((*bytes)[at] ^ in.ConsumeIntegralInRange<uint8_t>(1, 255));
  }
  absl::StatusOr<workflows::RevocationList> list =
      workflows::VerifyRevocationList(*bytes, FixedRoster(suite));
  if (flip) {
    if (list.ok()) abort();
    return;
  }
  if (!list.ok() || list->entries.size() != first.size()) abort();
  CheckVerified(*list);
  for (const RevokedCertificate& e : list->entries) {
    const auto it = first.find({e.issuer, e.number});
    if (it == first.end() || it->second != e.reason) abort();
  }
}

}  // namespace
}  // namespace tongban::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tongban;
  if (size == 0) return 0;
  const crypto::SuiteId suite = fuzz::SuiteOf(data[0]);
  if (data[0] & 2) {
    FuzzedDataProvider in(data + 1, size - 1);
    fuzz::SignedByTarget(in, suite);
    return 0;
  }
  const absl::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  absl::StatusOr<workflows::RevocationList> list =
      workflows::VerifyRevocationList(bytes, fuzz::FixedRoster(suite));
  if (list.ok()) fuzz::CheckVerified(*list);
  return 0;
}
