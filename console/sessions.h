// SessionStore: the web console's signed-in sessions. An operator signs in
// once (client certificate, password, TOTP: admin/auth.h) and gets a
// session: a random 32-byte id (the cookie) and a random 32-byte CSRF token
// that every change must carry. A session is bound to the client
// certificate it was opened with, and ends
//   - after `idle` without use,
//   - `lifetime` after sign-in, however busy,
//   - at sign-out (Close), or
//   - when the store is full (`max_sessions`): the least recently used goes.
// Expired sessions are dropped as they are met and on every Open.
//
// Errors: Use() is kUnauthenticated for an unknown, expired or foreign
// session, saying which ("session expired after 15m idle"); never the id.
//
// Thread safety: safe for concurrent use.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "admin/admin.h"
#include "common/clock.h"

namespace tongban::console {

struct SessionOptions {
  absl::Duration idle = absl::Minutes(15);
  absl::Duration lifetime = absl::Hours(8);
  size_t max_sessions = 10000;
};

struct Session {
  std::string id;    // 64 lower-case hex: the cookie's value
  std::string csrf;  // 64 lower-case hex: the X-CSRF-Token of every change
  admin::Operator op;
  std::string certificate;  // SHA-256 fingerprint of the client certificate
  absl::Time created;
  absl::Time last_used;
};

class SessionStore {
 public:
  // `clock` is not owned and outlives this.
  SessionStore(SessionOptions options, const Clock* clock);

  // A new session of `op`, signed in with the certificate `certificate`
  // (its fingerprint). kInternal if no random bytes can be had.
  absl::StatusOr<Session> Open(const admin::Operator& op, std::string certificate);

  // The live session `id`, presented with the certificate `certificate`;
  // marks it used now. kUnauthenticated otherwise (an expired session is
  // removed).
  absl::StatusOr<Session> Use(absl::string_view id, absl::string_view certificate);

  // Ends the session; unknown ids are ignored.
  void Close(absl::string_view id);

  size_t size() const;
  const SessionOptions& options() const { return options_; }

 private:
  // Why `s` is no longer valid at `now`, or "" while it is.
  std::string Expired(const Session& s, absl::Time now) const;

  const SessionOptions options_;
  const Clock* const clock_;  // Not owned.
  mutable absl::Mutex mu_;
  std::map<std::string, Session, std::less<>> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban::console
