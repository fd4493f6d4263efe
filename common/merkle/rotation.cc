// Key rotations and the key history they make (grammar in rotation.h).
#include "common/merkle/rotation.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/hex.h"
#include "common/merkle/signed_text.h"
#include "common/status_macros.h"

namespace tongban::merkle {
namespace {

constexpr absl::string_view kHeader = "tongban-key-rotation/v1";
constexpr size_t kLineCount = 10;

absl::Status Invalid(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("key rotation: ", why));
}

using signed_text::IsKeyId;

std::string Where(const KeyRotation& r) {
  return absl::StrCat("rotation of origin ", r.origin, " at epoch ", r.epoch, " seq ", r.seq);
}

std::string Where(LogPosition p) { return absl::StrCat("epoch ", p.epoch, " seq ", p.size); }

// The key `der` of `suite`, which must have the id `key_id`.
absl::StatusOr<std::unique_ptr<crypto::PublicKey>> KeyOf(crypto::SuiteId suite,
                                                         absl::string_view der,
                                                         absl::string_view key_id,
                                                         absl::string_view which) {
  absl::StatusOr<std::unique_ptr<crypto::PublicKey>> key =
      crypto::GetSuite(suite).PublicKeyFromSpkiDer(der);
  if (!key.ok()) {
    return Invalid(absl::StrCat(which, " key does not parse as a ", crypto::SuiteName(suite),
                                " key: ", key.status().message()));
  }
  if ((*key)->KeyId() != key_id) {
    return Invalid(
        absl::StrCat(which, " key has id ", (*key)->KeyId(), ", the text says ", key_id));
  }
  return key;
}

}  // namespace

std::string EncodeKeyRotation(const KeyRotation& r) {
  return absl::StrCat(kHeader, "\n", crypto::SuiteName(r.suite), "\n", r.origin, "\n", r.epoch,
                      "\n", r.seq, "\n", r.time_micros, "\n", r.old_key_id, "\n",
                      HexEncode(r.old_spki_der), "\n", r.new_key_id, "\n",
                      HexEncode(r.new_spki_der), "\n");
}

absl::StatusOr<KeyRotation> ParseKeyRotation(absl::string_view text) {
  if (text.size() > 4096) return Invalid("longer than 4096 bytes");
  TB_ASSIGN_OR_RETURN(const signed_text::Head head,
                      signed_text::ParseHead(text, kHeader, kLineCount, "key rotation"));
  const std::vector<absl::string_view>& lines = head.lines;
  KeyRotation r;
  r.suite = head.suite;
  r.origin = head.origin;
  if (!absl::SimpleAtoi(lines[3], &r.epoch) || r.epoch == 0) {
    return Invalid("line 4 (epoch): want a decimal number from 1");
  }
  if (!absl::SimpleAtoi(lines[4], &r.seq) || r.seq == 0) {
    return Invalid("line 5 (seq): want a decimal number from 1");
  }
  if (!absl::SimpleAtoi(lines[5], &r.time_micros) || r.time_micros < 0) {
    return Invalid("line 6 (time): want decimal microseconds since the Unix epoch");
  }
  if (!IsKeyId(lines[6])) return Invalid("line 7 (old key_id): want 16 lower-case hex characters");
  if (!IsKeyId(lines[8])) return Invalid("line 9 (new key_id): want 16 lower-case hex characters");
  r.old_key_id = std::string(lines[6]);
  r.new_key_id = std::string(lines[8]);
  absl::StatusOr<std::string> old_der = HexDecode(lines[7]);
  if (!old_der.ok()) return Invalid(absl::StrCat("line 8 (old key): ", old_der.status().message()));
  absl::StatusOr<std::string> new_der = HexDecode(lines[9]);
  if (!new_der.ok()) {
    return Invalid(absl::StrCat("line 10 (new key): ", new_der.status().message()));
  }
  r.old_spki_der = *std::move(old_der);
  r.new_spki_der = *std::move(new_der);
  // One encoding per rotation: plain decimals, lower-case hex, nothing else.
  if (EncodeKeyRotation(r) != text) {
    return Invalid("numbers must be plain decimals and keys lower-case hex");
  }
  if (r.old_key_id == r.new_key_id) return Invalid("the new key is the old key");
  TB_RETURN_IF_ERROR(KeyOf(r.suite, r.old_spki_der, r.old_key_id, "old").status());
  TB_RETURN_IF_ERROR(KeyOf(r.suite, r.new_spki_der, r.new_key_id, "new").status());
  return r;
}

absl::StatusOr<SignedKeyRotation> SignKeyRotation(absl::string_view origin, uint64_t epoch,
                                                  uint64_t seq, absl::Time time,
                                                  const crypto::PrivateKey& old_key,
                                                  const crypto::PrivateKey& new_key) {
  if (old_key.suite() != new_key.suite()) return Invalid("the two keys are of different suites");
  KeyRotation r;
  r.suite = old_key.suite();
  r.origin = std::string(origin);
  r.epoch = epoch;
  r.seq = seq;
  r.time_micros = absl::ToUnixMicros(time);
  r.old_key_id = old_key.public_key().KeyId();
  r.old_spki_der = old_key.public_key().SpkiDer();
  r.new_key_id = new_key.public_key().KeyId();
  r.new_spki_der = new_key.public_key().SpkiDer();
  SignedKeyRotation s;
  s.body = EncodeKeyRotation(r);
  // Never sign what does not parse back (a bad origin, the same key twice).
  if (absl::StatusOr<KeyRotation> back = ParseKeyRotation(s.body); !back.ok()) {
    return Prefixed("cannot sign", back.status());
  }
  TB_ASSIGN_OR_RETURN(s.old_signature, old_key.NewSigner()->Sign(s.body));
  TB_ASSIGN_OR_RETURN(s.new_signature, new_key.NewSigner()->Sign(s.body));
  return s;
}

absl::StatusOr<KeyRotation> VerifyKeyRotation(const SignedKeyRotation& s) {
  TB_ASSIGN_OR_RETURN(KeyRotation r, ParseKeyRotation(s.body));
  const crypto::Suite& suite = crypto::GetSuite(r.suite);
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> old_key,
                      KeyOf(r.suite, r.old_spki_der, r.old_key_id, "old"));
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> new_key,
                      KeyOf(r.suite, r.new_spki_der, r.new_key_id, "new"));
  if (absl::Status v = suite.NewVerifier(*old_key)->Verify(s.body, s.old_signature); !v.ok()) {
    return Invalid(absl::StrCat(Where(r), ": the old key's signature: ", v.message()));
  }
  if (absl::Status v = suite.NewVerifier(*new_key)->Verify(s.body, s.new_signature); !v.ok()) {
    return Invalid(absl::StrCat(Where(r), ": the new key's signature: ", v.message()));
  }
  return r;
}

absl::StatusOr<KeyHistory> KeyHistory::Build(absl::string_view origin, crypto::SuiteId suite,
                                             RosterKeys roster,
                                             std::vector<KeyRotation> rotations) {
  std::sort(rotations.begin(), rotations.end(), [](const KeyRotation& a, const KeyRotation& b) {
    return LogPosition{a.epoch, a.seq} < LogPosition{b.epoch, b.seq};
  });
  KeyHistory h;
  h.origin_ = std::string(origin);
  h.roster_ = std::move(roster);
  for (size_t i = 0; i < rotations.size(); ++i) {
    const KeyRotation& r = rotations[i];
    const LogPosition at{r.epoch, r.seq};
    if (r.origin != origin || r.suite != suite) {
      return Invalid(absl::StrCat(Where(r), " (", crypto::SuiteName(r.suite),
                                  ") is not one of origin ", origin, " in suite ",
                                  crypto::SuiteName(suite)));
    }
    if (i > 0 && LogPosition{rotations[i - 1].epoch, rotations[i - 1].seq} == at) {
      return Invalid(absl::StrCat("origin ", origin, " made two rotations at ", Where(at)));
    }
    auto old_it = h.windows_.find(r.old_key_id);
    if (old_it == h.windows_.end()) {
      const crypto::PublicKey* listed = h.roster_ ? h.roster_(r.old_key_id) : nullptr;
      if (listed == nullptr) {
        return Invalid(absl::StrCat(Where(r), " is made by key ", r.old_key_id,
                                    ", which neither the roster nor an earlier rotation gives"));
      }
      old_it = h.windows_.emplace(r.old_key_id, Window{listed, nullptr, {}, {}, {}}).first;
    }
    Window& old = old_it->second;
    if (old.key->SpkiDer() != r.old_spki_der) {
      return Invalid(absl::StrCat(Where(r), " names key ", r.old_key_id, " with other key bytes"));
    }
    if (old.until.has_value()) {
      return Invalid(absl::StrCat(Where(r), " retires key ", r.old_key_id,
                                  ", which was retired already at ", Where(*old.until),
                                  " (rotated to key ", old.successor, ")"));
    }
    if (old.from.has_value() && at < *old.from) {
      return Invalid(absl::StrCat(Where(r), " is made by key ", r.old_key_id,
                                  ", which signs only from ", Where(*old.from)));
    }
    if (h.windows_.contains(r.new_key_id)) {
      return Invalid(absl::StrCat(Where(r), " introduces key ", r.new_key_id,
                                  ", which this origin used before"));
    }
    absl::StatusOr<std::unique_ptr<crypto::PublicKey>> next =
        KeyOf(r.suite, r.new_spki_der, r.new_key_id, "new");
    if (!next.ok()) return next.status();
    old.until = at;
    old.successor = r.new_key_id;
    std::shared_ptr<const crypto::PublicKey> owned = *std::move(next);
    const crypto::PublicKey* raw = owned.get();
    h.windows_.emplace(r.new_key_id, Window{raw, std::move(owned), at, {}, {}});
  }
  h.rotations_ = std::move(rotations);
  return h;
}

absl::StatusOr<const crypto::PublicKey*> KeyHistory::KeyFor(absl::string_view key_id,
                                                            LogPosition at) const {
  auto it = windows_.find(std::string(key_id));
  if (it == windows_.end()) {
    const crypto::PublicKey* listed = roster_ ? roster_(key_id) : nullptr;
    if (listed == nullptr) {
      return absl::NotFoundError(absl::StrCat("origin ", origin_, " has no key ", key_id,
                                              " in the roster or in a key rotation"));
    }
    return listed;
  }
  const Window& w = it->second;
  const std::string here = absl::StrCat("epoch ", at.epoch, " tree size ", at.size);
  if (w.from.has_value() && at < *w.from) {
    return absl::FailedPreconditionError(absl::StrCat("key ", key_id, " of origin ", origin_,
                                                      " signs from ", Where(*w.from),
                                                      " on, not at ", here));
  }
  if (w.until.has_value() && at >= *w.until) {
    return absl::FailedPreconditionError(
        absl::StrCat("key ", key_id, " of origin ", origin_, " was retired at ", Where(*w.until),
                     " (rotated to key ", w.successor, "); it signs nothing at ", here));
  }
  return w.key;
}

const crypto::PublicKey* KeyHistory::Find(absl::string_view key_id) const {
  auto it = windows_.find(std::string(key_id));
  if (it != windows_.end()) return it->second.key;
  return roster_ ? roster_(key_id) : nullptr;
}

std::string KeyHistory::newest_key_id() const {
  return rotations_.empty() ? std::string() : rotations_.back().new_key_id;
}

}  // namespace tongban::merkle
