#include "tongbanctl/admin_client.h"

#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/key_file.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"
#include "sync/grpc_status.h"
#include "tongban/v1/admin.grpc.pb.h"
#include "tongbanctl/i18n.h"
#include "tongbanctl/profiles.h"

namespace tongban::cli {
namespace {

// The flag's value, else the environment variable's, else the profile's.
std::string Setting(const Args& args, const char* flag, const char* env,
                    const std::string& profile_value) {
  if (args.Has(flag)) return args.Get(flag);
  const char* v = std::getenv(env);
  if (v != nullptr) return v;
  return profile_value;
}

absl::StatusOr<std::string> RequiredFile(const Args& args, const char* flag, const char* env,
                                         const std::string& profile_value, bool secret) {
  const std::string path = Setting(args, flag, env, profile_value);
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "missing --", flag, " (or ", env, ", or a profile: tongbanctl profile add): see --help"));
  }
  return crypto::ReadSmallFile(path, secret);
}

// Asks for a TOTP code on the terminal.
absl::StatusOr<std::string> PromptTotp() {
  if (!::isatty(STDIN_FILENO)) {
    return absl::InvalidArgumentError(
        "the profile asks for a TOTP code but standard input is not a terminal: give --totp CODE");
  }
  std::cerr << (ChineseLocale() ? "动态口令 (TOTP): " : "TOTP code: ") << std::flush;
  std::string code;
  std::getline(std::cin, code);
  return std::string(absl::StripAsciiWhitespace(code));
}

// Whether `node` (HOST:PORT) answers a plain HTTP request with HTTP: a
// port that is not TLS at all (the metrics endpoint) may close a TLS
// handshake instead of answering it, which looks like a refusal.
bool SpeaksHttp(const std::string& node) {
  const size_t colon = node.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = node.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), node.substr(colon + 1).c_str(), &hints, &found) != 0) {
    return false;
  }
  bool http = false;
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    timeval timeout{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    constexpr char kRequest[] = "HEAD / HTTP/1.0\r\n\r\n";
    char reply[5] = {};
    http = ::connect(fd, found->ai_addr, found->ai_addrlen) == 0 &&
           ::send(fd, kRequest, sizeof(kRequest) - 1, MSG_NOSIGNAL) > 0 &&
           ::recv(fd, reply, sizeof(reply), MSG_WAITALL) == sizeof(reply) &&
           std::string(reply, sizeof(reply)) == "HTTP/";
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return http;
}

}  // namespace

void QuietGrpcLogs() {
  gpr_set_log_function([](gpr_log_func_args*) {});
}

std::vector<FlagSpec> ConnectionFlags() {
  return {{"node"},          {"ca"},   {"cert"},    {"key"},
          {"password-file"}, {"totp"}, {"profile"}, {"json", false}};
}

absl::Status ExplainConnectionError(int code, const std::string& message, const std::string& node,
                                    const std::string& operator_county) {
  const bool zh = ChineseLocale();
  const auto unavailable = [&](const std::string& english, const std::string& chinese) {
    return absl::UnavailableError(zh ? chinese : english);
  };
  if (code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return unavailable(
        absl::StrCat("the node at ", node,
                     " did not answer in time: is it down or overloaded, or does a firewall "
                     "drop the traffic? (systemctl status tongband on the node)"),
        absl::StrCat("节点 ", node,
                     " 未在时限内应答：节点是否宕机或过载，或被防火墙拦截？（在节点上执行 "
                     "systemctl status tongband）"));
  }
  if (code != grpc::StatusCode::UNAVAILABLE)
    return absl::Status(static_cast<absl::StatusCode>(code), message);
  if (absl::StrContains(message, "Connection refused")) {
    return unavailable(
        absl::StrCat("nothing listens on ", node,
                     ": is tongband running there (systemctl status tongband), and is this its "
                     "Admin port ([admin] listen in tongband.conf, 7444 by default)?"),
        absl::StrCat(node,
                     " 上没有服务在监听：tongband 是否在运行（systemctl status "
                     "tongband）？端口是否为管理端口（tongband.conf 中 [admin] listen，默认 "
                     "7444）？"));
  }
  if (absl::StrContains(message, "certificate verify failed")) {
    return unavailable(
        absl::StrCat("the certificate of the node at ", node,
                     " is not trusted by --ca: give the federation CA that issued the node's "
                     "certificate (the ca.crt the node's tongband.conf names)"),
        absl::StrCat("节点 ", node,
                     " 的证书不受 --ca 信任：请使用签发该节点证书的联盟 CA（节点 tongband.conf "
                     "中 ca 指定的 ca.crt）"));
  }
  if (absl::StrContains(message, "is not in peer certificate")) {
    return unavailable(
        absl::StrCat("wrong node or address: the certificate of the node at ", node,
                     " does not name that address; connect with the name or address its "
                     "certificate was issued for (tongbanctl pki issue --dns/--ip)"),
        absl::StrCat("节点或地址不符：", node,
                     " 处节点的证书未包含该地址；请使用证书签发时的域名或地址（tongbanctl pki "
                     "issue --dns/--ip）"));
  }
  const bool closed =
      absl::StrContains(message, "Socket closed") || absl::StrContains(message, "Connection reset");
  if (absl::StrContains(message, "wrong version number") ||
      absl::StrContains(message, "packet length too long") ||
      absl::StrContains(message, "http request") || (closed && SpeaksHttp(node))) {
    return unavailable(
        absl::StrCat(node,
                     " does not speak TLS: is it the metrics port or another service? "
                     "Use the Admin port ([admin] listen)"),
        absl::StrCat(node,
                     " 不是 TLS 服务：是否为指标端口或其他服务？请使用管理端口（[admin] listen）"));
  }
  if (closed) {
    const std::string county = operator_county.empty() ? "your county" : operator_county;
    return unavailable(
        absl::StrCat("the node at ", node,
                     " closed the connection during the TLS handshake: it does not accept your "
                     "operator certificate (issued for ",
                     county,
                     "). Is this the Admin port of your county's own node, not its peer port or "
                     "another county's node?"),
        absl::StrCat("节点 ", node, " 在 TLS 握手时断开连接：它不接受您的操作员证书（签发给 ",
                     operator_county.empty() ? "本县" : operator_county,
                     "）。请确认这是本县节点的管理端口，而非对等端口或其他县的节点。"));
  }
  if (absl::StrContains(message, "DNS resolution failed") ||
      absl::StrContains(message, "name resolution")) {
    return unavailable(absl::StrCat("cannot resolve the host of ", node, ": check --node"),
                       absl::StrCat("无法解析 ", node, " 的主机名：请检查 --node"));
  }
  return unavailable(absl::StrCat("cannot reach the node at ", node, ": ", message),
                     absl::StrCat("无法连接节点 ", node, "：", message));
}

struct AdminClient::Impl {
  std::unique_ptr<v1::Admin::Stub> stub;
  std::string node;
  std::string operator_county;
  std::string password;
  std::string totp;

  template <typename Req, typename Rep>
  absl::StatusOr<Rep> Call(const Req& request,
                           grpc::Status (v1::Admin::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                   Rep*),
                           std::chrono::seconds timeout = std::chrono::seconds(60)) {
    grpc::ClientContext ctx;
    Prepare(&ctx, timeout);
    Rep reply;
    const grpc::Status s = (stub.get()->*method)(&ctx, request, &reply);
    if (!s.ok()) return Explain(s);
    return reply;
  }

  void Prepare(grpc::ClientContext* ctx, std::chrono::seconds timeout) const {
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    if (!password.empty()) ctx->AddMetadata("x-tongban-password", password);
    if (!totp.empty()) ctx->AddMetadata("x-tongban-totp", totp);
  }

  absl::Status Explain(const grpc::Status& s) const {
    return ExplainConnectionError(s.error_code(), s.error_message(), node, operator_county);
  }
};

AdminClient::AdminClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminClient::~AdminClient() = default;

absl::StatusOr<std::unique_ptr<AdminClient>> AdminClient::FromArgs(const Args& args) {
  TB_ASSIGN_OR_RETURN(std::optional<Profile> chosen, ChosenProfile(args.Get("profile")));
  const Profile profile = chosen.value_or(Profile{});
  const std::string node = Setting(args, "node", "TONGBAN_NODE", profile.node);
  if (node.empty()) {
    return absl::InvalidArgumentError(
        "missing --node HOST:PORT (or TONGBAN_NODE, or a profile: tongbanctl profile add): see "
        "--help");
  }
  grpc::SslCredentialsOptions ssl;
  TB_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                      RequiredFile(args, "ca", "TONGBAN_CA", profile.ca, /*secret=*/false));
  TB_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                      RequiredFile(args, "cert", "TONGBAN_CERT", profile.cert, /*secret=*/false));
  TB_ASSIGN_OR_RETURN(ssl.pem_private_key,
                      RequiredFile(args, "key", "TONGBAN_KEY", profile.key, /*secret=*/true));
  // A file that is no certificate would fail later with gRPC's "empty
  // address list"; say which file it is instead.
  struct Pem {
    const char* flag;
    const char* env;
    const std::string& profile_value;
    const std::string& text;
  };
  for (const Pem& p : {Pem{"ca", "TONGBAN_CA", profile.ca, ssl.pem_root_certs},
                       Pem{"cert", "TONGBAN_CERT", profile.cert, ssl.pem_cert_chain}}) {
    if (!pki::Certificate::FromPem(p.text).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Setting(args, p.flag, p.env, p.profile_value), ": not a certificate (PEM)"));
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->node = node;
  if (absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromPem(ssl.pem_cert_chain);
      cert.ok()) {
    if (absl::StatusOr<pki::OperatorIdentity> who = pki::OperatorFromCertificate(*cert); who.ok()) {
      impl->operator_county = who->county;
    }
  }
  const char* env_password = std::getenv("TONGBAN_PASSWORD");
  const std::string password_file = args.Has("password-file") ? args.Get("password-file")
                                    : env_password != nullptr ? std::string()
                                                              : profile.password_file;
  if (!password_file.empty()) {
    TB_ASSIGN_OR_RETURN(std::string pw, crypto::ReadSmallFile(password_file, /*secret=*/true));
    impl->password = std::string(absl::StripTrailingAsciiWhitespace(pw));
  } else if (env_password != nullptr) {
    impl->password = env_password;
  }
  impl->totp = Setting(args, "totp", "TONGBAN_TOTP", "");
  if (impl->totp.empty() && profile.totp == "prompt") {
    TB_ASSIGN_OR_RETURN(impl->totp, PromptTotp());
  }
  if (impl->password.empty() && impl->totp.empty()) {
    return absl::InvalidArgumentError(
        "missing the second factor: --password-file FILE or --totp CODE (or TONGBAN_PASSWORD, "
        "TONGBAN_TOTP, or a profile)");
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
TB_CLIENT_METHOD(ListOperators, OperatorsRequest, OperatorsReply)
TB_CLIENT_METHOD(ManageOperator, ManageOperatorRequest, ManageOperatorReply)
TB_CLIENT_METHOD(RotateKey, RotateKeyRequest, RotateKeyReply)
#undef TB_CLIENT_METHOD

// A bundle may take as long as its bytes need on a slow link.
absl::StatusOr<v1::BundleSummary> AdminClient::ExportBundle(
    const v1::ExportBundleRequest& r, const std::function<absl::Status(absl::string_view)>& on_data,
    const std::function<void(const v1::BundleProgress&)>& on_progress) {
  grpc::ClientContext ctx;
  impl_->Prepare(&ctx, std::chrono::hours(12));
  std::unique_ptr<grpc::ClientReader<v1::BundleChunk>> reader = impl_->stub->ExportBundle(&ctx, r);
  v1::BundleChunk chunk;
  std::optional<v1::BundleSummary> summary;
  absl::Status local;
  while (reader->Read(&chunk)) {
    if (!chunk.data().empty()) {
      local = on_data(chunk.data());
      if (!local.ok()) {
        ctx.TryCancel();
        break;
      }
    }
    if (chunk.has_progress() && on_progress) on_progress(chunk.progress());
    if (chunk.has_summary()) summary = chunk.summary();
  }
  const grpc::Status s = reader->Finish();
  if (!local.ok()) return local;
  if (!s.ok()) return impl_->Explain(s);
  if (!summary.has_value())
    return absl::DataLossError("the node ended the export without a summary");
  return *summary;
}

absl::StatusOr<v1::ImportBundleReply> AdminClient::ImportBundle(
    const std::string& path, const std::function<void(uint64_t sent)>& on_sent) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  grpc::ClientContext ctx;
  impl_->Prepare(&ctx, std::chrono::hours(12));
  v1::ImportBundleReply reply;
  std::unique_ptr<grpc::ClientWriter<v1::BundleChunk>> writer =
      impl_->stub->ImportBundle(&ctx, &reply);
  v1::BundleChunk chunk;
  std::string buffer(1 << 20, '\0');
  uint64_t sent = 0;
  absl::Status local;
  while (true) {
    const size_t n = std::fread(buffer.data(), 1, buffer.size(), f);
    if (n == 0) {
      if (std::ferror(f)) local = absl::DataLossError(absl::StrCat("cannot read ", path));
      break;
    }
    chunk.set_data(buffer.data(), n);
    if (!writer->Write(chunk)) break;  // the node ended the call: Finish says why
    sent += n;
    if (on_sent) on_sent(sent);
  }
  std::fclose(f);
  if (!local.ok()) {
    ctx.TryCancel();
    writer->Finish();
    return local;
  }
  writer->WritesDone();
  const grpc::Status s = writer->Finish();
  if (!s.ok()) return impl_->Explain(s);
  return reply;
}

// A first backup copies the whole database: allow it hours, not a minute.
absl::StatusOr<v1::BackupReply> AdminClient::Backup(const v1::BackupRequest& r) {
  return impl_->Call<v1::BackupRequest, v1::BackupReply>(r, &v1::Admin::Stub::Backup,
                                                         std::chrono::hours(6));
}

}  // namespace tongban::cli
