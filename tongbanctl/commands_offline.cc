// The offline commands: keys, pki and roster. See commands_offline.h.
//
// Files they write:
//   keys generate   PREFIX.key (PKCS#8 PEM, 0600), PREFIX.pub (SPKI PEM, 0644)
//   pki init        DIR/ca.key (0600), DIR/ca.crt
//   pki issue       DIR/node.key (0600), DIR/node.crt, DIR/ca.crt (a copy)
//   pki request     DIR/node.key (0600), DIR/node.csr; or, for an operator,
//                   DIR/NAME.key (0600), DIR/NAME.csr
//   pki sign        FILE: the certificate (0644), nothing else
//   roster create   FILE: commented text-format tongban.v1.Roster, version 1
//   roster sign     SIGNED: binary tongban.v1.SignedRoster; FILE is rewritten
//                   with the signed version and time
// Key and certificate files are never overwritten; the roster text file is
// replaced atomically by the commands that edit it, and a signed roster
// file may be replaced by a newer signature.
#include "tongbanctl/commands_offline.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "admin/operators.h"
#include "common/crypto/key_file.h"
#include "common/crypto/suite.h"
#include "common/ids/region.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"
#include "sync/roster.h"
#include "tongbanctl/files.h"

namespace tongban::cli {
namespace {

using v1::NodeEntry;

// --- small helpers ---

// Verification failures become "refused" (exit 3), whatever their code.
absl::Status Refused(const absl::Status& s) {
  if (s.ok()) return s;
  return absl::PermissionDeniedError(absl::StrCat("refused: ", s.message()));
}

std::string UtcText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string Json(absl::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string JsonList(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const std::string& s : items) quoted.push_back(Json(s));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

// Terminal columns of UTF-8 text: East Asian wide characters take two.
size_t DisplayWidth(absl::string_view s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = c;
    size_t len = 1;
    if (c >= 0xf0 && i + 3 < s.size()) {
      cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3fu) << 12) | ((s[i + 2] & 0x3fu) << 6) |
           (s[i + 3] & 0x3fu);
      len = 4;
    } else if (c >= 0xe0 && i + 2 < s.size()) {
      cp = ((c & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) | (s[i + 2] & 0x3fu);
      len = 3;
    } else if (c >= 0xc0 && i + 1 < s.size()) {
      cp = ((c & 0x1fu) << 6) | (s[i + 1] & 0x3fu);
      len = 2;
    }
    const bool wide = (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
                      (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
                      (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
                      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x20000 && cp <= 0x3fffd);
    width += wide ? 2 : 1;
    i += len;
  }
  return width;
}

// Prints rows as columns separated by two spaces.
void PrintTable(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    out << line << "\n";
  }
}

absl::StatusOr<crypto::SuiteId> SuiteFlag(const Args& args) {
  TB_ASSIGN_OR_RETURN(std::string name, args.Required("suite"));
  absl::StatusOr<crypto::SuiteId> id = crypto::ParseSuiteId(name);
  if (!id.ok()) return Prefixed("--suite", id.status());
  return id;
}

absl::Status NodeCodeFlag(absl::string_view code) {
  return Prefixed(absl::StrCat("--code ", code), ids::ValidateNodeCode(code));
}

std::string RoleName(NodeEntry::Role role) {
  switch (role) {
    case NodeEntry::ROLE_COUNTY: return "county";
    case NodeEntry::ROLE_PROVINCE: return "province";
    case NodeEntry::ROLE_NATIONAL: return "national";
    default: return "unspecified";
  }
}

std::string StatusName(NodeEntry::NodeStatus status) {
  switch (status) {
    case NodeEntry::NODE_STATUS_ACTIVE: return "active";
    case NodeEntry::NODE_STATUS_SUSPENDED: return "suspended";
    case NodeEntry::NODE_STATUS_REVOKED: return "revoked";
    default: return "unspecified";
  }
}

absl::StatusOr<NodeEntry::Role> ParseRole(absl::string_view text) {
  if (text == "county") return NodeEntry::ROLE_COUNTY;
  if (text == "province") return NodeEntry::ROLE_PROVINCE;
  if (text == "national") return NodeEntry::ROLE_NATIONAL;
  return absl::InvalidArgumentError(
      absl::StrCat("--role \"", text, "\" is not county, province or national"));
}

absl::StatusOr<NodeEntry::NodeStatus> ParseStatus(absl::string_view text) {
  if (text == "active") return NodeEntry::NODE_STATUS_ACTIVE;
  if (text == "suspended") return NodeEntry::NODE_STATUS_SUSPENDED;
  if (text == "revoked") return NodeEntry::NODE_STATUS_REVOKED;
  return absl::InvalidArgumentError(
      absl::StrCat("--status \"", text, "\" is not active, suspended or revoked"));
}

NodeEntry* FindNode(v1::Roster& roster, absl::string_view code) {
  for (NodeEntry& node : *roster.mutable_nodes()) {
    if (node.code() == code) return &node;
  }
  return nullptr;
}

// --- keys ---

absl::Status KeysGenerate(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(crypto::SuiteId suite_id, SuiteFlag(args));
  TB_ASSIGN_OR_RETURN(std::string prefix, args.Required("out"));
  const std::string key_path = prefix + ".key";
  const std::string pub_path = prefix + ".pub";
  TB_RETURN_IF_ERROR(RefuseExisting({key_path, pub_path}));
  const crypto::Suite& suite = crypto::GetSuite(suite_id);
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PrivateKey> key, suite.GenerateKey());
  TB_RETURN_IF_ERROR(crypto::WritePrivateKeyFile(*key, key_path));
  absl::Status pub = crypto::WritePublicKeyFile(key->public_key(), pub_path);
  if (!pub.ok()) {
    ::unlink(key_path.c_str());  // No half-written pair.
    return pub;
  }
  const std::string key_id = key->public_key().KeyId();
  if (args.Has("json")) {
    io.out << "{\"suite\":" << Json(suite.name()) << ",\"key_id\":" << Json(key_id)
           << ",\"private_key_file\":" << Json(key_path)
           << ",\"public_key_file\":" << Json(pub_path) << "}\n";
  } else {
    io.out << "key id " << key_id << " (" << suite.name() << ")\n"
           << "private key: " << key_path << " (mode 0600; keep it secret)\n"
           << "public key:  " << pub_path << "\n";
  }
  return absl::OkStatus();
}

// --- pki ---

absl::Status PkiInit(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string dir, args.Required("out"));
  TB_ASSIGN_OR_RETURN(long long days, args.GetInt("days", 3650, 1, 36500));
  pki::CaOptions options;
  options.name = args.Get("name", options.name);
  options.days = static_cast<int>(days);
  options.now = absl::Now();
  const std::string key_path = dir + "/ca.key";
  const std::string cert_path = dir + "/ca.crt";
  TB_RETURN_IF_ERROR(EnsureDir(dir));
  TB_RETURN_IF_ERROR(RefuseExisting({key_path, cert_path}));
  TB_ASSIGN_OR_RETURN(pki::KeyAndCertificate ca, pki::CreateCa(options));
  TB_RETURN_IF_ERROR(pki::WriteTlsKeyFile(ca.key, key_path));
  absl::Status written = pki::WriteCertificateFile(ca.cert, cert_path);
  if (!written.ok()) {
    ::unlink(key_path.c_str());
    return written;
  }
  io.out << "created federation CA \"" << options.name << "\"\n"
         << "  " << key_path << "  CA private key (mode 0600; keep it offline)\n"
         << "  " << cert_path << "  CA certificate (give it to every node)\n"
         << "  valid until " << UtcText(ca.cert.not_after()) << "\n"
         << "  SHA-256 " << ca.cert.Sha256Fingerprint() << "\n";
  return absl::OkStatus();
}

absl::Status PkiIssue(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string ca_dir, args.Required("ca"));
  TB_ASSIGN_OR_RETURN(std::string code, args.Required("node"));
  TB_RETURN_IF_ERROR(Prefixed(absl::StrCat("--node ", code), ids::ValidateNodeCode(code)));
  TB_ASSIGN_OR_RETURN(std::string out_dir, args.Required("out"));
  TB_ASSIGN_OR_RETURN(long long days, args.GetInt("days", 1095, 1, 36500));
  pki::NodeCertOptions options;
  options.node_code = code;
  options.dns_names = args.GetAll("dns");
  options.ip_addresses = args.GetAll("ip");
  options.days = static_cast<int>(days);
  options.now = absl::Now();

  TB_ASSIGN_OR_RETURN(pki::TlsKey ca_key, pki::ReadTlsKeyFile(ca_dir + "/ca.key"));
  TB_ASSIGN_OR_RETURN(pki::Certificate ca_cert, pki::ReadCertificateFile(ca_dir + "/ca.crt"));
  TB_ASSIGN_OR_RETURN(pki::KeyAndCertificate node,
                      pki::IssueNodeCertificate(ca_key, ca_cert, options));

  const std::string key_path = out_dir + "/node.key";
  const std::string cert_path = out_dir + "/node.crt";
  const std::string ca_copy = out_dir + "/ca.crt";
  TB_RETURN_IF_ERROR(EnsureDir(out_dir));
  TB_RETURN_IF_ERROR(RefuseExisting({key_path, cert_path}));
  bool copy_ca = true;
  if (Exists(ca_copy)) {
    // Issuing into the CA's own folder, or a second time: fine if it is the
    // same CA certificate.
    absl::StatusOr<pki::Certificate> existing = pki::ReadCertificateFile(ca_copy);
    if (!existing.ok() || existing->Der() != ca_cert.Der()) {
      return absl::AlreadyExistsError(absl::StrCat(
          ca_copy, ": already exists and is not this CA's certificate; refusing to overwrite it"));
    }
    copy_ca = false;
  }
  TB_RETURN_IF_ERROR(pki::WriteTlsKeyFile(node.key, key_path));
  absl::Status written = pki::WriteCertificateFile(node.cert, cert_path);
  if (written.ok() && copy_ca) written = pki::WriteCertificateFile(ca_cert, ca_copy);
  if (!written.ok()) {
    ::unlink(key_path.c_str());
    ::unlink(cert_path.c_str());
    return written;
  }
  std::vector<std::string> san = {absl::StrCat("URI:", pki::kNodeUriPrefix, code)};
  for (const std::string& d : options.dns_names) san.push_back("DNS:" + d);
  for (const std::string& ip : node.cert.SanIpAddresses()) san.push_back("IP:" + ip);
  io.out << "issued a TLS certificate for node " << code << "\n"
         << "  " << key_path << "  node private key (mode 0600)\n"
         << "  " << cert_path << "  " << node.cert.Subject() << "\n"
         << "  " << ca_copy << "  the federation CA certificate\n"
         << "  subjectAltName " << absl::StrJoin(san, ", ") << "\n"
         << "  valid until " << UtcText(node.cert.not_after()) << "\n"
         << "  SHA-256 " << node.cert.Sha256Fingerprint() << "\n";
  return absl::OkStatus();
}

// "URI:a, DNS:b, IP:c" for what a request or certificate names.
std::string SanText(const std::vector<std::string>& uris, const std::vector<std::string>& dns,
                    const std::vector<std::string>& ips) {
  std::vector<std::string> san;
  for (const std::string& u : uris) san.push_back("URI:" + u);
  for (const std::string& d : dns) san.push_back("DNS:" + d);
  for (const std::string& ip : ips) san.push_back("IP:" + ip);
  return absl::StrJoin(san, ", ");
}

// Writes a new key and a request for it; removes the key again if the
// request cannot be written.
absl::Status WriteKeyAndRequest(const pki::TlsKey& key, const pki::CertificateRequest& request,
                                const std::string& key_path, const std::string& csr_path) {
  TB_RETURN_IF_ERROR(pki::WriteTlsKeyFile(key, key_path));
  absl::Status written = pki::WriteCertificateRequestFile(request, csr_path);
  if (!written.ok()) ::unlink(key_path.c_str());
  return written;
}

absl::Status PkiRequest(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string dir, args.Required("out"));
  const bool for_operator = args.Has("operator");
  if (for_operator == args.Has("node")) {
    return absl::InvalidArgumentError(
        "give either --node CODE (a node's TLS certificate) or --operator NAME --county CODE "
        "--role ROLE (an operator's certificate)");
  }
  TB_ASSIGN_OR_RETURN(pki::TlsKey key, pki::TlsKey::Generate());
  std::string key_path, csr_path, who, names, next;
  absl::StatusOr<pki::CertificateRequest> request;
  if (for_operator) {
    if (args.Has("dns") || args.Has("ip")) {
      return absl::InvalidArgumentError("--dns and --ip are for a node; an operator names none");
    }
    pki::OperatorCertOptions options;
    options.name = args.Get("operator");
    TB_RETURN_IF_ERROR(Prefixed("--operator", pki::ValidateOperatorName(options.name)));
    TB_ASSIGN_OR_RETURN(options.county, args.Required("county"));
    TB_RETURN_IF_ERROR(
        Prefixed(absl::StrCat("--county ", options.county), ids::ValidateNodeCode(options.county)));
    TB_ASSIGN_OR_RETURN(options.role, args.Required("role"));
    request = pki::CreateOperatorRequest(key, options);
    key_path = absl::StrCat(dir, "/", options.name, ".key");
    csr_path = absl::StrCat(dir, "/", options.name, ".csr");
    who = absl::StrCat("operator ", options.name, " (", options.role, ") of node ", options.county);
    names = SanText({absl::StrCat(pki::kOperatorUriPrefix, options.county, ":", options.name),
                     absl::StrCat(pki::kOperatorRoleUriPrefix, options.role)},
                    {}, {});
    next = absl::StrCat("tongbanctl pki sign --operator-ca DIR --request ", options.name,
                        ".csr --out ", options.name, ".crt");
  } else {
    if (args.Has("county") || args.Has("role")) {
      return absl::InvalidArgumentError("--county and --role are for an operator (--operator)");
    }
    pki::NodeCertOptions options;
    options.node_code = args.Get("node");
    TB_RETURN_IF_ERROR(Prefixed(absl::StrCat("--node ", options.node_code),
                                ids::ValidateNodeCode(options.node_code)));
    options.dns_names = args.GetAll("dns");
    options.ip_addresses = args.GetAll("ip");
    request = pki::CreateNodeRequest(key, options);
    key_path = dir + "/node.key";
    csr_path = dir + "/node.csr";
    who = absl::StrCat("node ", options.node_code);
    names = SanText({absl::StrCat(pki::kNodeUriPrefix, options.node_code)}, options.dns_names,
                    options.ip_addresses);
    next = "tongbanctl pki sign --ca DIR --request node.csr --out node.crt";
  }
  if (!request.ok()) return request.status();
  TB_RETURN_IF_ERROR(EnsureDir(dir));
  TB_RETURN_IF_ERROR(RefuseExisting({key_path, csr_path}));
  TB_RETURN_IF_ERROR(WriteKeyAndRequest(key, *request, key_path, csr_path));
  io.out << "made a key and a certificate request for " << who << "\n"
         << "  " << key_path << "  private key (mode 0600; it stays on this machine)\n"
         << "  " << csr_path << "  certificate request: send it to the CA\n"
         << "  asks for subjectAltName " << names << "\n"
         << "  request SHA-256 " << request->Sha256Fingerprint() << "\n"
         << "read the fingerprint to the CA by phone; it compares it before signing\n"
         << "at the CA: " << next << "\n";
  return absl::OkStatus();
}

// The operator CA folder of `operator init`: the county it serves, and the
// account the request names must not hold another role.
absl::Status CheckOperatorRequestFits(const std::string& dir, const pki::OperatorCertOptions& op) {
  TB_ASSIGN_OR_RETURN(std::string county_text, ReadFile(dir + "/county"));
  const std::string county(absl::StripAsciiWhitespace(county_text));
  if (op.county != county) {
    return absl::InvalidArgumentError(absl::StrCat("request is for an operator of node ", op.county,
                                                   "; ", dir, " is the operator CA of node ",
                                                   county));
  }
  if (!Exists(dir + "/accounts")) return absl::OkStatus();
  TB_ASSIGN_OR_RETURN(std::unique_ptr<admin::OperatorAccounts> accounts,
                      admin::OperatorAccounts::Open(dir + "/accounts"));
  if (std::optional<admin::OperatorAccount> account = accounts->Find(op.name);
      account.has_value() && admin::RoleName(account->role) != op.role) {
    return absl::InvalidArgumentError(
        absl::StrCat("request asks for role ", op.role, " but the account ", op.name, " in ", dir,
                     "/accounts is ", admin::RoleName(account->role)));
  }
  return absl::OkStatus();
}

absl::Status PkiSign(const Args& args, Io& io) {
  if (args.Has("ca") == args.Has("operator-ca")) {
    return absl::InvalidArgumentError(
        "give either --ca DIR (the federation CA, for a node request) or --operator-ca DIR (a "
        "county's operator CA, for an operator request)");
  }
  const bool for_operator = args.Has("operator-ca");
  const std::string ca_dir = for_operator ? args.Get("operator-ca") : args.Get("ca");
  TB_ASSIGN_OR_RETURN(std::string request_path, args.Required("request"));
  TB_ASSIGN_OR_RETURN(std::string out, args.Required("out"));
  TB_ASSIGN_OR_RETURN(long long days, args.GetInt("days", for_operator ? 365 : 1095, 1, 36500));
  TB_ASSIGN_OR_RETURN(pki::CertificateRequest request,
                      pki::ReadCertificateRequestFile(request_path));
  std::string who, names;
  if (for_operator) {
    absl::StatusOr<pki::OperatorCertOptions> op = pki::ReadOperatorRequest(request);
    if (!op.ok()) return Prefixed(request_path, op.status());
    TB_RETURN_IF_ERROR(Prefixed(request_path, CheckOperatorRequestFits(ca_dir, *op)));
    who = absl::StrCat("operator ", op->name, " (", op->role, ") of node ", op->county);
    names = SanText({absl::StrCat(pki::kOperatorUriPrefix, op->county, ":", op->name),
                     absl::StrCat(pki::kOperatorRoleUriPrefix, op->role)},
                    {}, {});
  } else {
    absl::StatusOr<pki::NodeCertOptions> node = pki::ReadNodeRequest(request);
    if (!node.ok()) return Prefixed(request_path, node.status());
    who = absl::StrCat("node ", node->node_code);
    names = SanText({absl::StrCat(pki::kNodeUriPrefix, node->node_code)}, node->dns_names,
                    node->ip_addresses);
  }
  TB_RETURN_IF_ERROR(RefuseExisting({out}));
  TB_ASSIGN_OR_RETURN(pki::TlsKey ca_key, pki::ReadTlsKeyFile(ca_dir + "/ca.key"));
  TB_ASSIGN_OR_RETURN(pki::Certificate ca_cert, pki::ReadCertificateFile(ca_dir + "/ca.crt"));
  const absl::Time now = absl::Now();
  TB_ASSIGN_OR_RETURN(
      pki::Certificate cert,
      for_operator ? pki::SignOperatorRequest(ca_key, ca_cert, request, static_cast<int>(days), now)
                   : pki::SignNodeRequest(ca_key, ca_cert, request, static_cast<int>(days), now));
  io.out << "request " << request_path << " (SHA-256 " << request.Sha256Fingerprint() << ")\n"
         << "  certifies " << who << "\n"
         << "  subjectAltName " << names << "\n"
         << "  valid until " << UtcText(cert.not_after()) << " (" << days << " days)\n";
  TB_RETURN_IF_ERROR(pki::WriteCertificateFile(cert, out));
  io.out << "wrote " << out << " (" << cert.Subject() << ", SHA-256 " << cert.Sha256Fingerprint()
         << ")\n"
         << "send it back with " << ca_dir << "/ca.crt; no private key leaves either side\n";
  return absl::OkStatus();
}

absl::Status PkiShow(const Args& args, Io& io) {
  const std::string path = args.positional()[0];
  TB_ASSIGN_OR_RETURN(pki::Certificate cert, pki::ReadCertificateFile(path));
  absl::StatusOr<std::string> code = pki::NodeCodeFromCertificate(cert);
  std::vector<std::string> san;
  for (const std::string& u : cert.SanUris()) san.push_back("URI:" + u);
  for (const std::string& d : cert.SanDnsNames()) san.push_back("DNS:" + d);
  for (const std::string& ip : cert.SanIpAddresses()) san.push_back("IP:" + ip);
  const absl::Time now = absl::Now();
  const long long days_left = absl::ToInt64Hours(cert.not_after() - now) / 24;
  if (args.Has("json")) {
    io.out << "{\"file\":" << Json(path) << ",\"node_code\":" << (code.ok() ? Json(*code) : "null")
           << ",\"subject\":" << Json(cert.Subject()) << ",\"issuer\":" << Json(cert.Issuer())
           << ",\"serial\":" << Json(cert.SerialHex())
           << ",\"not_before\":" << Json(UtcText(cert.not_before()))
           << ",\"not_after\":" << Json(UtcText(cert.not_after()))
           << ",\"is_ca\":" << (cert.IsCa() ? "true" : "false")
           << ",\"subject_alt_names\":" << JsonList(san)
           << ",\"sha256_fingerprint\":" << Json(cert.Sha256Fingerprint()) << "}\n";
    return absl::OkStatus();
  }
  std::string validity =
      absl::StrCat(UtcText(cert.not_before()), " .. ", UtcText(cert.not_after()));
  if (cert.not_after() < now) {
    absl::StrAppend(&validity, " (EXPIRED)");
  } else if (cert.not_before() > now) {
    absl::StrAppend(&validity, " (NOT YET VALID)");
  } else {
    absl::StrAppend(&validity, " (", days_left, " days left)");
  }
  const std::string node_line = code.ok() ? *code
                                : cert.IsCa()
                                    ? std::string("none (a CA certificate)")
                                    : absl::StrCat("none (", code.status().message(), ")");
  PrintTable({{"certificate", path},
              {"node code", node_line},
              {"subject", cert.Subject()},
              {"issuer", cert.Issuer()},
              {"serial", cert.SerialHex()},
              {"validity", validity},
              {"CA", cert.IsCa() ? "yes" : "no"},
              {"subjectAltName", san.empty() ? "none" : absl::StrJoin(san, ", ")},
              {"SHA-256", cert.Sha256Fingerprint()}},
             io.out);
  return absl::OkStatus();
}

absl::Status PkiVerify(const Args& args, Io& io) {
  const std::string path = args.positional()[0];
  TB_ASSIGN_OR_RETURN(std::string ca_path, args.Required("ca"));
  TB_ASSIGN_OR_RETURN(pki::Certificate cert, pki::ReadCertificateFile(path));
  TB_ASSIGN_OR_RETURN(pki::Certificate ca, pki::ReadCertificateFile(ca_path));
  absl::StatusOr<std::string> code = pki::VerifyNodeCertificate(cert, ca, absl::Now());
  if (!code.ok()) return Refused(Prefixed(path, code.status()));
  if (args.Has("json")) {
    io.out << "{\"ok\":true,\"node_code\":" << Json(*code)
           << ",\"not_after\":" << Json(UtcText(cert.not_after())) << "}\n";
  } else {
    io.out << "ok: " << path << " is node " << *code << ", issued by " << ca.Subject()
           << ", valid until " << UtcText(cert.not_after()) << "\n";
  }
  return absl::OkStatus();
}

// --- roster ---

absl::Status RosterCreate(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string path, args.Required("out"));
  TB_ASSIGN_OR_RETURN(std::string federation, args.Required("federation"));
  v1::Roster roster;
  roster.set_version(1);
  roster.set_federation(federation);
  NodeEntry* national = roster.add_nodes();
  national->set_code("000000");
  national->set_name("国家平台");
  national->set_role(NodeEntry::ROLE_NATIONAL);
  national->set_status(NodeEntry::NODE_STATUS_ACTIVE);
  std::string text = FormatRosterText(roster);
  text = absl::StrReplaceAll(
      text,
      {{"\n# 000000 国家平台\n",
        absl::StrCat("\n# The national platform (国家平台): exactly one per roster. Fill in its\n"
                     "# endpoint and signing key, which replaces this placeholder:\n"
                     "#   tongbanctl roster add-node --in ",
                     path,
                     " --code 000000 --name 国家平台 \\\n"
                     "#     --role national --endpoint HOST:PORT --signing-pub national.pub "
                     "--suite intl\n"
                     "# then add the province and county nodes the same way.\n")}});
  // The template must read back; a failure here is our bug.
  absl::StatusOr<v1::Roster> check = ParseRosterText(text, path);
  if (!check.ok()) return absl::InternalError(check.status().message());
  TB_RETURN_IF_ERROR(WriteNewFile(path, text, 0644));
  io.out << "created " << path << ": roster version 1 of federation \"" << federation
         << "\" with a national node (000000) to fill in\n";
  return absl::OkStatus();
}

absl::Status RosterAddNode(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string path, args.Required("in"));
  TB_ASSIGN_OR_RETURN(std::string code, args.Required("code"));
  TB_RETURN_IF_ERROR(NodeCodeFlag(code));
  TB_ASSIGN_OR_RETURN(std::string name, args.Required("name"));
  TB_ASSIGN_OR_RETURN(std::string role_text, args.Required("role"));
  TB_ASSIGN_OR_RETURN(NodeEntry::Role role, ParseRole(role_text));
  TB_ASSIGN_OR_RETURN(std::string pub_path, args.Required("signing-pub"));
  TB_ASSIGN_OR_RETURN(crypto::SuiteId suite_id, SuiteFlag(args));
  TB_ASSIGN_OR_RETURN(long long valid_from, args.GetInt("valid-from-seq", 0, 0, INT64_MAX));
  TB_ASSIGN_OR_RETURN(NodeEntry::NodeStatus status, ParseStatus(args.Get("status", "active")));
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> pub,
                      crypto::ReadPublicKeyFile(crypto::GetSuite(suite_id), pub_path));

  NodeEntry entry;
  entry.set_code(code);
  entry.set_name(name);
  entry.set_role(role);
  for (const std::string& endpoint : args.GetAll("endpoint")) entry.add_endpoints(endpoint);
  v1::SigningKey* key = entry.add_signing_keys();
  key->set_suite(std::string(crypto::SuiteName(suite_id)));
  key->set_spki_der(pub->SpkiDer());
  key->set_key_id(pub->KeyId());
  key->set_valid_from_seq(static_cast<uint64_t>(valid_from));
  entry.set_status(status);
  entry.set_status_reason(args.Get("reason"));
  TB_RETURN_IF_ERROR(sync::ValidateNodeEntry(entry));

  TB_ASSIGN_OR_RETURN(v1::Roster roster, ReadRosterText(path));
  NodeEntry* existing = FindNode(roster, code);
  const bool placeholder =
      existing != nullptr && existing->signing_keys().empty() && existing->endpoints().empty();
  if (existing != nullptr && !placeholder && !args.Has("replace")) {
    return absl::AlreadyExistsError(absl::StrCat(
        path, ": node ", code, " is already in the roster; pass --replace to replace its entry"));
  }
  if (existing != nullptr) {
    *existing = entry;
  } else {
    *roster.add_nodes() = entry;
  }
  TB_RETURN_IF_ERROR(WriteRosterText(path, roster));
  io.out << (placeholder           ? "filled in"
             : existing != nullptr ? "replaced"
                                   : "added")
         << " node " << code << " (" << name << ", " << RoleName(role) << ", " << StatusName(status)
         << ") in " << path << "; signing key " << pub->KeyId() << " ("
         << crypto::SuiteName(suite_id) << ")\n";
  return absl::OkStatus();
}

absl::Status RosterAddKey(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string path, args.Required("in"));
  TB_ASSIGN_OR_RETURN(std::string code, args.Required("code"));
  TB_RETURN_IF_ERROR(NodeCodeFlag(code));
  TB_ASSIGN_OR_RETURN(std::string pub_path, args.Required("signing-pub"));
  TB_ASSIGN_OR_RETURN(crypto::SuiteId suite_id, SuiteFlag(args));
  TB_ASSIGN_OR_RETURN(long long valid_from, args.GetInt("valid-from-seq", 0, 0, INT64_MAX));
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> pub,
                      crypto::ReadPublicKeyFile(crypto::GetSuite(suite_id), pub_path));
  TB_ASSIGN_OR_RETURN(v1::Roster roster, ReadRosterText(path));
  NodeEntry* node = FindNode(roster, code);
  if (node == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": node ", code, " is not in the roster"));
  }
  for (const v1::SigningKey& k : node->signing_keys()) {
    if (k.key_id() == pub->KeyId()) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, ": node ", code, " already lists key ", pub->KeyId()));
    }
  }
  v1::SigningKey* key = node->add_signing_keys();
  key->set_suite(std::string(crypto::SuiteName(suite_id)));
  key->set_spki_der(pub->SpkiDer());
  key->set_key_id(pub->KeyId());
  key->set_valid_from_seq(static_cast<uint64_t>(valid_from));
  TB_RETURN_IF_ERROR(Prefixed(path, sync::ValidateNodeEntry(*node)));
  TB_RETURN_IF_ERROR(WriteRosterText(path, roster));
  io.out << "added signing key " << pub->KeyId() << " (" << crypto::SuiteName(suite_id)
         << ") to node " << code << " in " << path << "; its earlier keys stay listed\n";
  return absl::OkStatus();
}

absl::Status RosterSetStatus(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string path, args.Required("in"));
  TB_ASSIGN_OR_RETURN(std::string code, args.Required("code"));
  TB_RETURN_IF_ERROR(NodeCodeFlag(code));
  TB_ASSIGN_OR_RETURN(std::string status_text, args.Required("status"));
  TB_ASSIGN_OR_RETURN(NodeEntry::NodeStatus status, ParseStatus(status_text));
  TB_ASSIGN_OR_RETURN(v1::Roster roster, ReadRosterText(path));
  NodeEntry* node = FindNode(roster, code);
  if (node == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": node ", code, " is not in the roster"));
  }
  const std::string before = StatusName(node->status());
  node->set_status(status);
  node->set_status_reason(args.Get("reason"));
  if (status != NodeEntry::NODE_STATUS_ACTIVE && !args.Has("reason")) {
    io.err << "tongbanctl: warning: no --reason given; peers refused by node " << code
           << " will see \"(no reason given)\"\n";
  }
  TB_RETURN_IF_ERROR(WriteRosterText(path, roster));
  io.out << "node " << code << ": " << before << " -> " << StatusName(status) << " in " << path
         << " (not yet published: run tongbanctl roster sign)\n";
  return absl::OkStatus();
}

absl::Status RosterSign(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string path, args.Required("in"));
  TB_ASSIGN_OR_RETURN(std::string key_path, args.Required("root-key"));
  TB_ASSIGN_OR_RETURN(crypto::SuiteId suite_id, SuiteFlag(args));
  TB_ASSIGN_OR_RETURN(std::string out_path, args.Required("out"));
  TB_ASSIGN_OR_RETURN(long long version_flag, args.GetInt("version", 0, 1, INT64_MAX));
  TB_ASSIGN_OR_RETURN(v1::Roster roster, ReadRosterText(path));
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PrivateKey> root,
                      crypto::ReadPrivateKeyFile(crypto::GetSuite(suite_id), key_path));

  // A never-signed file (issued_at_micros 0) signs its own version; after
  // that each signature takes the next one, so that nodes accept it.
  const uint64_t last = roster.version();
  const bool signed_before = roster.issued_at_micros() != 0;
  uint64_t version = signed_before ? last + 1 : std::max<uint64_t>(last, 1);
  if (args.Has("version")) {
    version = static_cast<uint64_t>(version_flag);
    if (signed_before && version <= last) {
      io.err << "tongbanctl: warning: version " << version << " is not above version " << last
             << ", signed before; nodes that hold v" << last << " will refuse it\n";
    }
  }
  roster.set_version(version);
  roster.set_issued_at_micros(absl::ToUnixMicros(absl::Now()));
  absl::StatusOr<v1::SignedRoster> signed_roster = sync::SignRoster(roster, *root);
  if (!signed_roster.ok()) return Prefixed(path, signed_roster.status());
  std::string bytes;
  if (!signed_roster->SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize the signed roster");
  }
  // The text file first: if the signed file then fails, the next signature
  // still takes a fresh version.
  TB_RETURN_IF_ERROR(WriteRosterText(path, roster));
  TB_RETURN_IF_ERROR(WriteFileAtomically(out_path, bytes, 0644));
  if (args.Has("json")) {
    io.out << "{\"version\":" << version << ",\"federation\":" << Json(roster.federation())
           << ",\"nodes\":" << roster.nodes_size() << ",\"suite\":" << Json(signed_roster->suite())
           << ",\"key_id\":" << Json(signed_roster->key_id()) << ",\"out\":" << Json(out_path)
           << "}\n";
  } else {
    io.out << "signed roster v" << version << " of federation \"" << roster.federation() << "\" ("
           << roster.nodes_size() << " nodes) with root key " << signed_roster->key_id() << " ("
           << signed_roster->suite() << ") -> " << out_path << "\n";
  }
  return absl::OkStatus();
}

// The signed roster verified against --root-pub, or refused.
absl::StatusOr<sync::Roster> VerifyWithRootPub(const v1::SignedRoster& signed_roster,
                                               const std::string& signed_path, const Args& args) {
  TB_ASSIGN_OR_RETURN(std::string pub_path, args.Required("root-pub"));
  TB_ASSIGN_OR_RETURN(crypto::SuiteId suite_id, SuiteFlag(args));
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> root,
                      crypto::ReadPublicKeyFile(crypto::GetSuite(suite_id), pub_path));
  absl::StatusOr<sync::Roster> roster = sync::Roster::Verify(signed_roster, *root);
  if (!roster.ok()) return Refused(Prefixed(signed_path, roster.status()));
  return roster;
}

absl::Status RosterVerify(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string path, args.Required("in"));
  TB_ASSIGN_OR_RETURN(v1::SignedRoster signed_roster, ReadSignedRoster(path));
  TB_ASSIGN_OR_RETURN(sync::Roster roster, VerifyWithRootPub(signed_roster, path, args));
  if (args.Has("json")) {
    io.out << "{\"ok\":true,\"version\":" << roster.version()
           << ",\"federation\":" << Json(roster.federation())
           << ",\"nodes\":" << roster.roster().nodes_size()
           << ",\"issued_at\":" << Json(UtcText(roster.issued_at()))
           << ",\"suite\":" << Json(signed_roster.suite())
           << ",\"key_id\":" << Json(signed_roster.key_id()) << "}\n";
  } else {
    io.out << "ok: roster v" << roster.version() << " of federation \"" << roster.federation()
           << "\", " << roster.roster().nodes_size() << " nodes, issued "
           << UtcText(roster.issued_at()) << ", signed by federation root key "
           << signed_roster.key_id() << " (" << signed_roster.suite() << ")\n";
  }
  return absl::OkStatus();
}

absl::Status RosterShow(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string path, args.Required("in"));
  TB_ASSIGN_OR_RETURN(v1::SignedRoster signed_roster, ReadSignedRoster(path));
  const bool verify = args.Has("root-pub");
  v1::Roster roster;
  if (verify) {
    TB_ASSIGN_OR_RETURN(sync::Roster verified, VerifyWithRootPub(signed_roster, path, args));
    roster = verified.roster();
  } else if (!roster.ParseFromString(signed_roster.roster())) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the signed bytes are not a Roster"));
  }
  const std::string issued = UtcText(absl::FromUnixMicros(roster.issued_at_micros()));
  if (args.Has("json")) {
    std::vector<std::string> nodes;
    for (const NodeEntry& node : roster.nodes()) {
      std::vector<std::string> keys;
      for (const v1::SigningKey& k : node.signing_keys()) {
        keys.push_back(absl::StrCat("{\"suite\":", Json(k.suite()),
                                    ",\"key_id\":", Json(k.key_id()),
                                    ",\"valid_from_seq\":", k.valid_from_seq(), "}"));
      }
      nodes.push_back(absl::StrCat(
          "{\"code\":", Json(node.code()), ",\"name\":", Json(node.name()), ",\"role\":",
          Json(RoleName(node.role())), ",\"status\":", Json(StatusName(node.status())),
          ",\"status_reason\":", Json(node.status_reason()),
          ",\"endpoints\":", JsonList({node.endpoints().begin(), node.endpoints().end()}),
          ",\"signing_keys\":[", absl::StrJoin(keys, ","), "]}"));
    }
    io.out << "{\"version\":" << roster.version() << ",\"federation\":" << Json(roster.federation())
           << ",\"issued_at\":" << Json(issued) << ",\"suite\":" << Json(signed_roster.suite())
           << ",\"key_id\":" << Json(signed_roster.key_id())
           << ",\"signature_verified\":" << (verify ? "true" : "false") << ",\"nodes\":["
           << absl::StrJoin(nodes, ",") << "]}\n";
    return absl::OkStatus();
  }
  io.out << "roster v" << roster.version() << " of federation \"" << roster.federation()
         << "\", issued " << issued << ", signed by " << signed_roster.suite() << " key "
         << signed_roster.key_id()
         << (verify ? " (signature verified)" : " (signature NOT checked: use roster verify)")
         << "\n\n";
  std::vector<std::vector<std::string>> rows = {
      {"CODE", "NAME", "ROLE", "STATUS", "ENDPOINTS", "KEY IDS"}};
  for (const NodeEntry& node : roster.nodes()) {
    std::string status = StatusName(node.status());
    if (!node.status_reason().empty()) absl::StrAppend(&status, ": ", node.status_reason());
    std::vector<std::string> keys;
    for (const v1::SigningKey& k : node.signing_keys()) {
      std::string key = absl::StrCat(k.suite(), ":", k.key_id());
      if (k.valid_from_seq() != 0) absl::StrAppend(&key, "@", k.valid_from_seq());
      keys.push_back(std::move(key));
    }
    rows.push_back({node.code(), node.name(), RoleName(node.role()), status,
                    node.endpoints().empty() ? "-" : absl::StrJoin(node.endpoints(), ","),
                    keys.empty() ? "-" : absl::StrJoin(keys, ",")});
  }
  PrintTable(rows, io.out);
  return absl::OkStatus();
}

}  // namespace

// long-function: the table of offline commands (one entry each, in the order
// `tongbanctl help` shows them), not steps of a process.
void AddOfflineCommands(std::vector<Command>* commands) {
  const FlagSpec json{"json", false, false};
  commands->push_back(
      Command{"keys",
              "generate",
              "generate a signing key pair of a crypto suite",
              "tongbanctl keys generate --suite intl|gm --out PREFIX [--json]",
              "Writes PREFIX.key (private, PKCS#8 PEM, mode 0600) and PREFIX.pub (public,\n"
              "SPKI PEM) and prints the key id. Refuses to overwrite either file. Use it for\n"
              "the federation root key and for node signing keys. The private key is never\n"
              "printed.\n\n"
              "Flags:\n"
              "  --suite intl|gm  intl: Ed25519; gm: SM2 with SM3\n"
              "  --out PREFIX     path prefix of the two files\n"
              "  --json           print the result as JSON\n\n"
              "Examples:\n"
              "  tongbanctl keys generate --suite gm --out /secure/federation-root\n"
              "  tongbanctl keys generate --suite intl --out 440305-signing --json\n",
              {{"suite"}, {"out"}, json},
              0,
              0,
              KeysGenerate});
  commands->push_back(
      Command{"pki",
              "init",
              "create the federation CA (key and self-signed certificate)",
              "tongbanctl pki init --out DIR [--name NAME] [--days N]",
              "Creates DIR (if missing) with ca.key (ECDSA P-256, mode 0600) and ca.crt.\n"
              "TLS keys are P-256 under both suites: TLS 1.3 in OpenSSL 3.0 has no SM2\n"
              "certificates. Keep ca.key offline; give ca.crt to every node.\n\n"
              "Flags:\n"
              "  --out DIR    folder for ca.key and ca.crt (never overwritten)\n"
              "  --name NAME  the CA's common name (default \"Tongban federation CA\")\n"
              "  --days N     validity in days (default 3650)\n\n"
              "Examples:\n"
              "  tongbanctl pki init --out /secure/ca --name \"粤甘通办 CA\" --days 7300\n",
              {{"out"}, {"name"}, {"days"}},
              0,
              0,
              PkiInit});
  commands->push_back(
      Command{"pki",
              "issue",
              "issue a node TLS certificate from the federation CA",
              "tongbanctl pki issue --ca DIR --node CODE --out DIR [--dns NAME]... [--ip ADDR]... "
              "[--days N]",
              "Reads DIR/ca.key and DIR/ca.crt, and writes node.key (mode 0600), node.crt and a\n"
              "copy of ca.crt into the --out folder. The certificate names the node by the\n"
              "URI urn:tongban:node:CODE; peers take the node's identity from it.\n\n"
              "Flags:\n"
              "  --ca DIR      folder made by pki init\n"
              "  --node CODE   the node's 6-digit code\n"
              "  --out DIR     folder for the node's files (never overwritten)\n"
              "  --dns NAME    a DNS name peers dial (repeatable)\n"
              "  --ip ADDR     an IP address peers dial (repeatable)\n"
              "  --days N      validity in days (default 1095)\n\n"
              "Examples:\n"
              "  tongbanctl pki issue --ca /secure/ca --node 440305 --out 440305-tls \\\n"
              "      --dns tongban.nanshan.gov.cn --ip 10.1.2.3\n",
              {{"ca"}, {"node"}, {"out"}, {"dns", true, true}, {"ip", true, true}, {"days"}},
              0,
              0,
              PkiIssue});
  commands->push_back(Command{
      "pki",
      "request",
      "make a TLS key and a certificate request here (the key never leaves)",
      "tongbanctl pki request --node CODE --out DIR [--dns NAME]... [--ip ADDR]...\n"
      "       tongbanctl pki request --operator NAME --county CODE --role ROLE --out DIR",
      "On the machine that will use the key: writes a new ECDSA P-256 key (mode 0600,\n"
      "never printed) and a PKCS#10 certificate request naming the node (SAN URI\n"
      "urn:tongban:node:CODE, DNS names, IPs) or the operator (county, name, role).\n"
      "Prints the request's SHA-256 fingerprint: read it to the CA by phone, who\n"
      "compares it before signing. Send only the .csr file; the CA answers with\n"
      "pki sign. Never overwrites a file.\n\n"
      "Flags:\n"
      "  --node CODE      the node's 6-digit code: writes DIR/node.key, DIR/node.csr\n"
      "  --dns NAME       a DNS name peers dial (repeatable)\n"
      "  --ip ADDR        an IP address peers dial (repeatable)\n"
      "  --operator NAME  an operator's account name: writes DIR/NAME.key, DIR/NAME.csr\n"
      "  --county CODE    the operator's node\n"
      "  --role ROLE      clerk, administrator or auditor\n"
      "  --out DIR        folder for the key and the request\n\n"
      "Examples:\n"
      "  tongbanctl pki request --node 440305 --out /etc/tongban/tls \\\n"
      "      --dns tongban.nanshan.gov.cn --ip 10.1.2.3\n"
      "  tongbanctl pki request --operator li.na --county 440305 --role clerk --out ~/tongban\n",
      {{"node"},
       {"operator"},
       {"county"},
       {"role"},
       {"out"},
       {"dns", true, true},
       {"ip", true, true}},
      0,
      0,
      PkiRequest});
  commands->push_back(
      Command{"pki",
              "sign",
              "sign a certificate request with the CA; write only the certificate",
              "tongbanctl pki sign --ca DIR|--operator-ca DIR --request FILE --out FILE [--days N]",
              "Checks the request (its self-signature, a P-256 key, a valid node code, DNS\n"
              "names and IPs; or a valid operator of this operator CA's county; no CA, no\n"
              "other URI, no extension the CA decides), prints what it will certify, and\n"
              "writes the certificate (mode 0644). The CA decides the subject, validity and\n"
              "usages; only the key and the names come from the request. A bad request is\n"
              "refused with the reason and nothing is written. Compare the printed request\n"
              "fingerprint with the one the requester read out.\n\n"
              "Flags:\n"
              "  --ca DIR           the federation CA (pki init), for a node request\n"
              "  --operator-ca DIR  a county's operator CA (operator init), for an operator\n"
              "  --request FILE     the .csr of pki request\n"
              "  --out FILE         the certificate (never overwritten)\n"
              "  --days N           validity (default 1095 for a node, 365 for an operator)\n\n"
              "Examples:\n"
              "  tongbanctl pki sign --ca /secure/ca --request node.csr --out 440305.crt\n"
              "  tongbanctl pki sign --operator-ca /secure/operators --request li.na.csr \\\n"
              "      --out li.na.crt\n",
              {{"ca"}, {"operator-ca"}, {"request"}, {"out"}, {"days"}},
              0,
              0,
              PkiSign});
  commands->push_back(
      Command{"pki",
              "show",
              "print a certificate: node code, subject, validity, fingerprint",
              "tongbanctl pki show CERT [--json]",
              "Prints the node code (from the SAN URI), subject, issuer, serial, validity,\n"
              "subjectAltNames and SHA-256 fingerprint of a PEM certificate. Checks nothing;\n"
              "see pki verify.\n\n"
              "Examples:\n"
              "  tongbanctl pki show 440305-tls/node.crt\n"
              "  tongbanctl pki show /secure/ca/ca.crt --json\n",
              {json},
              1,
              1,
              PkiShow});
  commands->push_back(
      Command{"pki",
              "verify",
              "check a node certificate against the federation CA now",
              "tongbanctl pki verify CERT --ca CA_CERT [--json]",
              "OK (exit 0) when CERT is a node certificate signed by the CA and both are\n"
              "valid now; otherwise refused (exit 3) with the reason.\n\n"
              "Examples:\n"
              "  tongbanctl pki verify 440305-tls/node.crt --ca /etc/tongban/ca.crt\n",
              {{"ca"}, json},
              1,
              1,
              PkiVerify});
  commands->push_back(
      Command{"roster",
              "create",
              "start a roster text file (version 1, a national node to fill in)",
              "tongbanctl roster create --out FILE --federation NAME",
              "Writes a commented text-format roster (tongban.v1.Roster) at version 1 with\n"
              "the national node's entry as a placeholder. Refuses to overwrite FILE.\n\n"
              "Examples:\n"
              "  tongbanctl roster create --out roster.txt --federation 粤甘通办\n",
              {{"out"}, {"federation"}},
              0,
              0,
              RosterCreate});
  commands->push_back(Command{
      "roster",
      "add-node",
      "add a node to a roster text file",
      "tongbanctl roster add-node --in FILE --code CODE --name NAME --role "
      "county|province|national --endpoint HOST:PORT --signing-pub PUBFILE --suite intl|gm",
      "Adds the node with its signing public key (key id computed from the key) and\n"
      "status active. The role must fit the code: 000000 national, XX0000 province,\n"
      "others county. Fills the placeholder that roster create left for 000000; an\n"
      "existing entry is replaced only with --replace.\n\n"
      "Flags:\n"
      "  --endpoint HOST:PORT   where peers reach it (repeatable; none: it only dials out;\n"
      "                         the national node needs one)\n"
      "  --valid-from-seq N     first log seq the key signs (default 0: from the start)\n"
      "  --status S --reason T  start suspended or revoked (default active)\n"
      "  --replace              replace an existing entry for CODE\n\n"
      "Examples:\n"
      "  tongbanctl roster add-node --in roster.txt --code 440305 --name 深圳市南山区 \\\n"
      "      --role county --endpoint tongban.nanshan.gov.cn:7443 \\\n"
      "      --signing-pub 440305-signing.pub --suite gm\n",
      {{"in"},
       {"code"},
       {"name"},
       {"role"},
       {"endpoint", true, true},
       {"signing-pub"},
       {"suite"},
       {"valid-from-seq"},
       {"status"},
       {"reason"},
       {"replace", false, false}},
      0,
      0,
      RosterAddNode});
  commands->push_back(Command{
      "roster",
      "add-key",
      "add a signing key to a node of a roster text file (after its key rotation)",
      "tongbanctl roster add-key --in FILE --code CODE --signing-pub PUBFILE --suite intl|gm "
      "[--valid-from-seq N]",
      "Adds the key beside the node's earlier keys, which stay listed so that what\n"
      "they signed stays verifiable. A county's tongbanctl keys rotate prints the new\n"
      "key; peers accept it from its rotation entry before the roster lists it, but\n"
      "certificates the county issues verify offline against the roster.\n\n"
      "Flags:\n"
      "  --valid-from-seq N     the seq of the rotation entry (for the record)\n\n"
      "Examples:\n"
      "  tongbanctl roster add-key --in roster.txt --code 440305 \\\n"
      "      --signing-pub 440305-signing.pub --suite gm --valid-from-seq 40004\n",
      {{"in"}, {"code"}, {"signing-pub"}, {"suite"}, {"valid-from-seq"}},
      0,
      0,
      RosterAddKey});
  commands->push_back(Command{
      "roster",
      "set-status",
      "suspend (暂停), revoke (吊销) or reactivate a node",
      "tongbanctl roster set-status --in FILE --code CODE --status active|suspended|revoked "
      "[--reason TEXT]",
      "Changes the node's status in the text file. Nothing changes on the network\n"
      "until the roster is signed and published (roster sign).\n\n"
      "Examples:\n"
      "  tongbanctl roster set-status --in roster.txt --code 440305 --status revoked \\\n"
      "      --reason \"signing key lost 2026-11-02\"\n",
      {{"in"}, {"code"}, {"status"}, {"reason"}},
      0,
      0,
      RosterSetStatus});
  commands->push_back(
      Command{"roster",
              "sign",
              "validate a roster text file and sign it with the federation root key",
              "tongbanctl roster sign --in FILE --root-key KEYFILE --suite intl|gm --out SIGNED "
              "[--version N] [--json]",
              "Checks every entry (codes, roles, endpoints, keys, exactly one national node),\n"
              "then writes SIGNED: the binary SignedRoster nodes accept. The first signature\n"
              "of a file uses its version; each later one the next version, since nodes accept\n"
              "only a newer roster. --version N sets it. FILE is rewritten with the version and\n"
              "time signed. The root key file must be mode 0600 (else refused, exit 3).\n\n"
              "Examples:\n"
              "  tongbanctl roster sign --in roster.txt --root-key /secure/federation-root.key \\\n"
              "      --suite gm --out roster.signed\n",
              {{"in"}, {"root-key"}, {"suite"}, {"out"}, {"version"}, json},
              0,
              0,
              RosterSign});
  commands->push_back(Command{
      "roster",
      "verify",
      "verify a signed roster against the federation root public key",
      "tongbanctl roster verify --in SIGNED --root-pub PUBFILE --suite intl|gm [--json]",
      "Exit 0 when the signature, key id and content check out; refused (exit 3)\n"
      "otherwise.\n\n"
      "Examples:\n"
      "  tongbanctl roster verify --in roster.signed --root-pub federation-root.pub --suite gm\n",
      {{"in"}, {"root-pub"}, {"suite"}, json},
      0,
      0,
      RosterVerify});
  commands->push_back(
      Command{"roster",
              "show",
              "print a signed roster as a table",
              "tongbanctl roster show --in SIGNED [--root-pub PUBFILE --suite intl|gm] [--json]",
              "Prints version, federation, issue time and every node: code, name, role,\n"
              "status, endpoints and signing key ids. Without --root-pub the signature is\n"
              "not checked (and the output says so).\n\n"
              "Examples:\n"
              "  tongbanctl roster show --in roster.signed\n"
              "  tongbanctl roster show --in roster.signed --root-pub root.pub --suite gm --json\n",
              {{"in"}, {"root-pub"}, {"suite"}, json},
              0,
              0,
              RosterShow});
}

}  // namespace tongban::cli
