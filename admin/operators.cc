#include "admin/operators.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "admin/totp.h"
#include "common/crypto/kdf.h"
#include "common/crypto/key_file.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"

namespace tongban::admin {
namespace {

constexpr absl::string_view kAccountsHeader = "tongban-operators/v1";
constexpr size_t kSaltSize = 16;
constexpr size_t kHashSize = 32;

struct PasswordHash {
  crypto::SuiteId suite;
  uint32_t iterations = 0;
  std::string salt;
  std::string hash;
};

absl::string_view AlgorithmName(crypto::SuiteId suite) {
  return suite == crypto::SuiteId::kGm ? "pbkdf2-sm3" : "pbkdf2-sha256";
}

absl::StatusOr<PasswordHash> ParsePasswordHash(absl::string_view stored) {
  const std::vector<absl::string_view> parts = absl::StrSplit(stored, '$');
  PasswordHash out;
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("password hash: ", why));
  };
  if (parts.size() != 4) return bad("not <algorithm>$<iterations>$<salt>$<hash>");
  if (parts[0] == AlgorithmName(crypto::SuiteId::kIntl)) {
    out.suite = crypto::SuiteId::kIntl;
  } else if (parts[0] == AlgorithmName(crypto::SuiteId::kGm)) {
    out.suite = crypto::SuiteId::kGm;
  } else {
    return bad(absl::StrCat("unknown algorithm \"", parts[0], "\""));
  }
  if (!absl::SimpleAtoi(parts[1], &out.iterations) || out.iterations == 0 ||
      parts[1] != absl::StrCat(out.iterations)) {
    return bad("iterations are not a positive decimal");
  }
  absl::StatusOr<std::string> salt = HexDecode(parts[2]);
  absl::StatusOr<std::string> hash = HexDecode(parts[3]);
  if (!salt.ok() || salt->size() != kSaltSize || !hash.ok() || hash->size() != kHashSize) {
    return bad("salt or hash is not 16 / 32 bytes of hex");
  }
  out.salt = *std::move(salt);
  out.hash = *std::move(hash);
  return out;
}

}  // namespace

// --- roles and permissions ---

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kClerk: return "clerk";
    case Role::kAdministrator: return "administrator";
    case Role::kAuditor: return "auditor";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role r : {Role::kClerk, Role::kAdministrator, Role::kAuditor}) {
    if (RoleName(r) == name) return r;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("role \"", name, "\" is not clerk, administrator or auditor"));
}

absl::string_view PermissionName(Permission p) {
  switch (p) {
    case Permission::kReadPersons: return "read persons";
    case Permission::kWriteRecords: return "write records";
    case Permission::kListDeadlines: return "list inquiries and notices";
    case Permission::kExchangeBundles: return "export or import bundles";
    case Permission::kReadStatistics: return "read statistics";
    case Permission::kReadPeers: return "read peers";
    case Permission::kManagePeers: return "manage peers";
    case Permission::kManageOperators: return "manage operators";
    case Permission::kManageConfig: return "manage configuration";
    case Permission::kReadAuditTrail: return "read the audit trail";
  }
  return "unknown";
}

bool Allowed(Role role, Permission permission) {
  switch (permission) {
    case Permission::kReadPersons:
    case Permission::kWriteRecords:
    case Permission::kListDeadlines: return role == Role::kClerk;
    case Permission::kReadStatistics:
    case Permission::kReadPeers: return true;
    case Permission::kManagePeers:
    // Bundles carry personal data sealed to a peer: the administrator who
    // runs the node's exchanges moves them without reading them.
    case Permission::kExchangeBundles:
    case Permission::kManageOperators:
    case Permission::kManageConfig: return role == Role::kAdministrator;
    case Permission::kReadAuditTrail: return role == Role::kAuditor;
  }
  return false;  // an unknown permission is never granted
}

absl::Status Authorize(absl::string_view operator_name, Role role, Permission permission) {
  if (Allowed(role, permission)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("operator ", operator_name, " (", RoleName(role),
                                                  ") may not ", PermissionName(permission)));
}

// --- passwords ---

absl::Status CheckPasswordPolicy(absl::string_view password) {
  if (password.size() < kMinPasswordLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("the password is shorter than ", kMinPasswordLength, " characters"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> HashPassword(crypto::SuiteId suite, absl::string_view password,
                                         uint32_t iterations) {
  TB_ASSIGN_OR_RETURN(std::string salt, crypto::RandomBytes(kSaltSize));
  TB_ASSIGN_OR_RETURN(std::string hash,
                      crypto::Pbkdf2(suite, password, salt, iterations, kHashSize));
  return absl::StrCat(AlgorithmName(suite), "$", iterations, "$", HexEncode(salt), "$",
                      HexEncode(hash));
}

std::string UnusablePasswordHash(crypto::SuiteId suite, uint32_t iterations) {
  return absl::StrCat(AlgorithmName(suite), "$", iterations, "$", std::string(2 * kSaltSize, '0'),
                      "$", std::string(2 * kHashSize, '0'));
}

absl::StatusOr<bool> CheckPassword(absl::string_view stored, absl::string_view password) {
  TB_ASSIGN_OR_RETURN(PasswordHash h, ParsePasswordHash(stored));
  TB_ASSIGN_OR_RETURN(std::string got,
                      crypto::Pbkdf2(h.suite, password, h.salt, h.iterations, kHashSize));
  return crypto::ConstantTimeEquals(got, h.hash);
}

// --- the accounts file ---

std::string EncodeAccountsFile(const std::vector<OperatorAccount>& accounts) {
  std::string out = absl::StrCat(
      "# Tongban operator accounts. Secret (password hashes, TOTP secrets): mode 0600.\n"
      "# name role enabled|disabled password-hash totp-secret(base32, or -)\n",
      kAccountsHeader, "\n");
  for (const OperatorAccount& a : accounts) {
    absl::StrAppend(&out, a.name, " ", RoleName(a.role), " ", a.disabled ? "disabled" : "enabled",
                    " ", a.password_hash, " ",
                    a.totp_secret.empty() ? "-" : Base32Encode(a.totp_secret), "\n");
  }
  return out;
}

absl::StatusOr<std::vector<OperatorAccount>> ParseAccountsFile(absl::string_view text,
                                                               absl::string_view path) {
  std::vector<OperatorAccount> out;
  bool header = false;
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": ", why));
    };
    if (line.empty() || line[0] == '#') continue;
    if (!header) {
      if (line != kAccountsHeader) {
        return bad(absl::StrCat("expected the header \"", kAccountsHeader, "\""));
      }
      header = true;
      continue;
    }
    const std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() != 5) {
      return bad(
          "expected 5 fields separated by one space: name role enabled|disabled "
          "password-hash totp-secret");
    }
    OperatorAccount a;
    a.name = std::string(f[0]);
    absl::Status name_ok = pki::ValidateOperatorName(a.name);
    if (!name_ok.ok()) return bad(name_ok.message());
    absl::StatusOr<Role> role = ParseRole(f[1]);
    if (!role.ok()) return bad(role.status().message());
    a.role = *role;
    if (f[2] != "enabled" && f[2] != "disabled") return bad("expected enabled or disabled");
    a.disabled = f[2] == "disabled";
    absl::StatusOr<PasswordHash> hash = ParsePasswordHash(f[3]);
    if (!hash.ok()) return bad(hash.status().message());
    a.password_hash = std::string(f[3]);
    if (f[4] != "-") {
      absl::StatusOr<std::string> secret = Base32Decode(f[4]);
      if (!secret.ok() || secret->size() < 10) {
        return bad("TOTP secret is not base32 of at least 10 bytes");
      }
      a.totp_secret = *std::move(secret);
    }
    for (const OperatorAccount& other : out) {
      if (other.name == a.name) return bad(absl::StrCat("operator ", a.name, " appears twice"));
    }
    out.push_back(std::move(a));
  }
  if (!header) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no \"", kAccountsHeader, "\" header line"));
  }
  return out;
}

namespace {

// An exclusive flock(2) on "<path>.lock", released when destroyed.
class FileLock {
 public:
  static absl::StatusOr<std::unique_ptr<FileLock>> Take(const std::string& accounts_path) {
    const std::string path = accounts_path + ".lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return absl::UnavailableError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
    }
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat(path, ": cannot lock: ", std::strerror(error)));
    }
    return std::unique_ptr<FileLock>(new FileLock(fd));
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace

OperatorAccounts::FileIdentity OperatorAccounts::IdentityOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return FileIdentity();
  FileIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  id.ctime_ns = st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
  return id;
}

absl::Status OperatorAccounts::RefreshLocked(bool strict) const {
  // The identity is taken before reading: a change after it shows as a
  // different identity at the next look, and is read then.
  const FileIdentity now = IdentityOf(path_);
  if (now == loaded_) return absl::OkStatus();
  std::vector<OperatorAccount> list;
  absl::StatusOr<std::string> text = crypto::ReadSmallFile(path_, /*secret=*/true);
  absl::Status read = text.status();
  if (absl::IsNotFound(read)) {
    read = absl::OkStatus();  // no file: no accounts
  } else if (read.ok()) {
    absl::StatusOr<std::vector<OperatorAccount>> parsed = ParseAccountsFile(*text, path_);
    read = parsed.status();
    if (parsed.ok()) list = *std::move(parsed);
  }
  if (!read.ok()) {
    if (strict) return read;
    if (!(warned_ == now)) {
      warned_ = now;
      TB_LOG(WARNING) << "operator accounts not re-read, the accounts stay as last loaded: "
                      << read;
    }
    return absl::OkStatus();
  }
  accounts_.clear();
  for (OperatorAccount& a : list) accounts_[a.name] = std::move(a);
  loaded_ = now;
  ++generation_;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<OperatorAccounts>> OperatorAccounts::Open(std::string path) {
  std::unique_ptr<OperatorAccounts> accounts(new OperatorAccounts(path));
  absl::MutexLock lock(&accounts->mu_);
  TB_RETURN_IF_ERROR(accounts->RefreshLocked(/*strict=*/true));
  return accounts;
}

std::optional<OperatorAccount> OperatorAccounts::Find(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  RefreshLocked(/*strict=*/false).IgnoreError();  // not strict: never fails
  auto it = accounts_.find(name);
  if (it == accounts_.end()) return std::nullopt;
  return it->second;
}

std::vector<OperatorAccount> OperatorAccounts::List() const {
  absl::MutexLock lock(&mu_);
  RefreshLocked(/*strict=*/false).IgnoreError();
  std::vector<OperatorAccount> out;
  for (const auto& [name, a] : accounts_) out.push_back(a);
  return out;
}

uint64_t OperatorAccounts::generation() const {
  absl::MutexLock lock(&mu_);
  RefreshLocked(/*strict=*/false).IgnoreError();
  return generation_;
}

absl::Status OperatorAccounts::Change(
    const std::function<absl::Status(std::map<std::string, OperatorAccount, std::less<>>&)>&
        change) {
  // The file lock first: it may wait for another process, and readers of
  // this object must not wait with it.
  TB_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> file_lock, FileLock::Take(path_));
  absl::MutexLock lock(&mu_);
  TB_RETURN_IF_ERROR(RefreshLocked(/*strict=*/true));
  std::map<std::string, OperatorAccount, std::less<>> before = accounts_;
  absl::Status changed = change(accounts_);
  if (changed.ok()) changed = Save();
  if (!changed.ok()) {  // memory stays as the file is
    accounts_ = std::move(before);
    return changed;
  }
  loaded_ = IdentityOf(path_);
  ++generation_;
  return absl::OkStatus();
}

absl::Status OperatorAccounts::Put(OperatorAccount account) {
  TB_RETURN_IF_ERROR(pki::ValidateOperatorName(account.name));
  TB_RETURN_IF_ERROR(ParsePasswordHash(account.password_hash).status());
  return Change([&](auto& accounts) {
    const std::string name = account.name;
    accounts[name] = std::move(account);
    return absl::OkStatus();
  });
}

absl::Status OperatorAccounts::Update(absl::string_view name,
                                      const std::function<absl::Status(OperatorAccount&)>& change) {
  return Change([&](auto& accounts) -> absl::Status {
    auto it = accounts.find(name);
    if (it == accounts.end()) {
      return absl::NotFoundError(absl::StrCat("no operator account ", name));
    }
    OperatorAccount changed = it->second;
    TB_RETURN_IF_ERROR(change(changed));
    TB_RETURN_IF_ERROR(ParsePasswordHash(changed.password_hash).status());
    if (changed.name != it->second.name) {
      return absl::InternalError("an account update may not rename the account");
    }
    it->second = std::move(changed);
    return absl::OkStatus();
  });
}

absl::Status OperatorAccounts::Remove(absl::string_view name) {
  return Change([&](auto& accounts) -> absl::Status {
    auto it = accounts.find(name);
    if (it == accounts.end()) {
      return absl::NotFoundError(absl::StrCat("no operator account ", name));
    }
    accounts.erase(it);
    return absl::OkStatus();
  });
}

absl::Status OperatorAccounts::Save() {
  std::vector<OperatorAccount> list;
  for (const auto& [name, a] : accounts_) list.push_back(a);
  return crypto::ReplaceFileAtomically(path_, EncodeAccountsFile(list), 0600);
}

}  // namespace tongban::admin
