#include "admin/admin_server.h"

#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "sync/grpc_status.h"
#include "tongban/v1/admin.grpc.pb.h"

namespace tongban::admin {
namespace {

// The client certificate TLS verified against the operator CA.
absl::StatusOr<pki::Certificate> ClientCertificate(const grpc::AuthContext& auth) {
  std::vector<grpc::string_ref> pems = auth.FindPropertyValues("x509_pem_cert");
  if (pems.size() != 1) return absl::UnauthenticatedError("operator authentication failed");
  absl::StatusOr<pki::Certificate> cert =
      pki::Certificate::FromPem(absl::string_view(pems[0].data(), pems[0].size()));
  if (!cert.ok()) return absl::UnauthenticatedError("operator authentication failed");
  return cert;
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

#define TB_ADMIN_METHOD(Method, Request, Reply)                                               \
  grpc::Status Method(grpc::ServerContext* ctx, const v1::Request* request, v1::Reply* reply) \
      override {                                                                              \
    return Call<v1::Request, v1::Reply>(ctx, *request, reply, &AdminApi::Method);             \
  }
  TB_ADMIN_METHOD(Status, StatusRequest, StatusReply)
  TB_ADMIN_METHOD(Peers, PeersRequest, PeersReply)
  TB_ADMIN_METHOD(ClearHold, ClearHoldRequest, ClearHoldReply)
  TB_ADMIN_METHOD(Write, WriteRequest, WriteReply)
  TB_ADMIN_METHOD(GetPerson, PersonRequest, PersonReply)
  TB_ADMIN_METHOD(PersonHistory, PersonRequest, HistoryReply)
  TB_ADMIN_METHOD(Where, WhereRequestAdmin, WhereReplyAdmin)
  TB_ADMIN_METHOD(Audit, AuditRequest, AuditReply)
  TB_ADMIN_METHOD(ListInquiries, InquiryListRequest, InquiryListReply)
  TB_ADMIN_METHOD(ListNotices, NoticeListRequest, NoticeListReply)
  TB_ADMIN_METHOD(Stats, StatsRequest, StatsReply)
  TB_ADMIN_METHOD(StatsMany, StatsManyRequest, StatsManyReply)
  TB_ADMIN_METHOD(CertificatePayload, CertificatePayloadRequest, CertificatePayloadReply)
  TB_ADMIN_METHOD(RevocationList, RevocationListRequest, RevocationListReply)
  TB_ADMIN_METHOD(Import, ImportRequest, ImportReply)
  TB_ADMIN_METHOD(SearchPersons, SearchPersonsRequest, SearchPersonsReply)
  TB_ADMIN_METHOD(Fleet, FleetRequest, FleetReply)
  TB_ADMIN_METHOD(AccessReport, AccessReportRequest, AccessReportReply)
  TB_ADMIN_METHOD(MetricsHistory, MetricsHistoryRequest, MetricsHistoryReply)
  TB_ADMIN_METHOD(ListOperators, OperatorsRequest, OperatorsReply)
  TB_ADMIN_METHOD(ManageOperator, ManageOperatorRequest, ManageOperatorReply)
  TB_ADMIN_METHOD(Backup, BackupRequest, BackupReply)
  TB_ADMIN_METHOD(RotateKey, RotateKeyRequest, RotateKeyReply)
#undef TB_ADMIN_METHOD

  // The bundle's bytes go out as they are written (one chunk per sealed
  // segment), with a progress chunk at most twice a second, and the summary
  // last.
  grpc::Status ExportBundle(grpc::ServerContext* ctx, const v1::ExportBundleRequest* request,
                            grpc::ServerWriter<v1::BundleChunk>* writer) override {
    absl::StatusOr<Operator> op = Authenticated(*ctx);
    if (!op.ok()) return sync::ToGrpcStatus(op.status());
    v1::BundleChunk chunk;
    const node::BundleSink sink = [&](absl::string_view bytes) -> absl::Status {
      chunk.Clear();
      chunk.set_data(std::string(bytes));
      if (!writer->Write(chunk)) {
        return absl::CancelledError("the operator's connection closed during the export");
      }
      return absl::OkStatus();
    };
    absl::Time shown = absl::InfinitePast();
    const node::BundleProgressFn progress = [&](const node::BundleProgress& p) {
      const absl::Time now = absl::Now();
      if (now - shown < absl::Milliseconds(500)) return;
      shown = now;
      chunk.Clear();
      v1::BundleProgress* out = chunk.mutable_progress();
      out->set_events(p.events);
      out->set_batches(p.batches);
      out->set_bytes(p.bytes);
      out->set_events_estimate(p.events_estimate);
      writer->Write(chunk);  // a closed connection fails the next data chunk
    };
    absl::StatusOr<v1::BundleSummary> summary = api_->ExportBundle(*op, *request, sink, progress);
    if (!summary.ok()) return sync::ToGrpcStatus(summary.status());
    chunk.Clear();
    *chunk.mutable_summary() = *std::move(summary);
    writer->Write(chunk);
    return grpc::Status::OK;
  }

  // The upload is spooled to a file in the data folder (the import reads it
  // twice: whole, then to apply), removed afterwards.
  grpc::Status ImportBundle(grpc::ServerContext* ctx, grpc::ServerReader<v1::BundleChunk>* reader,
                            v1::ImportBundleReply* reply) override {
    absl::StatusOr<Operator> op = Authenticated(*ctx);
    if (!op.ok()) return sync::ToGrpcStatus(op.status());
    absl::StatusOr<v1::ImportBundleReply> result;
    if (!api_->MayExchangeBundles(*op).ok()) {
      result = api_->ImportBundle(*op, "");  // refused, and the refusal audited
    } else {
      absl::StatusOr<std::string> path = api_->NewSpoolFile();
      if (!path.ok()) return sync::ToGrpcStatus(path.status());
      absl::Status spooled = Spool(reader, *path);
      result = spooled.ok() ? api_->ImportBundle(*op, *path) : spooled;
      std::remove(path->c_str());
    }
    if (!result.ok()) return sync::ToGrpcStatus(result.status());
    *reply = *std::move(result);
    return grpc::Status::OK;
  }

 private:
  static absl::Status Spool(grpc::ServerReader<v1::BundleChunk>* reader, const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
    }
    absl::Status status;
    uint64_t total = 0;
    v1::BundleChunk chunk;
    while (status.ok() && reader->Read(&chunk)) {
      total += chunk.data().size();
      if (total > AdminApi::kMaxBundleBytes) {
        status = absl::ResourceExhaustedError(
            absl::StrCat("bundle larger than ", AdminApi::kMaxBundleBytes >> 30, " GiB"));
      } else if (std::fwrite(chunk.data().data(), 1, chunk.data().size(), f) !=
                 chunk.data().size()) {
        status = absl::ResourceExhaustedError(
            absl::StrCat("cannot spool the bundle to ", path, ": ", std::strerror(errno)));
      }
    }
    if (std::fclose(f) != 0 && status.ok()) {
      status = absl::ResourceExhaustedError(
          absl::StrCat("cannot spool the bundle to ", path, ": ", std::strerror(errno)));
    }
    return status;
  }

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
    absl::StatusOr<pki::Certificate> cert = ClientCertificate(*ctx.auth_context());
    if (!cert.ok()) {
      TB_LOG(WARNING) << "admin call refused: no operator certificate";
      return cert.status();
    }
    // The authenticator's refusal never says which factor failed.
    return authenticate_(*cert, Metadata(ctx, "x-tongban-password"),
                         Metadata(ctx, "x-tongban-totp"));
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
    return absl::InvalidArgumentError(
        "admin server: api, authenticate and operator CA are required");
  }
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<AdminService>(std::move(options.authenticate), options.api);
  TB_ASSIGN_OR_RETURN(
      impl->server, sync::StartMutualTlsServer("admin server", options.address,
                                               options.operator_ca_pem, options.cert_pem,
                                               options.key_pem, impl->service.get(), &impl->port));
  sync::SetServing(impl->server.get(), v1::Admin::service_full_name(), true);
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

int AdminServer::port() const { return impl_->port; }

void AdminServer::SetServing(bool serving) {
  sync::SetServing(impl_->server.get(), v1::Admin::service_full_name(), serving);
}

void AdminServer::Stop() {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace tongban::admin
