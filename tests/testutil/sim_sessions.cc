#include "tests/testutil/sim_sessions.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_callback.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::testutil {
namespace {

constexpr char kSyncMethod[] = "/tongban.v1.Exchange/Sync";
constexpr auto kRetryInitial = std::chrono::milliseconds(200);
constexpr auto kRetryMax = std::chrono::milliseconds(5000);

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer Buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

struct Link;

// One attempt at a session. Never deleted before SimSessions is (a late
// TryCancel is then harmless); a hold keeps OnDone from running while a
// write started from another thread may still be starting.
class Call : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit Call(Link* link) : link_(link) {}
  void Begin(grpc::GenericStub* stub, const std::string& hello);
  // Starts writing `bytes`; the caller set writing_ under the link's lock.
  void Write(const std::string& bytes) {
    out_ = Buffer(bytes);
    StartWrite(&out_);
  }
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

  grpc::ClientContext ctx;
  // Under the link's lock.
  bool ended = false;
  bool writing = false;
  bool hold_released = false;
  bool counted_open = false;  // the national node's Hello arrived on it

 private:
  Link* link_;
  grpc::ByteBuffer in_, out_;
};

struct Link {
  SimSessions::Impl* impl = nullptr;
  size_t index = 0;
  const SimCounty* county = nullptr;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;

  std::mutex mu;
  std::vector<std::unique_ptr<Call>> calls;  // the last is the current one
  Call* call = nullptr;                      // the current call, until it ends
  bool hello = false;                        // the national node's Hello received
  uint32_t credit = 0;
  size_t next = 0;      // the next batch to send
  size_t released = 0;  // batches that may be sent
  uint64_t acked = 0;
  bool admitted = false;
  std::chrono::milliseconds backoff = kRetryInitial;

  // Under mu: the next batch to write now on the current call, if any; marks
  // the call writing.
  Call* TakeWrite(const std::string** bytes) {
    if (call == nullptr || call->ended || call->writing || !hello || credit == 0 ||
        next >= released || next >= county->batches.size()) {
      return nullptr;
    }
    --credit;
    *bytes = &county->batches[next++];
    call->writing = true;
    return call;
  }
};

struct SimSessions::Impl {
  std::string target;
  const std::vector<SimCounty>* counties;
  std::vector<std::unique_ptr<Link>> links;

  std::mutex mu;  // guards what follows
  std::condition_variable cv;
  bool closing = false;
  size_t live_calls = 0;  // calls whose OnDone has not run
  uint64_t dials = 0, failures = 0, sent = 0;
  size_t open_sessions = 0;
  std::string last_error;
  std::multimap<std::chrono::steady_clock::time_point, Link*> timers;
  std::mt19937 rng{std::random_device{}()};
  std::thread timer;

  void Dial(Link* link) {
    v1::SyncMessage hello;
    hello.mutable_hello()->set_node(link->county->code);
    hello.mutable_hello()->set_roster_version(1);
    Call* call;
    {
      std::lock_guard<std::mutex> lock(link->mu);
      link->calls.push_back(std::make_unique<Call>(link));
      call = link->call = link->calls.back().get();
      call->writing = true;  // the Hello
      link->hello = false;
      link->credit = 0;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ++live_calls;
      ++dials;
    }
    call->Begin(link->stub.get(), hello.SerializeAsString());
  }

  void TimerLoop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!closing) {
      if (timers.empty()) {
        cv.wait(lock);
        continue;
      }
      const auto at = timers.begin()->first;
      if (std::chrono::steady_clock::now() < at) {
        cv.wait_until(lock, at);
        continue;
      }
      Link* link = timers.begin()->second;
      timers.erase(timers.begin());
      lock.unlock();
      Dial(link);
      lock.lock();
    }
  }

  void Ended(Link* link, const grpc::Status& status, bool was_open) {
    std::chrono::milliseconds delay;
    {
      std::lock_guard<std::mutex> lock(link->mu);
      delay = link->backoff;
      link->backoff = std::min(kRetryMax, link->backoff * 2);
    }
    std::lock_guard<std::mutex> lock(mu);
    --live_calls;
    if (was_open) --open_sessions;
    if (!status.ok() && !closing) {
      ++failures;
      last_error =
          absl::StrCat(link->county->code, ": ", status.error_code(), " ", status.error_message());
    }
    if (!closing) {
      // Full jitter: anywhere in [delay / 2, delay].
      std::uniform_int_distribution<int64_t> d(delay.count() / 2, delay.count());
      timers.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(d(rng)), link);
    }
    cv.notify_all();
  }
};

void Call::Begin(grpc::GenericStub* stub, const std::string& hello) {
  stub->PrepareBidiStreamingCall(&ctx, kSyncMethod, grpc::StubOptions(), this);
  AddHold();
  StartRead(&in_);
  out_ = Buffer(hello);
  StartWrite(&out_);
  StartCall();
}

void Call::OnReadDone(bool ok) {
  Link* link = link_;
  if (!ok) {
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(link->mu);
      ended = true;
      if (!writing && !hold_released) release = hold_released = true;
      if (link->call == this) link->call = nullptr;
    }
    if (release) RemoveHold();
    return;
  }
  v1::SyncMessage m;
  const bool parsed = m.ParseFromString(Bytes(in_));
  bool opened = false;
  const std::string* bytes = nullptr;
  Call* write = nullptr;
  std::string error;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    if (!parsed) {
      error = "an unparsable message from the national node";
    } else if (m.has_hello()) {
      uint64_t cursor = 0;
      for (const v1::Position& p : m.hello().positions()) {
        if (p.origin() == link->county->code) cursor = p.seq();
      }
      const std::vector<uint64_t>& ends = link->county->batch_end;
      const auto at = std::upper_bound(ends.begin(), ends.end(), cursor);
      // (A session with no log to send, a second session of a county,
      // only holds.)
      if (cursor != 0 && !ends.empty() && (at == ends.begin() || *(at - 1) != cursor)) {
        error = absl::StrCat("the national node stands at seq ", cursor, ", not a batch's end");
      }
      link->next = static_cast<size_t>(at - ends.begin());
      link->acked = std::max(link->acked, cursor);
      link->hello = true;
      link->admitted = true;
      if (!counted_open) opened = counted_open = true;
    } else if (m.has_credit()) {
      link->credit += m.credit().batches();
    } else if (m.has_ack()) {
      link->acked = std::max(link->acked, m.ack().seq());
      link->backoff = kRetryInitial;
    } else if (m.has_goodbye()) {
      error = absl::StrCat("goodbye ", m.goodbye().code(), " ", m.goodbye().message());
    } else if (m.has_batch()) {
      error = "a batch without credit from the national node";
    }
    write = link->TakeWrite(&bytes);
  }
  if (opened) {
    std::lock_guard<std::mutex> lock(link->impl->mu);
    ++link->impl->open_sessions;
  }
  if (!error.empty()) {
    {
      std::lock_guard<std::mutex> lock(link->impl->mu);
      link->impl->last_error = absl::StrCat(link->county->code, ": ", error);
      ++link->impl->failures;
    }
    ctx.TryCancel();
  }
  if (write != nullptr) {
    {
      std::lock_guard<std::mutex> lock(link->impl->mu);
      ++link->impl->sent;
    }
    write->Write(*bytes);
  }
  StartRead(&in_);
}

void Call::OnWriteDone(bool ok) {
  Link* link = link_;
  bool release = false;
  const std::string* bytes = nullptr;
  Call* write = nullptr;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    writing = false;
    if (!ok) ended = true;
    if (ended) {
      if (!hold_released) release = hold_released = true;
    } else {
      write = link->TakeWrite(&bytes);
    }
  }
  if (release) RemoveHold();
  if (write != nullptr) {
    {
      std::lock_guard<std::mutex> lock(link->impl->mu);
      ++link->impl->sent;
    }
    write->Write(*bytes);
  }
}

void Call::OnDone(const grpc::Status& status) {
  Link* link = link_;
  bool was_open;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    was_open = counted_open;
    if (link->call == this) link->call = nullptr;
    link->hello = false;
  }
  link->impl->Ended(link, status, was_open);
}

SimSessions::SimSessions(std::string target, const std::vector<SimCounty>* counties)
    : impl_(std::make_unique<Impl>()) {
  impl_->target = std::move(target);
  impl_->counties = counties;
  for (size_t i = 0; i < counties->size(); ++i) {
    auto link = std::make_unique<Link>();
    link->impl = impl_.get();
    link->index = i;
    link->county = &(*counties)[i];
    impl_->links.push_back(std::move(link));
  }
  impl_->timer = std::thread([this] { impl_->TimerLoop(); });
}

SimSessions::~SimSessions() {
  Close();
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->live_calls == 0; });
  lock.unlock();
  if (impl_->timer.joinable()) impl_->timer.join();
}

void SimSessions::Open(size_t from, size_t to) {
  for (size_t i = from; i < std::min(to, impl_->links.size()); ++i) {
    Link* link = impl_->links[i].get();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = link->county->tls.ca_pem;
    ssl.pem_cert_chain = link->county->tls.cert_pem;
    ssl.pem_private_key = link->county->tls.key_pem;
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    args.SetMaxReceiveMessageSize(8 << 20);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC 1.51 takes it as the
    // connect timeout too (20 s by default), and a TLS handshake with a
    // national node that is admitting thousands takes longer than 200 ms.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    link->channel = grpc::CreateCustomChannel(impl_->target, grpc::SslCredentials(ssl), args);
    link->stub = std::make_unique<grpc::GenericStub>(link->channel);
    impl_->Dial(link);
  }
}

void SimSessions::Release(size_t i, size_t batches) {
  Link* link = impl_->links[i].get();
  const std::string* bytes = nullptr;
  Call* write;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    link->released = std::max(link->released, std::min(batches, link->county->batches.size()));
    write = link->TakeWrite(&bytes);
  }
  if (write != nullptr) {
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      ++impl_->sent;
    }
    write->Write(*bytes);
  }
}

size_t SimSessions::released(size_t i) const {
  Link* link = impl_->links[i].get();
  std::lock_guard<std::mutex> lock(link->mu);
  return link->released;
}

uint64_t SimSessions::acked(size_t i) const {
  Link* link = impl_->links[i].get();
  std::lock_guard<std::mutex> lock(link->mu);
  return link->acked;
}

SimTotals SimSessions::Totals() const {
  SimTotals t;
  for (const auto& link : impl_->links) {
    std::lock_guard<std::mutex> lock(link->mu);
    t.admitted += link->admitted ? 1 : 0;
    t.acked += link->acked;
    t.released += link->released == 0 ? 0 : link->county->batch_end[link->released - 1];
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  t.sessions = impl_->open_sessions;
  t.sent = impl_->sent;
  t.dials = impl_->dials;
  t.failures = impl_->failures;
  return t;
}

std::string SimSessions::last_error() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->last_error;
}

void SimSessions::Close() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->closing) return;
    impl_->closing = true;
    impl_->timers.clear();
    impl_->cv.notify_all();
  }
  if (impl_->timer.joinable()) impl_->timer.join();
  for (const auto& link : impl_->links) {
    Call* call;
    {
      std::lock_guard<std::mutex> lock(link->mu);
      call = link->calls.empty() ? nullptr : link->calls.back().get();
    }
    if (call != nullptr) call->ctx.TryCancel();
  }
}

}  // namespace tongban::testutil
