// Node is one running tongband: the node core (LocalNode), the federation's
// roster (RosterHolder) and TLS identity, the Exchange server for peers, the
// peer driver that dials them, the audit log, the table of peer states that
// operators read, and the node's metrics. The daemon (daemon/daemon.h), the
// system test and the demo all run this class.
//
// Start checks, before anything listens:
//   - the roster verifies against the federation root key and lists this
//     node; the node's signing key (data_dir/signing.key, from `tongbanctl
//     keys generate --out DATA_DIR/signing`) is one of its roster keys;
//   - the TLS certificate and key files are readable (the key 0600);
//   - the storage key is created on first start (data_dir/storage.key).
// Each failure is one error naming the file or the roster entry to fix.
//
// Roles: the national node serves the roster (Exchange.GetRoster), acts as
// witness (Exchange.Witness) and answers where-queries; it dials nobody. A
// county or province node keeps a session with the national node, fetches
// newer rosters from it and compares what it holds with the witness
// (sync/witness.h) at start and then every `witness_every`. If the witness
// shows that its log forked, appends are blocked (appends_blocked()) until
// an operator acts. If it shows that the national node holds more of this
// node's own log than the node does (restored from an old backup), the node
// fetches the missing events back from the national node
// (Exchange.FetchOwnLog), verifies them against its own signed checkpoints
// exactly as a session verifies a peer's batch, appends them as they were
// signed (storage::Writer::AppendRecovered), and only then accepts appends
// again; appends stay blocked while it catches up, and a failed fetch is
// retried every 10 s. A node restored by `tongbanctl restore` (the marker
// data_dir/restored) also keeps appends blocked until the witness has
// answered at least once, however long the national node is unreachable:
// appending before would sign seqs the national node may already hold.
// A new epoch is not started automatically.
//
// Readiness: the node is ready while appends are not blocked and its writer
// has not failed (a failed commit or a leaf changed before signing stops
// every later append). The peer server's gRPC health ("tongban.v1.Exchange"
// and "") follows it: SERVING when ready, NOT_SERVING otherwise, and so do
// the listeners the daemon adds (the Admin service, /healthz). The
// housekeeping thread re-checks it every 2 s; a block by the witness takes
// effect at once.
//
// Disk space: the housekeeping thread reads the free space of the data
// folder's filesystem every 2 s (and once before the first append). Below
// [storage] min_free_mib the node refuses writes (storage::Writer::
// RefuseWrites: clerks' writes, imports, rotations and peers' batches, each
// refused with kResourceExhausted naming the free space; a peer's session
// ends and it sends again later) while reads, the audit log, checkpoints and
// sending to peers go on, and it takes writes again by itself once space
// returns. The disk can still fill (another program, a large compaction):
// then a commit fails and the writer stops (kResourceExhausted); once at
// least max(min_free_mib, 16 MiB) are free again, WantsRestart() turns true
// and the daemon restarts the node in its process, which reopens the store
// (nothing half-written: every commit is one atomic batch) and goes on.
//
// Stop is graceful: the driver closes the sessions it dialled, the server
// ends the sessions peers dialled (a batch being applied finishes; one not
// yet applied is dropped and sent again next time, since the sender reads
// from its durable log), then the writer finishes queued appends and signs
// them, and the store closes. Nothing is half-applied: every apply is one
// atomic write batch.
//
// Thread safety: the accessors are safe from any thread; Stop too.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "analytics/mirror.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "node/bundles.h"
#include "node/config.h"
#include "node/fleet.h"
#include "node/local_node.h"
#include "storage/audit_log.h"
#include "storage/refusal_audit.h"
#include "sync/driver.h"
#include "sync/peers.h"
#include "sync/roster_holder.h"
#include "sync/signing_keys.h"
#include "sync/transport.h"
#include "sync/witness.h"

namespace tongban::node {

struct NodeOptions {
  // How often a county refreshes the roster from the national node and
  // compares with the witness.
  absl::Duration roster_every = absl::Minutes(5);
  absl::Duration witness_every = absl::Minutes(10);
  // How long the check at start waits for the witness's answer about our
  // own log (connection and TLS handshake included) before going on without
  // it (a county that cannot reach the national node, or whose national node
  // hangs, keeps working).
  absl::Duration witness_at_start = absl::Seconds(5);
  // The software version this node's Hello states (the daemon sets its
  // build's, common/version.h); peers show it in their fleet view.
  std::string software_version;
};

// Written into the data folder by `tongbanctl restore`; removed once the
// witness has confirmed that the node holds the whole of its own log.
inline constexpr char kRestoredMarkerFile[] = "restored";

class Node {
 public:
  // `clock` is not owned and must outlive the node.
  static absl::StatusOr<std::unique_ptr<Node>> Start(const Config& config, const Clock* clock,
                                                     NodeOptions options = {});
  ~Node();  // Stop()

  // Graceful stop; idempotent.
  void Stop();

  const Config& config() const { return config_; }
  const Clock* clock() const { return clock_; }
  int peer_port() const { return server_->port(); }
  storage::Store* store() { return local_->store(); }
  storage::Writer* writer() { return local_->writer(); }
  const crypto::Suite& suite() const { return local_->suite(); }
  const crypto::PrivateKey& signing_key() const { return local_->signing_key(); }
  // This node's current and retired signing keys by id (audit log checks).
  std::function<const crypto::PublicKey*(absl::string_view key_id)> OwnKeys() const {
    const LocalNode* local = local_.get();
    return [local](absl::string_view key_id) { return local->OwnPublicKey(key_id); };
  }
  // Rotates the key that signs this node's log (LocalNode::RotateSigningKey);
  // the national node's witness cosigns with the new key from then on.
  // kFailedPrecondition while appends are blocked.
  absl::StatusOr<storage::Appended> RotateSigningKey();

  // Offline bundles (node/bundles.h): writes the bundle for peer `to`
  // through `sink`, after importing `since_ack` (a bundle file from `to`,
  // or "") ...
  absl::StatusOr<ExportedBundle> ExportBundle(const std::string& to, const std::string& since_ack,
                                              const BundleSink& sink,
                                              const BundleProgressFn& progress)
      ABSL_LOCKS_EXCLUDED(bundle_mu_);
  // ... and imports the bundle file at `path`.
  absl::StatusOr<ImportedBundle> ImportBundle(const std::string& path)
      ABSL_LOCKS_EXCLUDED(bundle_mu_);
  sync::Roster roster() const { return roster_->current(); }
  const sync::TlsIdentity& tls() const { return tls_; }
  storage::AuditLog* audit_log() { return audit_.get(); }
  const sync::PeerTable& peers() const { return peers_; }
  std::map<std::string, sync::DriverPeer> driver_state() const { return driver_->Snapshot(); }
  metrics::Registry& metrics() { return metrics_; }
  // The analytics mirror's state; nullopt when [analytics] is off.
  std::optional<analytics::MirrorStatus> analytics() const {
    if (mirror_ == nullptr) return std::nullopt;
    return mirror_->status();
  }

  // The fleet view as housekeeping last computed it (every roster node but
  // this one, by code), and the node's metrics over the last hours.
  std::shared_ptr<const FleetSnapshot> fleet() const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<MetricsSample> metrics_history() const { return history_.Samples(); }

  // Why appends are blocked (the witness found our own log behind or
  // forked, or the check at start is still asking it), or nullopt.
  std::optional<std::string> appends_blocked() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until the witness check at start has ended (answered, failed or
  // timed out after witness_at_start), at most `timeout`; true if it has.
  // Nothing else waits for it: the Admin service answers meanwhile.
  bool WaitForStartCheck(absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);

  // OK when ready (above); else kFailedPrecondition "appends blocked: ...",
  // "store failed: ..." (the writer's failure, with its code) or
  // kResourceExhausted "writes refused: ..." (disk space, above).
  absl::Status Readiness() const ABSL_LOCKS_EXCLUDED(mu_);
  // Calls `listener` with the readiness now and after each change, on the
  // calling thread now and on the housekeeping thread later (never with a
  // lock held). Listeners must be quick; they live as long as the node.
  void OnReadinessChange(std::function<void(const absl::Status&)> listener)
      ABSL_LOCKS_EXCLUDED(readiness_mu_);

  // True once the store stopped on a full disk and space has returned
  // (Disk space, above): the node must be restarted to reopen its store.
  bool WantsRestart() const { return restart_wanted_.load(); }

  // Asks the national node which nodes hold records of `person` (counties).
  absl::StatusOr<v1::WhereReply> AskNationalWhere(const std::string& person) const;

 private:
  Node(Config config, const Clock* clock, NodeOptions options)
      : config_(std::move(config)), clock_(clock), options_(options) {}
  // The parts, in construction order (the members below).
  absl::Status StartParts();
  absl::Status LoadRosterAndTls();
  absl::Status OpenStoreAndAudit();
  absl::Status StartServer();
  absl::Status StartDriver();
  absl::Status RegisterMetrics();  // the three below
  absl::Status RegisterLogMetrics();
  absl::Status RegisterSyncMetrics();
  absl::Status RegisterBundleMetrics();  // offline bundles (node/bundles.h)
  absl::Status RegisterWorkflowMetrics();
  absl::Status StartAnalytics();
  // A session with `peer`; a bundle's (offline) reports to no peer table.
  std::unique_ptr<sync::Session> NewSession(const std::string& peer, bool offline = false);
  absl::StatusOr<ImportedBundle> ImportBundleLocked(const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(bundle_mu_);
  // Writes a bundle for `to`: with the batches and answers a session would
  // send when `data`, else an acknowledgement (Hello and requests only).
  absl::StatusOr<ExportedBundle> WriteBundle(const std::string& to, bool data,
                                             const BundleSink& sink,
                                             const BundleProgressFn& progress)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(bundle_mu_);
  absl::Mutex bundle_mu_;  // one bundle export or import at a time
  absl::Status Admit(const std::string& peer) const;
  std::optional<std::string> NationalTarget() const;
  // County housekeeping: roster refresh, witness comparison, metrics.
  void Housekeeping();
  absl::Status RefreshRoster();
  // Asks the witness, each call bounded by `timeout`.
  absl::Status CompareWithWitness(std::vector<storage::LogId> logs,
                                  absl::Duration timeout = absl::Seconds(30));
  // The check at start, on the housekeeping thread: appends stay blocked
  // until it ends.
  void CheckWitnessAtStart();
  // While the node was restored or its own log is behind the witness's:
  // fetches the missing events back, then asks the witness again (which
  // lifts the block). On the housekeeping thread.
  void RecoverOwnLog() ABSL_LOCKS_EXCLUDED(mu_);
  // Fetches this node's own log from the national node up to
  // `witnessed_size`, verified against its own signed checkpoints, and
  // appends it (storage::Writer::AppendRecovered); waits until it is signed.
  absl::Status FetchOwnLogBack(uint64_t witnessed_size) ABSL_LOCKS_EXCLUDED(mu_);
  // What the data a restore replaced had signed of our log (the marker's
  // "signed <origin>/<epoch> <size>" line), if the restore could read it.
  struct SignedBefore {
    uint64_t epoch = 0;
    uint64_t size = 0;
  };
  static std::optional<SignedBefore> ReadRestoredMarker(const std::string& path,
                                                        const std::string& self);
  // Events signed before a restore that neither the backup nor the national
  // node holds: kept+1 .. signed_size of the current epoch.
  struct LostEvents {
    uint64_t kept = 0;
    uint64_t signed_size = 0;
  };
  // Signs a restart record closing the current epoch at `lost.kept`, has
  // the national node countersign it, and stores it with the next epoch,
  // which the writer appends to from the next start (LocalNode::Open).
  // Appends stay blocked, saying to restart. On the housekeeping thread.
  void StartNewEpoch(const LostEvents& lost) ABSL_LOCKS_EXCLUDED(mu_);
  // The national node's side: checks `asker`'s restart record (its own, its
  // roster key, the epoch held here up to kept_size, not closed before, the
  // new epoch not yet written), countersigns and stores it. A retry of the
  // same record gets the stored answer.
  absl::StatusOr<v1::CosignedRestart> CountersignRestart(const std::string& asker,
                                                         const v1::SignedRestart& request)
      ABSL_LOCKS_EXCLUDED(restart_mu_);
  absl::Mutex restart_mu_;
  // What the comparison with the witness found, applied to blocked_.
  void ApplyWitnessFindings(const std::vector<sync::WitnessFinding>& findings,
                            const storage::LogId& own) ABSL_LOCKS_EXCLUDED(mu_);
  void RefreshMetrics();
  // Disk space (above): refuses or lets in writes, and asks for a restart.
  void CheckDiskSpace();
  FleetRow FleetRowOf(const v1::NodeEntry& n, const sync::PeerStatus& status, uint64_t behind,
                      absl::Time now);
  // Re-checks Readiness() and tells the peer server and listeners if it
  // changed.
  void UpdateReadiness() ABSL_LOCKS_EXCLUDED(readiness_mu_);
  // Returns how long the scan took.
  absl::Duration RefreshDeadlineMetrics(absl::Time now);

  const Config config_;
  const Clock* const clock_;
  const NodeOptions options_;
  absl::Time started_;
  sync::TlsIdentity tls_;
  sync::PeerTable peers_;
  metrics::Registry metrics_;
  // Declaration order is construction order; Stop() tears them down in
  // reverse.
  std::unique_ptr<sync::RosterHolder> roster_;
  std::unique_ptr<LocalNode> local_;
  // The roster's keys and those the key rotations stored here introduced.
  std::unique_ptr<sync::SigningKeys> signing_keys_;
  std::unique_ptr<storage::AuditLog> audit_;
  // Peers' refused requests, aggregated into audit_ (flushed by
  // housekeeping, and at Stop).
  std::unique_ptr<storage::RefusalAudit> refusals_;
  std::unique_ptr<sync::Witness> witness_;     // national node only
  std::unique_ptr<analytics::Mirror> mirror_;  // [analytics] on
  std::unique_ptr<sync::ExchangeServer> server_;
  std::unique_ptr<sync::PeerDriver> driver_;
  std::thread housekeeping_;
  // Keeps the statistics counters up to date (workflows/stats.h
  // UpdateStatsCounters) every second; the first run on a store without
  // counters counts it whole.
  std::thread stats_counters_;
  void FollowStatsCounters();

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<std::string> blocked_ ABSL_GUARDED_BY(mu_);
  bool start_check_pending_ ABSL_GUARDED_BY(mu_) = false;
  // Restored by `tongbanctl restore` (kRestoredMarkerFile) and not yet
  // confirmed by the witness.
  bool restored_ ABSL_GUARDED_BY(mu_) = false;
  // The witness's size of our own log, while we hold less of it.
  std::optional<uint64_t> own_log_behind_ ABSL_GUARDED_BY(mu_);
  std::optional<SignedBefore> signed_before_ ABSL_GUARDED_BY(mu_);
  std::optional<LostEvents> lost_ ABSL_GUARDED_BY(mu_);
  bool stopped_ = false;
  // Disk space: the last free bytes read, whether writes are refused for
  // it, and whether the store stopped on a full disk that has room again.
  std::atomic<uint64_t> free_bytes_{0};
  std::atomic<bool> low_space_{false};
  std::atomic<bool> space_unknown_{false};  // the last check of free space failed
  std::atomic<bool> restart_wanted_{false};
  std::shared_ptr<const FleetSnapshot> fleet_ ABSL_GUARDED_BY(mu_);
  MetricsHistory history_;

  // Serialises readiness updates so that listeners see changes in order.
  absl::Mutex readiness_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<std::function<void(const absl::Status&)>> readiness_listeners_
      ABSL_GUARDED_BY(readiness_mu_);
  std::optional<absl::Status> last_readiness_ ABSL_GUARDED_BY(readiness_mu_);

  // Per-peer and per-reason metric families, refreshed by housekeeping.
  metrics::GaugeFamily* peer_connected_ = nullptr;
  metrics::GaugeFamily* peer_behind_ = nullptr;
  metrics::GaugeFamily* peer_lag_seconds_ = nullptr;
  metrics::CounterFamily* events_applied_ = nullptr;
  metrics::CounterFamily* events_sent_ = nullptr;
  metrics::CounterFamily* batches_ = nullptr;
  metrics::CounterFamily* rejected_ = nullptr;
  metrics::CounterFamily* witness_findings_ = nullptr;
  metrics::GaugeFamily* frozen_log_ = nullptr;
  metrics::GaugeFamily* peer_refuses_ = nullptr;
  metrics::CounterFamily* batches_skipped_ = nullptr;
  metrics::GaugeFamily* peer_clock_ahead_ = nullptr;
  metrics::GaugeFamily* peer_clock_skew_ = nullptr;
  metrics::GaugeFamily* input_queued_bytes_ = nullptr;
  metrics::GaugeFamily* input_queued_batches_ = nullptr;
  metrics::GaugeFamily* input_peak_bytes_ = nullptr;
  metrics::GaugeFamily* fleet_nodes_ = nullptr;  // by state (node/fleet.h CountFleet)
  // Inquiries and notices by state, and those due soon (a scan of the
  // records, by the housekeeping thread): at most every kDeadlineRefreshMin
  // after a commit, else every kDeadlineRefreshMax (states change with time);
  // and never more often than kDeadlineScanShare of the time, so that a
  // large node's longer scan runs less often.
  static constexpr absl::Duration kDeadlineRefreshMin = absl::Seconds(10);
  static constexpr absl::Duration kDeadlineRefreshMax = absl::Minutes(1);
  static constexpr int kDeadlineScanShare = 20;  // a scan at most 1/20 of the time
  uint64_t deadline_refresh_commits_ = 0;
  absl::Duration deadline_scan_took_;
  metrics::GaugeFamily* deadline_items_ = nullptr;
  metrics::GaugeFamily* deadline_due_soon_ = nullptr;
  absl::Time last_deadline_refresh_ = absl::InfinitePast();
};

}  // namespace tongban::node
