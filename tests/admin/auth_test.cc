#include "admin/auth.h"

#include <optional>

#include "absl/strings/match.h"
#include "admin/totp.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::admin {
namespace {

using crypto::SuiteId;

constexpr char kCounty[] = "620102";
constexpr char kPassword[] = "correct horse battery";
constexpr char kSecret[] = "12345678901234567890";
constexpr char kRefusal[] = "authentication failed for operator li.wei";

class AuthTest : public testing::TestWithParam<SuiteId> {
 protected:
  void SetUp() override {
    pki::CaOptions ca;
    ca.name = "Tongban operator CA 620102";
    ca.now = clock_.Now();
    TB_ASSERT_OK_AND_ASSIGN(operator_ca_, pki::CreateCa(ca));
    TB_ASSERT_OK_AND_ASSIGN(accounts_, OperatorAccounts::Open(dir_.File("operators")));
    OperatorAccount li;
    li.name = "li.wei";
    li.role = Role::kClerk;
    TB_ASSERT_OK_AND_ASSIGN(li.password_hash, HashPassword(GetParam(), kPassword, 1000));
    li.totp_secret = kSecret;
    TB_ASSERT_OK(accounts_->Put(li));
    li_cert_.emplace(Cert("li.wei", "clerk"));
    options_.county = kCounty;
    options_.suite = GetParam();
    options_.password_iterations = 1000;
    options_.max_failures = 3;
    options_.lockout = absl::Minutes(10);
    MakeAuthenticator();
  }

  void MakeAuthenticator() {
    auth_.emplace(accounts_.get(), operator_ca_->cert, &clock_, options_);
  }

  pki::Certificate Cert(const std::string& name, const std::string& role,
                        const std::string& county = kCounty,
                        const pki::KeyAndCertificate* ca = nullptr) {
    if (ca == nullptr) ca = &*operator_ca_;
    pki::OperatorCertOptions o;
    o.county = county;
    o.name = name;
    o.role = role;
    o.now = clock_.Now();
    absl::StatusOr<pki::KeyAndCertificate> issued =
        pki::IssueOperatorCertificate(ca->key, ca->cert, o);
    EXPECT_TRUE(issued.ok()) << issued.status();
    return issued->cert;
  }

  // The code an authenticator app shows now (or `steps` steps later).
  std::string Code(int steps = 0) {
    absl::StatusOr<std::string> code = TotpCodeAt(kSecret, TotpStep(clock_.Now()) + steps);
    EXPECT_TRUE(code.ok());
    return *code;
  }

  // Authenticate as li.wei; returns the reason.
  absl::StatusOr<AuthenticatedOperator> Login(absl::string_view password, const std::string& code,
                                              std::string* reason = nullptr) {
    return auth_->Authenticate(*li_cert_, password, code, reason);
  }

  testutil::ScopedTempDir dir_;
  FakeClock clock_;
  std::optional<pki::KeyAndCertificate> operator_ca_;
  std::unique_ptr<OperatorAccounts> accounts_;
  std::optional<pki::Certificate> li_cert_;
  AuthOptions options_;
  std::optional<Authenticator> auth_;
};

TEST_P(AuthTest, AllFactorsGiveTheOperator) {
  std::string reason = "unset";
  TB_ASSERT_OK_AND_ASSIGN(AuthenticatedOperator op, Login(kPassword, Code(), &reason));
  EXPECT_EQ(op.county, kCounty);
  EXPECT_EQ(op.name, "li.wei");
  EXPECT_EQ(op.role, Role::kClerk);
  EXPECT_EQ(reason, "");
}

// Whatever fails, the caller reads the same refusal; only `reason` differs.
TEST_P(AuthTest, EveryFailureGivesTheSameRefusal) {
  std::string reason;
  auto expect_refused = [&](const absl::StatusOr<AuthenticatedOperator>& r,
                            absl::string_view want_reason) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(r.status().message(), kRefusal);
    EXPECT_TRUE(absl::StrContains(reason, want_reason)) << reason;
    TB_EXPECT_OK(auth_->Unlock("li.wei"));
  };
  expect_refused(Login("wrong password", Code(), &reason), "password");
  EXPECT_EQ(reason, "password");
  expect_refused(Login(kPassword, "000000", &reason), "totp");
  EXPECT_EQ(reason, "totp");
  expect_refused(Login(kPassword, "", &reason), "totp");
  expect_refused(Login("wrong password", "000000", &reason), "password, totp");
  // The certificate says auditor, the account says clerk.
  expect_refused(auth_->Authenticate(Cert("li.wei", "auditor"), kPassword, Code(), &reason),
                 "certificate role differs");
  // A disabled account.
  OperatorAccount li = *accounts_->Find("li.wei");
  li.disabled = true;
  TB_ASSERT_OK(accounts_->Put(li));
  expect_refused(Login(kPassword, Code(), &reason), "account disabled");
  // No account at all, with a valid certificate.
  const absl::Status none =
      auth_->Authenticate(Cert("ghost", "clerk"), kPassword, Code(), &reason).status();
  EXPECT_EQ(none.message(), "authentication failed for operator ghost");
  EXPECT_TRUE(absl::StrContains(reason, "no such account")) << reason;
  // The reason never holds what was typed.
  EXPECT_FALSE(absl::StrContains(reason, kPassword));
}

TEST_P(AuthTest, CertificatesOfAnotherCountyOrCaAreRefused) {
  std::string reason;
  absl::Status s =
      auth_->Authenticate(Cert("li.wei", "clerk", "440305"), kPassword, Code(), &reason).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(reason, "county 440305")) << reason;

  pki::CaOptions other;
  other.name = "Some other CA";
  other.now = clock_.Now();
  TB_ASSERT_OK_AND_ASSIGN(pki::KeyAndCertificate other_ca, pki::CreateCa(other));
  s = auth_->Authenticate(Cert("li.wei", "clerk", kCounty, &other_ca), kPassword, Code(), &reason)
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(s.message(), "authentication failed");
  EXPECT_TRUE(absl::StrContains(reason, "certificate")) << reason;
}

TEST_P(AuthTest, LockedOutAfterConsecutiveFailuresForThePeriod) {
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(Login("wrong password", Code()).ok());
  EXPECT_FALSE(auth_->IsLockedOut("li.wei"));
  const absl::Status third = Login("wrong password", Code()).status();
  EXPECT_TRUE(absl::StrContains(third.message(), "locked after 3 failures until")) << third;
  EXPECT_TRUE(auth_->IsLockedOut("li.wei"));

  // Right credentials are refused while locked, and nothing is checked.
  std::string reason;
  const absl::Status locked = Login(kPassword, Code(), &reason).status();
  EXPECT_EQ(locked.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StartsWith(locked.message(), kRefusal)) << locked;
  EXPECT_EQ(reason, "locked");

  clock_.Advance(absl::Minutes(10) - absl::Seconds(1));
  EXPECT_FALSE(Login(kPassword, Code()).ok());
  clock_.Advance(absl::Seconds(1));
  TB_EXPECT_OK(Login(kPassword, Code()));
}

// With a store, a lock-out, the failures counted towards one and the last
// TOTP step used survive a new authenticator (a restart); Unlock lifts the
// lock-out in the store too.
TEST_P(AuthTest, LockOutStateSurvivesARestartWithAStore) {
  storage::StoreOptions so;
  so.path = dir_.File("db");
  so.suite = GetParam();
  TB_ASSERT_OK_AND_ASSIGN(so.storage_key,
                          crypto::RandomBytes(crypto::GetSuite(GetParam()).symmetric_key_size()));
  TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<storage::Store> store, storage::Store::Open(so));
  auto restart = [&] {
    auth_.emplace(accounts_.get(), operator_ca_->cert, &clock_, options_, store.get());
  };
  restart();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Login("wrong password", Code()).ok());
  EXPECT_TRUE(auth_->IsLockedOut("li.wei"));
  restart();
  EXPECT_TRUE(auth_->IsLockedOut("li.wei"));
  std::string reason;
  EXPECT_FALSE(Login(kPassword, Code(), &reason).ok());
  EXPECT_EQ(reason, "locked");
  EXPECT_GT(auth_->LockoutOf("li.wei").locked_until, clock_.Now());

  TB_ASSERT_OK(auth_->Unlock("li.wei"));
  restart();
  EXPECT_FALSE(auth_->IsLockedOut("li.wei"));
  const std::string code = Code();
  TB_ASSERT_OK(Login(kPassword, code));
  // Two failures count across a restart: the third locks.
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(Login("wrong password", Code(1)).ok());
  restart();
  EXPECT_EQ(auth_->LockoutOf("li.wei").failures, 2);
  // The TOTP code used before the restart is not accepted after it.
  EXPECT_FALSE(Login(kPassword, code, &reason).ok());
  EXPECT_TRUE(absl::StrContains(reason, "totp")) << reason;
  EXPECT_TRUE(auth_->IsLockedOut("li.wei"));
  // Without a store nothing is kept: the same restart forgets it.
  auth_.emplace(accounts_.get(), operator_ca_->cert, &clock_, options_);
  EXPECT_FALSE(auth_->IsLockedOut("li.wei"));
}

TEST_P(AuthTest, SuccessResetsTheFailureCount) {
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(Login("wrong password", Code()).ok());
  TB_ASSERT_OK(Login(kPassword, Code()));
  clock_.Advance(absl::Seconds(30));
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(Login("wrong password", Code()).ok());
  EXPECT_FALSE(auth_->IsLockedOut("li.wei"));
}

TEST_P(AuthTest, TotpCodeIsNotAcceptedTwice) {
  const std::string code = Code();
  TB_ASSERT_OK(Login(kPassword, code));
  std::string reason;
  EXPECT_FALSE(Login(kPassword, code, &reason).ok());
  EXPECT_EQ(reason, "totp");
  // The previous step's code is older still: refused too.
  EXPECT_FALSE(Login(kPassword, Code(-1)).ok());
  clock_.Advance(absl::Seconds(30));
  TB_EXPECT_OK(Login(kPassword, Code()));
}

TEST_P(AuthTest, RequireTotpRefusesAccountsWithoutIt) {
  OperatorAccount wang;
  wang.name = "wang";
  wang.role = Role::kAdministrator;
  TB_ASSERT_OK_AND_ASSIGN(wang.password_hash, HashPassword(GetParam(), kPassword, 1000));
  TB_ASSERT_OK(accounts_->Put(wang));
  const pki::Certificate cert = Cert("wang", "administrator");
  TB_ASSERT_OK_AND_ASSIGN(AuthenticatedOperator op, auth_->Authenticate(cert, kPassword, ""));
  EXPECT_EQ(op.role, Role::kAdministrator);
  options_.require_totp = true;
  MakeAuthenticator();
  std::string reason;
  EXPECT_FALSE(auth_->Authenticate(cert, kPassword, "", &reason).ok());
  EXPECT_EQ(reason, "totp");
}

TEST(AuditEntryTest, OperatorAndPeerEntries) {
  const storage::AuditEntry op =
      OperatorAuditEntry({kCounty, "li.wei", Role::kClerk}, "person.read", "11010519491231002X",
                         "answer an inquiry", absl::OkStatus());
  EXPECT_EQ(op.operator_name, "li.wei");
  EXPECT_EQ(op.role, "clerk");
  EXPECT_EQ(op.action, "person.read");
  EXPECT_EQ(op.person, "11010519491231002X");
  EXPECT_EQ(op.outcome, "OK");
  const storage::AuditEntry peer =
      storage::PeerAuditEntry("440305", "person.fetch", "11010519491231002X", "backfill",
                              absl::PermissionDeniedError("not linked"));
  EXPECT_EQ(peer.operator_name, "node:440305");
  EXPECT_EQ(peer.role, "peer");
  EXPECT_EQ(peer.outcome, "PERMISSION_DENIED: not linked");
}

TB_INSTANTIATE_FOR_BOTH_SUITES(AuthTest);

}  // namespace
}  // namespace tongban::admin
