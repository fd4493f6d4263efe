#include "node/node.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto/key_file.h"
#include "common/log.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/restart.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"
#include "common/thread.h"
#include "records/workflow_state.h"
#include "storage/disk_space.h"
#include "sync/evidence.h"
#include "sync/feed.h"
#include "sync/where.h"
#include "workflows/deadlines.h"
#include "workflows/stats.h"

namespace tongban::node {
namespace {

// A dialled PeerConnection, as the driver sees it.
class ConnectionLink : public sync::DriverLink {
 public:
  explicit ConnectionLink(std::unique_ptr<sync::PeerConnection> c) : connection_(std::move(c)) {}
  std::optional<absl::Status> result() const override { return connection_->result(); }
  void Stop() override { connection_->Stop().IgnoreError(); }

 private:
  std::unique_ptr<sync::PeerConnection> connection_;
};

// The roster must list this node, and the key it signs with: in the roster,
// or introduced by a key rotation of its own log.
absl::Status CheckOwnEntry(const sync::Roster& roster, const Config& config,
                           const crypto::PrivateKey& key, const sync::SigningKeys& keys) {
  const v1::NodeEntry* self = roster.Find(config.code);
  if (self == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(config.roster, ": node ", config.code,
                                                      " is not in roster v", roster.version(),
                                                      "; add it with tongbanctl roster add-node"));
  }
  const std::string key_id = key.public_key().KeyId();
  if (keys.Find(config.code, key_id) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(config.roster, ": roster v", roster.version(), " does not list node ",
                     config.code, "'s signing key ", key_id, " (", config.data_dir,
                     "/signing.pub); add it with tongbanctl roster add-node --replace"));
  }
  if (self->status() != v1::NodeEntry::NODE_STATUS_ACTIVE) {
    TB_LOG(WARNING) << "this node is not active in roster v" << roster.version()
                    << ": peers will refuse its sessions";
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Node>> Node::Start(const Config& config, const Clock* clock,
                                                  NodeOptions options) {
  std::unique_ptr<Node> node(new Node(config, clock, options));
  node->started_ = clock->Now();
  absl::Status started = node->StartParts();
  if (!started.ok()) {
    node->Stop();
    return started;
  }
  TB_LOG(INFO) << "node started code=" << config.code << " role=" << NodeRoleName(config.role)
               << " suite=" << crypto::SuiteName(config.suite) << " roster=v"
               << node->roster_->version() << " peer_port=" << node->server_->port();
  return node;
}

// In construction order (node.h): each part needs the ones before it.
absl::Status Node::StartParts() {
  {
    // Bundles an import was reading when the process died (node/bundles.h):
    // still encrypted, and imported again from the operator's copy.
    std::error_code ec;
    std::filesystem::remove_all(absl::StrCat(config_.data_dir, "/bundle-spool"), ec);
  }
  TB_RETURN_IF_ERROR(LoadRosterAndTls());
  TB_RETURN_IF_ERROR(OpenStoreAndAudit());
  TB_RETURN_IF_ERROR(RegisterMetrics());
  TB_RETURN_IF_ERROR(StartAnalytics());
  TB_RETURN_IF_ERROR(StartServer());
  if (config_.role != NodeRole::kNational) {
    // Before the first append of this run: does the witness hold more of
    // our own log than we do (restored from an old backup)? Asked by the
    // housekeeping thread, so that nothing waits for a national node that
    // hangs; appends wait for the answer (appends_blocked()).
    std::error_code ec;
    const std::string marker = absl::StrCat(config_.data_dir, "/", kRestoredMarkerFile);
    const bool restored = std::filesystem::exists(marker, ec);
    std::optional<SignedBefore> signed_before;
    if (restored) signed_before = ReadRestoredMarker(marker, config_.code);
    absl::MutexLock lock(&mu_);
    start_check_pending_ = true;
    restored_ = restored;
    signed_before_ = signed_before;
  }
  TB_RETURN_IF_ERROR(StartDriver());
  CheckDiskSpace();
  UpdateReadiness();
  TB_ASSIGN_OR_RETURN(housekeeping_, StartThread("tb-housekeeping", [this] { Housekeeping(); }));
  TB_ASSIGN_OR_RETURN(stats_counters_, StartThread("tb-stats", [this] { FollowStatsCounters(); }));
  return absl::OkStatus();
}

void Node::FollowStatsCounters() {
  std::string last_failure;  // said once until it changes or clears
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Seconds(1));
      if (stopping_) return;
    }
    absl::StatusOr<workflows::StatsCounterProgress> p = workflows::UpdateStatsCounters(*store());
    if (!p.ok()) {
      if (p.status().ToString() != last_failure) {
        last_failure = p.status().ToString();
        TB_LOG(WARNING) << "statistics counters not updated (said again only when this "
                           "changes): "
                        << p.status();
      }
      continue;
    }
    last_failure.clear();
    if (p->rebuilt) {
      TB_LOG(INFO) << "statistics counters built from the store: " << p->persons_counted
                   << " persons";
    }
  }
}

// The analytics mirror (national node, [analytics] connection set), with
// its secret data_dir/analytics.key, made on first start.
absl::Status Node::StartAnalytics() {
  if (config_.analytics_connection.empty()) return absl::OkStatus();
  const crypto::Suite& suite = crypto::GetSuite(config_.suite);
  const std::string key_path = config_.data_dir + "/analytics.key";
  std::error_code ec;
  if (!std::filesystem::exists(key_path, ec)) {
    TB_RETURN_IF_ERROR(crypto::GenerateStorageKeyFile(suite, key_path));
  }
  analytics::MirrorOptions o;
  o.conninfo = config_.analytics_connection;
  o.batch_rows = config_.analytics_batch_size;
  o.hash_partitions = config_.analytics_hash_partitions;
  o.poll = config_.analytics_poll;
  o.retry_initial = config_.retry_initial;
  o.retry_max = std::min(config_.retry_max, absl::Minutes(1));
  o.store = store();
  o.own_log = writer()->log();
  o.suite = config_.suite;
  TB_ASSIGN_OR_RETURN(o.secret, crypto::ReadStorageKeyFile(suite, key_path));
  o.clock = clock_;
  o.metrics = &metrics_;
  TB_ASSIGN_OR_RETURN(mirror_, analytics::Mirror::Start(std::move(o)));
  return absl::OkStatus();
}

absl::Status Node::LoadRosterAndTls() {
  const Config& config = config_;
  const crypto::Suite& suite = crypto::GetSuite(config.suite);
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> root,
                      crypto::ReadPublicKeyFile(suite, config.root_public_key));
  TB_ASSIGN_OR_RETURN(roster_, sync::RosterHolder::Open(config.roster, std::move(root)));
  TB_ASSIGN_OR_RETURN(tls_.ca_pem, crypto::ReadSmallFile(config.ca, /*secret=*/false));
  TB_ASSIGN_OR_RETURN(tls_.cert_pem, crypto::ReadSmallFile(config.certificate, /*secret=*/false));
  TB_ASSIGN_OR_RETURN(tls_.key_pem, crypto::ReadSmallFile(config.private_key, /*secret=*/true));
  return absl::OkStatus();
}

absl::Status Node::OpenStoreAndAudit() {
  const Config& config = config_;
  const std::string signing_path = config.data_dir + "/signing.key";
  std::error_code ec;
  if (!std::filesystem::exists(signing_path, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        signing_path, ": no signing key; generate it with tongbanctl keys generate --suite ",
        crypto::SuiteName(config.suite), " --out ", config.data_dir, "/signing"));
  }
  const std::string storage_path = config.data_dir + "/storage.key";
  if (!std::filesystem::exists(storage_path, ec)) {
    TB_RETURN_IF_ERROR(
        crypto::GenerateStorageKeyFile(crypto::GetSuite(config.suite), storage_path));
    TB_LOG(INFO) << "created storage key " << storage_path
                 << " (keep a copy apart from the backups: they cannot be read without it)";
  }
  LocalNodeOptions local;
  local.data_dir = config.data_dir;
  local.suite = config.suite;
  local.create_keys = false;
  local.write_buffer_bytes = size_t{config.write_buffer_mib} << 20;
  local.block_cache_bytes = size_t{config.cache_mib} << 20;
  local.writer.node = config.code;
  local.writer.national = config.national;
  local.writer.retention = config.retention;
  local.writer.max_clock_ahead = config.max_clock_ahead;
  local.writer.relay = config.role == NodeRole::kNational;
  TB_ASSIGN_OR_RETURN(local_, LocalNode::Open(local, clock_));
  sync::RosterHolder* roster = roster_.get();
  signing_keys_ = std::make_unique<sync::SigningKeys>(
      local_->store(), [roster](absl::string_view origin, absl::string_view key_id) {
        return roster->FindSigningKey(origin, key_id);
      });
  TB_RETURN_IF_ERROR(
      CheckOwnEntry(roster_->current(), config, local_->signing_key(), *signing_keys_));
  storage::AuditLogOptions audit;
  audit.node_code = config.code;
  TB_ASSIGN_OR_RETURN(
      audit_, storage::AuditLog::Open(local_->store(), &local_->signing_key(), clock_, audit));
  refusals_ = std::make_unique<storage::RefusalAudit>(audit_.get(), clock_);
  return absl::OkStatus();
}

absl::Status Node::StartServer() {
  const Config& config = config_;
  sync::ExchangeServer::Options server;
  server.address = config.peer_listen;
  server.tls = tls_;
  server.transport_memory_bytes = uint64_t{config.transport_memory_mib} << 20;
  server.workers = config.session_workers;
  server.writer = writer();
  server.check = [this](const std::string& peer) { return Admit(peer); };
  server.sessions = [this](const std::string& peer) { return NewSession(peer); };
  // The expiry of what TLS verified, not of anything the peer says.
  server.admitted = [this](const std::string& peer, const std::string& cert_pem) {
    absl::StatusOr<pki::Certificate> cert = pki::Certificate::FromPem(cert_pem);
    if (cert.ok()) peers_.CertificateSeen(peer, cert->not_after());
  };
  if (config.role == NodeRole::kNational) {
    server.where = [this](const std::string& asker,
                          const std::string& person) -> absl::StatusOr<v1::WhereReply> {
      absl::StatusOr<v1::WhereReply> answer =
          sync::AnswerWhere(*store(), asker, person, clock_->Now(), config_.retention);
      const storage::AuditEntry entry =
          storage::PeerAuditEntry(asker, "person.where", person, "where-query", answer.status());
      // A refusal is aggregated with the peer's other refusals of its kind.
      absl::Status audited =
          answer.ok() ? audit_->Append(entry).status() : refusals_->Refused(entry);
      if (!audited.ok()) return audited;
      return answer;
    };
    witness_ =
        std::make_unique<sync::Witness>(store(), &local_->signing_key(), clock_, config.code);
    server.witness = [this](const std::string&, const v1::WitnessRequest& r) {
      return witness_->Answer(r);
    };
    server.roster = [this](uint64_t have) { return roster_->SignedIfNewer(have); };
    server.restart = [this](const std::string& asker, const v1::SignedRestart& r) {
      return CountersignRestart(asker, r);
    };
    server.own_log = [this](
                         const std::string& asker,
                         const v1::OwnLogRequest& r) -> absl::StatusOr<std::optional<v1::Batch>> {
      if (r.epoch() == 0) return absl::InvalidArgumentError("own log request: epoch 0");
      // Only the asker's own origin: what it signed, nothing of anyone else.
      sync::FeedLimits limits;
      limits.max_events = config_.batch_events;
      limits.max_bytes = config_.batch_bytes;
      return sync::ReadContiguous(*store(), {asker, r.epoch()}, {r.cursor(), r.checkpoint_size()},
                                  limits);
    };
  }
  TB_ASSIGN_OR_RETURN(server_, sync::ExchangeServer::Start(std::move(server)));
  return absl::OkStatus();
}

absl::Status Node::StartDriver() {
  const Config& config = config_;
  sync::DriverOptions driver;
  driver.self = config.code;
  driver.national = config.national;
  driver.retry_initial = config.retry_initial;
  driver.retry_max = config.retry_max;
  driver.idle_close = config.idle_close;
  driver.seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  driver_ = std::make_unique<sync::PeerDriver>(
      store(), writer(), &peers_, clock_, driver,
      [this] {
        std::vector<std::string> out;
        const sync::Roster roster = roster_->current();
        for (const v1::NodeEntry& n : roster.roster().nodes()) {
          if (n.code() == config_.code || n.endpoints().empty()) continue;
          if (n.status() != v1::NodeEntry::NODE_STATUS_ACTIVE) continue;
          out.push_back(n.code());
        }
        return out;
      },
      [this](const std::string& peer) -> std::unique_ptr<sync::DriverLink> {
        const sync::Roster roster = roster_->current();
        const v1::NodeEntry* entry = roster.Find(peer);
        if (entry == nullptr || entry->endpoints().empty()) return nullptr;
        sync::PeerConnection::Options o;
        o.peer = peer;
        o.target = entry->endpoints(0);
        o.tls = tls_;
        o.session = NewSession(peer);
        o.writer = writer();
        return std::make_unique<ConnectionLink>(sync::PeerConnection::Start(std::move(o)));
      });
  return driver_->Start();
}

Node::~Node() { Stop(); }

void Node::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (housekeeping_.joinable()) housekeeping_.join();
  if (stats_counters_.joinable()) stats_counters_.join();
  mirror_.reset();  // before the store closes: it reads it
  if (driver_ != nullptr) driver_->Stop();
  if (server_ != nullptr) server_->Stop();
  driver_.reset();
  server_.reset();
  witness_.reset();
  if (refusals_ != nullptr) {
    if (absl::Status s = refusals_->Flush(/*all=*/true); !s.ok()) {
      TB_LOG(ERROR) << "aggregated refusals not audited at stop: " << s;
    }
  }
  refusals_.reset();
  audit_.reset();
  local_.reset();  // the writer finishes and signs what is queued
  TB_LOG(INFO) << "node stopped code=" << config_.code;
}

std::optional<std::string> Node::appends_blocked() const {
  absl::MutexLock lock(&mu_);
  if (blocked_.has_value() || !start_check_pending_) return blocked_;
  return absl::StrCat("the witness check at start is running: asking the national node ",
                      config_.national, " whether it holds more of this node's own log (at most ",
                      absl::FormatDuration(options_.witness_at_start), ")");
}

bool Node::WaitForStartCheck(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !start_check_pending_; };
  return mu_.AwaitWithTimeout(absl::Condition(&ended), timeout);
}

void Node::CheckWitnessAtStart() {
  absl::Status own = CompareWithWitness({writer()->log()}, options_.witness_at_start);
  bool recover = false;
  {
    absl::MutexLock lock(&mu_);
    start_check_pending_ = false;
    if (!own.ok() && restored_ && !blocked_.has_value()) {
      blocked_ =
          absl::StrCat("restored from a backup: appends wait until the national node ",
                       config_.national, " has said how much of this node's own log it holds (",
                       own.message(), "; asked again every 10 s)");
    }
    recover = restored_ || own_log_behind_.has_value() || lost_.has_value();
  }
  if (!own.ok()) {
    TB_LOG(WARNING) << "witness not reached at start (" << own.message()
                    << (recover ? "); appends wait for it (restored from a backup)"
                                : "); going on, it is asked again later");
  }
  UpdateReadiness();
  if (recover && own.ok()) RecoverOwnLog();
}

void Node::RecoverOwnLog() {
  std::optional<uint64_t> behind;
  std::optional<LostEvents> lost;
  {
    absl::MutexLock lock(&mu_);
    behind = own_log_behind_;
    lost = lost_;
  }
  if (!behind.has_value() && !lost.has_value()) {
    // Restored, and the witness not reached yet: ask it first.
    if (absl::Status s = CompareWithWitness({writer()->log()}, options_.witness_at_start);
        !s.ok()) {
      TB_LOG(WARNING) << "witness not reached (restored from a backup; retried in 10 s): " << s;
      return;
    }
    absl::MutexLock lock(&mu_);
    behind = own_log_behind_;
    lost = lost_;
    // Whole, and nothing lost: the comparison lifted the block.
    if (!behind.has_value() && !lost.has_value()) return;
  }
  if (lost.has_value()) {
    StartNewEpoch(*lost);
    return;
  }
  if (behind.has_value()) {
    if (absl::Status s = FetchOwnLogBack(*behind); !s.ok()) {
      TB_LOG(ERROR) << "fetching this node's own log back failed (retried in 10 s): " << s;
      {
        absl::MutexLock lock(&mu_);
        blocked_ = absl::StrCat("catching up: fetching this node's own events up to ", *behind,
                                " back from the national node ", config_.national,
                                " failed (retried every 10 s): ", s.message());
      }
      UpdateReadiness();
      return;
    }
  }
  // Asked again: the witness must now find our log whole, which lifts the
  // block (or finds events lost for good).
  if (absl::Status s = CompareWithWitness({writer()->log()}, options_.witness_at_start); !s.ok()) {
    TB_LOG(WARNING) << "the witness not reached after recovering the own log (retried in 10 s): "
                    << s;
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    lost = lost_;
  }
  if (lost.has_value()) StartNewEpoch(*lost);
}

absl::StatusOr<storage::Appended> Node::RotateSigningKey() {
  if (std::optional<std::string> blocked = appends_blocked(); blocked.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("appends are blocked: ", *blocked));
  }
  TB_ASSIGN_OR_RETURN(storage::Appended rotated, local_->RotateSigningKey());
  if (witness_ != nullptr) witness_->SetKey(&local_->signing_key());
  return rotated;
}

absl::StatusOr<v1::CosignedRestart> Node::CountersignRestart(const std::string& asker,
                                                             const v1::SignedRestart& request) {
  const merkle::SignedRestart s{request.body(), request.signature()};
  TB_ASSIGN_OR_RETURN(const merkle::Restart r, merkle::ParseRestart(s.body));
  if (r.origin != asker) {
    return absl::PermissionDeniedError(absl::StrCat(
        "node ", asker, " sent a restart record of node ", r.origin, ": only its own"));
  }
  const crypto::PublicKey* key = signing_keys_->Find(r.origin, r.key_id);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("restart record: neither the roster nor a key "
                     "rotation gives key ",
                     r.key_id, " of node ", r.origin));
  }
  TB_RETURN_IF_ERROR(merkle::VerifyRestart(s, *key).status());
  const storage::LogId closed{r.origin, r.epoch};
  // Serialised, so that two calls (a retry racing the first) cannot both
  // close the epoch.
  absl::MutexLock lock(&restart_mu_);
  TB_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                      store()->Get(storage::Cf::kDefault, storage::RestartKey(closed)));
  if (stored.has_value()) {
    v1::CosignedRestart before;
    if (!before.ParseFromString(*stored)) {
      return absl::DataLossError(absl::StrCat("stored restart record of ", r.origin, " epoch ",
                                              r.epoch, " does not parse"));
    }
    // A retry gets the same answer; another record for the same epoch none.
    if (before.restart().body() == request.body()) return before;
    return absl::FailedPreconditionError(absl::StrCat("epoch ", r.epoch, " of node ", r.origin,
                                                      " was closed by another restart record"));
  }
  // The epoch closes where this node's whole copy ends: the asker fetched
  // everything back first (FetchOwnLog), so nothing held anywhere is dropped.
  TB_ASSIGN_OR_RETURN(const uint64_t held, store()->LastSeq(closed));
  if (held != r.kept_size) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the national node holds epoch ", r.epoch, " of node ", r.origin, " up to seq ", held,
        ", the restart record keeps ", r.kept_size, ": fetch the log back first"));
  }
  TB_ASSIGN_OR_RETURN(const uint64_t next, store()->LastSeq({r.origin, r.new_epoch}));
  if (next != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", r.origin, " already wrote in epoch ", r.new_epoch));
  }
  TB_ASSIGN_OR_RETURN(
      merkle::Cosignature c,
      merkle::CosignRestart(s.body, config_.code, clock_->Now(), local_->signing_key()));
  v1::CosignedRestart reply;
  *reply.mutable_restart() = request;
  reply.set_witness(c.witness);
  reply.set_key_id(c.key_id);
  reply.set_time_micros(c.time_micros);
  reply.set_signature(c.signature);
  storage::Batch batch(*store());
  batch.PutRestart(closed, reply.SerializeAsString());
  TB_RETURN_IF_ERROR(store()->Commit(batch, /*sync=*/true));
  TB_LOG(WARNING) << "countersigned the restart record of node " << r.origin << ": epoch "
                  << r.epoch << " closed at seq " << r.kept_size << " (seqs " << r.kept_size + 1
                  << ".." << r.signed_size << " lost), epoch " << r.new_epoch << " begins";
  return reply;
}

std::optional<Node::SignedBefore> Node::ReadRestoredMarker(const std::string& path,
                                                           const std::string& self) {
  // "signed <origin>/<epoch> <size>": what the data the restore replaced had
  // signed (daemon/backup_tool.cc); absent when it could not be read.
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    if (words.size() != 3 || words[0] != "signed") continue;
    std::vector<std::string> log = absl::StrSplit(words[1], '/');
    SignedBefore s;
    if (log.size() == 2 && log[0] == self && absl::SimpleAtoi(log[1], &s.epoch) &&
        absl::SimpleAtoi(words[2], &s.size)) {
      return s;
    }
    TB_LOG(WARNING) << "restore marker " << path << ": line not understood: " << line;
  }
  return std::nullopt;
}

void Node::StartNewEpoch(const LostEvents& lost) {
  const storage::LogId own = writer()->log();
  absl::Status done = [&]() -> absl::Status {
    std::optional<std::string> target = NationalTarget();
    if (!target.has_value()) {
      return absl::FailedPreconditionError("the roster lists no endpoint of the national node");
    }
    merkle::Restart r;
    r.origin = own.origin;
    r.epoch = own.epoch;
    r.kept_size = lost.kept;
    r.signed_size = lost.signed_size;
    r.new_epoch = own.epoch + 1;
    r.time_micros = absl::ToUnixMicros(clock_->Now());
    TB_ASSIGN_OR_RETURN(merkle::SignedRestart s, merkle::SignRestart(r, local_->signing_key()));
    v1::SignedRestart request;
    request.set_body(s.body);
    request.set_signature(s.signature);
    TB_ASSIGN_OR_RETURN(
        v1::CosignedRestart reply,
        sync::CountersignRestart(config_.national, *target, tls_, request, absl::Seconds(30)));
    // The national node's word, checked: our record, its key, its signature.
    if (reply.restart().body() != s.body || reply.restart().signature() != s.signature ||
        reply.witness() != config_.national) {
      return absl::InvalidArgumentError(
          "the national node countersigned another restart record than this node's");
    }
    const crypto::PublicKey* key = signing_keys_->Find(config_.national, reply.key_id());
    if (key == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("the national node countersigned with key ",
                                                     reply.key_id(), ", not in the roster"));
    }
    merkle::Cosignature c{reply.witness(), reply.key_id(), reply.time_micros(), reply.signature()};
    TB_RETURN_IF_ERROR(merkle::VerifyRestartCosignature(c, s.body, *key).status());
    // From the next start the writer appends to the new epoch
    // (LocalNode::Open reads it); the record stays as proof.
    storage::Batch batch(*store());
    batch.PutRestart(own, reply.SerializeAsString());
    batch.PutOwnEpoch(r.new_epoch);
    return store()->Commit(batch, /*sync=*/true);
  }();
  absl::MutexLock lock(&mu_);
  if (!done.ok()) {
    TB_LOG(ERROR) << "starting a new epoch failed (retried in 10 s): " << done;
    blocked_ = absl::StrCat(
        "restored from a backup: events ", own.origin, "/", own.epoch, "/", lost.kept + 1, "..",
        lost.signed_size,
        " were signed and never left this node: they are lost. A new epoch needs the national "
        "node's countersignature of the restart record, which failed (retried every 10 s): ",
        done.message());
    return;
  }
  TB_LOG(WARNING) << "restart record countersigned by the national node: epoch " << own.epoch
                  << " of this node's log closed at seq " << lost.kept << " (seqs " << lost.kept + 1
                  << ".." << lost.signed_size << " lost); epoch " << own.epoch + 1
                  << " begins at the next start";
  lost_.reset();
  restored_ = false;
  std::error_code ec;
  std::filesystem::remove(absl::StrCat(config_.data_dir, "/", kRestoredMarkerFile), ec);
  blocked_ = absl::StrCat(
      "a new epoch: events ", own.origin, "/", own.epoch, "/", lost.kept + 1, "..",
      lost.signed_size,
      " were signed and never left this node, so they are lost; the national node countersigned "
      "the restart record closing epoch ",
      own.epoch, " at seq ", lost.kept, ". This node appends in epoch ", own.epoch + 1,
      " from its next start: restart it (systemctl restart tongband)");
}

absl::Status Node::FetchOwnLogBack(uint64_t witnessed_size) {
  std::optional<std::string> target = NationalTarget();
  if (!target.has_value()) {
    return absl::FailedPreconditionError("the roster lists no endpoint of the national node");
  }
  const storage::LogId own = writer()->log();
  sync::RosterHolder* roster = roster_.get();
  sync::BatchVerifier verifier(suite(),
                               [roster](absl::string_view origin, absl::string_view key_id) {
                                 return roster->FindSigningKey(origin, key_id);
                               });
  TB_ASSIGN_OR_RETURN(const uint64_t first, store()->LastSeq(own));
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return absl::CancelledError("the node is stopping");
    }
    // Each round asks from what is stored, so a failed round is simply
    // asked again; each must bring at least one event, so a national node
    // that sends nothing new cannot keep us here.
    TB_ASSIGN_OR_RETURN(const uint64_t held, store()->LastSeq(own));
    if (held >= witnessed_size) break;
    sync::ReceiverLog view;
    view.applied = held;
    view.contiguous = true;
    view.tree = store()->NodeReaderFor(own);
    view.stored_body = [this, own](uint64_t seq) { return store()->GetEvent(own, seq); };
    TB_ASSIGN_OR_RETURN(view.rotations, store()->KeyRotations(own.origin));
    v1::OwnLogRequest request;
    request.set_epoch(own.epoch);
    request.set_cursor(held);
    TB_ASSIGN_OR_RETURN(auto checkpoint, store()->CheckpointAtOrBelow(own, ~uint64_t{0}));
    if (checkpoint.has_value()) {
      request.set_checkpoint_size(checkpoint->first);
      view.checkpoint = std::move(checkpoint->second);
    }
    TB_ASSIGN_OR_RETURN(
        std::optional<v1::Batch> batch,
        sync::FetchOwnLog(config_.national, *target, tls_, request, absl::Seconds(30)));
    if (!batch.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the national node holds nothing of this node's log after seq ", held,
                       ", although its witness showed size ", witnessed_size));
    }
    if (batch->origin() != own.origin || batch->epoch() != own.epoch) {
      return absl::InvalidArgumentError(absl::StrCat("the national node answered with log ",
                                                     batch->origin(), "/", batch->epoch(),
                                                     " when asked for this node's own"));
    }
    absl::StatusOr<sync::VerifiedBatch> verified = verifier.Verify(*batch, view, config_.national);
    if (!verified.ok()) {
      return Prefixed(absl::StrCat("the national node's copy of this node's log after seq ", held,
                                   " does not verify against this node's own checkpoints"),
                      verified.status());
    }
    if (verified->batch.events.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the national node sent no event of this node's log after seq ", held));
    }
    TB_RETURN_IF_ERROR(writer()->AppendRecovered(verified->batch));
  }
  TB_ASSIGN_OR_RETURN(const uint64_t last, store()->LastSeq(own));
  if (last > first) {
    TB_LOG(WARNING) << "fetched back this node's own events " << first + 1 << ".." << last
                    << " from the national node " << config_.national
                    << ", verified against this node's own signed checkpoints";
  }
  // Signed again (the same leaves, so the same root) before the witness is
  // asked: it compares checkpoints.
  return writer()->WaitForCheckpoint(last, absl::Minutes(1));
}

absl::Status Node::Readiness() const {
  if (std::optional<std::string> blocked = appends_blocked(); blocked.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("appends blocked: ", *blocked));
  }
  if (local_ == nullptr) return absl::UnavailableError("node stopped");
  const absl::Status failure = local_->writer()->failure();
  if (!failure.ok()) {
    return absl::Status(
        failure.code(),
        absl::StrCat("store failed: ", failure.message(),
                     absl::IsResourceExhausted(failure)
                         ? "; the node reopens its store by itself once space returns"
                         : ""));
  }
  return local_->writer()->refusal();
}

void Node::CheckDiskSpace() {
  absl::StatusOr<uint64_t> free = storage::FreeBytes(config_.data_dir);
  if (!free.ok()) {
    // Said once, not every 2 s, until the check works again.
    if (!space_unknown_.exchange(true)) {
      TB_LOG(WARNING) << "disk space not checked: " << free.status();
    }
    return;
  }
  if (space_unknown_.exchange(false)) {
    TB_LOG(INFO) << "disk space checked again";
  }
  free_bytes_.store(*free);
  const uint64_t floor = uint64_t{config_.min_free_mib} << 20;
  const bool low = *free < floor;
  const bool was_low = low_space_.exchange(low);
  if (low) {
    // Renewed at every check, so that the refusal a clerk reads says how
    // much is free now, not when space first ran low.
    const absl::Status refuse = absl::ResourceExhaustedError(absl::StrCat(
        "writes refused: the data folder's filesystem has ", storage::FormatBytes(*free),
        " free, below [storage] min_free_mib (", config_.min_free_mib,
        " MiB); writes and peers' batches are refused until space returns, reads go on"));
    if (!was_low) {
      TB_LOG(ERROR) << refuse.message();
    }
    writer()->RefuseWrites(refuse);
  } else if (was_low) {
    TB_LOG(INFO) << "space returned: the data folder's filesystem has "
                 << storage::FormatBytes(*free) << " free; writes are taken again";
    writer()->RefuseWrites(absl::OkStatus());
  }
  constexpr uint64_t kReopenFree = uint64_t{16} << 20;
  if (absl::IsResourceExhausted(writer()->failure()) && *free >= std::max(floor, kReopenFree) &&
      !restart_wanted_.exchange(true)) {
    TB_LOG(WARNING) << "the store stopped on a full disk and " << storage::FormatBytes(*free)
                    << " are free again: the node restarts to reopen it";
  }
}

void Node::OnReadinessChange(std::function<void(const absl::Status&)> listener) {
  absl::MutexLock lock(&readiness_mu_);
  listener(last_readiness_.value_or(Readiness()));
  readiness_listeners_.push_back(std::move(listener));
}

void Node::UpdateReadiness() {
  absl::MutexLock lock(&readiness_mu_);
  const absl::Status now = Readiness();
  if (last_readiness_.has_value() && *last_readiness_ == now) return;
  if (now.ok()) {
    TB_LOG(INFO) << "node ready";
  } else {
    TB_LOG(ERROR) << "node not ready: " << now;
  }
  last_readiness_ = now;
  if (server_ != nullptr) server_->SetServing(now.ok());
  for (const auto& listener : readiness_listeners_) listener(now);
}

std::optional<std::string> Node::NationalTarget() const {
  const sync::Roster roster = roster_->current();
  const v1::NodeEntry* national = roster.Find(config_.national);
  if (national == nullptr || national->endpoints().empty()) return std::nullopt;
  return national->endpoints(0);
}

absl::StatusOr<v1::WhereReply> Node::AskNationalWhere(const std::string& person) const {
  std::optional<std::string> target = NationalTarget();
  if (!target.has_value()) {
    return absl::FailedPreconditionError("the roster lists no endpoint of the national node");
  }
  return sync::AskWhere(config_.national, *target, tls_, person);
}

absl::Status Node::Admit(const std::string& peer) const {
  TB_RETURN_IF_ERROR(roster_->CheckPeer(peer));
  absl::StatusOr<std::optional<std::string>> held = sync::HoldOf(*local_->store(), peer);
  if (!held.ok()) return held.status();
  if (held->has_value()) {
    return absl::PermissionDeniedError(
        absl::StrCat("node ", peer, " is held after sending invalid data (", **held,
                     "); an operator of node ", config_.code, " must clear the hold"));
  }
  return absl::OkStatus();
}

std::unique_ptr<sync::Session> Node::NewSession(const std::string& peer, bool offline) {
  sync::RosterHolder* roster = roster_.get();
  auto verifier = std::make_unique<sync::BatchVerifier>(
      local_->suite(), [roster](absl::string_view origin, absl::string_view key_id) {
        return roster->FindSigningKey(origin, key_id);
      });
  sync::SessionOptions options;
  options.self = config_.code;
  options.national = config_.national;
  options.retention = config_.retention;
  options.limits.max_events = config_.batch_events;
  options.limits.max_bytes = config_.batch_bytes;
  options.credit = config_.credit;
  options.max_clock_ahead = config_.max_clock_ahead;
  options.peers = offline ? nullptr : &peers_;
  options.software_version = options_.software_version;
  options.roster_version = roster->version();
  options.audit = audit_.get();
  options.refusals = refusals_.get();
  return std::make_unique<sync::Session>(local_->store(), local_->writer(), std::move(verifier),
                                         clock_, options, peer);
}

absl::Status Node::RefreshRoster() {
  std::optional<std::string> target = NationalTarget();
  if (!target.has_value()) return absl::OkStatus();
  TB_ASSIGN_OR_RETURN(std::optional<v1::SignedRoster> newer,
                      sync::FetchRoster(config_.national, *target, tls_, roster_->version()));
  if (!newer.has_value()) return absl::OkStatus();
  absl::StatusOr<sync::Roster> accepted = roster_->Offer(*newer);
  if (!accepted.ok()) return accepted.status();
  TB_LOG(INFO) << "accepted roster v" << accepted->version() << " from the national node";
  return absl::OkStatus();
}

absl::Status Node::CompareWithWitness(std::vector<storage::LogId> logs, absl::Duration timeout) {
  std::optional<std::string> target = NationalTarget();
  if (!target.has_value()) return absl::OkStatus();
  sync::WitnessCheckerOptions o;
  o.self = config_.code;
  o.witness = config_.national;
  sync::WitnessChecker checker(store(), suite(), signing_keys_->AsLookup(), clock_, o);
  TB_ASSIGN_OR_RETURN(v1::WitnessRequest request, checker.Request(std::move(logs)));
  TB_ASSIGN_OR_RETURN(v1::WitnessReply reply,
                      sync::AskWitness(config_.national, *target, tls_, request, timeout));
  TB_ASSIGN_OR_RETURN(std::vector<sync::WitnessFinding> findings, checker.Check(request, reply));
  ApplyWitnessFindings(findings, writer()->log());
  return absl::OkStatus();
}

void Node::ApplyWitnessFindings(const std::vector<sync::WitnessFinding>& findings,
                                const storage::LogId& own) {
  // How much of our log we hold, for what a restore may have lost.
  const absl::StatusOr<uint64_t> held = store()->LastSeq(own);
  std::optional<std::string> forked;
  std::optional<uint64_t> behind;
  bool own_whole = false;  // the witness holds no more of our log than we do
  for (const sync::WitnessFinding& f : findings) {
    if (!(f.log == own)) continue;
    switch (f.verdict) {
      case sync::WitnessVerdict::kOwnLogForked: forked = f.detail; break;
      case sync::WitnessVerdict::kOwnLogBehind: behind = f.witnessed_size; break;
      case sync::WitnessVerdict::kConsistent:
      case sync::WitnessVerdict::kNotHeld: own_whole = true; break;
      default: break;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (forked.has_value()) {
      // Nothing to fetch: the histories differ. An operator acts.
      TB_LOG(ERROR) << "appends blocked: " << *forked;
      blocked_ = *forked;
      own_log_behind_.reset();
    } else if (behind.has_value()) {
      TB_LOG(ERROR) << "appends blocked while this node's own log is fetched back: the national "
                       "node holds it up to "
                    << *behind;
      blocked_ = absl::StrCat("catching up: the national node ", config_.national,
                              " holds this node's own log up to seq ", *behind,
                              ", more than this node (restored from a backup?); fetching the "
                              "missing events back before appending");
      own_log_behind_ = behind;
    } else if (own_whole && restored_ && signed_before_.has_value() &&
               signed_before_->epoch == own.epoch && held.ok() && signed_before_->size > *held) {
      // Whole as far as the national node knows, yet the data the restore
      // replaced had signed more: those events never left this node.
      lost_ = LostEvents{*held, signed_before_->size};
      own_log_behind_.reset();
      blocked_ = absl::StrCat("restored from a backup: events ", own.origin, "/", own.epoch, "/",
                              *held + 1, "..", signed_before_->size,
                              " were signed and never left this node: they are lost; asking the "
                              "national node to countersign a new epoch");
      TB_LOG(ERROR) << "appends blocked: " << *blocked_;
    } else if (own_whole && (restored_ || own_log_behind_.has_value())) {
      TB_LOG(WARNING) << "this node's own log is whole again (confirmed by the witness); appends "
                         "allowed";
      blocked_.reset();
      own_log_behind_.reset();
      if (restored_) {
        restored_ = false;
        std::error_code ec;
        std::filesystem::remove(absl::StrCat(config_.data_dir, "/", kRestoredMarkerFile), ec);
        if (ec) {
          TB_LOG(ERROR) << "restore marker not removed: " << ec.message();
        }
      }
    }
  }
  UpdateReadiness();
}

void Node::Housekeeping() {
  if (config_.role != NodeRole::kNational) CheckWitnessAtStart();
  absl::Time next_roster = clock_->Now() + options_.roster_every;
  absl::Time next_witness = clock_->Now() + options_.witness_every;
  absl::Time next_recovery = clock_->Now() + absl::Seconds(10);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Seconds(2));
      if (stopping_) return;
    }
    CheckDiskSpace();
    RefreshMetrics();
    UpdateReadiness();
    if (absl::Status s = refusals_->Flush(); !s.ok()) {
      TB_LOG(ERROR) << "aggregated refusals not audited: " << s;
    }
    if (config_.role == NodeRole::kNational) continue;
    const absl::Time now = clock_->Now();
    if (now >= next_roster) {
      next_roster = now + options_.roster_every;
      if (absl::Status s = RefreshRoster(); !s.ok()) {
        TB_LOG(WARNING) << "roster refresh from the national node failed: " << s;
      }
      roster_->WarnIfStale(now, absl::Hours(24 * 90));
    }
    bool recovering;
    {
      absl::MutexLock lock(&mu_);
      recovering = restored_ || own_log_behind_.has_value() || lost_.has_value();
    }
    if (recovering && now >= next_recovery) {
      next_recovery = now + absl::Seconds(10);
      RecoverOwnLog();
    }
    if (now >= next_witness) {
      next_witness = now + options_.witness_every;
      if (absl::Status s = CompareWithWitness({}); !s.ok()) {
        TB_LOG(WARNING) << "comparison with the witness failed: " << s;
      }
    }
  }
}

absl::Status Node::RegisterMetrics() {
  TB_RETURN_IF_ERROR(RegisterLogMetrics());
  TB_RETURN_IF_ERROR(RegisterSyncMetrics());
  TB_RETURN_IF_ERROR(RegisterBundleMetrics());
  return RegisterWorkflowMetrics();
}

// The own log, the store, the audit log, readiness and the roster.
absl::Status Node::RegisterLogMetrics() {
  metrics::Registry& r = metrics_;
  storage::Writer* w = writer();
  storage::Store* s = store();
  TB_RETURN_IF_ERROR(r.AddGaugeCallback("tongban_log_events", "Events in this node's own log.",
                                        [w] { return static_cast<double>(w->stats().last_seq); }));
  TB_RETURN_IF_ERROR(r.AddGaugeCallback(
      "tongban_log_signed_events", "Events of the own log covered by a signed checkpoint.",
      [w] { return static_cast<double>(w->stats().signed_size); }));
  TB_RETURN_IF_ERROR(r.AddCounterCallback(
      "tongban_checkpoints_signed_total", "Checkpoints signed by this process.",
      [w] { return static_cast<double>(w->stats().checkpoints); }));
  TB_RETURN_IF_ERROR(
      r.AddCounterCallback("tongban_checkpoint_sign_seconds_total",
                           "Time the signer spent re-reading, hashing and signing, in seconds.",
                           [w] { return absl::ToDoubleSeconds(w->stats().sign_time); }));
  TB_RETURN_IF_ERROR(r.AddGaugeCallback("tongban_store_size_bytes",
                                        "Bytes of the database files (RocksDB).",
                                        [s] { return static_cast<double>(s->DiskBytes()); }));
  storage::AuditLog* audit = audit_.get();
  TB_RETURN_IF_ERROR(r.AddGaugeCallback("tongban_audit_entries", "Entries in the audit log.",
                                        [audit] { return static_cast<double>(audit->size()); }));
  sync::RosterHolder* roster = roster_.get();
  TB_RETURN_IF_ERROR(r.AddGaugeCallback(
      "tongban_ready",
      "1 while the node is ready (appends not blocked, store not failed, writes not refused "
      "for lack of disk space), else 0; gRPC health "
      "and /healthz follow it.",
      [this] { return Readiness().ok() ? 1.0 : 0.0; }));
  TB_RETURN_IF_ERROR(
      r.AddGaugeCallback("tongban_store_free_bytes",
                         "Free bytes on the data folder's filesystem, as last checked (every 2 s).",
                         [this] { return static_cast<double>(free_bytes_.load()); }));
  TB_RETURN_IF_ERROR(r.AddGaugeCallback(
      "tongban_store_min_free_bytes",
      "[storage] min_free_mib in bytes: below it on the data folder's filesystem writes are "
      "refused.",
      [floor = static_cast<double>(uint64_t{config_.min_free_mib} << 20)] { return floor; }));
  TB_RETURN_IF_ERROR(
      r.AddGaugeCallback("tongban_store_writes_refused",
                         "1 while writes are refused because the data folder's filesystem is below "
                         "[storage] min_free_mib, else 0.",
                         [this] { return low_space_.load() ? 1.0 : 0.0; }));
  TB_RETURN_IF_ERROR(r.AddGaugeCallback(
      "tongban_store_failed",
      "1 once a commit failed and the store stopped taking writes (a full disk: until the node "
      "reopens it by itself), else 0.",
      [w] { return w->failure().ok() ? 0.0 : 1.0; }));
  TB_RETURN_IF_ERROR(
      r.AddGaugeCallback("tongban_roster_version", "Version of the roster in use.",
                         [roster] { return static_cast<double>(roster->version()); }));
  return absl::OkStatus();
}

// Sessions with peers: lag, traffic, refusals, frozen logs, clocks and the
// input a peer makes this node hold.
absl::Status Node::RegisterBundleMetrics() {
  metrics::Registry& r = metrics_;
  storage::Store* s = store();
  // Offline bundles (node/bundles.h), kept in the store.
  for (const auto& [name, counter, help] :
       std::initializer_list<std::tuple<const char*, const char*, const char*>>{
           {"tongban_bundles_exported_total", "bundle/exported",
            "Bundles written for peers (acknowledgements included)."},
           {"tongban_bundles_imported_total", "bundle/imported", "Bundles from peers imported."},
           {"tongban_bundles_refused_total", "bundle/refused",
            "Bundles refused (whole, or at a batch that failed verification)."},
           {"tongban_bundle_events_exported_total", "bundle/events_exported",
            "Events written into bundles."},
           {"tongban_bundle_events_imported_total", "bundle/events_imported",
            "Events applied from bundles."}}) {
    TB_RETURN_IF_ERROR(r.AddCounterCallback(name, help, [s, key = std::string(counter)] {
      absl::StatusOr<uint64_t> n = s->GetCounter(key);
      return n.ok() ? static_cast<double>(*n) : 0.0;
    }));
  }
  return absl::OkStatus();
}

absl::Status Node::RegisterSyncMetrics() {
  metrics::Registry& r = metrics_;
  storage::Store* s = store();
  TB_ASSIGN_OR_RETURN(peer_connected_, r.AddGauge("tongban_peer_sessions",
                                                  "Open sessions with the peer.", {"peer"}));
  TB_ASSIGN_OR_RETURN(peer_behind_, r.AddGauge("tongban_peer_lag_events",
                                               "Events of our log the peer should have and has not "
                                               "acknowledged.",
                                               {"peer"}));
  TB_ASSIGN_OR_RETURN(
      peer_lag_seconds_,
      r.AddGauge("tongban_peer_lag_seconds",
                 "Seconds since the last batch with a peer that is behind.", {"peer"}));
  TB_ASSIGN_OR_RETURN(
      events_applied_,
      r.AddCounter("tongban_sync_events_applied_total",
                   "Events applied from the peer since the process started.", {"peer"}));
  TB_ASSIGN_OR_RETURN(events_sent_,
                      r.AddCounter("tongban_sync_events_sent_total",
                                   "Events sent to the peer since the process started.", {"peer"}));
  TB_ASSIGN_OR_RETURN(batches_,
                      r.AddCounter("tongban_sync_batches_total",
                                   "Batches exchanged with the peer since the process started, by "
                                   "direction (sent, applied).",
                                   {"peer", "direction"}));
  TB_ASSIGN_OR_RETURN(
      rejected_,
      r.AddCounter("tongban_sync_batches_rejected_total",
                   "Batches rejected, by reason (kept in the store across restarts).", {"reason"}));
  TB_ASSIGN_OR_RETURN(frozen_log_, r.AddGauge("tongban_sync_frozen_log",
                                              "1 for each log frozen here after an equivocation "
                                              "(origin/epoch): nothing more of it is applied.",
                                              {"log"}));
  TB_RETURN_IF_ERROR(r.AddGaugeCallback(
      "tongban_sync_frozen_logs", "Logs frozen here after an equivocation.", [s] {
        absl::StatusOr<std::vector<storage::LogId>> frozen = sync::FrozenLogs(*s);
        return frozen.ok() ? static_cast<double>(frozen->size()) : -1.0;
      }));
  TB_ASSIGN_OR_RETURN(fleet_nodes_,
                      r.AddGauge("tongban_fleet_nodes",
                                 "Other nodes of the roster by state: connected, disconnected, "
                                 "unseen (not since start), and among them held, frozen, "
                                 "cert_expiring (within 30 days or expired) and roster_behind "
                                 "(their Hello named an older roster).",
                                 {"state"}));
  TB_ASSIGN_OR_RETURN(peer_refuses_,
                      r.AddGauge("tongban_peer_refused_logs",
                                 "Logs the peer refuses from this node (frozen there); not offered "
                                 "to it.",
                                 {"peer"}));
  TB_ASSIGN_OR_RETURN(batches_skipped_,
                      r.AddCounter("tongban_sync_batches_skipped_total",
                                   "Batches refused from the peer for their origin (frozen, "
                                   "equivocation) since the process started, the session kept.",
                                   {"peer"}));
  TB_ASSIGN_OR_RETURN(peer_clock_ahead_,
                      r.AddGauge("tongban_peer_clock_ahead_seconds",
                                 "How far the peer's newest event was ahead of this node's clock "
                                 "when received (0 if not ahead).",
                                 {"peer"}));
  TB_ASSIGN_OR_RETURN(peer_clock_skew_,
                      r.AddGauge("tongban_peer_clock_skew_seconds",
                                 "The peer's clock minus this node's when its last Hello arrived "
                                 "(positive: ahead; 0 before its first Hello).",
                                 {"peer"}));
  TB_RETURN_IF_ERROR(r.AddCounterCallback(
      "tongban_sync_events_ahead_total",
      "Events received stamped beyond sync.max_clock_ahead: applied, not adopted by the clock "
      "(kept in the store).",
      [s] {
        absl::StatusOr<uint64_t> n = s->GetCounter("clock/events_ahead");
        return n.ok() ? static_cast<double>(*n) : 0.0;
      }));
  TB_ASSIGN_OR_RETURN(input_queued_bytes_,
                      r.AddGauge("tongban_sync_input_queued_bytes",
                                 "Input read from the peer and not yet processed.", {"peer"}));
  TB_ASSIGN_OR_RETURN(
      input_queued_batches_,
      r.AddGauge("tongban_sync_input_queued_batches",
                 "Batches read from the peer and not yet applied (at most the credit).", {"peer"}));
  TB_ASSIGN_OR_RETURN(
      input_peak_bytes_,
      r.AddGauge("tongban_sync_input_peak_bytes",
                 "The most input read from the peer and not yet processed, since the process "
                 "started (bounded by credit x message limit).",
                 {"peer"}));
  storage::RefusalAudit* refusals = refusals_.get();
  TB_RETURN_IF_ERROR(r.AddCounterCallback(
      "tongban_audit_refusals_aggregated_total",
      "Peers' refused requests counted in an aggregate audit entry instead of one of their own.",
      [refusals] { return static_cast<double>(refusals->repeats()); }));
  return absl::OkStatus();
}

// The witness, deadlines and the apply latency.
absl::Status Node::RegisterWorkflowMetrics() {
  metrics::Registry& r = metrics_;
  TB_ASSIGN_OR_RETURN(
      witness_findings_,
      r.AddCounter("tongban_witness_findings_total",
                   "Witness comparisons that call for an operator, by verdict (kept in the store).",
                   {"verdict"}));
  TB_ASSIGN_OR_RETURN(deadline_items_,
                      r.AddGauge("tongban_deadline_items",
                                 "Inquiries and notices this node sent or must answer, by kind "
                                 "and state (overdue: past the deadline without an answer).",
                                 {"kind", "state"}));
  TB_ASSIGN_OR_RETURN(
      deadline_due_soon_,
      r.AddGauge("tongban_deadline_due_soon",
                 "Open inquiries and notices due within deadlines.remind_days.", {"kind"}));
  TB_ASSIGN_OR_RETURN(metrics::HistogramFamily * apply,
                      r.AddHistogram("tongban_sync_apply_seconds",
                                     "Time to verify and durably apply one received batch.", {},
                                     metrics::ExponentialBuckets(0.0005, 2, 14)));
  peers_.SetApplyLatency(apply->WithLabels(absl::Span<const std::string>()));
  return absl::OkStatus();
}

void Node::RefreshMetrics() {
  const absl::Time now = clock_->Now();
  const storage::LogId own = writer()->log();
  const uint64_t own_size = writer()->stats().last_seq;
  const std::map<std::string, sync::PeerStatus> live = peers_.All();
  const sync::Roster roster = roster_->current();
  auto fleet = std::make_shared<FleetSnapshot>();
  fleet->computed_at = now;
  fleet->roster_version = roster.version();
  MetricsSample sample;
  sample.at = now;
  sample.own_events = own_size;
  for (const v1::NodeEntry& n : roster.roster().nodes()) {
    if (n.code() == config_.code) continue;
    const std::string& peer = n.code();
    const auto it = live.find(peer);
    const sync::PeerStatus status = it == live.end() ? sync::PeerStatus{} : it->second;
    peer_connected_->WithLabels({peer})->Set(status.sessions);
    events_applied_->WithLabels({peer})->SetTotal(status.events_applied);
    events_sent_->WithLabels({peer})->SetTotal(status.events_sent);
    batches_->WithLabels({peer, "sent"})->SetTotal(status.batches_sent);
    batches_->WithLabels({peer, "applied"})->SetTotal(status.batches_applied);
    absl::StatusOr<uint64_t> acked = sync::AckedBy(*store(), peer, own);
    double behind = 0;
    if (acked.ok() && peer == config_.national) {
      behind = own_size > *acked ? static_cast<double>(own_size - *acked) : 0;
    } else if (acked.ok()) {
      absl::StatusOr<std::vector<uint64_t>> routed = store()->ScanRoute(peer, own, *acked, 10000);
      if (routed.ok()) behind = static_cast<double>(routed->size());
    }
    peer_behind_->WithLabels({peer})->Set(behind);
    const absl::Time since = std::max(status.last_batch, started_);
    const double lag = behind > 0 ? absl::ToDoubleSeconds(now - since) : 0;
    peer_lag_seconds_->WithLabels({peer})->Set(lag);
    peer_refuses_->WithLabels({peer})->Set(static_cast<double>(status.refuses.size()));
    batches_skipped_->WithLabels({peer})->SetTotal(status.batches_skipped);
    peer_clock_ahead_->WithLabels({peer})->Set(absl::ToDoubleSeconds(status.clock_ahead));
    peer_clock_skew_->WithLabels({peer})->Set(
        absl::ToDoubleSeconds(status.clock_skew.value_or(absl::ZeroDuration())));
    input_queued_bytes_->WithLabels({peer})->Set(static_cast<double>(status.input_queued_bytes));
    input_queued_batches_->WithLabels({peer})->Set(
        static_cast<double>(status.input_queued_batches));
    input_peak_bytes_->WithLabels({peer})->Set(static_cast<double>(status.input_peak_bytes));

    // The fleet view's row, kept here so that thousands of peers cost one
    // pass every refresh, not one per operator's call.
    FleetRow row = FleetRowOf(n, status, static_cast<uint64_t>(behind), now);
    sample.events_applied += status.events_applied;
    sample.events_sent += status.events_sent;
    sample.behind_outbound = std::max(sample.behind_outbound, row.behind_outbound);
    sample.behind_inbound = std::max(sample.behind_inbound, row.behind_inbound);
    sample.max_lag_seconds = std::max(sample.max_lag_seconds, lag);
    if (row.connected) ++sample.peers_connected;
    fleet->rows.push_back(std::move(row));
  }
  std::sort(fleet->rows.begin(), fleet->rows.end(),
            [](const FleetRow& a, const FleetRow& b) { return a.code < b.code; });
  for (const auto& [state, n] : CountFleet(fleet->rows, now, fleet->roster_version)) {
    fleet_nodes_->WithLabels({state})->Set(static_cast<double>(n));
  }
  {
    absl::MutexLock lock(&mu_);
    fleet_ = std::move(fleet);
  }
  history_.Add(sample);
  if (auto frozen = sync::FrozenLogs(*store()); frozen.ok()) {
    for (const storage::LogId& log : *frozen) {
      frozen_log_->WithLabels({absl::StrCat(log.origin, "/", log.epoch)})->Set(1);
    }
  }
  if (auto counts = store()->ListCounters("rejected/"); counts.ok()) {
    for (const auto& [name, value] : *counts) {
      rejected_->WithLabels({name.substr(9)})->SetTotal(value);
    }
  }
  if (auto counts = store()->ListCounters("witness/"); counts.ok()) {
    for (const auto& [name, value] : *counts) {
      witness_findings_->WithLabels({name.substr(8)})->SetTotal(value);
    }
  }
  const uint64_t commits = writer()->stats().commits;
  const absl::Duration since = now - last_deadline_refresh_;
  const absl::Duration floor = deadline_scan_took_ * kDeadlineScanShare;
  if (since >= std::max(kDeadlineRefreshMax, floor) ||
      (since >= std::max(kDeadlineRefreshMin, floor) && commits != deadline_refresh_commits_)) {
    last_deadline_refresh_ = now;
    deadline_refresh_commits_ = commits;
    deadline_scan_took_ = RefreshDeadlineMetrics(now);
  }
}

// What Admin.Peers says of the peer `n`: its roster entry, its live
// status, how far behind it is each way, and whether it is held or frozen.
FleetRow Node::FleetRowOf(const v1::NodeEntry& n, const sync::PeerStatus& status, uint64_t behind,
                          absl::Time now) {
  const std::string& peer = n.code();
  FleetRow row;
  row.code = peer;
  row.name = n.name();
  row.status = n.status() == v1::NodeEntry::NODE_STATUS_ACTIVE      ? "active"
               : n.status() == v1::NodeEntry::NODE_STATUS_SUSPENDED ? "suspended"
                                                                    : "revoked";
  row.connected = status.sessions > 0;
  row.last_seen = row.connected                       ? now
                  : status.last_batch == absl::Time() ? absl::InfinitePast()
                                                      : status.last_batch;
  row.behind_outbound = behind;
  row.software_version = status.software_version;
  row.roster_version = status.roster_version;
  row.cert_not_after = status.cert_not_after;
  const storage::LogId theirs{peer, 1};
  if (absl::StatusOr<uint64_t> held = store()->LastSeq(theirs); held.ok()) {
    row.log_size = *held;
    // A county holds the logs of few others: it looks only where it holds
    // events (a seek for every county of the roster every refresh is not
    // free).
    absl::StatusOr<std::optional<std::pair<uint64_t, v1::SignedCheckpoint>>> latest = std::nullopt;
    if (config_.role == NodeRole::kNational || *held > 0) {
      latest = store()->CheckpointAtOrBelow(theirs, ~uint64_t{0});
    }
    if (latest.ok() && latest->has_value()) {
      row.checkpoint_size = (*latest)->first;
      // Verified when it was stored; only its time is read here.
      if (absl::StatusOr<merkle::Checkpoint> c = merkle::ParseCheckpoint((*latest)->second.body());
          c.ok()) {
        row.checkpoint_time = absl::FromUnixMicros(c->time_micros);
      }
      if (config_.role == NodeRole::kNational && (*latest)->first > *held) {
        row.behind_inbound = (*latest)->first - *held;
      }
    }
  }
  if (absl::StatusOr<std::optional<std::string>> hold = sync::HoldOf(*store(), peer);
      hold.ok() && hold->has_value()) {
    row.held = **hold;
  }
  if (auto frozen = store()->Get(storage::Cf::kDefault, sync::FrozenKey(theirs)); frozen.ok()) {
    row.frozen = frozen->has_value();
  }
  return row;
}

namespace {

// Counts `items` by state into `by_state` and those due soon into `soon`.
template <typename Item>
void CountDeadlines(const std::vector<Item>& items, absl::string_view kind, absl::Time now,
                    absl::Duration within, metrics::GaugeFamily* by_state,
                    metrics::GaugeFamily* soon) {
  std::map<std::string, double> counts;
  for (records::WorkflowState state : records::AllWorkflowStates()) {
    counts[records::StateToken(state)] = 0;
  }
  double due = 0;
  for (const Item& item : items) {
    ++counts[item.state()];
    if (workflows::DueSoon(item.state(), item.due_on(), now, within)) ++due;
  }
  for (const auto& [state, n] : counts) by_state->WithLabels({kind, state})->Set(n);
  soon->WithLabels({kind})->Set(due);
}

}  // namespace

std::shared_ptr<const FleetSnapshot> Node::fleet() const {
  absl::MutexLock lock(&mu_);
  return fleet_;
}

absl::Duration Node::RefreshDeadlineMetrics(absl::Time now) {
  const absl::Time start = absl::Now();  // the scan's real cost, whatever clock_ says
  absl::StatusOr<workflows::Tracked> tracked = workflows::TrackDeadlines(
      *store(), config_.code, config_.role == NodeRole::kNational, config_.deadlines, now);
  const absl::Duration took = absl::Now() - start;
  if (!tracked.ok()) {
    TB_LOG(WARNING) << "deadline metrics not refreshed: " << tracked.status();
    return took;
  }
  const absl::Duration within = absl::Hours(24 * config_.deadlines.remind_days);
  CountDeadlines(tracked->inquiries, "inquiry", now, within, deadline_items_, deadline_due_soon_);
  CountDeadlines(tracked->notices, "notice", now, within, deadline_items_, deadline_due_soon_);
  return took;
}

}  // namespace tongban::node
