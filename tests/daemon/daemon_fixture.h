// DaemonTest: a federation made by tools/federation-setup.sh (a national
// node and one county), both daemons in this process, with Admin clients of
// the county's operators and a runner for the tongbanctl binary. Shared by
// daemon_test.cc and import_daemon_test.cc (tongban_daemon_test in
// tests/daemon/tests.cmake).
//
// REQUIRES: the including target defines TB_TONGBANCTL, TB_TONGBAND,
// TB_BUILD_DIR and TB_SETUP_SCRIPT (tests/daemon/tests.cmake).
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/daemon.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "tests/testutil/ports.h"
#include "tests/testutil/records.h"
#include "tests/testutil/spawn.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "tongbanctl/admin_client.h"

extern char** environ;

namespace tongban::node {

constexpr char kCounty[] = "620102";

class DaemonTest : public ::testing::TestWithParam<crypto::SuiteId> {
 protected:
  void SetUp() override {
    const int free = testutil::FreePortBlock(4);  // two nodes, peer and admin ports
    ASSERT_GT(free, 0) << "no free loopback ports";
    const std::string base = absl::StrCat(free);
    std::vector<std::string> argv = {"/bin/bash",
                                     TB_SETUP_SCRIPT,
                                     TB_BUILD_DIR,
                                     dir_.path(),
                                     std::string(crypto::SuiteName(GetParam())),
                                     base,
                                     "000000",
                                     kCounty};
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid;
    ASSERT_EQ(posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "federation setup failed";
    for (const char* code : {"000000", kCounty}) {
      // Loopback ports chosen by the system, and metrics on.
      const std::string path = dir_.File(code) + "/tongband.conf";
      std::string text = testutil::Contents(path);
      for (const char* section : {"[peer]\nlisten = ", "[admin]\nlisten = "}) {
        const size_t at = text.find(section) + std::string(section).size();
        text.replace(at, text.find('\n', at) - at, "\"127.0.0.1:0\"");
      }
      text += "\n[metrics]\nlisten = \"127.0.0.1:0\"\n";
      std::ofstream(path) << text;
    }
    // The county dials the national node at the roster's endpoint, which
    // the setup chose; start the national node on it.
    TB_ASSERT_OK_AND_ASSIGN(Config national, LoadConfig(dir_.File("000000") + "/tongband.conf"));
    national.peer_listen = absl::StrCat("127.0.0.1:", base);
    TB_ASSERT_OK_AND_ASSIGN(national_, daemon::Daemon::Start(national, RealClock()));
    TB_ASSERT_OK_AND_ASSIGN(Config county, LoadConfig(dir_.File(kCounty) + "/tongband.conf"));
    TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(county, RealClock()));
  }

  // An Admin client of the county (or the node `code`) as `who` (clerk,
  // admin, auditor), with `password` or the operator's own.
  std::unique_ptr<cli::AdminClient> As(const std::string& who,
                                       const std::string& password_file = "",
                                       const std::string& code = kCounty) {
    const std::string ops = dir_.File(code) + "/operators/";
    const daemon::Daemon& daemon = code == kCounty ? *county_ : *national_;
    auto args = cli::Args::Parse(
        {"--node", absl::StrCat("127.0.0.1:", daemon.admin_port()), "--ca",
         dir_.File(code) + "/tls/ca.crt", "--cert", ops + who + ".crt", "--key", ops + who + ".key",
         "--password-file", password_file.empty() ? ops + who + ".password" : password_file},
        cli::ConnectionFlags(), 0, 0);
    EXPECT_TRUE(args.ok()) << args.status();
    auto client = cli::AdminClient::FromArgs(*args);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  v1::WriteRequest BasicsWrite(const std::string& person) {
    storage::RecordChange c = testutil::Basics(person, "Li");
    v1::WriteRequest w;
    w.set_person(person);
    w.set_kind(c.kind);
    w.set_record_id(c.record_id);
    *w.mutable_value() = c.value;
    return w;
  }

  // Runs the tongbanctl binary as `who` against the county (or the node
  // `code`) with `args`; returns its exit code, with its stderr in `err`
  // (stdout in `out`).
  int Ctl(const std::string& who, std::vector<std::string> args, std::string* err,
          std::string* out = nullptr, const std::string& code = kCounty) {
    const std::string ops = dir_.File(code) + "/operators/";
    const daemon::Daemon& daemon = code == kCounty ? *county_ : *national_;
    args.insert(args.end(), {"--node", absl::StrCat("127.0.0.1:", daemon.admin_port()), "--ca",
                             dir_.File(code) + "/tls/ca.crt", "--cert", ops + who + ".crt", "--key",
                             ops + who + ".key", "--password-file", ops + who + ".password"});
    return RunCtl(std::move(args), err, out);
  }

  // Runs the tongbanctl binary with `args` only (an offline command); as Ctl.
  int RunCtl(std::vector<std::string> args, std::string* err, std::string* out = nullptr) {
    args.insert(args.begin(), TB_TONGBANCTL);
    return Spawn(std::move(args), err, out);
  }

  // Runs `args` (the binary first) and waits; its exit code (-1 if it did
  // not exit), stderr in `err`, stdout in `out` if not null.
  int Spawn(std::vector<std::string> args, std::string* err, std::string* out = nullptr) {
    return testutil::SpawnAndWait(args, dir_.File("spawned"), err, out);
  }

  testutil::ScopedTempDir dir_;
  std::unique_ptr<daemon::Daemon> national_;
  std::unique_ptr<daemon::Daemon> county_;
};

}  // namespace tongban::node
