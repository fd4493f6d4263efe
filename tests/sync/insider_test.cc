// Issue #14: an insider county -- a client holding a valid node certificate
// and its own roster signing key, speaking only the project's .proto over
// real gRPC with mutual TLS -- cannot cut others off, exhaust a node's
// memory, move everyone's clock, or send garbage unseen.
//
// Every case runs a federation whose counties reach each other only through
// the national node: the honest origin O (620102) and the residence R
// (440305) each keep a standing session to the national node N, and O's
// events reach R by N's relay. The hostile county H (330106) then:
//   1. shows R one history of its log and N another (a split view): R
//      freezes H's log, and its standing session with N goes on;
//   2. ignores its credit and floods N with batches: the session ends with
//      REJECT_REASON_OVER_CREDIT and H is held, while N's own account of the
//      input it read from H stays within its bound;
//   3. signs events with its clock ten years ahead: applied, counted, shown,
//      and N's and R's next own events carry their own time;
//   4. sends bytes that do not parse: a Goodbye with a reason, a counter,
//      and a hold after repeats.
// In each, an event O writes afterwards reaches R through N on the same
// standing session that carried the honest control (R's session never
// ends), and the test records both delays (not asserted: tests assert no
// timing).
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>

#include <functional>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "sync/evidence.h"
#include "sync/feed.h"
#include "sync/peers.h"
#include "sync/transport.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/wait.h"

namespace tongban::sync {
namespace {

using crypto::SuiteId;
using testutil::kNational;
using testutil::kOrigin;     // O, honest
using testutil::kResidence;  // R
using testutil::WaitUntil;
constexpr char kHostile[] = "330106";  // H

// How a hostile session ended, as the client saw it.
struct Ended {
  absl::Status status;
  std::optional<v1::Goodbye> goodbye;
  std::vector<v1::LogRefused> refused;
};

// A client of another make: it holds a valid certificate and sends whatever
// bytes it likes on Exchange.Sync.
class HostileClient {
 public:
  HostileClient(const std::string& target, const TlsIdentity& tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls.ca_pem;
    ssl.pem_private_key = tls.key_pem;
    ssl.pem_cert_chain = tls.cert_pem;
    channel_ = grpc::CreateChannel(target, grpc::SslCredentials(ssl));
    stream_.reset(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            channel_.get(),
            grpc::internal::RpcMethod("/tongban.v1.Exchange/Sync",
                                      grpc::internal::RpcMethod::BIDI_STREAMING),
            &ctx_));
  }

  bool Send(const v1::SyncMessage& m) { return SendBytes(m.SerializeAsString()); }
  bool SendBytes(const std::string& bytes) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    return stream_->Write(buffer);
  }

  // Half-closes, reads what the node still sends, and returns how it ended.
  Ended Finish() {
    stream_->WritesDone();
    Ended out;
    grpc::ByteBuffer buffer;
    while (stream_->Read(&buffer)) {
      std::vector<grpc::Slice> slices;
      EXPECT_TRUE(buffer.Dump(&slices).ok());
      std::string bytes;
      for (const grpc::Slice& s : slices) {
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
      v1::SyncMessage m;
      EXPECT_TRUE(m.ParseFromString(bytes)) << "the node sends only SyncMessages";
      if (m.has_goodbye()) out.goodbye = m.goodbye();
      if (m.has_log_refused()) out.refused.push_back(m.log_refused());
    }
    const grpc::Status s = stream_->Finish();
    out.status = absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    return out;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream_;
};

v1::SyncMessage HelloFrom(const std::string& node) {
  v1::SyncMessage m;
  m.mutable_hello()->set_node(node);
  return m;
}

v1::SyncMessage Carrying(v1::Batch batch) {
  v1::SyncMessage m;
  *m.mutable_batch() = std::move(batch);
  return m;
}

class InsiderTest : public testing::TestWithParam<SuiteId> {
 protected:
  // Credit N grants each peer: small, so that the flood is over it soon.
  static constexpr uint32_t kNationalCredit = 2;

  void SetUp() override {
    for (const char* code : {kNational, kOrigin, kResidence, kHostile}) {
      fed_.Add(code);
      fed_.IssueTls(code);
    }
    national_ = Serve(kNational, &national_peers_, kNationalCredit);
    residence_ = Serve(kResidence, &residence_peers_, 4);
    origin_to_national_ = Dial(kOrigin, &origin_peers_);
    residence_to_national_ = Dial(kResidence, &residence_peers_);
  }

  TlsIdentity Tls(const std::string& code) {
    return {fed_.ca_pem(), fed_.at(code).tls_cert_pem, fed_.at(code).tls_key_pem};
  }

  // Serves `code`; a held peer is refused at the handshake, as the daemon
  // does (node/node.cc Admit).
  std::unique_ptr<ExchangeServer> Serve(const std::string& code, PeerTable* peers,
                                        uint32_t credit) {
    ExchangeServer::Options o;
    o.tls = Tls(code);
    o.writer = fed_.at(code).writer.get();
    o.check = [this, code](const std::string& peer) -> absl::Status {
      absl::StatusOr<std::optional<std::string>> held = HoldOf(*fed_.at(code).store, peer);
      if (!held.ok()) return held.status();
      if (held->has_value()) {
        return absl::PermissionDeniedError(absl::StrCat("node ", peer, " is held: ", **held));
      }
      return absl::OkStatus();
    };
    o.sessions = [this, code, peers, credit](const std::string& peer) {
      return fed_.OpenSession(code, peer, [&](SessionOptions& s) {
        s.peers = peers;
        s.credit = credit;
      });
    };
    auto server = ExchangeServer::Start(std::move(o));
    EXPECT_TRUE(server.ok()) << server.status();
    return *std::move(server);
  }

  // `self`'s standing session with the national node.
  std::unique_ptr<PeerConnection> Dial(const std::string& self, PeerTable* peers) {
    PeerConnection::Options o;
    o.peer = kNational;
    o.target = absl::StrCat("127.0.0.1:", national_->port());
    o.tls = Tls(self);
    o.session = fed_.OpenSession(self, kNational, [&](SessionOptions& s) { s.peers = peers; });
    o.writer = fed_.at(self).writer.get();
    return PeerConnection::Start(std::move(o));
  }

  HostileClient Hostile(const ExchangeServer& at) {
    return HostileClient(absl::StrCat("127.0.0.1:", at.port()), Tls(kHostile));
  }

  // O writes an outflow of a new person to R; returns how long it took to
  // reach R through N. Fails the test if it does not arrive.
  absl::Duration ThroughTheRelay(const std::string& id) {
    const std::string person = testutil::MakeId(kOrigin, "19900101", next_person_++);
    const absl::Time start = absl::Now();
    auto written = fed_.at(kOrigin).writer->Append(testutil::Outflow(person, kResidence, id));
    EXPECT_TRUE(written.ok()) << written.status();
    const bool arrived = testutil::WaitFor(fed_.at(kResidence), [&] {
      auto r = fed_.at(kResidence)
                   .store->GetRecord(storage::RecordKey(person, v1::RECORD_KIND_OUTFLOW, id));
      return r.ok() && r->has_value();
    });
    const absl::Duration took = absl::Now() - start;
    EXPECT_TRUE(arrived) << "O's event " << id << " did not reach R through N";
    return took;
  }

  // The honest control, then the same after the attack; both recorded.
  void ExpectTheRelayKeepsDelivering(absl::Duration control) {
    const absl::Duration attacked = ThroughTheRelay("after");
    RecordProperty("relay_control_ms", absl::StrCat(absl::ToInt64Milliseconds(control)));
    RecordProperty("relay_after_attack_ms", absl::StrCat(absl::ToInt64Milliseconds(attacked)));
    // The reason it is as quick: R's standing session with N never ended.
    EXPECT_FALSE(residence_to_national_->result().has_value())
        << residence_to_national_->result()->ToString();
    EXPECT_TRUE(national_peers_.Get(kResidence).last_error.empty())
        << national_peers_.Get(kResidence).last_error;
    EXPECT_EQ(national_peers_.Get(kResidence).sessions, 1);
  }

  // H's own log: `n` events, each under a checkpoint of its own, written
  // with `clock` (events for R: outflows to it).
  void WriteHostile(int n, const Clock* clock = nullptr) {
    testutil::FederationNode& h = fed_.at(kHostile);
    if (clock != nullptr) {
      h.writer.reset();
      storage::WriterOptions wo;
      wo.node = kHostile;
      auto writer = storage::Writer::Open(h.store.get(), h.key.get(), wo, clock);
      ASSERT_TRUE(writer.ok()) << writer.status();
      h.writer = *std::move(writer);
    }
    for (int i = 0; i < n; ++i) {
      auto r = h.writer->Append(
          testutil::Outflow(testutil::MakeId(kHostile, "19850101", 10 + i), kResidence));
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_TRUE(h.writer->WaitForCheckpoint(r->id.seq(), absl::Seconds(30)).ok());
    }
  }

  // H's log from `after` onwards as a contiguous batch (for N).
  v1::Batch Contiguous(const storage::Store& store, uint64_t after, size_t max_events = 1024) {
    FeedLimits limits;
    limits.max_events = max_events;
    auto batch = ReadContiguous(store, {kHostile, 1}, {after, after}, limits);
    EXPECT_TRUE(batch.ok() && batch->has_value());
    return batch.ok() && batch->has_value() ? **batch : v1::Batch();
  }

  FakeClock clock_;
  testutil::TestFederation fed_{GetParam(), &clock_};
  PeerTable national_peers_, residence_peers_, origin_peers_;
  std::unique_ptr<ExchangeServer> national_;
  std::unique_ptr<ExchangeServer> residence_;
  std::unique_ptr<PeerConnection> origin_to_national_;
  std::unique_ptr<PeerConnection> residence_to_national_;
  int next_person_ = 1;
};

// 1. A split view: R freezes H's log; N, which holds the other history,
// keeps relaying it; R refuses it batch by batch without ending the
// session, N stops offering it, and O's events keep arriving.
TEST_P(InsiderTest, ASplitViewFreezesOnlyTheEquivocatingOrigin) {
  const absl::Duration control = ThroughTheRelay("control");
  WriteHostile(2);
  // R is shown H's log directly.
  {
    auto routed = ReadRouted(*fed_.at(kHostile).store, kResidence, {kHostile, 1}, {}, FeedLimits{});
    ASSERT_TRUE(routed.ok() && routed->has_value());
    HostileClient h = Hostile(*residence_);
    ASSERT_TRUE(h.Send(HelloFrom(kHostile)));
    ASSERT_TRUE(h.Send(Carrying(**routed)));
    TB_ASSERT_OK(h.Finish().status);
  }
  // N is shown another history under the same key, of the same size.
  testutil::TestFederation fork_fed(GetParam(), &clock_);
  testutil::FederationNode& fork = fork_fed.Add(kHostile);
  fork.writer.reset();
  storage::WriterOptions wo;
  wo.node = kHostile;
  fork.writer = *storage::Writer::Open(fork.store.get(), fed_.at(kHostile).key.get(), wo, &clock_);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(
        fork.writer
            ->Append(testutil::Outflow(testutil::MakeId(kHostile, "19700101", 50 + i), kResidence))
            .ok());
  }
  ASSERT_TRUE(fork.writer->WaitForCheckpoint(2, absl::Seconds(30)).ok());
  {
    HostileClient h = Hostile(*national_);
    ASSERT_TRUE(h.Send(HelloFrom(kHostile)));
    ASSERT_TRUE(h.Send(Carrying(Contiguous(*fork.store, 0))));
    TB_ASSERT_OK(h.Finish().status);
  }
  // N relays the other history to R, which sees two roots for one size.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto frozen = FrozenLogs(*fed_.at(kResidence).store);
        return frozen.ok() && frozen->size() == 1;
      },
      absl::Seconds(30), "R to freeze H's log"));
  EXPECT_EQ(FrozenLogs(*fed_.at(kResidence).store)->front().origin, kHostile);
  // N learns that R refuses H's log and stops offering it.
  ASSERT_TRUE(WaitUntil([&] { return !national_peers_.Get(kResidence).refuses.empty(); },
                        absl::Seconds(30), "N to learn that R refuses H's log"));
  EXPECT_EQ(national_peers_.Get(kResidence).refuses.begin()->first, "330106/1");
  EXPECT_EQ(national_peers_.Get(kResidence).refuses.begin()->second, "REJECT_REASON_EQUIVOCATION");
  EXPECT_EQ(*fed_.at(kResidence).store->GetCounter("rejected/REJECT_REASON_EQUIVOCATION"), 1u);
  ExpectTheRelayKeepsDelivering(control);
  // Operators at R see the frozen origin and that the relay is not to blame.
  EXPECT_FALSE(HoldOf(*fed_.at(kResidence).store, kNational)->has_value());

  // A new session of R (after a restart, say) states the frozen log in its
  // Hello: N does not offer it at all, and O's events flow.
  ASSERT_TRUE(residence_to_national_->Stop().ok());
  residence_to_national_ = Dial(kResidence, &residence_peers_);
  ASSERT_TRUE(WaitUntil([&] { return national_peers_.Get(kResidence).sessions == 1; },
                        absl::Seconds(30), "R's session with N"));
  const uint64_t skipped = residence_peers_.Get(kNational).batches_skipped;
  ExpectTheRelayKeepsDelivering(control);
  EXPECT_EQ(residence_peers_.Get(kNational).batches_skipped, skipped) << "nothing of H offered";
  EXPECT_EQ(national_peers_.Get(kResidence).refuses.begin()->second, "REJECT_REASON_FROZEN");
}

// 2. A flood beyond the credit: N reads no more than its account allows,
// ends the session with its reason, counts it and holds H.
TEST_P(InsiderTest, AFloodBeyondTheCreditIsRefusedWithinTheMemoryBound) {
  const absl::Duration control = ThroughTheRelay("control");
  // Two valid batches of many events each: N takes far longer to verify and
  // apply one (and give its credit back) than to read the next message.
  testutil::FederationNode& hostile = fed_.at(kHostile);
  uint64_t last = 0;
  for (int i = 0; i < 400; ++i) {
    auto r = hostile.writer->Append(
        testutil::Outflow(testutil::MakeId(kHostile, "19850101", 10 + i), kResidence));
    ASSERT_TRUE(r.ok()) << r.status();
    last = r->id.seq();
  }
  ASSERT_TRUE(hostile.writer->WaitForCheckpoint(last, absl::Seconds(30)).ok());
  std::vector<v1::SyncMessage> flood;
  uint64_t cursor = 0;
  for (uint32_t i = 0; i < kNationalCredit; ++i) {
    v1::Batch b = Contiguous(*hostile.store, cursor, /*max_events=*/200);
    ASSERT_FALSE(b.events().empty());
    cursor = b.events().rbegin()->seq();
    flood.push_back(Carrying(std::move(b)));
  }
  // Then 400 batches of 64 KiB beyond the credit, 25 MiB in all (more than
  // N's bound): many, and quick to read, while N still works on the first.
  v1::Batch heavy = flood.back().batch();
  heavy.set_relayed_by(std::string(64 << 10, 'x'));
  for (int i = 0; i < 400; ++i) flood.push_back(Carrying(heavy));
  Ended ended;
  {
    HostileClient h = Hostile(*national_);
    ASSERT_TRUE(h.Send(HelloFrom(kHostile)));
    for (const v1::SyncMessage& m : flood) {
      if (!h.Send(m)) break;  // N ended the call
    }
    ended = h.Finish();
  }
  EXPECT_EQ(ended.status.code(), absl::StatusCode::kInvalidArgument) << ended.status;
  EXPECT_TRUE(absl::StrContains(ended.status.message(), "REJECT_REASON_OVER_CREDIT"))
      << ended.status;
  ASSERT_TRUE(ended.goodbye.has_value()) << "said in-band too";
  EXPECT_EQ(ended.goodbye->message(), ended.status.message());
  EXPECT_EQ(*fed_.at(kNational).store->GetCounter("rejected/REJECT_REASON_OVER_CREDIT"), 1u);
  auto held = HoldOf(*fed_.at(kNational).store, kHostile);
  ASSERT_TRUE(held.ok() && held->has_value());
  // N's own account of H's input: never more than its bound.
  InputLimits limits;
  limits.credit = kNationalCredit;
  const InputAccount bound(limits);
  const PeerStatus h = national_peers_.Get(kHostile);
  RecordProperty("flood_peak_bytes", absl::StrCat(h.input_peak_bytes));
  RecordProperty("flood_bound_bytes", absl::StrCat(bound.bound_bytes()));
  EXPECT_GT(h.input_peak_bytes, 0u);
  EXPECT_LE(h.input_peak_bytes, bound.bound_bytes());
  EXPECT_LE(h.input_peak_batches, bound.bound_batches());
  EXPECT_EQ(h.input_queued_bytes, 0u) << "released when the session ended";
  // Held: its next session is refused before anything is read.
  {
    HostileClient again = Hostile(*national_);
    again.Send(HelloFrom(kHostile));
    EXPECT_EQ(again.Finish().status.code(), absl::StatusCode::kPermissionDenied);
  }
  ExpectTheRelayKeepsDelivering(control);
}

// 3. Events signed ten years ahead: applied (signed history) and counted,
// the skew shown, and neither N's nor R's clock moves.
TEST_P(InsiderTest, EventsTenYearsAheadDoNotMoveAnyonesClock) {
  const absl::Duration control = ThroughTheRelay("control");
  FakeClock ahead(clock_.Now() + absl::Hours(24 * 3652));
  WriteHostile(1, &ahead);
  {
    HostileClient h = Hostile(*national_);
    ASSERT_TRUE(h.Send(HelloFrom(kHostile)));
    ASSERT_TRUE(h.Send(Carrying(Contiguous(*fed_.at(kHostile).store, 0))));
    TB_ASSERT_OK(h.Finish().status);
  }
  EXPECT_EQ(*fed_.at(kNational).store->LastSeq({kHostile, 1}), 1u) << "applied";
  EXPECT_EQ(*fed_.at(kNational).store->GetCounter("clock/events_ahead"), 1u);
  EXPECT_GE(national_peers_.Get(kHostile).clock_ahead, absl::Hours(24 * 3651));
  EXPECT_EQ(national_peers_.Get(kHostile).events_ahead, 1u);
  // Relayed to R, which counts it as well.
  ASSERT_TRUE(testutil::WaitFor(fed_.at(kResidence), [&] {
    auto n = fed_.at(kResidence).store->GetCounter("clock/events_ahead");
    return n.ok() && *n == 1;
  }));
  EXPECT_GE(residence_peers_.Get(kHostile).clock_ahead, absl::Hours(24 * 3651));
  // Their next own events carry their own time.
  for (const char* node : {kNational, kResidence}) {
    auto own = fed_.at(node).writer->Append(
        testutil::Basics(testutil::MakeId(kOrigin, "19600101", 90), "Own"));
    ASSERT_TRUE(own.ok()) << node << ": " << own.status();
    auto body = fed_.at(node).store->GetEvent({node, 1}, own->id.seq());
    ASSERT_TRUE(body.ok());
    v1::EventBody parsed;
    ASSERT_TRUE(parsed.ParseFromString(*body));
    EXPECT_EQ(parsed.hlc().physical_micros(), absl::ToUnixMicros(clock_.Now())) << node;
  }
  ExpectTheRelayKeepsDelivering(control);
}

// 4. Garbage: each time a Goodbye with its reason and a counter; after
// kHoldAfterUnparsable times a hold.
TEST_P(InsiderTest, GarbageIsARejectionAndRepeatsHoldThePeer) {
  const absl::Duration control = ThroughTheRelay("control");
  for (uint64_t i = 1; i <= kHoldAfterUnparsable; ++i) {
    HostileClient h = Hostile(*national_);
    ASSERT_TRUE(h.Send(HelloFrom(kHostile)));
    ASSERT_TRUE(h.SendBytes(std::string("\xff\xff\xff\xff garbage", 12)));
    const Ended ended = h.Finish();
    EXPECT_EQ(ended.status.code(), absl::StatusCode::kInvalidArgument) << ended.status;
    EXPECT_TRUE(absl::StrContains(ended.status.message(), "REJECT_REASON_UNPARSABLE"))
        << ended.status;
    EXPECT_TRUE(absl::StrContains(ended.status.message(), "message 2 (12 bytes)")) << ended.status;
    ASSERT_TRUE(ended.goodbye.has_value());
    EXPECT_EQ(ended.goodbye->code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
    EXPECT_EQ(*fed_.at(kNational).store->GetCounter("rejected/REJECT_REASON_UNPARSABLE"), i);
    EXPECT_EQ(HoldOf(*fed_.at(kNational).store, kHostile)->has_value(), i == kHoldAfterUnparsable)
        << i;
  }
  HostileClient again = Hostile(*national_);
  again.Send(HelloFrom(kHostile));
  const Ended refused = again.Finish();
  EXPECT_EQ(refused.status.code(), absl::StatusCode::kPermissionDenied) << refused.status;
  EXPECT_TRUE(absl::StrContains(refused.status.message(), "REJECT_REASON_UNPARSABLE"))
      << refused.status;
  ExpectTheRelayKeepsDelivering(control);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(InsiderTest);

}  // namespace
}  // namespace tongban::sync
