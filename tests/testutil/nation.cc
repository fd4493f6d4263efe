#include "tests/testutil/nation.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "common/clock.h"
#include "common/crypto/key_file.h"
#include "common/ids/citizen_id.h"
#include "common/ids/region.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"
#include "node/local_node.h"
#include "sync/feed.h"
#include "sync/roster.h"

extern char** environ;

namespace tongban::testutil {
namespace {

constexpr char kNational[] = "000000";

std::string Id(absl::string_view region, absl::CivilDay birth, int sequence) {
  const std::string first17 = absl::StrFormat("%s%04d%02d%02d%03d", region, birth.year(),
                                              birth.month(), birth.day(), sequence % 1000);
  return first17 + ids::CheckCharacter(first17);
}

v1::Date Date(int y, int m, int d) {
  v1::Date date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

// Event `i` (from 0) of the county numbered `index` (code `code`).
storage::RecordChange Change(const std::string& code, size_t index, size_t i,
                             const NationOptions& o) {
  // Distinct persons per county: the birth day follows the county's index,
  // the sequence digits the event's number.
  const absl::CivilDay birth =
      absl::CivilDay(1960, 1, 1) + static_cast<int>(index % 20000) + static_cast<int>(i / 2000);
  storage::RecordChange c;
  if (o.inflow_every > 0 && i % o.inflow_every == o.inflow_every - 1) {
    // A migrant from the real county registers here (流入登记).
    c.person = Id(o.real_county, birth, static_cast<int>(i / o.inflow_every));
    c.kind = v1::RECORD_KIND_INFLOW;
    c.record_id = absl::StrCat("inflow-", i);
    v1::InflowRegistration* in = c.value.mutable_inflow();
    in->set_origin_county(o.real_county);
    *in->mutable_arrived_on() = Date(2026, 3, 1);
    *in->mutable_registered_on() = Date(2026, 3, 10);
    in->set_address("simulated address");
    return c;
  }
  // A person born here (人员基本信息), then a service to that person.
  const int person = static_cast<int>(i / 2);
  c.person = Id(code, birth, person);
  if (i % 2 == 0) {
    c.kind = v1::RECORD_KIND_PERSON_BASICS;
    c.record_id = "basics";
    v1::PersonBasics* p = c.value.mutable_person_basics();
    p->set_name("simulated");
    p->set_sex((c.person[16] - '0') % 2 == 1 ? v1::SEX_MALE : v1::SEX_FEMALE);
    *p->mutable_birth_date() = Date(static_cast<int>(birth.year()), birth.month(), birth.day());
    p->set_hukou_region(code);
    p->set_hukou_address("simulated address");
  } else {
    c.kind = v1::RECORD_KIND_SERVICE;
    c.record_id = absl::StrCat("svc-", i);
    v1::ServiceRecord* s = c.value.mutable_service();
    s->set_type(v1::SERVICE_TYPE_HEALTH_CHECK);
    *s->mutable_delivered_on() = Date(2026, 4, 1);
    s->set_provider_county(code);
  }
  return c;
}

// Makes the county's log in a LocalNode under `scratch` and reads it out;
// adds the county's signing key to `entry`.
absl::Status MakeLog(const NationOptions& o, size_t index, const std::string& scratch,
                     SimCounty* county, v1::NodeEntry* entry) {
  if (o.batches == 0) {  // no log: a signing key is all the roster needs
    TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PrivateKey> key,
                        crypto::GetSuite(o.suite).GenerateKey());
    v1::SigningKey* k = entry->add_signing_keys();
    k->set_suite(std::string(crypto::SuiteName(o.suite)));
    k->set_spki_der(key->public_key().SpkiDer());
    k->set_key_id(key->public_key().KeyId());
    return absl::OkStatus();
  }
  node::LocalNodeOptions options;
  options.data_dir = scratch;
  options.suite = o.suite;
  options.writer.node = county->code;
  TB_ASSIGN_OR_RETURN(std::unique_ptr<node::LocalNode> local,
                      node::LocalNode::Open(options, RealClock()));
  // One batch per group of events: each read right after the checkpoint
  // that covers the group, as a county's sender reads whatever is new.
  size_t next = 0;
  sync::PeerPosition position;
  sync::FeedLimits limits;
  for (size_t b = 0; b < o.batches; ++b) {
    std::vector<storage::RecordChange> changes;
    for (size_t k = 0; k < o.batch_events; ++k) {
      changes.push_back(Change(county->code, index, next++, o));
    }
    for (absl::StatusOr<storage::Appended>& r : local->writer()->AppendAll(changes)) {
      if (!r.ok()) return r.status();
      for (const std::string& peer : r->audience) {
        if (peer == o.real_county) county->routed_to_real.push_back(r->id.seq());
      }
    }
    TB_RETURN_IF_ERROR(
        local->writer()->WaitForCheckpoint(local->writer()->stats().last_seq, absl::Seconds(60)));
    while (true) {
      TB_ASSIGN_OR_RETURN(
          std::optional<v1::Batch> batch,
          sync::ReadContiguous(*local->store(), local->writer()->log(), position, limits));
      if (!batch.has_value()) break;
      county->epoch = batch->epoch();
      position.cursor = position.checkpoint_size = batch->events().rbegin()->seq();
      v1::SyncMessage m;
      *m.mutable_batch() = *std::move(batch);
      county->batches.push_back(m.SerializeAsString());
      county->batch_end.push_back(position.cursor);
    }
  }
  if (county->events() != local->writer()->stats().last_seq) {
    return absl::InternalError(absl::StrCat("county ", county->code, ": read ", county->events(),
                                            " events of ", local->writer()->stats().last_seq));
  }
  const crypto::PublicKey& key = local->signing_key().public_key();
  v1::SigningKey* k = entry->add_signing_keys();
  k->set_suite(std::string(crypto::SuiteName(o.suite)));
  k->set_spki_der(key.SpkiDer());
  k->set_key_id(key.KeyId());
  local.reset();
  std::filesystem::remove_all(scratch);
  return absl::OkStatus();
}

v1::NodeEntry Entry(const std::string& code, const std::string& endpoint) {
  v1::NodeEntry e;
  e.set_code(code);
  e.set_name(absl::StrCat("node ", code));
  e.set_role(code == kNational ? v1::NodeEntry::ROLE_NATIONAL : v1::NodeEntry::ROLE_COUNTY);
  if (!endpoint.empty()) e.add_endpoints(endpoint);
  e.set_status(v1::NodeEntry::NODE_STATUS_ACTIVE);
  return e;
}

// A real node's folder: certificate, keys (a LocalNode made them) and
// config. Returns the config's path.
absl::StatusOr<std::string> RealNode(const NationOptions& o, const std::string& code,
                                     const pki::KeyAndCertificate& ca, v1::NodeEntry* entry) {
  const std::string dir = absl::StrCat(o.dir, "/", code);
  std::filesystem::create_directories(dir + "/tls");
  pki::NodeCertOptions co;
  co.node_code = code;
  co.ip_addresses = {"127.0.0.1"};
  co.now = absl::Now();
  TB_ASSIGN_OR_RETURN(pki::KeyAndCertificate issued,
                      pki::IssueNodeCertificate(ca.key, ca.cert, co));
  TB_RETURN_IF_ERROR(pki::WriteCertificateFile(issued.cert, dir + "/tls/node.crt"));
  TB_RETURN_IF_ERROR(pki::WriteTlsKeyFile(issued.key, dir + "/tls/node.key"));
  {
    node::LocalNodeOptions options;
    options.data_dir = dir + "/data";
    options.suite = o.suite;
    options.writer.node = code;
    TB_ASSIGN_OR_RETURN(std::unique_ptr<node::LocalNode> local,
                        node::LocalNode::Open(options, RealClock()));
    const crypto::PublicKey& key = local->signing_key().public_key();
    v1::SigningKey* k = entry->add_signing_keys();
    k->set_suite(std::string(crypto::SuiteName(o.suite)));
    k->set_spki_der(key.SpkiDer());
    k->set_key_id(key.KeyId());
  }
  const bool national = code == kNational;
  std::ofstream(dir + "/tongband.conf")
      << "[node]\ncode = \"" << code << "\"\nrole = \"" << (national ? "national" : "county")
      << "\"\nsuite = \"" << crypto::SuiteName(o.suite) << "\"\ndata_dir = \"data\"\n\n"
      << "[federation]\nroster = \"../roster.signed\"\nroot_public_key = \"../root.pub\"\n"
      << "ca = \"../ca.crt\"\ncertificate = \"tls/node.crt\"\nprivate_key = \"tls/node.key\"\n\n"
      // The national node's memory as deploy/tongband.national.conf sizes it.
      << (national ? "[storage]\nwrite_buffer_mib = 128\ncache_mib = 64\n\n" : "")
      << "[peer]\nlisten = \"127.0.0.1:" << (national ? o.national_port : 0) << "\"\n"
      << "session_workers = " << o.session_workers << "\n\n"
      << "[sync]\nretry_initial = \"200ms\"\nretry_max = \"5s\"\n\n"
      << "[log]\nlevel = \"warning\"\n";
  return dir + "/tongband.conf";
}

}  // namespace

absl::Status ChildProcess::Start(const std::vector<std::string>& argv, const std::string& log) {
  if (pid_ > 0) return absl::FailedPreconditionError("the child is running");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int e = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (e != 0) return absl::InternalError(absl::StrCat("posix_spawn ", argv[0], ": error ", e));
  pid_ = pid;
  return absl::OkStatus();
}

int ChildProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

absl::StatusOr<ProcessSample> SampleProcess(int pid) {
  ProcessSample out;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  if (!status) return absl::NotFoundError(absl::StrCat("no process ", pid));
  std::string line;
  auto number = [](const std::string& l) {
    uint64_t v = 0;
    for (char c : l) {
      if (c >= '0' && c <= '9') v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
  };
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) out.rss_kb = number(line);
    if (line.rfind("VmHWM:", 0) == 0) out.hwm_kb = number(line);
    if (line.rfind("Threads:", 0) == 0) out.threads = number(line);
  }
  // Context switches are per thread: the sum over /proc/PID/task/*.
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    std::ifstream t(task.path() / "status");
    while (std::getline(t, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) out.voluntary_switches += number(line);
      if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        out.involuntary_switches += number(line);
      }
    }
  }
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return absl::InternalError("unreadable /proc/PID/stat");
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14 || i == 15) out.cpu_ticks += std::stoull(f);
  }
  return out;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

std::vector<std::string> SimCountyCodes(size_t n, const std::set<std::string>& exclude) {
  std::vector<std::string> codes;
  for (int c = 110000; c < 830000 && codes.size() < n; ++c) {
    const std::string code = absl::StrFormat("%06d", c);
    const std::optional<ids::Region> r = ids::FindRegion(code);
    if (!r.has_value() || !r->current || r->level != ids::RegionLevel::kCounty) continue;
    if (exclude.count(code) > 0 || !ids::ValidateNodeCode(code).ok()) continue;
    codes.push_back(code);
  }
  return codes;
}

absl::StatusOr<Nation> MakeNation(const NationOptions& o) {
  const crypto::Suite& suite = crypto::GetSuite(o.suite);
  std::filesystem::create_directories(o.dir);
  Nation nation;
  nation.target = absl::StrCat("127.0.0.1:", o.national_port);
  pki::CaOptions ca_options;
  ca_options.now = absl::Now();
  TB_ASSIGN_OR_RETURN(pki::KeyAndCertificate ca, pki::CreateCa(ca_options));
  TB_RETURN_IF_ERROR(pki::WriteCertificateFile(ca.cert, o.dir + "/ca.crt"));
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PrivateKey> root, suite.GenerateKey());
  TB_RETURN_IF_ERROR(crypto::WritePublicKeyFile(root->public_key(), o.dir + "/root.pub"));

  v1::Roster roster;
  roster.set_version(1);
  roster.set_federation("simulated nation");
  roster.set_issued_at_micros(absl::ToUnixMicros(absl::Now()));
  v1::NodeEntry national = Entry(kNational, nation.target);
  TB_ASSIGN_OR_RETURN(nation.national_config, RealNode(o, kNational, ca, &national));
  nation.national_data = absl::StrCat(o.dir, "/", kNational, "/data");
  v1::NodeEntry real = Entry(o.real_county, "");
  TB_ASSIGN_OR_RETURN(nation.real_config, RealNode(o, o.real_county, ca, &real));
  *roster.add_nodes() = national;
  *roster.add_nodes() = real;

  const std::vector<std::string> codes = SimCountyCodes(o.counties, {o.real_county});
  if (codes.size() < o.counties) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the region table has ", codes.size(), " current county-level codes, not ", o.counties));
  }
  std::string scratch = o.scratch;
  if (scratch.empty()) {
    std::string tmpl = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm/tongban-nation-XXXXXX"
                                                       : o.dir + "/scratch-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp for the scratch");
    scratch = tmpl;
  }
  nation.counties.resize(codes.size());
  std::vector<v1::NodeEntry> entries(codes.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  absl::Status failed;
  auto work = [&] {
    for (size_t i = next++; i < codes.size(); i = next++) {
      SimCounty& county = nation.counties[i];
      county.code = codes[i];
      entries[i] = Entry(codes[i], "");
      pki::NodeCertOptions co;
      co.node_code = codes[i];
      co.now = absl::Now();
      absl::Status s;
      absl::StatusOr<pki::KeyAndCertificate> issued =
          pki::IssueNodeCertificate(ca.key, ca.cert, co);
      if (issued.ok()) {
        absl::StatusOr<std::string> key = issued->key.PrivatePem();
        if (key.ok()) {
          county.tls = {ca.cert.Pem(), issued->cert.Pem(), *std::move(key)};
          s = MakeLog(o, i, absl::StrCat(scratch, "/", codes[i]), &county, &entries[i]);
        } else {
          s = key.status();
        }
      } else {
        s = issued.status();
      }
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (failed.ok())
          failed = absl::Status(s.code(), absl::StrCat("county ", codes[i], ": ", s.message()));
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::max<size_t>(1, o.threads); ++t) threads.emplace_back(work);
  for (std::thread& t : threads) t.join();
  if (o.scratch.empty()) std::filesystem::remove_all(scratch);
  TB_RETURN_IF_ERROR(failed);
  for (v1::NodeEntry& e : entries) *roster.add_nodes() = std::move(e);

  TB_ASSIGN_OR_RETURN(v1::SignedRoster signed_roster, sync::SignRoster(roster, *root));
  TB_RETURN_IF_ERROR(
      crypto::WriteNewFile(o.dir + "/roster.signed", signed_roster.SerializeAsString(), 0644));
  return nation;
}

}  // namespace tongban::testutil
