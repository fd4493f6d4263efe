// Fuzzes a witness's answer as a county receives it (sync/witness.cc): a
// CosignedCheckpoint, its cosignature verified with the witness key and the
// origin's signature with the origin key (fixed keys of fuzz/fixtures.h, so
// the seeds are correctly signed). Whatever the bytes, no crash; what
// verifies parses as a canonical checkpoint.
#include <cstdint>
#include <cstdlib>

#include "common/merkle/checkpoint.h"
#include "common/merkle/cosignature.h"
#include "fuzz/fixtures.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::fuzz {
namespace {

struct Keys {
  std::unique_ptr<crypto::PrivateKey> witness[2];
  std::unique_ptr<crypto::PrivateKey> origin[2];
};

const Keys& GetKeys() {
  static const Keys* keys = [] {
    auto* k = new Keys;
    for (int i = 0; i < 2; ++i) {
      k->witness[i] = FixedKey(SuiteOf(i), kWitnessRole);
      k->origin[i] = FixedKey(SuiteOf(i), kOriginRole);
    }
    return k;
  }();
  return *keys;
}

void Check(const v1::CosignedCheckpoint& in) {
  merkle::Cosignature cosignature;
  cosignature.witness = in.cosignature().witness();
  cosignature.key_id = in.cosignature().key_id();
  cosignature.time_micros = in.cosignature().cosigned_at_micros();
  cosignature.signature = in.cosignature().signature();
  const std::string& body = in.checkpoint().body();
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<merkle::Checkpoint> cp =
        merkle::VerifyCosignature(cosignature, body, GetKeys().witness[i]->public_key());
    if (cp.ok() && merkle::EncodeCheckpoint(*cp) != body) abort();
    const crypto::Suite& suite = crypto::GetSuite(SuiteOf(i));
    absl::StatusOr<merkle::Checkpoint> signed_cp = merkle::VerifyCheckpoint(
        {body, in.checkpoint().signature()}, suite, GetKeys().origin[i]->public_key());
    if (signed_cp.ok() && merkle::EncodeCheckpoint(*signed_cp) != body) abort();
  }
}

}  // namespace
}  // namespace tongban::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tongban::v1::CosignedCheckpoint in;
  if (!in.ParseFromArray(data, static_cast<int>(size))) return 0;
  tongban::fuzz::Check(in);
  return 0;
}
