#include "sync/transport.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/sync_stream.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/thread.h"
#include "sync/executor.h"
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

// --- The server's sessions, on gRPC's callback API (issue #21) ---
//
// The national node holds a standing session from every county. No thread
// is kept per stream: gRPC calls a stream's reactions (a read or a write
// completed, the call was cancelled or is done) on its own few threads, and
// everything the Session does runs as a task on one shared Executor, one
// task at a time per stream. A stream's task runs only when something
// concerns it: a message arrived or a write completed, the writer made
// durable something for its peer (Writer::AddListener with the
// DurableChange), the input account lets reading resume, or the server
// stops. An idle session costs no CPU.

class ServerPump;

// The server's streams by peer, so that a durable write wakes only the
// sessions it concerns.
class PumpRegistry {
 public:
  void Add(const std::shared_ptr<ServerPump>& pump) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(const ServerPump* pump) ABSL_LOCKS_EXCLUDED(mu_);
  // Wakes the sessions of the peers `change` concerns (every session for a
  // checkpoint of our own log).
  void Wake(const storage::DurableChange& change) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends every session (cleanly, as when the peer closes); refuses new ones.
  void StopAll() ABSL_LOCKS_EXCLUDED(mu_);
  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  ExchangeServer::Activity ActivityOf(const std::string& peer) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<std::shared_ptr<ServerPump>>> by_peer_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

using RawReactor = grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

// One Sync stream at the server: its Session, the messages read and not yet
// handled, the messages to write, and the state of the one read and the one
// write gRPC allows outstanding at a time. Stream operations (StartRead,
// StartWrite, Finish) are issued only from the stream's task, never under
// mu_ (gRPC may run a reaction inline at the end of the call), and never
// after Finish.
class ServerPump : public std::enable_shared_from_this<ServerPump> {
 public:
  ServerPump(std::unique_ptr<Session> session, std::string peer, Executor* executor,
             PumpRegistry* registry)
      : session_(std::move(session)),
        peer_(std::move(peer)),
        executor_(executor),
        registry_(registry) {}

  // REQUIRES: Attach first, once; then Begin once.
  void Attach(RawReactor* reactor) { reactor_ = reactor; }
  void Begin() {
    std::weak_ptr<ServerPump> weak = weak_from_this();
    session_->input().SetResume([weak] {
      if (std::shared_ptr<ServerPump> self = weak.lock()) self->Resume();
    });
    registry_->Add(shared_from_this());
    Schedule();
  }

  const std::string& peer() const { return peer_; }
  uint64_t runs() const { return runs_.load(std::memory_order_relaxed); }
  uint64_t messages() const { return session_->input().stats().messages; }
  bool idle() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return !queued_ && !running_ && !write_pending_ && inbox_.empty();
  }

  // Reactions (gRPC's threads).
  void ReadDone(bool ok) ABSL_LOCKS_EXCLUDED(mu_) {
    Inbound in;
    bool keep = false;
    bool unparsable = false;
    uint64_t dropped = 0;
    if (ok) {
      bool ending;
      {
        absl::MutexLock lock(&mu_);
        ending = ending_;
      }
      if (ending) {
        // The session ended: what the peer still sends is read and dropped.
        dropped = read_buffer_.Length();
      } else {
        in.bytes = read_buffer_.Length();
        in.unparsable =
            !grpc::SerializationTraits<v1::SyncMessage>::Deserialize(&read_buffer_, &in.msg).ok();
        session_->input().Read(in.bytes, !in.unparsable && in.msg.has_batch());
        unparsable = in.unparsable;
        keep = true;
      }
      read_buffer_.Clear();
    }
    absl::MutexLock lock(&mu_);
    read_pending_ = false;
    if (!ok) read_closed_ = true;
    if (unparsable) no_more_reads_ = true;  // nothing after it is read: the session ends
    drained_ += dropped;
    if (keep) inbox_.push_back(std::move(in));
    ScheduleLocked();
  }
  void WriteDone(bool ok) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    write_pending_ = false;
    if (!ok) write_broken_ = true;
    ScheduleLocked();
  }
  void Cancelled() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    ScheduleLocked();
  }
  // The writer made something durable that concerns the peer.
  void Wake() ABSL_LOCKS_EXCLUDED(mu_) { Schedule(); }
  // The server stops: end the session as if the peer had closed.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    ScheduleLocked();
  }

 private:
  enum class Phase { kRunning, kEnding, kFinished };
  // At most this many messages wait to be written before the session is
  // asked for more batches.
  static constexpr size_t kMaxOutbox = 2;

  // What the task reads of the reactions' state, taken at once.
  struct Seen {
    std::deque<Inbound> inbox;
    bool read_pending = false;
    bool read_closed = false;
    bool no_more_reads = false;
    bool write_pending = false;
    bool write_broken = false;
    bool cancelled = false;
    bool stop = false;
    bool grace_over = false;
    bool read_paused = false;
    uint64_t drained = 0;
  };

  void Resume() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    read_paused_ = false;
    ScheduleLocked();
  }
  void Schedule() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ScheduleLocked();
  }
  void ScheduleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (running_) {
      again_ = true;
    } else if (!queued_) {
      queued_ = true;
      executor_->Post([self = shared_from_this()] { self->Work(); });
    }
  }

  Seen Take() ABSL_LOCKS_EXCLUDED(mu_) {
    runs_.fetch_add(1, std::memory_order_relaxed);
    absl::MutexLock lock(&mu_);
    queued_ = false;
    running_ = true;
    again_ = false;
    Seen seen;
    seen.inbox.swap(inbox_);
    seen.read_pending = read_pending_;
    seen.read_closed = read_closed_;
    seen.no_more_reads = no_more_reads_;
    seen.write_pending = write_pending_;
    seen.write_broken = write_broken_;
    seen.cancelled = cancelled_;
    seen.stop = stop_;
    seen.grace_over = grace_over_;
    seen.read_paused = read_paused_;
    seen.drained = drained_;
    return seen;
  }

  // The stream's task: runs until nothing more happened while it ran.
  void Work() ABSL_LOCKS_EXCLUDED(mu_) {
    for (;;) {
      Seen seen = Take();
      if (phase_ == Phase::kRunning) Advance(seen);
      if (phase_ != Phase::kFinished) Io(seen);
      absl::MutexLock lock(&mu_);
      if (!again_) {
        running_ = false;
        return;
      }
    }
  }

  // The session's part: handle what arrived, then send what the peer's
  // credit allows.
  void Advance(Seen& seen) {
    if (!started_) {
      started_ = true;
      absl::StatusOr<std::vector<v1::SyncMessage>> start = session_->Start();
      if (!start.ok()) return End(start.status(), seen);
      for (v1::SyncMessage& m : *start) outbox_.push_back(std::move(m));
    }
    std::vector<v1::SyncMessage> out;
    for (const Inbound& m : seen.inbox) {
      if (m.unparsable) return End(session_->OnUnparsable(m.bytes), seen);
      out.clear();
      const absl::Status handled = session_->OnReceived(m.msg, m.bytes, &out);
      for (v1::SyncMessage& o : out) outbox_.push_back(std::move(o));
      if (!handled.ok()) return End(handled, seen);
    }
    if (seen.write_broken) return End(absl::UnavailableError("stream closed while writing"), seen);
    while (outbox_.size() < kMaxOutbox) {
      absl::StatusOr<std::optional<v1::SyncMessage>> next = session_->NextBatch();
      if (!next.ok()) return End(next.status(), seen);
      if (!next->has_value()) break;
      outbox_.push_back(**std::move(next));
    }
    // The peer closed its side and everything it sent is handled, or it
    // cancelled, or the server stops: a clean end.
    if (seen.read_closed || seen.cancelled || seen.stop) End(absl::OkStatus(), seen);
  }

  void End(absl::Status result, const Seen& seen) {
    phase_ = Phase::kEnding;
    // What the peer sent before the end is durable before the status
    // reaches it, with its Acks when the end is clean.
    std::vector<v1::SyncMessage> acks;
    const absl::Status applied = session_->FinishApplying(&acks);
    if (result.ok()) {
      result = applied;
      if (applied.ok()) {
        for (v1::SyncMessage& m : acks) outbox_.push_back(std::move(m));
      }
    }
    result_ = result;
    session_->input().Close();
    session_->Ended(result);
    TB_LOG(INFO) << "peer " << peer_ << " session ended: " << result;
    if (!result.ok() && !seen.write_broken && !seen.cancelled) {
      // Say why in-band, then give the peer time to close its side, so
      // that it also gets the status rather than a cancellation.
      outbox_.push_back(Goodbye(result));
      std::weak_ptr<ServerPump> weak = weak_from_this();
      grace_.Set(absl::ToChronoTime(absl::Now() + kCloseWait), [weak](bool) {
        if (std::shared_ptr<ServerPump> self = weak.lock()) self->GraceOver();
      });
    }
    absl::MutexLock lock(&mu_);
    ending_ = true;
  }

  void GraceOver() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    grace_over_ = true;
    ScheduleLocked();
  }

  // The stream's part: the next write, the next read, or the end.
  void Io(const Seen& seen) {
    const bool broken = seen.write_broken || seen.cancelled;
    if (broken) outbox_.clear();
    bool write_pending = seen.write_pending;
    if (!write_pending && !outbox_.empty()) {
      grpc::ByteBuffer buffer;
      if (Serialize(outbox_.front(), &buffer)) {
        write_buffer_.Swap(&buffer);
        outbox_.pop_front();
        write_pending = true;
        {
          absl::MutexLock lock(&mu_);
          write_pending_ = true;
        }
        reactor_->StartWrite(&write_buffer_);
      } else {
        outbox_.clear();  // cannot happen for a message we built; end without it
      }
    }
    const bool reads_over = seen.read_closed || seen.no_more_reads || seen.cancelled;
    if (!seen.read_pending && !reads_over) {
      bool read = false;
      if (phase_ == Phase::kRunning) {
        if (!seen.read_paused) {
          read = session_->input().MayRead();
          if (!read) {
            absl::MutexLock lock(&mu_);
            read_paused_ = true;
          }
        }
      } else {
        // Ending after a failure: read on until the peer closes its side,
        // keeping nothing, but no more than kDrainBytes.
        read = !result_.ok() && seen.drained <= kDrainBytes && !seen.grace_over;
      }
      if (read) {
        {
          absl::MutexLock lock(&mu_);
          read_pending_ = true;
        }
        reactor_->StartRead(&read_buffer_);
      }
    }
    if (phase_ == Phase::kEnding && outbox_.empty() && (!write_pending || broken)) {
      const bool peer_done = reads_over || seen.drained > kDrainBytes;
      if (result_.ok() || peer_done || seen.grace_over || seen.stop) {
        phase_ = Phase::kFinished;
        grace_.Cancel();
        registry_->Remove(this);
        reactor_->Finish(ToGrpcStatus(result_));
      }
    }
  }

  const std::unique_ptr<Session> session_;
  const std::string peer_;
  Executor* const executor_;       // Not owned.
  PumpRegistry* const registry_;   // Not owned.
  RawReactor* reactor_ = nullptr;  // Not owned; valid until Finish.

  // The task's own (one task at a time).
  Phase phase_ = Phase::kRunning;
  bool started_ = false;
  absl::Status result_;
  std::deque<v1::SyncMessage> outbox_;
  grpc::ByteBuffer write_buffer_;  // the write outstanding
  grpc::ByteBuffer read_buffer_;   // the read outstanding; its reaction reads it
  grpc::Alarm grace_;
  std::atomic<uint64_t> runs_{0};

  mutable absl::Mutex mu_;
  bool queued_ ABSL_GUARDED_BY(mu_) = false;   // a task is posted
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // the task runs
  bool again_ ABSL_GUARDED_BY(mu_) = false;    // something happened while it ran
  std::deque<Inbound> inbox_ ABSL_GUARDED_BY(mu_);
  bool read_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool no_more_reads_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // until the input account resumes
  bool write_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool write_broken_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool grace_over_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t drained_ ABSL_GUARDED_BY(mu_) = 0;
};

void PumpRegistry::Add(const std::shared_ptr<ServerPump>& pump) {
  absl::MutexLock lock(&mu_);
  by_peer_[pump->peer()].push_back(pump);
  if (stopping_) pump->Stop();
}

void PumpRegistry::Remove(const ServerPump* pump) {
  std::shared_ptr<ServerPump> last;  // released after the lock
  absl::MutexLock lock(&mu_);
  auto it = by_peer_.find(pump->peer());
  if (it == by_peer_.end()) return;
  std::vector<std::shared_ptr<ServerPump>>& pumps = it->second;
  for (auto p = pumps.begin(); p != pumps.end(); ++p) {
    if (p->get() == pump) {
      last = std::move(*p);
      pumps.erase(p);
      break;
    }
  }
  if (pumps.empty()) by_peer_.erase(it);
}

void PumpRegistry::Wake(const storage::DurableChange& change) {
  absl::MutexLock lock(&mu_);
  if (change.own_log) {
    for (const auto& [peer, pumps] : by_peer_) {
      for (const auto& p : pumps) p->Wake();
    }
    return;
  }
  for (const std::string& peer : change.peers) {
    auto it = by_peer_.find(peer);
    if (it == by_peer_.end()) continue;
    for (const auto& p : it->second) p->Wake();
  }
}

void PumpRegistry::StopAll() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  for (const auto& [peer, pumps] : by_peer_) {
    for (const auto& p : pumps) p->Stop();
  }
}

bool PumpRegistry::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

ExchangeServer::Activity PumpRegistry::ActivityOf(const std::string& peer) const {
  ExchangeServer::Activity a;
  absl::MutexLock lock(&mu_);
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) return a;
  for (const auto& p : it->second) {
    ++a.sessions;
    a.runs += p->runs();
    a.messages += p->messages();
    a.idle = a.idle && p->idle();
  }
  return a;
}

size_t PumpRegistry::size() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [peer, pumps] : by_peer_) n += pumps.size();
  return n;
}

// The reactor gRPC holds for one Sync stream; it passes every reaction to
// the stream's ServerPump and deletes itself when the call is done.
class SyncReactor final : public RawReactor {
 public:
  explicit SyncReactor(std::shared_ptr<ServerPump> pump) : pump_(std::move(pump)) {}
  void OnReadDone(bool ok) override { pump_->ReadDone(ok); }
  void OnWriteDone(bool ok) override { pump_->WriteDone(ok); }
  void OnCancel() override { pump_->Cancelled(); }
  void OnDone() override { delete this; }

 private:
  const std::shared_ptr<ServerPump> pump_;
};

// A stream refused before anything is read: finished with the refusal.
class RefusedReactor final : public RawReactor {
 public:
  explicit RefusedReactor(const absl::Status& why) { Finish(ToGrpcStatus(why)); }
  void OnDone() override { delete this; }
};

class ExchangeService final
    : public v1::Exchange::WithRawCallbackMethod_Sync<v1::Exchange::Service> {
 public:
  ExchangeService(ExchangeServer::Options& options, Executor* executor)
      : check_(std::move(options.check)),
        sessions_(std::move(options.sessions)),
        where_(std::move(options.where)),
        witness_(std::move(options.witness)),
        own_log_(std::move(options.own_log)),
        restart_(std::move(options.restart)),
        roster_(std::move(options.roster)),
        admitted_(std::move(options.admitted)),
        executor_(executor) {}

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

  grpc::Status FetchOwnLog(grpc::ServerContext* ctx, const v1::OwnLogRequest* request,
                           v1::OwnLogReply* reply) override {
    return Unary(ctx, reply, [&](const std::string& peer) -> absl::StatusOr<v1::OwnLogReply> {
      if (!own_log_) {
        return absl::FailedPreconditionError(
            "this node does not serve a node its own log back (the national node does)");
      }
      TB_ASSIGN_OR_RETURN(std::optional<v1::Batch> batch, own_log_(peer, *request));
      v1::OwnLogReply answer;
      if (batch.has_value()) *answer.mutable_batch() = *std::move(batch);
      return answer;
    });
  }

  grpc::Status CountersignRestart(grpc::ServerContext* ctx, const v1::SignedRestart* request,
                                  v1::CosignedRestart* reply) override {
    return Unary(ctx, reply, [&](const std::string& peer) -> absl::StatusOr<v1::CosignedRestart> {
      if (!restart_) {
        return absl::FailedPreconditionError(
            "this node does not countersign restart records (the national node does)");
      }
      return restart_(peer, *request);
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

  // Sync, on bytes (see kSyncMethod) and gRPC's callback API.
  RawReactor* Sync(grpc::CallbackServerContext* ctx) override {
    absl::StatusOr<std::string> peer = PeerCode(*ctx->auth_context());
    if (!peer.ok()) return new RefusedReactor(peer.status());
    // Refused before anything is read: the status says why.
    if (absl::Status admitted = check_(*peer); !admitted.ok()) {
      TB_LOG(WARNING) << "refused peer " << *peer << ": " << admitted.message();
      return new RefusedReactor(admitted);
    }
    if (registry_.stopping()) {
      return new RefusedReactor(absl::UnavailableError("the node is stopping; dial again later"));
    }
    if (admitted_) admitted_(*peer, PeerCertificatePem(*ctx->auth_context()));
    auto pump = std::make_shared<ServerPump>(sessions_(*peer), *peer, executor_, &registry_);
    auto* reactor = new SyncReactor(pump);
    pump->Attach(reactor);
    // The client waits for the metadata: it tells it that it was admitted.
    reactor->StartSendInitialMetadata();
    TB_LOG(INFO) << "peer " << *peer << " connected";
    pump->Begin();
    return reactor;
  }

  PumpRegistry& registry() { return registry_; }

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
  const WhereAnswer where_;
  const WitnessAnswer witness_;
  const OwnLogAnswer own_log_;
  const RestartAnswer restart_;
  const RosterAnswer roster_;
  const std::function<void(const std::string&, const std::string&)> admitted_;
  Executor* const executor_;  // Not owned.
  PumpRegistry registry_;
};

}  // namespace

// --- ExchangeServer ---

struct ExchangeServer::Impl {
  // Destroyed in reverse: the server (its calls done), then the executor
  // (running what is left), then the service.
  std::unique_ptr<Executor> executor;
  std::unique_ptr<ExchangeService> service;
  storage::Writer* writer = nullptr;
  int listener = -1;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool stopped = false;
};

ExchangeServer::ExchangeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExchangeServer::~ExchangeServer() {
  Stop();
  if (impl_ == nullptr) return;
  impl_->server.reset();
  impl_->executor.reset();
}

absl::StatusOr<std::unique_ptr<ExchangeServer>> ExchangeServer::Start(Options options) {
  if (options.writer == nullptr || !options.check || !options.sessions) {
    return absl::InvalidArgumentError("exchange server: writer, check and sessions are required");
  }
  if (options.workers == 0) {
    return absl::InvalidArgumentError("exchange server: workers must be at least 1");
  }
  auto impl = std::make_unique<Impl>();
  TB_ASSIGN_OR_RETURN(impl->executor, Executor::Start("tb-sessions", options.workers));
  impl->service = std::make_unique<ExchangeService>(options, impl->executor.get());
  impl->writer = options.writer;
  PumpRegistry* registry = &impl->service->registry();
  impl->listener = options.writer->AddListener(
      [registry](const storage::DurableChange& change) { registry->Wake(change); });
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartMutualTlsServer(
      "exchange server", options.address, options.tls.ca_pem, options.tls.cert_pem,
      options.tls.key_pem, impl->service.get(), &impl->port, static_cast<int>(kMaxMessageBytes),
      options.transport_memory_bytes);
  if (!server.ok()) {
    options.writer->RemoveListener(impl->listener);
    return server.status();
  }
  impl->server = *std::move(server);
  sync::SetServing(impl->server.get(), v1::Exchange::service_full_name(), true);
  return std::unique_ptr<ExchangeServer>(new ExchangeServer(std::move(impl)));
}

int ExchangeServer::port() const { return impl_->port; }

size_t ExchangeServer::sessions() const { return impl_->service->registry().size(); }

ExchangeServer::Activity ExchangeServer::ActivityOf(const std::string& peer) const {
  return impl_->service->registry().ActivityOf(peer);
}

void ExchangeServer::SetServing(bool serving) {
  sync::SetServing(impl_->server.get(), v1::Exchange::service_full_name(), serving);
}

void ExchangeServer::Stop() {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  impl_->service->registry().StopAll();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  impl_->writer->RemoveListener(impl_->listener);
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

absl::StatusOr<std::optional<v1::Batch>> FetchOwnLog(const std::string& peer,
                                                     const std::string& target,
                                                     const TlsIdentity& tls,
                                                     const v1::OwnLogRequest& request,
                                                     absl::Duration timeout) {
  TB_ASSIGN_OR_RETURN(v1::OwnLogReply reply, CallUnary(peer, target, tls, request,
                                                       &v1::Exchange::Stub::FetchOwnLog, timeout));
  if (!reply.has_batch()) return std::nullopt;
  return std::move(*reply.mutable_batch());
}

absl::StatusOr<v1::CosignedRestart> CountersignRestart(const std::string& peer,
                                                       const std::string& target,
                                                       const TlsIdentity& tls,
                                                       const v1::SignedRestart& restart,
                                                       absl::Duration timeout) {
  return CallUnary(peer, target, tls, restart, &v1::Exchange::Stub::CountersignRestart, timeout);
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
