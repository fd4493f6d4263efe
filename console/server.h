// ConsoleServer: the web console (README "Web console"), served by tongband
// on a listener of its own, HTTPS only, with cpp-httplib (Debian's
// libcpp-httplib-dev).
//
// Who may do what is decided exactly as for the Admin service:
//   - TLS asks for a client certificate from the county's operator CA
//     (optional at the TLS layer, so a browser without one gets a page that
//     says what is missing instead of a broken connection); every request
//     but the public assets needs one, else 403;
//   - sign-in (POST /api/login, password and TOTP) goes through the same
//     `authenticate` as the Admin service (admin/auth.h: lock-out after
//     repeated failures, the refusal audited), once, and opens a session
//     (console/sessions.h) bound to that certificate;
//   - every API call goes to AdminApi (console/json_api.h) as that operator,
//     which checks the role and audits.
//
// HTTP surface (IDs and other personal data travel in POST bodies, never in
// URLs; every POST must come from the console's own origin, and every POST
// but sign-in must carry the session's CSRF token in X-CSRF-Token):
//   GET  /                      the page (index.html); 403 page without a certificate
//   GET  /assets/<file>         our scripts, styles and message catalogs
//   GET  /vendor/bootstrap.min.css, /vendor/chart.min.js   from Debian's libjs-*
//   POST /api/login             {"password", "totp"} -> session cookie and
//                               {"csrf", "operator", "role", ...}
//   POST /api/session           the signed-in session (after a reload)
//   POST /api/logout
//   POST /api/call/<Method>     console/json_api.h
//   POST /api/import/start      body: the CSV file; X-File-Name, X-Encoding
//   POST /api/import/progress   {"job"}
//   POST /api/import/findings   {"job"} -> the findings CSV
// The session cookie is __Host-tb_session (Secure, HttpOnly,
// SameSite=Strict, Path=/). Every response carries a Content-Security-Policy
// that allows scripts and styles from this origin only (no inline script),
// frame-ancestors 'none', nosniff and no-referrer; API responses are
// Cache-Control: no-store.
//
// Threads: `workers` threads serve connections, one connection each at a
// time; a connection holds its thread while the TLS handshake or a request
// is read (at most `read_timeout` without progress) and while it waits for
// the next request (at most `keep_alive`), so idle connections, however
// many, delay a new one by a bounded time and cannot hold the server.
//
// Thread safety: Stop may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "admin/admin.h"
#include "common/clock.h"
#include "common/pki/pki.h"
#include "console/sessions.h"

namespace tongban::console {

struct ConsoleOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see port())
  // This node's TLS certificate and key (PEM), and the operator CA that
  // issues operators' client certificates.
  std::string cert_pem;
  std::string key_pem;
  std::string operator_ca_pem;
  // console/assets as installed, and Debian's /usr/share/javascript.
  std::string assets_dir;
  std::string javascript_dir = "/usr/share/javascript";
  SessionOptions sessions;
  int workers = 64;
  absl::Duration read_timeout = absl::Seconds(5);
  absl::Duration keep_alive = absl::Seconds(2);
  // The Admin service's check of certificate, password and TOTP.
  std::function<absl::StatusOr<admin::Operator>(const pki::Certificate&, const std::string&,
                                                const std::string&)>
      authenticate;
  admin::AdminApi* api = nullptr;  // not owned
  const Clock* clock = nullptr;    // not owned
  // The node's code and role ("county", "national"), shown and used for
  // the menu.
  std::string node;
  std::string node_role;
};

class ConsoleServer {
 public:
  // Loads the assets, binds and starts serving. kInvalidArgument naming a
  // missing asset or option; kUnavailable if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ConsoleServer>> Start(ConsoleOptions options);
  ~ConsoleServer();  // Stop()

  int port() const;
  // Stops listening, lets running requests finish, joins the threads, ends
  // every import job. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit ConsoleServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tongban::console
