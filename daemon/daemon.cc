#include "daemon/daemon.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "admin/admin.h"
#include "admin/admin_server.h"
#include "admin/auth.h"
#include "admin/operators.h"
#include "common/crypto/kdf.h"
#include "common/crypto/key_file.h"
#include "common/crypto/suite.h"
#include "common/log.h"
#include "common/pki/pki.h"
#include "common/process_metrics.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "console/server.h"
#include "daemon/metrics_http.h"

namespace tongban::daemon {
namespace {

constexpr absl::Duration kRememberPassword = absl::Minutes(2);

// Remembers recent successful (certificate, password) checks, as a keyed
// hash, so that each call does not pay the PBKDF2 again. A remembered check
// holds only while the accounts are as they were when it was made (their
// generation, admin/operators.h): a disabled account or a reset password
// takes effect at the operator's next call, not after the memo expires.
class PasswordMemo {
 public:
  // Fails if the system gives no random bytes for the memo's key.
  static absl::StatusOr<std::unique_ptr<PasswordMemo>> Create(crypto::SuiteId suite,
                                                              const Clock* clock) {
    absl::StatusOr<std::string> key = crypto::RandomBytes(32);
    if (!key.ok()) return Prefixed("password memo key", key.status());
    return std::unique_ptr<PasswordMemo>(new PasswordMemo(suite, clock, *std::move(key)));
  }

  // The memo's key for (cert, password), or nullopt if it cannot be computed
  // (the password is then checked in full, and not remembered).
  std::optional<std::string> Key(const pki::Certificate& cert, absl::string_view password) const {
    absl::StatusOr<std::string> mac =
        crypto::Hmac(suite_, key_, absl::StrCat(cert.Sha256Fingerprint(), "\n", password));
    if (!mac.ok()) return std::nullopt;
    return *std::move(mac);
  }

  std::optional<admin::Operator> Find(const std::string& key, uint64_t generation) {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    if (clock_->Now() > it->second.until || it->second.generation != generation) {
      entries_.erase(it);
      return std::nullopt;
    }
    return it->second.op;
  }

  // `generation`: the accounts' generation read before the check was made.
  void Remember(const std::string& key, const admin::Operator& op, uint64_t generation) {
    absl::MutexLock lock(&mu_);
    if (entries_.size() > 1000) entries_.clear();  // bounded
    entries_[key] = {op, clock_->Now() + kRememberPassword, generation};
  }

 private:
  PasswordMemo(crypto::SuiteId suite, const Clock* clock, std::string key)
      : suite_(suite), clock_(clock), key_(std::move(key)) {}

  const crypto::SuiteId suite_;
  const Clock* const clock_;
  const std::string key_;  // random per process: the memo dies with it
  absl::Mutex mu_;
  struct Entry {
    admin::Operator op;
    absl::Time until;
    uint64_t generation = 0;
  };
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// "127.0.0.1:9464" -> ("127.0.0.1", 9464).
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(endpoint.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", endpoint, "\" is not host:port"));
  }
  std::string host = endpoint.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, port);
}

// The label of tongban_admin_login_failures_total for an authenticator's
// reason (admin/auth.h): a small fixed set, never the operator's name.
std::string LoginFailureReason(absl::string_view reason) {
  if (absl::StartsWith(reason, "locked")) return "locked_out";
  if (absl::StartsWith(reason, "certificate")) return "certificate";
  if (absl::StrContains(reason, "no such account")) return "unknown_account";
  if (absl::StrContains(reason, "account disabled")) return "disabled";
  if (absl::StrContains(reason, "certificate role differs")) return "certificate";
  if (absl::StrContains(reason, "password")) return "password";
  if (absl::StrContains(reason, "totp")) return "totp";
  return "other";
}

// tongban_certificate_expiry_timestamp_seconds: the notAfter of every
// certificate the node uses, as a Unix time (the Prometheus convention for a
// point in time; an alert subtracts time()). "node" is the node's TLS
// certificate, which also serves the Admin service and the console;
// "federation_ca" the CA its peers' certificates chain to; "operator_ca" the
// operators' CA when [admin] operator_ca is set. Certificates are read at
// start, so the values change only with a restart (as the certificates do).
absl::Status RegisterCertificateMetrics(const node::Config& config, const node::Node& node,
                                        metrics::Registry* r) {
  TB_ASSIGN_OR_RETURN(
      metrics::GaugeFamily * expiry,
      r->AddGauge("tongban_certificate_expiry_timestamp_seconds",
                  "When each certificate this node uses expires (notAfter, Unix seconds): node "
                  "(its TLS certificate, also the Admin and console server's), federation_ca, "
                  "operator_ca.",
                  {"certificate"}));
  std::vector<std::pair<std::string, std::string>> pems = {{"node", node.tls().cert_pem},
                                                           {"federation_ca", node.tls().ca_pem}};
  if (!config.operator_ca.empty()) {
    TB_ASSIGN_OR_RETURN(std::string pem,
                        crypto::ReadSmallFile(config.operator_ca, /*secret=*/false));
    pems.emplace_back("operator_ca", std::move(pem));
  }
  for (const auto& [name, pem] : pems) {
    absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromPem(pem);
    if (!cert.ok()) return Prefixed(absl::StrCat("the ", name, " certificate"), cert.status());
    expiry->WithLabels({name})->Set(static_cast<double>(absl::ToUnixSeconds(cert->not_after())));
  }
  return absl::OkStatus();
}

// Process metrics, the build and the node's identity, on `r`.
absl::Status RegisterDaemonMetrics(const node::Config& config, metrics::Registry* r) {
  TB_RETURN_IF_ERROR(metrics::RegisterProcessMetrics(r));
  TB_ASSIGN_OR_RETURN(
      metrics::GaugeFamily * build,
      r->AddGauge("tongban_build_info",
                  "Always 1; the labels name the version and commit tongband was built from.",
                  {"version", "commit"}));
  build->WithLabels({Version(), Commit()})->Set(1);
  TB_ASSIGN_OR_RETURN(metrics::GaugeFamily * info,
                      r->AddGauge("tongban_node_info",
                                  "Always 1; the labels name this node's code, role and suite.",
                                  {"code", "role", "suite"}));
  info->WithLabels({config.code, std::string(node::NodeRoleName(config.role)),
                    std::string(crypto::SuiteName(config.suite))})
      ->Set(1);
  return absl::OkStatus();
}

}  // namespace

struct Daemon::Impl {
  // The operator surface, when operators are configured: accounts,
  // authentication, the Admin logic and its gRPC service, and the console.
  absl::Status StartOperatorSurface(const node::Config& config, const Clock* clock,
                                    node::Node* node);
  absl::Status StartAuthentication(const node::Config& config, const Clock* clock, node::Node* node,
                                   const pki::Certificate& ca);
  // How the Admin service and the console sign operators in (alike).
  admin::AdminServer::Authenticate OperatorSignIn(node::Node* node);
  absl::Status StartAdminServer(const node::Config& config, node::Node* node,
                                const std::string& ca_pem);
  absl::Status StartConsole(const node::Config& config, const Clock* clock, node::Node* node,
                            const std::string& ca_pem);
  absl::Status StartMetrics(const node::Config& config, node::Node* node);

  std::unique_ptr<admin::OperatorAccounts> accounts;
  std::unique_ptr<admin::Authenticator> authenticator;
  std::unique_ptr<PasswordMemo> memo;
  metrics::CounterFamily* login_failures = nullptr;  // owned by the node's registry
  std::unique_ptr<admin::AdminApi> api;
  admin::AdminServer::Authenticate authenticate;
  std::unique_ptr<admin::AdminServer> admin;
  std::unique_ptr<console::ConsoleServer> console;
  std::unique_ptr<MetricsHttpServer> metrics;
};

absl::Status Daemon::Impl::StartOperatorSurface(const node::Config& config, const Clock* clock,
                                                node::Node* node) {
  TB_ASSIGN_OR_RETURN(std::string ca_pem,
                      crypto::ReadSmallFile(config.operator_ca, /*secret=*/false));
  absl::StatusOr<pki::Certificate> ca = pki::Certificate::FromPem(ca_pem);
  if (!ca.ok()) return Prefixed(config.operator_ca, ca.status());
  TB_RETURN_IF_ERROR(StartAuthentication(config, clock, node, *ca));
  api = std::make_unique<admin::AdminApi>(
      node, [node](const std::string& person) { return node->AskNationalWhere(person); },
      admin::AccountControl{accounts.get(), authenticator.get()});
  authenticate = OperatorSignIn(node);
  TB_RETURN_IF_ERROR(StartAdminServer(config, node, ca_pem));
  if (!config.console_listen.empty()) {
    TB_RETURN_IF_ERROR(StartConsole(config, clock, node, ca_pem));
  }
  return absl::OkStatus();
}

absl::Status Daemon::Impl::StartAuthentication(const node::Config& config, const Clock* clock,
                                               node::Node* node, const pki::Certificate& ca) {
  TB_ASSIGN_OR_RETURN(accounts, admin::OperatorAccounts::Open(config.operators));
  if (accounts->List().empty()) {
    TB_LOG(WARNING) << "no operator accounts in " << config.operators
                    << ": add one with tongbanctl operator add";
  }
  admin::AuthOptions auth;
  auth.county = config.code;
  auth.suite = config.suite;
  auth.max_failures = static_cast<int>(config.lockout_failures);
  auth.lockout = config.lockout_period;
  // Lock-out state in the node's store: a restart lifts no lock-out.
  authenticator =
      std::make_unique<admin::Authenticator>(accounts.get(), ca, clock, auth, node->store());
  TB_ASSIGN_OR_RETURN(memo, PasswordMemo::Create(config.suite, clock));
  TB_ASSIGN_OR_RETURN(
      login_failures,
      node->metrics().AddCounter("tongban_admin_login_failures_total",
                                 "Refused Admin logins, by reason (certificate, unknown_account, "
                                 "disabled, locked_out, password, totp); never by operator.",
                                 {"reason"}));
  for (const char* reason :
       {"certificate", "unknown_account", "disabled", "locked_out", "password", "totp"}) {
    login_failures->WithLabels({reason});  // present at 0 from the start
  }
  return absl::OkStatus();
}

admin::AdminServer::Authenticate Daemon::Impl::OperatorSignIn(node::Node* node) {
  return [i = this, node](const pki::Certificate& cert, const std::string& password,
                          const std::string& totp) -> absl::StatusOr<admin::Operator> {
    const std::optional<std::string> key =
        totp.empty() ? i->memo->Key(cert, password) : std::nullopt;
    // Read before the check, so a change during it makes the memo stale.
    const uint64_t generation = i->accounts->generation();
    if (key.has_value()) {
      if (std::optional<admin::Operator> op = i->memo->Find(*key, generation); op.has_value()) {
        return *op;
      }
    }
    std::string reason;
    absl::StatusOr<admin::AuthenticatedOperator> op =
        i->authenticator->Authenticate(cert, password, totp, &reason);
    if (!op.ok()) {
      // Audited with the factor that failed; the caller is told nothing.
      absl::StatusOr<pki::OperatorIdentity> who = pki::OperatorFromCertificate(cert);
      admin::AuthenticatedOperator unknown;
      unknown.name = who.ok() ? who->name : "(unknown)";
      unknown.county = who.ok() ? who->county : "";
      storage::AuditEntry entry =
          admin::OperatorAuditEntry(unknown, "operator.login", "", reason,
                                    absl::UnauthenticatedError(absl::StrCat("refused: ", reason)));
      if (who.ok()) entry.role = who->role;
      const absl::Status audited = node->audit_log()->Append(entry).status();
      if (!audited.ok()) {
        // The refusal stands and the caller learns nothing more, but an
        // attempt went unrecorded: operators must know.
        TB_LOG(ERROR) << "a refused operator login could not be audited: " << audited;
      }
      i->login_failures->WithLabels({LoginFailureReason(reason)})->Increment();
      return op.status();
    }
    if (key.has_value()) i->memo->Remember(*key, *op, generation);
    return op;
  };
}

absl::Status Daemon::Impl::StartAdminServer(const node::Config& config, node::Node* node,
                                            const std::string& ca_pem) {
  admin::AdminServer::Options options;
  options.address = config.admin_listen;
  options.cert_pem = node->tls().cert_pem;
  options.key_pem = node->tls().key_pem;
  options.operator_ca_pem = ca_pem;
  options.api = api.get();
  options.authenticate = authenticate;
  TB_ASSIGN_OR_RETURN(admin, admin::AdminServer::Start(std::move(options)));
  admin::AdminServer* server = admin.get();
  node->OnReadinessChange([server](const absl::Status& ready) { server->SetServing(ready.ok()); });
  TB_LOG(INFO) << "admin service listening port=" << admin->port();
  return absl::OkStatus();
}

absl::Status Daemon::Impl::StartConsole(const node::Config& config, const Clock* clock,
                                        node::Node* node, const std::string& ca_pem) {
  TB_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(config.console_listen));
  console::ConsoleOptions c;
  c.host = host_port.first;
  c.port = host_port.second;
  c.cert_pem = node->tls().cert_pem;
  c.key_pem = node->tls().key_pem;
  c.operator_ca_pem = ca_pem;
  c.assets_dir = config.console_assets;
  c.javascript_dir = config.console_javascript;
  c.sessions.idle = config.console_session_idle;
  c.sessions.lifetime = config.console_session_lifetime;
  c.workers = static_cast<int>(config.console_workers);
  c.read_timeout = config.console_read_timeout;
  c.keep_alive = config.console_keep_alive;
  c.authenticate = authenticate;
  c.api = api.get();
  c.clock = clock;
  c.node = config.code;
  c.node_role = std::string(node::NodeRoleName(config.role));
  TB_ASSIGN_OR_RETURN(console, console::ConsoleServer::Start(std::move(c)));
  TB_LOG(INFO) << "console listening port=" << console->port();
  return absl::OkStatus();
}

absl::Status Daemon::Impl::StartMetrics(const node::Config& config, node::Node* node) {
  TB_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(config.metrics_listen));
  MetricsHttpOptions m;
  m.address = host_port.first;
  m.port = host_port.second;
  TB_ASSIGN_OR_RETURN(
      metrics, MetricsHttpServer::Start(m, &node->metrics(), [node] { return node->Readiness(); }));
  TB_LOG(INFO) << "metrics listening port=" << metrics->port();
  return absl::OkStatus();
}

Daemon::Daemon() : impl_(std::make_unique<Impl>()) {}
Daemon::~Daemon() { Stop(); }

// The node, then the surfaces over it; Stop() ends them in reverse.
absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const node::Config& config,
                                                      const Clock* clock,
                                                      node::NodeOptions options) {
  std::unique_ptr<Daemon> d(new Daemon());
  if (options.software_version.empty()) options.software_version = Version();
  TB_ASSIGN_OR_RETURN(d->node_, node::Node::Start(config, clock, options));
  node::Node* node = d->node_.get();
  TB_RETURN_IF_ERROR(RegisterDaemonMetrics(config, &node->metrics()));
  TB_RETURN_IF_ERROR(RegisterCertificateMetrics(config, *node, &node->metrics()));
  if (!config.operator_ca.empty()) {
    TB_RETURN_IF_ERROR(d->impl_->StartOperatorSurface(config, clock, node));
  }
  if (!config.metrics_listen.empty()) {
    TB_RETURN_IF_ERROR(d->impl_->StartMetrics(config, node));
  }
  // Every surface answers by now; the caller (and systemd's READY) hears of
  // the start once the witness check at start has ended too, so that a
  // write right after Start is not refused for it. It ends within
  // witness_at_start; the slack covers the thread's scheduling.
  if (!node->WaitForStartCheck(options.witness_at_start + absl::Seconds(5))) {
    TB_LOG(WARNING) << "the witness check at start has not ended; appends wait for it";
  }
  return d;
}

void Daemon::Stop() {
  if (impl_->console != nullptr) impl_->console->Stop();
  if (impl_->admin != nullptr) impl_->admin->Stop();
  if (impl_->metrics != nullptr) impl_->metrics->Stop();
  if (node_ != nullptr) node_->Stop();
}

int Daemon::admin_port() const { return impl_->admin == nullptr ? 0 : impl_->admin->port(); }
int Daemon::console_port() const { return impl_->console == nullptr ? 0 : impl_->console->port(); }
int Daemon::metrics_port() const { return impl_->metrics == nullptr ? 0 : impl_->metrics->port(); }

}  // namespace tongban::daemon
