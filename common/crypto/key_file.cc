// Key files. Formats:
//   private key file  := PEM "PRIVATE KEY" (unencrypted PKCS#8), mode 0600
//   public key file   := PEM "PUBLIC KEY" (SubjectPublicKeyInfo), mode 0644
//   storage key file  := 2 * key_size lower-case hex characters [ "\n" ], mode 0600
// Secrets are checked with fstat() on the opened descriptor, so the mode that
// is checked is the mode of the file that is read.
#include "common/crypto/key_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/openssl_util.h"
#include "common/hex.h"
#include "common/status_macros.h"

namespace tongban::crypto {
namespace {

using internal::Cleanse;
using internal::SecretString;

// Key files are small; refuse to read anything larger.
constexpr off_t kMaxKeyFileSize = 1 << 20;
constexpr mode_t kSecretMode = 0600;
constexpr mode_t kPublicMode = 0644;

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now and reports the error (a failed close can lose written data).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

absl::Status ErrnoError(int error, const std::string& path, absl::string_view what) {
  return absl::ErrnoToStatus(error, absl::StrCat(path, ": ", what));
}

// Writes all of `content` to `fd` and syncs it; errno on failure, 0 on success.
int WriteAndSync(int fd, absl::string_view content) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return ::fsync(fd) != 0 ? errno : 0;
}

// Makes a new or renamed directory entry of `path` durable (best effort).
void SyncParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, bool secret) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return ErrnoError(errno, path, "cannot open key file");
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(errno, path, "cannot stat key file");
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  if (secret && (st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s: mode %04o lets group or others access this secret key; refusing to use "
        "it; run \"chmod 600 %s\"",
        path, st.st_mode & 07777, path));
  }
  if (st.st_size > kMaxKeyFileSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", st.st_size, " bytes is too large for a key file"));
  }
  std::string content;
  content.reserve(static_cast<size_t>(st.st_size));
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      Cleanse(content);
      return ErrnoError(error, path, "cannot read key file");
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > static_cast<size_t>(kMaxKeyFileSize)) {
      Cleanse(content);
      return absl::InvalidArgumentError(absl::StrCat(path, ": too large for a key file"));
    }
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  return content;
}

absl::Status WriteNewFile(const std::string& path, absl::string_view content, unsigned int mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, ": already exists; refusing to overwrite it"));
    }
    return ErrnoError(errno, path, "cannot create key file");
  }
  FdCloser closer(fd);
  auto fail = [&path](int error, absl::string_view what) {
    ::unlink(path.c_str());
    return ErrnoError(error, path, what);
  };
  // The umask may have cleared bits of `mode`; the file gets exactly `mode`.
  if (::fchmod(fd, mode) != 0) return fail(errno, "cannot chmod key file");
  if (const int error = WriteAndSync(fd, content); error != 0) {
    return fail(error, "cannot write key file");
  }
  if (closer.Close() != 0) return fail(errno, "cannot close key file");
  SyncParentDir(path);  // the new directory entry too
  return absl::OkStatus();
}

absl::Status ReplaceFileAtomically(const std::string& path, absl::string_view content,
                                   unsigned int mode) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return ErrnoError(errno, tmp, "cannot create temporary file");
  FdCloser closer(fd);
  auto fail = [&path, &tmp](int error, absl::string_view what) {
    ::unlink(tmp.c_str());
    return ErrnoError(error, path, what);
  };
  if (::fchmod(fd, mode) != 0) return fail(errno, "chmod");
  // The new file keeps the old one's owner: root running `tongbanctl
  // operator add` must not take the accounts file away from the daemon's
  // user. Only root may give a file away; for others the owner is theirs.
  struct stat old;
  if (::geteuid() == 0 && ::stat(path.c_str(), &old) == 0 &&
      ::fchown(fd, old.st_uid, old.st_gid) != 0) {
    return fail(errno, "chown");
  }
  if (const int error = WriteAndSync(fd, content); error != 0) return fail(error, "write");
  if (closer.Close() != 0) return fail(errno, "close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(errno, "cannot replace");
  SyncParentDir(path);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PrivateKey>> ReadPrivateKeyFile(const Suite& suite,
                                                               const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string pem_value, ReadSmallFile(path, /*secret=*/true));
  const SecretString pem(std::move(pem_value));
  absl::StatusOr<std::unique_ptr<PrivateKey>> key = suite.PrivateKeyFromPem(pem.value());
  if (!key.ok()) return Prefixed(path, key.status());
  return key;
}

absl::Status WritePrivateKeyFile(const PrivateKey& key, const std::string& path) {
  const SecretString pem(key.Pem());
  return WriteNewFile(path, pem.value(), kSecretMode);
}

absl::StatusOr<std::unique_ptr<PublicKey>> ReadPublicKeyFile(const Suite& suite,
                                                             const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(path, /*secret=*/false));
  absl::StatusOr<std::unique_ptr<PublicKey>> key = suite.PublicKeyFromPem(pem);
  if (!key.ok()) return Prefixed(path, key.status());
  return key;
}

absl::Status WritePublicKeyFile(const PublicKey& key, const std::string& path) {
  return WriteNewFile(path, key.Pem(), kPublicMode);
}

absl::StatusOr<std::string> ReadStorageKeyFile(const Suite& suite, const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string content_value, ReadSmallFile(path, /*secret=*/true));
  const SecretString content(std::move(content_value));
  absl::string_view hex = content.value();
  if (!hex.empty() && hex.back() == '\n') hex.remove_suffix(1);
  const size_t want = 2 * suite.symmetric_key_size();
  bool ok = hex.size() == want;
  for (char c : hex) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) {
    // Never echo the content: it may be a key.
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a storage key for suite ",
                                                   suite.name(), ": want one line of ", want,
                                                   " lower-case hex characters"));
  }
  return HexDecode(hex);
}

absl::Status GenerateStorageKeyFile(const Suite& suite, const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string key_value, RandomBytes(suite.symmetric_key_size()));
  const SecretString key(std::move(key_value));
  const SecretString line(HexEncode(key.value()) + "\n");
  return WriteNewFile(path, line.value(), kSecretMode);
}

}  // namespace tongban::crypto
