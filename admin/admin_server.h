// The Admin service over gRPC (proto/tongban/v1/admin.proto), on a port of
// its own. TLS requires a client certificate issued by the county's operator
// CA; the operator is named by the certificate's URI SANs
// ("urn:tongban:operator:<county>:<name>", "urn:tongban:role:<role>").
// Every call also carries the second factor in its metadata
// ("x-tongban-password", and "x-tongban-totp" for accounts with TOTP), which
// `authenticate` checks with the certificate (admin/auth.h: lock-out after
// repeated failures). A refusal is UNAUTHENTICATED whichever factor failed. The authenticated
// operator's calls go to AdminApi, which checks the role and audits.
//
// The server also answers the standard gRPC health check
// (grpc.health.v1.Health) and server reflection, so that grpcurl and
// grpc_health_probe work against it.
//
// This header does not include gRPC.
//
// Thread safety: Stop may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "admin/admin.h"
#include "common/pki/pki.h"

namespace tongban::admin {

class AdminServer {
 public:
  // Checks the operator's certificate (verified by TLS against the operator
  // CA) and second factor; returns the operator with its role, or the
  // refusal to send.
  using Authenticate = std::function<absl::StatusOr<Operator>(
      const pki::Certificate& cert, const std::string& password, const std::string& totp)>;

  struct Options {
    std::string address = "127.0.0.1:0";
    std::string cert_pem;  // this node's certificate and key
    std::string key_pem;
    std::string operator_ca_pem;  // verifies operators' client certificates
    Authenticate authenticate;
    AdminApi* api = nullptr;  // not owned
  };

  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(Options options);
  ~AdminServer();  // Stop()

  int port() const;
  // The gRPC health status of "tongban.v1.Admin" and "": SERVING from
  // Start; the daemon follows the node's readiness (daemon/daemon.h).
  void SetServing(bool serving);
  void Stop();

 private:
  struct Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tongban::admin
