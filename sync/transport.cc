#include "sync/transport.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/sync_stream.h>

#include <atomic>
#include <deque>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/thread.h"
#include "sync/grpc_status.h"
#include "sync/input_account.h"
#include "tongban/v1/exchange.grpc.pb.h"

namespace tongban::sync {
namespace {

constexpr char kNodeUriPrefix[] = "urn:tongban:node:";
// How often a waiting session looks at its stop flag.
constexpr absl::Duration kStopPoll = absl::Milliseconds(100);
// How long a closing client waits for the server to end the stream.
constexpr absl::Duration kCloseWait = absl::Seconds(5);
// What is read (and dropped) after a session ended, waiting for the peer to
// close its side: a peer flooding past it is not read any further.
constexpr uint64_t kDrainBytes = 2 * kMaxMessageBytes;

// The node code in the verified peer certificate's URI SAN.
absl::StatusOr<std::string> PeerCode(const grpc::AuthContext& auth) {
  std::string code;
  int found = 0;
  for (const grpc::string_ref& uri : auth.FindPropertyValues("peer_uri")) {
    const absl::string_view v(uri.data(), uri.size());
    if (absl::StartsWith(v, kNodeUriPrefix)) {
      code = std::string(v.substr(sizeof(kNodeUriPrefix) - 1));
      ++found;
    }
  }
  if (found != 1) {
    return absl::UnauthenticatedError("peer certificate does not name exactly one tongban node");
  }
  return code;
}

// The PEM of the peer's certificate as TLS verified it; empty if none.
std::string PeerCertificatePem(const grpc::AuthContext& auth) {
  for (const grpc::string_ref& pem : auth.FindPropertyValues("x509_pem_cert")) {
    return std::string(pem.data(), pem.size());
  }
  return "";
}

// The Sync method, read and written as bytes (grpc::ByteBuffer) rather than
// as parsed messages, so that the transport sees every message's size before
// it parses it and can tell bytes that do not parse from the end of the
// stream (the typed API returns false for both).
constexpr char kSyncMethod[] = "/tongban.v1.Exchange/Sync";

using RawServerStream = grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;
using RawClientStream = grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;

bool Serialize(const v1::SyncMessage& msg, grpc::ByteBuffer* out) {
  bool own = false;
  return grpc::SerializationTraits<v1::SyncMessage>::Serialize(msg, out, &own).ok();
}

// One message as read: parsed, or the size of bytes that do not parse.
struct Inbound {
  v1::SyncMessage msg;
  uint64_t bytes = 0;
  bool unparsable = false;
};

// What a session loop needs from a gRPC stream, server or client side. The
// reader thread asks the session's input account before every read
// (sync/input_account.h): while the peer's unprocessed input is at its
// credit, nothing more is read, and gRPC's flow control slows the peer.
template <typename Stream>
class StreamPump {
 public:
  StreamPump(Stream* stream, storage::Writer* writer, Session& session)
      : stream_(stream), writer_(writer), session_(session) {
    listener_ = writer_->AddListener([this] {
      absl::MutexLock lock(&mu_);
      changed_ = true;
    });
    absl::StatusOr<std::thread> reader = StartThread("tb-stream-read", [this] { ReadLoop(); });
    if (reader.ok()) {
      reader_ = *std::move(reader);
    } else {
      // Run() reports it; with no reader there is nothing to wait for.
      start_error_ = reader.status();
      absl::MutexLock lock(&mu_);
      reader_done_ = true;
    }
  }

  // REQUIRES: the reader has ended (CancelAndJoin or WaitReaderDone first).
  ~StreamPump() {
    session_.input().Close();
    writer_->RemoveListener(listener_);
    if (reader_.joinable()) reader_.join();
  }

  // Runs the session until the peer ends the stream, `stop` is set, or an
  // error; returns the error or OK, and tells the session. From then on the
  // reader only drains what the peer still sends, holding none of it.
  absl::Status Run(const std::atomic<bool>& stop) {
    absl::Status result = RunUntilEnd(stop);
    session_.input().Close();
    session_.Ended(result);
    return result;
  }

  // A write failed: the peer ended the call (its status says why).
  bool broken() const { return broken_; }

  // Waits up to `timeout` for the peer to end the stream.
  bool WaitReaderDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&reader_done_), timeout);
  }

  // Writes `msg` to the stream; false if the peer ended the call.
  bool Write(const v1::SyncMessage& msg) {
    grpc::ByteBuffer buffer;
    if (!Serialize(msg, &buffer)) return false;
    return stream_->Write(buffer);
  }

 private:
  void ReadLoop() {
    InputAccount& input = session_.input();
    for (;;) {
      if (!input.WaitMayRead()) {
        // The session ended: read on until the peer closes its side (so it
        // gets our status rather than a cancellation), keeping nothing, but
        // no more than kDrainBytes: a peer that keeps sending is not read
        // further (the call then ends with our status all the same).
        grpc::ByteBuffer ignored;
        uint64_t drained = 0;
        while (drained <= kDrainBytes && stream_->Read(&ignored)) {
          drained += ignored.Length();
          ignored.Clear();
        }
        break;
      }
      grpc::ByteBuffer buffer;
      if (!stream_->Read(&buffer)) break;
      Inbound in;
      in.bytes = buffer.Length();
      in.unparsable =
          !grpc::SerializationTraits<v1::SyncMessage>::Deserialize(&buffer, &in.msg).ok();
      input.Read(in.bytes, !in.unparsable && in.msg.has_batch());
      const bool unparsable = in.unparsable;
      {
        absl::MutexLock lock(&mu_);
        inbox_.push_back(std::move(in));
      }
      if (unparsable) break;  // nothing after it is read: the session ends
    }
    absl::MutexLock lock(&mu_);
    reader_done_ = true;
  }

  absl::Status RunUntilEnd(const std::atomic<bool>& stop) {
    TB_RETURN_IF_ERROR(start_error_);
    TB_ASSIGN_OR_RETURN(std::vector<v1::SyncMessage> start, session_.Start());
    for (const v1::SyncMessage& m : start) {
      if (!Write(m)) return Broken();
    }
    std::vector<v1::SyncMessage> out;
    for (;;) {
      // Send what the peer's credit allows.
      for (;;) {
        TB_ASSIGN_OR_RETURN(std::optional<v1::SyncMessage> batch, session_.NextBatch());
        if (!batch.has_value()) break;
        if (!Write(*batch)) return Broken();
      }
      std::deque<Inbound> inbox;
      bool done;
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](StreamPump* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
                                   return !p->inbox_.empty() || p->reader_done_ || p->changed_;
                                 },
                                 this),
                             kStopPoll);
        inbox.swap(inbox_);
        changed_ = false;
        done = reader_done_;
      }
      for (const Inbound& m : inbox) {
        if (m.unparsable) return session_.OnUnparsable(m.bytes);
        out.clear();
        TB_RETURN_IF_ERROR(session_.OnReceived(m.msg, m.bytes, &out));
        for (const v1::SyncMessage& o : out) {
          if (!Write(o)) return Broken();
        }
      }
      if (done && inbox.empty()) return absl::OkStatus();
      if (stop.load()) return absl::OkStatus();
    }
  }

  absl::Status Broken() {
    broken_ = true;
    return absl::UnavailableError("stream closed while writing");
  }

  Stream* const stream_;
  storage::Writer* const writer_;
  Session& session_;
  int listener_ = -1;
  bool broken_ = false;       // only the session thread writes
  absl::Status start_error_;  // the reader thread could not start
  std::thread reader_;
  absl::Mutex mu_;
  std::deque<Inbound> inbox_ ABSL_GUARDED_BY(mu_);
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;
  bool changed_ ABSL_GUARDED_BY(mu_) = true;
};

// In-band reason for ending a session, written before the call ends.
v1::SyncMessage Goodbye(const absl::Status& result) {
  v1::SyncMessage bye;
  bye.mutable_goodbye()->set_code(static_cast<int>(result.code()));
  bye.mutable_goodbye()->set_message(std::string(result.message()));
  return bye;
}

class ExchangeService final : public v1::Exchange::Service {
 public:
  explicit ExchangeService(ExchangeServer::Options& options)
      : check_(std::move(options.check)),
        sessions_(std::move(options.sessions)),
        writer_(options.writer),
        where_(std::move(options.where)),
        witness_(std::move(options.witness)),
        roster_(std::move(options.roster)),
        admitted_(std::move(options.admitted)) {
    // Sync (method 0) is served on bytes (see kSyncMethod); the unary calls
    // keep their generated, parsed handlers. The handler type is the one the
    // generated code uses (grpc::internal, stable within a gRPC release);
    // issue #21 moves Sync to WithRawCallbackMethod_Sync instead.
    MarkMethodStreamed(
        0, new grpc::internal::BidiStreamingHandler<ExchangeService, grpc::ByteBuffer,
                                                    grpc::ByteBuffer>(
               [](ExchangeService* service, grpc::ServerContext* ctx, RawServerStream* stream) {
                 return service->RawSync(ctx, stream);
               },
               this));
  }

  grpc::Status Where(grpc::ServerContext* ctx, const v1::WhereRequest* request,
                     v1::WhereReply* reply) override {
    return Unary(ctx, reply, [&](const std::string& peer) -> absl::StatusOr<v1::WhereReply> {
      if (!where_) {
        return absl::FailedPreconditionError(
            "only the national node answers where a person's records are held");
      }
      return where_(peer, request->person());
    });
  }

  grpc::Status Witness(grpc::ServerContext* ctx, const v1::WitnessRequest* request,
                       v1::WitnessReply* reply) override {
    return Unary(ctx, reply, [&](const std::string& peer) -> absl::StatusOr<v1::WitnessReply> {
      if (!witness_) {
        return absl::FailedPreconditionError("this node is not the witness (the national node is)");
      }
      return witness_(peer, *request);
    });
  }

  grpc::Status GetRoster(grpc::ServerContext* ctx, const v1::RosterRequest* request,
                         v1::RosterReply* reply) override {
    return Unary(ctx, reply, [&](const std::string&) -> absl::StatusOr<v1::RosterReply> {
      if (!roster_) {
        return absl::FailedPreconditionError(
            "this node does not serve the roster (the national node does)");
      }
      v1::RosterReply answer;
      std::optional<v1::SignedRoster> newer = roster_(request->have_version());
      if (newer.has_value()) *answer.mutable_roster() = *std::move(newer);
      return answer;
    });
  }

  grpc::Status RawSync(grpc::ServerContext* ctx, RawServerStream* stream) {
    absl::StatusOr<std::string> peer = PeerCode(*ctx->auth_context());
    if (!peer.ok()) return ToGrpcStatus(peer.status());
    // Refused before anything is read: the status says why.
    if (absl::Status admitted = check_(*peer); !admitted.ok()) {
      TB_LOG(WARNING) << "refused peer " << *peer << ": " << admitted.message();
      return ToGrpcStatus(admitted);
    }
    if (admitted_) admitted_(*peer, PeerCertificatePem(*ctx->auth_context()));
    std::unique_ptr<Session> session = sessions_(*peer);
    stream->SendInitialMetadata();
    TB_LOG(INFO) << "peer " << *peer << " connected";
    absl::Status result;
    {
      StreamPump pump(stream, writer_, *session);
      result = pump.Run(stopping_);
      absl::Duration grace = absl::ZeroDuration();
      if (!result.ok()) {
        // Say why in-band, then give the peer time to close its side, so
        // that it also gets the status below rather than a cancellation.
        pump.Write(Goodbye(result));
        grace = kCloseWait;
      }
      if (!pump.WaitReaderDone(grace)) {
        ctx->TryCancel();  // unblocks the reader
        pump.WaitReaderDone(absl::InfiniteDuration());
      }
    }
    TB_LOG(INFO) << "peer " << *peer << " session ended: " << result;
    return ToGrpcStatus(result);
  }

  void Stop() { stopping_ = true; }

 private:
  // A unary call: the caller is admitted (certificate, then PeerCheck) before
  // `answer(peer)` runs, as for sessions.
  template <typename Reply, typename Answer>
  grpc::Status Unary(grpc::ServerContext* ctx, Reply* reply, const Answer& answer) {
    absl::StatusOr<std::string> peer = PeerCode(*ctx->auth_context());
    if (!peer.ok()) return ToGrpcStatus(peer.status());
    if (absl::Status admitted = check_(*peer); !admitted.ok()) return ToGrpcStatus(admitted);
    absl::StatusOr<Reply> answered = answer(*peer);
    if (!answered.ok()) return ToGrpcStatus(answered.status());
    *reply = *std::move(answered);
    return grpc::Status::OK;
  }

  const PeerCheck check_;
  const SessionFactory sessions_;
  storage::Writer* const writer_;
  const WhereAnswer where_;
  const WitnessAnswer witness_;
  const RosterAnswer roster_;
  const std::function<void(const std::string&, const std::string&)> admitted_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

// --- ExchangeServer ---

struct ExchangeServer::Impl {
  std::unique_ptr<ExchangeService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool stopped = false;
};

ExchangeServer::ExchangeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExchangeServer::~ExchangeServer() { Stop(); }

absl::StatusOr<std::unique_ptr<ExchangeServer>> ExchangeServer::Start(Options options) {
  if (options.writer == nullptr || !options.check || !options.sessions) {
    return absl::InvalidArgumentError("exchange server: writer, check and sessions are required");
  }
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<ExchangeService>(options);
  TB_ASSIGN_OR_RETURN(
      impl->server, StartMutualTlsServer(
                        "exchange server", options.address, options.tls.ca_pem,
                        options.tls.cert_pem, options.tls.key_pem, impl->service.get(), &impl->port,
                        static_cast<int>(kMaxMessageBytes), options.transport_memory_bytes));
  sync::SetServing(impl->server.get(), v1::Exchange::service_full_name(), true);
  return std::unique_ptr<ExchangeServer>(new ExchangeServer(std::move(impl)));
}

int ExchangeServer::port() const { return impl_->port; }

void ExchangeServer::SetServing(bool serving) {
  sync::SetServing(impl_->server.get(), v1::Exchange::service_full_name(), serving);
}

void ExchangeServer::Stop() {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  impl_->service->Stop();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

// --- Client side ---

namespace {
std::shared_ptr<grpc::Channel> Dial(const std::string& target, const TlsIdentity& tls) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls.ca_pem;
  ssl.pem_private_key = tls.key_pem;
  ssl.pem_cert_chain = tls.cert_pem;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(kMaxMessageBytes));
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
}

// A unary call to the node at `target`, which must present `peer`'s
// certificate.
template <typename Request, typename Reply>
absl::StatusOr<Reply> CallUnary(const std::string& peer, const std::string& target,
                                const TlsIdentity& tls, const Request& request,
                                grpc::Status (v1::Exchange::Stub::*method)(grpc::ClientContext*,
                                                                           const Request&, Reply*),
                                absl::Duration timeout = absl::Seconds(30)) {
  std::unique_ptr<v1::Exchange::Stub> stub = v1::Exchange::NewStub(Dial(target, tls));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  Reply reply;
  const grpc::Status s = (stub.get()->*method)(&ctx, request, &reply);
  if (!s.ok()) return Prefixed(absl::StrCat("node ", peer), FromGrpcStatus(s));
  absl::StatusOr<std::string> who = PeerCode(*ctx.auth_context());
  if (!who.ok() || *who != peer) {
    return absl::PermissionDeniedError(
        absl::StrCat(target, " presented node ", who.ok() ? *who : "(none)", ", expected ", peer));
  }
  return reply;
}

}  // namespace

absl::StatusOr<v1::WhereReply> AskWhere(const std::string& peer, const std::string& target,
                                        const TlsIdentity& tls, const std::string& person) {
  v1::WhereRequest request;
  request.set_person(person);
  return CallUnary(peer, target, tls, request, &v1::Exchange::Stub::Where);
}

absl::StatusOr<v1::WitnessReply> AskWitness(const std::string& peer, const std::string& target,
                                            const TlsIdentity& tls,
                                            const v1::WitnessRequest& request,
                                            absl::Duration timeout) {
  return CallUnary(peer, target, tls, request, &v1::Exchange::Stub::Witness, timeout);
}

absl::StatusOr<std::optional<v1::SignedRoster>> FetchRoster(const std::string& peer,
                                                            const std::string& target,
                                                            const TlsIdentity& tls,
                                                            uint64_t have_version) {
  v1::RosterRequest request;
  request.set_have_version(have_version);
  TB_ASSIGN_OR_RETURN(v1::RosterReply reply,
                      CallUnary(peer, target, tls, request, &v1::Exchange::Stub::GetRoster));
  if (!reply.has_roster()) return std::nullopt;
  return reply.roster();
}

// --- PeerConnection ---

struct PeerConnection::Impl {
  Options options;
  std::atomic<bool> stop{false};
  std::thread thread;
  mutable absl::Mutex mu;
  std::optional<absl::Status> result ABSL_GUARDED_BY(mu);

  void Run() {
    absl::Status s = RunSession();
    if (!s.ok()) {
      TB_LOG(WARNING) << "session with peer " << options.peer << " ended: " << s;
    }
    absl::MutexLock lock(&mu);
    result = s;
  }

  absl::Status RunSession() {
    std::shared_ptr<grpc::Channel> channel = Dial(options.target, options.tls);
    grpc::ClientContext ctx;
    std::unique_ptr<RawClientStream> stream(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            channel.get(),
            grpc::internal::RpcMethod(kSyncMethod, grpc::internal::RpcMethod::BIDI_STREAMING),
            &ctx));
    // Returns once the server admitted us (it sends metadata first) or
    // ended the call (a refusal, a failed handshake).
    stream->WaitForInitialMetadata();
    absl::StatusOr<std::string> who = PeerCode(*ctx.auth_context());
    if (!who.ok() || *who != options.peer) {
      ctx.TryCancel();
      const absl::Status finished = FromGrpcStatus(stream->Finish());
      // The server's own refusal says more than our view of its identity.
      if (!finished.ok() && !absl::IsCancelled(finished)) {
        return Prefixed(absl::StrCat("peer ", options.peer), finished);
      }
      return absl::PermissionDeniedError(absl::StrCat(options.target, " presented node ",
                                                      who.ok() ? *who : "(none)", ", expected ",
                                                      options.peer));
    }
    absl::Status result;
    bool broken = false;
    {
      StreamPump pump(stream.get(), options.writer, *options.session);
      result = pump.Run(stop);
      broken = pump.broken();
      // A rejection is said in-band, as the server does.
      if (!result.ok() && !broken) pump.Write(Goodbye(result));
      stream->WritesDone();
      if (!pump.WaitReaderDone(kCloseWait)) {
        ctx.TryCancel();
        pump.WaitReaderDone(absl::InfiniteDuration());
      }
    }
    const absl::Status finished =
        Prefixed(absl::StrCat("peer ", options.peer), FromGrpcStatus(stream->Finish()));
    // When the server ended the call, its status says why our write failed.
    if (broken && !finished.ok()) return finished;
    if (!result.ok()) return result;
    return finished;
  }
};

PeerConnection::PeerConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
// How the session ended was logged by Run(); nobody is left to tell.
PeerConnection::~PeerConnection() { Stop().IgnoreError(); }

std::unique_ptr<PeerConnection> PeerConnection::Start(Options options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  Impl* raw = impl.get();
  absl::StatusOr<std::thread> thread =
      StartThread(absl::StrCat("tb-peer-", raw->options.peer), [raw] { raw->Run(); });
  if (thread.ok()) {
    impl->thread = *std::move(thread);
  } else {
    // The session never ran: result() and Stop() report why.
    TB_LOG(WARNING) << "session with peer " << raw->options.peer
                    << " not started: " << thread.status();
    absl::MutexLock lock(&raw->mu);
    raw->result = Prefixed(absl::StrCat("peer ", raw->options.peer), thread.status());
  }
  return std::unique_ptr<PeerConnection>(new PeerConnection(std::move(impl)));
}

absl::Status PeerConnection::Stop() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  absl::MutexLock lock(&impl_->mu);
  return impl_->result.value_or(absl::OkStatus());
}

std::optional<absl::Status> PeerConnection::result() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->result;
}

}  // namespace tongban::sync
