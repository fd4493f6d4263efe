// Operator accounts managed on a running county (issue #20, "accounts that
// can be managed"): each `tongbanctl operator` command takes effect at the
// operator's next call without a restart, a lock-out survives a restart,
// and every change is an audit entry. Both suites.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "admin/totp.h"
#include "gtest/gtest.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/files.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "tongbanctl/admin_client.h"

namespace tongban::node {
namespace {

class AccountsDaemonTest : public DaemonTest {
 protected:
  // The status of one Status call as `who` with the password in
  // `password_file` (default: their own).
  absl::Status CallAs(const std::string& who, const std::string& password_file = "") {
    return As(who, password_file)->Status(v1::StatusRequest()).status();
  }
};

// The audit entries about operator accounts, "action operator outcome".
std::vector<std::string> AccountEntries(const v1::AuditReply& trail) {
  std::vector<std::string> out;
  for (const v1::AuditEntry& e : trail.entries()) {
    if (absl::StartsWith(e.action(), "operator.") && e.action() != "operator.login") {
      out.push_back(
          absl::StrCat(e.action(), " by ", e.operator_(), " on ", e.reason(), ": ", e.outcome()));
    }
  }
  return out;
}

TEST_P(AccountsDaemonTest, ListShowsEveryAccountToAdministratorsOnly) {
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"operator", "list"}, &err, &out), 0) << err;
  for (const char* name : {"clerk", "admin", "auditor"}) {
    EXPECT_TRUE(absl::StrContains(out, name)) << out;
  }
  EXPECT_TRUE(absl::StrContains(out, "administrator")) << out;
  // A clerk may not manage accounts: refused, exit code 3.
  EXPECT_EQ(Ctl("clerk", {"operator", "list"}, &err), 3) << err;
  EXPECT_TRUE(absl::StrContains(err, "may not manage operators")) << err;
  EXPECT_EQ(Ctl("clerk", {"operator", "disable", "auditor"}, &err), 3) << err;
  TB_EXPECT_OK(CallAs("auditor"));
}

TEST_P(AccountsDaemonTest, DisableAndEnableTakeEffectAtTheNextCall) {
  TB_ASSERT_OK(CallAs("clerk"));  // the password check is remembered now
  std::string err, out;
  ASSERT_EQ(
      Ctl("admin", {"operator", "disable", "clerk", "--reason", "left the office"}, &err, &out), 0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "disabled")) << out;
  const absl::Status refused = CallAs("clerk");
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated) << refused;
  ASSERT_EQ(Ctl("admin", {"operator", "list"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "disabled")) << out;
  // An administrator cannot disable themselves (the last one would lock
  // everybody out), and an unknown account is named.
  EXPECT_NE(Ctl("admin", {"operator", "disable", "admin"}, &err), 0);
  EXPECT_TRUE(absl::StrContains(err, "own account")) << err;
  EXPECT_EQ(Ctl("admin", {"operator", "disable", "nobody"}, &err), 2) << err;
  EXPECT_TRUE(absl::StrContains(err, "no operator account nobody")) << err;

  ASSERT_EQ(Ctl("admin", {"operator", "enable", "clerk"}, &err), 0) << err;
  TB_EXPECT_OK(CallAs("clerk"));

  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply trail, As("auditor")->Audit(v1::AuditRequest()));
  const std::vector<std::string> entries = AccountEntries(trail);  // newest first
  ASSERT_EQ(entries.size(), 4u) << absl::StrJoin(entries, "\n");
  EXPECT_TRUE(absl::StartsWith(entries[0], "operator.enable by admin on operator clerk: OK"))
      << entries[0];
  EXPECT_TRUE(absl::StartsWith(entries[1], "operator.disable by admin on operator nobody: "))
      << entries[1];
  EXPECT_TRUE(absl::StartsWith(entries[3],
                               "operator.disable by admin on operator clerk: left the office: OK"))
      << entries[3];
}

TEST_P(AccountsDaemonTest, ResetPasswordReplacesTheOldOneAtOnce) {
  TB_ASSERT_OK(CallAs("clerk"));
  const std::string fresh = dir_.File("clerk.new.password");
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"operator", "reset-password", "clerk", "--out", fresh}, &err, &out), 0)
      << err;
  EXPECT_EQ(testutil::ModeOf(fresh), 0600u);
  EXPECT_FALSE(absl::StrContains(out, testutil::Contents(fresh).substr(0, 20))) << "printed";
  EXPECT_EQ(CallAs("clerk").code(), absl::StatusCode::kUnauthenticated);
  TB_EXPECT_OK(CallAs("clerk", fresh));
  // An existing --out file is never overwritten, and nothing changes then.
  EXPECT_EQ(Ctl("admin", {"operator", "reset-password", "clerk", "--out", fresh}, &err), 2) << err;
  TB_EXPECT_OK(CallAs("clerk", fresh));
  // A password given in a file must meet the policy.
  const std::string shorty = dir_.File("short.password");
  testutil::WriteFile(shorty, "short\n", 0600);
  EXPECT_EQ(
      Ctl("admin", {"operator", "reset-password", "clerk", "--new-password-file", shorty}, &err), 2)
      << err;
  const std::string chosen = dir_.File("chosen.password");
  testutil::WriteFile(chosen, "a long enough new password\n", 0600);
  ASSERT_EQ(
      Ctl("admin", {"operator", "reset-password", "clerk", "--new-password-file", chosen}, &err), 0)
      << err;
  TB_EXPECT_OK(CallAs("clerk", chosen));
  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply trail, As("auditor")->Audit(v1::AuditRequest()));
  const std::vector<std::string> entries = AccountEntries(trail);
  ASSERT_FALSE(entries.empty());
  EXPECT_TRUE(
      absl::StartsWith(entries[0], "operator.reset_password by admin on operator clerk: OK"))
      << entries[0];
  for (const v1::AuditEntry& e : trail.entries()) {
    EXPECT_FALSE(absl::StrContains(e.reason(), "a long enough")) << "the password was audited";
  }
}

TEST_P(AccountsDaemonTest, LockOutSurvivesARestartUntilUnlocked) {
  const std::string wrong = dir_.File("wrong.password");
  testutil::WriteFile(wrong, "not-the-password-at-all\n", 0600);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(CallAs("clerk", wrong).ok());
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"operator", "list"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "locked until")) << out;

  county_->Stop();
  county_.reset();
  TB_ASSERT_OK_AND_ASSIGN(Config county, LoadConfig(dir_.File(kCounty) + "/tongband.conf"));
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(county, RealClock()));
  const absl::Status locked = CallAs("clerk");
  EXPECT_EQ(locked.code(), absl::StatusCode::kUnauthenticated) << locked;
  EXPECT_TRUE(absl::StrContains(locked.message(), "locked")) << locked;

  ASSERT_EQ(
      Ctl("admin", {"operator", "unlock", "clerk", "--reason", "called the office"}, &err, &out), 0)
      << err;
  TB_EXPECT_OK(CallAs("clerk"));
  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply trail, As("auditor")->Audit(v1::AuditRequest()));
  const std::vector<std::string> entries = AccountEntries(trail);
  ASSERT_FALSE(entries.empty());
  EXPECT_TRUE(absl::StartsWith(entries[0],
                               "operator.unlock by admin on operator clerk: called the office: OK"))
      << entries[0];
}

TEST_P(AccountsDaemonTest, EnrollTotpMakesTheNewCodeTheSecondFactor) {
  const std::string uri_file = dir_.File("clerk.totp");
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"operator", "enroll-totp", "clerk", "--out", uri_file}, &err, &out), 0)
      << err;
  EXPECT_EQ(testutil::ModeOf(uri_file), 0600u);
  const std::string uri = testutil::Contents(uri_file);
  ASSERT_TRUE(absl::StartsWith(uri, "otpauth://totp/")) << uri;
  // The secret is in the file only, never on the terminal.
  const size_t at = uri.find("secret=") + 7;
  const std::string secret_text = uri.substr(at, uri.find('&', at) - at);
  EXPECT_FALSE(absl::StrContains(out, secret_text)) << out;
  TB_ASSERT_OK_AND_ASSIGN(std::string secret, admin::Base32Decode(secret_text));

  // The password alone no longer signs the clerk in; with the code it does.
  EXPECT_EQ(CallAs("clerk").code(), absl::StatusCode::kUnauthenticated);
  TB_ASSERT_OK_AND_ASSIGN(std::string code,
                          admin::TotpCodeAt(secret, admin::TotpStep(absl::Now())));
  const std::string ops = dir_.File(kCounty) + "/operators/";
  auto args = cli::Args::Parse(
      {"--node", absl::StrCat("127.0.0.1:", county_->admin_port()), "--ca",
       dir_.File(kCounty) + "/tls/ca.crt", "--cert", ops + "clerk.crt", "--key", ops + "clerk.key",
       "--password-file", ops + "clerk.password", "--totp", code},
      cli::ConnectionFlags(), 0, 0);
  TB_ASSERT_OK(args.status());
  TB_ASSERT_OK_AND_ASSIGN(auto client, cli::AdminClient::FromArgs(*args));
  TB_EXPECT_OK(client->Status(v1::StatusRequest()).status());
  ASSERT_EQ(Ctl("admin", {"operator", "list"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "yes")) << out;
}

// `tongbanctl operator add` works on the files beside a running node; the
// node sees the account at its first call, and the administrator's changes
// made meanwhile are kept.
TEST_P(AccountsDaemonTest, AnAccountAddedOfflineWorksWithoutRestart) {
  std::string err, out;
  ASSERT_EQ(Ctl("admin", {"operator", "disable", "auditor"}, &err), 0) << err;
  const std::string ops = dir_.File(kCounty) + "/operators";
  std::vector<std::string> add = {
      "operator",  "add",    "--dir", ops,       "--name",
      "wang.fang", "--role", "clerk", "--suite", std::string(crypto::SuiteName(GetParam()))};
  ASSERT_EQ(RunCtl(add, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "no restart")) << out;
  TB_EXPECT_OK(CallAs("wang.fang"));
  ASSERT_EQ(Ctl("admin", {"operator", "list"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "wang.fang")) << out;
  EXPECT_EQ(CallAs("auditor").code(), absl::StatusCode::kUnauthenticated)
      << "the disable made through the node was lost by the offline add";
}

TB_INSTANTIATE_FOR_BOTH_SUITES(AccountsDaemonTest);

}  // namespace
}  // namespace tongban::node
