// The web console's API under load (not a test; README "Web console"):
// response time of the peers page's call (Fleet: every county in one table,
// sorted and paged on the server) with 2,850 counties in the roster, and of
// the person search (name + birth date) on a county holding 1,000,000
// persons, each with 50 concurrent signed-in sessions over HTTPS with
// keep-alive, as 50 browsers would hold them. Prints p50 and p99.
//
//   tongban_console_bench BUILD_DIR [--persons N] [--requests N] [--sessions N] [--suite S]
//
// The federation is made by tools/federation-setup.sh (national 000000 and
// county 620102); the roster is then extended to every current county code
// of GB/T 2260 (2,850 peers of the national node) with generated signing
// keys and signed again with the federation root key. Both daemons run in
// this process with their consoles on; the county's persons are written
// through its Writer in batches before the clients start.
#include <google/protobuf/text_format.h>
#include <httplib.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "common/crypto/key_file.h"
#include "common/ids/citizen_id.h"
#include "daemon/daemon.h"
#include "sync/roster.h"
#include "tests/testutil/ports.h"
#include "tests/testutil/records.h"

extern char** environ;

namespace tongban::bench {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void Die(const std::string& what) {
  std::fprintf(stderr, "console bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}

int Run(std::vector<std::string> argv) {
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Adds every current county of the region table to the roster, up to
// `peers` nodes besides the national one, each with a signing key of its
// own, and signs it again.
void ExtendRoster(const std::string& dir, const std::string& source, crypto::SuiteId suite_id,
                  int peers) {
  const crypto::Suite& suite = crypto::GetSuite(suite_id);
  v1::Roster roster;
  if (!google::protobuf::TextFormat::ParseFromString(Read(dir + "/roster.txt"), &roster)) {
    Die("roster.txt does not parse");
  }
  std::set<std::string> present;
  for (const v1::NodeEntry& n : roster.nodes()) present.insert(n.code());
  std::istringstream tsv(Read(source + "/data/regions.tsv"));
  std::string line;
  int port = 1;
  while (std::getline(tsv, line) && static_cast<int>(present.size()) <= peers) {
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() < 4 || f[2] != "county" || f[3] != "1" || present.count(f[0])) continue;
    auto key = Must(suite.GenerateKey(), "signing key");
    v1::NodeEntry* n = roster.add_nodes();
    n->set_code(f[0]);
    n->set_name(f[1]);
    n->set_role(v1::NodeEntry::ROLE_COUNTY);
    n->add_endpoints(absl::StrCat("127.0.0.1:", port++));
    v1::SigningKey* k = n->add_signing_keys();
    k->set_suite(std::string(crypto::SuiteName(suite_id)));
    k->set_spki_der(key->public_key().SpkiDer());
    k->set_key_id(key->public_key().KeyId());
    n->set_status(v1::NodeEntry::NODE_STATUS_ACTIVE);
    present.insert(f[0]);
  }
  roster.set_version(roster.version() + 1);
  roster.set_issued_at_micros(absl::ToUnixMicros(absl::Now()));
  auto root = Must(crypto::ReadPrivateKeyFile(suite, dir + "/root.key"), "root key");
  v1::SignedRoster signed_roster = Must(sync::SignRoster(roster, *root), "roster sign");
  std::ofstream(dir + "/roster.signed", std::ios::binary | std::ios::trunc)
      << signed_roster.SerializeAsString();
}

constexpr const char* kSurnames[] = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
                                     "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗"};
constexpr const char* kGiven[] = {"芳", "伟",   "娜",   "敏", "静",   "丽",   "强",   "磊",
                                  "军", "洋",   "勇",   "艳", "杰",   "娟",   "涛",   "明",
                                  "超", "秀英", "霞",   "平", "刚",   "桂英", "建华", "文",
                                  "华", "金凤", "玉兰", "红", "建国", "国强"};

struct PersonKey {
  std::string name;
  v1::Date birth;
};

// Person i: a valid ID of 620102 born on day i/500 after 1950-01-01 with
// sequence i%500, and a name from the pools above (seeded).
std::vector<PersonKey> WritePersons(storage::Writer* writer, int n) {
  std::mt19937 rng(20261206);
  std::vector<PersonKey> keys;
  keys.reserve(n);
  const absl::CivilDay first(1950, 1, 1);
  std::vector<storage::RecordChange> batch;
  const auto start = SteadyClock::now();
  for (int i = 0; i < n; ++i) {
    const absl::CivilDay day = first + i / 500;
    char birth[16];
    std::snprintf(birth, sizeof(birth), "%04d%02d%02d", static_cast<int>(day.year()), day.month(),
                  day.day());
    const std::string id = testutil::MakeId("620102", birth, i % 500);
    std::string name = absl::StrCat(kSurnames[rng() % 20], kGiven[rng() % 30], kGiven[rng() % 30]);
    storage::RecordChange c = testutil::Basics(id, name);
    *c.value.mutable_person_basics()->mutable_birth_date() =
        testutil::Day(static_cast<int>(day.year()), day.month(), day.day());
    keys.push_back({name, c.value.person_basics().birth_date()});
    batch.push_back(std::move(c));
    if (batch.size() == 10000 || i + 1 == n) {
      for (const auto& r : writer->AppendAll(batch)) {
        if (!r.ok()) Die(absl::StrCat("writing persons: ", r.status().ToString()));
      }
      batch.clear();
    }
  }
  std::printf("wrote %d persons in %.1f s\n", n, Seconds(SteadyClock::now() - start));
  return keys;
}

struct Client {
  std::unique_ptr<httplib::SSLClient> http;
  std::string cookie, csrf, origin;
};

Client SignIn(const std::string& dir, const std::string& code, int port) {
  const std::string ops = dir + "/" + code + "/operators/";
  const std::string who = code == "000000" ? "admin" : "clerk";
  Client c;
  c.http = std::make_unique<httplib::SSLClient>("127.0.0.1", port, ops + who + ".crt",
                                                ops + who + ".key");
  c.http->set_ca_cert_path((dir + "/" + code + "/tls/ca.crt").c_str());
  c.http->enable_server_certificate_verification(true);
  c.http->set_keep_alive(true);
  c.http->set_tcp_nodelay(true);
  c.http->set_read_timeout(60);
  c.origin = absl::StrCat("https://127.0.0.1:", port);
  std::string password = Read(ops + who + ".password");
  while (!password.empty() && password.back() == '\n') password.pop_back();
  auto res = c.http->Post("/api/login", {{"Origin", c.origin}},
                          absl::StrCat("{\"password\":\"", password, "\"}"), "application/json");
  if (!res || res->status != 200) Die(absl::StrCat("sign-in at ", code, " failed"));
  const std::string set = res->get_header_value("Set-Cookie");
  c.cookie = set.substr(0, set.find(';'));
  c.csrf = res->body.substr(res->body.find("\"csrf\":\"") + 8, 64);
  return c;
}

// `sessions` clients, each signed in, each sending `requests` calls made
// by `body(client, i)`; returns the latencies in milliseconds.
std::vector<double> Load(const std::string& dir, const std::string& code, int port, int sessions,
                         int requests, const std::string& method,
                         const std::function<std::string(int, int)>& body) {
  std::vector<Client> clients;
  for (int s = 0; s < sessions; ++s) clients.push_back(SignIn(dir, code, port));
  std::vector<std::vector<double>> took(sessions);
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  const auto start = SteadyClock::now();
  for (int s = 0; s < sessions; ++s) {
    threads.emplace_back([&, s] {
      Client& c = clients[s];
      for (int i = 0; i < requests; ++i) {
        const auto t0 = SteadyClock::now();
        auto res =
            c.http->Post(("/api/call/" + method).c_str(),
                         {{"Origin", c.origin}, {"Cookie", c.cookie}, {"X-CSRF-Token", c.csrf}},
                         body(s, i), "application/json");
        took[s].push_back(1000 * Seconds(SteadyClock::now() - t0));
        if (!res || res->status != 200) {
          if (failed++ == 0) {
            std::fprintf(stderr, "%s: %d %s\n", method.c_str(), res ? res->status : -1,
                         res ? res->body.c_str() : httplib::to_string(res.error()).c_str());
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double secs = Seconds(SteadyClock::now() - start);
  std::vector<double> all;
  for (auto& v : took) all.insert(all.end(), v.begin(), v.end());
  std::printf(
      "%-14s %d sessions x %d calls: p50 %.1f ms, p99 %.1f ms, max %.1f ms, %.0f calls/s%s\n",
      method.c_str(), sessions, requests, Percentile(all, 0.5), Percentile(all, 0.99),
      Percentile(all, 1.0), all.size() / secs,
      failed ? absl::StrCat(", ", failed.load(), " FAILED").c_str() : "");
  return all;
}

std::string LoadAverage() {
  std::string s = Read("/proc/loadavg");
  return s.substr(0, s.find(' ', s.find(' ', s.find(' ') + 1) + 1));
}

}  // namespace
}  // namespace tongban::bench

int main(int argc, char** argv) {
  using namespace tongban;
  using namespace tongban::bench;
  if (argc < 2) Die("usage: tongban_console_bench BUILD_DIR [--persons N] [--requests N] ...");
  const std::string build = argv[1];
  int persons = 1000000, requests = 40, sessions = 50, peers = 2850;
  std::string suite_name = "intl";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    int* target = flag == "--persons"    ? &persons
                  : flag == "--requests" ? &requests
                  : flag == "--sessions" ? &sessions
                  : flag == "--peers"    ? &peers
                                         : nullptr;
    if (flag == "--suite") {
      suite_name = argv[i + 1];
    } else if (target == nullptr || !absl::SimpleAtoi(argv[i + 1], target)) {
      Die(absl::StrCat("bad flag ", flag));
    }
  }
  const crypto::SuiteId suite = suite_name == "gm" ? crypto::SuiteId::kGm : crypto::SuiteId::kIntl;
  char tmpl[] = "/tmp/tongban-console-bench.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string source = TB_SOURCE_DIR;
  const int base = testutil::FreePortBlock(4);
  if (base <= 0) Die("no free loopback ports");
  if (Run({"/bin/bash", source + "/tools/federation-setup.sh", build, dir, suite_name,
           absl::StrCat(base), "000000", "620102"}) != 0) {
    Die("federation setup failed");
  }
  ExtendRoster(dir, source, suite, peers);
  auto start = [&](const std::string& code) {
    node::Config c = Must(node::LoadConfig(dir + "/" + code + "/tongband.conf"), "config");
    c.console_listen = "127.0.0.1:0";
    c.console_assets = source + "/console/assets";
    if (code != "000000") c.admin_listen = "127.0.0.1:0";
    return Must(daemon::Daemon::Start(c, RealClock()), "start " + code);
  };
  std::unique_ptr<daemon::Daemon> national = start("000000");
  std::unique_ptr<daemon::Daemon> county = start("620102");
  std::printf(
      "%d cores; tongban_console_bench %s --persons %d --requests %d --sessions %d "
      "--peers %d --suite %s\n",
      static_cast<int>(std::thread::hardware_concurrency()), build.c_str(), persons, requests,
      sessions, peers, suite_name.c_str());
  std::printf("roster: %d nodes; national console :%d, county console :%d\n",
              national->node().roster().roster().nodes().size(), national->console_port(),
              county->console_port());
  std::vector<PersonKey> keys = WritePersons(county->node().writer(), persons);
  // Let the write burst's flushes settle before measuring reads.
  if (absl::Status f = county->node().store()->Flush(); !f.ok()) Die(f.ToString());

  // The fleet view is computed by housekeeping every 2 s.
  for (int i = 0; i < 600 && national->node().fleet() == nullptr; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const char* sorts[] = {"FLEET_SORT_CODE", "FLEET_SORT_LAST_SEEN", "FLEET_SORT_BEHIND_OUTBOUND",
                         "FLEET_SORT_LOG_SIZE", "FLEET_SORT_NAME"};
  auto fleet_body = [&](int s, int i) {
    return absl::StrCat("{\"sort\":\"", sorts[(s + i) % 5],
                        "\",\"descending\":", (i % 2 ? "true" : "false"),
                        ",\"offset\":", ((s * 7 + i) % 57) * 50, ",\"limit\":50}");
  };
  // A person written earlier, picked by session and call (no shared state).
  auto search_body = [&](int s, int i) {
    const PersonKey& k = keys[(static_cast<size_t>(s) * 7919 + static_cast<size_t>(i) * 104729 +
                               static_cast<size_t>(s * i) * 31) %
                              keys.size()];
    return absl::StrCat("{\"name\":\"", k.name, "\",\"birth_date\":{\"year\":", k.birth.year(),
                        ",\"month\":", k.birth.month(), ",\"day\":", k.birth.day(),
                        "},\"reason\":\"benchmark\"}");
  };
  // One session first: the service time without queueing.
  Load(dir, "000000", national->console_port(), 1, requests, "Fleet", fleet_body);
  Load(dir, "620102", county->console_port(), 1, requests, "SearchPersons", search_body);
  std::printf("load average before: %s\n", LoadAverage().c_str());
  Load(dir, "000000", national->console_port(), sessions, requests, "Fleet", fleet_body);
  std::printf("load average: %s\n", LoadAverage().c_str());
  Load(dir, "000000", national->console_port(), std::min(sessions, 10), 5, "Peers",
       [](int, int) { return std::string("{}"); });
  std::printf("load average: %s\n", LoadAverage().c_str());
  Load(dir, "620102", county->console_port(), sessions, requests, "SearchPersons", search_body);
  std::printf("load average: %s\n", LoadAverage().c_str());
  county.reset();
  national.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
