// The offline operator commands: a county's operator CA and its operator
// accounts (admin/operators.h), on files, before or beside a running node.
//
//   operator init   DIR/ca.key (0600), DIR/ca.crt, DIR/county, DIR/accounts (0600)
//   operator add    DIR/NAME.key (0600), DIR/NAME.crt, the account in
//                   DIR/accounts; DIR/NAME.password (0600) when the password
//                   was generated; DIR/NAME.totp (0600, the otpauth URI) with --totp
//
// The node reads the accounts file when it starts: restart it after adding
// an account. Passwords are never printed and never taken from a flag.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "admin/operators.h"
#include "admin/totp.h"
#include "common/crypto/key_file.h"
#include "common/crypto/suite.h"
#include "common/ids/region.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"
#include "tongbanctl/commands_offline.h"
#include "tongbanctl/files.h"

namespace tongban::cli {
namespace {

// 20 characters from an alphabet without look-alikes: about 115 bits.
absl::StatusOr<std::string> GeneratePassword() {
  static constexpr char kAlphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
  TB_ASSIGN_OR_RETURN(std::string random, crypto::RandomBytes(20));
  std::string out;
  for (unsigned char c : random) out.push_back(kAlphabet[c % (sizeof(kAlphabet) - 1)]);
  return out;
}

absl::Status OperatorInit(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string dir, args.Required("out"));
  TB_ASSIGN_OR_RETURN(std::string county, args.Required("county"));
  TB_RETURN_IF_ERROR(Prefixed(absl::StrCat("--county ", county), ids::ValidateNodeCode(county)));
  TB_ASSIGN_OR_RETURN(long long days, args.GetInt("days", 3650, 1, 36500));
  const std::string key_path = dir + "/ca.key";
  const std::string cert_path = dir + "/ca.crt";
  const std::string accounts_path = dir + "/accounts";
  TB_RETURN_IF_ERROR(EnsureDir(dir));
  TB_RETURN_IF_ERROR(RefuseExisting({key_path, cert_path, accounts_path}));
  pki::CaOptions options;
  options.name = absl::StrCat("Tongban operator CA of ", county);
  options.days = static_cast<int>(days);
  options.now = absl::Now();
  TB_ASSIGN_OR_RETURN(pki::KeyAndCertificate ca, pki::CreateCa(options));
  TB_RETURN_IF_ERROR(pki::WriteTlsKeyFile(ca.key, key_path));
  TB_RETURN_IF_ERROR(pki::WriteCertificateFile(ca.cert, cert_path));
  TB_RETURN_IF_ERROR(WriteNewFile(dir + "/county", county + "\n", 0644));
  TB_RETURN_IF_ERROR(WriteNewFile(accounts_path, admin::EncodeAccountsFile({}), 0600));
  io.out << "created the operator CA of node " << county << "\n"
         << "  " << key_path << "  CA private key (mode 0600; keep it offline)\n"
         << "  " << cert_path << "  CA certificate ([admin] operator_ca in tongband.conf)\n"
         << "  " << accounts_path << "  operator accounts ([admin] operators), empty\n"
         << "next: tongbanctl operator add --dir " << dir << " --name NAME --role clerk\n";
  return absl::OkStatus();
}

absl::Status OperatorAdd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string dir, args.Required("dir"));
  TB_ASSIGN_OR_RETURN(std::string name, args.Required("name"));
  TB_RETURN_IF_ERROR(Prefixed("--name", pki::ValidateOperatorName(name)));
  TB_ASSIGN_OR_RETURN(std::string role_text, args.Required("role"));
  absl::StatusOr<admin::Role> role = admin::ParseRole(role_text);
  if (!role.ok()) return Prefixed("--role", role.status());
  TB_ASSIGN_OR_RETURN(std::string suite_text, args.Required("suite"));
  absl::StatusOr<crypto::SuiteId> suite = crypto::ParseSuiteId(suite_text);
  if (!suite.ok()) return Prefixed("--suite", suite.status());
  TB_ASSIGN_OR_RETURN(long long days, args.GetInt("days", 365, 1, 36500));
  TB_ASSIGN_OR_RETURN(std::string county_text, ReadFile(dir + "/county"));
  const std::string county(absl::StripAsciiWhitespace(county_text));

  const std::string key_path = absl::StrCat(dir, "/", name, ".key");
  const std::string cert_path = absl::StrCat(dir, "/", name, ".crt");
  const std::string password_path = absl::StrCat(dir, "/", name, ".password");
  const std::string totp_path = absl::StrCat(dir, "/", name, ".totp");
  TB_ASSIGN_OR_RETURN(std::unique_ptr<admin::OperatorAccounts> accounts,
                      admin::OperatorAccounts::Open(dir + "/accounts"));
  if (accounts->Find(name).has_value()) {
    return absl::AlreadyExistsError(
        absl::StrCat(dir, "/accounts: operator ", name, " already has an account"));
  }
  TB_RETURN_IF_ERROR(RefuseExisting({key_path, cert_path, password_path, totp_path}));

  std::string password;
  const bool generated = !args.Has("password-file");
  if (generated) {
    TB_ASSIGN_OR_RETURN(password, GeneratePassword());
  } else {
    TB_ASSIGN_OR_RETURN(std::string text,
                        crypto::ReadSmallFile(args.Get("password-file"), /*secret=*/true));
    password = std::string(absl::StripTrailingAsciiWhitespace(text));
  }
  TB_RETURN_IF_ERROR(Prefixed("password", admin::CheckPasswordPolicy(password)));
  admin::OperatorAccount account;
  account.name = name;
  account.role = *role;
  TB_ASSIGN_OR_RETURN(account.password_hash, admin::HashPassword(*suite, password));
  if (args.Has("totp")) {
    TB_ASSIGN_OR_RETURN(account.totp_secret, admin::GenerateTotpSecret());
  }

  TB_ASSIGN_OR_RETURN(pki::TlsKey ca_key, pki::ReadTlsKeyFile(dir + "/ca.key"));
  TB_ASSIGN_OR_RETURN(pki::Certificate ca_cert, pki::ReadCertificateFile(dir + "/ca.crt"));
  pki::OperatorCertOptions options;
  options.county = county;
  options.name = name;
  options.role = std::string(admin::RoleName(*role));
  options.days = static_cast<int>(days);
  options.now = absl::Now();
  TB_ASSIGN_OR_RETURN(pki::KeyAndCertificate issued,
                      pki::IssueOperatorCertificate(ca_key, ca_cert, options));
  TB_RETURN_IF_ERROR(pki::WriteTlsKeyFile(issued.key, key_path));
  TB_RETURN_IF_ERROR(pki::WriteCertificateFile(issued.cert, cert_path));
  if (generated) TB_RETURN_IF_ERROR(WriteNewFile(password_path, password + "\n", 0600));
  if (!account.totp_secret.empty()) {
    TB_RETURN_IF_ERROR(WriteNewFile(
        totp_path,
        admin::TotpUri(absl::StrCat("Tongban ", county), name, account.totp_secret) + "\n", 0600));
  }
  TB_RETURN_IF_ERROR(accounts->Put(account));
  io.out << "added operator " << name << " (" << options.role << ") of node " << county << "\n"
         << "  " << cert_path << ", " << key_path << "  the operator's certificate and key\n";
  if (generated) io.out << "  " << password_path << "  the generated password (mode 0600)\n";
  if (!account.totp_secret.empty()) {
    io.out << "  " << totp_path << "  TOTP enrolment URI: load it into an authenticator app\n";
  }
  io.out << "restart tongband to load the account\n";
  return absl::OkStatus();
}

}  // namespace

void AddOperatorCommands(std::vector<Command>* commands) {
  Command init;
  init.group = "operator";
  init.name = "init";
  init.summary = "create a county's operator CA and empty accounts file";
  init.usage = "tongbanctl operator init --out DIR --county CODE [--days N]";
  init.details =
      "  --out DIR       folder for ca.key, ca.crt, county and accounts (never overwritten)\n"
      "  --county CODE   the county node the operators work at\n"
      "  --days N        validity of the CA in days (default 3650)\n\n"
      "Examples:\n"
      "  tongbanctl operator init --out /etc/tongban/operators --county 440305\n";
  init.flags = {{"out"}, {"county"}, {"days"}};
  init.run = OperatorInit;
  commands->push_back(init);

  Command add;
  add.group = "operator";
  add.name = "add";
  add.summary = "add an operator: certificate from the operator CA, account with password";
  add.usage =
      "tongbanctl operator add --dir DIR --name NAME --role clerk|administrator|auditor "
      "--suite intl|gm [--password-file FILE] [--totp] [--days N]";
  add.details =
      "  --dir DIR             the folder of operator init\n"
      "  --name NAME           the account name: a-z, 0-9, '.', '_', '-'\n"
      "  --role ROLE           clerk (casework), administrator (runs the node, no personal\n"
      "                        data), auditor (reads the audit trail only)\n"
      "  --suite intl|gm       the node's suite: the password hash uses its hash function\n"
      "  --password-file FILE  the password (at least 12 characters); without it one is\n"
      "                        generated into DIR/NAME.password (mode 0600)\n"
      "  --totp                enrol a TOTP secret as well (DIR/NAME.totp)\n"
      "  --days N              certificate validity in days (default 365)\n\n"
      "Examples:\n"
      "  tongbanctl operator add --dir /etc/tongban/operators --name li.wei --role clerk "
      "--suite gm\n";
  add.flags = {{"dir"},           {"name"},        {"role"}, {"suite"},
               {"password-file"}, {"totp", false}, {"days"}};
  add.run = OperatorAdd;
  commands->push_back(add);
}

}  // namespace tongban::cli
