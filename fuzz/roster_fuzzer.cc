// Fuzzes the roster (sync/roster.h) as a node receives it: a SignedRoster
// verified against the federation root key (a fixed key, fuzz/fixtures.h,
// so the seeds are correctly signed), and, since a fuzzer cannot forge the
// signature, the content rules on the roster bytes directly (a roster the
// root signed by mistake must still be refused, not crash the node).
#include <cstdint>

#include "fuzz/fixtures.h"
#include "sync/roster.h"
#include "tongban/v1/roster.pb.h"

namespace tongban::fuzz {
namespace {

const crypto::PrivateKey& RootKey(int i) {
  static const std::unique_ptr<crypto::PrivateKey>* keys = [] {
    auto* k = new std::unique_ptr<crypto::PrivateKey>[2];
    for (int s = 0; s < 2; ++s) k[s] = FixedKey(SuiteOf(s), kRootRole);
    return k;
  }();
  return *keys[i];
}

void Check(const v1::SignedRoster& in) {
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<sync::Roster> roster = sync::Roster::Verify(in, RootKey(i).public_key());
    if (roster.ok()) {
      // Every lookup a session makes on a verified roster.
      for (const v1::NodeEntry& n : roster->roster().nodes()) {
        (void)roster->CheckPeer(n.code());
        for (const v1::SigningKey& k : n.signing_keys()) {
          (void)roster->FindSigningKey(n.code(), k.key_id());
        }
      }
      (void)sync::Roster::CheckSuccessor(*roster, *roster);
    }
  }
  v1::Roster content;
  if (content.ParseFromString(in.roster())) (void)sync::ValidateRosterContent(content);
}

}  // namespace
}  // namespace tongban::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tongban::v1::SignedRoster in;
  if (!in.ParseFromArray(data, static_cast<int>(size))) return 0;
  tongban::fuzz::Check(in);
  return 0;
}
