// Session is one peer session's logic, independent of the transport: the
// gRPC stream (or a test) moves its messages. Both ends of a session run
// one, and each is at once a sender and a receiver (DESIGN.md section 7):
//
//   start       Hello (where we stand in every log we receive from the
//               peer, and which logs we refuse: frozen here) and a Credit
//               (how many batches we accept at once)
//   sending     NextBatch() reads from the durable log and routing index
//               (sync/feed.h) within the credit the peer granted: our own
//               log (whole to the national node, routed to counties) and, at
//               the national node, every log routed on to the peer (relay),
//               except the logs the peer refuses (LogRefused, or frozen in
//               its Hello)
//   receiving   OnMessage(batch) verifies it (sync/verify.h) and hands it
//               to the writer to apply with its cursor in one durable batch
//               (Writer::StartApplyRemote); once that is durable, NextBatch
//               answers with an Ack and one more Credit. The next batch is
//               verified while this one is written: against what is stored
//               plus the batches still being written, and queued only after
//               the one before it passed the writer's own checks (at most
//               kMaxApplying batches are in the writer)
//   backfill    after an inflow registration linked us to a person, the
//               writer left a durable marker per county to ask; the session
//               sends FetchPerson for each, and the peer answers with every
//               event it can prove about the person (its own log; at the
//               national node every log), then FetchDone. A peer that is not
//               linked to the person is refused, and the refusal counted,
//               logged (ID masked) and audited (storage/refusal_audit.h).
//
// What a peer can make this node hold or believe is bounded here, where
// any transport obeys it (issue #14):
//   credit      the receiver counts the credit it granted (options.credit at
//               the start, one back per batch applied, skipped or resent); a
//               batch read beyond it ends the session
//               (REJECT_REASON_OVER_CREDIT, counted, the peer held). input() is the account of
//               input read and not yet processed, which the transport asks before every read
//               (sync/input_account.h).
//   origins     a batch refused for a reason that concerns its origin, not
//               the sender (REJECT_REASON_FROZEN, REJECT_REASON_EQUIVOCATION)
//               ends nothing: it is counted, the credit comes back, the
//               sender is told (LogRefused) and stops offering that log;
//               every other log keeps flowing on the session.
//   clocks      an event stamped more than options.max_clock_ahead ahead of
//               this node's clock is applied (it is signed history) but
//               counted and shown per origin (PeerTable::ClockSeen); the
//               writer's hybrid clock does not adopt it (common/clock.h).
//   garbage     bytes that do not parse as a SyncMessage (OnUnparsable) are
//               a rejection: a reason, a counter, and after
//               kHoldAfterUnparsable such sessions a hold.
//
// Any other batch that fails verification ends the session with the
// rejection (kInvalidArgument carrying a RejectReason) and holds the peer.
// Nothing is reset silently.
//
// Thread safety: none, except input(); one Session belongs to one stream's
// worker. The Store and Writer it borrows are shared and thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "storage/audit_log.h"
#include "storage/refusal_audit.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "sync/evidence.h"
#include "sync/feed.h"
#include "sync/input_account.h"
#include "sync/peers.h"
#include "sync/verify.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::sync {

struct SessionOptions {
  std::string self;  // this node's code
  std::string national = "000000";
  // How long a county whose link to a person ended may still fetch the
  // person's history (the writer's retention window).
  absl::Duration retention = absl::Hours(24 * 180);
  FeedLimits limits;
  // Batches the receiver lets the sender have in flight; with the largest
  // message the transport takes, this bounds the input a peer can make the
  // receiver hold (InputAccount::bound_bytes()).
  uint32_t credit = 4;
  uint64_t max_message_bytes = kMaxMessageBytes;
  // An event stamped further ahead of this node's clock is counted and
  // shown, and not adopted by the hybrid clock ([sync] max_clock_ahead).
  absl::Duration max_clock_ahead = kDefaultMaxClockAhead;
  // Where the session reports its state (connected, batches, acks, how it
  // ended); may be null. Not owned.
  PeerTable* peers = nullptr;
  // What this node's Hello says it runs: its software version and the
  // version of the roster it holds (the peer's fleet view shows them).
  std::string software_version;
  uint64_t roster_version = 0;
  // Where a peer's request for a person's history is audited when answered
  // (storage/audit_log.h); may be null. Not owned.
  storage::AuditLog* audit = nullptr;
  // Where a refusal is audited (aggregated: storage/refusal_audit.h); if
  // null, refusals go to `audit` one entry each. Not owned.
  storage::RefusalAudit* refusals = nullptr;
};

// Sessions a peer may end with bytes that do not parse before it is held.
inline constexpr uint64_t kHoldAfterUnparsable = 3;

// A rejection carrying `reason`, as BatchVerifier returns them
// (RejectReasonOf reads it back).
absl::Status MakeRejection(v1::RejectReason reason, absl::StatusCode code,
                           absl::string_view message);

struct SessionStats {
  uint64_t batches_sent = 0;
  uint64_t events_sent = 0;
  uint64_t batches_applied = 0;
  uint64_t events_applied = 0;
  uint64_t acks_received = 0;
  uint64_t batches_skipped = 0;  // refused for their origin, session kept
  uint64_t events_ahead = 0;     // applied events stamped beyond max_clock_ahead
};

class Session {
 public:
  // `peer` is the peer's node code from its verified certificate. Borrowed
  // objects must outlive the Session.
  Session(storage::Store* store, storage::Writer* writer, BatchVerifier* verifier,
          const Clock* clock, SessionOptions options, std::string peer);
  // The same, owning its verifier (a verifier serves one thread at a time;
  // each stream runs on its own).
  Session(storage::Store* store, storage::Writer* writer, std::unique_ptr<BatchVerifier> verifier,
          const Clock* clock, SessionOptions options, std::string peer);

  // The first messages to send: Hello, then Credit.
  absl::StatusOr<std::vector<v1::SyncMessage>> Start();

  // Handles one message from the peer and appends any answer (Ack, Credit,
  // LogRefused, Resync) to `out`. Errors end the session: a rejection of the
  // peer's data (kInvalidArgument, RejectReasonOf() tells which) or a local
  // failure. Counts the message in input() itself.
  absl::Status OnMessage(const v1::SyncMessage& in, std::vector<v1::SyncMessage>* out);
  // The same for a message of `wire_bytes` that the transport already
  // counted with input().Read().
  absl::Status OnReceived(const v1::SyncMessage& in, uint64_t wire_bytes,
                          std::vector<v1::SyncMessage>* out);
  // The transport read `wire_bytes` (counted with input().Read()) that do
  // not parse as a SyncMessage. Returns the rejection that ends the session
  // (REJECT_REASON_UNPARSABLE); counts it, and holds the peer once it has
  // ended kHoldAfterUnparsable sessions so.
  absl::Status OnUnparsable(uint64_t wire_bytes);

  // The account of the peer's input not yet processed; the transport asks it
  // before each read. Thread-safe.
  InputAccount& input() { return *input_; }

  // The next message to send (the Ack and Credit of a received batch that
  // became durable, a batch, or the end of a backfill answer), or nullopt
  // when there is none yet, the peer has everything we hold for it or has no
  // credit left. Never blocks. The writer's listeners are called when
  // received batches become durable: call it then.
  absl::StatusOr<std::optional<v1::SyncMessage>> NextBatch();

  // The transport reports how the session ended (OK after a clean close).
  void Ended(const absl::Status& result);

  // Waits until every received batch is durable and appends its Ack and
  // Credit to `out`: for a driver that has no writer listener to wake it
  // (tests), when it has nothing else to send.
  absl::Status FinishApplying(std::vector<v1::SyncMessage>* out);

  // The peer has said Hello and we have nothing it lacks, as far as we know.
  bool caught_up() const { return caught_up_; }
  const std::string& peer() const { return peer_; }
  const SessionStats& stats() const { return stats_; }

 private:
  absl::Status Handle(const v1::SyncMessage& in, std::vector<v1::SyncMessage>* out);
  absl::Status OnBatch(const v1::Batch& batch, uint64_t wire_bytes,
                       std::vector<v1::SyncMessage>* out);
  absl::Status Verified(const v1::Batch& batch, uint64_t wire_bytes,
                        std::vector<v1::SyncMessage>* out);
  // A batch refused for a reason that concerns its origin: counted, its
  // credit back, the sender told once per log; the session goes on.
  absl::Status Skip(const storage::LogId& log, v1::RejectReason reason, absl::string_view why,
                    uint64_t wire_bytes, std::vector<v1::SyncMessage>* out);
  // The peer refuses `log` from us: stop offering it.
  void PeerRefuses(const storage::LogId& log, v1::RejectReason reason);
  // Appends a Credit of one batch to `out` and counts it as granted.
  void Grant(std::vector<v1::SyncMessage>* out);
  // Counts the rejection, holds the peer, and returns it as the peer reads it.
  absl::Status Violation(v1::RejectReason reason, absl::string_view message);
  absl::Status CheckClock(const storage::RemoteBatch& batch, bool backfill);
  absl::Status OnFetchPerson(const std::string& person, std::vector<v1::SyncMessage>* out);
  absl::Status OnFetchDone(const v1::FetchDone& done, std::vector<v1::SyncMessage>* out);
  absl::StatusOr<std::optional<v1::SyncMessage>> NextBackfill();
  // A verified batch handed to the writer, until it is durable.
  struct Applying {
    VerifiedBatch verified;  // the writer reads verified.batch
    bool backfill = false;
    absl::Time began;         // when verification started, for the apply latency
    uint64_t wire_bytes = 0;  // released from input_ when applied
    std::unique_ptr<storage::Writer::RemoteApply> apply;  // destroyed first
  };
  static constexpr size_t kMaxApplying = 2;

  // What is applied of `log`: stored, or in a batch still being written.
  absl::StatusOr<ReceiverLog> ViewOf(const storage::LogId& log);
  // Waits until the oldest batch being applied is durable and appends its
  // Ack (not for a backfill) and Credit to `out`.
  absl::Status FinishOldest(std::vector<v1::SyncMessage>* out);
  // FinishOldest for every batch that is durable already, without waiting.
  absl::Status FinishDurable(std::vector<v1::SyncMessage>* out);
  absl::Status KeepEvidence(const Equivocation& evidence, const storage::LogId& log);
  absl::StatusOr<std::vector<storage::LogId>> LogsToSend();
  void CountSent(uint64_t events);
  absl::Status Audit(const std::string& person, const absl::Status& outcome);

  std::unique_ptr<BatchVerifier> owned_verifier_;  // may be null
  storage::Store* const store_;                    // Not owned.
  storage::Writer* const writer_;                  // Not owned.
  BatchVerifier* const verifier_;                  // Not owned.
  const Clock* const clock_;                       // Not owned.
  const SessionOptions options_;
  const std::string peer_;
  const bool peer_keeps_whole_logs_;  // the peer is the national node
  const bool we_keep_whole_logs_;     // we are the national node

  const std::unique_ptr<InputAccount> input_;

  bool hello_received_ = false;
  uint32_t credit_ = 0;  // batches the peer still accepts
  // Receiver side: batches received in all (the credit granted is counted
  // in input_, which compares it with batches as they are read).
  uint64_t batches_received_ = 0;
  // Logs whose batches this session refuses, and those the sender was told
  // of with a LogRefused.
  std::map<std::pair<std::string, uint64_t>, v1::RejectReason> refused_here_;
  std::set<std::pair<std::string, uint64_t>> told_;
  // Sender side: logs the peer refuses from us.
  std::set<std::pair<std::string, uint64_t>> refused_by_peer_;
  // Where the peer stands in each log we send it (from its Hello, then
  // advanced as we send).
  std::map<std::pair<std::string, uint64_t>, PeerPosition> peer_positions_;
  size_t next_log_ = 0;  // round robin over the logs we send
  // Backfill answers being sent: the person and, per log, the seqs left.
  struct Backfill {
    std::string person;
    std::vector<std::pair<storage::LogId, std::vector<uint64_t>>> logs;
  };
  std::deque<Backfill> backfills_;
  // Histories are asked for once the peer has acknowledged our log up to
  // the registration that linked us (so it knows the link).
  uint64_t acked_own_ = 0;           // the peer's acknowledged position in our log
  std::set<std::string> requested_;  // asked in this session, answer pending
  // A batch of the answer now arriving was not applied (Resync: built
  // against a checkpoint we no longer hold). The peer answers one question
  // at a time, in order, so it belongs to the next FetchDone's person, whose
  // question then stays to be asked again.
  bool answer_unapplied_ = false;
  bool caught_up_ = false;
  SessionStats stats_;
  std::deque<v1::SyncMessage> replies_;  // Acks and Credits for NextBatch
  // Received batches being written, oldest first. Last member: destroying
  // one waits for the writer, which reads it.
  std::deque<std::unique_ptr<Applying>> applying_;
};

}  // namespace tongban::sync
