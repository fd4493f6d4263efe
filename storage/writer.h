// Writer is the node's local write path: a record change is validated, its
// audience derived from the person's links, and the event, the record's new
// state, the person links and the routing index are written in one batch.
//
// Group commit: callers' changes are validated on the callers' threads, then
// queued; one appender thread takes everything queued (up to max_group
// changes), assigns dense seqs, hashes the leaves into the Merkle frontier and
// builds one RocksDB batch (no cryptographic hashing: that is the signer's
// work); a committer thread writes it with one fsync while
// the appender builds the next group (at most two groups wait for their
// fsync). A call returns only after its batch is durable, so an acknowledged
// append survives a crash. After a failed commit the writer refuses every
// later append (the in-memory frontier is ahead of the disk) until reopened.
//
// Checkpoints: a signer thread signs (origin, epoch, tree_size, root, time,
// key_id) for every event appended since the last checkpoint, at most
// max_events_per_checkpoint at a time, ending on a group boundary. Under light
// load each event gets its own checkpoint as soon as it is durable; under load
// one signature covers up to about a thousand. The signer reads the leaves
// back from storage, checks each against a checksum the appender took of the
// bytes it wrote, extends the Merkle tree from them and signs that root; the
// tree's stored nodes and the checkpoint go to the committer as one batch and
// ride on the next group's fsync (or get their own when the log is idle); a
// checkpoint counts as signed once durable. A changed
// leaf stops signing and writing with kDataLoss (a flipped bit is never
// signed into history). Events found unsigned after a restart have no
// checksums in memory; their root is computed from the stored leaves alone.
//
// Thread safety: Append, AppendAll and the accessors may be called
// concurrently from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "common/ids/citizen_id.h"
#include "common/merkle/tree.h"
#include "records/dates.h"
#include "records/links.h"
#include "storage/keys.h"
#include "storage/remote.h"
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
  // A peer's stamp further ahead of our clock is not adopted by the hybrid
  // clock, and counts as our clock plus this where links and retention use
  // stamps as times ([sync] max_clock_ahead; records/links.h).
  absl::Duration max_clock_ahead = kDefaultMaxClockAhead;
  // Most changes committed in one batch (one fsync).
  size_t max_group = 1024;
  // Most events one checkpoint covers beyond the previous one.
  size_t max_events_per_checkpoint = 1024;
  // Time zone of legal dates ("today" for birth dates): China Standard Time.
  absl::TimeZone time_zone = records::ChinaStandardTime();
  // The national node: events applied from one origin are routed on to
  // their audience (relay for counties that cannot reach each other).
  bool relay = false;
  // Fault injection: called on the signer thread before it reads the leaves
  // up to `tree_size` back from storage.
  std::function<void(uint64_t tree_size)> before_sign_for_test;
  // Keys this node signed its log with before a key rotation (its retired
  // key files). The signer signs each tree size with the key the log's
  // rotations give it, so it needs the old key for events appended before
  // a rotation but not yet signed (a crash in between), or fetched back
  // after a restore from a backup older than the rotation. Not owned; they
  // must outlive the Writer.
  std::vector<const crypto::PrivateKey*> earlier_keys;
};

// One change to a record, as an operator or an import submits it.
struct RecordChange {
  std::string person;  // citizen ID as entered (15 or 18 characters)
  v1::RecordKind kind = v1::RECORD_KIND_UNSPECIFIED;
  std::string record_id;  // [A-Za-z0-9._:-]{1,128}, unique per (person, kind)
  v1::Operation operation = v1::OPERATION_UPSERT;
  v1::RecordValue value;                          // for upserts; empty for a retraction
  v1::Purpose purpose = v1::PURPOSE_UNSPECIFIED;  // defaults by kind
  std::string reason;                             // required for a retraction
  // The operator confirmed the graded findings on the person's ID.
  bool confirm_findings = false;
  // An upsert whose record already holds exactly this value as its one
  // current version appends nothing and comes back Appended::unchanged (an
  // import run again). Decided by the appender against the record's latest
  // state, groups still in flight included, so the same value sent twice at
  // once is written once.
  bool skip_if_unchanged = false;
};

struct Appended {
  v1::EventId id;      // the event written; when unchanged, the record's head
  std::string person;  // normalized 18-character ID
  std::vector<ids::IdFinding> findings;
  std::vector<std::string> audience;  // empty when unchanged
  bool unchanged = false;             // skip_if_unchanged held: nothing was written
};

struct WriterStats {
  uint64_t last_seq = 0;
  uint64_t signed_size = 0;
  uint64_t commits = 0;      // batches committed (one fsync each)
  uint64_t checkpoints = 0;  // checkpoints signed by this process
  // Time each pipeline stage spent working, for metrics and benchmarks.
  absl::Duration build_time;   // appender: building batches
  absl::Duration commit_time;  // committer: RocksDB write + fsync
  absl::Duration sign_time;    // signer: re-reading, hashing, signing, storing
};

// What a commit made durable that a peer could be sent (Writer::AddListener).
struct DurableChange {
  // A checkpoint of this node's own log: whatever it covers may go to any
  // peer (the whole log to the national node, routed events to counties).
  bool own_log = false;
  // Peers the remote batches concern: the nodes that sent them (they wait
  // for the outcome, an Ack or a failure; RemoteBatch::received_from) and,
  // when they were applied, the nodes relayed events are routed to.
  std::set<std::string> peers;
};

class Writer {
 public:
  // Resumes the log of (options.node, options.epoch) in `store`: verifies the
  // latest checkpoint against `key` and the stored tree, then starts the
  // appender and signer threads. `store`, `key` and `clock` are not owned and
  // must outlive the Writer.
  static absl::StatusOr<std::unique_ptr<Writer>> Open(Store* store, const crypto::PrivateKey* key,
                                                      WriterOptions options, const Clock* clock);
  ~Writer();  // Finishes queued appends, stops both threads.
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Validates and durably appends one change. Errors, with nothing stored:
  //   kInvalidArgument    a malformed ID, date, region code, record id or value
  //   kFailedPrecondition ID findings not confirmed; a record kept by another
  //                       node (custody); an entitlement of a person whose
  //                       origin is another node; retracting a retracted record
  //                       (its standing head is a retraction)
  //   kNotFound           retracting a record that does not exist
  // The record's new state is records::NextRecordState of its state and the
  // event, as on every node that applies the event.
  //   storage errors      the whole batch failed; the store is then stopped
  absl::StatusOr<Appended> Append(const RecordChange& change);
  // The same for many changes, committed together; one result per change.
  std::vector<absl::StatusOr<Appended>> AppendAll(absl::Span<const RecordChange> changes);

  // Applies events of another origin that the sync layer verified: the
  // events as received, the record states and links they imply (custody is
  // kept: an event changing a record another node keeps is stored but does
  // not change the record, and is counted), the origin's checkpoint and tree
  // nodes, and the cursor for `batch.from_peer`, in one durable batch; all
  // or nothing. Events already stored with the same bytes are skipped.
  // Errors: kDataLoss if a seq is stored with other bytes; kInvalidArgument
  // for a payload that does not parse or this node's own log; storage
  // errors as for Append.
  absl::Status ApplyRemote(const RemoteBatch& batch);

  // A batch queued by StartApplyRemote (defined below).
  class RemoteApply;
  // ApplyRemote without waiting, so that a receiver can verify its next
  // batch while this one is built and written: queues `batch`, which must
  // outlive the returned handle, and returns at once. Batches are applied in
  // the order they are queued.
  std::unique_ptr<RemoteApply> StartApplyRemote(const RemoteBatch& batch);

  // Appends events of this node's own log that it signed before and lost
  // (restored from a backup) and that the sync layer fetched back and
  // verified against its own signed checkpoint (node/node.h): the events as
  // they were signed, the record states, links and routes they imply (as
  // when they were first appended) and the backfill each inflow
  // registration asked for, in one durable batch; the signer then signs
  // them again (the same leaves, so the same root). The first event must be
  // the one after the last appended. Errors: kInvalidArgument for another
  // log or a payload that does not parse; kFailedPrecondition if the seqs
  // do not follow on (an append ran in between: the caller must block
  // appends while it recovers); storage errors as for Append.
  absl::Status AppendRecovered(const RemoteBatch& batch);

  // Rotates the key that signs this log (DESIGN.md section 3): appends a
  // key-rotation entry, signed by the current key and by `next`, at the
  // next seq, and returns it once durable. Checkpoints of that tree size and
  // above are signed with `next`; everything signed before stays verifiable
  // under the old key. `next` is not owned and must outlive the Writer.
  // Errors: kInvalidArgument for a key of another suite;
  // kFailedPrecondition if `next` is the current key; storage errors as for
  // Append.
  absl::StatusOr<Appended> RotateKey(const crypto::PrivateKey* next);
  // The key that signs the log's next checkpoint (after every rotation
  // appended so far).
  const crypto::PrivateKey& current_key() const;

  // Waits until a signed checkpoint covers `seq`. kDeadlineExceeded after
  // `timeout`; the signer's error if it stopped.
  absl::Status WaitForCheckpoint(uint64_t seq, absl::Duration timeout);

  // Called (on the committer thread, without locks held) after anything a
  // peer could be sent became durable: a checkpoint of our log, or applied
  // events (which the national node relays). Returns an id for
  // RemoveListener. Listeners must be quick and must not call the Writer.
  int AddListener(std::function<void()> listener);
  // The same, told what became durable, so that a transport holding
  // thousands of sessions wakes only those it concerns.
  int AddListener(std::function<void(const DurableChange&)> listener);
  void RemoveListener(int id);

  const LogId& log() const { return log_; }
  WriterStats stats() const;
  // OK while the writer accepts appends; after a failed commit, or a leaf
  // changed before signing, that first failure (every append then fails).
  absl::Status failure() const;
  // Refuses every later append, rotation and peer batch with `why` (an
  // error) without stopping the writer, until called with OK; what is
  // already queued goes on. The node refuses writes so while its disk is
  // low on space (node/node.h).
  void RefuseWrites(absl::Status why);
  absl::Status refusal() const;

 private:
  struct Prepared;
  struct Ticket;
  struct InFlight;
  struct PendingCheckpoint;
  template <typename V>
  struct Pending {
    V value;
    uint64_t group;  // the in-flight group that wrote it; 0 if read from the store
  };
  static constexpr size_t kMaxInFlight = 2;

  Writer(Store* store, const crypto::PrivateKey* key, WriterOptions options, const Clock* clock);
  absl::Status Recover();
  absl::StatusOr<Prepared> Prepare(const RecordChange& change, absl::CivilDay today) const;
  void AppenderLoop();
  void BuildGroup(std::vector<Ticket*> group);
  // Builds one group's batch, in the steps below: each local change is
  // appended (AppendLocal) and each peer's batch applied (ApplyRemoteEvents)
  // against the record states and links of the store and of the groups
  // still in flight.
  void BuildBatch(InFlight* in);
  struct GroupBuild;
  using PendingRecord = Pending<std::optional<v1::RecordState>>;
  // A local change: check it against the record and the person's links,
  // make its event (seq, stamp, parents), route it, write the event, the
  // record's new state, the links, the routes and any backfill marker.
  absl::StatusOr<Appended> AppendLocal(GroupBuild& g, const Prepared& c);
  // A key-rotation entry (RotateKey).
  absl::StatusOr<Appended> AppendRotation(GroupBuild& g, const crypto::PrivateKey& next);
  // Which keys sign this epoch's tree sizes, from the log's stored rotations
  // and the keys this node holds (Recover).
  absl::Status RecoverKeys(uint64_t signed_size, uint64_t last);
  // The key that signs a checkpoint of `tree_size`, or nullptr if this node
  // does not hold it.
  const crypto::PrivateKey* KeyAt(uint64_t tree_size) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string KeyIdAt(uint64_t tree_size) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckLocalChange(const Prepared& c, const std::optional<v1::RecordState>& state,
                                const records::Links& links) const;
  // An event of this log at `seq`, stamped now: its identity only.
  v1::EventBody NewOwnEvent(uint64_t seq);
  v1::EventBody NewLocalEvent(const Prepared& c, const std::optional<v1::RecordState>& state,
                              uint64_t seq);
  // The links `body` implies (records::DeriveLinks, stamped with the
  // event's own time so every node derives the same), applied to `links`
  // and written if they changed; one code path for local, remote and
  // recovered events.
  records::LinkEffect UpdateLinks(GroupBuild& g, const v1::EventBody& body,
                                  const v1::RecordValue& value, Pending<records::Links>* links);
  // Derives the links the event implies and its audience (written into it).
  std::vector<std::string> RouteLocalEvent(GroupBuild& g, const Prepared& c,
                                           const std::optional<v1::RecordState>& state,
                                           Pending<records::Links>* links, v1::EventBody* body);
  void CountNewFindings(GroupBuild& g, const std::optional<v1::RecordState>& before,
                        const Prepared& c);
  void MarkBackfill(GroupBuild& g, const v1::EventBody& body, const v1::RecordValue& value);
  // One of our own events fetched back after a restore (AppendRecovered).
  absl::Status AppendRecoveredEvents(GroupBuild& g, const RemoteBatch& rb);
  // A peer's verified batch: pass 1 (CheckRemoteEvents) finds what is new
  // and fails the batch on anything the batch itself got wrong; pass 2
  // stores each event and applies it to its record and links, then the
  // origin's tree nodes, checkpoint and the peer's cursor.
  struct FreshEvent {
    const RemoteEvent* event;
    v1::RecordValue value;  // parsed payload; empty for a retraction
  };
  absl::Status ApplyRemoteEvents(GroupBuild& g, const RemoteBatch& rb);
  absl::StatusOr<std::vector<FreshEvent>> CheckRemoteEvents(const RemoteBatch& rb) const;
  absl::Status ApplyRemoteEvent(GroupBuild& g, const RemoteBatch& rb, const FreshEvent& f);
  void RelayRoutes(GroupBuild& g, const RemoteBatch& rb, const RemoteEvent& e,
                   const records::Links& links, const records::LinkEffect& effect);
  void StoreRemoteProgress(GroupBuild& g, const RemoteBatch& rb);
  // The record-state update, one code path for a local append and a peer's
  // event (records::NextRecordState); `audience` is the custodian's only;
  // `superseded`: an event applied before names this one as a parent.
  void WriteRecordState(GroupBuild& g, const std::string& record_key, PendingRecord* slot,
                        const v1::EventBody& event, absl::Span<const std::string> audience,
                        bool superseded = false);
  // Whether an event already applied to the record names `event` as a
  // parent (records::MaySupersede, then the history's events).
  absl::StatusOr<bool> AlreadySuperseded(const std::optional<v1::RecordState>& state,
                                         const v1::EventBody& event) const;
  // The overlay's entry for a record or a person's links, read from the
  // store on first use.
  absl::StatusOr<PendingRecord*> RecordSlot(const std::string& record_key);
  absl::StatusOr<Pending<records::Links>*> LinksSlot(const std::string& person);
  void CommitterLoop();
  void SignerLoop();
  // Signs the log up to `target` and returns the checkpoint with the tree
  // nodes it completes, for the committer. `sums` holds the appender's
  // checksums of the bodies after the signed size, or is empty after a
  // restart.
  absl::StatusOr<std::unique_ptr<PendingCheckpoint>> SignUpTo(uint64_t target,
                                                              const std::vector<uint64_t>& sums,
                                                              const crypto::PrivateKey& key);

  Store* const store_;                   // Not owned.
  const crypto::PrivateKey* const key_;  // Not owned.
  const WriterOptions options_;
  const Clock* const clock_;  // Not owned.
  const crypto::Suite& suite_;
  const LogId log_;
  HybridClock hlc_;

  // Appender thread state (only the appender touches these after Open).
  uint64_t appended_seq_ = 0;  // last seq assigned, durable or in flight
  uint64_t built_groups_ = 0;
  std::map<std::string, uint64_t> finding_counts_;
  // Record states and links written by groups that are built but maybe not
  // yet committed; later groups must see them. Pruned once committed.
  absl::flat_hash_map<std::string, PendingRecord> pending_records_;
  absl::flat_hash_map<std::string, Pending<records::Links>> pending_links_;
  // Remote events written by in-flight groups (event key -> body), so that
  // an event arriving through two peers is applied once.
  absl::flat_hash_map<std::string, Pending<std::string>> pending_events_;

  // Signer thread state.
  merkle::Frontier signed_frontier_;
  std::unique_ptr<crypto::Hasher> sign_hasher_;
  const crypto::PrivateKey* signer_key_ = nullptr;  // the key signer_ signs with
  std::unique_ptr<crypto::Signer> signer_;

  mutable absl::Mutex mu_;
  std::deque<Ticket*> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<InFlight>> commit_queue_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<PendingCheckpoint>> checkpoint_queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;       // no new appends
  bool appender_done_ ABSL_GUARDED_BY(mu_) = false;  // no more groups
  bool signer_done_ ABSL_GUARDED_BY(mu_) = false;    // no more checkpoints
  bool committing_ ABSL_GUARDED_BY(mu_) = false;     // a group is being written
  uint64_t committed_groups_ ABSL_GUARDED_BY(mu_) = 0;
  // For each committed group not yet signed: its last seq and the checksums
  // of the bodies it wrote, in seq order.
  struct GroupSums {
    uint64_t last_seq;
    std::vector<uint64_t> sums;
  };
  std::deque<GroupSums> group_sums_ ABSL_GUARDED_BY(mu_);
  uint64_t recovered_seq_ ABSL_GUARDED_BY(mu_) = 0;  // last seq found at Open
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;       // durable
  uint64_t signing_size_ ABSL_GUARDED_BY(mu_) = 0;   // signed, maybe not durable
  uint64_t signed_size_ ABSL_GUARDED_BY(mu_) = 0;    // covered by a durable checkpoint
  // The first failure of a commit or of verification before signing; the
  // writer then refuses every append until reopened.
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  absl::Status refused_ ABSL_GUARDED_BY(mu_);  // RefuseWrites
  // Why a new append or batch is not queued: stopping, or refused.
  absl::Status Closed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t commits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t checkpoints_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration build_time_ ABSL_GUARDED_BY(mu_);
  absl::Duration commit_time_ ABSL_GUARDED_BY(mu_);
  absl::Duration sign_time_ ABSL_GUARDED_BY(mu_);
  // Signing keys: every private key this node holds, by key id; the key that
  // signs this epoch's tree sizes before its first rotation; and each
  // rotation of this epoch (seq, new key id), ascending.
  std::map<std::string, const crypto::PrivateKey*> own_keys_ ABSL_GUARDED_BY(mu_);
  std::string first_key_id_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, std::string>> switches_ ABSL_GUARDED_BY(mu_);

  absl::Mutex listeners_mu_;
  std::map<int, std::function<void(const DurableChange&)>> listeners_
      ABSL_GUARDED_BY(listeners_mu_);
  int next_listener_ ABSL_GUARDED_BY(listeners_mu_) = 0;
  void NotifyListeners(const DurableChange& change);

  // Pipeline: appender (builds a group's batch) -> committer (one fsync per
  // group) -> signer -> committer (checkpoints ride on the next fsync).
  // ~Writer joins the appender, the signer, then the committer.
  std::thread appender_;
  std::thread committer_;
  std::thread signer_thread_;
};

// A batch queued by Writer::StartApplyRemote. Its methods may be called from
// any thread; destroying it waits until the writer is done with the batch.
class Writer::RemoteApply {
 public:
  ~RemoteApply();
  RemoteApply(const RemoteApply&) = delete;
  RemoteApply& operator=(const RemoteApply&) = delete;

  // Waits until the writer has made its own checks of the batch and built
  // its write. OK: it will be written, unless its commit fails (which
  // stops the writer, so every batch queued after it fails too).
  // Otherwise ApplyRemote's error, with nothing written. A caller whose
  // next batch builds on this one queues it only after OK.
  absl::Status WaitBuilt();
  // Waits until the batch is durable, or failed: ApplyRemote's result.
  absl::Status Wait();
  // True when Wait() would not block.
  bool done() const;

 private:
  friend class Writer;
  explicit RemoteApply(Writer* writer);

  Writer* const writer_;  // Not owned.
  std::unique_ptr<Ticket> ticket_;
};

}  // namespace tongban::storage
