// A federation of separate tongband processes for system tests: made by
// tools/federation-setup.sh in a temporary folder (each node's folder holds
// its configuration, keys, certificates, operators and log), started,
// stopped, killed and asked through the Admin service as a clerk.
// Header-only; the test links tongban_admin_client and defines TB_TONGBAND,
// TB_BUILD_DIR and TB_SETUP_SCRIPT.
//
// Node i of `nodes` listens for peers on base_port + 2i and for the Admin
// service on base_port + 2i + 1.
//
// Thread safety: Start, Kill and Stop from one thread at a time; the
// clients from any.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/suite.h"
#include "gtest/gtest.h"
#include "tests/testutil/ports.h"
#include "tests/testutil/spawn.h"
#include "tests/testutil/tcp_proxy.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"
#include "tongbanctl/admin_client.h"
#include "tongbanctl/args.h"

namespace tongban::testutil {

class ProcessFederationTest : public ::testing::TestWithParam<crypto::SuiteId> {
 protected:
  explicit ProcessFederationTest(std::vector<std::string> nodes) : nodes_(std::move(nodes)) {}

  // Makes the federation; starts no node.
  void SetUpFederation() {
    base_port_ = FreePortBlock(2 * static_cast<int>(nodes_.size()));
    ASSERT_GT(base_port_, 0);
    std::vector<std::string> setup = {"/bin/bash",
                                      TB_SETUP_SCRIPT,
                                      TB_BUILD_DIR,
                                      dir_.path(),
                                      std::string(crypto::SuiteName(GetParam())),
                                      absl::StrCat(base_port_)};
    for (const std::string& n : nodes_) setup.push_back(n);
    const pid_t pid = SpawnDetached(setup, dir_.File("setup.log"), dir_.File("setup.log"));
    ASSERT_GT(pid, 0);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "federation setup failed; see " << dir_.File("setup.log");
  }

  // Every running node gets SIGTERM and must stop cleanly.
  void TearDown() override {
    for (auto& [code, pid] : pids_) {
      if (pid <= 0) continue;
      EXPECT_TRUE(Stop(code)) << "node " << code << " did not stop cleanly";
    }
  }

  std::string NodeDir(const std::string& code) { return dir_.File(code); }

  // Starts `code`'s tongband, its output appended to its folder's
  // tongband.log; `wrapper` (a command and its arguments) runs it, if given.
  void Start(const std::string& code, std::vector<std::string> wrapper = {}) {
    wrapper.insert(wrapper.end(), {TB_TONGBAND, "--config", NodeDir(code) + "/tongband.conf"});
    pids_[code] =
        SpawnDetached(wrapper, NodeDir(code) + "/tongband.log", NodeDir(code) + "/tongband.log");
    ASSERT_GT(pids_[code], 0);
  }

  // SIGTERM and wait: true if it exited with 0.
  bool Stop(const std::string& code) {
    const pid_t pid = pids_[code];
    pids_[code] = -1;
    if (pid <= 0) return false;
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  void Kill(const std::string& code) {
    kill(pids_[code], SIGKILL);
    int status = 0;
    waitpid(pids_[code], &status, 0);
    pids_[code] = -1;
  }

  pid_t pid(const std::string& code) { return pids_[code]; }

  int PeerPort(const std::string& code) const { return AdminPort(code) - 1; }

  // Every node D reaches every other node T through a TcpProxy of its own,
  // Link(D, T): D gets a roster of its own, the federation's with T's
  // endpoint at that proxy, signed with the root key (all of the same
  // version), and its configuration names it. Before Start.
  void RouteThroughProxies() {
    const std::string text = Contents(dir_.File("roster.txt"));
    for (const std::string& d : nodes_) {
      std::string mine = text;
      for (const std::string& t : nodes_) {
        if (t == d) continue;
        absl::StatusOr<std::unique_ptr<TcpProxy>> proxy = TcpProxy::Start(PeerPort(t));
        ASSERT_TRUE(proxy.ok()) << proxy.status();
        const std::string from = absl::StrCat("endpoints: \"127.0.0.1:", PeerPort(t), "\"");
        const size_t at = mine.find(from);
        ASSERT_NE(at, std::string::npos) << from;
        mine.replace(at, from.size(),
                     absl::StrCat("endpoints: \"127.0.0.1:", (*proxy)->port(), "\""));
        links_[{d, t}] = *std::move(proxy);
      }
      const std::string in = NodeDir(d) + "/roster.txt";
      WriteFile(in, mine, 0644);
      std::string err;
      ASSERT_EQ(SpawnAndWait({TB_BUILD_DIR "/tongbanctl/tongbanctl", "roster", "sign", "--in", in,
                              "--root-key", dir_.File("root.key"), "--suite",
                              std::string(crypto::SuiteName(GetParam())), "--out",
                              NodeDir(d) + "/roster.signed"},
                             dir_.File("roster-sign"), &err),
                0)
          << err;
      const std::string conf_path = NodeDir(d) + "/tongband.conf";
      std::string conf = Contents(conf_path);
      const std::string shared = "roster = \"../roster.signed\"";
      const size_t at = conf.find(shared);
      ASSERT_NE(at, std::string::npos) << conf_path;
      conf.replace(at, shared.size(), "roster = \"roster.signed\"");
      WriteFile(conf_path, conf, 0600);
    }
  }

  // The proxy node `from` reaches node `to` through (RouteThroughProxies).
  TcpProxy& Link(const std::string& from, const std::string& to) { return *links_.at({from, to}); }

  // Every link's flows back to kPass.
  void HealAll() {
    for (auto& [pair, proxy] : links_) proxy->Set(TcpProxy::Flow::kPass);
  }

  int AdminPort(const std::string& code) const {
    const int index =
        static_cast<int>(std::find(nodes_.begin(), nodes_.end(), code) - nodes_.begin());
    return base_port_ + 2 * index + 1;
  }

  // An Admin client of `code` as its clerk.
  std::unique_ptr<cli::AdminClient> Clerk(const std::string& code) {
    const std::string ops = NodeDir(code) + "/operators/";
    auto args =
        cli::Args::Parse({"--node", absl::StrCat("127.0.0.1:", AdminPort(code)), "--ca",
                          NodeDir(code) + "/tls/ca.crt", "--cert", ops + "clerk.crt", "--key",
                          ops + "clerk.key", "--password-file", ops + "clerk.password"},
                         cli::ConnectionFlags(), 0, 0);
    EXPECT_TRUE(args.ok()) << args.status();
    auto client = cli::AdminClient::FromArgs(*args);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  bool WaitReady(const std::string& code, absl::Duration timeout = absl::Seconds(60)) {
    return WaitUntil(
        [&] {
          // A new channel each time: a channel that failed to connect waits
          // out its reconnect backoff (1 s, growing) before it tries again.
          auto clerk = Clerk(code);
          return clerk != nullptr && clerk->Status(v1::StatusRequest()).ok();
        },
        timeout, absl::StrCat("node ", code, " to answer"));
  }

  // The person's records at `code` as one comparable string, or "" if the
  // node holds nothing of the person.
  absl::StatusOr<std::string> Digest(const std::string& code, const std::string& person) {
    v1::PersonRequest r;
    r.set_person(person);
    r.set_reason("system test convergence check");
    absl::StatusOr<v1::PersonReply> reply = Clerk(code)->GetPerson(r);
    if (absl::IsNotFound(reply.status())) return std::string();
    if (!reply.ok()) return reply.status();
    std::string digest;
    for (const v1::Record& rec : reply->records()) {
      absl::StrAppend(&digest, rec.kind(), "/", rec.record_id(), " by ", rec.state().custodian(),
                      " v", rec.state().versions(), " heads");
      for (const auto& h : rec.state().heads()) {
        absl::StrAppend(&digest, " ", h.event().origin(), ":", h.event().seq(), ":",
                        h.payload().size());
      }
      absl::StrAppend(&digest, " history");
      for (const auto& e : rec.state().history()) {
        absl::StrAppend(&digest, " ", e.origin(), ":", e.seq());
      }
      absl::StrAppend(&digest, "\n");
    }
    return digest;
  }

  const std::vector<std::string> nodes_;
  ScopedTempDir dir_;
  int base_port_ = 0;
  std::map<std::string, pid_t> pids_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<TcpProxy>> links_;
};

}  // namespace tongban::testutil
