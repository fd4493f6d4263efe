// Fuzzes the offline certificate payload (workflows/certificate_payload.h)
// as a verifier reads it from a QR code: the "TB1:" text, whose base45
// bytes are then decoded, or the binary payload itself. Also checks that
// base45 round-trips: any bytes, written as text and read back, are the
// same bytes.
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "workflows/certificate_payload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tongban::workflows;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (absl::StartsWith(input, "TB1:")) {
    absl::StatusOr<std::string> bytes = CertificateBytesFromText(input);
    if (bytes.ok()) (void)DecodeCertificatePayload(*bytes);
  } else {
    (void)DecodeCertificatePayload(input);
    absl::StatusOr<std::string> back = CertificateBytesFromText(CertificateText(input));
    if (!back.ok() || *back != input) abort();
  }
  return 0;
}
