// Mirror: the national node's feed of the analytics database (README
// "Analytics"). On a thread of its own it reads, after the fact, every
// event the node stored (every origin's log, its own included) and writes
// each as a row of tongban.record_state (analytics/rows.h) into PostgreSQL
// with COPY, in batches of at most `batch_rows` events of one log, in seq
// order. Each batch is one transaction that also moves that log's cursor
// (tongban.mirror_cursor) from the seq it expects to the batch's last, so
// the database holds every event once:
//   - a restart (or a crash) of the node: the cursors are read back from
//     the database, which has exactly the batches that committed;
//   - a lost connection, PostgreSQL stopped or failing: the open
//     transaction rolls back; the mirror reconnects (retry_initial doubling
//     up to retry_max), reads the cursors again and goes on from there;
//   - a second writer moved a cursor: the batch rolls back and the mirror
//     goes on from the database's cursor (never writing a row twice).
// It only reads the store, so the node's own apply path never waits for
// it; while it is behind it lags and catches up, and its lag is in
// status() and the metrics:
//   tongban_analytics_connected        1 while connected and set up
//   tongban_analytics_behind_events    events stored and not yet mirrored
//   tongban_analytics_lag_seconds      age (event time) of the oldest of them
//   tongban_analytics_rows_total       rows written
//   tongban_analytics_errors_total     connection and SQL errors
//
// A log is mirrored only as a contiguous prefix (the national node holds
// every origin's log whole); the mirror waits at a gap.
//
// Thread safety: status() and Stop() from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "analytics/pg.h"
#include "analytics/rows.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "storage/store.h"

namespace tongban::analytics {

struct MirrorOptions {
  // libpq connection string ("host=... dbname=... user=...", or a URI).
  std::string conninfo;
  // Events per transaction (per COPY), 1..100000.
  uint32_t batch_rows = 5000;
  // Hash partitions per month, fixed when the table is made (0..64; 0:
  // by month only, for Citus).
  uint32_t hash_partitions = 8;
  // How often the mirror looks for new events when it has caught up.
  absl::Duration poll = absl::Seconds(1);
  // Reconnection back-off.
  absl::Duration retry_initial = absl::Seconds(1);
  absl::Duration retry_max = absl::Minutes(1);
  // Statements that take longer are cancelled (a hung server).
  absl::Duration statement_timeout = absl::Minutes(5);

  storage::Store* store = nullptr;  // not owned; outlives the mirror
  storage::LogId own_log;           // the node's own log
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  std::string secret;                    // the analytics secret (rows.h)
  const Clock* clock = nullptr;          // not owned
  metrics::Registry* metrics = nullptr;  // not owned; may be null
};

struct MirrorStatus {
  bool connected = false;
  uint64_t behind_events = 0;
  absl::Duration lag;  // event time of the oldest event not yet mirrored
  uint64_t rows_written = 0;
  std::string last_error;  // empty after a success
  absl::Time last_error_at = absl::InfinitePast();
  absl::Time caught_up_at = absl::InfinitePast();  // last time nothing was behind
};

// Events of one log read from the store as rows for COPY.
struct ReadBatch {
  storage::LogId log;
  uint64_t from = 0;  // the cursor: rows are events (from, to]
  uint64_t to = 0;
  std::set<std::string> months;  // the months of its rows (first days)
  std::string rows;
};

class Mirror {
 public:
  // Checks the options and starts the thread; connecting is the thread's
  // work (a database that is down at start is retried, never fatal).
  static absl::StatusOr<std::unique_ptr<Mirror>> Start(MirrorOptions options);
  ~Mirror();  // Stop()
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  // Ends the thread (cancelling a statement in flight; its transaction
  // rolls back). Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  MirrorStatus status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit Mirror(MirrorOptions options);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Connects, runs the schema and reads the cursors.
  absl::Status Connect();
  // One pass over every log: at most one batch each, the next one read
  // from the store (on a thread of its own) while this one is written.
  // Returns whether any batch was written.
  absl::StatusOr<bool> Pass();
  // Events (from, from + batch_rows] of `log` as rows, up to a gap. Reads
  // only the store and the keyer, so it may run beside WriteBatch.
  absl::StatusOr<ReadBatch> Read(const storage::LogId& log, uint64_t from) const;
  // Every log to mirror: those the store holds a checkpoint of, and ours.
  absl::StatusOr<std::vector<storage::LogId>> Logs() const;
  uint64_t CursorOf(const storage::LogId& log) const;
  // Updates behind_events and lag from the store and the cursors.
  absl::Status Backlog() ABSL_LOCKS_EXCLUDED(mu_);
  // Writes a batch Read returned, in one transaction with its cursor.
  absl::Status WriteBatch(const ReadBatch& batch);
  // Waits `d` or until Stop; false when stopping.
  bool Sleep(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  void Failed(const absl::Status& s) ABSL_LOCKS_EXCLUDED(mu_);

  const MirrorOptions options_;
  const PersonKeyer keyer_;
  std::thread thread_;
  // The thread's own state.
  std::unique_ptr<PgConnection> conn_;
  std::map<std::pair<std::string, uint64_t>, uint64_t> cursors_;  // (origin, epoch) -> seq
  std::set<std::string> months_made_;                             // month partitions known to exist

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  PgConnection* live_ ABSL_GUARDED_BY(mu_) = nullptr;  // for Stop's Cancel
  MirrorStatus status_ ABSL_GUARDED_BY(mu_);

  metrics::Gauge* connected_ = nullptr;
  metrics::Gauge* behind_ = nullptr;
  metrics::Gauge* lag_ = nullptr;
  metrics::Counter* rows_ = nullptr;
  metrics::Counter* errors_ = nullptr;
};

}  // namespace tongban::analytics
