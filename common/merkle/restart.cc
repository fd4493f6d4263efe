// The restart record and its countersignature (grammar in restart.h).
#include "common/merkle/restart.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/merkle/signed_text.h"
#include "common/status_macros.h"

namespace tongban::merkle {
namespace {

constexpr absl::string_view kHeader = "tongban-restart/v1";
constexpr absl::string_view kCosignedHeader = "tongban-restart-cosignature/v1";
constexpr size_t kLineCount = 9;

absl::Status Invalid(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("restart record: ", why));
}

using signed_text::IsDigits;
using signed_text::IsKeyId;

}  // namespace

std::string EncodeRestart(const Restart& r) {
  return absl::StrCat(kHeader, "\n", crypto::SuiteName(r.suite), "\n", r.origin, "\n", r.epoch,
                      "\n", r.kept_size, "\n", r.signed_size, "\n", r.new_epoch, "\n",
                      r.time_micros, "\n", r.key_id, "\n");
}

absl::StatusOr<Restart> ParseRestart(absl::string_view text) {
  TB_ASSIGN_OR_RETURN(const signed_text::Head head,
                      signed_text::ParseHead(text, kHeader, kLineCount, "restart record"));
  const std::vector<absl::string_view>& lines = head.lines;
  Restart r;
  r.suite = head.suite;
  r.origin = head.origin;
  uint64_t* const numbers[] = {&r.epoch, &r.kept_size, &r.signed_size, &r.new_epoch};
  for (size_t i = 0; i < 4; ++i) {
    if (!absl::SimpleAtoi(lines[3 + i], numbers[i])) {
      return Invalid(absl::StrCat("line ", 4 + i, ": not a decimal number"));
    }
  }
  if (!absl::SimpleAtoi(lines[7], &r.time_micros) || r.time_micros < 0) {
    return Invalid("line 8 (time): want decimal microseconds since the Unix epoch");
  }
  if (!IsKeyId(lines[8])) return Invalid("line 9 (key_id): want 16 lower-case hex characters");
  r.key_id = std::string(lines[8]);
  // One encoding per record: no sign, no leading zeros, nothing else.
  if (EncodeRestart(r) != text) return Invalid("numbers must be plain decimals");
  if (r.epoch == 0) return Invalid("epoch 0");
  if (r.signed_size < r.kept_size) return Invalid("signed_size is below kept_size");
  if (r.new_epoch != r.epoch + 1) return Invalid("new_epoch must follow epoch");
  return r;
}

absl::StatusOr<SignedRestart> SignRestart(Restart restart, const crypto::PrivateKey& key) {
  restart.suite = key.suite();
  restart.key_id = key.public_key().KeyId();
  SignedRestart s;
  s.body = EncodeRestart(restart);
  // Never sign what does not parse back (a bad origin, epochs out of order).
  if (absl::StatusOr<Restart> back = ParseRestart(s.body); !back.ok()) {
    return Prefixed("cannot sign", back.status());
  }
  TB_ASSIGN_OR_RETURN(s.signature, key.NewSigner()->Sign(s.body));
  return s;
}

absl::StatusOr<Restart> VerifyRestart(const SignedRestart& s, const crypto::PublicKey& origin_key) {
  TB_ASSIGN_OR_RETURN(Restart r, ParseRestart(s.body));
  if (r.suite != origin_key.suite() || r.key_id != origin_key.KeyId()) {
    return Invalid(absl::StrCat("names key ", r.key_id, " of suite ", crypto::SuiteName(r.suite),
                                ", verifying with key ", origin_key.KeyId()));
  }
  TB_RETURN_IF_ERROR(
      Prefixed(absl::StrCat("restart record of ", r.origin, " epoch ", r.epoch),
               crypto::GetSuite(r.suite).NewVerifier(origin_key)->Verify(s.body, s.signature)));
  return r;
}

std::string EncodeRestartCosigned(crypto::SuiteId suite, const Cosignature& c,
                                  absl::string_view restart_body) {
  return EncodeCosignedText(kCosignedHeader, suite, c, restart_body);
}

absl::StatusOr<Cosignature> CosignRestart(absl::string_view restart_body, absl::string_view witness,
                                          absl::Time time, const crypto::PrivateKey& key) {
  TB_ASSIGN_OR_RETURN(Restart r, ParseRestart(restart_body));
  if (r.suite != key.suite()) return Invalid("of another suite than the witness key");
  if (!IsDigits(witness, 6)) return Invalid("the witness is not a 6-digit node code");
  Cosignature c;
  c.witness = std::string(witness);
  c.key_id = key.public_key().KeyId();
  c.time_micros = absl::ToUnixMicros(time);
  TB_ASSIGN_OR_RETURN(c.signature,
                      key.NewSigner()->Sign(EncodeRestartCosigned(key.suite(), c, restart_body)));
  return c;
}

absl::StatusOr<Restart> VerifyRestartCosignature(const Cosignature& c,
                                                 absl::string_view restart_body,
                                                 const crypto::PublicKey& witness_key) {
  TB_ASSIGN_OR_RETURN(Restart r, ParseRestart(restart_body));
  if (r.suite != witness_key.suite() || c.key_id != witness_key.KeyId()) {
    return Invalid(absl::StrCat("countersignature names key ", c.key_id, ", verifying with key ",
                                witness_key.KeyId()));
  }
  TB_RETURN_IF_ERROR(Prefixed(
      absl::StrCat("countersignature by ", c.witness, " of the restart record of ", r.origin),
      crypto::GetSuite(r.suite)
          .NewVerifier(witness_key)
          ->Verify(EncodeRestartCosigned(r.suite, c, restart_body), c.signature)));
  return r;
}

}  // namespace tongban::merkle
