#include "storage/backup.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/utilities/backup_engine.h>

#include <filesystem>
#include <memory>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/tree.h"
#include "common/status_macros.h"
#include "storage/encryption.h"
#include "storage/rocksdb_status.h"
#include "storage/store.h"

namespace tongban::storage {
namespace {

constexpr absl::string_view kMetadataMagic = "tongban-backup 1";

// BackupEngine's own meta files (DIR/meta/<id> and its temporary
// DIR/meta/.<id>.tmp) go to the plain file system; every other file (the
// database's, copied) to `encrypted`. So the list of backups and their
// metadata read without the key, and the data never does.
class MetaPlainFileSystem : public rocksdb::FileSystemWrapper {
 public:
  MetaPlainFileSystem(const std::shared_ptr<rocksdb::FileSystem>& encrypted, std::string meta_dir)
      : FileSystemWrapper(encrypted),
        plain_(rocksdb::FileSystem::Default()),
        meta_prefix_(std::move(meta_dir) + "/") {}

  const char* Name() const override { return "TongbanBackupFileSystem"; }

  rocksdb::IOStatus NewSequentialFile(const std::string& f, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* r,
                                      rocksdb::IODebugContext* dbg) override {
    return For(f)->NewSequentialFile(f, o, r, dbg);
  }
  rocksdb::IOStatus NewRandomAccessFile(const std::string& f, const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* r,
                                        rocksdb::IODebugContext* dbg) override {
    return For(f)->NewRandomAccessFile(f, o, r, dbg);
  }
  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    return For(f)->NewWritableFile(f, o, r, dbg);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    return For(f)->ReopenWritableFile(f, o, r, dbg);
  }
  rocksdb::IOStatus GetFileSize(const std::string& f, const rocksdb::IOOptions& o, uint64_t* s,
                                rocksdb::IODebugContext* dbg) override {
    return For(f)->GetFileSize(f, o, s, dbg);
  }
  rocksdb::IOStatus GetChildrenFileAttributes(const std::string& dir, const rocksdb::IOOptions& o,
                                              std::vector<rocksdb::FileAttributes>* result,
                                              rocksdb::IODebugContext* dbg) override {
    return For(dir + "/")->GetChildrenFileAttributes(dir, o, result, dbg);
  }

 private:
  rocksdb::FileSystem* For(const std::string& path) const {
    return path.compare(0, meta_prefix_.size(), meta_prefix_) == 0 ? plain_.get() : target();
  }

  const std::shared_ptr<rocksdb::FileSystem> plain_;
  const std::string meta_prefix_;
};

// A BackupEngine over `dir` with its Env, which must outlive the engine
// (declared first, destroyed last).
struct Engine {
  std::unique_ptr<rocksdb::Env> backup_env;
  std::unique_ptr<rocksdb::BackupEngineReadOnly> read_only;
  std::unique_ptr<rocksdb::BackupEngine> writable;
  const rocksdb::BackupEngineReadOnlyBase& reader() const {
    return read_only != nullptr ? static_cast<const rocksdb::BackupEngineReadOnlyBase&>(*read_only)
                                : *writable;
  }
};

absl::StatusOr<std::string> AbsoluteDir(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("backup folder: empty");
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(dir, ec);
  if (ec)
    return absl::InvalidArgumentError(absl::StrCat("backup folder ", dir, ": ", ec.message()));
  std::string out = abs.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// `encrypted` null: keyless (listing only).
absl::StatusOr<Engine> OpenEngine(const std::string& abs_dir,
                                  std::shared_ptr<rocksdb::FileSystem> encrypted,
                                  rocksdb::Env* db_env, bool writable) {
  Engine engine;
  if (encrypted == nullptr) encrypted = NewKeylessFileSystem();
  engine.backup_env =
      rocksdb::NewCompositeEnv(std::make_shared<MetaPlainFileSystem>(encrypted, abs_dir + "/meta"));
  rocksdb::BackupEngineOptions options(abs_dir, engine.backup_env.get());
  options.sync = true;
  options.max_background_operations = 1;
  rocksdb::IOStatus s;
  if (writable) {
    rocksdb::BackupEngine* raw = nullptr;
    s = rocksdb::BackupEngine::Open(options, db_env, &raw);
    engine.writable.reset(raw);
  } else {
    rocksdb::BackupEngineReadOnly* raw = nullptr;
    s = rocksdb::BackupEngineReadOnly::Open(options, db_env, &raw);
    engine.read_only.reset(raw);
  }
  if (!s.ok()) {
    return Prefixed(absl::StrCat("backup folder ", abs_dir), FromRocksStatus(s));
  }
  return engine;
}

absl::StatusOr<BackupEntry> EntryOf(const rocksdb::BackupInfo& info, const std::string& dir) {
  BackupEntry e;
  e.id = info.backup_id;
  e.size_bytes = info.size;
  e.files = info.number_files;
  absl::StatusOr<BackupMetadata> m = ParseBackupMetadata(info.app_metadata);
  if (!m.ok()) {
    return absl::DataLossError(absl::StrCat("backup ", info.backup_id, " in ", dir, ": metadata (",
                                            dir, "/meta/", info.backup_id,
                                            "): ", m.status().message()));
  }
  e.metadata = *std::move(m);
  return e;
}

absl::Status CheckIsBackupFolder(const std::string& abs_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(abs_dir, ec)) {
    return absl::NotFoundError(absl::StrCat("backup folder ", abs_dir, ": no such folder"));
  }
  if (!std::filesystem::is_directory(abs_dir + "/meta", ec)) {
    return absl::NotFoundError(
        absl::StrCat("backup folder ", abs_dir, ": holds no backups (no meta/ folder)"));
  }
  return absl::OkStatus();
}

// Every backup, oldest first; kDataLoss naming any backup that cannot be
// read.
absl::StatusOr<std::vector<BackupEntry>> ListIn(const std::string& abs_dir) {
  TB_RETURN_IF_ERROR(CheckIsBackupFolder(abs_dir));
  TB_ASSIGN_OR_RETURN(Engine engine, OpenEngine(abs_dir, nullptr, rocksdb::Env::Default(), false));
  std::vector<rocksdb::BackupInfo> infos;
  engine.reader().GetBackupInfo(&infos, /*include_file_details=*/false);
  std::vector<rocksdb::BackupID> corrupt;
  engine.reader().GetCorruptedBackups(&corrupt);
  if (!corrupt.empty()) {
    return absl::DataLossError(
        absl::StrCat("backup folder ", abs_dir, ": backup ", absl::StrJoin(corrupt, ", "),
                     " cannot be read (a meta file or a file it lists is damaged or missing)"));
  }
  std::vector<BackupEntry> out;
  for (const rocksdb::BackupInfo& info : infos) {
    TB_ASSIGN_OR_RETURN(BackupEntry e, EntryOf(info, abs_dir));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<BackupEntry> FindIn(const std::string& abs_dir, uint32_t id) {
  TB_ASSIGN_OR_RETURN(std::vector<BackupEntry> all, ListIn(abs_dir));
  if (all.empty()) {
    return absl::NotFoundError(absl::StrCat("backup folder ", abs_dir, ": holds no backups"));
  }
  if (id == 0) return all.back();
  std::vector<uint32_t> ids;
  for (const BackupEntry& e : all) {
    if (e.id == id) return e;
    ids.push_back(e.id);
  }
  return absl::NotFoundError(absl::StrCat("backup folder ", abs_dir, ": no backup ", id,
                                          " (backups there: ", absl::StrJoin(ids, ", "), ")"));
}

absl::Status KeyError(absl::string_view detail) {
  return absl::FailedPreconditionError(absl::StrCat(
      "this backup cannot be opened without the storage key it was written with; the storage "
      "key is kept apart from backups: give the node's storage.key with --storage-key FILE (",
      detail, ")"));
}

// The absolute paths of backup `id`'s files (read without the key).
absl::StatusOr<std::vector<std::string>> FilesOf(const std::string& abs_dir, uint32_t id) {
  TB_ASSIGN_OR_RETURN(Engine engine, OpenEngine(abs_dir, nullptr, rocksdb::Env::Default(), false));
  rocksdb::BackupInfo info;
  const rocksdb::Status s = engine.reader().GetBackupInfo(id, &info, /*include_file_details=*/true);
  if (!s.ok()) return Prefixed(absl::StrCat("backup ", id, " in ", abs_dir), FromRocksStatus(s));
  std::vector<std::string> out;
  for (const rocksdb::BackupFileInfo& f : info.file_details) {
    out.push_back(abs_dir + "/" + f.relative_filename);
  }
  return out;
}

// The latest checkpoint of `node`'s own log in `store` (the highest epoch
// that has one), or nullopt.
absl::StatusOr<std::optional<std::pair<LogId, v1::SignedCheckpoint>>> OwnCheckpoint(
    const Store& store, const std::string& node) {
  TB_ASSIGN_OR_RETURN(std::vector<LogId> logs, store.CheckpointLogs());
  std::optional<LogId> own;
  for (const LogId& log : logs) {
    if (log.origin == node && (!own.has_value() || log.epoch > own->epoch)) own = log;
  }
  if (!own.has_value()) return std::nullopt;
  TB_ASSIGN_OR_RETURN(std::optional<v1::SignedCheckpoint> cp, store.LatestCheckpoint(*own));
  if (!cp.has_value()) return std::nullopt;
  return std::make_pair(*own, *std::move(cp));
}

// The checks of storage/writer.cc Writer::Recover, on a restored store: the
// recorded checkpoint verifies with the node's key (if given), names the
// recorded log, is covered by the stored events, and its root is the stored
// tree's. Returns the events of that log.
absl::StatusOr<uint64_t> CheckRecordedCheckpoint(const Store& store, const BackupMetadata& m,
                                                 const crypto::PublicKey* public_key) {
  const LogId log{m.node, m.epoch};
  TB_ASSIGN_OR_RETURN(const uint64_t last, store.LastSeq(log));
  if (m.checkpoint_size == 0) return last;
  v1::SignedCheckpoint stored;
  if (!stored.ParseFromString(m.checkpoint)) {
    return absl::DataLossError("the recorded checkpoint does not parse");
  }
  const crypto::Suite& suite = crypto::GetSuite(m.suite);
  merkle::SignedCheckpoint sc{stored.body(), stored.signature()};
  absl::StatusOr<merkle::Checkpoint> cp = merkle::ParseCheckpoint(sc.body);
  if (public_key != nullptr) cp = merkle::VerifyCheckpoint(sc, suite, *public_key);
  if (!cp.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the recorded checkpoint does not verify with the node's public key: ",
                     cp.status().message()));
  }
  if (cp->origin != log.origin || cp->epoch != log.epoch || cp->tree_size != m.checkpoint_size) {
    return absl::DataLossError("the recorded checkpoint names another log or size than the backup");
  }
  if (cp->tree_size > last) {
    return absl::DataLossError(absl::StrCat("the recorded checkpoint covers ", cp->tree_size,
                                            " events but the backup holds ", last));
  }
  std::unique_ptr<crypto::Hasher> hasher = suite.NewHasher();
  TB_ASSIGN_OR_RETURN(merkle::Frontier frontier,
                      merkle::Frontier::Load(cp->tree_size, store.NodeReaderFor(log)));
  if (frontier.Root(*hasher) != cp->root) {
    return absl::DataLossError(absl::StrCat(
        "the stored Merkle tree does not match the recorded checkpoint at size ", cp->tree_size));
  }
  return last;
}

// Restores `backup` into `target` (which must not exist) and checks it.
absl::StatusOr<BackupCheck> RestoreAndCheck(const std::string& abs_dir, const BackupEntry& backup,
                                            const std::string& storage_key,
                                            const std::string& target,
                                            const crypto::PublicKey* public_key) {
  const crypto::Suite& suite = crypto::GetSuite(backup.metadata.suite);
  TB_ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::FileSystem> fs,
                      NewEncryptedFileSystem(suite, storage_key));
  std::unique_ptr<rocksdb::Env> db_env = rocksdb::NewCompositeEnv(fs);
  {
    TB_ASSIGN_OR_RETURN(Engine engine, OpenEngine(abs_dir, fs, db_env.get(), false));
    const rocksdb::IOStatus s =
        engine.reader().RestoreDBFromBackup(rocksdb::RestoreOptions(), backup.id, target, target);
    if (!s.ok()) {
      return Prefixed(absl::StrCat("restore backup ", backup.id, " of ", abs_dir, " into ", target),
                      FromRocksStatus(s));
    }
  }
  StoreOptions options;
  options.path = target;
  options.suite = backup.metadata.suite;
  options.storage_key = storage_key;
  options.block_cache_bytes = 8 << 20;
  TB_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(options));
  BackupCheck check;
  check.backup = backup;
  absl::StatusOr<uint64_t> events = CheckRecordedCheckpoint(*store, backup.metadata, public_key);
  if (!events.ok()) {
    return Prefixed(absl::StrCat("backup ", backup.id, " of ", abs_dir), events.status());
  }
  check.own_events = *events;
  check.checkpoint_verified = public_key != nullptr && backup.metadata.checkpoint_size > 0;
  return check;
}

std::string UtcStamp(absl::Time t) {
  return absl::FormatTime("%Y%m%dT%H%M%SZ", t, absl::UTCTimeZone());
}

absl::Status SyncDir(const std::string& dir) {
  std::unique_ptr<rocksdb::FSDirectory> d;
  rocksdb::IOStatus s =
      rocksdb::FileSystem::Default()->NewDirectory(dir, rocksdb::IOOptions(), &d, nullptr);
  if (s.ok()) s = d->FsyncWithDirOptions(rocksdb::IOOptions(), nullptr, rocksdb::DirFsyncOptions());
  return Prefixed(absl::StrCat("sync ", dir), FromRocksStatus(s));
}

// Removes all but the newest `keep` (> 0) backups of the folder with
// `engine`, which has just written backup `made`. This runs inside
// CreateBackup rather than as a separate call so that it holds the same
// lock and uses the same writable engine: one writer per folder, and no
// window in which another backup could become the newest. Sets out->removed
// to the ids gone afterwards (also after a partial failure) and out->purge
// to the failure, if any.
void PurgeOld(rocksdb::BackupEngine& engine, rocksdb::BackupID made, uint32_t keep,
              const std::string& abs_dir, CreatedBackup* out) {
  std::vector<rocksdb::BackupInfo> before;
  engine.GetBackupInfo(&before, /*include_file_details=*/false);  // oldest first
  if (before.size() <= keep) return;
  // PurgeOldBackups keeps the highest ids; ours must be one of them.
  if (before.back().backup_id != made) {
    out->purge = absl::InternalError(absl::StrCat("backup folder ", abs_dir, ": backup ",
                                                  before.back().backup_id, " is newer than ", made,
                                                  ", which was just made; nothing removed"));
    return;
  }
  const rocksdb::IOStatus s = engine.PurgeOldBackups(keep);
  std::vector<rocksdb::BackupInfo> after;
  engine.GetBackupInfo(&after, /*include_file_details=*/false);
  std::set<rocksdb::BackupID> left;
  for (const rocksdb::BackupInfo& info : after) left.insert(info.backup_id);
  for (const rocksdb::BackupInfo& info : before) {
    if (left.count(info.backup_id) == 0) out->removed.push_back(info.backup_id);
  }
  if (!s.ok()) {
    out->purge = Prefixed(
        absl::StrCat("backup folder ", abs_dir, ": removing backups older than the newest ", keep),
        FromRocksStatus(s));
  }
}

}  // namespace

std::string EncodeBackupMetadata(const BackupMetadata& m) {
  std::string out =
      absl::StrCat(kMetadataMagic, "\nnode ", m.node, "\nsuite ", crypto::SuiteName(m.suite),
                   "\nepoch ", m.epoch, "\ncheckpoint_size ", m.checkpoint_size, "\n");
  if (!m.checkpoint.empty()) absl::StrAppend(&out, "checkpoint ", HexEncode(m.checkpoint), "\n");
  absl::StrAppend(&out, "created_micros ", m.created_micros, "\n");
  return out;
}

absl::StatusOr<BackupMetadata> ParseBackupMetadata(absl::string_view text) {
  BackupMetadata m;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kMetadataMagic) {
    return absl::DataLossError(
        "not tongban backup metadata (no \"tongban-backup 1\" line): made by another program or "
        "a newer tongban");
  }
  bool have_node = false;
  bool have_suite = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t space = lines[i].find(' ');
    const absl::string_view name = lines[i].substr(0, space);
    const absl::string_view value =
        space == absl::string_view::npos ? absl::string_view() : lines[i].substr(space + 1);
    bool ok = true;
    if (name == "node") {
      m.node = std::string(value);
      ok = m.node.size() == 6;
      have_node = true;
    } else if (name == "suite") {
      absl::StatusOr<crypto::SuiteId> suite = crypto::ParseSuiteId(value);
      ok = suite.ok();
      if (ok) m.suite = *suite;
      have_suite = true;
    } else if (name == "epoch") {
      ok = absl::SimpleAtoi(value, &m.epoch);
    } else if (name == "checkpoint_size") {
      ok = absl::SimpleAtoi(value, &m.checkpoint_size);
    } else if (name == "checkpoint") {
      absl::StatusOr<std::string> bytes = HexDecode(value);
      ok = bytes.ok();
      if (ok) m.checkpoint = *std::move(bytes);
    } else if (name == "created_micros") {
      ok = absl::SimpleAtoi(value, &m.created_micros);
    } else {
      ok = false;
    }
    if (!ok) return absl::DataLossError(absl::StrCat("line ", i + 1, " (", name, ") is not valid"));
  }
  if (!have_node || !have_suite) return absl::DataLossError("node or suite missing");
  if ((m.checkpoint_size == 0) != m.checkpoint.empty()) {
    return absl::DataLossError("checkpoint and checkpoint_size disagree");
  }
  return m;
}

absl::StatusOr<CreatedBackup> Store::CreateBackup(const std::string& dir, const std::string& node,
                                                  absl::Time now, uint32_t keep) {
  // One BackupEngine at a time may write a folder.
  static absl::Mutex* const backup_mu = new absl::Mutex();
  absl::MutexLock lock(backup_mu);
  TB_ASSIGN_OR_RETURN(const std::string abs_dir, AbsoluteDir(dir));
  TB_ASSIGN_OR_RETURN(const std::string abs_db, AbsoluteDir(path_));
  if (abs_dir == abs_db || absl::StartsWith(abs_dir, abs_db + "/") ||
      absl::StartsWith(abs_db, abs_dir + "/")) {
    return absl::InvalidArgumentError(absl::StrCat("backup folder ", abs_dir,
                                                   ": must be outside the database folder ", abs_db,
                                                   " and not contain it"));
  }
  std::error_code ec;
  std::filesystem::create_directories(abs_dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("backup folder ", abs_dir, ": ", ec.message()));
  }
  BackupMetadata m;
  m.node = node;
  m.suite = suite_;
  m.created_micros = absl::ToUnixMicros(now);
  // Read before the backup starts, so the backup holds what it covers.
  TB_ASSIGN_OR_RETURN(auto own, OwnCheckpoint(*this, node));
  if (own.has_value()) {
    TB_ASSIGN_OR_RETURN(merkle::Checkpoint cp, merkle::ParseCheckpoint(own->second.body()));
    m.epoch = own->first.epoch;
    m.checkpoint_size = cp.tree_size;
    m.checkpoint = own->second.SerializeAsString();
  }
  TB_RETURN_IF_ERROR(Flush());
  // The store's own encrypting file system: the backup is encrypted with
  // the same key and cipher as the database.
  TB_ASSIGN_OR_RETURN(Engine engine, OpenEngine(abs_dir, env_->GetFileSystem(), env_.get(), true));
  rocksdb::CreateBackupOptions options;
  options.flush_before_backup = true;
  rocksdb::BackupID id = 0;
  const rocksdb::IOStatus s = engine.writable->CreateNewBackupWithMetadata(
      options, db_.get(), EncodeBackupMetadata(m), &id);
  if (!s.ok()) return Prefixed(absl::StrCat("backup into ", abs_dir), FromRocksStatus(s));
  rocksdb::BackupInfo info;
  TB_RETURN_IF_ERROR(FromRocksStatus(engine.writable->GetBackupInfo(id, &info)));
  CreatedBackup out;
  TB_ASSIGN_OR_RETURN(out.backup, EntryOf(info, abs_dir));
  TB_LOG(INFO) << "backup " << id << " written to " << abs_dir << ": " << out.backup.files
               << " files, " << out.backup.size_bytes << " bytes, own checkpoint size "
               << m.checkpoint_size;
  if (keep > 0) PurgeOld(*engine.writable, id, keep, abs_dir, &out);
  if (!out.removed.empty()) {
    TB_LOG(INFO) << "backup folder " << abs_dir << ": removed backup "
                 << absl::StrJoin(out.removed, ", ") << " (keeping the newest " << keep << ")";
  }
  return out;
}

absl::StatusOr<std::vector<BackupEntry>> ListBackups(const std::string& dir) {
  TB_ASSIGN_OR_RETURN(const std::string abs_dir, AbsoluteDir(dir));
  return ListIn(abs_dir);
}

absl::StatusOr<BackupEntry> FindBackup(const std::string& dir, uint32_t id) {
  TB_ASSIGN_OR_RETURN(const std::string abs_dir, AbsoluteDir(dir));
  return FindIn(abs_dir, id);
}

absl::Status CheckBackupKey(const std::string& dir, const BackupEntry& backup,
                            const std::string& storage_key) {
  if (storage_key.empty()) return KeyError("no storage key given");
  TB_ASSIGN_OR_RETURN(const std::string abs_dir, AbsoluteDir(dir));
  TB_ASSIGN_OR_RETURN(std::vector<std::string> files, FilesOf(abs_dir, backup.id));
  const crypto::Suite& suite = crypto::GetSuite(backup.metadata.suite);
  for (const std::string& f : files) {
    const absl::Status s = CheckFileKey(suite, storage_key, f);
    if (absl::IsFailedPrecondition(s)) return KeyError(s.message());
    if (!s.ok()) return absl::DataLossError(absl::StrCat("backup ", backup.id, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<BackupCheck> VerifyBackup(const std::string& dir, uint32_t id,
                                         const std::string& storage_key,
                                         const crypto::PublicKey& public_key,
                                         const std::string& scratch) {
  TB_ASSIGN_OR_RETURN(const std::string abs_dir, AbsoluteDir(dir));
  TB_ASSIGN_OR_RETURN(BackupEntry backup, FindIn(abs_dir, id));
  TB_RETURN_IF_ERROR(CheckBackupKey(abs_dir, backup, storage_key));
  if (public_key.suite() != backup.metadata.suite) {
    return absl::InvalidArgumentError(
        absl::StrCat("public key: suite ", crypto::SuiteName(public_key.suite()), ", backup ",
                     backup.id, " is of suite ", crypto::SuiteName(backup.metadata.suite)));
  }
  {
    const crypto::Suite& suite = crypto::GetSuite(backup.metadata.suite);
    TB_ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::FileSystem> fs,
                        NewEncryptedFileSystem(suite, storage_key));
    TB_ASSIGN_OR_RETURN(Engine engine, OpenEngine(abs_dir, fs, rocksdb::Env::Default(), false));
    const rocksdb::IOStatus s =
        engine.reader().VerifyBackup(backup.id, /*verify_with_checksum=*/true);
    if (!s.ok()) {
      return absl::DataLossError(
          absl::StrCat("backup ", backup.id, " in ", abs_dir, " is damaged: ", s.ToString()));
    }
  }
  std::error_code ec;
  if (std::filesystem::exists(scratch, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(scratch, ": already exists"));
  }
  absl::StatusOr<BackupCheck> check =
      RestoreAndCheck(abs_dir, backup, storage_key, scratch, &public_key);
  std::filesystem::remove_all(scratch, ec);
  return check;
}

absl::Status CheckNotInUse(const std::string& db_dir) {
  std::error_code ec;
  const std::string lock_path = db_dir + "/LOCK";
  if (!std::filesystem::exists(lock_path, ec)) return absl::OkStatus();
  rocksdb::FileLock* lock = nullptr;
  const rocksdb::Status s = rocksdb::Env::Default()->LockFile(lock_path, &lock);
  if (!s.ok()) {
    if (s.ToString().find("ermission denied") != std::string::npos) {
      return absl::PermissionDeniedError(absl::StrCat(
          lock_path, ": permission denied: run this as the node's user (tongban) or root"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat(db_dir,
                     " is in use by a running tongband: stop the service first (systemctl stop "
                     "tongband), then restore"));
  }
  return FromRocksStatus(rocksdb::Env::Default()->UnlockFile(lock));
}

absl::StatusOr<RestoreResult> RestoreBackup(const std::string& dir, uint32_t id,
                                            const std::string& storage_key,
                                            const std::string& data_dir,
                                            const crypto::PublicKey* public_key, absl::Time now) {
  TB_ASSIGN_OR_RETURN(const std::string abs_dir, AbsoluteDir(dir));
  std::error_code ec;
  if (!std::filesystem::is_directory(data_dir, ec)) {
    return absl::NotFoundError(absl::StrCat("data folder ", data_dir, ": no such folder"));
  }
  const std::string db = data_dir + "/db";
  TB_RETURN_IF_ERROR(CheckNotInUse(db));
  TB_ASSIGN_OR_RETURN(BackupEntry backup, FindIn(abs_dir, id));
  TB_RETURN_IF_ERROR(CheckBackupKey(abs_dir, backup, storage_key));
  const std::string restoring = data_dir + "/db.restoring";
  // Ours alone: what an interrupted restore left.
  std::filesystem::remove_all(restoring, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(restoring, ": ", ec.message()));
  RestoreResult result;
  absl::StatusOr<BackupCheck> check =
      RestoreAndCheck(abs_dir, backup, storage_key, restoring, public_key);
  if (!check.ok()) {
    std::filesystem::remove_all(restoring, ec);
    return check.status();
  }
  result.check = *std::move(check);
  if (std::filesystem::exists(db, ec)) {
    result.moved_aside = absl::StrCat(db, ".before-restore-", UtcStamp(now));
    std::filesystem::rename(db, result.moved_aside, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("move ", db, " to ", result.moved_aside, ": ", ec.message()));
    }
  }
  std::filesystem::rename(restoring, db, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("move ", restoring, " to ", db, ": ", ec.message(),
                     result.moved_aside.empty()
                         ? std::string()
                         : absl::StrCat(" (the previous db is in ", result.moved_aside, ")")));
  }
  TB_RETURN_IF_ERROR(SyncDir(data_dir));
  return result;
}

}  // namespace tongban::storage
