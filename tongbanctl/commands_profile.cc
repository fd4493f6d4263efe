// tongbanctl profile add|use|list|show|remove: the connection profiles of
// tongbanctl/profiles.h, so that online commands need no connection flags.
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/key_file.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"
#include "tongbanctl/commands_offline.h"
#include "tongbanctl/i18n.h"
#include "tongbanctl/profiles.h"

namespace tongban::cli {
namespace {

// `path` made absolute, after checking it reads (as a secret for keys).
absl::StatusOr<std::string> CheckedPath(const Args& args, const char* flag, bool secret) {
  TB_ASSIGN_OR_RETURN(std::string path, args.Required(flag));
  TB_RETURN_IF_ERROR(crypto::ReadSmallFile(path, secret).status());
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute.lexically_normal().string();
}

// "li.wei (clerk, 440305)" from the operator certificate, or "?".
std::string OperatorOf(const std::string& cert_path) {
  absl::StatusOr<std::string> pem = crypto::ReadSmallFile(cert_path, /*secret=*/false);
  if (!pem.ok()) return "?";
  absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromPem(*pem);
  if (!cert.ok()) return "?";
  absl::StatusOr<pki::OperatorIdentity> who = pki::OperatorFromCertificate(*cert);
  if (!who.ok()) return "?";
  return absl::StrCat(who->name, " (", who->role, ", ", who->county, ")");
}

absl::Status ProfileAdd(const Args& args, Io& io) {
  const std::string name = args.positional().front();
  const std::string path = ProfilesPath();
  TB_ASSIGN_OR_RETURN(Profiles all, ReadProfiles(path));
  if (all.profiles.count(name) != 0 && !args.Has("replace")) {
    return absl::AlreadyExistsError(
        absl::StrCat("profile ", name, " exists in ", path, " (--replace to change it)"));
  }
  Profile p;
  TB_ASSIGN_OR_RETURN(p.node, args.Required("node"));
  TB_ASSIGN_OR_RETURN(p.ca, CheckedPath(args, "ca", false));
  TB_ASSIGN_OR_RETURN(p.cert, CheckedPath(args, "cert", false));
  TB_ASSIGN_OR_RETURN(p.key, CheckedPath(args, "key", true));
  if (args.Has("password-file")) {
    TB_ASSIGN_OR_RETURN(p.password_file, CheckedPath(args, "password-file", true));
  }
  if (args.Has("totp-prompt")) p.totp = "prompt";
  if (p.password_file.empty() && p.totp.empty()) {
    return absl::InvalidArgumentError(
        "give the second factor: --password-file FILE and/or --totp-prompt");
  }
  all.profiles[name] = p;
  if (all.current.empty() || args.Has("use")) all.current = name;
  TB_RETURN_IF_ERROR(WriteProfiles(path, all));
  io.out << (ChineseLocale() ? "已保存连接配置 " : "saved profile ") << name << " (" << path << ")"
         << (all.current == name ? (ChineseLocale() ? "，当前使用" : ", in use") : "") << "\n";
  return absl::OkStatus();
}

absl::Status ProfileUse(const Args& args, Io& io) {
  const std::string name = args.positional().front();
  const std::string path = ProfilesPath();
  TB_ASSIGN_OR_RETURN(Profiles all, ReadProfiles(path));
  if (all.profiles.count(name) == 0) {
    return absl::NotFoundError(absl::StrCat("no profile \"", name, "\" in ", path));
  }
  all.current = name;
  TB_RETURN_IF_ERROR(WriteProfiles(path, all));
  io.out << (ChineseLocale() ? "当前连接配置：" : "now using profile ") << name << "\n";
  return absl::OkStatus();
}

absl::Status ProfileRemove(const Args& args, Io& io) {
  const std::string name = args.positional().front();
  const std::string path = ProfilesPath();
  TB_ASSIGN_OR_RETURN(Profiles all, ReadProfiles(path));
  if (all.profiles.erase(name) == 0) {
    return absl::NotFoundError(absl::StrCat("no profile \"", name, "\" in ", path));
  }
  if (all.current == name) all.current.clear();
  TB_RETURN_IF_ERROR(WriteProfiles(path, all));
  io.out << (ChineseLocale() ? "已删除连接配置 " : "removed profile ") << name << "\n";
  return absl::OkStatus();
}

absl::Status ProfileList(const Args&, Io& io) {
  const std::string path = ProfilesPath();
  TB_ASSIGN_OR_RETURN(Profiles all, ReadProfiles(path));
  if (all.profiles.empty()) {
    io.out << (ChineseLocale() ? "（无连接配置；tongbanctl profile add）\n"
                               : "(no profiles; tongbanctl profile add)\n");
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"", Tr("NAME"), Tr("NODE"), Tr("OPERATOR")});
  for (const auto& [name, p] : all.profiles) {
    rows.push_back({name == all.current ? "*" : "", name, p.node, OperatorOf(p.cert)});
  }
  std::vector<size_t> width(4, 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    io.out << line << "\n";
  }
  return absl::OkStatus();
}

absl::Status ProfileShow(const Args& args, Io& io) {
  const std::string path = ProfilesPath();
  TB_ASSIGN_OR_RETURN(Profiles all, ReadProfiles(path));
  const std::string name = args.positional().empty() ? all.current : args.positional().front();
  const auto it = all.profiles.find(name);
  if (it == all.profiles.end()) {
    return absl::NotFoundError(
        name.empty() ? absl::StrCat("no profile in use (", path, "; tongbanctl profile use NAME)")
                     : absl::StrCat("no profile \"", name, "\" in ", path));
  }
  const Profile& p = it->second;
  io.out << "profile        " << name << (name == all.current ? " (in use)" : "") << "\n"
         << "node           " << p.node << "\n"
         << "ca             " << p.ca << "\n"
         << "cert           " << p.cert << "  " << OperatorOf(p.cert) << "\n"
         << "key            " << p.key << "\n"
         << "password_file  " << (p.password_file.empty() ? "-" : p.password_file) << "\n"
         << "totp           " << (p.totp.empty() ? "-" : p.totp) << "\n";
  return absl::OkStatus();
}

constexpr char kFileHelp[] =
    "Profiles live in $XDG_CONFIG_HOME/tongban/profiles.conf (default\n"
    "~/.config/tongban/profiles.conf, mode 0600). An online command uses --profile NAME,\n"
    "else TONGBAN_PROFILE, else the current profile; a connection flag or TONGBAN_*\n"
    "variable overrides the profile's value.\n";

}  // namespace

void AddProfileCommands(std::vector<Command>* c) {
  c->push_back(Command{
      "profile",
      "add",
      "save a connection profile: node, CA, operator certificate, second factor",
      "tongbanctl profile add NAME --node HOST:PORT --ca FILE --cert FILE --key FILE "
      "[--password-file FILE] [--totp-prompt] [--use] [--replace]",
      absl::StrCat("Flags:\n"
                   "  --node HOST:PORT       the node's Admin port\n"
                   "  --ca FILE              CA of the node's certificate\n"
                   "  --cert FILE, --key FILE  your operator certificate and key (0600)\n"
                   "  --password-file FILE   your password file (0600)\n"
                   "  --totp-prompt          ask for the TOTP code on every command\n"
                   "  --use                  make it the current profile (the first one is)\n"
                   "  --replace              replace a profile of that name\n\n",
                   kFileHelp,
                   "\nExamples:\n"
                   "  tongbanctl profile add nanshan --node 127.0.0.1:7444 --ca "
                   "/etc/tongban/tls/ca.crt \\\n"
                   "      --cert li.wei.crt --key li.wei.key --password-file li.wei.password\n"
                   "  tongbanctl status\n"),
      {{"node"},
       {"ca"},
       {"cert"},
       {"key"},
       {"password-file"},
       {"totp-prompt", false},
       {"use", false},
       {"replace", false}},
      1,
      1,
      ProfileAdd});
  c->push_back(Command{"profile",
                       "use",
                       "make a profile the current one",
                       "tongbanctl profile use NAME",
                       absl::StrCat(kFileHelp, "\nExample:\n  tongbanctl profile use nanshan\n"),
                       {},
                       1,
                       1,
                       ProfileUse});
  c->push_back(Command{"profile",
                       "list",
                       "the saved profiles; * marks the current one",
                       "tongbanctl profile list",
                       absl::StrCat(kFileHelp, "\nExample:\n  tongbanctl profile list\n"),
                       {},
                       0,
                       0,
                       ProfileList});
  c->push_back(Command{"profile",
                       "show",
                       "a profile's settings (the current one by default)",
                       "tongbanctl profile show [NAME]",
                       absl::StrCat(kFileHelp, "\nExample:\n  tongbanctl profile show\n"),
                       {},
                       0,
                       1,
                       ProfileShow});
  c->push_back(Command{"profile",
                       "remove",
                       "delete a profile",
                       "tongbanctl profile remove NAME",
                       absl::StrCat(kFileHelp, "\nExample:\n  tongbanctl profile remove nanshan\n"),
                       {},
                       1,
                       1,
                       ProfileRemove});
}

}  // namespace tongban::cli
