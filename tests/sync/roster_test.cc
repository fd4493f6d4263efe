// The signed roster under both suites: verification, content rules, peer
// checks, newer-only acceptance and staleness.
#include "sync/roster.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/suite.h"
#include "gtest/gtest.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::sync {
namespace {

using crypto::SuiteId;
using v1::NodeEntry;

const absl::Time kIssued = absl::FromUnixSeconds(1796018132);

bool Contains(const absl::Status& s, absl::string_view text) {
  return absl::StrContains(s.message(), text);
}

class RosterTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(root_, suite().GenerateKey());
    TB_ASSERT_OK_AND_ASSIGN(other_root_, suite().GenerateKey());
    for (const char* code : {"000000", "440000", "440305", "620102", "440306"}) {
      TB_ASSERT_OK_AND_ASSIGN(node_keys_[code], suite().GenerateKey());
    }
    AddNode("000000", "国家平台", NodeEntry::ROLE_NATIONAL, {"national.example:7443"});
    AddNode("440000", "广东省", NodeEntry::ROLE_PROVINCE, {"10.44.0.1:7443"});
    AddNode("440305", "深圳市南山区", NodeEntry::ROLE_COUNTY, {"[2001:db8::5]:7443"});
    AddNode("620102", "兰州市城关区", NodeEntry::ROLE_COUNTY, {});
    roster_.set_version(7);
    roster_.set_issued_at_micros(absl::ToUnixMicros(kIssued));
    roster_.set_federation("粤甘通办");
  }

  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  void AddNode(const std::string& code, const std::string& name, NodeEntry::Role role,
               std::vector<std::string> endpoints) {
    NodeEntry* node = roster_.add_nodes();
    node->set_code(code);
    node->set_name(name);
    node->set_role(role);
    for (const std::string& e : endpoints) node->add_endpoints(e);
    node->set_status(NodeEntry::NODE_STATUS_ACTIVE);
    const crypto::PublicKey& pub = node_keys_.at(code)->public_key();
    v1::SigningKey* key = node->add_signing_keys();
    key->set_suite(std::string(suite().name()));
    key->set_spki_der(pub.SpkiDer());
    key->set_key_id(pub.KeyId());
  }

  NodeEntry* Node(const std::string& code) {
    for (NodeEntry& node : *roster_.mutable_nodes()) {
      if (node.code() == code) return &node;
    }
    return nullptr;
  }

  v1::SignedRoster Sign(const v1::Roster& roster) {
    absl::StatusOr<v1::SignedRoster> signed_roster = SignRoster(roster, *root_);
    EXPECT_TRUE(signed_roster.ok()) << signed_roster.status();
    return signed_roster.ok() ? *signed_roster : v1::SignedRoster();
  }

  absl::StatusOr<Roster> SignAndVerify(const v1::Roster& roster) {
    return Roster::Verify(Sign(roster), root_->public_key());
  }

  std::unique_ptr<crypto::PrivateKey> root_;
  std::unique_ptr<crypto::PrivateKey> other_root_;
  std::map<std::string, std::unique_ptr<crypto::PrivateKey>> node_keys_;
  v1::Roster roster_;
};

TB_INSTANTIATE_FOR_BOTH_SUITES(RosterTest);

TEST_P(RosterTest, SignedRosterVerifies) {
  const v1::SignedRoster signed_roster = Sign(roster_);
  EXPECT_EQ(signed_roster.suite(), suite().name());
  EXPECT_EQ(signed_roster.key_id(), root_->public_key().KeyId());
  TB_ASSERT_OK_AND_ASSIGN(Roster roster, Roster::Verify(signed_roster, root_->public_key()));
  EXPECT_EQ(roster.version(), 7u);
  EXPECT_EQ(roster.federation(), "粤甘通办");
  EXPECT_EQ(roster.issued_at(), kIssued);
  EXPECT_EQ(roster.signed_roster().roster(), signed_roster.roster());
  const NodeEntry* node = roster.Find("440305");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->name(), "深圳市南山区");
  EXPECT_EQ(roster.Find("440306"), nullptr);

  const crypto::PublicKey& pub = node_keys_.at("620102")->public_key();
  const crypto::PublicKey* found = roster.FindSigningKey("620102", pub.KeyId());
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->SpkiDer(), pub.SpkiDer());
  EXPECT_EQ(roster.FindSigningKey("440305", pub.KeyId()), nullptr);
}

// Verification covers the exact bytes: any change to them is caught.
TEST_P(RosterTest, TamperedBytesAreRejected) {
  const v1::SignedRoster good = Sign(roster_);
  for (size_t i = 0; i < good.roster().size(); i += 13) {
    v1::SignedRoster bad = good;
    (*bad.mutable_roster())[i] ^= 0x01;
    const absl::Status s = Roster::Verify(bad, root_->public_key()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << i << ": " << s;
    EXPECT_TRUE(Contains(s, "does not verify")) << s;
  }
  v1::SignedRoster bad_signature = good;
  (*bad_signature.mutable_signature())[5] ^= 0x40;
  EXPECT_EQ(Roster::Verify(bad_signature, root_->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(RosterTest, OtherRootKeyIsRejected) {
  const absl::Status s = Roster::Verify(Sign(roster_), other_root_->public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, root_->public_key().KeyId())) << s;
  EXPECT_TRUE(Contains(s, other_root_->public_key().KeyId())) << s;

  // Claiming the right key id does not help a wrong signer.
  absl::StatusOr<v1::SignedRoster> forged = SignRoster(roster_, *other_root_);
  ASSERT_TRUE(forged.ok());
  forged->set_key_id(root_->public_key().KeyId());
  EXPECT_EQ(Roster::Verify(*forged, root_->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(RosterTest, SuiteMustBeTheRootKeys) {
  v1::SignedRoster signed_roster = Sign(roster_);
  signed_roster.set_suite(GetParam() == SuiteId::kIntl ? "gm" : "intl");
  const absl::Status s = Roster::Verify(signed_roster, root_->public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "suite")) << s;
  signed_roster.set_suite("rsa");
  EXPECT_EQ(Roster::Verify(signed_roster, root_->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(RosterTest, SignedGarbageIsRejected) {
  v1::SignedRoster signed_roster;
  signed_roster.set_roster("\xff\xff\xff not a roster");
  TB_ASSERT_OK_AND_ASSIGN(std::string sig, root_->NewSigner()->Sign(signed_roster.roster()));
  signed_roster.set_signature(sig);
  signed_roster.set_suite(std::string(suite().name()));
  signed_roster.set_key_id(root_->public_key().KeyId());
  const absl::Status s = Roster::Verify(signed_roster, root_->public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "not a Roster")) << s;
}

TEST_P(RosterTest, CheckPeerGivesDistinctReasons) {
  Node("440305")->set_status(NodeEntry::NODE_STATUS_SUSPENDED);
  Node("440305")->set_status_reason("audit pending");
  Node("620102")->set_status(NodeEntry::NODE_STATUS_REVOKED);
  Node("620102")->set_status_reason("key compromised");
  TB_ASSERT_OK_AND_ASSIGN(Roster roster, SignAndVerify(roster_));

  TB_EXPECT_OK(roster.CheckPeer("000000"));
  TB_EXPECT_OK(roster.CheckPeer("440000"));
  const absl::Status suspended = roster.CheckPeer("440305");
  EXPECT_EQ(suspended.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(suspended.message(), "node 440305 is suspended in roster v7: audit pending");
  const absl::Status revoked = roster.CheckPeer("620102");
  EXPECT_EQ(revoked.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(revoked.message(), "node 620102 is revoked in roster v7: key compromised");
  const absl::Status unknown = roster.CheckPeer("440306");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(unknown.message(), "node 440306 is not in roster v7");

  // A revoked node's keys still verify its history.
  EXPECT_NE(roster.FindSigningKey("620102", node_keys_.at("620102")->public_key().KeyId()),
            nullptr);
}

TEST_P(RosterTest, MissingReasonIsSaid) {
  Node("440305")->set_status(NodeEntry::NODE_STATUS_SUSPENDED);
  TB_ASSERT_OK_AND_ASSIGN(Roster roster, SignAndVerify(roster_));
  EXPECT_EQ(roster.CheckPeer("440305").message(),
            "node 440305 is suspended in roster v7: (no reason given)");
}

TEST_P(RosterTest, AcceptsOnlyANewerCorrectlySignedRoster) {
  TB_ASSERT_OK_AND_ASSIGN(Roster current, SignAndVerify(roster_));

  v1::Roster next = roster_;
  next.set_version(8);
  TB_ASSERT_OK_AND_ASSIGN(Roster accepted,
                          Roster::AcceptNewer(current, Sign(next), root_->public_key()));
  EXPECT_EQ(accepted.version(), 8u);

  for (const uint64_t version : {7u, 6u, 1u}) {
    v1::Roster old = roster_;
    old.set_version(version);
    const absl::Status s = Roster::AcceptNewer(current, Sign(old), root_->public_key()).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_EQ(s.message(),
              absl::StrCat("roster v", version, " is not newer than the current roster v7"));
  }

  // A forged newer roster is a bad signature, not an old version.
  v1::SignedRoster forged = Sign(next);
  (*forged.mutable_signature())[3] ^= 0x10;
  EXPECT_EQ(Roster::AcceptNewer(current, forged, root_->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Roster older_forged = roster_;
  older_forged.set_version(3);
  absl::StatusOr<v1::SignedRoster> by_other = SignRoster(older_forged, *other_root_);
  ASSERT_TRUE(by_other.ok());
  EXPECT_EQ(Roster::AcceptNewer(current, *by_other, root_->public_key()).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::Roster other_federation = next;
  other_federation.set_federation("another");
  const absl::Status s =
      Roster::AcceptNewer(current, Sign(other_federation), root_->public_key()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "another")) << s;
}

// A stale roster is only a warning: it still answers.
TEST_P(RosterTest, StaleRosterKeepsWorking) {
  TB_ASSERT_OK_AND_ASSIGN(Roster roster, SignAndVerify(roster_));
  const absl::Duration max_age = absl::Hours(24 * 30);
  EXPECT_FALSE(roster.IsStale(kIssued, max_age));
  EXPECT_FALSE(roster.IsStale(kIssued + absl::Hours(24 * 29), max_age));
  EXPECT_TRUE(roster.IsStale(kIssued + absl::Hours(24 * 31), max_age));
  TB_EXPECT_OK(roster.CheckPeer("440305"));
}

TEST_P(RosterTest, CopiesShareOneImmutableRosterAcrossThreads) {
  TB_ASSERT_OK_AND_ASSIGN(Roster roster, SignAndVerify(roster_));
  const NodeEntry* before = roster.Find("440305");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([copy = roster, &failures] {
      for (int i = 0; i < 1000; ++i) {
        if (!copy.CheckPeer("440305").ok() || copy.CheckPeer("440306").ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const Roster copy = roster;
  EXPECT_EQ(copy.Find("440305"), before);
}

struct ContentCase {
  std::string what;
  std::function<void(v1::Roster&, const crypto::Suite&)> change;
  std::string message;  // part of the expected kInvalidArgument message
  // Refused by a node that receives the roster too. A code that is not in
  // this build's region table is refused only when signing: a county created
  // after the build must not make a node reject the whole roster.
  bool refused_on_receipt = true;
};

TEST_P(RosterTest, InvalidContentIsRefusedBeforeSigningAndAfterVerifying) {
  const std::vector<ContentCase> cases = {
      {"version 0", [](v1::Roster& r, const crypto::Suite&) { r.set_version(0); }, "version"},
      {"no federation", [](v1::Roster& r, const crypto::Suite&) { r.clear_federation(); },
       "federation"},
      {"bad code",
       [](v1::Roster& r, const crypto::Suite&) { r.mutable_nodes(3)->set_code("62010X"); },
       "62010X"},
      {"unknown code",
       [](v1::Roster& r, const crypto::Suite&) { r.mutable_nodes(3)->set_code("629999"); },
       "629999", /*refused_on_receipt=*/false},
      {"duplicate code", [](v1::Roster& r, const crypto::Suite&) { *r.add_nodes() = r.nodes(2); },
       "node 440305: is listed twice"},
      {"no national",
       [](v1::Roster& r, const crypto::Suite&) { r.mutable_nodes()->DeleteSubrange(0, 1); },
       "0 national nodes"},
      {"role does not fit code",
       [](v1::Roster& r, const crypto::Suite&) {
         r.mutable_nodes(2)->set_role(NodeEntry::ROLE_NATIONAL);
       },
       "node 440305: role is ROLE_NATIONAL but a code like this one is ROLE_COUNTY"},
      {"province as county",
       [](v1::Roster& r, const crypto::Suite&) {
         r.mutable_nodes(1)->set_role(NodeEntry::ROLE_COUNTY);
       },
       "ROLE_PROVINCE"},
      {"no name", [](v1::Roster& r, const crypto::Suite&) { r.mutable_nodes(2)->clear_name(); },
       "name is empty"},
      {"no status",
       [](v1::Roster& r, const crypto::Suite&) {
         r.mutable_nodes(2)->set_status(NodeEntry::NODE_STATUS_UNSPECIFIED);
       },
       "status is not set"},
      {"bad endpoint",
       [](v1::Roster& r, const crypto::Suite&) { r.mutable_nodes(2)->add_endpoints("nanshan"); },
       "endpoint \"nanshan\""},
      {"national without endpoint",
       [](v1::Roster& r, const crypto::Suite&) { r.mutable_nodes(0)->clear_endpoints(); },
       "national node needs at least one endpoint"},
      {"no signing key",
       [](v1::Roster& r, const crypto::Suite&) { r.mutable_nodes(2)->clear_signing_keys(); },
       "node 440305: has no signing key"},
      {"key id mismatch",
       [](v1::Roster& r, const crypto::Suite&) {
         r.mutable_nodes(2)->mutable_signing_keys(0)->set_key_id("0000000000000000");
       },
       "does not match its key"},
      {"key of another node's id",
       [](v1::Roster& r, const crypto::Suite&) {
         *r.mutable_nodes(2)->mutable_signing_keys(0)->mutable_spki_der() =
             r.nodes(3).signing_keys(0).spki_der();
       },
       "does not match its key"},
      {"unknown suite",
       [](v1::Roster& r, const crypto::Suite&) {
         r.mutable_nodes(2)->mutable_signing_keys(0)->set_suite("rsa");
       },
       "rsa"},
      {"key of the other suite",
       [](v1::Roster& r, const crypto::Suite& s) {
         r.mutable_nodes(2)->mutable_signing_keys(0)->set_suite(s.id() == SuiteId::kIntl ? "gm"
                                                                                         : "intl");
       },
       "spki_der is not a"},
      {"garbage key",
       [](v1::Roster& r, const crypto::Suite&) {
         r.mutable_nodes(2)->mutable_signing_keys(0)->set_spki_der("junk");
       },
       "spki_der"},
      {"same key twice",
       [](v1::Roster& r, const crypto::Suite&) {
         v1::SigningKey copy = r.nodes(2).signing_keys(0);
         copy.set_valid_from_seq(100);
         *r.mutable_nodes(2)->add_signing_keys() = copy;
       },
       "listed twice"},
  };
  // A valid roster signs and verifies.
  TB_ASSERT_OK(SignAndVerify(roster_).status());
  for (const ContentCase& c : cases) {
    v1::Roster roster = roster_;
    c.change(roster, suite());
    const absl::Status check = ValidateRosterContent(roster);
    EXPECT_EQ(check.code(), absl::StatusCode::kInvalidArgument) << c.what << ": " << check;
    EXPECT_TRUE(Contains(check, c.message)) << c.what << ": " << check;
    EXPECT_EQ(SignRoster(roster, *root_).status().code(), absl::StatusCode::kInvalidArgument)
        << c.what;

    // Signed anyway (by hand), verification refuses the content too.
    v1::SignedRoster signed_roster;
    ASSERT_TRUE(roster.SerializeToString(signed_roster.mutable_roster()));
    TB_ASSERT_OK_AND_ASSIGN(std::string sig, root_->NewSigner()->Sign(signed_roster.roster()));
    signed_roster.set_signature(sig);
    signed_roster.set_suite(std::string(suite().name()));
    signed_roster.set_key_id(root_->public_key().KeyId());
    const absl::Status verified = Roster::Verify(signed_roster, root_->public_key()).status();
    if (!c.refused_on_receipt) {
      TB_EXPECT_OK(verified);
      continue;
    }
    EXPECT_EQ(verified.code(), absl::StatusCode::kInvalidArgument) << c.what << ": " << verified;
    EXPECT_TRUE(Contains(verified, c.message)) << c.what << ": " << verified;
  }
}

TEST_P(RosterTest, KeyRotationWithLaterStartIsValid) {
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<crypto::PrivateKey> next, suite().GenerateKey());
  v1::SigningKey* key = Node("440305")->add_signing_keys();
  key->set_suite(std::string(suite().name()));
  key->set_spki_der(next->public_key().SpkiDer());
  key->set_key_id(next->public_key().KeyId());
  key->set_valid_from_seq(5000);
  TB_ASSERT_OK_AND_ASSIGN(Roster roster, SignAndVerify(roster_));
  EXPECT_NE(roster.FindSigningKey("440305", next->public_key().KeyId()), nullptr);

  key->set_valid_from_seq(0);  // two keys valid from the same seq
  const absl::Status s = ValidateRosterContent(roster_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(Contains(s, "valid from seq 0")) << s;
}

TEST(RosterEndpointTest, HostPortForms) {
  for (const char* good : {"national.example:7443", "a:1", "10.0.0.1:65535", "[::1]:7443",
                           "[2001:db8::5]:443", "tongban-01.nanshan.gov.cn:7443"}) {
    TB_EXPECT_OK(ValidateEndpoint(good));
  }
  for (const char* bad : {"", "host", ":80", "host:", "host:0", "host:65536", "host:80x", "host:-1",
                          "ho st:80", "1.2.3:80", "300.1.1.1:80", "::1:80", "[::1:80", "[zz]:80",
                          "host..x:80", ".host:80", "host:+80"}) {
    const absl::Status s = ValidateEndpoint(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(Contains(s, absl::StrCat("\"", bad, "\""))) << s;
  }
}

}  // namespace
}  // namespace tongban::sync
