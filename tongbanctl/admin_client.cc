#include "tongbanctl/admin_client.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/key_file.h"
#include "common/status_macros.h"
#include "sync/grpc_status.h"
#include "tongban/v1/admin.grpc.pb.h"

namespace tongban::cli {
namespace {

// The flag's value, else the environment variable's, else "".
std::string Setting(const Args& args, const char* flag, const char* env) {
  if (args.Has(flag)) return args.Get(flag);
  const char* v = std::getenv(env);
  return v == nullptr ? "" : v;
}

absl::StatusOr<std::string> RequiredFile(const Args& args, const char* flag, const char* env,
                                         bool secret) {
  const std::string path = Setting(args, flag, env);
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing --", flag, " (or ", env, "): see --help"));
  }
  return crypto::ReadSmallFile(path, secret);
}

}  // namespace

std::vector<FlagSpec> ConnectionFlags() {
  return {{"node"}, {"ca"}, {"cert"}, {"key"}, {"password-file"}, {"totp"}, {"json", false}};
}

struct AdminClient::Impl {
  std::unique_ptr<v1::Admin::Stub> stub;
  std::string password;
  std::string totp;

  template <typename Req, typename Rep>
  absl::StatusOr<Rep> Call(const Req& request,
                           grpc::Status (v1::Admin::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                   Rep*)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (!password.empty()) ctx.AddMetadata("x-tongban-password", password);
    if (!totp.empty()) ctx.AddMetadata("x-tongban-totp", totp);
    Rep reply;
    const grpc::Status s = (stub.get()->*method)(&ctx, request, &reply);
    if (!s.ok()) return sync::FromGrpcStatus(s);
    return reply;
  }
};

AdminClient::AdminClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminClient::~AdminClient() = default;

absl::StatusOr<std::unique_ptr<AdminClient>> AdminClient::FromArgs(const Args& args) {
  const std::string node = Setting(args, "node", "TONGBAN_NODE");
  if (node.empty()) {
    return absl::InvalidArgumentError("missing --node HOST:PORT (or TONGBAN_NODE): see --help");
  }
  grpc::SslCredentialsOptions ssl;
  TB_ASSIGN_OR_RETURN(ssl.pem_root_certs, RequiredFile(args, "ca", "TONGBAN_CA", false));
  TB_ASSIGN_OR_RETURN(ssl.pem_cert_chain, RequiredFile(args, "cert", "TONGBAN_CERT", false));
  TB_ASSIGN_OR_RETURN(ssl.pem_private_key, RequiredFile(args, "key", "TONGBAN_KEY", true));
  auto impl = std::make_unique<Impl>();
  if (args.Has("password-file")) {
    TB_ASSIGN_OR_RETURN(std::string pw,
                        crypto::ReadSmallFile(args.Get("password-file"), /*secret=*/true));
    impl->password = std::string(absl::StripTrailingAsciiWhitespace(pw));
  } else if (const char* pw = std::getenv("TONGBAN_PASSWORD"); pw != nullptr) {
    impl->password = pw;
  }
  impl->totp = Setting(args, "totp", "TONGBAN_TOTP");
  if (impl->password.empty() && impl->totp.empty()) {
    return absl::InvalidArgumentError(
        "missing the second factor: --password-file FILE or --totp CODE (or TONGBAN_PASSWORD, "
        "TONGBAN_TOTP)");
  }
  impl->stub = v1::Admin::NewStub(grpc::CreateChannel(node, grpc::SslCredentials(ssl)));
  return std::unique_ptr<AdminClient>(new AdminClient(std::move(impl)));
}

#define TB_CLIENT_METHOD(Method, Request, Reply)                             \
  absl::StatusOr<v1::Reply> AdminClient::Method(const v1::Request& r) {      \
    return impl_->Call<v1::Request, v1::Reply>(r, &v1::Admin::Stub::Method); \
  }
TB_CLIENT_METHOD(Status, StatusRequest, StatusReply)
TB_CLIENT_METHOD(Peers, PeersRequest, PeersReply)
TB_CLIENT_METHOD(ClearHold, ClearHoldRequest, ClearHoldReply)
TB_CLIENT_METHOD(Write, WriteRequest, WriteReply)
TB_CLIENT_METHOD(GetPerson, PersonRequest, PersonReply)
TB_CLIENT_METHOD(PersonHistory, PersonRequest, HistoryReply)
TB_CLIENT_METHOD(Where, WhereRequestAdmin, WhereReplyAdmin)
TB_CLIENT_METHOD(Audit, AuditRequest, AuditReply)
TB_CLIENT_METHOD(ListInquiries, InquiryListRequest, InquiryListReply)
TB_CLIENT_METHOD(ListNotices, NoticeListRequest, NoticeListReply)
TB_CLIENT_METHOD(Stats, StatsRequest, StatsReply)
TB_CLIENT_METHOD(StatsMany, StatsManyRequest, StatsManyReply)
TB_CLIENT_METHOD(CertificatePayload, CertificatePayloadRequest, CertificatePayloadReply)
TB_CLIENT_METHOD(RevocationList, RevocationListRequest, RevocationListReply)
TB_CLIENT_METHOD(Import, ImportRequest, ImportReply)
TB_CLIENT_METHOD(SearchPersons, SearchPersonsRequest, SearchPersonsReply)
TB_CLIENT_METHOD(Fleet, FleetRequest, FleetReply)
TB_CLIENT_METHOD(AccessReport, AccessReportRequest, AccessReportReply)
TB_CLIENT_METHOD(MetricsHistory, MetricsHistoryRequest, MetricsHistoryReply)
#undef TB_CLIENT_METHOD

}  // namespace tongban::cli
