#include "node/admin_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "sync/grpc_status.h"
#include "tongban/v1/admin.grpc.pb.h"

namespace tongban::node {
namespace {

// The operator named by the client certificate's URI SAN.
absl::StatusOr<std::string> OperatorIdentity(const grpc::AuthContext& auth) {
  std::string identity;
  int found = 0;
  for (const grpc::string_ref& uri : auth.FindPropertyValues("peer_uri")) {
    const absl::string_view v(uri.data(), uri.size());
    if (absl::StartsWith(v, kOperatorUriPrefix)) {
      identity = std::string(v.substr(sizeof(kOperatorUriPrefix) - 1));
      ++found;
    }
  }
  if (found != 1) return absl::UnauthenticatedError("operator authentication failed");
  return identity;
}

std::string Metadata(const grpc::ServerContext& ctx, const char* key) {
  auto it = ctx.client_metadata().find(key);
  if (it == ctx.client_metadata().end()) return "";
  return std::string(it->second.data(), it->second.size());
}

class AdminService final : public v1::Admin::Service {
 public:
  AdminService(AdminServer::Authenticate authenticate, AdminApi* api)
      : authenticate_(std::move(authenticate)), api_(api) {}

#define TB_ADMIN_METHOD(Method, Request, Reply)                                      \
  grpc::Status Method(grpc::ServerContext* ctx, const v1::Request* request,          \
                      v1::Reply* reply) override {                                   \
    return Call<v1::Request, v1::Reply>(ctx, *request, reply, &AdminApi::Method);     \
  }
  TB_ADMIN_METHOD(Status, StatusRequest, StatusReply)
  TB_ADMIN_METHOD(Peers, PeersRequest, PeersReply)
  TB_ADMIN_METHOD(ClearHold, ClearHoldRequest, ClearHoldReply)
  TB_ADMIN_METHOD(Write, WriteRequest, WriteReply)
  TB_ADMIN_METHOD(GetPerson, PersonRequest, PersonReply)
  TB_ADMIN_METHOD(PersonHistory, PersonRequest, HistoryReply)
  TB_ADMIN_METHOD(Where, WhereRequestAdmin, WhereReplyAdmin)
  TB_ADMIN_METHOD(Audit, AuditRequest, AuditReply)
#undef TB_ADMIN_METHOD

 private:
  template <typename Req, typename Rep>
  grpc::Status Call(grpc::ServerContext* ctx, const Req& request, Rep* reply,
                    absl::StatusOr<Rep> (AdminApi::*method)(const Operator&, const Req&)) {
    absl::StatusOr<Operator> op = Authenticated(*ctx);
    if (!op.ok()) return sync::ToGrpcStatus(op.status());
    absl::StatusOr<Rep> result = (api_->*method)(*op, request);
    if (!result.ok()) return sync::ToGrpcStatus(result.status());
    *reply = *std::move(result);
    return grpc::Status::OK;
  }

  absl::StatusOr<Operator> Authenticated(const grpc::ServerContext& ctx) {
    absl::StatusOr<std::string> identity = OperatorIdentity(*ctx.auth_context());
    if (!identity.ok()) {
      TB_LOG(WARNING) << "admin call refused: no operator certificate";
      return identity.status();
    }
    absl::StatusOr<Operator> op = authenticate_(*identity, Metadata(ctx, "x-tongban-password"),
                                                Metadata(ctx, "x-tongban-totp"));
    if (!op.ok()) {
      TB_LOG(WARNING) << "admin call refused: operator " << *identity << ": " << op.status();
      // Never say which factor failed.
      if (absl::IsResourceExhausted(op.status())) return op.status();  // locked out
      return absl::UnauthenticatedError("operator authentication failed");
    }
    return op;
  }

  const AdminServer::Authenticate authenticate_;
  AdminApi* const api_;
};

}  // namespace

struct AdminServer::Impl {
  std::unique_ptr<AdminService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool stopped = false;
};

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() { Stop(); }

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(Options options) {
  if (options.api == nullptr || !options.authenticate || options.operator_ca_pem.empty()) {
    return absl::InvalidArgumentError("admin server: api, authenticate and operator CA are required");
  }
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = options.operator_ca_pem;
  ssl.pem_key_cert_pairs.push_back({options.key_pem, options.cert_pem});
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<AdminService>(std::move(options.authenticate), options.api);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, grpc::SslServerCredentials(ssl), &impl->port);
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return absl::UnavailableError(absl::StrCat("admin server: cannot listen on ", options.address));
  }
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

int AdminServer::port() const { return impl_->port; }

void AdminServer::Stop() {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace tongban::node
