#include "common/crypto/ghash.h"

#include <openssl/crypto.h>

#include <cstring>

namespace tongban::crypto::internal {
namespace {

uint64_t LoadBigEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void StoreBigEndian64(uint64_t v, uint8_t* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

Ghash::Ghash(const std::array<uint8_t, 16>& h)
    : h_hi_(LoadBigEndian64(h.data())), h_lo_(LoadBigEndian64(h.data() + 8)) {}

Ghash::~Ghash() {
  OPENSSL_cleanse(&h_hi_, sizeof(h_hi_));
  OPENSSL_cleanse(&h_lo_, sizeof(h_lo_));
}

// Y = (Y xor X) * H in GF(2^128) with GCM's reflected bit order
// (SP 800-38D Algorithm 1). Masks instead of branches keep it constant time.
void Ghash::AbsorbBlock(const uint8_t block[16]) {
  const uint64_t x_hi = y_hi_ ^ LoadBigEndian64(block);
  const uint64_t x_lo = y_lo_ ^ LoadBigEndian64(block + 8);
  uint64_t z_hi = 0, z_lo = 0;
  uint64_t v_hi = h_hi_, v_lo = h_lo_;
  for (int i = 0; i < 128; ++i) {
    const uint64_t word = i < 64 ? x_hi : x_lo;
    const uint64_t bit = (word >> (63 - (i & 63))) & 1;
    const uint64_t take = 0 - bit;
    z_hi ^= v_hi & take;
    z_lo ^= v_lo & take;
    const uint64_t carry = 0 - (v_lo & 1);
    v_lo = (v_lo >> 1) | (v_hi << 63);
    v_hi = (v_hi >> 1) ^ (0xe100000000000000ULL & carry);
  }
  y_hi_ = z_hi;
  y_lo_ = z_lo;
}

void Ghash::UpdatePadded(absl::string_view data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  while (n >= 16) {
    AbsorbBlock(p);
    p += 16;
    n -= 16;
  }
  if (n > 0) {
    uint8_t last[16] = {};
    std::memcpy(last, p, n);
    AbsorbBlock(last);
  }
}

std::array<uint8_t, 16> Ghash::Finish(uint64_t aad_bytes, uint64_t ciphertext_bytes) {
  uint8_t lengths[16];
  StoreBigEndian64(aad_bytes * 8, lengths);
  StoreBigEndian64(ciphertext_bytes * 8, lengths + 8);
  AbsorbBlock(lengths);
  std::array<uint8_t, 16> out;
  StoreBigEndian64(y_hi_, out.data());
  StoreBigEndian64(y_lo_, out.data() + 8);
  return out;
}

}  // namespace tongban::crypto::internal
