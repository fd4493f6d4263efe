// RosterHolder under both suites: offered rosters refused with distinct codes
// (forged, same, older), a newer one accepted and persisted before use; key
// pointers outliving a swap; a stale roster that only warns; and the national
// node serving the current roster over mutual TLS to a node holding an older
// one, which accepts it, while a node the roster suspends is refused.
#include "sync/roster_holder.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/key_file.h"
#include "gtest/gtest.h"
#include "sync/transport.h"
#include "tests/sync/test_federation.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"

namespace tongban::sync {
namespace {

using crypto::SuiteId;
using testutil::kNational;
using testutil::kOrigin;
using testutil::kResidence;
using testutil::kThird;
using v1::NodeEntry;

const absl::Time kIssued = absl::FromUnixSeconds(1796018132);

class RosterHolderTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    TB_ASSERT_OK_AND_ASSIGN(root_, suite().GenerateKey());
    for (const char* code : {kNational, kOrigin, kResidence, kThird}) {
      fed_.Add(code);
      NodeEntry* node = roster_.add_nodes();
      node->set_code(code);
      node->set_name(absl::StrCat("node ", code));
      node->set_role(std::string(code) == kNational ? NodeEntry::ROLE_NATIONAL
                                                    : NodeEntry::ROLE_COUNTY);
      if (std::string(code) == kNational) node->add_endpoints("127.0.0.1:7443");
      node->set_status(NodeEntry::NODE_STATUS_ACTIVE);
      const crypto::PublicKey& pub = fed_.at(code).key->public_key();
      v1::SigningKey* key = node->add_signing_keys();
      key->set_suite(std::string(suite().name()));
      key->set_spki_der(pub.SpkiDer());
      key->set_key_id(pub.KeyId());
    }
    roster_.set_version(7);
    roster_.set_issued_at_micros(absl::ToUnixMicros(kIssued));
    roster_.set_federation("test federation");
  }

  const crypto::Suite& suite() const { return crypto::GetSuite(GetParam()); }

  v1::SignedRoster Signed(uint64_t version, const crypto::PrivateKey* by = nullptr) {
    v1::Roster r = roster_;
    r.set_version(version);
    absl::StatusOr<v1::SignedRoster> s = SignRoster(r, by ? *by : *root_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or(v1::SignedRoster());
  }

  // A holder of `signed_roster`, kept in the file `name`.
  std::unique_ptr<RosterHolder> HolderOf(const v1::SignedRoster& signed_roster,
                                         const std::string& name) {
    const std::string path = dir_.File(name);
    EXPECT_TRUE(crypto::ReplaceFileAtomically(path, signed_roster.SerializeAsString(), 0644).ok());
    return Reopen(name);
  }
  std::unique_ptr<RosterHolder> Reopen(const std::string& name) {
    auto root_pub = suite().PublicKeyFromSpkiDer(root_->public_key().SpkiDer());
    EXPECT_TRUE(root_pub.ok());
    absl::StatusOr<std::unique_ptr<RosterHolder>> h =
        RosterHolder::Open(dir_.File(name), *std::move(root_pub));
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *std::move(h) : nullptr;
  }

  FakeClock clock_;
  testutil::TestFederation fed_{GetParam(), &clock_};
  testutil::ScopedTempDir dir_;
  std::unique_ptr<crypto::PrivateKey> root_;
  v1::Roster roster_;
};

TEST_P(RosterHolderTest, RefusesForgedSameAndOlderWithDistinctCodesAndKeepsANewerOne) {
  std::unique_ptr<RosterHolder> holder = HolderOf(Signed(7), "roster.bin");
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->version(), 7u);
  const crypto::PublicKey* v7_key =
      holder->FindSigningKey(kOrigin, fed_.at(kOrigin).key->public_key().KeyId());
  ASSERT_NE(v7_key, nullptr);

  auto code_of = [&](const v1::SignedRoster& offered) { return holder->Offer(offered).status(); };
  v1::SignedRoster forged = Signed(8);
  forged.mutable_signature()->back() ^= 0x01;
  EXPECT_EQ(code_of(forged).code(), absl::StatusCode::kInvalidArgument);
  TB_ASSERT_OK_AND_ASSIGN(auto other_root, suite().GenerateKey());
  EXPECT_EQ(code_of(Signed(9, other_root.get())).code(), absl::StatusCode::kInvalidArgument);
  const absl::Status same = code_of(Signed(7));
  EXPECT_EQ(same.code(), absl::StatusCode::kAlreadyExists) << same;
  v1::Roster changed = roster_;
  changed.mutable_nodes(1)->set_name("renamed without a new version");
  const absl::Status rewritten = holder->Offer(*SignRoster(changed, *root_)).status();
  EXPECT_EQ(rewritten.code(), absl::StatusCode::kFailedPrecondition) << rewritten;
  const absl::Status older = code_of(Signed(6));
  EXPECT_EQ(older.code(), absl::StatusCode::kFailedPrecondition) << older;
  EXPECT_EQ(older.message(), "roster v6 is not newer than the current roster v7");
  EXPECT_EQ(holder->version(), 7u);
  EXPECT_EQ(Reopen("roster.bin")->version(), 7u) << "a refused roster must not be persisted";

  roster_.mutable_nodes(3)->set_status(NodeEntry::NODE_STATUS_SUSPENDED);
  roster_.mutable_nodes(3)->set_status_reason("audit pending");
  TB_ASSERT_OK_AND_ASSIGN(Roster accepted, holder->Offer(Signed(8)));
  EXPECT_EQ(accepted.version(), 8u);
  EXPECT_EQ(holder->version(), 8u);
  EXPECT_TRUE(absl::StrContains(holder->CheckPeer(kThird).message(), "suspended in roster v8"));
  // Persisted: a restarted node starts from v8.
  EXPECT_EQ(Reopen("roster.bin")->version(), 8u);
  // A key found in v7 is still valid after the swap.
  EXPECT_EQ(v7_key->KeyId(), fed_.at(kOrigin).key->public_key().KeyId());
}

TEST_P(RosterHolderTest, AMissingOrBrokenFileIsNamed) {
  auto root_pub = suite().PublicKeyFromSpkiDer(root_->public_key().SpkiDer());
  ASSERT_TRUE(root_pub.ok());
  const absl::Status missing =
      RosterHolder::Open(dir_.File("none.bin"), *std::move(root_pub)).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_TRUE(absl::StrContains(missing.message(), "none.bin")) << missing;
  TB_ASSERT_OK(crypto::ReplaceFileAtomically(dir_.File("bad.bin"), "\xff\xff not a roster", 0644));
  root_pub = suite().PublicKeyFromSpkiDer(root_->public_key().SpkiDer());
  const absl::Status bad = RosterHolder::Open(dir_.File("bad.bin"), *std::move(root_pub)).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_TRUE(absl::StrContains(bad.message(), "bad.bin")) << bad;
}

TEST_P(RosterHolderTest, AStaleRosterOnlyWarns) {
  std::unique_ptr<RosterHolder> holder = HolderOf(Signed(7), "roster.bin");
  EXPECT_FALSE(holder->WarnIfStale(kIssued + absl::Hours(24), absl::Hours(24 * 30)));
  EXPECT_TRUE(holder->WarnIfStale(kIssued + absl::Hours(24 * 31), absl::Hours(24 * 30)));
  TB_EXPECT_OK(holder->CheckPeer(kOrigin));
}

TEST_P(RosterHolderTest, NationalNodeServesTheNewerRosterToANodeHoldingAnOlderOne) {
  for (const char* code : {kNational, kOrigin, kThird}) fed_.IssueTls(code);
  auto tls = [&](const std::string& code) {
    return TlsIdentity{fed_.ca_pem(), fed_.at(code).tls_cert_pem, fed_.at(code).tls_key_pem};
  };
  std::unique_ptr<RosterHolder> county = HolderOf(Signed(7), "county.bin");
  roster_.mutable_nodes(3)->set_status(NodeEntry::NODE_STATUS_SUSPENDED);
  roster_.mutable_nodes(3)->set_status_reason("audit pending");
  std::unique_ptr<RosterHolder> national = HolderOf(Signed(8), "national.bin");

  ExchangeServer::Options o;
  o.tls = tls(kNational);
  o.writer = fed_.at(kNational).writer.get();
  RosterHolder* served = national.get();
  o.check = [served](const std::string& peer) { return served->CheckPeer(peer); };
  o.sessions = [this](const std::string& peer) { return fed_.OpenSession(kNational, peer); };
  o.roster = [served](uint64_t have) { return served->SignedIfNewer(have); };
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<ExchangeServer> server,
                          ExchangeServer::Start(std::move(o)));
  const std::string target = absl::StrCat("127.0.0.1:", server->port());

  TB_ASSERT_OK_AND_ASSIGN(std::optional<v1::SignedRoster> fetched,
                          FetchRoster(kNational, target, tls(kOrigin), county->version()));
  ASSERT_TRUE(fetched.has_value());
  TB_ASSERT_OK_AND_ASSIGN(Roster accepted, county->Offer(*fetched));
  EXPECT_EQ(accepted.version(), 8u);
  EXPECT_EQ(Reopen("county.bin")->version(), 8u);
  TB_ASSERT_OK_AND_ASSIGN(fetched, FetchRoster(kNational, target, tls(kOrigin), 8));
  EXPECT_FALSE(fetched.has_value()) << "nothing newer than v8";

  const absl::Status refused = FetchRoster(kNational, target, tls(kThird), 7).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "suspended in roster v8: audit pending"))
      << refused;
}

TB_INSTANTIATE_FOR_BOTH_SUITES(RosterHolderTest);

}  // namespace
}  // namespace tongban::sync
