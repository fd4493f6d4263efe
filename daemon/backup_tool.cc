#include "daemon/backup_tool.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/crypto/key_file.h"
#include "common/crypto/suite.h"
#include "common/log.h"
#include "common/merkle/checkpoint.h"
#include "common/status_macros.h"
#include "node/node.h"
#include "records/dates.h"
#include "storage/backup.h"
#include "storage/store.h"

namespace tongban::daemon {
namespace {

constexpr absl::string_view kKeyApart =
    "this backup cannot be opened without the storage key it was written with; the storage key "
    "is kept apart from backups: ";

using Flags = std::map<std::string, std::string>;

bool Has(const Flags& f, const std::string& name) { return f.count(name) > 0; }
std::string Get(const Flags& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? "" : it->second;
}

absl::StatusOr<std::string> Required(const Flags& f, const std::string& name) {
  std::string v = Get(f, name);
  if (v.empty()) return absl::InvalidArgumentError(absl::StrCat("missing --", name));
  return v;
}

// --id N, 0 (the newest) when absent.
absl::StatusOr<uint32_t> IdFlag(const Flags& f) {
  if (!Has(f, "id")) return 0;
  uint32_t id = 0;
  if (!absl::SimpleAtoi(Get(f, "id"), &id) || id == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--id: \"", Get(f, "id"), "\" is not a backup id (1, 2, ...)"));
  }
  return id;
}

std::string When(int64_t micros) {
  return records::ChinaTimeText(absl::FromUnixMicros(micros), "%Y-%m-%d %H:%M:%S %Ez");
}

std::string Mib(uint64_t bytes) {
  if (bytes < (1 << 20)) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  if (bytes < (1 << 30)) return absl::StrFormat("%.1f MiB", bytes / 1048576.0);
  return absl::StrFormat("%.2f GiB", bytes / 1073741824.0);
}

// The storage key of --storage-key, else of DATA/storage.key; a missing or
// unreadable file is the error that says the key is kept apart.
absl::StatusOr<std::pair<std::string, std::string>> StorageKey(const Flags& f,
                                                               const storage::BackupEntry& b) {
  std::string path = Get(f, "storage-key");
  if (path.empty() && Has(f, "data-dir")) path = Get(f, "data-dir") + "/storage.key";
  if (path.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kKeyApart, "give the node's storage.key with --storage-key FILE"));
  }
  absl::StatusOr<std::string> key =
      crypto::ReadStorageKeyFile(crypto::GetSuite(b.metadata.suite), path);
  if (!key.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kKeyApart, "cannot read ", path, " (", key.status().message(), ")"));
  }
  return std::make_pair(path, *std::move(key));
}

absl::Status List(const Flags& f, std::ostream& out) {
  TB_ASSIGN_OR_RETURN(const std::string dir, Required(f, "dir"));
  TB_ASSIGN_OR_RETURN(std::vector<storage::BackupEntry> all, storage::ListBackups(dir));
  if (Has(f, "json")) {
    out << "[";
    for (size_t i = 0; i < all.size(); ++i) {
      const storage::BackupEntry& b = all[i];
      out << (i == 0 ? "\n" : ",\n")
          << absl::StrFormat(
                 "  {\"backup_id\": %d, \"created_micros\": \"%d\", \"size_bytes\": \"%d\", "
                 "\"files\": %d, \"node\": \"%s\", \"suite\": \"%s\", \"epoch\": \"%d\", "
                 "\"checkpoint_size\": \"%d\"}",
                 b.id, b.metadata.created_micros, b.size_bytes, b.files, b.metadata.node,
                 crypto::SuiteName(b.metadata.suite), b.metadata.epoch, b.metadata.checkpoint_size);
    }
    out << (all.empty() ? "]\n" : "\n]\n");
    return absl::OkStatus();
  }
  if (all.empty()) {
    out << "no backups in " << dir << "\n";
    return absl::OkStatus();
  }
  out << absl::StrFormat("%-4s %-26s %10s %6s %-6s %-5s %s\n", "ID", "CREATED", "SIZE", "FILES",
                         "NODE", "SUITE", "CHECKPOINT");
  for (const storage::BackupEntry& b : all) {
    out << absl::StrFormat("%-4d %-26s %10s %6d %-6s %-5s %d\n", b.id,
                           When(b.metadata.created_micros), Mib(b.size_bytes), b.files,
                           b.metadata.node, crypto::SuiteName(b.metadata.suite),
                           b.metadata.checkpoint_size);
  }
  return absl::OkStatus();
}

// A fresh folder under $TMPDIR (or /tmp) for verify's restore.
absl::StatusOr<std::string> ScratchFolder() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp", "/tongban-verify-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::UnavailableError(absl::StrCat(pattern, ": cannot create a temporary folder"));
  }
  return pattern;
}

// The node's public key that signed the backup's checkpoint: `pub` (its
// signing.pub), or, when a key rotation has retired that key since, the
// retired-signing-KEYID.pub beside it (node/local_node.h).
absl::StatusOr<std::unique_ptr<crypto::PublicKey>> PublicKeyFor(const storage::BackupEntry& b,
                                                                const std::string& pub) {
  const crypto::Suite& suite = crypto::GetSuite(b.metadata.suite);
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> key,
                      crypto::ReadPublicKeyFile(suite, pub));
  v1::SignedCheckpoint sc;
  if (b.metadata.checkpoint.empty() || !sc.ParseFromString(b.metadata.checkpoint)) return key;
  absl::StatusOr<merkle::Checkpoint> cp = merkle::ParseCheckpoint(sc.body());
  if (!cp.ok() || cp->key_id == key->KeyId()) return key;
  const std::string retired = absl::StrCat(std::filesystem::path(pub).parent_path().string(),
                                           "/retired-signing-", cp->key_id, ".pub");
  std::error_code ec;
  if (!std::filesystem::exists(retired, ec)) return key;  // refused by the check, naming both
  return crypto::ReadPublicKeyFile(suite, retired);
}

absl::Status Verify(const Flags& f, std::ostream& out) {
  TB_ASSIGN_OR_RETURN(const std::string dir, Required(f, "dir"));
  TB_ASSIGN_OR_RETURN(const uint32_t id, IdFlag(f));
  TB_ASSIGN_OR_RETURN(storage::BackupEntry b, storage::FindBackup(dir, id));
  TB_ASSIGN_OR_RETURN(auto key, StorageKey(f, b));
  std::string pub = Get(f, "public-key");
  if (pub.empty() && Has(f, "data-dir")) pub = Get(f, "data-dir") + "/signing.pub";
  if (pub.empty()) {
    return absl::InvalidArgumentError(
        "missing --public-key FILE (the node's signing.pub) or --data-dir DATA holding it");
  }
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> public_key, PublicKeyFor(b, pub));
  TB_ASSIGN_OR_RETURN(const std::string scratch, ScratchFolder());
  absl::StatusOr<storage::BackupCheck> check =
      storage::VerifyBackup(dir, b.id, key.second, *public_key, scratch + "/db");
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  // A damaged file, a tree that does not match or a checkpoint that does
  // not verify: verification failed, which tongbanctl reports as refused.
  if (absl::IsDataLoss(check.status()) || absl::IsInvalidArgument(check.status())) {
    return absl::FailedPreconditionError(check.status().message());
  }
  if (!check.ok()) return check.status();
  out << "backup " << b.id << " in " << dir << ": OK\n"
      << "  made     " << When(b.metadata.created_micros) << " by node " << b.metadata.node << " ("
      << crypto::SuiteName(b.metadata.suite) << ")\n"
      << "  files    " << b.files << ", " << Mib(b.size_bytes) << ", every checksum matches\n"
      << "  key      " << key.first << " opens it\n";
  if (b.metadata.checkpoint_size == 0) {
    out << "  log      " << check->own_events << " events of its own log, no checkpoint yet\n";
  } else {
    out << "  log      checkpoint at size " << b.metadata.checkpoint_size << " verifies with "
        << pub << " and matches the stored Merkle tree (" << check->own_events
        << " events of its own log)\n";
  }
  return absl::OkStatus();
}

// Gives `path` (recursively) to the owner of `data_dir` when run by root, so
// that the daemon's user can open what root restored.
absl::Status OwnLikeDataDir(const std::string& data_dir, const std::string& path) {
  if (geteuid() != 0) return absl::OkStatus();
  struct stat st;
  if (stat(data_dir.c_str(), &st) != 0) return absl::OkStatus();
  std::error_code ec;
  auto own = [&](const std::filesystem::path& p) -> absl::Status {
    if (lchown(p.c_str(), st.st_uid, st.st_gid) != 0) {
      return absl::UnavailableError(absl::StrCat("chown ", p.string(), ": ", strerror(errno)));
    }
    return absl::OkStatus();
  };
  TB_RETURN_IF_ERROR(own(path));
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(path, ec)) {
      TB_RETURN_IF_ERROR(own(e.path()));
    }
  }
  return absl::OkStatus();
}

// Puts the key file `from` in place as data_dir/storage.key (0600); an
// existing different one is moved aside to storage.key.before-restore-STAMP.
absl::StatusOr<std::string> PlaceKey(const std::string& from, const std::string& data_dir,
                                     const std::string& stamp) {
  const std::string target = data_dir + "/storage.key";
  TB_ASSIGN_OR_RETURN(std::string bytes, crypto::ReadSmallFile(from, /*secret=*/true));
  std::error_code ec;
  if (std::filesystem::exists(target, ec)) {
    absl::StatusOr<std::string> old = crypto::ReadSmallFile(target, /*secret=*/true);
    if (old.ok() && *old == bytes) return std::string();
    const std::string aside = absl::StrCat(target, ".before-restore-", stamp);
    std::filesystem::rename(target, aside, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("move ", target, ": ", ec.message()));
    TB_RETURN_IF_ERROR(crypto::WriteNewFile(target, bytes, 0600));
    TB_RETURN_IF_ERROR(OwnLikeDataDir(data_dir, target));
    return aside;
  }
  TB_RETURN_IF_ERROR(crypto::WriteNewFile(target, bytes, 0600));
  TB_RETURN_IF_ERROR(OwnLikeDataDir(data_dir, target));
  return std::string();
}

// How much of its own log the data a restore replaces had signed, read
// with the key that encrypts it (the data folder's storage.key, or the
// restore's key): "<origin>/<epoch> <size>", or empty if it cannot be read
// (no db, another key, damage). The node compares it with what it gets back
// and closes the epoch if events were lost (node/node.h).
std::string SignedBefore(const std::string& data_dir, const storage::BackupEntry& b,
                         const std::string& restore_key) {
  const std::string db = data_dir + "/db";
  std::error_code ec;
  if (!std::filesystem::exists(db + "/CURRENT", ec)) return "";
  const crypto::Suite& suite = crypto::GetSuite(b.metadata.suite);
  for (const std::string& key : {std::string(), restore_key}) {
    storage::StoreOptions o;
    o.path = db;
    o.suite = b.metadata.suite;
    if (key.empty()) {
      absl::StatusOr<std::string> own =
          crypto::ReadStorageKeyFile(suite, data_dir + "/storage.key");
      if (!own.ok()) continue;
      o.storage_key = *own;
    } else {
      o.storage_key = key;
    }
    absl::StatusOr<std::unique_ptr<storage::Store>> store = storage::Store::Open(o);
    if (!store.ok()) continue;
    absl::StatusOr<uint64_t> epoch = (*store)->OwnEpoch();
    if (!epoch.ok()) continue;
    const storage::LogId own{b.metadata.node, *epoch};
    auto latest = (*store)->CheckpointAtOrBelow(own, ~uint64_t{0});
    if (!latest.ok()) continue;
    return absl::StrCat(own.origin, "/", own.epoch, " ",
                        latest->has_value() ? (*latest)->first : 0);
  }
  return "";
}

absl::Status Restore(const Flags& f, std::ostream& out) {
  TB_ASSIGN_OR_RETURN(const std::string dir, Required(f, "from"));
  TB_ASSIGN_OR_RETURN(const std::string data_dir, Required(f, "data-dir"));
  TB_ASSIGN_OR_RETURN(const uint32_t id, IdFlag(f));
  TB_RETURN_IF_ERROR(storage::CheckNotInUse(data_dir + "/db"));
  TB_ASSIGN_OR_RETURN(storage::BackupEntry b, storage::FindBackup(dir, id));
  TB_ASSIGN_OR_RETURN(auto key, StorageKey(f, b));
  // Before anything is moved: the key must open the backup.
  TB_RETURN_IF_ERROR(storage::CheckBackupKey(dir, b, key.second));
  std::unique_ptr<crypto::PublicKey> public_key;
  const std::string pub = data_dir + "/signing.pub";
  std::error_code ec;
  if (std::filesystem::exists(pub, ec)) {
    TB_ASSIGN_OR_RETURN(public_key, PublicKeyFor(b, pub));
  }
  const absl::Time now = absl::Now();
  // The marker makes the node's next start wait for the witness, however
  // long the national node is unreachable, before it appends (node/node.h):
  // appending first could sign seqs the national node already holds. Made
  // before the db moves, so that no restored db is ever without it.
  TB_RETURN_IF_ERROR(storage::CheckNotInUse(data_dir + "/db"));
  const std::string marker = absl::StrCat(data_dir, "/", node::kRestoredMarkerFile);
  const std::string signed_before = SignedBefore(data_dir, b, key.second);
  {
    std::ofstream m(marker, std::ios::trunc);
    m << "restoring backup " << b.id << " of " << dir << " at "
      << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone()) << "\n";
    if (!signed_before.empty()) m << "signed " << signed_before << "\n";
    if (!m.flush()) return absl::UnavailableError(absl::StrCat("cannot write ", marker));
  }
  absl::StatusOr<storage::RestoreResult> restored =
      storage::RestoreBackup(dir, b.id, key.second, data_dir, public_key.get(), now);
  if (!restored.ok()) std::filesystem::remove(marker, ec);
  // A damaged backup, or one whose checkpoint the node's key does not
  // verify (another node's backup): refused, and DATA/db is untouched.
  if (absl::IsDataLoss(restored.status()) || absl::IsInvalidArgument(restored.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat(restored.status().message(), "; ", data_dir, "/db is unchanged"));
  }
  TB_RETURN_IF_ERROR(restored.status());
  const storage::RestoreResult& r = *restored;
  TB_RETURN_IF_ERROR(OwnLikeDataDir(data_dir, data_dir + "/db"));
  std::string key_aside;
  if (Has(f, "storage-key")) {
    TB_ASSIGN_OR_RETURN(key_aside,
                        PlaceKey(key.first, data_dir,
                                 absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone())));
  }
  out << "restored backup " << b.id << " of " << dir << " (made " << When(b.metadata.created_micros)
      << ") into " << data_dir << "/db\n";
  out << "  own log     " << r.check.own_events << " events; checkpoint at size "
      << b.metadata.checkpoint_size
      << (r.check.checkpoint_verified ? " verified with " + pub
                                      : std::string(" (not verified: no ") + pub + ")")
      << "\n";
  if (!r.moved_aside.empty()) {
    out << "  previous db kept in " << r.moved_aside << " (never deleted; remove it yourself)\n";
  }
  if (Has(f, "storage-key")) {
    out << "  storage key " << data_dir << "/storage.key (from " << key.first << ", mode 0600"
        << (key_aside.empty() ? "" : absl::StrCat("; the previous key is in ", key_aside)) << ")\n";
  }
  out << (signed_before.empty()
              ? "  replaced    no readable data: events signed after the backup that never left\n"
                "              the node cannot be told apart from none\n"
              : absl::StrCat("  replaced    data that had signed its log ", signed_before,
                             " (origin/epoch size)\n"));
  out << "At its next start the node compares its own log with the national node's witness\n"
         "(the latest countersigned checkpoint of its log) and fetches back any of its own\n"
         "events the national node holds beyond this backup, before it appends again; it\n"
         "refuses writes until the national node has answered (the marker "
      << marker
      << ").\n"
         "Start it: systemctl start tongband\n";
  return absl::OkStatus();
}

int ExitCode(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk: return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange: return 2;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied: return 3;
    default: return 1;
  }
}

}  // namespace

int RunBackupTool(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  // stderr carries the one error line tongbanctl shows, not the store's
  // INFO lines (opening a restored copy logs them).
  SetMinLogLevel(LogLevel::kError);
  size_t first_flag = 0;
  std::string command;
  if (args.size() >= 2 && args[0] == "backup" && (args[1] == "list" || args[1] == "verify")) {
    command = args[1];
    first_flag = 2;
  } else if (!args.empty() && args[0] == "restore") {
    command = "restore";
    first_flag = 1;
  } else {
    err << "expected: backup list, backup verify or restore (run through tongbanctl)\n";
    return 2;
  }
  Flags flags;
  for (size_t i = first_flag; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) != 0) {
      err << "unexpected argument \"" << args[i] << "\"\n";
      return 2;
    }
    const std::string name = args[i].substr(2);
    flags[name] = name == "json" ? "1" : (i + 1 < args.size() ? args[++i] : "");
  }
  absl::Status s;
  if (command == "list") {
    s = List(flags, out);
  } else if (command == "verify") {
    s = Verify(flags, out);
  } else {
    s = Restore(flags, out);
  }
  out.flush();
  if (!s.ok()) err << s.message() << "\n";
  return ExitCode(s);
}

}  // namespace tongban::daemon
