// The console's HTTPS surface against a running county (the daemon fixture,
// console on): certificates, sign-in, cookie flags, CSRF, origin, roles,
// headers, import, and that idle connections cannot hold the server.
#include <httplib.h>

#include <chrono>
#include <thread>

#include "tests/daemon/daemon_fixture.h"
#include "tests/testutil/http.h"
#include "tests/testutil/wait.h"

namespace tongban::node {
namespace {

class ConsoleServerTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (HasFatalFailure()) return;
    // The county again, with its console on: two workers and one-second
    // timeouts, so that the idle-connection test is quick.
    county_.reset();
    TB_ASSERT_OK_AND_ASSIGN(Config county, LoadConfig(dir_.File(kCounty) + "/tongband.conf"));
    county.console_listen = "127.0.0.1:0";
    county.console_assets = TB_SOURCE_DIR "/console/assets";
    county.console_workers = 2;
    county.console_read_timeout = absl::Seconds(1);
    county.console_keep_alive = absl::Seconds(1);
    TB_ASSERT_OK_AND_ASSIGN(county_, daemon::Daemon::Start(county, RealClock()));
    port_ = county_->console_port();
    ASSERT_GT(port_, 0);
    origin_ = absl::StrCat("https://127.0.0.1:", port_);
  }

  // A client presenting `who`'s certificate (none if empty).
  std::unique_ptr<httplib::SSLClient> Client(const std::string& who) {
    const std::string ops = dir_.File(kCounty) + "/operators/";
    auto c = who.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", port_)
                         : std::make_unique<httplib::SSLClient>(
                               "127.0.0.1", port_, ops + who + ".crt", ops + who + ".key");
    c->set_ca_cert_path((dir_.File(kCounty) + "/tls/ca.crt").c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(10);
    c->set_read_timeout(30);
    return c;
  }

  std::string Password(const std::string& who) {
    return testutil::Contents(dir_.File(kCounty) + "/operators/" + who + ".password");
  }

  struct Signed {
    std::string cookie;  // "__Host-tb_session=..."
    std::string csrf;
  };
  // Signs `who` in; fails the test otherwise.
  Signed SignIn(httplib::SSLClient& c, const std::string& who) {
    std::string password = Password(who);
    while (!password.empty() && password.back() == '\n') password.pop_back();
    auto res =
        c.Post("/api/login", {{"Origin", origin_}},
               absl::StrCat("{\"password\":\"", password, "\",\"totp\":\"\"}"), "application/json");
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    Signed s;
    if (!res) return s;
    const std::string set = res->get_header_value("Set-Cookie");
    s.cookie = set.substr(0, set.find(';'));
    const size_t at = res->body.find("\"csrf\":\"");
    if (at != std::string::npos) s.csrf = res->body.substr(at + 8, 64);
    return s;
  }

  httplib::Result Call(httplib::SSLClient& c, const Signed& s, const std::string& method,
                       const std::string& body, bool csrf = true) {
    httplib::Headers h = {{"Origin", origin_}, {"Cookie", s.cookie}};
    if (csrf) h.emplace("X-CSRF-Token", s.csrf);
    return c.Post(("/api/call/" + method).c_str(), h, body, "application/json");
  }

  int port_ = 0;
  std::string origin_;
};

TEST_P(ConsoleServerTest, WithoutACertificateOnlyThePublicAssetsAndARefusalPage) {
  auto c = Client("");
  auto page = c->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 403);
  EXPECT_NE(page->body.find("需要操作员证书"), std::string::npos);
  auto asset = c->Get("/assets/app.css");
  ASSERT_TRUE(asset);
  EXPECT_EQ(asset->status, 200);
  auto login =
      c->Post("/api/login", {{"Origin", origin_}}, "{\"password\":\"x\"}", "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 403);
}

TEST_P(ConsoleServerTest, PagesCarryAPolicyThatForbidsInlineScript) {
  auto c = Client("clerk");
  auto page = c->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  const std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page->body.find("<script>"), std::string::npos) << "inline script in index.html";
  for (const char* vendor : {"/vendor/bootstrap.min.css", "/vendor/chart.min.js"}) {
    auto v = c->Get(vendor);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->status, 200) << vendor;
  }
  auto missing = c->Get("/assets/../../etc/passwd");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_P(ConsoleServerTest, SignInGivesAStrictCookieAndEveryChangeNeedsTheCsrfToken) {
  auto c = Client("clerk");
  auto res =
      c->Post("/api/login", {{"Origin", origin_}},
              absl::StrCat("{\"password\":\"", Password("clerk"), "\"}"), "application/json");
  ASSERT_TRUE(res);
  // The password file ends with a newline: not the password.
  EXPECT_EQ(res->status, 401) << res->body;
  EXPECT_NE(res->body.find("authentication failed for operator clerk"), std::string::npos);

  const Signed s = SignIn(*c, "clerk");
  auto login = c->Post("/api/login", {{"Origin", origin_}}, "{}", "application/json");
  ASSERT_FALSE(s.csrf.empty());
  EXPECT_EQ(s.cookie.rfind("__Host-tb_session=", 0), 0u) << s.cookie;
  {
    std::string password = Password("clerk");
    password.pop_back();
    auto again = c->Post("/api/login", {{"Origin", origin_}},
                         absl::StrCat("{\"password\":\"", password, "\"}"), "application/json");
    ASSERT_TRUE(again);
    const std::string set = again->get_header_value("Set-Cookie");
    for (const char* flag : {"; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/"}) {
      EXPECT_NE(set.find(flag), std::string::npos) << flag << " missing in " << set;
    }
  }
  auto ok = Call(*c, s, "Status", "{}");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_NE(ok->body.find("\"node\":\"620102\""), std::string::npos) << ok->body;
  auto no_token = Call(*c, s, "Status", "{}", /*csrf=*/false);
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 403);
  EXPECT_NE(no_token->body.find("CSRF"), std::string::npos);
  auto foreign =
      c->Post("/api/call/Status",
              {{"Origin", "https://evil.example"}, {"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}},
              "{}", "application/json");
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403);
  auto no_cookie = c->Post("/api/call/Status", {{"Origin", origin_}, {"X-CSRF-Token", s.csrf}},
                           "{}", "application/json");
  ASSERT_TRUE(no_cookie);
  EXPECT_EQ(no_cookie->status, 401);
  // The cookie is bound to the certificate it was opened with.
  auto admin = Client("admin");
  auto stolen = Call(*admin, s, "Status", "{}");
  ASSERT_TRUE(stolen);
  EXPECT_EQ(stolen->status, 401);
  auto unknown = Call(*c, s, "DropEverything", "{}");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto bad = Call(*c, s, "Write", "{\"no_such_field\":1}");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);

  auto out =
      c->Post("/api/logout", {{"Origin", origin_}, {"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}},
              "{}", "application/json");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 200);
  auto after = Call(*c, s, "Status", "{}");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
}

// The same role checks, reasons and audit entries as the Admin service.
TEST_P(ConsoleServerTest, RolesReasonsAndAuditAreTheAdminServices) {
  auto clerk = Client("clerk");
  const Signed cs = SignIn(*clerk, "clerk");
  auto audit = Call(*clerk, cs, "Audit", "{}");
  ASSERT_TRUE(audit);
  EXPECT_EQ(audit->status, 403) << audit->body;
  EXPECT_NE(audit->body.find("PERMISSION_DENIED"), std::string::npos);

  auto write = Call(*clerk, cs, "Write",
                    R"({"person":"620102199003070026","kind":"RECORD_KIND_PERSON_BASICS",)"
                    R"("record_id":"basics","value":{"person_basics":{"name":"王芳",)"
                    R"("sex":"SEX_FEMALE","birth_date":{"year":1990,"month":3,"day":7},)"
                    R"("hukou_region":"620102"}}})");
  ASSERT_TRUE(write);
  EXPECT_EQ(write->status, 200) << write->body;
  auto impossible = Call(*clerk, cs, "Write",
                         R"({"person":"620102199003070026","kind":"RECORD_KIND_OUTFLOW",)"
                         R"("record_id":"out-1","value":{"outflow":{"destination_county":"440305",)"
                         R"("left_on":{"year":2026,"month":2,"day":30}}}})");
  ASSERT_TRUE(impossible);
  EXPECT_EQ(impossible->status, 400);
  EXPECT_NE(impossible->body.find("outflow.left_on"), std::string::npos) << impossible->body;
  auto no_reason = Call(*clerk, cs, "GetPerson", R"({"person":"620102199003070026"})");
  ASSERT_TRUE(no_reason);
  EXPECT_EQ(no_reason->status, 400);
  EXPECT_NE(no_reason->body.find("reason:"), std::string::npos);
  auto found = Call(*clerk, cs, "SearchPersons",
                    R"({"name":" 王芳 ","birth_date":{"year":1990,"month":3,"day":7},)"
                    R"("reason":"arrival check"})");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->status, 200) << found->body;
  EXPECT_NE(found->body.find("620102199003070026"), std::string::npos) << found->body;

  auto auditor = Client("auditor");
  const Signed as = SignIn(*auditor, "auditor");
  auto denied =
      Call(*auditor, as, "GetPerson", R"({"person":"620102199003070026","reason":"curious"})");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403);
  auto report = Call(*auditor, as, "AccessReport",
                     R"({"person":"620102199003070026","reason":"the person asked"})");
  ASSERT_TRUE(report);
  EXPECT_EQ(report->status, 200) << report->body;
  for (const char* action : {"record.write", "person.read", "person.search"}) {
    EXPECT_NE(report->body.find(action), std::string::npos) << action << " in " << report->body;
  }
  // The auditor's refused read is in the trail too.
  EXPECT_NE(report->body.find("PERMISSION_DENIED"), std::string::npos) << report->body;
}

// Connections that never send anything hold a worker only until the read
// timeout, so a request behind many of them is still answered.
TEST_P(ConsoleServerTest, IdleConnectionsCannotFreezeIt) {
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) {  // four times the two workers
    const int fd = testutil::Connect(port_);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  auto c = Client("clerk");
  const auto start = std::chrono::steady_clock::now();
  auto res = c->Get("/assets/app.css");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(res) << "no answer behind 8 idle connections";
  EXPECT_EQ(res->status, 200);
  // 8 idle connections over 2 workers, 1 s each: about 4 s.
  EXPECT_LT(took, std::chrono::seconds(20));
  for (int fd : idle) close(fd);
}

TEST_P(ConsoleServerTest, ImportRunsAsAJobWithProgressAndFindings) {
  auto c = Client("clerk");
  const Signed s = SignIn(*c, "clerk");
  const std::string csv =
      "kind,person,name,sex,birth_date,hukou_region\n"
      "person,620102199003070026,王芳,female,1990-03-07,620102\n"
      "person,620102199003070026X,坏,female,1990-03-07,620102\n";
  httplib::Headers h = {{"Origin", origin_},
                        {"Cookie", s.cookie},
                        {"X-CSRF-Token", s.csrf},
                        {"X-File-Name", "register%20%E5%8E%BF.csv"},
                        {"X-Encoding", "utf-8"}};
  auto start = c->Post("/api/import/start", h, csv, "text/csv");
  ASSERT_TRUE(start);
  ASSERT_EQ(start->status, 200) << start->body;
  const size_t at = start->body.find("\"job\":\"");
  ASSERT_NE(at, std::string::npos);
  const std::string job = start->body.substr(at + 7, 32);
  const std::string body = absl::StrCat("{\"job\":\"", job, "\"}");
  httplib::Headers ph = {{"Origin", origin_}, {"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}};
  std::string progress;
  ASSERT_TRUE(testutil::WaitUntil(
      [&]() -> absl::StatusOr<bool> {
        auto p = c->Post("/api/import/progress", ph, body, "application/json");
        if (!p) return absl::UnavailableError("no answer to /api/import/progress");
        progress = p->body;
        return progress.find("\"done\":true") != std::string::npos;
      },
      absl::Seconds(30), "the import job to finish"))
      << progress;
  EXPECT_NE(progress.find("\"written\":1"), std::string::npos) << progress;
  EXPECT_NE(progress.find("\"rejected\":1"), std::string::npos) << progress;
  EXPECT_NE(progress.find("register 县.csv"), std::string::npos) << progress;
  auto findings = c->Post("/api/import/findings", ph, body, "application/json");
  ASSERT_TRUE(findings);
  EXPECT_EQ(findings->status, 200);
  EXPECT_NE(findings->body.find("file,line,column,reason"), std::string::npos);
  EXPECT_NE(findings->body.find(",3,"), std::string::npos) << findings->body;
  // Someone else's job is not found.
  auto admin = Client("admin");
  const Signed as = SignIn(*admin, "admin");
  auto other = admin->Post("/api/import/progress",
                           {{"Origin", origin_}, {"Cookie", as.cookie}, {"X-CSRF-Token", as.csrf}},
                           body, "application/json");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(ConsoleServerTest);

}  // namespace
}  // namespace tongban::node
