// Fuzzes key rotations as a receiver takes them from a batch or a witness
// answer (common/merkle/rotation.h, sync/verify.h step 4): the text, both
// signatures, and the key history they make. Structure-aware: an input
// either signs up to two chained rotations itself (fixed keys of
// fuzz/fixtures.h, positions from the input) and then flips bytes of them,
// or hands over raw bytes; so the signed inside of the format is reached
// without a signed seed corpus. Properties, whatever the bytes: what
// verifies is the canonical text; a history that builds gives each new key
// its rotation's position and has retired each old key there.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/merkle/rotation.h"
#include "fuzz/fixtures.h"

namespace tongban::fuzz {
namespace {

constexpr char kOrigin[] = "620102";

struct Keys {
  std::unique_ptr<crypto::PrivateKey> k[2][3];  // [suite][generation]
};

const Keys& GetKeys() {
  static const Keys* keys = [] {
    auto* k = new Keys;
    for (int s = 0; s < 2; ++s) {
      for (int g = 0; g < 3; ++g) k->k[s][g] = FixedKey(SuiteOf(s), "oab"[g]);
    }
    return k;
  }();
  return *keys;
}

void Flip(FuzzedDataProvider& in, std::string* s) {
  if (s->empty()) return;
  const size_t at = in.ConsumeIntegralInRange<size_t>(0, s->size() - 1);
  (*s)[at] = static_cast<char>((*s)[at] ^ in.ConsumeIntegralInRange<uint8_t>(1, 255));
}

std::vector<merkle::SignedKeyRotation> Rotations(FuzzedDataProvider& in, int suite) {
  std::vector<merkle::SignedKeyRotation> out;
  if (!in.ConsumeBool()) {
    const int n = in.ConsumeIntegralInRange(0, 3);
    for (int i = 0; i < n; ++i) {
      out.push_back({in.ConsumeRandomLengthString(1024), in.ConsumeRandomLengthString(128),
                     in.ConsumeRandomLengthString(128)});
    }
    return out;
  }
  const int n = in.ConsumeIntegralInRange(1, 2);
  for (int g = 0; g < n; ++g) {
    const uint64_t epoch = in.ConsumeIntegralInRange<uint64_t>(1, 3);
    const uint64_t seq = in.ConsumeIntegralInRange<uint64_t>(1, 1000);
    absl::StatusOr<merkle::SignedKeyRotation> s =
        merkle::SignKeyRotation(kOrigin, epoch, seq, absl::FromUnixSeconds(1796083200),
                                *GetKeys().k[suite][g], *GetKeys().k[suite][g + 1]);
    if (!s.ok()) abort();  // fixed keys, valid positions: signing cannot fail
    out.push_back(*std::move(s));
  }
  const int flips = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < flips && !out.empty(); ++i) {
    merkle::SignedKeyRotation& r = out[in.ConsumeIntegralInRange<size_t>(0, out.size() - 1)];
    std::string* field[] = {&r.body, &r.old_signature, &r.new_signature};
    Flip(in, field[in.ConsumeIntegralInRange(0, 2)]);
  }
  return out;
}

void Check(FuzzedDataProvider& in) {
  const int suite = in.ConsumeIntegral<uint8_t>() % 2;
  std::vector<merkle::KeyRotation> verified;
  for (const merkle::SignedKeyRotation& s : Rotations(in, suite)) {
    absl::StatusOr<merkle::KeyRotation> r = merkle::VerifyKeyRotation(s);
    if (!r.ok()) continue;
    if (merkle::EncodeKeyRotation(*r) != s.body) abort();
    verified.push_back(*std::move(r));
  }
  const crypto::PublicKey& root = GetKeys().k[suite][0]->public_key();
  absl::StatusOr<merkle::KeyHistory> h = merkle::KeyHistory::Build(
      kOrigin, SuiteOf(suite),
      [&root](absl::string_view id) { return id == root.KeyId() ? &root : nullptr; }, verified);
  if (!h.ok()) return;
  for (const merkle::KeyRotation& r : h->rotations()) {
    const merkle::LogPosition at{r.epoch, r.seq};
    absl::StatusOr<const crypto::PublicKey*> next = h->KeyFor(r.new_key_id, at);
    if (!next.ok() || (*next)->KeyId() != r.new_key_id) abort();
    if (h->KeyFor(r.old_key_id, at).status().code() != absl::StatusCode::kFailedPrecondition) {
      abort();
    }
    if (r.seq > 1 && !h->KeyFor(r.old_key_id, {r.epoch, r.seq - 1}).ok()) abort();
  }
}

}  // namespace
}  // namespace tongban::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  tongban::fuzz::Check(in);
  return 0;
}
