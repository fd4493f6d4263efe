#include "admin/auth.h"

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admin/totp.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "tongban/v1/store.pb.h"

namespace tongban::admin {

storage::AuditEntry OperatorAuditEntry(const AuthenticatedOperator& op, absl::string_view action,
                                       absl::string_view person, absl::string_view purpose,
                                       const absl::Status& outcome) {
  return storage::MakeAuditEntry(op.name, RoleName(op.role), action, person, purpose, outcome);
}

Authenticator::Authenticator(const OperatorAccounts* accounts, pki::Certificate operator_ca,
                             const Clock* clock, AuthOptions options, storage::Store* store)
    : accounts_(accounts),
      operator_ca_(std::move(operator_ca)),
      clock_(clock),
      options_(std::move(options)),
      dummy_hash_(UnusablePasswordHash(options_.suite, options_.password_iterations)),
      store_(store) {}

Authenticator::State& Authenticator::StateOf(absl::string_view name) const {
  auto it = state_.find(name);
  if (it != state_.end()) return it->second;
  State s;
  if (store_ != nullptr) {
    absl::StatusOr<std::optional<v1::LockoutState>> stored = store_->GetLockout(name);
    if (!stored.ok()) {
      // Unreadable: count it as locked for this lock-out period rather than
      // as never failed (fail closed), and say so.
      TB_LOG(ERROR) << "lock-out state of operator " << name
                    << " cannot be read, locked for now: " << stored.status();
      s.locked_until = clock_->Now() + options_.lockout;
      return state_[std::string(name)] = s;
    }
    if (stored->has_value()) {
      const v1::LockoutState& p = **stored;
      s.failures = static_cast<int>(p.failures());
      if (p.locked_until_micros() != 0)
        s.locked_until = absl::FromUnixMicros(p.locked_until_micros());
      if (p.last_totp_step() != 0) s.last_totp_step = p.last_totp_step();
    }
  }
  return state_[std::string(name)] = s;
}

absl::Status Authenticator::Persist(absl::string_view name, const State& s) const {
  if (store_ == nullptr) return absl::OkStatus();
  v1::LockoutState p;
  p.set_failures(static_cast<uint32_t>(s.failures));
  if (s.locked_until != absl::InfinitePast()) {
    p.set_locked_until_micros(absl::ToUnixMicros(s.locked_until));
  }
  if (s.last_totp_step != std::numeric_limits<int64_t>::min()) {
    p.set_last_totp_step(s.last_totp_step);
  }
  storage::Batch batch(*store_);
  batch.PutLockout(name, p);
  return Prefixed(absl::StrCat("lock-out state of operator ", name),
                  store_->Commit(batch, /*sync=*/true));
}

bool Authenticator::IsLockedOut(absl::string_view name) const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  return StateOf(name).locked_until > now;
}

Authenticator::Lockout Authenticator::LockoutOf(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  const State& s = StateOf(name);
  return Lockout{s.failures, s.locked_until};
}

absl::Status Authenticator::Unlock(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  State& s = StateOf(name);
  State after = s;
  after.failures = 0;
  after.locked_until = absl::InfinitePast();
  TB_RETURN_IF_ERROR(Persist(name, after));
  s = after;
  return absl::OkStatus();
}

absl::StatusOr<AuthenticatedOperator> Authenticator::Authenticate(
    const pki::Certificate& client_cert, absl::string_view password, absl::string_view totp_code,
    std::string* reason) {
  std::string why;
  auto refuse = [&](absl::string_view name, std::string detail, absl::string_view extra = "") {
    why = std::move(detail);
    if (reason != nullptr) *reason = why;
    return absl::UnauthenticatedError(
        absl::StrCat("authentication failed", name.empty() ? "" : " for operator ", name, extra));
  };
  const absl::Time now = clock_->Now();

  // 1. The certificate: who claims to be calling.
  absl::StatusOr<pki::OperatorIdentity> id =
      pki::VerifyOperatorCertificate(client_cert, operator_ca_, now);
  if (!id.ok()) return refuse("", absl::StrCat("certificate: ", id.status().message()));
  if (id->county != options_.county) {
    return refuse(id->name, absl::StrCat("certificate is for county ", id->county));
  }
  const std::string& name = id->name;
  int64_t last_step;
  {
    absl::MutexLock lock(&mu_);
    State& s = StateOf(name);
    if (s.locked_until > now) {
      return refuse(
          name, "locked",
          absl::StrCat(": locked after ", options_.max_failures, " failures until ",
                       absl::FormatTime(absl::RFC3339_sec, s.locked_until, absl::UTCTimeZone())));
    }
    last_step = s.last_totp_step;
  }

  // 2 and 3, all evaluated whatever fails first.
  const std::optional<OperatorAccount> account = accounts_->Find(name);
  absl::StatusOr<bool> password_ok =
      CheckPassword(account.has_value() ? account->password_hash : dummy_hash_, password);
  bool totp_ok = !options_.require_totp;
  std::optional<int64_t> step;  // the TOTP step used, if any
  if (account.has_value() && !account->totp_secret.empty()) {
    absl::StatusOr<int64_t> matched = MatchTotp(account->totp_secret, totp_code, now, last_step);
    totp_ok = matched.ok();
    if (matched.ok()) step = *matched;
  }
  std::vector<absl::string_view> failed;
  if (!account.has_value()) {
    failed.push_back("no such account");
  } else {
    if (account->disabled) failed.push_back("account disabled");
    if (RoleName(account->role) != id->role) failed.push_back("certificate role differs");
  }
  if (!password_ok.ok() || !*password_ok) failed.push_back("password");
  if (!totp_ok) failed.push_back("totp");

  absl::MutexLock lock(&mu_);
  State& s = StateOf(name);
  if (failed.empty() && step.has_value() && *step <= s.last_totp_step) {
    failed.push_back("totp");  // a concurrent login used this step meanwhile
  }
  State after = s;
  if (failed.empty()) {
    after.failures = 0;
    if (step.has_value()) after.last_totp_step = *step;
    if (after.failures != s.failures || after.last_totp_step != s.last_totp_step) {
      if (absl::Status kept = Persist(name, after); !kept.ok()) {
        TB_LOG(ERROR) << "login of operator " << name << " refused: " << kept;
        return refuse(name, absl::StrCat("lock-out state: ", kept.message()));
      }
    }
    s = after;
    if (reason != nullptr) reason->clear();
    return AuthenticatedOperator{id->county, name, account->role};
  }
  std::string extra;
  if (++after.failures >= options_.max_failures) {
    after.failures = 0;
    after.locked_until = now + options_.lockout;
    extra =
        absl::StrCat(": locked after ", options_.max_failures, " failures until ",
                     absl::FormatTime(absl::RFC3339_sec, after.locked_until, absl::UTCTimeZone()));
    TB_LOG(WARNING) << "operator " << name << " locked out until " << after.locked_until;
  }
  if (absl::Status kept = Persist(name, after); !kept.ok()) {
    TB_LOG(ERROR) << "a failed login of operator " << name
                  << " is counted in memory only: " << kept;
  }
  s = after;
  return refuse(name, absl::StrJoin(failed, ", "), extra);
}

}  // namespace tongban::admin
