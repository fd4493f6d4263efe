// Shared gRPC glue for the files that include gRPC (sync/transport.cc,
// admin/admin_server.cc, clients): absl::Status <-> grpc::Status (the codes
// are the same values in both), and starting a mutual-TLS server.
#pragma once

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace tongban::sync {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// Starts a server on `address` that requires and verifies a client
// certificate issued by `client_ca_pem`, presents `cert_pem`/`key_pem`,
// serves `service` (not owned) and answers the standard health check and
// server reflection, so that grpc_health_probe and grpcurl work. `*port`
// receives the bound port. `max_receive_bytes`, if positive, is the largest
// message it takes (gRPC 1.51 refuses a larger one only once it has received
// it whole); `quota_bytes`, if positive, is a memory quota for its transport
// buffers (past it gRPC resets streams rather than buffer on). kUnavailable
// naming `what` and the address if it cannot listen.
inline absl::StatusOr<std::unique_ptr<grpc::Server>> StartMutualTlsServer(
    const std::string& what, const std::string& address, const std::string& client_ca_pem,
    const std::string& cert_pem, const std::string& key_pem, grpc::Service* service, int* port,
    int max_receive_bytes = 0, uint64_t quota_bytes = 0) {
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({key_pem, cert_pem});
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::SslServerCredentials(ssl), port);
  builder.RegisterService(service);
  if (max_receive_bytes > 0) builder.SetMaxReceiveMessageSize(max_receive_bytes);
  if (quota_bytes > 0) {
    grpc::ResourceQuota quota(absl::StrCat(what, " transport"));
    quota.Resize(quota_bytes);
    builder.SetResourceQuota(quota);  // the builder and server keep a reference
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError(absl::StrCat(what, ": cannot listen on ", address));
  }
  return server;
}

// Sets the standard health status (grpc.health.v1.Health) of `service`
// ("tongban.v1.Exchange") and of the server as a whole (""): SERVING or
// NOT_SERVING. Ignored after the server began to shut down (gRPC then
// answers NOT_SERVING for every name).
inline void SetServing(grpc::Server* server, const std::string& service, bool serving) {
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(service, serving);
  health->SetServingStatus("", serving);
}

}  // namespace tongban::sync
