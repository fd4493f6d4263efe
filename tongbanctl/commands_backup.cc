#include "tongbanctl/commands_backup.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "tongbanctl/admin_client.h"
#include "tongbanctl/commands_online.h"

namespace tongban::cli {
namespace {

absl::Status BackupCreateCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::BackupRequest r;
  r.set_reason(args.Get("reason"));
  TB_ASSIGN_OR_RETURN(v1::BackupReply reply, client->Backup(r));
  if (args.Has("json")) return PrintJson(reply, io);
  io.out << "backup " << reply.backup_id() << " written to " << reply.dir() << ": " << reply.files()
         << " files, " << absl::StrFormat("%.1f MiB", reply.size_bytes() / 1048576.0)
         << ", own log checkpoint at size " << reply.checkpoint_size() << "\n";
  if (reply.removed_backup_ids_size() > 0) {
    io.out << "removed older backup " << absl::StrJoin(reply.removed_backup_ids(), ", ")
           << " (keeping the newest " << reply.backup_keep() << ", [storage] backup_keep)\n";
  }
  if (!reply.purge_error().empty()) {
    io.out << "the backup is good, but removing older backups failed: " << reply.purge_error()
           << "\n";
  }
  io.out << "copy the folder off this machine; keep the storage key apart from it\n";
  return absl::OkStatus();
}

absl::Status KeyRotateCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::RotateKeyRequest r;
  r.set_reason(args.Get("reason"));
  TB_ASSIGN_OR_RETURN(v1::RotateKeyReply reply, client->RotateKey(r));
  if (args.Has("json")) return PrintJson(reply, io);
  io.out << "the log is signed by key " << reply.new_key_id() << " from epoch " << reply.epoch()
         << " seq " << reply.seq() << " on (key " << reply.old_key_id()
         << " is retired; what it signed stays valid)\n"
         << "new public key (DATA/signing.pub):\n"
         << reply.public_key_pem()
         << "peers learn the new key from the rotation entry itself; send signing.pub to the\n"
            "federation so that its roster lists the key too (tongbanctl roster add-key), which\n"
            "certificates this node issues from now on need to verify offline\n";
  return absl::OkStatus();
}

// The tongband binary that runs the offline commands.
std::string Tongband() {
  const char* env = std::getenv("TONGBAND");
  if (env != nullptr && env[0] != '\0') return env;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path beside = self.parent_path() / "tongband";
    if (access(beside.c_str(), X_OK) == 0) return beside.string();
  }
  return "tongband";
}

// Runs `tongband backup-tool words... flags...`, copying its stdout to
// io.out. Its stderr (one line on failure) becomes the returned status,
// with the code its exit code stands for.
absl::Status RunTool(const std::vector<std::string>& words, const Args& args,
                     const std::vector<FlagSpec>& flags, Io& io) {
  std::vector<std::string> argv = {Tongband(), "backup-tool"};
  argv.insert(argv.end(), words.begin(), words.end());
  for (const FlagSpec& f : flags) {
    if (f.name == "help" || !args.Has(f.name)) continue;
    argv.push_back("--" + f.name);
    if (f.takes_value) argv.push_back(args.Get(f.name));
  }
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t pid = fork();
  if (pid < 0) return absl::UnavailableError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execvp(cargv[0], cargv.data());
    const char msg[] = "cannot run tongband (set TONGBAND to its path)\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  std::string err_text;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (pollfd& p : fds) {
      if (p.fd < 0 || p.revents == 0) continue;
      const ssize_t n = read(p.fd, buf, sizeof(buf));
      if (n > 0) {
        if (p.fd == out_pipe[0]) {
          io.out.write(buf, n);
        } else {
          err_text.append(buf, n);
        }
      } else if (n == 0 || errno != EINTR) {
        close(p.fd);
        p.fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  // The last line is the error; anything before it (warnings) is shown as is.
  std::string message(absl::StripTrailingAsciiWhitespace(err_text));
  const size_t last_line = message.rfind('\n');
  if (code == kExitOk && !message.empty()) {
    io.err << message << "\n";
  } else if (last_line != std::string::npos) {
    io.err << message.substr(0, last_line + 1);
    message = message.substr(last_line + 1);
  }
  switch (code) {
    case kExitOk: return absl::OkStatus();
    case kExitBadInput: return absl::InvalidArgumentError(message);
    case kExitRefused: return absl::FailedPreconditionError(message);
    case 127: return absl::UnavailableError(absl::StrCat(message, " (looked for ", argv[0], ")"));
    default: return absl::UnknownError(message.empty() ? "tongband backup-tool failed" : message);
  }
}

Command Offline(std::vector<std::string> words, std::string summary, std::string usage,
                std::string details, std::vector<FlagSpec> flags) {
  Command c;
  c.group = words[0];
  c.name = words.size() > 1 ? words[1] : "";
  c.summary = std::move(summary);
  c.usage = std::move(usage);
  c.details = std::move(details);
  c.flags = flags;
  c.run = [words, flags](const Args& args, Io& io) { return RunTool(words, args, flags, io); };
  return c;
}

}  // namespace

void AddBackupOnlineCommands(std::vector<Command>* c) {
  c->push_back(
      Online("backup", "create",
             "back the running node up into its configured folder (administrators; audited)",
             "tongbanctl backup create [--reason TEXT]",
             "  --reason TEXT          why (audited)\n"
             "The node writes an incremental, checksummed backup of its database into\n"
             "[storage] backup_dir of its configuration (default DATA_DIR/backups) while it\n"
             "keeps working; the folder is never taken from the command. Files are encrypted\n"
             "with the node's storage key, which is never in the backup: keep storage.key\n"
             "apart (see tongbanctl restore --help). After the backup the node keeps the\n"
             "newest [storage] backup_keep backups there (default 7; 0 keeps all) and\n"
             "removes older ones, printing their ids; if that fails, the backup still stands\n"
             "and the failure is printed. A clerk or auditor is refused (exit 3).\n",
             "  tongbanctl backup create --reason \"nightly\"\n"
             "  rsync -a /var/lib/tongban/backups/ backup-host:/srv/tongban/440305/\n",
             WithConnection({{"reason"}}), 0, BackupCreateCmd));
  c->push_back(
      Online("keys", "rotate", "rotate the key that signs the node's log (administrators; audited)",
             "tongbanctl keys rotate [--reason TEXT]",
             "  --reason TEXT          why (audited)\n"
             "The node makes a new signing key on its own machine and appends a rotation\n"
             "entry to its log, signed by the old key and the new one: from that entry on\n"
             "its checkpoints are signed by the new key, and every peer accepts them by the\n"
             "entry (sent with each batch) without waiting for a new roster; the old key\n"
             "signs nothing newer, and everything it signed before stays valid. The new key\n"
             "becomes DATA/signing.key and DATA/signing.pub; the old one is kept as\n"
             "DATA/retired-signing-KEYID.key. Send the new signing.pub to the federation for\n"
             "its roster (certificates and revocation lists verify offline against the\n"
             "roster). Take a backup afterwards. On the national node the witness cosigns\n"
             "with the new key at once; its answers carry the rotation to the counties.\n"
             "Refused while the node refuses writes (exit 3).\n",
             "  tongbanctl keys rotate --reason \"yearly rotation\"\n",
             WithConnection({{"reason"}}), 0, KeyRotateCmd));
}

void AddBackupOfflineCommands(std::vector<Command>* c) {
  c->push_back(Offline(
      {"backup", "list"}, "the backups in a folder: ids, times, sizes, checkpoints (no key needed)",
      "tongbanctl backup list --dir DIR [--json]",
      "  --dir DIR              the backup folder (a copy of [storage] backup_dir)\n"
      "  --json                 one object per backup\n"
      "Lists what each backup's plaintext metadata says: id, when it was made, its\n"
      "size and files, the node and suite, and the size of its own log's checkpoint.\n"
      "It reads no data and needs no key.\n\n"
      "Examples:\n"
      "  tongbanctl backup list --dir /var/lib/tongban/backups\n",
      {{"dir"}, {"json", false}}));
  c->push_back(Offline(
      {"backup", "verify"},
      "check a backup: every file's checksum, the storage key, the recorded checkpoint",
      "tongbanctl backup verify --dir DIR [--id N] --storage-key FILE [--public-key FILE] "
      "[--data-dir DATA]",
      "  --dir DIR              the backup folder\n"
      "  --id N                 the backup (default: the newest)\n"
      "  --storage-key FILE     the node's storage.key (default: DATA/storage.key)\n"
      "  --public-key FILE      the node's signing.pub (default: DATA/signing.pub)\n"
      "  --data-dir DATA        the node's data folder, for the two defaults\n"
      "Checks every file against its checksum, restores the backup into a temporary\n"
      "folder, opens it with the storage key and checks that the checkpoint recorded\n"
      "with it verifies with the node's public key and matches the stored Merkle tree\n"
      "of the node's own log. A damaged file or a wrong key is refused (exit 3).\n\n"
      "Examples:\n"
      "  tongbanctl backup verify --dir /srv/tongban/440305 --storage-key /media/keys/storage.key "
      "--public-key signing.pub\n",
      {{"dir"}, {"id"}, {"storage-key"}, {"public-key"}, {"data-dir"}}));
  c->push_back(Offline(
      {"restore"}, "restore a backup into a stopped node's data folder (the old db is kept)",
      "tongbanctl restore --from DIR [--id N] --data-dir DATA [--storage-key FILE]",
      "  --from DIR             the backup folder\n"
      "  --id N                 the backup (default: the newest)\n"
      "  --data-dir DATA        the node's data folder (/var/lib/tongban)\n"
      "  --storage-key FILE     the storage key the backup was written with (default:\n"
      "                         DATA/storage.key); copied to DATA/storage.key, mode 0600\n"
      "Stop the node first (systemctl stop tongband): a database the daemon holds open\n"
      "is refused. The key is checked to open the backup before anything is moved.\n"
      "The backup is restored into\n"
      "DATA/db.restoring and checked, then the current DATA/db is moved to\n"
      "DATA/db.before-restore-<UTC time> (never deleted) and DATA/db.restoring becomes\n"
      "DATA/db. At its next start the node compares its own log with the national\n"
      "node's witness and fetches back its own events the national node holds: start\n"
      "it with systemctl start tongband.\n\n"
      "Examples:\n"
      "  tongbanctl restore --from /srv/tongban/440305 --data-dir /var/lib/tongban "
      "--storage-key /media/keys/storage.key\n"
      "  tongbanctl restore --from /var/lib/tongban/backups --id 3 --data-dir /var/lib/tongban\n",
      {{"from"}, {"id"}, {"data-dir"}, {"storage-key"}}));
}

}  // namespace tongban::cli
