// Authenticator: who an Admin call comes from. Three factors, checked in
// this order (MLPS level 3: two or more, one cryptographic):
//
//   1. the TLS client certificate, issued by the county's operator CA
//      (pki::VerifyOperatorCertificate): county, name and role;
//   2. the account's password (admin/operators.h);
//   3. a TOTP code (admin/totp.h), if the account has enrolled one; with
//      `require_totp`, an account without one cannot log in.
//
// The certificate's role must equal the account's, and the account must be
// enabled. Every refusal says only "authentication failed for operator
// <name>" (kUnauthenticated), whatever failed, so a caller never learns
// which factor was wrong; the reason goes to `reason`, for the audit log
// and the node's own log (it never holds a password or a code). The
// password and the TOTP code are both checked even when the first is
// wrong, and an unknown account costs the same hash as a known one.
//
// Lock-out: after `max_failures` consecutive failures an operator is
// refused, without checking anything else, until `lockout` has passed; the
// refusal says so ("... is locked until <time>"), which tells nothing about
// the factors. A success resets the count. With a store, the lock-out
// state (failures, locked-until, the last TOTP step) is written to it
// (storage/keys.h "lockout/", synced) at every change, and read from it the
// first time an operator is seen, so a restart lifts no lock-out; without
// one it is kept in memory only. A TOTP step once used is not accepted
// again for that operator (no replay). If the state cannot be written, the
// login is refused (a lock-out that would not survive a restart is not
// trusted to hold).
//
// Thread safety: safe for concurrent use; the password hash runs outside the
// lock.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "admin/operators.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "common/pki/pki.h"
#include "storage/audit_log.h"
#include "storage/store.h"

namespace tongban::admin {

struct AuthOptions {
  // This county's node code; certificates of other counties are refused.
  std::string county;
  // The node's suite: the hash an unknown account's dummy check runs with.
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  // Iterations of that dummy check: keep it equal to the accounts' hashes.
  uint32_t password_iterations = kDefaultPasswordIterations;
  // Consecutive failures that lock an operator out, and for how long.
  int max_failures = 5;
  absl::Duration lockout = absl::Minutes(15);
  // Refuse accounts without an enrolled TOTP secret.
  bool require_totp = false;
};

struct AuthenticatedOperator {
  std::string county;
  std::string name;
  Role role = Role::kClerk;
};

// The audit entry of an access by `op` (storage/audit_log.h): `person` is
// the full ID or empty, `purpose` the operator's stated reason, `outcome`
// the call's result.
storage::AuditEntry OperatorAuditEntry(const AuthenticatedOperator& op, absl::string_view action,
                                       absl::string_view person, absl::string_view purpose,
                                       const absl::Status& outcome);

class Authenticator {
 public:
  // `accounts`, `clock` and `store` are not owned and outlive this;
  // `store` may be null (lock-out state in memory only).
  Authenticator(const OperatorAccounts* accounts, pki::Certificate operator_ca, const Clock* clock,
                AuthOptions options, storage::Store* store = nullptr);

  // The operator, or kUnauthenticated as described above. `reason`, if not
  // null, receives why it failed ("password", "totp", "locked", ...), or is
  // cleared on success.
  absl::StatusOr<AuthenticatedOperator> Authenticate(const pki::Certificate& client_cert,
                                                     absl::string_view password,
                                                     absl::string_view totp_code,
                                                     std::string* reason = nullptr);

  // Whether `name` is locked out now; and lifting a lock-out (an
  // administrator's act, audited by the caller). Unlock fails only if the
  // store cannot be written.
  bool IsLockedOut(absl::string_view name) const;
  absl::Status Unlock(absl::string_view name);

  struct Lockout {
    int failures = 0;  // consecutive failures since the last success or lock
    absl::Time locked_until = absl::InfinitePast();
  };
  // `name`'s lock-out state as it stands (for `operator list`).
  Lockout LockoutOf(absl::string_view name) const;

 private:
  struct State {
    int failures = 0;
    absl::Time locked_until = absl::InfinitePast();
    int64_t last_totp_step = std::numeric_limits<int64_t>::min();
  };
  // `name`'s state: from memory, else from the store, else fresh.
  State& StateOf(absl::string_view name) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes `name`'s state to the store (if any), synced.
  absl::Status Persist(absl::string_view name, const State& s) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const OperatorAccounts* const accounts_;  // Not owned; outlives this.
  const pki::Certificate operator_ca_;
  const Clock* const clock_;  // Not owned; outlives this.
  const AuthOptions options_;
  const std::string dummy_hash_;  // what an unknown account is checked against
  storage::Store* const store_;   // Not owned; may be null.

  mutable absl::Mutex mu_;
  mutable std::map<std::string, State, std::less<>> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban::admin
