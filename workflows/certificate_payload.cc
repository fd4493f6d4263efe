#include "workflows/certificate_payload.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "common/status_macros.h"

namespace tongban::workflows {
namespace {

constexpr absl::CivilDay kEpochDay(1970, 1, 1);
constexpr absl::string_view kHolderDomain = "tongban-cert-holder/1";
constexpr absl::string_view kRevocationMagic = "TBR";
constexpr uint8_t kRevocationVersion = 1;
constexpr absl::string_view kBase45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

// Big-endian writer of the fields both formats share.
class Writer {
 public:
  void U8(uint32_t v) { out_.push_back(static_cast<char>(v & 0xff)); }
  void Uint(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) U8(static_cast<uint32_t>(v >> (8 * i)));
  }
  void Raw(absl::string_view s) { out_.append(s.data(), s.size()); }
  // A string with a one-byte length; kInvalidArgument naming `what` if longer than 255.
  absl::Status Short(absl::string_view what, absl::string_view s) {
    if (s.size() > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is ", s.size(), " bytes; at most 255 fit the payload"));
    }
    U8(static_cast<uint32_t>(s.size()));
    Raw(s);
    return absl::OkStatus();
  }
  // A six-digit node code as a 24-bit number.
  absl::Status Code(absl::string_view what, absl::string_view code) {
    if (code.size() != 6 || !std::all_of(code.begin(), code.end(), absl::ascii_isdigit)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " \"", code, "\" is not six digits"));
    }
    uint32_t n = 0;
    for (char c : code) n = n * 10 + static_cast<uint32_t>(c - '0');
    Uint(n, 3);
    return absl::OkStatus();
  }
  absl::Status KeyId(absl::string_view key_id) {
    absl::StatusOr<std::string> raw = HexDecode(key_id);
    if (!raw.ok() || raw->size() != 8) {
      return absl::InvalidArgumentError(
          absl::StrCat("key id \"", key_id, "\" is not 16 hex digits"));
    }
    Raw(*raw);
    return absl::OkStatus();
  }
  absl::Status Day(absl::string_view what, absl::CivilDay day) {
    const int64_t n = day - kEpochDay;
    if (n < 0 || n > 0xffff) {
      return absl::InvalidArgumentError(absl::StrCat(what, " ", absl::FormatCivilTime(day),
                                                     " is outside 1970-01-01..2149-06-06"));
    }
    Uint(static_cast<uint64_t>(n), 2);
    return absl::OkStatus();
  }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

// Reads what Writer wrote; every error names the field and the byte offset.
class Reader {
 public:
  Reader(absl::string_view what, absl::string_view in) : what_(what), in_(in) {}
  absl::StatusOr<absl::string_view> Raw(absl::string_view field, size_t n) {
    if (in_.size() - pos_ < n) {
      return absl::InvalidArgumentError(absl::StrCat(what_, " is truncated: ", field, " at byte ",
                                                     pos_, " needs ", n, " bytes, ",
                                                     in_.size() - pos_, " left"));
    }
    absl::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  absl::StatusOr<uint64_t> Uint(absl::string_view field, size_t n) {
    TB_ASSIGN_OR_RETURN(absl::string_view s, Raw(field, n));
    uint64_t v = 0;
    for (char c : s) v = (v << 8) | static_cast<unsigned char>(c);
    return v;
  }
  absl::StatusOr<std::string> Short(absl::string_view field) {
    TB_ASSIGN_OR_RETURN(uint64_t n, Uint(absl::StrCat(field, " length"), 1));
    TB_ASSIGN_OR_RETURN(absl::string_view s, Raw(field, n));
    return std::string(s);
  }
  absl::StatusOr<std::string> Code(absl::string_view field) {
    TB_ASSIGN_OR_RETURN(uint64_t n, Uint(field, 3));
    if (n > 999999) return Error(absl::StrCat(field, " ", n, " is not a six-digit code"), pos_ - 3);
    std::string code = absl::StrCat(n);
    return std::string(6 - code.size(), '0') + code;
  }
  absl::StatusOr<std::string> KeyId() {
    TB_ASSIGN_OR_RETURN(absl::string_view raw, Raw("key id", 8));
    return HexEncode(raw);
  }
  absl::StatusOr<absl::CivilDay> Day(absl::string_view field) {
    TB_ASSIGN_OR_RETURN(uint64_t n, Uint(field, 2));
    return kEpochDay + static_cast<int64_t>(n);
  }
  absl::Status Error(absl::string_view problem, size_t at) const {
    return absl::InvalidArgumentError(absl::StrCat(what_, ": ", problem, " at byte ", at));
  }
  absl::Status End() const {
    if (pos_ == in_.size()) return absl::OkStatus();
    return Error(absl::StrCat(in_.size() - pos_, " bytes after the signature"), pos_);
  }
  size_t pos() const { return pos_; }
  absl::string_view consumed() const { return in_.substr(0, pos_); }

 private:
  const std::string what_;
  const absl::string_view in_;
  size_t pos_ = 0;
};

// The key `key_id` of `code` in the roster, or an explanation why not.
absl::StatusOr<const crypto::PublicKey*> RosterKey(const sync::Roster& roster,
                                                   absl::string_view code,
                                                   absl::string_view key_id) {
  if (roster.Find(code) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("issuer ", code, " is not in roster v", roster.version()));
  }
  const crypto::PublicKey* key = roster.FindSigningKey(code, key_id);
  if (key == nullptr) {
    return absl::NotFoundError(absl::StrCat("key ", key_id, " is not a signing key of node ", code,
                                            " in roster v", roster.version()));
  }
  return key;
}

absl::Status VerifySignature(const crypto::PublicKey& key, absl::string_view bytes,
                             absl::string_view signature) {
  return crypto::GetSuite(key.suite()).NewVerifier(key)->Verify(bytes, signature);
}

}  // namespace

std::string HolderHash(crypto::SuiteId suite, absl::string_view salt, absl::string_view person) {
  const absl::string_view parts[] = {kHolderDomain, salt, person};
  const crypto::Digest d = crypto::GetSuite(suite).NewHasher()->Hash(parts);
  return std::string(crypto::AsStringView(d).substr(0, kHolderHashSize));
}

absl::StatusOr<std::string> SignCertificatePayload(const v1::Certificate& cert,
                                                   absl::string_view person, absl::Time issued_at,
                                                   const crypto::PrivateKey& key) {
  Writer w;
  w.U8(kCertificatePayloadVersion);
  TB_RETURN_IF_ERROR(w.Code("issuer", cert.issuer()));
  TB_RETURN_IF_ERROR(w.KeyId(key.public_key().KeyId()));
  w.U8(static_cast<uint32_t>(cert.type()));
  const auto day = [](const v1::Date& d) { return absl::CivilDay(d.year(), d.month(), d.day()); };
  TB_RETURN_IF_ERROR(w.Day("valid_from", day(cert.valid_from())));
  TB_RETURN_IF_ERROR(w.Day("valid_to", day(cert.valid_to())));
  w.Uint(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixSeconds(issued_at))), 4);
  TB_ASSIGN_OR_RETURN(std::string salt, crypto::RandomBytes(kHolderSaltSize));
  w.Raw(salt);
  w.Raw(HolderHash(key.suite(), salt, person));
  TB_RETURN_IF_ERROR(w.Short("certificate number", cert.number()));
  // A proto map has no order; the payload's facts are sorted by key.
  std::vector<std::pair<std::string, std::string>> facts(cert.attested_facts().begin(),
                                                         cert.attested_facts().end());
  std::sort(facts.begin(), facts.end());
  if (facts.size() > 255) return absl::InvalidArgumentError("more than 255 attested facts");
  w.U8(static_cast<uint32_t>(facts.size()));
  for (const auto& [k, v] : facts) {
    TB_RETURN_IF_ERROR(w.Short(absl::StrCat("attested fact name \"", k, "\""), k));
    TB_RETURN_IF_ERROR(w.Short(absl::StrCat("attested fact \"", k, "\""), v));
  }
  TB_ASSIGN_OR_RETURN(std::string signature, key.NewSigner()->Sign(w.bytes()));
  std::string out = w.bytes();
  Writer tail;
  TB_RETURN_IF_ERROR(tail.Short("signature", signature));
  return out + tail.bytes();
}

absl::StatusOr<DecodedCertificate> DecodeCertificatePayload(absl::string_view bytes) {
  Reader r("certificate payload", bytes);
  DecodedCertificate d;
  CertificateClaims& c = d.claims;
  TB_ASSIGN_OR_RETURN(uint64_t version, r.Uint("version", 1));
  if (version != kCertificatePayloadVersion) {
    return r.Error(absl::StrCat("unknown version ", version, " (this build reads version ",
                                kCertificatePayloadVersion, ")"),
                   0);
  }
  TB_ASSIGN_OR_RETURN(c.issuer, r.Code("issuer"));
  TB_ASSIGN_OR_RETURN(c.key_id, r.KeyId());
  TB_ASSIGN_OR_RETURN(uint64_t type, r.Uint("type", 1));
  c.type = static_cast<v1::CertificateType>(type);
  TB_ASSIGN_OR_RETURN(c.valid_from, r.Day("valid_from"));
  TB_ASSIGN_OR_RETURN(c.valid_to, r.Day("valid_to"));
  TB_ASSIGN_OR_RETURN(uint64_t issued, r.Uint("issued_at", 4));
  c.issued_at = absl::FromUnixSeconds(static_cast<int64_t>(issued));
  TB_ASSIGN_OR_RETURN(absl::string_view salt, r.Raw("holder salt", kHolderSaltSize));
  c.holder_salt = std::string(salt);
  TB_ASSIGN_OR_RETURN(absl::string_view hash, r.Raw("holder hash", kHolderHashSize));
  c.holder_hash = std::string(hash);
  TB_ASSIGN_OR_RETURN(c.number, r.Short("certificate number"));
  TB_ASSIGN_OR_RETURN(uint64_t facts, r.Uint("fact count", 1));
  for (uint64_t i = 0; i < facts; ++i) {
    TB_ASSIGN_OR_RETURN(std::string k, r.Short("fact name"));
    TB_ASSIGN_OR_RETURN(std::string v, r.Short("fact value"));
    c.facts.emplace_back(std::move(k), std::move(v));
  }
  d.signed_bytes = std::string(r.consumed());
  TB_ASSIGN_OR_RETURN(d.signature, r.Short("signature"));
  if (d.signature.empty()) return r.Error("empty signature", r.pos());
  TB_RETURN_IF_ERROR(r.End());
  return d;
}

std::string CertificateText(absl::string_view bytes) {
  std::string out(kCertificateTextPrefix);
  for (size_t i = 0; i < bytes.size(); i += 2) {
    uint32_t n = static_cast<unsigned char>(bytes[i]);
    const bool pair = i + 1 < bytes.size();
    if (pair) n = n * 256 + static_cast<unsigned char>(bytes[i + 1]);
    out += kBase45[n % 45];
    out += kBase45[(n / 45) % 45];
    if (pair) out += kBase45[n / 2025];
  }
  return out;
}

absl::StatusOr<std::string> CertificateBytesFromText(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (!absl::StartsWith(text, kCertificateTextPrefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate text does not start with \"", kCertificateTextPrefix, "\""));
  }
  text.remove_prefix(kCertificateTextPrefix.size());
  if (text.size() % 3 == 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate text is truncated: ", text.size(),
                     " base45 characters is not a whole number of bytes"));
  }
  std::string out;
  for (size_t i = 0; i < text.size(); i += 3) {
    const size_t n = std::min<size_t>(3, text.size() - i);
    uint32_t value = 0, scale = 1;
    for (size_t j = 0; j < n; ++j, scale *= 45) {
      const size_t digit = kBase45.find(text[i + j]);
      if (digit == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("certificate text: character ",
                                                       kCertificateTextPrefix.size() + i + j + 1,
                                                       " is not base45"));
      }
      value += static_cast<uint32_t>(digit) * scale;
    }
    if (value > (n == 3 ? 0xffffu : 0xffu)) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate text: characters ", kCertificateTextPrefix.size() + i + 1, "..",
                       kCertificateTextPrefix.size() + i + n, " are not valid base45"));
    }
    if (n == 3) out += static_cast<char>(value >> 8);
    out += static_cast<char>(value & 0xff);
  }
  return out;
}

// --- revocation list ---

const RevokedCertificate* RevocationList::Find(absl::string_view issuer,
                                               absl::string_view number) const {
  RevokedCertificate probe{std::string(issuer), std::string(number)};
  auto it = std::lower_bound(entries.begin(), entries.end(), probe);
  if (it == entries.end() || it->issuer != issuer || it->number != number) return nullptr;
  return &*it;
}

absl::StatusOr<std::string> SignRevocationList(std::vector<RevokedCertificate> entries,
                                               absl::string_view national, absl::Time issued_at,
                                               const crypto::PrivateKey& key) {
  std::stable_sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const auto& a, const auto& b) { return !(a < b) && !(b < a); }),
                entries.end());
  Writer w;
  w.Raw(kRevocationMagic);
  w.U8(kRevocationVersion);
  TB_RETURN_IF_ERROR(w.Code("national node", national));
  TB_RETURN_IF_ERROR(w.KeyId(key.public_key().KeyId()));
  w.Uint(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixSeconds(issued_at))), 4);
  w.Uint(entries.size(), 4);
  for (const RevokedCertificate& e : entries) {
    TB_RETURN_IF_ERROR(w.Code("issuer", e.issuer));
    w.U8(static_cast<uint32_t>(e.reason));
    TB_RETURN_IF_ERROR(w.Short(absl::StrCat("certificate number of ", e.issuer), e.number));
  }
  TB_ASSIGN_OR_RETURN(std::string signature, key.NewSigner()->Sign(w.bytes()));
  std::string out = w.bytes();
  Writer tail;
  tail.Uint(signature.size(), 2);
  tail.Raw(signature);
  return out + tail.bytes();
}

absl::StatusOr<RevocationList> VerifyRevocationList(absl::string_view bytes,
                                                    const sync::Roster& roster) {
  Reader r("revocation list", bytes);
  RevocationList list;
  TB_ASSIGN_OR_RETURN(absl::string_view magic, r.Raw("magic", kRevocationMagic.size()));
  if (magic != kRevocationMagic) return r.Error("not a revocation list (no \"TBR\" magic)", 0);
  TB_ASSIGN_OR_RETURN(uint64_t version, r.Uint("version", 1));
  if (version != kRevocationVersion) {
    return r.Error(absl::StrCat("unknown version ", version), kRevocationMagic.size());
  }
  TB_ASSIGN_OR_RETURN(list.national, r.Code("national node"));
  TB_ASSIGN_OR_RETURN(list.key_id, r.KeyId());
  TB_ASSIGN_OR_RETURN(uint64_t issued, r.Uint("issued_at", 4));
  list.issued_at = absl::FromUnixSeconds(static_cast<int64_t>(issued));
  TB_ASSIGN_OR_RETURN(uint64_t count, r.Uint("count", 4));
  // Each entry takes at least 5 bytes: refuse a count the bytes cannot hold.
  if (count > bytes.size() / 5)
    return r.Error(absl::StrCat("count ", count, " is too large"), r.pos() - 4);
  for (uint64_t i = 0; i < count; ++i) {
    RevokedCertificate e;
    TB_ASSIGN_OR_RETURN(e.issuer, r.Code("issuer"));
    TB_ASSIGN_OR_RETURN(uint64_t reason, r.Uint("reason", 1));
    if (reason != 1 && reason != 2)
      return r.Error(absl::StrCat("unknown reason ", reason), r.pos() - 1);
    e.reason = static_cast<RevocationReason>(reason);
    TB_ASSIGN_OR_RETURN(e.number, r.Short("certificate number"));
    if (!list.entries.empty() && !(list.entries.back() < e)) {
      return r.Error("entries are not sorted", r.pos());
    }
    list.entries.push_back(std::move(e));
  }
  const std::string signed_bytes(r.consumed());
  TB_ASSIGN_OR_RETURN(uint64_t sig_size, r.Uint("signature length", 2));
  TB_ASSIGN_OR_RETURN(absl::string_view signature, r.Raw("signature", sig_size));
  TB_RETURN_IF_ERROR(r.End());
  const v1::NodeEntry* national = roster.Find(list.national);
  if (national == nullptr || national->role() != v1::NodeEntry::ROLE_NATIONAL) {
    return absl::PermissionDeniedError(absl::StrCat("revocation list: signer ", list.national,
                                                    " is not the national node of roster v",
                                                    roster.version()));
  }
  absl::StatusOr<const crypto::PublicKey*> key = RosterKey(roster, list.national, list.key_id);
  if (!key.ok())
    return absl::PermissionDeniedError(absl::StrCat("revocation list: ", key.status().message()));
  if (absl::Status s = VerifySignature(**key, signed_bytes, signature); !s.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "revocation list: the signature of national node ", list.national, " does not verify"));
  }
  return list;
}

// --- verification ---

absl::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kValid: return "valid";
    case Verdict::kMalformed: return "malformed";
    case Verdict::kUnknownIssuer: return "unknown issuer";
    case Verdict::kForged: return "forged";
    case Verdict::kWrongHolder: return "wrong holder";
    case Verdict::kRevoked: return "revoked";
    case Verdict::kNotYetValid: return "not yet valid";
    case Verdict::kExpired: return "expired";
  }
  return "?";
}

CertificateVerification VerifyCertificate(absl::string_view bytes, const sync::Roster& roster,
                                          const RevocationList* revocations, absl::CivilDay today,
                                          std::optional<std::string> person) {
  CertificateVerification out;
  const auto verdict = [&out](Verdict v, std::string detail) {
    out.verdict = v;
    out.detail = std::move(detail);
    return out;
  };
  absl::StatusOr<DecodedCertificate> decoded = DecodeCertificatePayload(bytes);
  if (!decoded.ok()) return verdict(Verdict::kMalformed, std::string(decoded.status().message()));
  out.claims = decoded->claims;
  const CertificateClaims& c = decoded->claims;
  absl::StatusOr<const crypto::PublicKey*> key = RosterKey(roster, c.issuer, c.key_id);
  if (!key.ok()) return verdict(Verdict::kUnknownIssuer, std::string(key.status().message()));
  // A revoked node's keys verify its log's history, not certificates held
  // out today: nothing offline tells whether one was issued before whatever
  // made the federation revoke it. (A suspended node's stand.)
  if (const v1::NodeEntry* issuer = roster.Find(c.issuer);
      issuer->status() == v1::NodeEntry::NODE_STATUS_REVOKED) {
    return verdict(
        Verdict::kUnknownIssuer,
        absl::StrCat("issuer ", c.issuer, " is revoked in roster v", roster.version(),
                     issuer->status_reason().empty() ? "" : ": ", issuer->status_reason(),
                     "; its certificates are no longer accepted (ask the county that "
                     "keeps the person's records now for a new one)"));
  }
  if (!VerifySignature(**key, decoded->signed_bytes, decoded->signature).ok()) {
    return verdict(Verdict::kForged,
                   absl::StrCat("the signature does not verify with key ", c.key_id, " of node ",
                                c.issuer, ": the payload was altered or not signed by its issuer"));
  }
  if (person.has_value()) {
    out.holder_checked = true;
    if (HolderHash((*key)->suite(), c.holder_salt, *person) != c.holder_hash) {
      return verdict(Verdict::kWrongHolder, "the certificate was not issued to the person given");
    }
  }
  if (revocations != nullptr) {
    if (const RevokedCertificate* r = revocations->Find(c.issuer, c.number); r != nullptr) {
      return verdict(
          Verdict::kRevoked,
          absl::StrCat(
              "certificate ", c.number, " of ", c.issuer, " is ",
              r->reason == RevocationReason::kSuperseded ? "superseded" : "revoked",
              " on the national list of ",
              absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", revocations->issued_at, absl::UTCTimeZone())));
    }
  }
  if (today < c.valid_from) {
    return verdict(Verdict::kNotYetValid,
                   absl::StrCat("valid from ", absl::FormatCivilTime(c.valid_from)));
  }
  if (today > c.valid_to) {
    return verdict(Verdict::kExpired,
                   absl::StrCat("expired after ", absl::FormatCivilTime(c.valid_to)));
  }
  return verdict(Verdict::kValid, absl::StrCat("from ", absl::FormatCivilTime(c.valid_from), " to ",
                                               absl::FormatCivilTime(c.valid_to)));
}

}  // namespace tongban::workflows
