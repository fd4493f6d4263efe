// GHASH, the universal hash of GCM (NIST SP 800-38D section 6.4), in portable
// constant-time C++ (no lookup tables indexed by secret data). OpenSSL 3.0
// has no SM4-GCM, so the gm suite builds GCM from OpenSSL's SM4 block cipher
// and this GHASH (see suite.cc). Internal to common/crypto.
//
// Thread safety: a plain value; one thread at a time.
#pragma once

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace tongban::crypto::internal {

class Ghash {
 public:
  // `h` is the hash subkey H = E(K, 0^128).
  explicit Ghash(const std::array<uint8_t, 16>& h);
  ~Ghash();

  // Absorbs `data` followed by zero bytes up to a 16-byte boundary, as GCM
  // pads the AAD and the ciphertext.
  void UpdatePadded(absl::string_view data);
  // Absorbs the length block (bit lengths of AAD and ciphertext) and returns
  // the GHASH value.
  std::array<uint8_t, 16> Finish(uint64_t aad_bytes, uint64_t ciphertext_bytes);

 private:
  void AbsorbBlock(const uint8_t block[16]);

  uint64_t h_hi_, h_lo_;  // H as a big-endian 128-bit value
  uint64_t y_hi_ = 0, y_lo_ = 0;
};

}  // namespace tongban::crypto::internal
