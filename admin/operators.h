// Operators: their roles and what each role may do, their password hashes,
// and the accounts file.
//
// Roles (DOMAIN.md "Actors"; MLPS level 3 wants administrator, auditor and
// operational roles separated, and least privilege):
//
//   permission                        clerk  administrator  auditor
//   read persons and their records      x
//   write, correct, retract records     x
//   list inquiries due                  x
//   export and import offline bundles   x
//   read statistics (aggregates)        x         x            x
//   read peers and their state          x         x            x
//   manage peers and the roster                   x
//   manage operator accounts                      x
//   manage configuration                          x
//   read and verify the audit trail                            x
//
// The administrator runs the node but never sees personal data; the clerk
// works with personal data but cannot read the trail of what was done with
// it; the auditor reads that trail (which names persons: it must say whose
// data was touched) and nothing else. Bundles are a disclosure of personal
// data to another county, so they are the clerk's work, audited like every
// other. Every account change by the administrator is itself audited, so
// the auditor sees an administrator who gives themselves a second role.
//
// Passwords: PBKDF2-HMAC with the suite's hash (SHA-256 for intl, SM3 for
// gm), a random 16-byte salt per hash and 600,000 iterations by default
// (OWASP's 2023 figure for PBKDF2-HMAC-SHA256; one check takes about 0.2 s
// with SHA-256 and 0.5 to 0.7 s with SM3 on this project's machine). Why PBKDF2 and not scrypt or
// Argon2: it is parameterised by the hash, so the gm suite derives with SM3
// as GB/T 39786 expects of user authentication, and OpenSSL 3.0 has it for
// both suites; its weakness against GPU guessing matters less here because
// the password is never the only factor (the client certificate comes
// first, so only holders of an operator certificate can make the node hash
// at all) and lock-out bounds online guessing. The stored form names its
// algorithm and iteration count, so both can be raised later:
//   pbkdf2-sha256$<iterations>$<salt: 32 hex>$<hash: 64 hex>
//   pbkdf2-sm3$<iterations>$<salt: 32 hex>$<hash: 64 hex>
//
// Accounts file (text, one account a line, '#' comments; mode 0600 like a
// key file, because it holds hashes and TOTP secrets; a file that group or
// others may read is refused):
//   tongban-operators/v1
//   <name> <role> <enabled|disabled> <password hash> <TOTP secret: base32, or ->
// Names as in pki::ValidateOperatorName, each once. It is replaced whole on
// every change (crypto::ReplaceFileAtomically: written beside it, synced,
// renamed over it).
//
// One file, two writers: `tongbanctl operator add` (offline, it holds the
// operator CA) and the running daemon (the Admin service's account calls).
// Neither loses the other's change: every change takes an exclusive flock(2)
// on "<path>.lock", re-reads the file if it changed, applies itself and
// writes the file, all under that lock. And the daemon sees a change made by
// another process at its next look: every read first compares the file's
// identity (device, inode, size, modification and change times) with the one
// it loaded, and re-reads the file when it differs. A file that no longer
// parses (or became readable by others) is not taken: the accounts stay as
// last loaded, and the problem is logged once.
//
// Errors: a malformed file is kInvalidArgument naming the file and line;
// refusals of permission are kPermissionDenied naming the operator, role and
// permission.
//
// Thread safety: free functions are pure; OperatorAccounts is safe for
// concurrent use.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto/suite.h"

namespace tongban::admin {

enum class Role { kClerk = 1, kAdministrator = 2, kAuditor = 3 };
// "clerk", "administrator", "auditor" (pki::kOperatorRoles).
absl::string_view RoleName(Role role);
absl::StatusOr<Role> ParseRole(absl::string_view name);

enum class Permission {
  kReadPersons = 1,
  kWriteRecords,
  kListDeadlines,
  kExchangeBundles,
  kReadStatistics,
  kReadPeers,
  kManagePeers,
  kManageOperators,
  kManageConfig,
  kReadAuditTrail,
};
inline constexpr Permission kAllPermissions[] = {
    Permission::kReadPersons,     Permission::kWriteRecords,    Permission::kListDeadlines,
    Permission::kExchangeBundles, Permission::kReadStatistics,  Permission::kReadPeers,
    Permission::kManagePeers,     Permission::kManageOperators, Permission::kManageConfig,
    Permission::kReadAuditTrail};
// "read persons", "write records", ... (for messages and the audit log).
absl::string_view PermissionName(Permission p);

// The matrix above.
bool Allowed(Role role, Permission permission);
// OK, or kPermissionDenied "operator li.wei (clerk) may not read the audit
// trail".
absl::Status Authorize(absl::string_view operator_name, Role role, Permission permission);

// --- passwords ---

inline constexpr uint32_t kDefaultPasswordIterations = 600000;
inline constexpr size_t kMinPasswordLength = 12;

// OK, or kInvalidArgument saying the password is shorter than 12
// characters. (Never echoes the password.)
absl::Status CheckPasswordPolicy(absl::string_view password);
// The stored form above, with a fresh random salt.
absl::StatusOr<std::string> HashPassword(crypto::SuiteId suite, absl::string_view password,
                                         uint32_t iterations = kDefaultPasswordIterations);
// Whether `password` matches `stored` (compared in constant time).
// kInvalidArgument if `stored` is malformed.
absl::StatusOr<bool> CheckPassword(absl::string_view stored, absl::string_view password);

// A well-formed hash that no password is expected to match (salt and hash
// all zeros), for a check that must cost what a real one costs.
std::string UnusablePasswordHash(crypto::SuiteId suite,
                                 uint32_t iterations = kDefaultPasswordIterations);

// --- accounts ---

struct OperatorAccount {
  std::string name;
  Role role = Role::kClerk;
  bool disabled = false;
  std::string password_hash;  // HashPassword() form
  std::string totp_secret;    // raw bytes; empty when no TOTP is enrolled
  friend bool operator==(const OperatorAccount&, const OperatorAccount&) = default;
};

std::string EncodeAccountsFile(const std::vector<OperatorAccount>& accounts);
// `path` names the file in errors ("PATH:3: ...").
absl::StatusOr<std::vector<OperatorAccount>> ParseAccountsFile(absl::string_view text,
                                                               absl::string_view path);

class OperatorAccounts {
 public:
  // Reads the accounts file at `path`; a missing file is an empty set of
  // accounts (the file is created by the first Put). kPermissionDenied for a
  // file group or others may access, kInvalidArgument for a malformed one.
  static absl::StatusOr<std::unique_ptr<OperatorAccounts>> Open(std::string path);

  // Each of these first re-reads the file if another process changed it.
  std::optional<OperatorAccount> Find(absl::string_view name) const;
  // Every account, by name.
  std::vector<OperatorAccount> List() const;
  // Counts the changes of the accounts this object holds (a change through
  // Put or Remove, or a changed file re-read): whoever caches a decision
  // about an account drops it when this moves.
  uint64_t generation() const;
  // Adds or replaces the account of `account.name` and rewrites the file.
  // kInvalidArgument for an invalid name or a malformed password hash.
  absl::Status Put(OperatorAccount account);
  // Changes the account `name` with `change` (which may fail, changing
  // nothing) and rewrites the file: a read-modify-write under the file lock,
  // so a concurrent change by another process is kept. kNotFound if there is
  // no such account.
  absl::Status Update(absl::string_view name,
                      const std::function<absl::Status(OperatorAccount&)>& change);
  // Removes the account and rewrites the file; kNotFound if there is none.
  absl::Status Remove(absl::string_view name);

 private:
  // What identifies one version of the file (all zero: no file).
  struct FileIdentity {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
  };
  explicit OperatorAccounts(std::string path) : path_(std::move(path)) {}
  static FileIdentity IdentityOf(const std::string& path);
  // Re-reads the file if its identity changed; with `strict`, a file that
  // cannot be read or parsed is an error (a writer must not overwrite what
  // it could not read), else it is logged and the accounts stay.
  absl::Status RefreshLocked(bool strict) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Read-modify-write of the map under the file lock.
  absl::Status Change(
      const std::function<absl::Status(std::map<std::string, OperatorAccount, std::less<>>&)>&
          change);
  absl::Status Save() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable absl::Mutex mu_;
  mutable std::map<std::string, OperatorAccount, std::less<>> accounts_ ABSL_GUARDED_BY(mu_);
  mutable FileIdentity loaded_ ABSL_GUARDED_BY(mu_);
  mutable FileIdentity warned_ ABSL_GUARDED_BY(mu_);  // the bad version already logged
  mutable uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tongban::admin
