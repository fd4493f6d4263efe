#include "analytics/mirror.h"

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "analytics/schema_sql.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/thread.h"

namespace tongban::analytics {
namespace {

// pg_advisory_xact_lock key: one mirror writes into a database at a time.
constexpr char kLock[] = "SELECT pg_advisory_xact_lock(7243000016)";

std::string OriginText(int64_t origin) { return absl::StrFormat("%06d", origin); }

}  // namespace

Mirror::Mirror(MirrorOptions options)
    : options_(std::move(options)), keyer_(options_.suite, options_.secret) {}

absl::StatusOr<std::unique_ptr<Mirror>> Mirror::Start(MirrorOptions options) {
  if (options.conninfo.empty()) {
    return absl::InvalidArgumentError("analytics: no connection string");
  }
  if (options.batch_rows < 1 || options.batch_rows > 100000) {
    return absl::InvalidArgumentError("analytics: batch_rows out of range [1, 100000]");
  }
  if (options.hash_partitions > 64) {
    return absl::InvalidArgumentError("analytics: hash_partitions out of range [0, 64]");
  }
  if (options.store == nullptr || options.clock == nullptr || options.secret.empty()) {
    return absl::InvalidArgumentError("analytics: store, clock and secret are required");
  }
  std::unique_ptr<Mirror> m(new Mirror(std::move(options)));
  if (metrics::Registry* r = m->options_.metrics; r != nullptr) {
    TB_ASSIGN_OR_RETURN(auto* connected,
                        r->AddGauge("tongban_analytics_connected",
                                    "1 while the analytics mirror is connected to PostgreSQL"));
    TB_ASSIGN_OR_RETURN(auto* behind, r->AddGauge("tongban_analytics_behind_events",
                                                  "Events stored and not yet in analytics"));
    TB_ASSIGN_OR_RETURN(auto* lag,
                        r->AddGauge("tongban_analytics_lag_seconds",
                                    "Age of the oldest event not yet in analytics (0: caught up)"));
    TB_ASSIGN_OR_RETURN(auto* rows, r->AddCounter("tongban_analytics_rows_total",
                                                  "Rows the mirror wrote into analytics"));
    TB_ASSIGN_OR_RETURN(auto* errors,
                        r->AddCounter("tongban_analytics_errors_total",
                                      "Connection and SQL errors of the analytics mirror"));
    m->connected_ = connected->WithLabels({});
    m->behind_ = behind->WithLabels({});
    m->lag_ = lag->WithLabels({});
    m->rows_ = rows->WithLabels({});
    m->errors_ = errors->WithLabels({});
  }
  Mirror* raw = m.get();
  TB_ASSIGN_OR_RETURN(m->thread_, StartThread("tb-analytics", [raw] { raw->Run(); }));
  return m;
}

Mirror::~Mirror() { Stop(); }

void Mirror::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (live_ != nullptr) live_->Cancel();
  }
  if (thread_.joinable()) thread_.join();
}

MirrorStatus Mirror::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

bool Mirror::Sleep(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

void Mirror::Failed(const absl::Status& s) {
  TB_LOG(WARNING) << "analytics mirror: " << s;
  if (errors_ != nullptr) errors_->Increment();
  {
    absl::MutexLock lock(&mu_);
    status_.connected = false;
    status_.last_error = std::string(s.message());
    status_.last_error_at = options_.clock->Now();
    live_ = nullptr;
    conn_.reset();  // under mu_: Stop may be cancelling through it
  }
  if (connected_ != nullptr) connected_->Set(0);
}

void Mirror::Run() {
  absl::Duration backoff = options_.retry_initial;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    if (conn_ == nullptr) {
      if (absl::Status s = Connect(); !s.ok()) {
        Failed(s);
        if (absl::Status b = Backlog(); !b.ok()) {
          TB_LOG(WARNING) << "analytics mirror: " << b;
        }
        if (!Sleep(backoff)) break;
        backoff = std::min(2 * backoff, options_.retry_max);
        continue;
      }
      backoff = options_.retry_initial;
    }
    absl::StatusOr<bool> wrote = Pass();
    if (!wrote.ok()) {
      Failed(wrote.status());
      if (!Sleep(backoff)) break;
      backoff = std::min(2 * backoff, options_.retry_max);
      continue;
    }
    if (!*wrote && !Sleep(options_.poll)) break;
  }
  absl::MutexLock lock(&mu_);
  live_ = nullptr;
  conn_.reset();
  status_.connected = false;
}

absl::Status Mirror::Connect() {
  TB_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn,
                      PgConnection::Connect(options_.conninfo, absl::Seconds(10), "tongband"));
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("analytics: stopping");
    conn_ = std::move(conn);
    live_ = conn_.get();
  }
  TB_RETURN_IF_ERROR(conn_->Exec(absl::StrCat(
      "SET statement_timeout = ", absl::ToInt64Milliseconds(options_.statement_timeout))));
  TB_RETURN_IF_ERROR(conn_->Exec(absl::StrCat(
      "BEGIN; ", kLock, "; SET LOCAL tongban.hash_partitions = ", options_.hash_partitions, "; ",
      kSchemaSql, "\n; COMMIT")));
  // Each batch goes into record_state and, through this table, into
  // record_latest (tongban.fold_latest), in one transaction.
  TB_RETURN_IF_ERROR(
      conn_->Exec("CREATE TEMP TABLE IF NOT EXISTS tongban_batch (LIKE tongban.record_state) "
                  "ON COMMIT DELETE ROWS"));
  // The person keys in the table must come from this secret.
  TB_ASSIGN_OR_RETURN(std::string fingerprint, keyer_.Fingerprint());
  TB_RETURN_IF_ERROR(conn_
                         ->Query("INSERT INTO tongban.meta VALUES ('person_key_fingerprint', $1) "
                                 "ON CONFLICT (key) DO NOTHING",
                                 {fingerprint})
                         .status());
  TB_ASSIGN_OR_RETURN(
      PgRows f,
      conn_->Query("SELECT value FROM tongban.meta WHERE key = 'person_key_fingerprint'"));
  if (f.size() != 1 || f.text(0, 0) != fingerprint) {
    return absl::FailedPreconditionError(absl::StrCat(
        "analytics: the database holds person keys made with another secret (fingerprint ",
        f.size() == 1 ? f.text(0, 0) : "?", ", this node's analytics.key: ", fingerprint,
        "); give the node that database's analytics.key or mirror into an empty database"));
  }
  TB_ASSIGN_OR_RETURN(PgRows rows,
                      conn_->Query("SELECT origin, epoch, seq FROM tongban.mirror_cursor"));
  cursors_.clear();
  for (size_t i = 0; i < rows.size(); ++i) {
    cursors_[{OriginText(rows.integer(i, 0)), static_cast<uint64_t>(rows.integer(i, 1))}] =
        static_cast<uint64_t>(rows.integer(i, 2));
  }
  months_made_.clear();
  {
    absl::MutexLock lock(&mu_);
    status_.connected = true;
  }
  if (connected_ != nullptr) connected_->Set(1);
  TB_LOG(INFO) << "analytics mirror connected, " << cursors_.size() << " logs mirrored before";
  return absl::OkStatus();
}

absl::StatusOr<std::vector<storage::LogId>> Mirror::Logs() const {
  TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> logs, options_.store->CheckpointLogs());
  if (std::find(logs.begin(), logs.end(), options_.own_log) == logs.end()) {
    logs.push_back(options_.own_log);
  }
  return logs;
}

uint64_t Mirror::CursorOf(const storage::LogId& log) const {
  auto it = cursors_.find({log.origin, log.epoch});
  return it == cursors_.end() ? 0 : it->second;
}

absl::Status Mirror::Backlog() {
  TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> logs, Logs());
  uint64_t behind = 0;
  int64_t oldest = 0;
  for (const storage::LogId& log : logs) {
    TB_ASSIGN_OR_RETURN(uint64_t last, options_.store->LastSeq(log));
    const uint64_t cursor = CursorOf(log);
    if (last <= cursor) continue;
    behind += last - cursor;
    absl::StatusOr<std::string> body = options_.store->GetEvent(log, cursor + 1);
    v1::EventBody event;
    if (body.ok() && event.ParseFromString(*body)) {
      const int64_t micros = event.hlc().physical_micros();
      if (oldest == 0 || micros < oldest) oldest = micros;
    }
  }
  const absl::Time now = options_.clock->Now();
  const absl::Duration lag =
      behind == 0 || oldest == 0
          ? absl::ZeroDuration()
          : std::max(absl::ZeroDuration(), now - absl::FromUnixMicros(oldest));
  {
    absl::MutexLock lock(&mu_);
    status_.behind_events = behind;
    status_.lag = lag;
    if (behind == 0) status_.caught_up_at = now;
  }
  if (behind_ != nullptr) behind_->Set(static_cast<double>(behind));
  if (lag_ != nullptr) lag_->Set(absl::ToDoubleSeconds(lag));
  return absl::OkStatus();
}

absl::StatusOr<ReadBatch> Mirror::Read(const storage::LogId& log, uint64_t from) const {
  TB_ASSIGN_OR_RETURN(uint64_t last, options_.store->LastSeq(log));
  ReadBatch batch;
  batch.log = log;
  batch.from = batch.to = from;
  const uint64_t until = std::min<uint64_t>(last, from + options_.batch_rows);
  if (until <= from) return batch;
  absl::Status scanned = options_.store->ScanEvents(
      log, from + 1, until, [&](uint64_t seq, absl::string_view body) -> absl::Status {
        if (seq != batch.to + 1) return absl::OutOfRangeError("gap");  // wait at a gap
        v1::EventBody event;
        if (!event.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
          return absl::DataLossError(absl::StrCat("analytics: event ", log.origin, "/", log.epoch,
                                                  "/", seq, " does not parse"));
        }
        TB_RETURN_IF_ERROR(AppendRow(keyer_, event, log.epoch, &batch.rows));
        batch.months.insert(MonthOf(event));
        batch.to = seq;
        return absl::OkStatus();
      });
  if (!scanned.ok() && !absl::IsOutOfRange(scanned)) return scanned;
  return batch;
}

absl::StatusOr<bool> Mirror::Pass() {
  TB_RETURN_IF_ERROR(Backlog());
  TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> logs, Logs());
  std::vector<std::pair<storage::LogId, uint64_t>> work;  // logs behind, and their cursors
  for (const storage::LogId& log : logs) {
    TB_ASSIGN_OR_RETURN(uint64_t last, options_.store->LastSeq(log));
    if (last > CursorOf(log)) work.emplace_back(log, CursorOf(log));
  }
  // The next log's batch is read on a thread of its own while this one is
  // written: the store and the database work at once. Each log is in the
  // pass once, so no write moves a cursor a read started from.
  absl::StatusOr<ReadBatch> next = absl::UnavailableError("not read");
  std::thread reader;
  auto read_next = [&](size_t i) {
    absl::StatusOr<std::thread> t = StartThread(
        "tb-analytics-rd", [this, &next, &w = work[i]] { next = Read(w.first, w.second); });
    if (t.ok()) {
      reader = *std::move(t);
    } else {
      next = Read(work[i].first, work[i].second);  // no thread to spare: read here
    }
  };
  auto join = [&] {
    if (reader.joinable()) reader.join();
  };
  bool wrote = false;
  if (!work.empty()) read_next(0);
  for (size_t i = 0; i < work.size(); ++i) {
    join();
    absl::StatusOr<ReadBatch> batch = std::move(next);
    if (i + 1 < work.size()) read_next(i + 1);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    absl::Status written = batch.ok()
                               ? (batch->to == batch->from ? absl::OkStatus() : WriteBatch(*batch))
                               : batch.status();
    if (!written.ok()) {
      join();
      return written;
    }
    wrote = wrote || batch->to > batch->from;
  }
  join();
  if (wrote) TB_RETURN_IF_ERROR(Backlog());
  return wrote;
}

absl::Status Mirror::WriteBatch(const ReadBatch& batch) {
  const storage::LogId& log = batch.log;
  const uint64_t from = batch.from;
  const uint64_t to = batch.to;
  const std::string& rows = batch.rows;
  std::set<std::string> months;
  for (const std::string& m : batch.months) {
    if (!months_made_.contains(m)) months.insert(m);
  }
  int origin = 0;
  if (!absl::SimpleAtoi(log.origin, &origin)) {
    return absl::InvalidArgumentError(absl::StrCat("analytics: log origin ", log.origin));
  }
  const std::string origin_text = absl::StrCat(origin);
  const std::string epoch_text = absl::StrCat(log.epoch);
  TB_RETURN_IF_ERROR(conn_->Exec(absl::StrCat("BEGIN; ", kLock)));
  TB_ASSIGN_OR_RETURN(PgRows cursor, conn_->Query("SELECT seq FROM tongban.mirror_cursor "
                                                  "WHERE origin = $1 AND epoch = $2 FOR UPDATE",
                                                  {origin_text, epoch_text}));
  const uint64_t db = cursor.size() == 0 ? 0 : static_cast<uint64_t>(cursor.integer(0, 0));
  if (db != from) {
    // Another writer (or a commit whose answer we lost) moved the cursor:
    // go on from the database's.
    TB_RETURN_IF_ERROR(conn_->Exec("ROLLBACK"));
    TB_LOG(WARNING) << "analytics mirror: cursor of " << log.origin << "/" << log.epoch << " is "
                    << db << " in the database, not " << from << "; going on from there";
    cursors_[{log.origin, log.epoch}] = db;
    return absl::OkStatus();
  }
  if (!months.empty()) {
    TB_RETURN_IF_ERROR(conn_
                           ->Query("SELECT tongban.ensure_months($1::date[])",
                                   {absl::StrCat("{", absl::StrJoin(months, ","), "}")})
                           .status());
  }
  TB_RETURN_IF_ERROR(conn_->CopyIn(
      absl::StrCat("COPY tongban.record_state (", kRecordStateColumns, ") FROM STDIN"), rows));
  TB_RETURN_IF_ERROR(conn_->CopyIn(
      absl::StrCat("COPY pg_temp.tongban_batch (", kRecordStateColumns, ") FROM STDIN"), rows));
  TB_RETURN_IF_ERROR(conn_->Query("SELECT tongban.fold_latest('pg_temp.tongban_batch')").status());
  TB_RETURN_IF_ERROR(conn_
                         ->Query("INSERT INTO tongban.mirror_cursor (origin, epoch, seq) "
                                 "VALUES ($1, $2, $3) ON CONFLICT (origin, epoch) "
                                 "DO UPDATE SET seq = EXCLUDED.seq, updated_at = now()",
                                 {origin_text, epoch_text, absl::StrCat(to)})
                         .status());
  TB_RETURN_IF_ERROR(conn_->Exec("COMMIT"));
  cursors_[{log.origin, log.epoch}] = to;
  months_made_.insert(months.begin(), months.end());
  const uint64_t n = to - from;
  if (rows_ != nullptr) rows_->Increment(n);
  absl::MutexLock lock(&mu_);
  status_.rows_written += n;
  status_.last_error.clear();
  return absl::OkStatus();
}

}  // namespace tongban::analytics
