// Writer is the node's local write path: a record change is validated, its
// audience derived from the person's links, and the event, the record's new
// state, the person links and the routing index are written in one batch.
//
// Group commit: callers' changes are validated on the callers' threads, then
// queued; one appender thread takes everything queued (up to max_group
// changes), assigns dense seqs, hashes the leaves into the Merkle frontier and
// commits one RocksDB batch with one fsync. A call returns only after its
// batch is durable, so an acknowledged append survives a crash.
//
// Checkpoints: a signer thread signs (origin, epoch, tree_size, root, time,
// key_id) for every event appended since the last checkpoint, at most
// max_events_per_checkpoint at a time. Under light load each event gets its
// own checkpoint as soon as it is durable; under load one signature covers up
// to about a thousand. Before signing, the root is recomputed from the leaf
// bytes read back from storage and compared with the stored tree nodes; a
// mismatch stops signing with kDataLoss (a flipped bit is never signed into
// history).
//
// Thread safety: Append, AppendAll and the accessors may be called
// concurrently from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "common/ids/citizen_id.h"
#include "common/merkle/tree.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tongban/v1/event.pb.h"
#include "tongban/v1/records.pb.h"

namespace tongban::storage {

struct WriterOptions {
  // This node's 6-digit code. Required.
  std::string node;
  // The log epoch this node appends to (DESIGN.md section 4: a restored node
  // that lost events starts a new epoch).
  uint64_t epoch = 1;
  // The national node, which receives every event.
  std::string national = "000000";
  // How long a county whose link ended keeps receiving the person's events.
  absl::Duration retention = absl::Hours(24 * 180);
  // Most changes committed in one batch (one fsync).
  size_t max_group = 1024;
  // Most events one checkpoint covers beyond the previous one.
  size_t max_events_per_checkpoint = 1024;
  // Time zone of legal dates ("today" for birth dates): China Standard Time.
  absl::TimeZone time_zone = absl::FixedTimeZone(8 * 3600);
};

// One change to a record, as an operator or an import submits it.
struct RecordChange {
  std::string person;  // citizen ID as entered (15 or 18 characters)
  v1::RecordKind kind = v1::RECORD_KIND_UNSPECIFIED;
  std::string record_id;  // [A-Za-z0-9._:-]{1,128}, unique per (person, kind)
  v1::Operation operation = v1::OPERATION_UPSERT;
  v1::RecordValue value;  // for upserts; empty for a retraction
  v1::Purpose purpose = v1::PURPOSE_UNSPECIFIED;  // defaults by kind
  std::string reason;  // required for a retraction
  // The operator confirmed the graded findings on the person's ID.
  bool confirm_findings = false;
};

struct Appended {
  v1::EventId id;
  std::string person;  // normalized 18-character ID
  std::vector<ids::IdFinding> findings;
  std::vector<std::string> audience;
};

struct WriterStats {
  uint64_t last_seq = 0;
  uint64_t signed_size = 0;
  uint64_t commits = 0;      // batches committed (one fsync each)
  uint64_t checkpoints = 0;  // checkpoints signed by this process
};

class Writer {
 public:
  // Resumes the log of (options.node, options.epoch) in `store`: verifies the
  // latest checkpoint against `key` and the stored tree, then starts the
  // appender and signer threads. `store`, `key` and `clock` are not owned and
  // must outlive the Writer.
  static absl::StatusOr<std::unique_ptr<Writer>> Open(Store* store,
                                                      const crypto::PrivateKey* key,
                                                      WriterOptions options,
                                                      const Clock* clock);
  ~Writer();  // Finishes queued appends, stops both threads.
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Validates and durably appends one change. Errors, with nothing stored:
  //   kInvalidArgument    a malformed ID, date, region code, record id or value
  //   kFailedPrecondition ID findings not confirmed; a record kept by another
  //                       node (custody); retracting a retracted record
  //   kNotFound           retracting a record that does not exist
  //   storage errors      the whole batch failed; the store is then stopped
  absl::StatusOr<Appended> Append(const RecordChange& change);
  // The same for many changes, committed together; one result per change.
  std::vector<absl::StatusOr<Appended>> AppendAll(
      absl::Span<const RecordChange> changes);

  // Waits until a signed checkpoint covers `seq`. kDeadlineExceeded after
  // `timeout`; the signer's error if it stopped.
  absl::Status WaitForCheckpoint(uint64_t seq, absl::Duration timeout);

  const LogId& log() const { return log_; }
  WriterStats stats() const;

 private:
  struct Prepared;
  struct Ticket;

  Writer(Store* store, const crypto::PrivateKey* key, WriterOptions options,
         const Clock* clock);
  absl::Status Recover();
  absl::StatusOr<Prepared> Prepare(const RecordChange& change,
                                   absl::CivilDay today) const;
  void AppenderLoop();
  void CommitGroup(std::vector<Ticket*>& group);
  void SignerLoop();
  absl::Status SignUpTo(uint64_t target);

  Store* const store_;                  // Not owned.
  const crypto::PrivateKey* const key_;  // Not owned.
  const WriterOptions options_;
  const Clock* const clock_;            // Not owned.
  const crypto::Suite& suite_;
  const LogId log_;
  HybridClock hlc_;

  // Appender thread state (only the appender touches these after Open).
  merkle::Frontier frontier_;
  std::unique_ptr<crypto::Hasher> append_hasher_;
  std::map<std::string, uint64_t> finding_counts_;

  // Signer thread state.
  merkle::Frontier signed_frontier_;
  std::unique_ptr<crypto::Hasher> sign_hasher_;
  std::unique_ptr<crypto::Signer> signer_;

  mutable absl::Mutex mu_;
  std::deque<Ticket*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;     // durable
  uint64_t signed_size_ ABSL_GUARDED_BY(mu_) = 0;  // covered by a checkpoint
  absl::Status signer_error_ ABSL_GUARDED_BY(mu_);
  uint64_t commits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t checkpoints_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread appender_;  // Started last in Open, joined first in ~Writer.
  std::thread signer_thread_;
};

}  // namespace tongban::storage
