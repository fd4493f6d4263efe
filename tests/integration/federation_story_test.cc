// The story of DOMAIN.md across a national node and three counties, every
// pair on a live mutual-TLS session (real gRPC on 127.0.0.1): a person
// registered at origin A moves to B, then to C, then returns home. At each
// step each node holds what it should: B and C get A's history when they
// link, A sees the services B and C recorded, and no county receives
// anything about a second person it is not linked to.
#include "gtest/gtest.h"
#include "sync/transport.h"
#include "sync/where.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"

namespace tongban::sync {
namespace {

using crypto::SuiteId;
using testutil::kNational;
using testutil::kOrigin;     // A, Lanzhou
using testutil::kResidence;  // B, Shenzhen
using testutil::kThird;      // C, Hangzhou
using testutil::WaitFor;

const char* const kNodes[] = {kNational, kOrigin, kResidence, kThird};

class FederationStoryTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    for (const char* code : kNodes) {
      fed_.Add(code);
      fed_.IssueTls(code);
    }
    for (const char* code : kNodes) {
      ExchangeServer::Options o;
      o.tls = Tls(code);
      o.writer = fed_.at(code).writer.get();
      o.check = [](const std::string&) { return absl::OkStatus(); };
      o.sessions = [this, code](const std::string& peer) { return fed_.OpenSession(code, peer); };
      if (std::string(code) == kNational) {
        o.where = [this](const std::string& asker, const std::string& person) {
          return AnswerWhere(*fed_.at(kNational).store, asker, person, clock_.Now(),
                             absl::Hours(24 * 180));
        };
      }
      auto server = ExchangeServer::Start(std::move(o));
      ASSERT_TRUE(server.ok()) << server.status();
      ports_[code] = (*server)->port();
      servers_.push_back(*std::move(server));
    }
    // One session per pair; the node with the lower code dials.
    for (const char* a : kNodes) {
      for (const char* b : kNodes) {
        if (std::string(a) < std::string(b)) Connect(a, b);
      }
    }
  }

  void TearDown() override {
    for (auto& c : conns_) TB_EXPECT_OK(c->Stop());
  }

  TlsIdentity Tls(const std::string& code) {
    return {fed_.ca_pem(), fed_.at(code).tls_cert_pem, fed_.at(code).tls_key_pem};
  }

  void Connect(const std::string& self, const std::string& peer) {
    PeerConnection::Options o;
    o.peer = peer;
    o.target = absl::StrCat("127.0.0.1:", ports_.at(peer));
    o.tls = Tls(self);
    o.session = fed_.OpenSession(self, peer);
    o.writer = fed_.at(self).writer.get();
    conns_.push_back(PeerConnection::Start(std::move(o)));
  }

  void Write(const std::string& node, const storage::RecordChange& c) {
    auto r = fed_.at(node).writer->Append(c);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  // Waits until `node` holds record (kind, id) of `person`.
  bool Holds(const std::string& node, const std::string& person, v1::RecordKind kind,
             const std::string& id) {
    return WaitFor(fed_.at(node), [&] {
      auto r = fed_.at(node).store->GetRecord(storage::RecordKey(person, kind, id));
      return r.ok() && r->has_value();
    });
  }

  FakeClock clock_;
  testutil::TestFederation fed_{GetParam(), &clock_};
  std::vector<std::unique_ptr<ExchangeServer>> servers_;
  std::map<std::string, int> ports_;
  std::vector<std::unique_ptr<PeerConnection>> conns_;
};

storage::RecordChange Certificate(const std::string& person) {
  storage::RecordChange c;
  c.person = person;
  c.kind = v1::RECORD_KIND_CERTIFICATE;
  c.record_id = "cert-1";
  auto* cert = c.value.mutable_certificate();
  cert->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
  cert->set_number("620102-2026-0001");
  cert->set_issuer(kOrigin);
  *cert->mutable_valid_from() = testutil::Day(2026, 2, 20);
  *cert->mutable_valid_to() = testutil::Day(2029, 2, 19);
  return c;
}

using testutil::Outflow;

storage::RecordChange ReturnHome(const std::string& person) {
  storage::RecordChange c;
  c.person = person;
  c.kind = v1::RECORD_KIND_RETURN;
  c.record_id = "home-1";
  c.value.mutable_return_registration()->set_type(v1::RETURN_TYPE_RETURNED_HOME);
  *c.value.mutable_return_registration()->mutable_effective_on() = testutil::Day(2026, 10, 1);
  return c;
}

TEST_P(FederationStoryTest, RecordsFollowThePersonThroughThreeCountiesAndHome) {
  const std::string p = testutil::MakeId(kOrigin, "19900101", 2);
  const std::string q = testutil::MakeId(kOrigin, "19880505", 4);  // never leaves

  // A: the person's basics and certificate; Q's basics; P leaves for B.
  Write(kOrigin, testutil::Basics(p, "P"));
  Write(kOrigin, testutil::Basics(q, "Q"));
  Write(kOrigin, Certificate(p));
  Write(kOrigin, Outflow(p, kResidence));
  ASSERT_TRUE(Holds(kNational, p, v1::RECORD_KIND_CERTIFICATE, "cert-1"));
  ASSERT_TRUE(Holds(kResidence, p, v1::RECORD_KIND_OUTFLOW, "out-440305"));

  // B registers the arrival: it receives A's history; A and the national
  // node receive the registration.
  Write(kResidence, testutil::Inflow(p, kOrigin, "in-b"));
  EXPECT_TRUE(Holds(kResidence, p, v1::RECORD_KIND_PERSON_BASICS, "basics"));
  EXPECT_TRUE(Holds(kResidence, p, v1::RECORD_KIND_CERTIFICATE, "cert-1"));
  EXPECT_TRUE(Holds(kOrigin, p, v1::RECORD_KIND_INFLOW, "in-b"));
  EXPECT_TRUE(Holds(kNational, p, v1::RECORD_KIND_INFLOW, "in-b"));

  // B records a service; the origin sees it.
  Write(kResidence, testutil::Service(p, kResidence, "svc-b"));
  EXPECT_TRUE(Holds(kOrigin, p, v1::RECORD_KIND_SERVICE, "svc-b"));

  // The person moves on to C: C gets A's history and B's services; B and A
  // learn of the move.
  auto in_c = testutil::Inflow(p, kOrigin, "in-c");
  in_c.value.mutable_inflow()->set_previous_residence(kResidence);
  Write(kThird, in_c);
  EXPECT_TRUE(Holds(kThird, p, v1::RECORD_KIND_PERSON_BASICS, "basics"));
  EXPECT_TRUE(Holds(kThird, p, v1::RECORD_KIND_CERTIFICATE, "cert-1"));
  EXPECT_TRUE(Holds(kThird, p, v1::RECORD_KIND_SERVICE, "svc-b"));
  EXPECT_TRUE(Holds(kResidence, p, v1::RECORD_KIND_INFLOW, "in-c"));
  EXPECT_TRUE(Holds(kOrigin, p, v1::RECORD_KIND_INFLOW, "in-c"));

  // C records a service; the origin sees it too.
  Write(kThird, testutil::Service(p, kThird, "svc-c"));
  EXPECT_TRUE(Holds(kOrigin, p, v1::RECORD_KIND_SERVICE, "svc-c"));

  // The person comes home: C, the current residence, closes the case.
  Write(kOrigin, ReturnHome(p));
  EXPECT_TRUE(Holds(kThird, p, v1::RECORD_KIND_RETURN, "home-1"));
  EXPECT_TRUE(Holds(kNational, p, v1::RECORD_KIND_RETURN, "home-1"));
  auto links = fed_.at(kOrigin).store->GetLinks(p);
  ASSERT_TRUE(links.ok());
  EXPECT_NE(links->at(kResidence).ended_at_micros(), 0);
  EXPECT_NE(links->at(kThird).ended_at_micros(), 0);

  // Every node derived the same links for P from the same events.
  EXPECT_TRUE(WaitFor(fed_.at(kThird), [&] {
    auto here = fed_.at(kThird).store->GetLinks(p);
    auto there = fed_.at(kOrigin).store->GetLinks(p);
    if (!here.ok() || !there.ok() || here->size() != there->size()) return false;
    for (const auto& [node, link] : *there) {
      if (!here->count(node) || here->at(node).ended_at_micros() != link.ended_at_micros()) {
        return false;
      }
    }
    return true;
  }));

  // Nobody but the origin and the national node holds anything about Q.
  EXPECT_TRUE(Holds(kNational, q, v1::RECORD_KIND_PERSON_BASICS, "basics"));
  EXPECT_TRUE(fed_.Kinds(kResidence, q).empty());
  EXPECT_TRUE(fed_.Kinds(kThird, q).empty());

  // B, linked to P, asks the national node where P's records are held.
  const std::string national = absl::StrCat("127.0.0.1:", ports_.at(kNational));
  auto where = AskWhere(kNational, national, Tls(kResidence), p);
  ASSERT_TRUE(where.ok()) << where.status();
  std::map<std::string, std::pair<std::string, bool>> holders;
  for (const auto& h : where->holders()) holders[h.node()] = {h.role(), h.ended()};
  EXPECT_EQ(holders[kOrigin], std::make_pair(std::string("origin"), false));
  EXPECT_EQ(holders[kResidence], std::make_pair(std::string("residence"), true));
  EXPECT_EQ(holders[kThird], std::make_pair(std::string("residence"), true));
  // About Q, to which B is not linked, it is refused and the refusal counted.
  auto refused = AskWhere(kNational, national, Tls(kResidence), q);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_EQ(refused.status().message().find(q), absl::string_view::npos);
  EXPECT_EQ(*fed_.at(kNational).store->GetCounter("refused/where"), 1u);
  // A county does not answer such queries.
  auto county =
      AskWhere(kOrigin, absl::StrCat("127.0.0.1:", ports_.at(kOrigin)), Tls(kResidence), p);
  EXPECT_EQ(county.status().code(), absl::StatusCode::kFailedPrecondition) << county.status();
}

// A correction (更正) or retraction (撤回) reaches every node that received
// the original: the origin, the national node, and a later residence that
// got the record in its backfill; each keeps both versions in its history.
TEST_P(FederationStoryTest, CorrectionsAndRetractionsReachEveryReceiver) {
  const std::string p = testutil::MakeId(kOrigin, "19900101", 2);
  Write(kOrigin, testutil::Basics(p, "P"));
  Write(kOrigin, Outflow(p, kResidence));
  Write(kResidence, testutil::Inflow(p, kOrigin, "in-b"));
  Write(kResidence, testutil::Service(p, kResidence, "svc-b"));
  auto in_c = testutil::Inflow(p, kOrigin, "in-c");
  in_c.value.mutable_inflow()->set_previous_residence(kResidence);
  Write(kThird, in_c);
  ASSERT_TRUE(Holds(kThird, p, v1::RECORD_KIND_SERVICE, "svc-b"));
  ASSERT_TRUE(Holds(kResidence, p, v1::RECORD_KIND_INFLOW, "in-c"));

  // B withdraws its service; A corrects the person's name.
  Write(kResidence, testutil::Retraction(p, v1::RECORD_KIND_SERVICE, "svc-b"));
  auto corrected = testutil::Basics(p, "P (corrected)");
  Write(kOrigin, corrected);

  const auto has = [&](const std::string& node, v1::RecordKind kind, const std::string& id,
                       v1::Operation op) {
    return WaitFor(fed_.at(node), [&] {
      auto r = fed_.at(node).store->GetRecord(storage::RecordKey(p, kind, id));
      return r.ok() && r->has_value() && (*r)->heads_size() == 1 &&
             (*r)->heads(0).operation() == op && (*r)->history_size() == 2;
    });
  };
  for (const char* node : {kOrigin, kNational, kThird}) {
    EXPECT_TRUE(has(node, v1::RECORD_KIND_SERVICE, "svc-b", v1::OPERATION_RETRACT)) << node;
  }
  for (const char* node : {kResidence, kNational, kThird}) {
    EXPECT_TRUE(has(node, v1::RECORD_KIND_PERSON_BASICS, "basics", v1::OPERATION_UPSERT)) << node;
    auto r = fed_.at(node).store->GetRecord(
        storage::RecordKey(p, v1::RECORD_KIND_PERSON_BASICS, "basics"));
    ASSERT_TRUE(r.ok() && r->has_value());
    v1::RecordValue v;
    ASSERT_TRUE(v.ParseFromString((*r)->heads(0).payload()));
    EXPECT_EQ(v.person_basics().name(), "P (corrected)") << node;
  }
}

TB_INSTANTIATE_FOR_BOTH_SUITES(FederationStoryTest);

}  // namespace
}  // namespace tongban::sync
