// The cosignature text (grammar in cosignature.h), written and checked here.
#include "common/merkle/cosignature.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tongban::merkle {
namespace {

constexpr absl::string_view kHeader = "tongban-cosignature/v1";

bool IsDigits(absl::string_view s, size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789") == absl::string_view::npos;
}

// The checks both Cosign and VerifyCosignature make on the header fields and
// the cosigned text; returns the parsed checkpoint.
absl::StatusOr<Checkpoint> CheckFields(crypto::SuiteId key_suite, const Cosignature& c,
                                       absl::string_view checkpoint_body) {
  if (!IsDigits(c.witness, 6)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cosignature: witness \"", c.witness, "\" is not a 6-digit node code"));
  }
  if (c.key_id.size() != 16 ||
      c.key_id.find_first_not_of("0123456789abcdef") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("cosignature: key id \"", c.key_id, "\" is not 16 lower-case hex"));
  }
  if (c.time_micros < 0) {
    return absl::InvalidArgumentError("cosignature: time is before the Unix epoch");
  }
  absl::StatusOr<Checkpoint> cp = ParseCheckpoint(checkpoint_body);
  if (!cp.ok()) return Prefixed("cosigned checkpoint", cp.status());
  if (cp->suite != key_suite) {
    return absl::InvalidArgumentError(absl::StrCat("cosignature: the checkpoint of ", cp->origin,
                                                   " is for suite ", crypto::SuiteName(cp->suite),
                                                   " but the witness key is a ",
                                                   crypto::SuiteName(key_suite), " key"));
  }
  return cp;
}

}  // namespace

std::string EncodeCosignedText(absl::string_view header, crypto::SuiteId suite,
                               const Cosignature& cosignature, absl::string_view body) {
  return absl::StrCat(header, "\n", crypto::SuiteName(suite), "\n", cosignature.witness, "\n",
                      cosignature.key_id, "\n", cosignature.time_micros, "\n", body);
}

std::string EncodeCosigned(crypto::SuiteId suite, const Cosignature& cosignature,
                           absl::string_view checkpoint_body) {
  return EncodeCosignedText(kHeader, suite, cosignature, checkpoint_body);
}

absl::StatusOr<Cosignature> Cosign(absl::string_view checkpoint_body, absl::string_view witness,
                                   absl::Time time, const crypto::PrivateKey& key) {
  Cosignature c;
  c.witness = std::string(witness);
  c.key_id = key.public_key().KeyId();
  c.time_micros = absl::ToUnixMicros(time);
  absl::StatusOr<Checkpoint> cp = CheckFields(key.suite(), c, checkpoint_body);
  if (!cp.ok()) return Prefixed("cannot cosign", cp.status());
  TB_ASSIGN_OR_RETURN(c.signature,
                      key.NewSigner()->Sign(EncodeCosigned(key.suite(), c, checkpoint_body)));
  return c;
}

absl::StatusOr<Checkpoint> VerifyCosignature(const Cosignature& cosignature,
                                             absl::string_view checkpoint_body,
                                             const crypto::PublicKey& witness_key) {
  TB_ASSIGN_OR_RETURN(Checkpoint cp,
                      CheckFields(witness_key.suite(), cosignature, checkpoint_body));
  const std::string key_id = witness_key.KeyId();
  if (cosignature.key_id != key_id) {
    return absl::InvalidArgumentError(absl::StrCat("cosignature names key ", cosignature.key_id,
                                                   ", verifying with key ", key_id));
  }
  const crypto::Suite& suite = crypto::GetSuite(witness_key.suite());
  TB_RETURN_IF_ERROR(
      Prefixed(absl::StrCat("cosignature by witness ", cosignature.witness, " of origin ",
                            cp.origin, " at tree size ", cp.tree_size),
               suite.NewVerifier(witness_key)
                   ->Verify(EncodeCosigned(witness_key.suite(), cosignature, checkpoint_body),
                            cosignature.signature)));
  return cp;
}

}  // namespace tongban::merkle
