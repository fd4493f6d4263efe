#include "admin/operators.h"

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::admin {
namespace {

using crypto::SuiteId;

// The matrix of operators.h, written out again: a change to Allowed() must
// change this table too.
TEST(OperatorsTest, PermissionMatrix) {
  const std::map<Permission, std::set<Role>> kGranted = {
      {Permission::kReadPersons, {Role::kClerk}},
      {Permission::kWriteRecords, {Role::kClerk}},
      {Permission::kListDeadlines, {Role::kClerk}},
      {Permission::kExchangeBundles, {Role::kAdministrator}},
      {Permission::kReadStatistics, {Role::kClerk, Role::kAdministrator, Role::kAuditor}},
      {Permission::kReadPeers, {Role::kClerk, Role::kAdministrator, Role::kAuditor}},
      {Permission::kManagePeers, {Role::kAdministrator}},
      {Permission::kManageOperators, {Role::kAdministrator}},
      {Permission::kManageConfig, {Role::kAdministrator}},
      {Permission::kReadAuditTrail, {Role::kAuditor}},
  };
  ASSERT_EQ(kGranted.size(), std::size(kAllPermissions));
  for (Permission p : kAllPermissions) {
    for (Role r : {Role::kClerk, Role::kAdministrator, Role::kAuditor}) {
      EXPECT_EQ(Allowed(r, p), kGranted.at(p).count(r) == 1)
          << RoleName(r) << " / " << PermissionName(p);
    }
  }
}

TEST(OperatorsTest, RefusalNamesOperatorRoleAndPermission) {
  const absl::Status s = Authorize("li.wei", Role::kClerk, Permission::kReadAuditTrail);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "operator li.wei (clerk) may not read the audit trail");
  TB_EXPECT_OK(Authorize("zhao", Role::kAuditor, Permission::kReadAuditTrail));
  EXPECT_FALSE(Authorize("zhao", Role::kAuditor, Permission::kWriteRecords).ok());
  EXPECT_FALSE(Authorize("wang", Role::kAdministrator, Permission::kReadPersons).ok());
}

TEST(OperatorsTest, RoleNamesAreThePkiRoles) {
  std::vector<std::string> names;
  for (Role r : {Role::kClerk, Role::kAdministrator, Role::kAuditor}) {
    names.emplace_back(RoleName(r));
    TB_ASSERT_OK_AND_ASSIGN(Role back, ParseRole(RoleName(r)));
    EXPECT_EQ(back, r);
  }
  EXPECT_EQ(names, std::vector<std::string>(std::begin(pki::kOperatorRoles),
                                            std::end(pki::kOperatorRoles)));
  EXPECT_FALSE(ParseRole("admin").ok());
}

TEST(OperatorsTest, PasswordPolicy) {
  EXPECT_EQ(CheckPasswordPolicy("short-pass1").code(), absl::StatusCode::kInvalidArgument);
  TB_EXPECT_OK(CheckPasswordPolicy("long-enough-pw"));
}

class PasswordTest : public testing::TestWithParam<SuiteId> {};

TEST_P(PasswordTest, HashesAreSaltedAndCheckBack) {
  TB_ASSERT_OK_AND_ASSIGN(std::string a, HashPassword(GetParam(), "correct horse", 1000));
  TB_ASSERT_OK_AND_ASSIGN(std::string b, HashPassword(GetParam(), "correct horse", 1000));
  EXPECT_NE(a, b);  // fresh salt each time
  EXPECT_TRUE(
      absl::StartsWith(a, GetParam() == SuiteId::kGm ? "pbkdf2-sm3$1000$" : "pbkdf2-sha256$1000$"))
      << a;
  EXPECT_EQ(a.size(),
            std::string(GetParam() == SuiteId::kGm ? "pbkdf2-sm3" : "pbkdf2-sha256").size() + 6 +
                32 + 1 + 64);
  TB_ASSERT_OK_AND_ASSIGN(bool right, CheckPassword(a, "correct horse"));
  TB_ASSERT_OK_AND_ASSIGN(bool wrong, CheckPassword(a, "correct horsf"));
  EXPECT_TRUE(right);
  EXPECT_FALSE(wrong);
  TB_ASSERT_OK_AND_ASSIGN(bool unusable, CheckPassword(UnusablePasswordHash(GetParam(), 1000), ""));
  EXPECT_FALSE(unusable);
}

TEST_P(PasswordTest, DefaultIterationCountIsStored) {
  TB_ASSERT_OK_AND_ASSIGN(std::string h, HashPassword(GetParam(), "correct horse battery"));
  EXPECT_TRUE(absl::StrContains(h, "$600000$")) << h;
  TB_ASSERT_OK_AND_ASSIGN(bool ok, CheckPassword(h, "correct horse battery"));
  EXPECT_TRUE(ok);
}

TEST_P(PasswordTest, MalformedStoredHashesAreRefused) {
  TB_ASSERT_OK_AND_ASSIGN(std::string good, HashPassword(GetParam(), "pw", 10));
  for (const std::string& bad :
       {std::string("plain"), std::string("md5$10$00$00"), good.substr(0, good.size() - 2),
        std::string(absl::StrReplaceAll(good, {{"$10$", "$010$"}})),
        std::string(absl::StrReplaceAll(good, {{"$10$", "$0$"}}))}) {
    EXPECT_EQ(CheckPassword(bad, "pw").status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TB_INSTANTIATE_FOR_BOTH_SUITES(PasswordTest);

class AccountsTest : public testing::Test {
 protected:
  OperatorAccount Account(const std::string& name, Role role) {
    OperatorAccount a;
    a.name = name;
    a.role = role;
    a.password_hash = UnusablePasswordHash(SuiteId::kGm, 10);
    return a;
  }
  testutil::ScopedTempDir dir_;
  const std::string path_ = dir_.File("operators");
};

TEST_F(AccountsTest, PutPersistsWithMode0600AndReopens) {
  TB_ASSERT_OK_AND_ASSIGN(auto accounts, OperatorAccounts::Open(path_));
  EXPECT_TRUE(accounts->List().empty());  // no file yet
  OperatorAccount li = Account("li.wei", Role::kClerk);
  li.totp_secret = "12345678901234567890";
  TB_ASSERT_OK(accounts->Put(li));
  OperatorAccount zhao = Account("zhao", Role::kAuditor);
  zhao.disabled = true;
  TB_ASSERT_OK(accounts->Put(zhao));
  EXPECT_EQ(testutil::ModeOf(path_), 0600u);
  EXPECT_TRUE(absl::StrContains(testutil::Contents(path_), "li.wei clerk enabled pbkdf2-sm3$10$"));

  TB_ASSERT_OK_AND_ASSIGN(auto again, OperatorAccounts::Open(path_));
  EXPECT_EQ(again->Find("li.wei"), li);
  EXPECT_EQ(again->Find("zhao"), zhao);
  TB_ASSERT_OK(again->Remove("zhao"));
  EXPECT_EQ(again->Remove("zhao").code(), absl::StatusCode::kNotFound);
  TB_ASSERT_OK_AND_ASSIGN(auto third, OperatorAccounts::Open(path_));
  ASSERT_EQ(third->List().size(), 1u);
  EXPECT_FALSE(third->Find("zhao").has_value());
}

// Two objects on one file stand for the daemon and `tongbanctl operator
// add`: each sees the other's change at its next read, and neither's write
// loses the other's change.
TEST_F(AccountsTest, ChangesByAnotherWriterAreSeenAndKept) {
  TB_ASSERT_OK_AND_ASSIGN(auto daemon, OperatorAccounts::Open(path_));
  TB_ASSERT_OK_AND_ASSIGN(auto tool, OperatorAccounts::Open(path_));
  TB_ASSERT_OK(daemon->Put(Account("li.wei", Role::kClerk)));
  const uint64_t before = daemon->generation();
  TB_ASSERT_OK(tool->Put(Account("zhao", Role::kAuditor)));  // tool had not read li.wei
  EXPECT_TRUE(daemon->Find("zhao").has_value());
  EXPECT_GT(daemon->generation(), before);
  EXPECT_TRUE(tool->Find("li.wei").has_value());
  TB_ASSERT_OK(daemon->Update("zhao", [](OperatorAccount& a) {
    a.disabled = true;
    return absl::OkStatus();
  }));
  ASSERT_TRUE(tool->Find("zhao").has_value());
  EXPECT_TRUE(tool->Find("zhao")->disabled);
  EXPECT_EQ(tool->List().size(), 2u);
  // A failed update changes nothing, in memory or on file.
  const std::string file = testutil::Contents(path_);
  EXPECT_EQ(
      daemon->Update("zhao", [](OperatorAccount&) { return absl::InvalidArgumentError("no"); })
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(daemon->Update("nobody", [](OperatorAccount&) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(testutil::Contents(path_), file);
  EXPECT_TRUE(daemon->Find("zhao")->disabled);
}

// A file that became malformed is not taken: the accounts stay as last read,
// and a writer refuses to overwrite what it could not read.
TEST_F(AccountsTest, AMalformedFileIsNotTakenAndNotOverwritten) {
  TB_ASSERT_OK_AND_ASSIGN(auto accounts, OperatorAccounts::Open(path_));
  TB_ASSERT_OK(accounts->Put(Account("li.wei", Role::kClerk)));
  testutil::WriteFile(path_, "tongban-operators/v1\nbroken line\n", 0600);
  EXPECT_TRUE(accounts->Find("li.wei").has_value());
  EXPECT_EQ(accounts->Put(Account("zhao", Role::kAuditor)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(testutil::Contents(path_), "tongban-operators/v1\nbroken line\n");
}

TEST_F(AccountsTest, InvalidAccountsAreNotStored) {
  TB_ASSERT_OK_AND_ASSIGN(auto accounts, OperatorAccounts::Open(path_));
  EXPECT_EQ(accounts->Put(Account("Li Wei", Role::kClerk)).code(),
            absl::StatusCode::kInvalidArgument);
  OperatorAccount no_hash = Account("li", Role::kClerk);
  no_hash.password_hash = "secret";
  EXPECT_EQ(accounts->Put(no_hash).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(accounts->List().empty());
}

TEST_F(AccountsTest, FileOthersCanReadIsRefused) {
  testutil::WriteFile(path_, EncodeAccountsFile({Account("li", Role::kClerk)}), 0644);
  const absl::Status s = OperatorAccounts::Open(path_).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "chmod 600")) << s;
}

TEST_F(AccountsTest, MalformedFileNamesFileAndLine) {
  const std::string hash = UnusablePasswordHash(SuiteId::kIntl, 10);
  const std::pair<std::string, std::string> kCases[] = {
      {"li clerk enabled " + hash + " -\n", ":1: expected the header"},
      {"tongban-operators/v1\nli clerk enabled " + hash + "\n", ":2: expected 5 fields"},
      {"tongban-operators/v1\n# c\nli root enabled " + hash + " -\n", ":3: role \"root\""},
      {"tongban-operators/v1\nli clerk maybe " + hash + " -\n", ":2: expected enabled"},
      {"tongban-operators/v1\nli clerk enabled x$1$2$3 -\n", ":2: password hash"},
      {"tongban-operators/v1\nli clerk enabled " + hash + " 0189\n", ":2: TOTP secret"},
      {"tongban-operators/v1\nli clerk enabled " + hash + " -\nli auditor enabled " + hash + " -\n",
       ":3: operator li appears twice"},
      {"# only comments\n", "no \"tongban-operators/v1\" header"},
  };
  for (const auto& [text, want] : kCases) {
    const absl::Status s = ParseAccountsFile(text, "ops.txt").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_TRUE(absl::StrContains(s.message(), "ops.txt" + want) ||
                absl::StrContains(s.message(), want))
        << s << "\nwant: " << want;
  }
}

}  // namespace
}  // namespace tongban::admin
