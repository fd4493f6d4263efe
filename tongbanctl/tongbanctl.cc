#include "tongbanctl/tongbanctl.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/version.h"
#include "tongbanctl/commands_backup.h"
#include "tongbanctl/commands_bundle.h"
#include "tongbanctl/commands_import.h"
#include "tongbanctl/commands_ledger.h"
#include "tongbanctl/commands_offline.h"
#include "tongbanctl/commands_online.h"
#include "tongbanctl/completion.h"
#include "tongbanctl/i18n.h"

namespace tongban::cli {
namespace {

constexpr absl::string_view kExitCodesHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  other failure (I/O, internal error)\n"
    "  2  bad input: usage, malformed file, invalid node code, existing output file\n"
    "  3  refused: verification failed, a key file readable by group or others, the\n"
    "     node refused the operator (authentication, role, lock-out) or the work in its\n"
    "     present state (writes while appends are blocked; see tongbanctl status)\n";

std::string FullName(const Command& c) {
  return c.name.empty() ? c.group : absl::StrCat(c.group, " ", c.name);
}

std::vector<Command> AllCommands();

absl::Status Completion(const Args& args, Io& io) {
  const std::string shell = args.positional().front();
  if (shell == "bash") {
    io.out << BashCompletion(AllCommands());
  } else if (shell == "zsh") {
    io.out << ZshCompletion(AllCommands());
  } else {
    return absl::InvalidArgumentError(absl::StrCat("\"", shell, "\" is not bash or zsh"));
  }
  return absl::OkStatus();
}

std::vector<Command> AllCommands() {
  std::vector<Command> commands;
  AddOnlineCommands(&commands);
  AddLedgerCommands(&commands);
  AddBackupOnlineCommands(&commands);
  AddBundleCommands(&commands);
  AddOfflineCommands(&commands);
  AddOperatorCommands(&commands);
  AddCertificateCommands(&commands);
  AddImportCommands(&commands);
  AddProfileCommands(&commands);
  AddBackupOfflineCommands(&commands);
  commands.push_back(
      Command{"completion",
              "",
              "print the bash or zsh completion script (the .deb installs both)",
              "tongbanctl completion bash|zsh",
              "Prints a completion script made from tongbanctl's own command table: groups,\n"
              "commands, flags, --suite and --role values, profile names, file names.\n\n"
              "Examples:\n"
              "  source <(tongbanctl completion bash)            # this bash session\n"
              "  tongbanctl completion zsh > ~/.zfunc/_tongbanctl  # zsh, with ~/.zfunc in fpath\n",
              {},
              1,
              1,
              Completion});
  return commands;
}

void PrintTopHelp(const std::vector<Command>& commands, std::ostream& out) {
  out << "tongbanctl: the operator's tool for a Tongban (通办) node and its federation.\n\n"
         "Usage: tongbanctl <group> [<command>] [flags]\n"
         "       tongbanctl <group> [<command>] --help\n"
         "       tongbanctl --version\n";
  size_t width = 0;
  for (const Command& c : commands) width = std::max(width, FullName(c).size());
  bool online = true;
  out << "\nOnline commands (the Admin service of your node; see any one's --help):\n";
  for (const Command& c : commands) {
    if (online && c.group == "keys") {
      online = false;
      out << "\nOffline commands (files only; no running node needed):\n";
    }
    const std::string name = FullName(c);
    out << "  " << name << std::string(width + 2 - name.size(), ' ') << c.summary << "\n";
  }
  out << "\n"
      << kExitCodesHelp
      << "\nErrors are one line on stderr: \"tongbanctl: <command>: <what and where>\".\n"
         "Commands that show data print a table or text by default and JSON with --json;\n"
         "times carry their zone (+08:00). With LANG or LC_ALL zh_CN.* the everyday\n"
         "commands print Chinese (中文) messages and headings.\n\n"
         "Connection flags can be saved once in a profile (tongbanctl profile add; chosen by\n"
         "--profile NAME or TONGBAN_PROFILE); shell completion: tongbanctl completion bash|zsh.\n\n"
         "Example:\n"
         "  tongbanctl keys generate --suite gm --out root\n"
         "  tongbanctl profile add nanshan --node 127.0.0.1:7444 --ca ca.crt --cert me.crt "
         "--key me.key --password-file pw\n"
         "  tongbanctl status\n"
         "  tongbanctl roster sign --help\n";
}

void PrintGroupHelp(const std::vector<Command>& commands, absl::string_view group,
                    std::ostream& out) {
  out << "Usage: tongbanctl " << group << " <command> [flags]\n\nCommands:\n";
  for (const Command& c : commands) {
    if (c.group == group) out << "  " << FullName(c) << "  " << c.summary << "\n";
  }
  out << "\nRun \"tongbanctl " << group << " <command> --help\" for a command's flags.\n";
}

void PrintCommandHelp(const Command& c, std::ostream& out) {
  out << "Usage: " << c.usage << "\n\n" << c.summary << ".\n\n" << c.details;
  if (!c.details.empty() && c.details.back() != '\n') out << "\n";
}

}  // namespace

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange: return kExitBadInput;
    case absl::StatusCode::kFailedPrecondition:  // the state refuses it (appends blocked)
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kResourceExhausted:  // locked out
      return kExitRefused;
    default: return kExitFailure;
  }
}

int RunTongbanctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const std::vector<Command> commands = AllCommands();
  if (args.empty()) {
    err << "tongbanctl: no command given: see tongbanctl --help\n";
    return kExitBadInput;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintTopHelp(commands, out);
    return kExitOk;
  }
  if (args[0] == "--version") {
    out << "tongbanctl " << Version() << " (commit " << Commit() << ")\n";
    return kExitOk;
  }
  const std::string& group = args[0];
  const bool known_group = std::any_of(commands.begin(), commands.end(),
                                       [&](const Command& c) { return c.group == group; });
  if (!known_group) {
    err << "tongbanctl: unknown command group \"" << group << "\": see tongbanctl --help\n";
    return kExitBadInput;
  }
  const Command* command = nullptr;
  const Command* group_command = nullptr;  // "tongbanctl status": no command word
  for (const Command& c : commands) {
    if (c.group != group) continue;
    if (c.name.empty()) group_command = &c;
    if (args.size() >= 2 && c.name == args[1] && !c.name.empty()) command = &c;
  }
  size_t first_flag = 2;
  if (command == nullptr && group_command != nullptr) {
    command = group_command;
    first_flag = 1;
  }
  if (command == nullptr && (args.size() < 2 || args[1] == "--help" || args[1] == "-h")) {
    if (args.size() < 2) {
      err << "tongbanctl: " << group << ": no command given: see tongbanctl " << group
          << " --help\n";
      return kExitBadInput;
    }
    PrintGroupHelp(commands, group, out);
    return kExitOk;
  }
  if (command == nullptr) {
    err << "tongbanctl: unknown command \"" << group << " " << args[1] << "\": see tongbanctl "
        << group << " --help\n";
    return kExitBadInput;
  }
  const std::string what = FullName(*command);
  const std::vector<std::string> rest(args.begin() + first_flag, args.end());
  absl::StatusOr<Args> parsed =
      Args::Parse(rest, command->flags, command->min_positional, command->max_positional);
  if (!parsed.ok()) {
    err << "tongbanctl: " << what << ": " << parsed.status().message()
        << " (usage: " << command->usage << "; see --help)\n";
    return kExitBadInput;
  }
  if (parsed->Has("help")) {
    PrintCommandHelp(*command, out);
    return kExitOk;
  }
  Io io{out, err};
  const absl::Status status = command->run(*parsed, io);
  out.flush();
  if (!status.ok()) err << "tongbanctl: " << what << ": " << status.message() << "\n";
  return ExitCodeFor(status);
}

}  // namespace tongban::cli
