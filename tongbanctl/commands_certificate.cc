// Offline certificates (workflows/certificate_payload.h) in tongbanctl:
//   certificate qr           (online, clerk) the payload of a certificate this
//                            node issued: PREFIX.txt (the "TB1:" text) and
//                            PREFIX.png (a QR code of it)
//   certificate revocations  (online, national node) the signed revocation list
//   certificate verify       (offline) a payload against a roster and a list
// Exit codes of verify: 0 valid; 3 expired, not yet valid, revoked, unknown
// issuer, forged, wrong holder, or a roster or list that does not verify;
// 2 a malformed payload or file.
#include <png.h>
#include <qrencode.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto/key_file.h"
#include "common/duration.h"
#include "common/ids/citizen_id.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "tongbanctl/admin_client.h"
#include "tongbanctl/files.h"
#include "tongbanctl/tongbanctl.h"
#include "workflows/certificate_payload.h"

namespace tongban::cli {
namespace {

constexpr char kConnectionHelp[] =
    "Connection: --node, --ca, --cert, --key, --password-file or --totp, as for every\n"
    "online command (see tongbanctl status --help).\n";

constexpr int kPixelsPerModule = 4;
constexpr int kQuietModules = 4;

// Writes `text` as a QR code (error correction M, the smallest version that
// holds it, modes chosen by libqrencode: alphanumeric for base45) to a new
// grayscale PNG at `path`.
absl::Status WriteQrPng(const std::string& path, const std::string& text) {
  std::unique_ptr<QRcode, void (*)(QRcode*)> qr(
      QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), QRcode_free);
  if (qr == nullptr) return absl::InternalError(absl::StrCat(path, ": QR encoding failed"));
  const int size = (qr->width + 2 * kQuietModules) * kPixelsPerModule;
  std::vector<std::string> rows(size, std::string(size, '\xff'));
  for (int y = 0; y < qr->width; ++y) {
    for (int x = 0; x < qr->width; ++x) {
      if ((qr->data[y * qr->width + x] & 1) == 0) continue;
      for (int dy = 0; dy < kPixelsPerModule; ++dy) {
        std::string& row = rows[(y + kQuietModules) * kPixelsPerModule + dy];
        row.replace((x + kQuietModules) * kPixelsPerModule, kPixelsPerModule, kPixelsPerModule,
                    '\0');
      }
    }
  }
  TB_RETURN_IF_ERROR(RefuseExisting({path}));
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wbx"), std::fclose);
  if (file == nullptr) return absl::InternalError(absl::StrCat(path, ": cannot create"));
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png == nullptr ? nullptr : png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return absl::InternalError(absl::StrCat(path, ": PNG encoding failed"));
  }
  png_init_io(png, file.get());
  png_set_IHDR(png, info, size, size, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::string& row : rows) png_write_row(png, reinterpret_cast<png_bytep>(row.data()));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return absl::OkStatus();
}

std::vector<FlagSpec> WithConnection(std::vector<FlagSpec> own) {
  for (FlagSpec f : ConnectionFlags()) own.push_back(std::move(f));
  return own;
}

absl::Status QrCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string number, args.Required("number"));
  TB_ASSIGN_OR_RETURN(std::string prefix, args.Required("out"));
  const std::string txt = prefix + ".txt", png = prefix + ".png";
  TB_RETURN_IF_ERROR(RefuseExisting({txt, png}));
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::CertificatePayloadRequest r;
  r.set_person(args.positional().front());
  r.set_number(number);
  r.set_reason(args.Get("reason"));
  TB_ASSIGN_OR_RETURN(v1::CertificatePayloadReply reply, client->CertificatePayload(r));
  TB_RETURN_IF_ERROR(WriteNewFile(txt, reply.text() + "\n", 0644));
  TB_RETURN_IF_ERROR(WriteQrPng(png, reply.text()));
  io.out << "certificate " << number << " of person " << reply.person_masked() << ": "
         << reply.payload().size() << "-byte payload, " << reply.text().size() << " characters -> "
         << txt << ", " << png << "\n";
  return absl::OkStatus();
}

absl::Status RevocationsCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string out, args.Required("out"));
  TB_RETURN_IF_ERROR(RefuseExisting({out}));
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  TB_ASSIGN_OR_RETURN(v1::RevocationListReply reply, client->RevocationList({}));
  TB_RETURN_IF_ERROR(WriteNewFile(out, reply.list(), 0644));
  io.out << "revocation list of " << reply.entries() << " certificates, issued "
         << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMicros(reply.issued_at_micros()),
                             absl::UTCTimeZone())
         << " (" << reply.list().size() << " bytes) -> " << out << "\n";
  return absl::OkStatus();
}

// The federation root public key of either suite (the PEM names its algorithm).
absl::StatusOr<std::unique_ptr<crypto::PublicKey>> ReadRootKey(const std::string& path) {
  absl::StatusOr<std::unique_ptr<crypto::PublicKey>> key =
      crypto::ReadPublicKeyFile(crypto::GetSuite(crypto::SuiteId::kIntl), path);
  if (key.ok()) return key;
  absl::StatusOr<std::unique_ptr<crypto::PublicKey>> gm =
      crypto::ReadPublicKeyFile(crypto::GetSuite(crypto::SuiteId::kGm), path);
  if (gm.ok()) return gm;
  return key.status();
}

// Verification failures of the inputs (roster, list) are refusals (exit 3).
absl::Status Refused(absl::string_view what, const absl::Status& s) {
  if (s.ok() || s.code() == absl::StatusCode::kNotFound) return s;
  return absl::PermissionDeniedError(absl::StrCat("refused: ", what, ": ", s.message()));
}

absl::StatusOr<std::string> PayloadArg(const Args& args) {
  if (args.Has("text") == args.Has("in")) {
    return absl::InvalidArgumentError("give the payload with exactly one of --text or --in");
  }
  std::string content;
  std::string where = "--text";
  if (args.Has("in")) {
    TB_ASSIGN_OR_RETURN(content, ReadFile(args.Get("in")));
    where = args.Get("in");
  } else {
    content = args.Get("text");
  }
  // A file holds the text form or the binary payload.
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(content), "TB1:") || args.Has("text")) {
    absl::StatusOr<std::string> bytes = workflows::CertificateBytesFromText(content);
    if (!bytes.ok()) return Prefixed(absl::StrCat("malformed: ", where), bytes.status());
    return bytes;
  }
  return content;
}

absl::Status VerifyCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string roster_path, args.Required("roster"));
  TB_ASSIGN_OR_RETURN(std::string root_path, args.Required("root-key"));
  TB_ASSIGN_OR_RETURN(std::string bytes, PayloadArg(args));
  std::optional<std::string> person;
  const absl::CivilDay today = records::ChinaDay(absl::Now());
  if (args.Has("person")) {
    absl::StatusOr<ids::CitizenId> id =
        ids::CheckCitizenId(args.Get("person"), ids::Sex::kUnspecified, today);
    if (!id.ok()) return Prefixed("--person", id.status());
    person = id->normalized;
  }
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> root, ReadRootKey(root_path));
  TB_ASSIGN_OR_RETURN(v1::SignedRoster signed_roster, ReadSignedRoster(roster_path));
  absl::StatusOr<sync::Roster> roster = sync::Roster::Verify(signed_roster, *root);
  if (!roster.ok()) return Refused(roster_path, roster.status());
  const std::string max_age_text = args.Get("max-list-age", "7d");
  absl::StatusOr<absl::Duration> max_age = ParseDuration(max_age_text);
  if (!max_age.ok()) return Prefixed("--max-list-age", max_age.status());
  std::optional<workflows::RevocationList> list;
  if (args.Has("revocations")) {
    const std::string path = args.Get("revocations");
    TB_ASSIGN_OR_RETURN(std::string list_bytes, ReadFile(path));
    absl::StatusOr<workflows::RevocationList> verified =
        workflows::VerifyRevocationList(list_bytes, *roster);
    if (!verified.ok()) {
      return verified.status().code() == absl::StatusCode::kPermissionDenied
                 ? Refused(path, verified.status())
                 : Prefixed(path, verified.status());
    }
    list = *std::move(verified);
  }
  const workflows::CertificateVerification v =
      workflows::VerifyCertificate(bytes, *roster, list ? &*list : nullptr, today, person);
  std::string line = absl::StrCat(workflows::VerdictName(v.verdict), ": ", v.detail);
  if (v.claims.has_value()) {
    const workflows::CertificateClaims& c = *v.claims;
    absl::StrAppend(&line, "\n  certificate ", c.number, " (", v1::CertificateType_Name(c.type),
                    ") issued by ", c.issuer, " with key ", c.key_id, " on ",
                    records::ChinaTimeText(c.issued_at, "%Y-%m-%d %H:%M"));
    for (const auto& [k, val] : c.facts) absl::StrAppend(&line, "\n  ", k, ": ", val);
    if (v.verdict != workflows::Verdict::kMalformed &&
        v.verdict != workflows::Verdict::kUnknownIssuer &&
        v.verdict != workflows::Verdict::kForged) {
      absl::StrAppend(&line, "\n  holder: ",
                      v.holder_checked ? "matches the person given"
                                       : "not checked (give --person to check the ID card)");
      absl::StrAppend(&line, "\n  revocations: ",
                      list ? absl::StrCat("checked against the list of ",
                                          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", list->issued_at,
                                                           absl::UTCTimeZone()))
                           : "NOT checked (give --revocations)");
      if (list && absl::Now() - list->issued_at > *max_age) {
        // The verdict stands, but a revocation since the list was made
        // would not show: say so where the reader looks.
        absl::StrAppend(&line, "\n  WARNING: the revocation list is ",
                        absl::ToInt64Hours(absl::Now() - list->issued_at) / 24,
                        " days old (more than --max-list-age ", max_age_text,
                        "); fetch a new one with tongbanctl certificate revocations");
      }
    }
  }
  switch (v.verdict) {
    case workflows::Verdict::kValid: io.out << line << "\n"; return absl::OkStatus();
    case workflows::Verdict::kMalformed: return absl::InvalidArgumentError(line);
    default: return absl::PermissionDeniedError(line);
  }
}

}  // namespace

void AddCertificateCommands(std::vector<Command>* commands) {
  commands->push_back(Command{
      "certificate", "qr", "a certificate's offline payload as text and a QR code (clerk)",
      "tongbanctl certificate qr ID --number N --out PREFIX [--reason TEXT]",
      absl::StrCat("Asks the node to sign the offline payload of certificate N of person ID\n"
                   "(only a certificate this node issued, neither revoked nor superseded) and\n"
                   "writes PREFIX.txt (the \"TB1:\" text form) and PREFIX.png (a QR code of it).\n"
                   "Neither file holds the ID: the payload binds the holder by a salted hash.\n"
                   "Audited as a read of the person's records.\n\n",
                   kConnectionHelp,
                   "\nExamples:\n"
                   "  tongbanctl certificate qr 620102199001010012 --number HY-1 --out hy-1\n"),
      WithConnection({{"number"}, {"out"}, {"reason"}}), 1, 1, QrCmd});
  commands->push_back(
      Command{"certificate", "revocations", "the national node's signed revocation list",
              "tongbanctl certificate revocations --out FILE",
              absl::StrCat(
                  "Asks the national node (a clerk or administrator of it) for the list of every\n"
                  "certificate revoked, retracted or superseded in the logs it holds, signed with\n"
                  "its key, and writes it to FILE for certificate verify --revocations.\n\n",
                  kConnectionHelp,
                  "\nExamples:\n"
                  "  tongbanctl certificate revocations --out revocations.bin\n"),
              WithConnection({{"out"}}), 0, 0, RevocationsCmd});
  commands->push_back(Command{
      "certificate",
      "verify",
      "check a certificate payload offline (no node, no network)",
      "tongbanctl certificate verify --roster SIGNED --root-key PUBFILE [--revocations FILE "
      "[--max-list-age 7d]] [--person ID] (--text TB1:... | --in FILE)",
      "Checks the payload (the text form, or a file with the text or the binary form)\n"
      "with the signed roster, the federation root public key and, if given, the\n"
      "national revocation list (its signature checked against the roster's national\n"
      "node). --person checks the holder's ID card against the payload's binding.\n"
      "A list older than --max-list-age (default 7d) gets a warning: a revocation\n"
      "made since would not show. A certificate of an issuer the roster revokes is\n"
      "from an unknown issuer.\n"
      "Verdicts, the first that applies: malformed (exit 2), unknown issuer, forged,\n"
      "wrong holder, revoked, not yet valid, expired (exit 3), valid (exit 0).\n"
      "Quote --text: base45 may contain spaces.\n\n"
      "Examples:\n"
      "  tongbanctl certificate verify --roster roster.signed --root-key root.pub \\\n"
      "      --revocations revocations.bin --in hy-1.txt\n",
      {{"roster"}, {"root-key"}, {"revocations"}, {"max-list-age"}, {"person"}, {"text"}, {"in"}},
      0,
      0,
      VerifyCmd});
}

}  // namespace tongban::cli
