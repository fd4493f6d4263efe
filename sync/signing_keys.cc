#include "sync/signing_keys.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/merkle/rotation.h"
#include "common/status_macros.h"

namespace tongban::sync {

absl::StatusOr<merkle::KeyHistory> VerifiedKeyHistory(
    absl::string_view origin, crypto::SuiteId suite, const KeyLookup& roster,
    const google::protobuf::RepeatedPtrField<v1::SignedKeyRotation>& rotations) {
  constexpr int kMaxKeyRotations = 64;
  if (rotations.size() > kMaxKeyRotations) {
    return absl::InvalidArgumentError(absl::StrCat(rotations.size(), " key rotations of origin ",
                                                   origin, "; at most ", kMaxKeyRotations));
  }
  std::vector<merkle::KeyRotation> verified;
  for (const v1::SignedKeyRotation& s : rotations) {
    TB_ASSIGN_OR_RETURN(
        merkle::KeyRotation r,
        merkle::VerifyKeyRotation({s.body(), s.old_signature(), s.new_signature()}));
    verified.push_back(std::move(r));
  }
  const std::string code(origin);
  return merkle::KeyHistory::Build(
      code, suite, [&roster, code](absl::string_view key_id) { return roster(code, key_id); },
      std::move(verified));
}

SigningKeys::SigningKeys(const storage::Store* store, KeyLookup roster)
    : store_(store), roster_(std::move(roster)) {}

const crypto::PublicKey* SigningKeys::Find(absl::string_view origin,
                                           absl::string_view key_id) const {
  if (const crypto::PublicKey* listed = roster_(origin, key_id); listed != nullptr) return listed;
  const std::pair<std::string, std::string> name{std::string(origin), std::string(key_id)};
  absl::MutexLock lock(&mu_);
  if (auto it = rotated_.find(name); it != rotated_.end()) return it->second.get();
  absl::StatusOr<std::vector<storage::KeyRotationEntry>> stored = store_->KeyRotations(origin);
  if (!stored.ok()) {
    TB_LOG(ERROR) << "key rotations of origin " << origin << ": " << stored.status();
    return nullptr;
  }
  for (const storage::KeyRotationEntry& e : *stored) {
    absl::StatusOr<merkle::KeyRotation> r = merkle::ParseKeyRotation(e.rotation.body());
    if (!r.ok() || r->new_key_id != key_id) continue;
    absl::StatusOr<std::unique_ptr<crypto::PublicKey>> key =
        crypto::GetSuite(r->suite).PublicKeyFromSpkiDer(r->new_spki_der);
    if (!key.ok()) continue;  // ParseKeyRotation parsed it: cannot happen
    return rotated_.emplace(name, *std::move(key)).first->second.get();
  }
  return nullptr;
}

KeyLookup SigningKeys::AsLookup() const {
  return
      [this](absl::string_view origin, absl::string_view key_id) { return Find(origin, key_id); };
}

}  // namespace tongban::sync
