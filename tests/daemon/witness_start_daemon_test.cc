// A county restarted while its national node hangs (issue #20): the
// national node's port accepts TCP connections (the kernel completes the
// handshake into the listen backlog) but nothing ever accepts them or speaks
// TLS. The witness check at start must not delay the Admin service:
// operators sign in and read while it runs, `status` says why writes are
// refused, a write is refused with exit code 3, and once the check's bounded
// wait has passed the county accepts writes. Both suites.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/ports.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/wait.h"
#include "tongbanctl/admin_client.h"

namespace tongban::node {
namespace {

using WitnessStartDaemonTest = DaemonTest;

// A socket listening on 127.0.0.1:`port` that never accepts; closed when
// destroyed. -1 if it could not bind.
class HangingListener {
 public:
  explicit HangingListener(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 64) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~HangingListener() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

TEST_P(WitnessStartDaemonTest, AHangingNationalNodeNeverDelaysTheAdminService) {
  // The county dials the national node at the roster's endpoint; a frozen
  // national node takes its place on that port.
  const int national_port = national_->node().peer_port();
  national_->Stop();
  national_.reset();
  HangingListener frozen(national_port);
  ASSERT_TRUE(frozen.ok()) << "cannot listen on " << national_port;

  // The county restarts with its Admin service on a port named in advance,
  // so that operators can call it before Start returns.
  county_->Stop();
  county_.reset();
  TB_ASSERT_OK_AND_ASSIGN(Config config, LoadConfig(dir_.File(kCounty) + "/tongband.conf"));
  const int admin_port = testutil::FreePortBlock(1);
  ASSERT_GT(admin_port, 0);
  config.admin_listen = absl::StrCat("127.0.0.1:", admin_port);
  NodeOptions options;
  options.witness_at_start = absl::Seconds(8);
  std::atomic<bool> start_returned{false};
  absl::StatusOr<std::unique_ptr<daemon::Daemon>> started;
  const absl::Time begun = absl::Now();
  std::thread starter([&] {
    started = daemon::Daemon::Start(config, RealClock(), options);
    start_returned = true;
  });

  // An operator signs in and reads while the check runs.
  const std::string ops = dir_.File(kCounty) + "/operators/";
  auto args = cli::Args::Parse(
      {"--node", config.admin_listen, "--ca", dir_.File(kCounty) + "/tls/ca.crt", "--cert",
       ops + "clerk.crt", "--key", ops + "clerk.key", "--password-file", ops + "clerk.password"},
      cli::ConnectionFlags(), 0, 0);
  TB_ASSERT_OK(args.status());
  absl::StatusOr<v1::StatusReply> status;
  const bool answered = testutil::WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        TB_ASSIGN_OR_RETURN(auto client, cli::AdminClient::FromArgs(*args));
        status = client->Status(v1::StatusRequest());
        return status.ok();
      },
      absl::Seconds(30), "the Admin service to answer");
  const bool check_still_running = !start_returned.load();
  EXPECT_TRUE(answered) << status.status();
  EXPECT_TRUE(check_still_running)
      << "the Admin service answered only after the witness check ended (" << absl::Now() - begun
      << " after the start)";
  if (answered && check_still_running) {
    EXPECT_TRUE(absl::StrContains(status->writes_refused(), "witness check at start is running"))
        << status->writes_refused();
    // A write is refused meanwhile, with exit code 3, and says why.
    std::string err;
    const int code = RunCtl({"person",
                             "register",
                             testutil::MakeId(kCounty, "19900101", 5),
                             "--name",
                             "Li",
                             "--sex",
                             "male",
                             "--birth-date",
                             "1990-01-01",
                             "--hukou-region",
                             kCounty,
                             "--node",
                             config.admin_listen,
                             "--ca",
                             dir_.File(kCounty) + "/tls/ca.crt",
                             "--cert",
                             ops + "clerk.crt",
                             "--key",
                             ops + "clerk.key",
                             "--password-file",
                             ops + "clerk.password"},
                            &err);
    if (!start_returned.load()) {
      EXPECT_EQ(code, 3) << err;
      EXPECT_TRUE(absl::StrContains(err, "witness check at start")) << err;
    }
  }

  // The check gives up within its bound; the county then takes writes.
  starter.join();
  TB_ASSERT_OK(started.status());
  county_ = *std::move(started);
  EXPECT_FALSE(county_->node().appends_blocked().has_value());
  TB_EXPECT_OK(As("clerk")->Write(BasicsWrite(testutil::MakeId(kCounty, "19900101", 6))).status());
  TB_ASSERT_OK_AND_ASSIGN(v1::StatusReply after, As("clerk")->Status(v1::StatusRequest()));
  EXPECT_EQ(after.writes_refused(), "");
}

TB_INSTANTIATE_FOR_BOTH_SUITES(WitnessStartDaemonTest);

}  // namespace
}  // namespace tongban::node
