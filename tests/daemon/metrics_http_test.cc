#include "daemon/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testutil/http.h"
#include "tests/testutil/prometheus_text.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::node {
namespace {

using testutil::Body;
using testutil::Connect;
using testutil::Exchange;
using testutil::Get;
using testutil::StatusLine;

class MetricsHttpTest : public testing::Test {
 protected:
  void SetUp() override {
    auto family = registry_.AddCounter("tb_requests_total", "Requests.", {"kind"});
    ASSERT_TRUE(family.ok());
    (*family)->WithLabels({"a\"b"})->Increment(41);
    options_.port = 0;
    options_.io_timeout = absl::Milliseconds(300);
    StartServer();
  }

  void StartServer() {
    auto server = daemon::MetricsHttpServer::Start(options_, &registry_, [this] {
      return healthy_ ? absl::OkStatus() : absl::UnavailableError("storage stopped");
    });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
  }

  metrics::Registry registry_;
  daemon::MetricsHttpOptions options_;
  std::atomic<bool> healthy_{true};
  std::unique_ptr<daemon::MetricsHttpServer> server_;
};

TEST_F(MetricsHttpTest, ServesMetricsThatParseAsTheTextFormat) {
  const std::string r = Get(server_->port(), "/metrics");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 200 OK");
  EXPECT_TRUE(absl::StrContains(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
      << r;
  const std::string body = Body(r);
  EXPECT_TRUE(absl::StrContains(r, absl::StrCat("Content-Length: ", body.size(), "\r\n")));
  EXPECT_EQ(body, registry_.Render());
  auto families = testutil::ParseExposition(body);
  ASSERT_TRUE(families.ok()) << families.status() << "\n" << body;
  ASSERT_EQ(families->size(), 1u);
  EXPECT_EQ((*families)[0].samples.at(0).labels.at("kind"), "a\"b");
  EXPECT_EQ((*families)[0].samples.at(0).value, 41);
  // A query string does not change the path.
  EXPECT_EQ(StatusLine(Get(server_->port(), "/metrics?name[]=x")), "HTTP/1.1 200 OK");
}

TEST_F(MetricsHttpTest, HealthzFollowsTheHealthCheck) {
  std::string r = Get(server_->port(), "/healthz");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 200 OK");
  EXPECT_EQ(Body(r), "ok\n");
  healthy_ = false;
  r = Get(server_->port(), "/healthz");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 503 Service Unavailable");
  EXPECT_EQ(Body(r), "unhealthy: storage stopped\n");
}

TEST_F(MetricsHttpTest, OtherRequestsGetTheirErrors) {
  EXPECT_EQ(StatusLine(Get(server_->port(), "/")), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(StatusLine(Get(server_->port(), "/metricsx")), "HTTP/1.1 404 Not Found");
  const std::string post = Get(server_->port(), "/metrics", "POST");
  EXPECT_EQ(StatusLine(post), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_TRUE(absl::StrContains(post, "Allow: GET, HEAD\r\n"));
  EXPECT_EQ(StatusLine(Exchange(server_->port(), "hello\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(StatusLine(Exchange(server_->port(), "GET /metrics SPDY/9\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
  const std::string head = Get(server_->port(), "/metrics", "HEAD");
  EXPECT_EQ(StatusLine(head), "HTTP/1.1 200 OK");
  EXPECT_EQ(Body(head), "");
}

TEST_F(MetricsHttpTest, OversizedRequestHeadIsRefused) {
  const std::string big =
      absl::StrCat("GET /metrics HTTP/1.1\r\nX-Pad: ", std::string(20000, 'a'), "\r\n\r\n");
  EXPECT_EQ(StatusLine(Exchange(server_->port(), big)),
            "HTTP/1.1 431 Request Header Fields Too Large");
  // The server is still serving.
  EXPECT_EQ(StatusLine(Get(server_->port(), "/healthz")), "HTTP/1.1 200 OK");
}

// A client that connects and sends nothing holds the server only until the
// I/O deadline.
TEST_F(MetricsHttpTest, StalledClientIsDroppedAtTheDeadline) {
  const int stalled = Connect(server_->port());
  ASSERT_GE(stalled, 0);
  const absl::Time start = absl::Now();
  EXPECT_EQ(StatusLine(Get(server_->port(), "/healthz")), "HTTP/1.1 200 OK");
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  close(stalled);
}

TEST_F(MetricsHttpTest, StopClosesTheListener) {
  const int port = server_->port();
  server_->Stop();
  server_->Stop();  // idempotent
  EXPECT_LT(Connect(port), 0);
}

TEST_F(MetricsHttpTest, BadAddressAndBusyPortAreRefused) {
  daemon::MetricsHttpOptions bad = options_;
  bad.address = "localhost";  // not a literal
  EXPECT_EQ(daemon::MetricsHttpServer::Start(bad, &registry_, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = options_;
  bad.port = 70000;
  EXPECT_EQ(daemon::MetricsHttpServer::Start(bad, &registry_, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  daemon::MetricsHttpOptions busy = options_;
  busy.port = server_->port();
  absl::Status s = daemon::MetricsHttpServer::Start(busy, &registry_, nullptr).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(s.message(), absl::StrCat("127.0.0.1:", server_->port()))) << s;
}

}  // namespace
}  // namespace tongban::node
