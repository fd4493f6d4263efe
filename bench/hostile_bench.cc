// What a peer holding a valid certificate can make a national node hold in
// memory (issue #14), measured as the node's resident memory: the node runs
// in a child process (this binary with --role=node), so its VmRSS and VmHWM
// are its own; this process is the hostile county (330106), speaking the
// Exchange protocol as bytes over mutual TLS.
//
//   flood      Hello, then --flood batches at once, ignoring the credit: the
//              first `credit` are valid contiguous batches of the hostile
//              county's own log (1,024 events of about 2.5 KiB each, so
//              about 2.5 MiB a batch, as the issue's attacker sent), the rest
//              copies of the last. The node reads no more than its
//              InputAccount allows, ends the session
//              (REJECT_REASON_OVER_CREDIT) and holds the peer.
//   oversize   one message of --oversize-mib MiB of junk: gRPC refuses it
//              (RESOURCE_EXHAUSTED, over the 4 MiB receive limit) once it has
//              received it whole; the node's peak memory meanwhile.
// Before each phase the child resets its VmHWM (/proc/self/clear_refs, 5),
// so each peak is the phase's own; the figures are the growth over the
// resident memory before the phase. One run, one line per phase per suite.
// Flags: --suites=intl,gm, --flood=80, --oversize-mib=64, --transport-mib=1024
// (the node's [peer] transport_memory_mib; 0: no quota).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto/key_file.h"
#include "common/ids/citizen_id.h"
#include "common/log.h"
#include "common/pki/pki.h"
#include "node/local_node.h"
#include "sync/feed.h"
#include "sync/peers.h"
#include "sync/transport.h"

extern char** environ;

namespace tongban {
namespace {

constexpr char kNational[] = "000000";
constexpr char kHostile[] = "330106";

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "hostile_bench: %s\n", why.c_str());
  std::exit(1);
}
template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}
void Must(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(absl::StrCat(what, ": ", s.ToString()));
}

// "VmRSS" or "VmHWM" of /proc/self/status, in KiB.
uint64_t StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      uint64_t kb = 0;
      for (char c : line) {
        if (c >= '0' && c <= '9') kb = kb * 10 + (c - '0');
      }
      return kb;
    }
  }
  return 0;
}

bool Flag(const char* arg, const char* name, std::string* out) {
  const std::string prefix = absl::StrCat("--", name, "=");
  if (std::string(arg).rfind(prefix, 0) != 0) return false;
  *out = arg + prefix.size();
  return true;
}

// --- The node (child process) ---

int NodeMain(int argc, char** argv) {
  std::string suite_name, dir, ca, cert, key, peer_pub, quota_mib = "0";
  for (int i = 1; i < argc; ++i) {
    std::string ignored;
    if (Flag(argv[i], "role", &ignored) || Flag(argv[i], "suite", &suite_name) ||
        Flag(argv[i], "dir", &dir) || Flag(argv[i], "ca", &ca) || Flag(argv[i], "cert", &cert) ||
        Flag(argv[i], "key", &key) || Flag(argv[i], "peer-pub", &peer_pub) ||
        Flag(argv[i], "transport-mib", &quota_mib)) {
      continue;
    }
    Die(absl::StrCat("node: unknown flag ", argv[i]));
  }
  const crypto::SuiteId suite_id = Must(crypto::ParseSuiteId(suite_name), "--suite");
  const crypto::Suite& suite = crypto::GetSuite(suite_id);
  node::LocalNodeOptions options;
  options.data_dir = dir;
  options.suite = suite_id;
  options.writer.node = kNational;
  options.writer.relay = true;
  std::unique_ptr<node::LocalNode> node =
      Must(node::LocalNode::Open(options, RealClock()), "node: open");
  std::unique_ptr<crypto::PublicKey> peer_key =
      Must(crypto::ReadPublicKeyFile(suite, peer_pub), "node: peer key");
  const std::string peer_key_id = peer_key->KeyId();
  sync::PeerTable peers;
  sync::ExchangeServer::Options so;
  so.tls = {Must(crypto::ReadSmallFile(ca, false), "ca"),
            Must(crypto::ReadSmallFile(cert, false), "cert"),
            Must(crypto::ReadSmallFile(key, true), "key")};
  so.writer = node->writer();
  so.transport_memory_bytes = static_cast<uint64_t>(std::stoull(quota_mib)) << 20;
  so.check = [](const std::string&) { return absl::OkStatus(); };
  so.sessions = [&](const std::string& peer) {
    auto verifier = std::make_unique<sync::BatchVerifier>(
        suite, [&](absl::string_view origin, absl::string_view key_id) {
          return origin == kHostile && key_id == peer_key_id
                     ? static_cast<const crypto::PublicKey*>(peer_key.get())
                     : nullptr;
        });
    sync::SessionOptions o;
    o.self = kNational;
    o.peers = &peers;
    return std::make_unique<sync::Session>(node->store(), node->writer(), std::move(verifier),
                                           RealClock(), o, peer);
  };
  std::unique_ptr<sync::ExchangeServer> server =
      Must(sync::ExchangeServer::Start(std::move(so)), "node: serve");
  std::printf("port %d\n", server->port());
  std::fflush(stdout);
  char line[256];
  while (std::fgets(line, sizeof line, stdin) != nullptr) {
    const std::string command(absl::StripAsciiWhitespace(line));
    if (command == "reset") {
      std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM := VmRSS
      std::printf("rss %lu\n", static_cast<unsigned long>(StatusKb("VmRSS:")));
    } else if (command == "peak") {
      const sync::PeerStatus h = peers.Get(kHostile);
      std::printf("peak %lu %lu %lu\n", static_cast<unsigned long>(StatusKb("VmHWM:")),
                  static_cast<unsigned long>(h.input_peak_bytes),
                  static_cast<unsigned long>(h.input_peak_batches));
    } else if (command == "clear") {
      sync::ClearHold(*node->store(), kHostile).IgnoreError();
      std::printf("cleared\n");
    } else {
      break;
    }
    std::fflush(stdout);
  }
  server->Stop();
  return 0;
}

// --- The hostile county (this process) ---

class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int to[2], from[2];
    if (::pipe2(to, O_CLOEXEC) != 0 || ::pipe2(from, O_CLOEXEC) != 0) Die("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, argv.data(), environ) != 0) {
      Die("posix_spawn");
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(to[0]);
    ::close(from[1]);
    in_ = to[1];
    out_ = ::fdopen(from[0], "r");
  }
  ~Child() {
    Ask("quit", false);
    ::close(in_);
    std::fclose(out_);
    ::waitpid(pid_, nullptr, 0);
  }
  // Sends `command` and returns the child's answer split into words.
  std::vector<std::string> Ask(const std::string& command, bool answer = true) {
    const std::string l = command + "\n";
    if (::write(in_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) Die("write");
    if (!answer) return {};
    return Line();
  }
  std::vector<std::string> Line() {
    char buf[512];
    if (std::fgets(buf, sizeof buf, out_) == nullptr) Die("the node exited");
    return absl::StrSplit(absl::StripAsciiWhitespace(buf), ' ');
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  FILE* out_ = nullptr;
};

uint64_t U64(const std::string& s) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(s, &v)) Die(absl::StrCat("not a number: ", s));
  return v;
}

// A session as the hostile county, on bytes.
absl::Status Session(const std::string& target, const sync::TlsIdentity& tls,
                     const std::vector<std::string>& messages) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls.ca_pem;
  ssl.pem_private_key = tls.key_pem;
  ssl.pem_cert_chain = tls.cert_pem;
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel.get(),
          grpc::internal::RpcMethod("/tongban.v1.Exchange/Sync",
                                    grpc::internal::RpcMethod::BIDI_STREAMING),
          &ctx));
  for (const std::string& m : messages) {
    grpc::Slice slice(m);
    grpc::ByteBuffer buffer(&slice, 1);
    if (!stream->Write(buffer)) break;
  }
  stream->WritesDone();
  grpc::ByteBuffer ignored;
  while (stream->Read(&ignored)) {
  }
  const grpc::Status s = stream->Finish();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

void RunSuite(crypto::SuiteId suite_id, const std::string& root, size_t flood, size_t oversize_mib,
              size_t transport_mib) {
  const std::string suite_name(crypto::SuiteName(suite_id));
  std::filesystem::create_directories(root);
  pki::CaOptions ca_options;
  ca_options.now = absl::Now();
  pki::KeyAndCertificate ca = Must(pki::CreateCa(ca_options), "create CA");
  const std::string ca_file = root + "/ca.pem";
  Must(pki::WriteCertificateFile(ca.cert, ca_file), "write CA");
  std::map<std::string, std::pair<std::string, std::string>> files;
  for (const char* code : {kNational, kHostile}) {
    pki::NodeCertOptions o;
    o.node_code = code;
    o.ip_addresses = {"127.0.0.1"};
    o.now = absl::Now();
    pki::KeyAndCertificate issued = Must(pki::IssueNodeCertificate(ca.key, ca.cert, o), "issue");
    files[code] = {absl::StrCat(root, "/", code, ".pem"), absl::StrCat(root, "/", code, ".key")};
    Must(pki::WriteCertificateFile(issued.cert, files[code].first), "cert");
    Must(pki::WriteTlsKeyFile(issued.key, files[code].second), "key");
  }
  // The hostile county's own log: 1,024 events of about 2.5 KiB per batch.
  node::LocalNodeOptions options;
  options.data_dir = root + "/hostile";
  options.suite = suite_id;
  options.writer.node = kHostile;
  std::unique_ptr<node::LocalNode> hostile =
      Must(node::LocalNode::Open(options, RealClock()), "hostile node");
  constexpr uint32_t kCredit = 4;  // SessionOptions' default
  std::vector<storage::RecordChange> changes;
  for (size_t i = 0; i < kCredit * 1024; ++i) {
    const std::string id17 = absl::StrCat(kHostile, "19850101", 100 + i % 800);
    storage::RecordChange c;
    c.person = id17 + ids::CheckCharacter(id17);
    c.kind = v1::RECORD_KIND_SERVICE;
    c.record_id = absl::StrCat("svc-", i);
    v1::ServiceRecord* s = c.value.mutable_service();
    s->set_type(v1::SERVICE_TYPE_HEALTH_CHECK);
    s->mutable_delivered_on()->set_year(2026);
    s->mutable_delivered_on()->set_month(4);
    s->mutable_delivered_on()->set_day(1);
    s->set_provider_county(kHostile);
    s->set_notes(std::string(2400, 'n'));
    changes.push_back(std::move(c));
  }
  for (const auto& r : hostile->writer()->AppendAll(changes)) Must(r.status(), "append");
  const uint64_t last = hostile->writer()->stats().last_seq;
  Must(hostile->writer()->WaitForCheckpoint(last, absl::Seconds(120)), "checkpoint");
  std::vector<std::string> valid;
  sync::PeerPosition position;
  sync::FeedLimits limits;
  limits.max_bytes = 64 << 20;  // as the attacker builds them: a checkpoint's worth
  while (valid.size() < kCredit) {
    auto batch =
        Must(sync::ReadContiguous(*hostile->store(), hostile->writer()->log(), position, limits),
             "read batch");
    if (!batch.has_value()) break;
    position.cursor = position.checkpoint_size = batch->events().rbegin()->seq();
    v1::SyncMessage m;
    *m.mutable_batch() = *std::move(batch);
    valid.push_back(m.SerializeAsString());
  }
  if (valid.empty()) Die("no batch to send");
  uint64_t valid_bytes = 0;
  for (const std::string& v : valid) valid_bytes += v.size();

  const std::vector<std::string> child_args = {
      "/proc/self/exe",
      "--role=node",
      absl::StrCat("--suite=", suite_name),
      "",  // --dir, per phase
      absl::StrCat("--ca=", ca_file),
      absl::StrCat("--cert=", files[kNational].first),
      absl::StrCat("--key=", files[kNational].second),
      absl::StrCat("--peer-pub=", root, "/hostile/signing.pub"),
      absl::StrCat("--transport-mib=", transport_mib)};
  const sync::TlsIdentity tls{Must(crypto::ReadSmallFile(ca_file, false), "ca"),
                              Must(crypto::ReadSmallFile(files[kHostile].first, false), "cert"),
                              Must(crypto::ReadSmallFile(files[kHostile].second, true), "key")};
  v1::SyncMessage hello;
  hello.mutable_hello()->set_node(kHostile);
  int phase_number = 0;
  // Runs one session of `messages` against a fresh node; prints its figures.
  auto phase = [&](const std::string& name, const std::vector<std::string>& messages) {
    std::vector<std::string> args = child_args;
    args[3] = absl::StrCat("--dir=", root, "/national-", ++phase_number);
    Child child(args);
    const std::string target = absl::StrCat("127.0.0.1:", U64(child.Line()[1]));
    uint64_t bytes = 0;
    for (const std::string& m : messages) bytes += m.size();
    const uint64_t before = U64(child.Ask("reset")[1]);
    const absl::Status ended = Session(target, tls, messages);
    const std::vector<std::string> peak = child.Ask("peak");
    std::printf(
        "%s %-8s %3zu messages, %6.1f MiB: node VmHWM +%4.0f MiB (%3.0f -> %3.0f MiB); "
        "queued input peak %5.1f MiB in %lu batches; %s\n",
        suite_name.c_str(), name.c_str(), messages.size(), bytes / 1048576.0,
        (static_cast<double>(U64(peak[1])) - static_cast<double>(before)) / 1024.0, before / 1024.0,
        U64(peak[1]) / 1024.0, U64(peak[2]) / 1048576.0, static_cast<unsigned long>(U64(peak[3])),
        ended.ToString().substr(0, 100).c_str());
    std::fflush(stdout);
  };
  std::vector<std::string> honest = {hello.SerializeAsString()};
  for (const std::string& v : valid) honest.push_back(v);
  phase("credit", honest);  // the same batches, within the credit
  std::vector<std::string> flooded = {hello.SerializeAsString()};
  for (size_t i = 0; i < flood; ++i) flooded.push_back(valid[std::min(i, valid.size() - 1)]);
  phase("flood", flooded);
  phase("oversize", {hello.SerializeAsString(), std::string(oversize_mib << 20, '\xff')});
  std::printf(
      "%s: valid batches %.2f MiB each; bound of queued input (credit %u): %.0f MiB; transport "
      "quota %zu MiB\n",
      suite_name.c_str(), valid_bytes / 1048576.0 / static_cast<double>(valid.size()), kCredit,
      (kCredit + 2) * 4.0 + 1.0, transport_mib);
}

}  // namespace
}  // namespace tongban

int main(int argc, char** argv) {
  using namespace tongban;
  SetMinLogLevel(LogLevel::kError);
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--role=node") return NodeMain(argc, argv);
  }
  std::vector<crypto::SuiteId> suites = {crypto::SuiteId::kIntl, crypto::SuiteId::kGm};
  size_t flood = 80, oversize_mib = 64, transport_mib = 1024;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (Flag(argv[i], "suites", &v)) {
      suites.clear();
      for (absl::string_view name : absl::StrSplit(v, ',')) {
        suites.push_back(Must(crypto::ParseSuiteId(name), "--suites"));
      }
    } else if (Flag(argv[i], "flood", &v)) {
      flood = U64(v);
    } else if (Flag(argv[i], "oversize-mib", &v)) {
      oversize_mib = U64(v);
    } else if (Flag(argv[i], "transport-mib", &v)) {
      transport_mib = U64(v);
    } else {
      Die(absl::StrCat("unknown flag ", argv[i]));
    }
  }
  char tmpl[] = "/tmp/tongban-hostile-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp");
  for (crypto::SuiteId s : suites) {
    RunSuite(s, absl::StrCat(tmpl, "/", crypto::SuiteName(s)), flood, oversize_mib, transport_mib);
  }
  std::filesystem::remove_all(tmpl);
  return 0;
}
