// Sync over real gRPC with mutual TLS on 127.0.0.1 (ephemeral ports): events
// flow both ways on one session and keep flowing live; peers the roster
// refuses are told why before anything is read; a certificate from another
// CA never gets a session; a client reaching the wrong node notices.
#include "sync/transport.h"

#include "gtest/gtest.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/wait.h"

namespace tongban::sync {
namespace {

using crypto::SuiteId;
using testutil::kOrigin;
using testutil::kResidence;
using testutil::kThird;

using testutil::WaitFor;

class TransportTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    for (const char* code : {kOrigin, kResidence, kThird}) {
      fed_.Add(code);
      fed_.IssueTls(code);
    }
  }

  TlsIdentity Tls(const std::string& code) {
    return {fed_.ca_pem(), fed_.at(code).tls_cert_pem, fed_.at(code).tls_key_pem};
  }

  // Serves `code`, admitting only the peers in `allowed`.
  std::unique_ptr<ExchangeServer> Serve(const std::string& code, std::set<std::string> allowed) {
    ExchangeServer::Options o;
    o.tls = Tls(code);
    o.writer = fed_.at(code).writer.get();
    o.check = [allowed](const std::string& peer) {
      if (allowed.count(peer)) return absl::OkStatus();
      return absl::PermissionDeniedError(
          absl::StrCat("node ", peer, " is revoked in roster v3: key compromise"));
    };
    o.sessions = [this, code](const std::string& peer) { return fed_.OpenSession(code, peer); };
    auto server = ExchangeServer::Start(std::move(o));
    EXPECT_TRUE(server.ok()) << server.status();
    return *std::move(server);
  }

  std::unique_ptr<PeerConnection> Dial(const std::string& self, const std::string& peer, int port,
                                       TlsIdentity tls) {
    PeerConnection::Options o;
    o.peer = peer;
    o.target = absl::StrCat("127.0.0.1:", port);
    o.tls = std::move(tls);
    o.session = fed_.OpenSession(self, peer);
    o.writer = fed_.at(self).writer.get();
    return PeerConnection::Start(std::move(o));
  }

  static storage::RecordChange Outflow(const std::string& person, const std::string& id) {
    return testutil::Outflow(person, kResidence, id);
  }

  FakeClock clock_;
  testutil::TestFederation fed_{GetParam(), &clock_};
};

TEST_P(TransportTest, EventsFlowBothWaysAndLiveOverMutualTls) {
  const std::string p = testutil::MakeId(kOrigin, "19900101", 2);
  ASSERT_TRUE(fed_.at(kOrigin).writer->Append(testutil::Basics(p, "P")).ok());
  ASSERT_TRUE(fed_.at(kOrigin).writer->Append(Outflow(p, "out-1")).ok());

  auto server = Serve(kResidence, {kOrigin});
  auto conn = Dial(kOrigin, kResidence, server->port(), Tls(kOrigin));
  auto has = [&](const std::string& node, const std::string& kind_id, int kind) {
    return [&, node, kind_id, kind] {
      auto r = fed_.at(node).store->GetRecord(storage::RecordKey(p, kind, kind_id));
      return r.ok() && r->has_value();
    };
  };
  // Catch-up of what was written before the session ...
  EXPECT_TRUE(WaitFor(fed_.at(kResidence), has(kResidence, "out-1", v1::RECORD_KIND_OUTFLOW)));
  EXPECT_TRUE(fed_.Kinds(kResidence, p).count(v1::RECORD_KIND_PERSON_BASICS) == 0)
      << "basics were routed to the national node only";
  // ... then live delivery on the open session, in both directions.
  ASSERT_TRUE(fed_.at(kOrigin).writer->Append(Outflow(p, "out-2")).ok());
  EXPECT_TRUE(WaitFor(fed_.at(kResidence), has(kResidence, "out-2", v1::RECORD_KIND_OUTFLOW)));
  ASSERT_TRUE(fed_.at(kResidence).writer->Append(testutil::Inflow(p, kOrigin, "in-1")).ok());
  EXPECT_TRUE(WaitFor(fed_.at(kOrigin), has(kOrigin, "in-1", v1::RECORD_KIND_INFLOW)));
  TB_EXPECT_OK(conn->Stop());
}

TEST_P(TransportTest, RefusedPeerIsToldWhyBeforeAnythingIsRead) {
  auto server = Serve(kResidence, {kOrigin});
  auto conn = Dial(kThird, kResidence, server->port(), Tls(kThird));
  const absl::Status s = conn->Stop();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_NE(s.message().find("revoked in roster v3: key compromise"), absl::string_view::npos) << s;
}

TEST_P(TransportTest, CertificateFromAnotherCaGetsNoSession) {
  auto server = Serve(kResidence, {kOrigin, kThird});
  pki::CaOptions other_ca;
  other_ca.now = absl::Now();
  auto ca = pki::CreateCa(other_ca);
  ASSERT_TRUE(ca.ok());
  pki::NodeCertOptions o;
  o.node_code = kOrigin;  // claims to be A
  o.ip_addresses = {"127.0.0.1"};
  o.now = absl::Now();
  auto forged = pki::IssueNodeCertificate(ca->key, ca->cert, o);
  ASSERT_TRUE(forged.ok());
  auto conn = Dial(kOrigin, kResidence, server->port(),
                   {fed_.ca_pem(), forged->cert.Pem(), *forged->key.PrivatePem()});
  const absl::Status s = conn->Stop();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;  // TLS handshake failed
  EXPECT_TRUE(fed_.Kinds(kResidence, testutil::MakeId(kOrigin, "19900101", 2)).empty());
}

TEST_P(TransportTest, ClientNoticesItReachedAnotherNode) {
  auto server = Serve(kResidence, {kOrigin});
  auto conn = Dial(kOrigin, kThird, server->port(), Tls(kOrigin));  // expects C, finds B
  const absl::Status s = conn->Stop();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_NE(s.message().find("presented node 440305, expected 330106"), absl::string_view::npos)
      << s;
}

// Issue #21: the server keeps no thread per stream and polls nothing; a
// session's work runs only when something concerns its peer. C holds an
// idle session with B while A sends B twenty batches: A's session at B runs
// for each, C's not once.
TEST_P(TransportTest, AnIdleSessionRunsOnlyWhenSomethingConcernsItsPeer) {
  auto server = Serve(kResidence, {kOrigin, kThird});
  auto a = Dial(kOrigin, kResidence, server->port(), Tls(kOrigin));
  auto c = Dial(kThird, kResidence, server->port(), Tls(kThird));
  // Each client said Hello and granted its Credit, and B handled both.
  auto settled = [&](const std::string& peer) {
    return [&, peer] {
      const ExchangeServer::Activity act = server->ActivityOf(peer);
      return act.sessions == 1 && act.messages >= 2 && act.idle;
    };
  };
  ASSERT_TRUE(testutil::WaitUntil(settled(kOrigin), absl::Seconds(30), "A's session settled"));
  ASSERT_TRUE(testutil::WaitUntil(settled(kThird), absl::Seconds(30), "C's session settled"));
  const uint64_t a_runs = server->ActivityOf(kOrigin).runs;
  const uint64_t c_runs = server->ActivityOf(kThird).runs;

  const std::string p = testutil::MakeId(kOrigin, "19900101", 3);
  constexpr int kBatches = 20;
  for (int i = 0; i < kBatches; ++i) {
    const std::string id = absl::StrCat("out-", i);
    ASSERT_TRUE(fed_.at(kOrigin).writer->Append(Outflow(p, id)).ok());
    ASSERT_TRUE(testutil::WaitUntil(
        [&] {
          auto r = fed_.at(kResidence)
                       .store->GetRecord(storage::RecordKey(p, v1::RECORD_KIND_OUTFLOW, id));
          return r.ok() && r->has_value();
        },
        absl::Seconds(30), "outflow at B"));
  }
  EXPECT_GE(server->ActivityOf(kOrigin).runs, a_runs + kBatches) << "a run per batch at least";
  EXPECT_EQ(server->ActivityOf(kThird).runs, c_runs)
      << "C's idle session was woken by writes that do not concern C";
  TB_EXPECT_OK(a->Stop());
  TB_EXPECT_OK(c->Stop());
}

// B is down while A writes 10,000 events for it; after B restarts, one
// session catches it up from A's durable log and then carries new events
// live.
TEST_P(TransportTest, StoppedCountyCatchesUpAfterRestartThenContinuesLive) {
  constexpr int kEvents = 10000;
  const std::string p = testutil::MakeId(kOrigin, "19900101", 2);
  fed_.at(kResidence).writer.reset();
  fed_.at(kResidence).store.reset();  // B is down
  std::vector<storage::RecordChange> changes;
  for (int i = 0; i < kEvents; ++i) changes.push_back(Outflow(p, absl::StrCat("out-", i)));
  for (const auto& r : fed_.at(kOrigin).writer->AppendAll(changes)) {
    ASSERT_TRUE(r.ok()) << r.status();
  }
  const storage::LogId a_log = fed_.at(kOrigin).writer->log();
  ASSERT_EQ(fed_.at(kOrigin).writer->stats().last_seq, static_cast<uint64_t>(kEvents));

  fed_.Restart(kResidence);
  auto server = Serve(kResidence, {kOrigin});
  auto conn = Dial(kOrigin, kResidence, server->port(), Tls(kOrigin));
  auto cursor_at = [&](uint64_t seq) {
    return [&, seq] {
      auto c =
          fed_.at(kResidence).store->Get(storage::Cf::kCursors, storage::CursorKey(kOrigin, a_log));
      v1::Position position;
      return c.ok() && c->has_value() && position.ParseFromString(**c) && position.seq() >= seq;
    };
  };
  ASSERT_TRUE(WaitFor(fed_.at(kResidence), cursor_at(kEvents)));
  auto records = fed_.at(kResidence).store->ListRecords(p);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), static_cast<size_t>(kEvents));

  ASSERT_TRUE(fed_.at(kOrigin).writer->Append(Outflow(p, "out-live")).ok());
  EXPECT_TRUE(WaitFor(fed_.at(kResidence), cursor_at(kEvents + 1)));
  TB_EXPECT_OK(conn->Stop());
}

TB_INSTANTIATE_FOR_BOTH_SUITES(TransportTest);

}  // namespace
}  // namespace tongban::sync
