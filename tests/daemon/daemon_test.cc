// The daemon's operator surfaces, end to end over mutual TLS on loopback: a
// federation made by tools/federation-setup.sh (a national node and one
// county), both daemons in this process, and tongbanctl's Admin client.
//   - every role's allowed and refused calls;
//   - reads and writes of personal data become audit entries, which only
//     the auditor reads, with the chain verified;
//   - a wrong password is refused without saying which factor failed, and
//     repeated failures lock the operator out even with the right password;
//   - gRPC health checking and server reflection answer on the Admin and
//     the peer port; /metrics parses as the Prometheus text format.
#include "daemon/daemon.h"

#include <fcntl.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admin/admin.h"
#include "common/version.h"
#include "gtest/gtest.h"
#include "records/dates.h"
#include "sync/evidence.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/files.h"
#include "tests/testutil/http.h"
#include "tests/testutil/prometheus_text.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"
#include "tongbanctl/admin_client.h"

namespace tongban::node {
namespace {

TEST_P(DaemonTest, EachRoleMayDoItsWorkOnlyAndEveryAccessIsAudited) {
  const std::string person = testutil::MakeId(kCounty, "19900101", 7);
  v1::PersonRequest read;
  read.set_person(person);
  read.set_reason("arrival check");

  // The clerk writes and reads records; the audit trail is not theirs.
  auto clerk = As("clerk");
  TB_ASSERT_OK(clerk->Write(BasicsWrite(person)).status());
  TB_ASSERT_OK_AND_ASSIGN(v1::PersonReply shown, clerk->GetPerson(read));
  EXPECT_EQ(shown.records_size(), 1);
  EXPECT_EQ(clerk->Audit(v1::AuditRequest()).status().code(), absl::StatusCode::kPermissionDenied);
  v1::PersonRequest unexplained = read;
  unexplained.clear_reason();
  EXPECT_EQ(clerk->GetPerson(unexplained).status().code(), absl::StatusCode::kInvalidArgument)
      << "a read of personal data must say why";
  TB_ASSERT_OK(clerk->Status(v1::StatusRequest()).status());

  // The administrator runs the node and sees no personal data.
  auto admin = As("admin");
  TB_ASSERT_OK(admin->Status(v1::StatusRequest()).status());
  TB_ASSERT_OK_AND_ASSIGN(v1::PeersReply peers, admin->Peers(v1::PeersRequest()));
  ASSERT_EQ(peers.peers_size(), 1);
  EXPECT_EQ(peers.peers(0).code(), "000000");
  EXPECT_EQ(admin->GetPerson(read).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(admin->Write(BasicsWrite(person)).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(admin->Audit(v1::AuditRequest()).status().code(), absl::StatusCode::kPermissionDenied);
  v1::ClearHoldRequest clear;
  clear.set_peer("000000");
  EXPECT_EQ(admin->ClearHold(clear).status().code(), absl::StatusCode::kNotFound)
      << "allowed, and says the peer is not held";

  // The auditor reads the trail and nothing else.
  auto auditor = As("auditor");
  EXPECT_EQ(auditor->GetPerson(read).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(auditor->Write(BasicsWrite(person)).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::AuditRequest about;
  about.set_person(person);
  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply trail, auditor->Audit(about));
  EXPECT_TRUE(trail.chain_verified());
  std::map<std::string, std::vector<std::string>> by_action;  // action -> "operator outcome"
  for (const v1::AuditEntry& e : trail.entries()) {
    EXPECT_EQ(e.person(), person);
    by_action[e.action()].push_back(
        absl::StrCat(e.operator_(), " ", e.outcome().substr(0, e.outcome().find(':'))));
  }
  EXPECT_EQ(by_action["record.write"],
            (std::vector<std::string>{"auditor PERMISSION_DENIED", "admin PERMISSION_DENIED",
                                      "clerk OK"}))
      << "newest first; refusals are audited too";
  ASSERT_EQ(by_action["person.read"].size(), 4u);  // clerk ok, clerk no reason, admin, auditor
  EXPECT_TRUE(absl::StartsWith(by_action["person.read"].back(), "clerk OK"));
  // Reading the trail was itself audited.
  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply all, auditor->Audit(v1::AuditRequest()));
  EXPECT_EQ(all.entries(0).action(), "audit.query");
}

// The value of the sample `name{labels}` on the metrics port, or -1.
double Sample(int metrics_port, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  absl::StatusOr<std::vector<testutil::ParsedFamily>> families =
      testutil::ParseExposition(testutil::Body(testutil::Get(metrics_port, "/metrics")));
  EXPECT_TRUE(families.ok()) << families.status();
  if (!families.ok()) return -1;
  for (const testutil::ParsedFamily& f : *families) {
    for (const testutil::ParsedSample& sample : f.samples) {
      if (sample.name == name && sample.labels == labels) return sample.value;
    }
  }
  return -1;
}

TEST_P(DaemonTest, WrongPasswordIsRefusedWithoutSayingWhyAndRepeatedFailuresLockOut) {
  const std::string wrong = dir_.File("wrong.password");
  testutil::WriteFile(wrong, "not-the-password-at-all\n", 0600);
  for (int i = 0; i < 5; ++i) {
    absl::Status refused = As("clerk", wrong)->Status(v1::StatusRequest()).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated) << refused;
    EXPECT_FALSE(absl::StrContains(refused.message(), "password")) << refused;
  }
  // Locked now, even with the right password.
  absl::Status locked = As("clerk")->Status(v1::StatusRequest()).status();
  EXPECT_EQ(locked.code(), absl::StatusCode::kUnauthenticated) << locked;
  EXPECT_TRUE(absl::StrContains(locked.message(), "locked")) << locked;
  // Another operator is not affected.
  TB_EXPECT_OK(As("admin")->Status(v1::StatusRequest()).status());
  // The refusals are in the audit trail, with the factor that failed.
  TB_ASSERT_OK_AND_ASSIGN(v1::AuditReply trail, As("auditor")->Audit(v1::AuditRequest()));
  int logins = 0;
  for (const v1::AuditEntry& e : trail.entries()) {
    if (e.action() == "operator.login" && e.operator_() == "clerk") ++logins;
  }
  EXPECT_EQ(logins, 6);
  // And counted by reason, never by operator.
  EXPECT_EQ(Sample(county_->metrics_port(), "tongban_admin_login_failures_total",
                   {{"reason", "password"}}),
            5);
  EXPECT_EQ(Sample(county_->metrics_port(), "tongban_admin_login_failures_total",
                   {{"reason", "locked_out"}}),
            1);
  EXPECT_EQ(
      Sample(county_->metrics_port(), "tongban_admin_login_failures_total", {{"reason", "totp"}}),
      0);
}

// Every Admin call against every role: allowed calls are never refused for
// the role (they may fail for other reasons, e.g. NOT_FOUND), refused ones
// are PERMISSION_DENIED.
TEST_P(DaemonTest, EveryCallAgainstEveryRole) {
  const std::string person = testutil::MakeId(kCounty, "19900101", 9);
  TB_ASSERT_OK(As("clerk")->Write(BasicsWrite(person)).status());
  v1::PersonRequest read;
  read.set_person(person);
  read.set_reason("matrix");
  v1::WhereRequestAdmin where;
  where.set_person(person);
  where.set_reason("matrix");
  v1::ClearHoldRequest clear;
  clear.set_peer("000000");
  v1::ImportRequest import;
  import.set_file("matrix.csv");
  *import.add_rows() = BasicsWrite(person);
  using Call = std::function<absl::Status(cli::AdminClient&)>;
  const std::vector<std::pair<std::string, Call>> calls = {
      {"Status", [](cli::AdminClient& c) { return c.Status({}).status(); }},
      {"Peers", [](cli::AdminClient& c) { return c.Peers({}).status(); }},
      {"ClearHold", [&](cli::AdminClient& c) { return c.ClearHold(clear).status(); }},
      {"Write", [&](cli::AdminClient& c) { return c.Write(BasicsWrite(person)).status(); }},
      {"GetPerson", [&](cli::AdminClient& c) { return c.GetPerson(read).status(); }},
      {"PersonHistory", [&](cli::AdminClient& c) { return c.PersonHistory(read).status(); }},
      {"Where", [&](cli::AdminClient& c) { return c.Where(where).status(); }},
      {"Audit", [](cli::AdminClient& c) { return c.Audit({}).status(); }},
      {"ListInquiries", [](cli::AdminClient& c) { return c.ListInquiries({}).status(); }},
      {"ListNotices", [](cli::AdminClient& c) { return c.ListNotices({}).status(); }},
      {"Stats", [](cli::AdminClient& c) { return c.Stats({}).status(); }},
      {"StatsMany",
       [](cli::AdminClient& c) {
         v1::StatsManyRequest r;
         r.add_requests();
         return c.StatsMany(r).status();
       }},
      {"CertificatePayload",
       [&](cli::AdminClient& c) {
         v1::CertificatePayloadRequest r;
         r.set_person(person);
         r.set_number("HY-none");
         return c.CertificatePayload(r).status();
       }},
      {"RevocationList", [](cli::AdminClient& c) { return c.RevocationList({}).status(); }},
      {"Import", [&](cli::AdminClient& c) { return c.Import(import).status(); }},
  };
  // role -> calls it may make (admin/operators.h).
  const std::map<std::string, std::set<std::string>> allowed = {
      {"clerk",
       {"Status", "Peers", "Write", "GetPerson", "PersonHistory", "Where", "ListInquiries",
        "ListNotices", "Stats", "StatsMany", "CertificatePayload", "RevocationList", "Import"}},
      {"admin", {"Status", "Peers", "ClearHold", "Stats", "StatsMany", "RevocationList"}},
      {"auditor", {"Status", "Peers", "Audit", "Stats", "StatsMany"}},
  };
  for (const auto& [who, may] : allowed) {
    auto client = As(who);
    for (const auto& [name, call] : calls) {
      const absl::Status s = call(*client);
      if (may.count(name)) {
        EXPECT_NE(s.code(), absl::StatusCode::kPermissionDenied) << who << " " << name << ": " << s;
        EXPECT_NE(s.code(), absl::StatusCode::kUnauthenticated) << who << " " << name << ": " << s;
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << who << " " << name << ": " << s;
      }
    }
  }
  // A county sees its own statistics, not another scope's.
  TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply own, As("admin")->Stats({}));
  ASSERT_GE(own.rows_size(), 1);
  v1::StatsRequest nation;
  nation.set_scope("000000");
  EXPECT_EQ(As("admin")->Stats(nation).status().code(), absl::StatusCode::kPermissionDenied);
  v1::StatsManyRequest too_many;
  for (int i = 0; i <= admin::AdminApi::kMaxStatsQueries; ++i) too_many.add_requests();
  EXPECT_EQ(As("admin")->StatsMany(too_many).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(As("admin")->StatsMany({}).status().code(), absl::StatusCode::kInvalidArgument);
}

// tongbanctl against the running county: bad input of every kind is one
// line on stderr, exit 2, and nothing is written; a wrong role or password
// is exit 3.
TEST_P(DaemonTest, TongbanctlRefusesBadInputWithOneLineAndNothingWritten) {
  const std::string ops = dir_.File(kCounty) + "/operators/";
  auto run = [&](const std::string& who, std::vector<std::string> args, std::string* err) {
    return Ctl(who, std::move(args), err);
  };
  const std::string good = testutil::MakeId(kCounty, "19900101", 11);
  struct Case {
    std::string who;
    std::vector<std::string> args;
    int exit;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"clerk",
       {"register", "outflow", "62010219900101", "--to", "440305", "--left-on", "2026-03-01"},
       2,
       "citizen ID"},
      {"clerk",
       {"register", "outflow", good, "--to", "449999", "--left-on", "2026-03-01"},
       2,
       "449999"},
      {"clerk",
       {"register", "outflow", good, "--to", "440305", "--left-on", "2026-02-30"},
       2,
       "--left-on \"2026-02-30\" is not a real calendar day"},
      {"clerk", {"register", "outflow", good, "--left-on", "2026-03-01"}, 2, "missing --to"},
      {"clerk", {"person", "show", good}, 2, "missing --reason"},
      {"auditor",
       {"register", "outflow", good, "--to", "440305", "--left-on", "2026-03-01"},
       3,
       "may not write records"},
  };
  for (const Case& c : cases) {
    std::string err;
    EXPECT_EQ(run(c.who, c.args, &err), c.exit) << absl::StrJoin(c.args, " ") << "\n" << err;
    EXPECT_TRUE(absl::StrContains(err, c.says)) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
    EXPECT_TRUE(absl::StartsWith(err, "tongbanctl: ")) << err;
  }
  // Nothing of it was written.
  TB_ASSERT_OK_AND_ASSIGN(auto stats,
                          county_->node().store()->LastSeq(county_->node().writer()->log()));
  EXPECT_EQ(stats, 0u);
  // A wrong password: exit 3, and the message does not say which factor.
  const std::string wrong = dir_.File("wrong.password");
  testutil::WriteFile(wrong, "not-the-password-at-all\n", 0600);
  std::string err;
  std::vector<std::string> argv = {TB_TONGBANCTL,
                                   "status",
                                   "--node",
                                   absl::StrCat("127.0.0.1:", county_->admin_port()),
                                   "--ca",
                                   dir_.File(kCounty) + "/tls/ca.crt",
                                   "--cert",
                                   ops + "clerk.crt",
                                   "--key",
                                   ops + "clerk.key",
                                   "--password-file",
                                   wrong};
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string err_path = dir_.File("stderr2");
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 3);
  err = testutil::Contents(err_path);
  EXPECT_FALSE(absl::StrContains(err, "password")) << err;
}

// A peer held after sending invalid data is refused at the handshake, and
// told why, until an administrator clears the hold.
TEST_P(DaemonTest, HeldPeerIsRefusedAtTheHandshakeUntilCleared) {
  TB_ASSERT_OK(
      sync::HoldPeer(*national_->node().store(), kCounty, "REJECT_REASON_TAMPERED_BODY in a test"));
  // The county's next session (after a restart) is refused.
  county_->Stop();
  county_.reset();
  TB_ASSERT_OK_AND_ASSIGN(Config county, LoadConfig(dir_.File(kCounty) + "/tongband.conf"));
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(county, RealClock()));
  std::string error;
  testutil::WaitUntil(
      [&] {
        error = county_->node().peers().Get("000000").last_error;
        return absl::StrContains(error, "held");
      },
      absl::Seconds(10), "the county to be refused as held");
  EXPECT_TRUE(absl::StrContains(error, "held after sending invalid data")) << error;
  EXPECT_TRUE(absl::StrContains(error, "PERMISSION_DENIED")) << error;
  // Cleared: the county's next attempt is admitted.
  TB_ASSERT_OK(sync::ClearHold(*national_->node().store(), kCounty));
  EXPECT_TRUE(
      testutil::WaitUntil([&] { return county_->node().peers().Get("000000").sessions > 0; },
                          absl::Seconds(20), "the county to reconnect once the hold is cleared"));
}

// Issue #14: operators see a frozen origin in status, peers and the
// metrics, and the new figures of each peer (clock, refusals, input).
TEST_P(DaemonTest, AFrozenOriginIsShownInStatusPeersAndMetrics) {
  storage::Store& store = *county_->node().store();
  storage::Batch freeze(store);
  freeze.Put(storage::Cf::kDefault, sync::FrozenKey({"000000", 1}), "in a test");
  TB_ASSERT_OK(store.Commit(freeze, /*sync=*/true));
  auto admin = As("admin");
  TB_ASSERT_OK_AND_ASSIGN(v1::StatusReply status, admin->Status(v1::StatusRequest()));
  EXPECT_EQ(status.frozen_origins(), 1u);
  ASSERT_EQ(status.frozen_logs_size(), 1);
  EXPECT_EQ(status.frozen_logs(0), "000000/1");
  TB_ASSERT_OK_AND_ASSIGN(v1::PeersReply peers, admin->Peers(v1::PeersRequest()));
  ASSERT_EQ(peers.peers_size(), 1);
  EXPECT_TRUE(peers.peers(0).frozen());
  std::string err, out;
  EXPECT_EQ(Ctl("admin", {"status"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "000000/1")) << out;
  EXPECT_EQ(Ctl("admin", {"peers"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "FROZEN")) << out;
  EXPECT_TRUE(absl::StrContains(out, "CLOCK AHEAD")) << out;
  // The metrics (refreshed by housekeeping every 2 s).
  double frozen = -1, count = -1;
  bool input_family = false;
  EXPECT_TRUE(testutil::WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        auto families = testutil::ParseExposition(
            testutil::Body(testutil::Get(county_->metrics_port(), "/metrics")));
        if (!families.ok()) return families.status();
        for (const auto& f : *families) {
          for (const auto& sample : f.samples) {
            if (f.name == "tongban_sync_frozen_log" && sample.labels.at("log") == "000000/1") {
              frozen = sample.value;
            }
            if (f.name == "tongban_sync_frozen_logs") count = sample.value;
          }
          if (f.name == "tongban_sync_input_peak_bytes") input_family = true;
        }
        return frozen == 1 && count == 1 && input_family;
      },
      absl::Seconds(30), "the frozen origin in the county's metrics"));
  EXPECT_EQ(frozen, 1);
  EXPECT_EQ(count, 1);
  EXPECT_TRUE(input_family);
}

// The tongband binary under a systemd-like supervisor: READY=1 on the
// notify socket once it serves, STOPPING=1 and exit 0 on SIGTERM.
TEST_P(DaemonTest, TongbandNotifiesReadinessAndStopsCleanly) {
  county_->Stop();
  county_.reset();  // frees the county's folder for the process
  const std::string socket_path = dir_.File("notify.sock");
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(socket_path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

  std::vector<std::string> env_strings = {"NOTIFY_SOCKET=" + socket_path};
  std::vector<char*> env;
  for (std::string& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  std::vector<std::string> argv = {TB_TONGBAND, "--config", dir_.File(kCounty) + "/tongband.conf"};
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = dir_.File("tongband.log");
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), env.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  char buf[256];
  ssize_t n = recv(fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0) << "no readiness notification; see " << testutil::Contents(log);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "READY=1");
  kill(pid, SIGTERM);
  n = recv(fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "STOPPING=1");
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testutil::Contents(log);
  EXPECT_TRUE(absl::StrContains(testutil::Contents(log), "stopping on SIGTERM"));
  close(fd);
}

// Runs the tongband binary with `args`; returns its exit code, with its
// stdout and stderr.
int Tongband(const testutil::ScopedTempDir& dir, std::vector<std::string> args, std::string* out,
             std::string* err) {
  args.insert(args.begin(), TB_TONGBAND);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, dir.File("tongband.out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, dir.File("tongband.err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  *out = testutil::Contents(dir.File("tongband.out"));
  *err = testutil::Contents(dir.File("tongband.err"));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// tongband --check-config opens every file the configuration names as the
// daemon's user would: a TLS key left owned by root is named, with nothing
// else, and the check passes once the daemon's user owns it. (The test runs
// as root and checks as user nobody.)
TEST_P(DaemonTest, CheckConfigOpensEveryFileAsTheDaemonsUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to check as another user";
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const std::string fed = dir_.path();
  const std::string conf = dir_.File(kCounty) + "/tongband.conf";
  const std::string key = dir_.File(kCounty) + "/tls/node.key";
  chmod(fed.c_str(), 0755);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(fed)) {
    ASSERT_EQ(lchown(entry.path().c_str(), nobody->pw_uid, nobody->pw_gid), 0) << entry.path();
  }
  ASSERT_EQ(chown(fed.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  ASSERT_EQ(chown(key.c_str(), 0, 0), 0);  // as `tongbanctl pki issue` run by root leaves it

  std::string out, err;
  EXPECT_EQ(Tongband(dir_, {"--config", conf, "--check-config", "--user", "nobody"}, &out, &err),
            2);
  EXPECT_TRUE(absl::StrContains(err, "user nobody (as the daemon) cannot use 1 file it names"))
      << err;
  EXPECT_TRUE(absl::StrContains(
      err, absl::StrCat("PERMISSION_DENIED: ", key, ": cannot open key file: Permission denied")))
      << err;
  // As root, the same file opens: the check must be made as the daemon's user.
  EXPECT_EQ(Tongband(dir_, {"--config", conf, "--check-config", "--user", "root"}, &out, &err), 0)
      << err;

  ASSERT_EQ(chown(key.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  EXPECT_EQ(Tongband(dir_, {"--config", conf, "--check-config", "--user", "nobody"}, &out, &err), 0)
      << err;
  EXPECT_TRUE(absl::StrContains(out,
                                "OK (node 620102, county); every file it names opens as "
                                "user nobody"))
      << out;

  // A secret readable by others, and a data folder the user cannot write.
  const std::string accounts = dir_.File(kCounty) + "/operators/accounts";
  chmod(accounts.c_str(), 0644);
  const std::string data = dir_.File(kCounty) + "/data";
  ASSERT_EQ(chown(data.c_str(), 0, 0), 0);
  EXPECT_EQ(Tongband(dir_, {"--config", conf, "--check-config", "--user", "nobody"}, &out, &err),
            2);
  EXPECT_TRUE(absl::StrContains(err, "cannot use 2 files")) << err;
  EXPECT_TRUE(absl::StrContains(err, absl::StrCat(accounts, ": mode 0644"))) << err;
  EXPECT_TRUE(absl::StrContains(
      err, absl::StrCat("PERMISSION_DENIED: ", data, ": cannot write node.data_dir")))
      << err;
}

// A unary call by method name with raw bytes, so that the test needs no
// generated health or reflection stubs.
absl::StatusOr<std::string> RawCall(int port, const std::string& ca, const std::string& cert,
                                    const std::string& key, const std::string& method,
                                    const std::string& request) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca;
  ssl.pem_cert_chain = cert;
  ssl.pem_private_key = key;
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(ssl));
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1), out;
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, method, in, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&out, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  std::vector<grpc::Slice> slices;
  (void)out.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes;
}

TEST_P(DaemonTest, HealthReflectionAndMetricsAnswer) {
  const std::string ops = dir_.File(kCounty) + "/operators/";
  const std::string ca = testutil::Contents(dir_.File(kCounty) + "/tls/ca.crt");
  const std::string cert = testutil::Contents(ops + "clerk.crt");
  const std::string key = testutil::Contents(ops + "clerk.key");
  // grpc.health.v1.Health/Check with an empty request: status SERVING (1).
  TB_ASSERT_OK_AND_ASSIGN(std::string health, RawCall(county_->admin_port(), ca, cert, key,
                                                      "/grpc.health.v1.Health/Check", ""));
  EXPECT_EQ(health, std::string("\x08\x01", 2));
  // The peer port, as a node.
  const std::string node_cert = testutil::Contents(dir_.File(kCounty) + "/tls/node.crt");
  const std::string node_key = testutil::Contents(dir_.File(kCounty) + "/tls/node.key");
  TB_ASSERT_OK_AND_ASSIGN(std::string peer_health,
                          RawCall(national_->node().peer_port(), ca, node_cert, node_key,
                                  "/grpc.health.v1.Health/Check", ""));
  EXPECT_EQ(peer_health, std::string("\x08\x01", 2));

  // Reflection: list_services (field 7) over the bidirectional stream.
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca;
  ssl.pem_cert_chain = cert;
  ssl.pem_private_key = key;
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", county_->admin_port()),
                                     grpc::SslCredentials(ssl));
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  auto stream =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  stream->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  ASSERT_TRUE(ok);
  grpc::Slice request(std::string("\x3a\x00", 2));
  grpc::ByteBuffer in(&request, 1), out;
  stream->Write(in, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  ASSERT_TRUE(ok);
  stream->Read(&out, reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  ASSERT_TRUE(ok);
  std::vector<grpc::Slice> slices;
  (void)out.Dump(&slices);
  std::string listed;
  for (const grpc::Slice& s : slices)
    listed.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_TRUE(absl::StrContains(listed, "tongban.v1.Admin")) << listed;
  EXPECT_TRUE(absl::StrContains(listed, "grpc.health.v1.Health")) << listed;
  ctx.TryCancel();
  grpc::Status finished;
  stream->Finish(&finished, reinterpret_cast<void*>(4));
  while (cq.Next(&tag, &ok)) {
    if (tag == reinterpret_cast<void*>(4)) break;
  }

  // Metrics: the county's text parses and has the families operators watch.
  const std::string response = testutil::Get(county_->metrics_port(), "/metrics");
  EXPECT_EQ(testutil::StatusLine(response), "HTTP/1.1 200 OK");
  TB_ASSERT_OK_AND_ASSIGN(std::vector<testutil::ParsedFamily> families,
                          testutil::ParseExposition(testutil::Body(response)));
  std::set<std::string> names;
  for (const auto& f : families) names.insert(f.name);
  for (const char* expected : {"tongban_log_events",
                               "tongban_peer_sessions",
                               "tongban_peer_lag_events",
                               "tongban_sync_apply_seconds",
                               "tongban_store_size_bytes",
                               "tongban_audit_entries",
                               "tongban_checkpoints_signed_total",
                               "tongban_sync_batches_total",
                               "tongban_sync_batches_rejected_total",
                               "tongban_admin_login_failures_total",
                               "process_cpu_seconds_total",
                               "process_resident_memory_bytes",
                               "process_open_fds",
                               "process_max_fds",
                               "process_start_time_seconds",
                               "tongban_build_info",
                               "tongban_sync_frozen_logs",
                               "tongban_peer_refused_logs",
                               "tongban_peer_clock_ahead_seconds",
                               "tongban_sync_events_ahead_total",
                               "tongban_sync_input_queued_bytes",
                               "tongban_sync_input_peak_bytes",
                               "tongban_sync_batches_skipped_total",
                               "tongban_audit_refusals_aggregated_total"}) {
    EXPECT_TRUE(names.count(expected)) << expected;
  }
  // Prometheus's rule: counters, and only counters, end in _total.
  for (const auto& f : families) {
    EXPECT_EQ(f.type == "counter", absl::EndsWith(f.name, "_total")) << f.name << " " << f.type;
  }
  // The process metrics are this process's.
  EXPECT_GT(Sample(county_->metrics_port(), "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(Sample(county_->metrics_port(), "process_open_fds"), 3);
  const double started = Sample(county_->metrics_port(), "process_start_time_seconds");
  EXPECT_LE(started, absl::ToUnixSeconds(absl::Now()) + 1);
  EXPECT_GT(started, absl::ToUnixSeconds(absl::Now()) - 3600);
  EXPECT_EQ(Sample(county_->metrics_port(), "tongban_build_info",
                   {{"version", Version()}, {"commit", Commit()}}),
            1);
  EXPECT_EQ(testutil::StatusLine(testutil::Get(county_->metrics_port(), "/healthz")),
            "HTTP/1.1 200 OK");
}

// Runs the tongbanctl binary with `args` and these extra environment
// variables (and no connection flags); returns its exit code.
int CtlWithEnv(const testutil::ScopedTempDir& dir, const std::vector<std::string>& env_extra,
               std::vector<std::string> args, std::string* out, std::string* err) {
  args.insert(args.begin(), TB_TONGBANCTL);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = env_extra;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (absl::StartsWith(entry, "LANG=") || absl::StartsWith(entry, "LC_ALL=")) continue;
    env_strings.push_back(entry);
  }
  std::vector<char*> env;
  for (std::string& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, dir.File("ctl.out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, dir.File("ctl.err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), env.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  *out = testutil::Contents(dir.File("ctl.out"));
  *err = testutil::Contents(dir.File("ctl.err"));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// tongbanctl against running nodes: a saved profile replaces the connection
// flags; tables carry their time zone and speak Chinese under zh_CN; and a
// connection that cannot work says what to check rather than gRPC's text.
TEST_P(DaemonTest, TongbanctlProfilesZonesChineseAndErrorsThatSayWhatToCheck) {
  const std::string ops = dir_.File(kCounty) + "/operators/";
  const std::string admin = absl::StrCat("127.0.0.1:", county_->admin_port());
  const std::string xdg = "XDG_CONFIG_HOME=" + dir_.File("xdg");
  std::string out, err;
  ASSERT_EQ(CtlWithEnv(dir_, {xdg},
                       {"profile", "add", "county", "--node", admin, "--ca",
                        dir_.File(kCounty) + "/tls/ca.crt", "--cert", ops + "clerk.crt", "--key",
                        ops + "clerk.key", "--password-file", ops + "clerk.password"},
                       &out, &err),
            0)
      << err;
  // No connection flags: the profile gives them. The start time has its zone.
  ASSERT_EQ(CtlWithEnv(dir_, {xdg}, {"status"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("node         ", kCounty))) << out;
  EXPECT_TRUE(absl::StrContains(out, "you are      clerk (clerk)")) << out;
  EXPECT_TRUE(
      std::regex_search(out, std::regex(R"(started +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00)")))
      << out;
  // Chinese under zh_CN (LANG), English when LC_ALL says otherwise.
  ASSERT_EQ(CtlWithEnv(dir_, {xdg, "LANG=zh_CN.UTF-8"}, {"status"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("节点        ", kCounty))) << out;
  EXPECT_TRUE(absl::StrContains(out, "当前操作员  clerk (clerk)")) << out;
  ASSERT_EQ(CtlWithEnv(dir_, {xdg, "LANG=zh_CN.UTF-8"}, {"peers"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::StartsWith(out, "对端    名称")) << out;
  ASSERT_EQ(CtlWithEnv(dir_, {xdg, "LANG=zh_CN.UTF-8", "LC_ALL=C.UTF-8"}, {"peers"}, &out, &err), 0)
      << err;
  EXPECT_TRUE(absl::StartsWith(out, "PEER    NAME")) << out;

  // What to check, case by case; the flags override the profile.
  struct Case {
    std::vector<std::string> flags;
    std::string expected;
  };
  const std::string peer = absl::StrCat("127.0.0.1:", county_->node().peer_port());
  const std::string national = absl::StrCat("127.0.0.1:", national_->admin_port());
  const std::string metrics = absl::StrCat("127.0.0.1:", county_->metrics_port());
  const std::string localhost = absl::StrCat("localhost:", county_->admin_port());
  for (const Case& c : std::vector<Case>{
           {{"--node", peer},
            absl::StrCat("the node at ", peer,
                         " closed the connection during the TLS handshake: it does not accept "
                         "your operator certificate (issued for 620102). Is this the Admin port "
                         "of your county's own node, not its peer port or another county's "
                         "node?")},
           {{"--node", national}, "does not accept your operator certificate (issued for 620102)"},
           {{"--ca", ops + "ca.crt"},
            absl::StrCat("the certificate of the node at ", admin, " is not trusted by --ca")},
           {{"--node", localhost},
            absl::StrCat("wrong node or address: the certificate of the node at ", localhost,
                         " does not name that address")},
           {{"--node", metrics}, absl::StrCat(metrics, " does not speak TLS")},
       }) {
    std::vector<std::string> args = {"status"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    EXPECT_EQ(CtlWithEnv(dir_, {xdg}, args, &out, &err), 1) << err;
    EXPECT_TRUE(absl::StrContains(err, c.expected)) << err;
    EXPECT_FALSE(absl::StrContains(err, "failed to connect to all addresses")) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;  // one line, no gRPC log
  }
  // The node down: nothing listens on its port any more.
  county_->Stop();
  EXPECT_EQ(CtlWithEnv(dir_, {xdg}, {"status"}, &out, &err), 1) << err;
  EXPECT_TRUE(absl::StrContains(
      err, absl::StrCat("nothing listens on ", admin, ": is tongband running there")))
      << err;
}

// A grpc.health.v1.Health/Check request for `service`.
std::string HealthRequest(const std::string& service) {
  if (service.empty()) return "";
  return absl::StrCat(std::string(1, '\x0a'), std::string(1, static_cast<char>(service.size())),
                      service);
}
constexpr char kServing[] = "\x08\x01";
constexpr char kNotServing[] = "\x08\x02";

// gRPC health follows readiness: a county restored from a backup, whose
// national node is down, has its appends blocked until the witness answers,
// and then says NOT_SERVING for its Admin service, its Exchange service and
// the server as a whole, with /healthz 503 and tongban_ready 0; the national
// node, and the county before the restore, say SERVING under every name.
TEST_P(DaemonTest, HealthFollowsReadinessPerServiceName) {
  const std::string ops = dir_.File(kCounty) + "/operators/";
  const std::string ca = testutil::Contents(dir_.File(kCounty) + "/tls/ca.crt");
  const std::string cert = testutil::Contents(ops + "clerk.crt");
  const std::string key = testutil::Contents(ops + "clerk.key");
  const std::string node_cert = testutil::Contents(dir_.File(kCounty) + "/tls/node.crt");
  const std::string node_key = testutil::Contents(dir_.File(kCounty) + "/tls/node.key");
  auto admin_health = [&](const std::string& service) {
    return RawCall(county_->admin_port(), ca, cert, key, "/grpc.health.v1.Health/Check",
                   HealthRequest(service));
  };
  auto peer_health = [&](daemon::Daemon& d, const std::string& service) {
    return RawCall(d.node().peer_port(), ca, node_cert, node_key, "/grpc.health.v1.Health/Check",
                   HealthRequest(service));
  };
  for (const std::string service : {"", "tongban.v1.Admin"}) {
    TB_ASSERT_OK_AND_ASSIGN(std::string reply, admin_health(service));
    EXPECT_EQ(reply, kServing) << service;
  }
  for (const std::string service : {"", "tongban.v1.Exchange"}) {
    TB_ASSERT_OK_AND_ASSIGN(std::string reply, peer_health(*county_, service));
    EXPECT_EQ(reply, kServing) << service;
    TB_ASSERT_OK_AND_ASSIGN(reply, peer_health(*national_, service));
    EXPECT_EQ(reply, kServing) << service;
  }
  // A name the server does not serve: NOT_FOUND, as the protocol says.
  EXPECT_FALSE(admin_health("tongban.v1.Nothing").ok());
  EXPECT_EQ(Sample(county_->metrics_port(), "tongban_ready"), 1);

  // Back up the county, write after the backup, and let the national node
  // (the witness) receive the county's newer checkpoint.
  const std::string data = dir_.File(kCounty) + "/data";
  const std::string backup = dir_.File("backup");
  TB_ASSERT_OK_AND_ASSIGN(Config config, LoadConfig(dir_.File(kCounty) + "/tongband.conf"));
  county_->Stop();
  county_.reset();
  std::filesystem::copy(data, backup, std::filesystem::copy_options::recursive);
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(config, RealClock()));
  TB_ASSERT_OK(As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", 3))).status());
  const storage::LogId county_log{kCounty, 1};
  ASSERT_TRUE(testutil::WaitUntil(
      [&] {
        auto latest = national_->node().store()->LatestCheckpoint(county_log);
        return latest.ok() && latest->has_value();
      },
      absl::Seconds(30), "the national node to receive the county's checkpoint"));

  // Restored from the backup (with the marker `tongbanctl restore` leaves)
  // while the national node is down: appends blocked until the witness
  // answers, every health name NOT_SERVING.
  county_->Stop();
  county_.reset();
  national_->Stop();
  std::filesystem::remove_all(data);
  std::filesystem::copy(backup, data, std::filesystem::copy_options::recursive);
  std::ofstream(data + "/" + kRestoredMarkerFile) << "restored for a test\n";
  NodeOptions quick;
  quick.witness_at_start = absl::Seconds(1);
  TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(config, RealClock(), quick));
  ASSERT_TRUE(county_->node().appends_blocked().has_value());
  for (const std::string service : {"", "tongban.v1.Admin"}) {
    TB_ASSERT_OK_AND_ASSIGN(std::string reply, admin_health(service));
    EXPECT_EQ(reply, kNotServing) << service;
  }
  for (const std::string service : {"", "tongban.v1.Exchange"}) {
    TB_ASSERT_OK_AND_ASSIGN(std::string reply, peer_health(*county_, service));
    EXPECT_EQ(reply, kNotServing) << service;
  }
  const std::string healthz = testutil::Get(county_->metrics_port(), "/healthz");
  EXPECT_EQ(testutil::StatusLine(healthz), "HTTP/1.1 503 Service Unavailable");
  EXPECT_TRUE(absl::StrContains(testutil::Body(healthz), "appends blocked")) << healthz;
  EXPECT_EQ(Sample(county_->metrics_port(), "tongban_ready"), 0);
  // The operators can still read and see why.
  TB_EXPECT_OK(As("clerk")->Status(v1::StatusRequest()).status());
}

// The node, not the client, records when an inquiry was sent and sets its
// deadline from [deadlines]; tongbanctl lists it and the metrics count it;
// a reply to an inquiry the node does not hold is refused.
TEST_P(DaemonTest, DeadlinesAreSetByTheNodeListedAndCounted) {
  const std::string p = testutil::MakeId(kCounty, "19900101", 11);
  auto clerk = As("clerk");
  v1::WriteRequest w;
  w.set_person(p);
  w.set_kind(v1::RECORD_KIND_INQUIRY);
  w.set_record_id("inq-1");
  v1::Inquiry* q = w.mutable_value()->mutable_inquiry();
  q->set_type(v1::INQUIRY_TYPE_URGENT);
  q->set_to_county("440305");
  q->set_question("Still at the address?");
  q->set_sent_at_micros(1);  // the client's time is not taken
  const absl::Time before = absl::Now();
  TB_ASSERT_OK(clerk->Write(w).status());
  TB_ASSERT_OK_AND_ASSIGN(v1::InquiryListReply listed, clerk->ListInquiries({}));
  ASSERT_EQ(listed.items_size(), 1);
  const v1::InquiryItem& item = listed.items(0);
  EXPECT_EQ(item.state(), "sent");
  EXPECT_GE(item.sent_at_micros(), absl::ToUnixMicros(before));
  const absl::CivilDay due =
      absl::ToCivilDay(absl::FromUnixMicros(item.sent_at_micros()), absl::FixedTimeZone(8 * 3600)) +
      15;
  EXPECT_EQ(item.due_on().year(), due.year());
  EXPECT_EQ(item.due_on().month(), due.month());
  EXPECT_EQ(item.due_on().day(), due.day());

  std::string err, out;
  EXPECT_EQ(Ctl("clerk", {"inquiry", "list", "--due", "--within-days", "20"}, &err, &out), 0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, "inq-1")) << out;
  EXPECT_TRUE(absl::StrContains(out, "620102********011")) << out;  // masked
  EXPECT_EQ(Ctl("clerk", {"inquiry", "list", "--overdue"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "(none)")) << out;
  EXPECT_EQ(Ctl("clerk",
                {"notice", "send", p, "--to", "440305", "--subject", "moved", "--needs-feedback"},
                &err, &out),
            0)
      << err;
  EXPECT_EQ(Ctl("clerk", {"notice", "list"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "feedback")) << out;
  EXPECT_TRUE(absl::StrContains(out, "sent")) << out;
  // A reply to an inquiry nobody sent here: refused, nothing written.
  EXPECT_EQ(Ctl("clerk",
                {"inquiry", "reply", p, "--inquiry", "inq-9", "--inquiry-county", "440305",
                 "--answer", "yes"},
                &err),
            2)
      << err;
  EXPECT_TRUE(absl::StrContains(err, "no inquiry inq-9")) << err;

  // The metrics count the open inquiry (refreshed within 10 s of a commit).
  double sent = -1;
  testutil::WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        auto families = testutil::ParseExposition(
            testutil::Body(testutil::Get(county_->metrics_port(), "/metrics")));
        if (!families.ok()) return families.status();
        for (const auto& f : *families) {
          for (const auto& sample : f.samples) {
            if (f.name == "tongban_deadline_items" && sample.labels.at("kind") == "inquiry" &&
                sample.labels.at("state") == "sent") {
              sent = sample.value;
            }
          }
        }
        return sent == 1;
      },
      absl::Seconds(30), "the metrics to count the open inquiry");
  EXPECT_EQ(sent, 1);
}

// The calls the console added are tongbanctl commands too, with the same
// role checks: person search, the fleet view, a person's access report, the
// metrics history, and the audit trail filtered by action.
TEST_P(DaemonTest, ConsoleCallsAreTongbanctlCommandsToo) {
  const std::string p = testutil::MakeId(kCounty, "19900307", 26);
  auto clerk = As("clerk");
  v1::WriteRequest w = BasicsWrite(p);
  w.mutable_value()->mutable_person_basics()->set_name("王芳");
  *w.mutable_value()->mutable_person_basics()->mutable_birth_date() = testutil::Day(1990, 3, 7);
  TB_ASSERT_OK(clerk->Write(w).status());
  std::string err, out;
  EXPECT_EQ(Ctl("clerk",
                {"person", "search", "--name", "王芳", "--birth-date", "1990-03-07", "--reason",
                 "arrival check"},
                &err, &out),
            0)
      << err;
  EXPECT_TRUE(absl::StrContains(out, p)) << out;
  EXPECT_NE(Ctl("clerk", {"person", "search", "--name", "王芳", "--birth-date", "1990-03-07"}, &err,
                &out),
            0);
  EXPECT_NE(Ctl("auditor",
                {"person", "search", "--name", "王芳", "--birth-date", "1990-03-07", "--reason",
                 "curious"},
                &err, &out),
            0);
  EXPECT_TRUE(absl::StrContains(err, "may not")) << err;

  // The fleet view is computed by housekeeping within seconds of start.
  int rc = 1;
  testutil::WaitUntil(
      [&] {
        return (rc = Ctl("admin", {"fleet", "--sort", "log-size", "--desc"}, &err, &out)) == 0;
      },
      absl::Seconds(30), "the fleet view");
  EXPECT_EQ(rc, 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "000000")) << out;
  EXPECT_EQ(Ctl("admin", {"metrics", "history"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "OWN EVENTS")) << out;

  const std::string report = dir_.File("report.csv");
  EXPECT_EQ(Ctl("auditor", {"audit", "report", p, "--reason", "the person asked", "--out", report},
                &err, &out),
            0)
      << err;
  const std::string csv = testutil::Contents(report);
  EXPECT_TRUE(absl::StrContains(csv, "person.search")) << csv;
  EXPECT_TRUE(absl::StrContains(csv, "record.write")) << csv;
  EXPECT_NE(Ctl("clerk", {"audit", "report", p, "--reason", "x"}, &err, &out), 0);
  EXPECT_EQ(Ctl("auditor", {"audit", "--action", "person.search"}, &err, &out), 0) << err;
  EXPECT_TRUE(absl::StrContains(out, "person.search")) << out;
  EXPECT_FALSE(absl::StrContains(out, "record.write")) << out;
}

// Issue 12: a record with two heads reads, through the Admin service, as
// its standing head (the larger stamp), not as the head that arrived last.
// County 440305 wrote version 1 of an inquiry to this county in its log's
// epoch 1; restored from a backup that lacked it, it wrote version 2 in
// epoch 2. This county received epoch 2 first, so version 1 is the last
// head in its stored array. The events are applied straight to the county's
// writer, as the sync layer hands over verified events.
TEST_P(DaemonTest, ARecordWithTwoHeadsReadsAsItsStandingHeadThroughTheAdmin) {
  const std::string p = testutil::MakeId(kCounty, "19900101", 13);
  const crypto::Suite& suite = crypto::GetSuite(GetParam());
  std::unique_ptr<crypto::PrivateKey> key = *suite.GenerateKey();
  std::vector<storage::RemoteBatch> batches;
  for (uint64_t epoch : {1, 2}) {
    storage::StoreOptions so;
    so.path = dir_.File(absl::StrCat("restored-440305-", epoch));
    so.suite = GetParam();
    so.storage_key = *crypto::RandomBytes(suite.symmetric_key_size());
    TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<storage::Store> store, storage::Store::Open(so));
    storage::WriterOptions wo;
    wo.node = "440305";
    wo.epoch = epoch;
    TB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<storage::Writer> writer,
                            storage::Writer::Open(store.get(), key.get(), wo, RealClock()));
    // Version 1: a normal inquiry sent long ago; version 2: urgent, sent now.
    const bool v2 = epoch == 2;
    const absl::Time sent = v2 ? absl::Now() : absl::Now() - absl::Hours(24 * 400);
    const v1::Date due =
        v2 ? records::ToDate(records::ChinaDay(absl::Now()) + 15) : testutil::Day(2025, 1, 1);
    TB_ASSERT_OK(writer
                     ->Append(testutil::Inquiry(
                         p, kCounty, "inq-restored",
                         v2 ? v1::INQUIRY_TYPE_URGENT : v1::INQUIRY_TYPE_NORMAL, sent, due))
                     .status());
    storage::RemoteBatch& rb = batches.emplace_back();
    rb.log = writer->log();
    TB_ASSERT_OK(store->ScanEvents(rb.log, 1, 1, [&](uint64_t seq, absl::string_view b) {
      storage::RemoteEvent e;
      e.seq = seq;
      e.body = std::string(b);
      EXPECT_TRUE(e.parsed.ParseFromString(e.body));
      rb.events.push_back(std::move(e));
      return absl::OkStatus();
    }));
  }
  TB_ASSERT_OK(county_->node().writer()->ApplyRemote(batches[1]));  // epoch 2 first
  TB_ASSERT_OK(county_->node().writer()->ApplyRemote(batches[0]));

  auto clerk = As("clerk");
  v1::PersonRequest pr;
  pr.set_person(p);
  pr.set_reason("issue 12 test");
  TB_ASSERT_OK_AND_ASSIGN(v1::PersonReply person, clerk->GetPerson(pr));
  ASSERT_EQ(person.records_size(), 1);
  ASSERT_EQ(person.records(0).values_size(), 2);                      // both versions are shown
  EXPECT_EQ(person.records(0).state().heads(1).event().epoch(), 1u);  // version 1 came last

  TB_ASSERT_OK_AND_ASSIGN(v1::InquiryListReply listed, clerk->ListInquiries({}));
  ASSERT_EQ(listed.items_size(), 1);
  EXPECT_EQ(listed.items(0).type(), v1::INQUIRY_TYPE_URGENT);
  EXPECT_EQ(listed.items(0).state(), "received");
  v1::InquiryListRequest overdue;
  overdue.set_overdue(true);
  TB_ASSERT_OK_AND_ASSIGN(listed, clerk->ListInquiries(overdue));
  EXPECT_EQ(listed.items_size(), 0);  // version 1's deadline passed long ago

  // This month's statistics count the inquiry version 2 sent this month.
  TB_ASSERT_OK_AND_ASSIGN(v1::StatsReply stats, clerk->Stats({}));
  const v1::StatsRow* row = nullptr;
  for (const v1::StatsRow& r : stats.rows()) {
    if (r.scope() == kCounty) row = &r;
  }
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->feedback().denominator(), 1u);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(DaemonTest);

}  // namespace
}  // namespace tongban::node
