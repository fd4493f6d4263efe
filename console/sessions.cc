#include "console/sessions.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/suite.h"
#include "common/hex.h"

namespace tongban::console {
namespace {

absl::StatusOr<std::string> RandomHex() {
  absl::StatusOr<std::string> bytes = crypto::RandomBytes(32);
  if (!bytes.ok()) return absl::InternalError("no random bytes for a session");
  return HexEncode(*bytes);
}

}  // namespace

SessionStore::SessionStore(SessionOptions options, const Clock* clock)
    : options_(options), clock_(clock) {}

std::string SessionStore::Expired(const Session& s, absl::Time now) const {
  if (now - s.last_used >= options_.idle) {
    return absl::StrCat("session expired after ", absl::FormatDuration(options_.idle), " idle");
  }
  if (now - s.created >= options_.lifetime) {
    return absl::StrCat("session ended ", absl::FormatDuration(options_.lifetime),
                        " after sign-in");
  }
  return "";
}

absl::StatusOr<Session> SessionStore::Open(const admin::Operator& op, std::string certificate) {
  Session s;
  absl::StatusOr<std::string> id = RandomHex();
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> csrf = RandomHex();
  if (!csrf.ok()) return csrf.status();
  s.id = *std::move(id);
  s.csrf = *std::move(csrf);
  s.op = op;
  s.certificate = std::move(certificate);
  s.created = s.last_used = clock_->Now();
  absl::MutexLock lock(&mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = Expired(it->second, s.created).empty() ? std::next(it) : sessions_.erase(it);
  }
  while (sessions_.size() >= options_.max_sessions) {
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    }
    sessions_.erase(oldest);
  }
  sessions_[s.id] = s;
  return s;
}

absl::StatusOr<Session> SessionStore::Use(absl::string_view id, absl::string_view certificate) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return absl::UnauthenticatedError("not signed in");
  if (const std::string why = Expired(it->second, now); !why.empty()) {
    sessions_.erase(it);
    return absl::UnauthenticatedError(why);
  }
  if (it->second.certificate != certificate) {
    return absl::UnauthenticatedError(
        "this session was opened with another client certificate: sign in again");
  }
  it->second.last_used = now;
  return it->second;
}

void SessionStore::Close(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) sessions_.erase(it);
}

size_t SessionStore::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

}  // namespace tongban::console
