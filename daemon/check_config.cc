#include "daemon/check_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "admin/operators.h"
#include "common/crypto/key_file.h"
#include "common/crypto/suite.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"
#include "sync/roster_holder.h"

namespace tongban::daemon {
namespace {

// kPermissionDenied (or the errno's code) unless this user may `mode`
// (R_OK, W_OK, X_OK) the path.
absl::Status Access(const std::string& path, int mode, absl::string_view what) {
  if (::access(path.c_str(), mode) == 0) return absl::OkStatus();
  return absl::ErrnoToStatus(errno, absl::StrCat(path, ": ", what));
}

absl::Status ReadCertificate(const std::string& path) {
  absl::StatusOr<std::string> pem = crypto::ReadSmallFile(path, /*secret=*/false);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromPem(*pem);
  if (!cert.ok()) return Prefixed(path, cert.status());
  return absl::OkStatus();
}

// The database folder: every file in it readable and writable.
void CheckDatabase(const std::string& db, std::vector<absl::Status>* problems) {
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) return;  // created at first start
  if (absl::Status s = Access(db, R_OK | W_OK | X_OK, "cannot write the database folder");
      !s.ok()) {
    problems->push_back(s);
    return;
  }
  for (const auto& entry : std::filesystem::directory_iterator(db, ec)) {
    const std::string path = entry.path().string();
    if (absl::Status s = Access(path, R_OK | W_OK, "cannot read and write this database file");
        !s.ok()) {
      problems->push_back(s);
    }
  }
  if (ec) problems->push_back(absl::ErrnoToStatus(ec.value(), absl::StrCat(db, ": cannot list")));
}

}  // namespace

std::vector<absl::Status> CheckConfigFiles(const node::Config& config) {
  std::vector<absl::Status> problems;
  auto note = [&problems](const absl::Status& s) {
    if (!s.ok()) problems.push_back(s);
  };
  const crypto::Suite& suite = crypto::GetSuite(config.suite);

  // Federation: root key, roster, TLS.
  absl::StatusOr<std::unique_ptr<crypto::PublicKey>> root =
      crypto::ReadPublicKeyFile(suite, config.root_public_key);
  note(root.status());
  if (root.ok()) {
    note(sync::RosterHolder::Open(config.roster, *std::move(root)).status());
  } else {
    note(crypto::ReadSmallFile(config.roster, /*secret=*/false).status());
  }
  if (config.role != node::NodeRole::kNational) {
    const std::string folder = std::filesystem::path(config.roster).parent_path().string();
    note(Access(folder.empty() ? "." : folder, W_OK | X_OK,
                "cannot write the roster's folder (newer rosters from the national node "
                "replace federation.roster; keep it under data_dir, e.g. "
                "/var/lib/tongban/roster.signed)"));
  }
  note(ReadCertificate(config.ca));
  note(ReadCertificate(config.certificate));
  note(crypto::ReadSmallFile(config.private_key, /*secret=*/true).status());

  // The data folder and the keys in it.
  struct stat st {};
  if (::stat(config.data_dir.c_str(), &st) != 0) {
    note(absl::ErrnoToStatus(errno, absl::StrCat(config.data_dir, ": node.data_dir")));
  } else if (!S_ISDIR(st.st_mode)) {
    note(
        absl::InvalidArgumentError(absl::StrCat(config.data_dir, ": node.data_dir: not a folder")));
  } else if (absl::Status w =
                 Access(config.data_dir, R_OK | W_OK | X_OK, "cannot write node.data_dir");
             !w.ok()) {
    note(w);
  } else {
    const std::string signing = config.data_dir + "/signing.key";
    std::error_code ec;
    if (!std::filesystem::exists(signing, ec)) {
      note(absl::FailedPreconditionError(absl::StrCat(
          signing, ": no signing key; generate it with tongbanctl keys generate --suite ",
          crypto::SuiteName(config.suite), " --out ", config.data_dir, "/signing")));
    } else {
      note(crypto::ReadPrivateKeyFile(suite, signing).status());
    }
    const std::string storage = config.data_dir + "/storage.key";
    if (std::filesystem::exists(storage, ec)) {
      note(crypto::ReadStorageKeyFile(suite, storage).status());
    }
    CheckDatabase(config.data_dir + "/db", &problems);
  }

  // The backup folder: written at the first backup, so it or the nearest
  // folder above it that exists must be writable (data_dir is checked above).
  {
    std::error_code ec;
    std::filesystem::path dir(config.backup_dir);
    while (!dir.empty() && !std::filesystem::exists(dir, ec) && dir.has_parent_path() &&
           dir.parent_path() != dir) {
      dir = dir.parent_path();
    }
    if (dir.lexically_normal() == std::filesystem::path(config.data_dir).lexically_normal()) {
      // node.data_dir's own check above covers it.
    } else if (!std::filesystem::is_directory(dir, ec)) {
      note(absl::InvalidArgumentError(absl::StrCat(
          config.backup_dir, ": storage.backup_dir: ", dir.string(), " is not a folder")));
    } else {
      note(Access(dir.string(), W_OK | X_OK,
                  absl::StrCat("cannot write storage.backup_dir (", config.backup_dir, ")")));
    }
  }

  // Operators.
  if (!config.operator_ca.empty()) {
    note(ReadCertificate(config.operator_ca));
    note(admin::OperatorAccounts::Open(config.operators).status());
  }
  return problems;
}

}  // namespace tongban::daemon
