// The operator commands: a county's operator CA and its operator accounts
// (admin/operators.h).
//
// Offline, on files, before or beside a running node (they need the CA key):
//   operator init   DIR/ca.key (0600), DIR/ca.crt, DIR/county, DIR/accounts (0600)
//   operator add    DIR/NAME.key (0600), DIR/NAME.crt, the account in
//                   DIR/accounts; DIR/NAME.password (0600) when the password
//                   was generated; DIR/NAME.totp (0600, the otpauth URI) with --totp
// A running node sees an added account at that operator's first call (it
// re-reads the accounts file when the file changed): no restart.
//
// Online, through the node's Admin service, as an administrator (audited):
//   operator list                  every account, its role, state, TOTP, lock-out
//   operator disable|enable NAME   refuse or allow the account's logins
//   operator reset-password NAME   a new password: from --new-password-file,
//                                  or generated into --out FILE (0600)
//   operator unlock NAME           lift a lock-out
//   operator enroll-totp NAME      a new TOTP secret; its otpauth URI into --out FILE (0600)
//
// Passwords and TOTP secrets are never printed and never taken from a flag.
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
#include "tongbanctl/admin_client.h"
#include "tongbanctl/commands_offline.h"
#include "tongbanctl/commands_online.h"
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
  io.out << "a running tongband loads the account at its first login (no restart)\n";
  return absl::OkStatus();
}

// --- Online: the accounts of a running node ---

absl::StatusOr<v1::ManageOperatorReply> Manage(const Args& args, v1::OperatorAction action,
                                               std::string new_password = "") {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::ManageOperatorRequest r;
  r.set_name(args.positional().front());
  r.set_action(action);
  r.set_new_password(std::move(new_password));
  r.set_reason(args.Get("reason"));
  return client->ManageOperator(r);
}

std::string LockoutText(const v1::OperatorInfo& o) {
  if (o.locked_until_micros() != 0)
    return absl::StrCat("locked until ", When(o.locked_until_micros()));
  if (o.failures() != 0) return absl::StrCat(o.failures(), " failed");
  return "-";
}

absl::Status PrintOperator(const v1::ManageOperatorReply& reply, absl::string_view done, Io& io,
                           const Args& args) {
  if (args.Has("json")) {
    v1::ManageOperatorReply shown = reply;
    shown.clear_totp_uri();  // a secret: only in the --out file
    return PrintJson(shown, io);
  }
  const v1::OperatorInfo& o = reply.operator_();
  io.out << done << " operator " << o.name() << " (" << o.role()
         << "): " << (o.disabled() ? "disabled" : "enabled") << ", TOTP "
         << (o.totp() ? "yes" : "no") << ", lock-out " << LockoutText(o) << "\n";
  return absl::OkStatus();
}

absl::Status OperatorList(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  TB_ASSIGN_OR_RETURN(v1::OperatorsReply reply, client->ListOperators(v1::OperatorsRequest()));
  if (args.Has("json")) return PrintJson(reply, io);
  std::vector<std::vector<std::string>> rows = {{"NAME", "ROLE", "STATE", "TOTP", "LOCK-OUT"}};
  for (const v1::OperatorInfo& o : reply.operators()) {
    rows.push_back({o.name(), o.role(), o.disabled() ? "disabled" : "enabled",
                    o.totp() ? "yes" : "no", LockoutText(o)});
  }
  PrintTable(std::move(rows), io);
  return absl::OkStatus();
}

absl::Status OperatorDisable(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto reply, Manage(args, v1::OPERATOR_ACTION_DISABLE));
  return PrintOperator(reply, "disabled", io, args);
}

absl::Status OperatorEnable(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto reply, Manage(args, v1::OPERATOR_ACTION_ENABLE));
  return PrintOperator(reply, "enabled", io, args);
}

absl::Status OperatorUnlock(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto reply, Manage(args, v1::OPERATOR_ACTION_UNLOCK));
  return PrintOperator(reply, "unlocked", io, args);
}

absl::Status OperatorResetPassword(const Args& args, Io& io) {
  const bool generated = !args.Has("new-password-file");
  if (generated == !args.Has("out")) {
    return absl::InvalidArgumentError(
        "give --new-password-file FILE (the new password), or --out FILE (where the generated "
        "one goes), not both");
  }
  std::string password;
  if (generated) {
    TB_RETURN_IF_ERROR(RefuseExisting({args.Get("out")}));
    TB_ASSIGN_OR_RETURN(password, GeneratePassword());
  } else {
    TB_ASSIGN_OR_RETURN(std::string text,
                        crypto::ReadSmallFile(args.Get("new-password-file"), /*secret=*/true));
    password = std::string(absl::StripTrailingAsciiWhitespace(text));
  }
  TB_RETURN_IF_ERROR(Prefixed("new password", admin::CheckPasswordPolicy(password)));
  TB_ASSIGN_OR_RETURN(auto reply, Manage(args, v1::OPERATOR_ACTION_RESET_PASSWORD, password));
  if (generated) {
    // Written after the node took it: a file never holds a password that
    // does not work. Should writing fail, reset again.
    TB_RETURN_IF_ERROR(
        Prefixed("the node took the new password, but it could not be written: reset again",
                 WriteNewFile(args.Get("out"), password + "\n", 0600)));
    io.out << "the new password is in " << args.Get("out")
           << " (mode 0600): hand it to the operator, then delete it\n";
  }
  return PrintOperator(reply, "reset the password of", io, args);
}

absl::Status OperatorEnrollTotp(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(std::string out, args.Required("out"));
  TB_RETURN_IF_ERROR(RefuseExisting({out}));
  TB_ASSIGN_OR_RETURN(auto reply, Manage(args, v1::OPERATOR_ACTION_ENROLL_TOTP));
  TB_RETURN_IF_ERROR(
      Prefixed("the node enrolled a new secret, but it could not be written: enrol "
               "again",
               WriteNewFile(out, reply.totp_uri() + "\n", 0600)));
  io.out << "the TOTP enrolment URI is in " << out
         << " (mode 0600): load it into the operator's authenticator app, then delete it\n";
  return PrintOperator(reply, "enrolled TOTP anew for", io, args);
}

void AddAccountCommands(std::vector<Command>* commands) {
  const std::string reason = "  --reason TEXT          why (audited)\n";
  commands->push_back(Online("operator", "list",
                             "every operator account: role, state, TOTP, lock-out "
                             "(administrators)",
                             "tongbanctl operator list", "", "  tongbanctl operator list\n",
                             ConnectionFlags(), 0, OperatorList));
  commands->push_back(Online("operator", "disable",
                             "refuse an operator's logins from their next call (administrators)",
                             "tongbanctl operator disable NAME [--reason TEXT]", reason,
                             "  tongbanctl operator disable li.wei --reason \"left the office\"\n",
                             WithConnection({{"reason"}}), 1, OperatorDisable));
  commands->push_back(Online(
      "operator", "enable", "allow a disabled operator again (administrators)",
      "tongbanctl operator enable NAME [--reason TEXT]", reason,
      "  tongbanctl operator enable li.wei\n", WithConnection({{"reason"}}), 1, OperatorEnable));
  commands->push_back(Online(
      "operator", "reset-password", "set a new password for an operator (administrators)",
      "tongbanctl operator reset-password NAME (--new-password-file FILE | --out FILE) "
      "[--reason TEXT]",
      absl::StrCat("  --new-password-file FILE  the new password (at least 12 characters)\n"
                   "  --out FILE             or: generate one and write it here (mode 0600)\n",
                   reason),
      "  tongbanctl operator reset-password li.wei --out li.wei.password\n",
      WithConnection({{"new-password-file"}, {"out"}, {"reason"}}), 1, OperatorResetPassword));
  commands->push_back(Online(
      "operator", "unlock", "lift an operator's lock-out after failed logins (administrators)",
      "tongbanctl operator unlock NAME [--reason TEXT]", reason,
      "  tongbanctl operator unlock li.wei\n", WithConnection({{"reason"}}), 1, OperatorUnlock));
  commands->push_back(Online(
      "operator", "enroll-totp",
      "a new TOTP secret for an operator; the old one stops working (administrators)",
      "tongbanctl operator enroll-totp NAME --out FILE [--reason TEXT]",
      absl::StrCat("  --out FILE             where the otpauth:// URI goes (mode 0600)\n", reason),
      "  tongbanctl operator enroll-totp li.wei --out li.wei.totp\n",
      WithConnection({{"out"}, {"reason"}}), 1, OperatorEnrollTotp));
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
  AddAccountCommands(commands);
}

}  // namespace tongban::cli
