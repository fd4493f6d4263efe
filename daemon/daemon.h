// Daemon is everything tongband runs: the Node (node/node.h) plus the
// operators' surfaces, each started only when configured:
//   [admin]    the Admin service on its own port, operators authenticated by
//              certificate (the county's operator CA) and password (and TOTP
//              where enrolled), calls checked against their role and audited
//              (admin/admin.h, admin/auth.h, admin/operators.h);
//   [console]  the web console over HTTPS (console/server.h), signing
//              operators in exactly as the Admin service does and calling
//              the same Admin logic;
//   [metrics]  Prometheus metrics and /healthz over HTTP.
//
// Health follows the node's readiness (node/node.h: appends not blocked,
// store not failed): the Admin service's gRPC health ("tongban.v1.Admin"
// and "") and /healthz (200, or 503 with the reason) change with the peer
// server's ("tongban.v1.Exchange" and "").
//
// A password check costs a PBKDF2 of 600,000 rounds (0.15 s with SHA-256,
// 0.5 s with SM3). tongbanctl sends the password with every call, so after
// a successful check the daemon remembers, for two minutes, a keyed hash of
// (certificate, password) and accepts the same pair again without the
// PBKDF2. TOTP codes are never remembered (each is good once), and a wrong
// password always goes through the full check and its lock-out count.
//
// Thread safety: Stop may be called from any thread.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "node/config.h"
#include "node/node.h"

namespace tongban::daemon {

class Daemon {
 public:
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const node::Config& config,
                                                       const Clock* clock,
                                                       node::NodeOptions options = {});
  ~Daemon();  // Stop()

  // Stops the operator surfaces, then the node (gracefully). Idempotent.
  void Stop();

  node::Node& node() { return *node_; }
  int admin_port() const;    // 0 when Admin is off
  int console_port() const;  // 0 when the console is off
  int metrics_port() const;  // 0 when metrics are off

 private:
  struct Impl;
  Daemon();
  std::unique_ptr<node::Node> node_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tongban::daemon
