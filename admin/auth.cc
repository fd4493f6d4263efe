#include "admin/auth.h"

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admin/totp.h"
#include "common/log.h"

namespace tongban::admin {

storage::AuditEntry OperatorAuditEntry(const AuthenticatedOperator& op, absl::string_view action,
                                       absl::string_view person, absl::string_view purpose,
                                       const absl::Status& outcome) {
  return storage::MakeAuditEntry(op.name, RoleName(op.role), action, person, purpose, outcome);
}

Authenticator::Authenticator(const OperatorAccounts* accounts, pki::Certificate operator_ca,
                             const Clock* clock, AuthOptions options)
    : accounts_(accounts),
      operator_ca_(std::move(operator_ca)),
      clock_(clock),
      options_(std::move(options)),
      dummy_hash_(UnusablePasswordHash(options_.suite, options_.password_iterations)) {}

bool Authenticator::IsLockedOut(absl::string_view name) const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = state_.find(name);
  return it != state_.end() && it->second.locked_until > now;
}

void Authenticator::Unlock(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = state_.find(name);
  if (it == state_.end()) return;
  it->second.failures = 0;
  it->second.locked_until = absl::InfinitePast();
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
    State& s = state_[name];
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
  State& s = state_[name];
  if (failed.empty() && step.has_value() && *step <= s.last_totp_step) {
    failed.push_back("totp");  // a concurrent login used this step meanwhile
  }
  if (failed.empty()) {
    s.failures = 0;
    if (step.has_value()) s.last_totp_step = *step;
    if (reason != nullptr) reason->clear();
    return AuthenticatedOperator{id->county, name, account->role};
  }
  std::string extra;
  if (++s.failures >= options_.max_failures) {
    s.failures = 0;
    s.locked_until = now + options_.lockout;
    extra = absl::StrCat(": locked after ", options_.max_failures, " failures until ",
                         absl::FormatTime(absl::RFC3339_sec, s.locked_until, absl::UTCTimeZone()));
    TB_LOG(WARNING) << "operator " << name << " locked out until " << s.locked_until;
  }
  return refuse(name, absl::StrJoin(failed, ", "), extra);
}

}  // namespace tongban::admin
