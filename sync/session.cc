#include "sync/session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/ids/citizen_id.h"
#include "common/log.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/restart.h"
#include "common/status_macros.h"
#include "sync/where.h"
#include "tongban/v1/store.pb.h"

namespace tongban::sync {
namespace {

constexpr uint32_t kMaxCredit = 64;  // a peer cannot grant itself unbounded room

bool IsSixDigits(absl::string_view s) {
  return s.size() == 6 && std::all_of(s.begin(), s.end(), absl::ascii_isdigit);
}

std::pair<std::string, uint64_t> Key(const storage::LogId& log) { return {log.origin, log.epoch}; }

// The rejection as the peer will read it: only code and message cross the
// wire, so the reason goes into the message. Code and payloads are kept.
absl::Status Explained(const absl::Status& rejection, v1::RejectReason reason) {
  absl::Status out(rejection.code(), absl::StrCat("batch rejected, ", v1::RejectReason_Name(reason),
                                                  ": ", rejection.message()));
  rejection.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

// The same payload key as BatchVerifier's rejections (sync/verify.cc), so
// that RejectReasonOf reads both.
constexpr char kReasonUrl[] = "type.googleapis.com/tongban.v1.RejectReason";

std::string LogName(const storage::LogId& log) { return absl::StrCat(log.origin, "/", log.epoch); }

// Reasons that concern a batch's origin, not the peer that sent it: the
// batch is refused and the session goes on.
bool ConcernsOrigin(v1::RejectReason reason) {
  return reason == v1::REJECT_REASON_FROZEN || reason == v1::REJECT_REASON_EQUIVOCATION;
}

}  // namespace

absl::Status MakeRejection(v1::RejectReason reason, absl::StatusCode code,
                           absl::string_view message) {
  absl::Status s(code, message);
  s.SetPayload(kReasonUrl, absl::Cord(absl::StrCat(static_cast<int>(reason))));
  return s;
}

Session::Session(storage::Store* store, storage::Writer* writer, BatchVerifier* verifier,
                 const Clock* clock, SessionOptions options, std::string peer)
    : store_(store),
      writer_(writer),
      verifier_(verifier),
      clock_(clock),
      options_(std::move(options)),
      peer_(std::move(peer)),
      peer_keeps_whole_logs_(peer_ == options_.national),
      we_keep_whole_logs_(options_.self == options_.national),
      input_(std::make_unique<InputAccount>(
          InputLimits{options_.credit, options_.max_message_bytes},
          options_.peers == nullptr
              ? std::function<void(int64_t, int64_t)>()
              : [peers = options_.peers, peer = peer_](int64_t bytes, int64_t batches) {
                  peers->InputChanged(peer, bytes, batches);
                })) {
  // The first credit counts as granted from the start: the transport may
  // read before Start() has sent it.
  input_->Granted(options_.credit);
}

Session::Session(storage::Store* store, storage::Writer* writer,
                 std::unique_ptr<BatchVerifier> verifier, const Clock* clock,
                 SessionOptions options, std::string peer)
    : Session(store, writer, verifier.get(), clock, std::move(options), std::move(peer)) {
  owned_verifier_ = std::move(verifier);
}

void Session::Ended(const absl::Status& result) {
  if (options_.peers != nullptr) options_.peers->SessionEnded(peer_, result, clock_->Now());
}

absl::StatusOr<std::vector<v1::SyncMessage>> Session::Start() {
  if (options_.peers != nullptr) options_.peers->SessionStarted(peer_, clock_->Now());
  std::vector<v1::SyncMessage> out(2);
  v1::Hello* hello = out[0].mutable_hello();
  hello->set_node(options_.self);
  hello->set_software_version(options_.software_version);
  hello->set_roster_version(options_.roster_version);
  hello->set_time_micros(absl::ToUnixMicros(clock_->Now()));
  // Where we stand in every log we hold a checkpoint of (so that the peer
  // can prove consistency from it), and our cursor in the logs it sends us.
  std::map<std::pair<std::string, uint64_t>, v1::Position> positions;
  TB_ASSIGN_OR_RETURN(auto cursors, store_->Cursors(peer_));
  for (const auto& [log, bytes] : cursors) {
    v1::Position stored;
    if (!stored.ParseFromString(bytes)) {
      return absl::DataLossError(absl::StrCat("cursor of peer ", peer_, " does not parse"));
    }
    positions[Key(log)].set_seq(stored.seq());
  }
  TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> held, store_->CheckpointLogs());
  for (const storage::LogId& log : held) {
    if (log.origin == options_.self) continue;  // our own logs, every epoch
    TB_ASSIGN_OR_RETURN(auto latest, store_->CheckpointAtOrBelow(log, ~uint64_t{0}));
    if (latest.has_value()) positions[Key(log)].set_checkpoint_size(latest->first);
  }
  // Logs frozen here: the peer must not offer them (it would only be told
  // LogRefused batch by batch).
  TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> frozen, FrozenLogs(*store_));
  for (const storage::LogId& log : frozen) {
    positions[Key(log)].set_frozen(true);
    refused_here_[Key(log)] = v1::REJECT_REASON_FROZEN;
  }
  for (auto& [key, p] : positions) {
    p.set_origin(key.first);
    p.set_epoch(key.second);
    *hello->add_positions() = std::move(p);
  }
  out[1].mutable_credit()->set_batches(options_.credit);  // granted at construction
  return out;
}

void Session::Grant(std::vector<v1::SyncMessage>* out) {
  out->emplace_back().mutable_credit()->set_batches(1);
  input_->Granted(1);
}

absl::Status Session::Violation(v1::RejectReason reason, absl::string_view message) {
  TB_LOG(WARNING) << "peer " << peer_ << ": " << v1::RejectReason_Name(reason) << ": " << message;
  TB_RETURN_IF_ERROR(
      store_->Increment(absl::StrCat("rejected/", v1::RejectReason_Name(reason)), 1));
  TB_RETURN_IF_ERROR(
      HoldPeer(*store_, peer_, absl::StrCat(v1::RejectReason_Name(reason), ": ", message)));
  return MakeRejection(
      reason, absl::StatusCode::kInvalidArgument,
      absl::StrCat("session rejected, ", v1::RejectReason_Name(reason), ": ", message));
}

absl::Status Session::OnUnparsable(uint64_t wire_bytes) {
  input_->Release(wire_bytes, /*batch=*/false);
  const uint64_t index = input_->stats().messages;
  const std::string what =
      absl::StrCat("message ", index, " (", wire_bytes, " bytes) does not parse as a SyncMessage");
  TB_LOG(WARNING) << "peer " << peer_ << ": REJECT_REASON_UNPARSABLE: " << what;
  TB_RETURN_IF_ERROR(store_->Increment("rejected/REJECT_REASON_UNPARSABLE", 1));
  TB_RETURN_IF_ERROR(store_->Increment(UnparsableCounter(peer_), 1));
  TB_ASSIGN_OR_RETURN(const uint64_t sessions, store_->GetCounter(UnparsableCounter(peer_)));
  if (sessions >= kHoldAfterUnparsable) {
    TB_RETURN_IF_ERROR(HoldPeer(
        *store_, peer_,
        absl::StrCat("REJECT_REASON_UNPARSABLE in ", sessions, " sessions, the last: ", what)));
  }
  return MakeRejection(v1::REJECT_REASON_UNPARSABLE, absl::StatusCode::kInvalidArgument,
                       absl::StrCat("session rejected, REJECT_REASON_UNPARSABLE: ", what));
}

absl::Status Session::OnMessage(const v1::SyncMessage& in, std::vector<v1::SyncMessage>* out) {
  const uint64_t bytes = in.ByteSizeLong();
  input_->Read(bytes, in.has_batch());
  return OnReceived(in, bytes, out);
}

absl::Status Session::OnReceived(const v1::SyncMessage& in, uint64_t wire_bytes,
                                 std::vector<v1::SyncMessage>* out) {
  if (in.has_batch()) {
    if (!hello_received_) {
      input_->Release(wire_bytes, /*batch=*/true);
      return absl::InvalidArgumentError(absl::StrCat("peer ", peer_, ": batch before Hello"));
    }
    // Released once applied, skipped or refused.
    return OnBatch(in.batch(), wire_bytes, out);
  }
  absl::Status handled = Handle(in, out);
  input_->Release(wire_bytes, /*batch=*/false);
  return handled;
}

absl::Status Session::Handle(const v1::SyncMessage& in, std::vector<v1::SyncMessage>* out) {
  switch (in.msg_case()) {
    case v1::SyncMessage::kHello:
      if (hello_received_) {
        return absl::InvalidArgumentError(absl::StrCat("peer ", peer_, ": second Hello"));
      }
      hello_received_ = true;
      if (options_.peers != nullptr) {
        options_.peers->ClearRefusals(peer_);
        options_.peers->HelloReceived(peer_, in.hello().software_version(),
                                      in.hello().roster_version());
        if (in.hello().time_micros() != 0) {
          options_.peers->ClockSkewSeen(peer_, absl::FromUnixMicros(in.hello().time_micros()),
                                        clock_->Now());
        }
      }
      for (const v1::Position& p : in.hello().positions()) {
        peer_positions_[{p.origin(), p.epoch()}] = {p.seq(), p.checkpoint_size()};
        if (p.frozen()) PeerRefuses({p.origin(), p.epoch()}, v1::REJECT_REASON_FROZEN);
      }
      return absl::OkStatus();
    case v1::SyncMessage::kCredit:
      credit_ = std::min(kMaxCredit, credit_ + in.credit().batches());
      return absl::OkStatus();
    case v1::SyncMessage::kAck:
      if (!IsSixDigits(in.ack().origin())) {
        return absl::InvalidArgumentError(absl::StrCat("peer ", peer_, ": Ack names no node code"));
      }
      ++stats_.acks_received;
      if (options_.peers != nullptr) options_.peers->AckReceived(peer_);
      if (in.ack().origin() == options_.self && in.ack().epoch() == writer_->log().epoch) {
        acked_own_ = std::max(acked_own_, in.ack().seq());
      }
      return StoreAck(*store_, peer_, {in.ack().origin(), in.ack().epoch()}, in.ack().seq());
    case v1::SyncMessage::kBatch: break;  // OnReceived
    case v1::SyncMessage::kFetchPerson: return OnFetchPerson(in.fetch_person().person(), out);
    case v1::SyncMessage::kFetchDone: return OnFetchDone(in.fetch_done(), out);
    case v1::SyncMessage::kResync: {
      const v1::Position& p = in.resync();
      peer_positions_[{p.origin(), p.epoch()}] = {p.seq(), p.checkpoint_size()};
      return absl::OkStatus();
    }
    case v1::SyncMessage::kLogRefused: {
      const v1::LogRefused& r = in.log_refused();
      if (!IsSixDigits(r.origin()) || !ConcernsOrigin(r.reason())) {
        return absl::InvalidArgumentError(
            absl::StrCat("peer ", peer_, ": LogRefused names no node code or another reason"));
      }
      TB_LOG(WARNING) << "peer " << peer_ << " refuses log " << r.origin() << "/" << r.epoch()
                      << " (" << v1::RejectReason_Name(r.reason()) << "): " << r.message()
                      << "; not offered to it any more";
      PeerRefuses({r.origin(), r.epoch()}, r.reason());
      return absl::OkStatus();
    }
    case v1::SyncMessage::kGoodbye:
      return absl::Status(
          in.goodbye().code() == 0 ? absl::StatusCode::kUnknown
                                   : static_cast<absl::StatusCode>(in.goodbye().code()),
          absl::StrCat("peer ", peer_, " ended the session: ", in.goodbye().message()));
    case v1::SyncMessage::MSG_NOT_SET: break;
  }
  return absl::InvalidArgumentError(absl::StrCat("peer ", peer_, ": empty message"));
}

absl::StatusOr<ReceiverLog> Session::ViewOf(const storage::LogId& log) {
  ReceiverLog view;
  TB_ASSIGN_OR_RETURN(std::optional<std::string> cursor,
                      store_->Get(storage::Cf::kCursors, storage::CursorKey(peer_, log)));
  if (cursor.has_value()) {
    v1::Position p;
    if (!p.ParseFromString(*cursor)) {
      return absl::DataLossError(absl::StrCat("cursor of peer ", peer_, " does not parse"));
    }
    view.applied = p.seq();
  }
  TB_ASSIGN_OR_RETURN(auto held, store_->CheckpointAtOrBelow(log, ~uint64_t{0}));
  uint64_t held_size = 0;
  if (held.has_value()) {
    held_size = held->first;
    view.checkpoint = std::move(held->second);
  }
  TB_ASSIGN_OR_RETURN(std::optional<std::string> frozen,
                      store_->Get(storage::Cf::kDefault, storage::FrozenKey(log)));
  view.frozen = frozen.has_value();
  view.contiguous = we_keep_whole_logs_;
  if (view.contiguous) {
    // Only the national node countersigns and keeps other origins' restart
    // records, so only it looks one up, once per batch.
    TB_ASSIGN_OR_RETURN(std::optional<std::string> restart,
                        store_->Get(storage::Cf::kDefault, storage::RestartKey(log)));
    if (restart.has_value()) {
      v1::CosignedRestart record;
      if (!record.ParseFromString(*restart)) {
        return absl::DataLossError(
            absl::StrCat("restart record of ", LogName(log), " does not parse"));
      }
      TB_ASSIGN_OR_RETURN(merkle::Restart closed, merkle::ParseRestart(record.restart().body()));
      view.closed_at = closed.kept_size;
    }
    // A whole copy may have come from the origin or through a relay: what
    // counts is how much of it is stored, not this peer's cursor.
    TB_ASSIGN_OR_RETURN(view.applied, store_->LastSeq(log));
    view.tree = store_->NodeReaderFor(log);
  }
  TB_ASSIGN_OR_RETURN(view.rotations, store_->KeyRotations(log.origin));
  // Batches still being written count as applied: they were verified and
  // are written in order, unless one fails, which ends the session.
  for (const std::unique_ptr<Applying>& a : applying_) {
    const storage::RemoteBatch& rb = a->verified.batch;
    if (rb.log.origin == log.origin) {
      view.rotations.insert(view.rotations.end(), rb.key_rotations.begin(), rb.key_rotations.end());
    }
    if (!(rb.log == log)) continue;
    if (rb.checkpoint.has_value() && rb.checkpoint_size > held_size) {
      view.checkpoint = *rb.checkpoint;
      held_size = rb.checkpoint_size;
    }
    if (!rb.from_peer.empty() && rb.cursor > view.applied) {  // a backfill moves no cursor
      view.applied = rb.cursor;
      if (a->verified.frontier.has_value()) view.frontier = *a->verified.frontier;
    }
  }
  view.stored_body = [this, log](uint64_t seq) -> absl::StatusOr<std::string> {
    for (auto a = applying_.rbegin(); a != applying_.rend(); ++a) {
      const storage::RemoteBatch& rb = (*a)->verified.batch;
      if (!(rb.log == log)) continue;
      auto e =
          std::lower_bound(rb.events.begin(), rb.events.end(), seq,
                           [](const storage::RemoteEvent& e, uint64_t s) { return e.seq < s; });
      if (e != rb.events.end() && e->seq == seq) return e->body;
    }
    return store_->GetEvent(log, seq);
  };
  return view;
}

void Session::PeerRefuses(const storage::LogId& log, v1::RejectReason reason) {
  refused_by_peer_.insert(Key(log));
  if (options_.peers != nullptr) {
    options_.peers->Refuses(peer_, LogName(log), v1::RejectReason_Name(reason));
  }
}

absl::Status Session::Skip(const storage::LogId& log, v1::RejectReason reason,
                           absl::string_view why, uint64_t wire_bytes,
                           std::vector<v1::SyncMessage>* out) {
  input_->Release(wire_bytes, /*batch=*/true);
  ++stats_.batches_skipped;
  if (options_.peers != nullptr) options_.peers->BatchSkipped(peer_);
  refused_here_.emplace(Key(log), reason);
  if (told_.insert(Key(log)).second) {
    v1::LogRefused* r = out->emplace_back().mutable_log_refused();
    r->set_origin(log.origin);
    r->set_epoch(log.epoch);
    r->set_reason(reason);
    r->set_message(why.empty() ? absl::StrCat("node ", options_.self, " refuses log ", LogName(log),
                                              ": ", v1::RejectReason_Name(reason))
                               : std::string(why));
  }
  Grant(out);
  return absl::OkStatus();
}

absl::Status Session::OnBatch(const v1::Batch& batch, uint64_t wire_bytes,
                              std::vector<v1::SyncMessage>* out) {
  // The credit this receiver granted is a promise about its memory: a batch
  // read beyond it (counted when it was read, InputAccount::OverCredit) ends
  // the session, whatever it holds.
  const auto [over, granted] = input_->OverCredit();
  if (++batches_received_ == over) {
    input_->Release(wire_bytes, /*batch=*/true);
    return Violation(v1::REJECT_REASON_OVER_CREDIT,
                     absl::StrCat("batch ", over, " received, ", granted, " granted"));
  }
  return Verified(batch, wire_bytes, out);
}

absl::Status Session::Verified(const v1::Batch& batch, uint64_t wire_bytes,
                               std::vector<v1::SyncMessage>* out) {
  const storage::LogId log{batch.origin(), batch.epoch()};
  if (log.origin == options_.self) {
    input_->Release(wire_bytes, /*batch=*/true);
    return absl::InvalidArgumentError(absl::StrCat("peer ", peer_, " sent events of our own log"));
  }
  if (auto refused = refused_here_.find(Key(log)); refused != refused_here_.end()) {
    // Refused already in this session (in flight when the sender was told,
    // or frozen here since our Hello): dropped before any verification.
    TB_RETURN_IF_ERROR(
        store_->Increment(absl::StrCat("rejected/", v1::RejectReason_Name(refused->second)), 1));
    return Skip(log, refused->second, "", wire_bytes, out);
  }
  const absl::Time began = absl::Now();
  TB_ASSIGN_OR_RETURN(ReceiverLog view, ViewOf(log));
  Equivocation evidence;
  absl::StatusOr<VerifiedBatch> verified = verifier_->Verify(batch, view, peer_, &evidence);
  if (!verified.ok() && absl::IsFailedPrecondition(verified.status()) &&
      RejectReasonOf(verified.status()) == v1::REJECT_REASON_MALFORMED) {
    // Built for a position we no longer hold (our checkpoint of this log
    // moved on through another peer): nothing applied; tell the sender
    // where we stand and give back the credit.
    v1::Position* p = out->emplace_back().mutable_resync();
    p->set_origin(log.origin);
    p->set_epoch(log.epoch);
    p->set_seq(view.applied);
    uint64_t held_size = 0;
    if (view.checkpoint.has_value()) {
      TB_ASSIGN_OR_RETURN(merkle::Checkpoint held,
                          merkle::ParseCheckpoint(view.checkpoint->body()));
      held_size = held.tree_size;
    }
    p->set_checkpoint_size(held_size);
    if (batch.backfill()) answer_unapplied_ = true;
    input_->Release(wire_bytes, /*batch=*/true);
    Grant(out);
    return absl::OkStatus();
  }
  if (!verified.ok()) {
    const v1::RejectReason reason = RejectReasonOf(verified.status());
    if (reason == v1::REJECT_REASON_UNSPECIFIED) return verified.status();  // ours, not the peer's
    TB_LOG(WARNING) << "rejected batch peer=" << peer_ << " origin=" << log.origin
                    << " epoch=" << log.epoch << " reason=" << v1::RejectReason_Name(reason) << ": "
                    << verified.status().message();
    TB_RETURN_IF_ERROR(
        store_->Increment(absl::StrCat("rejected/", v1::RejectReason_Name(reason)), 1));
    if (ConcernsOrigin(reason)) {
      // The origin's doing, which the peer may only have passed on: the
      // evidence is kept (and the origin frozen when it is conclusive), and
      // the session goes on with every other log.
      if (reason == v1::REJECT_REASON_EQUIVOCATION) {
        TB_RETURN_IF_ERROR(KeepEvidence(evidence, log));
      }
      return Skip(log, reason, verified.status().message(), wire_bytes, out);
    }
    if (absl::IsInvalidArgument(verified.status())) {
      // The peer sent bad data: no more sessions with it until an operator
      // clears the hold (sync/peers.h).
      TB_RETURN_IF_ERROR(
          HoldPeer(*store_, peer_,
                   absl::StrCat(v1::RejectReason_Name(reason), " in a batch of origin ", log.origin,
                                " epoch ", log.epoch)));
    }
    return Explained(verified.status(), reason);
  }
  TB_RETURN_IF_ERROR(CheckClock(verified->batch, batch.backfill()));
  if (batch.backfill()) {
    // Events from anywhere in the log: they must not move the cursor.
    verified->batch.from_peer.clear();
  }
  // It was verified as if the batches before it were applied: if one of
  // them fails the writer's own checks, it must not be applied either.
  if (!applying_.empty()) TB_RETURN_IF_ERROR(applying_.back()->apply->WaitBuilt());
  auto applying = std::make_unique<Applying>();
  applying->verified = *std::move(verified);
  applying->backfill = batch.backfill();
  applying->began = began;
  applying->wire_bytes = wire_bytes;
  applying->apply = writer_->StartApplyRemote(applying->verified.batch);
  applying_.push_back(std::move(applying));
  // Acks go out from NextBatch, which the transport calls once it has
  // handed the session what it received.
  while (applying_.size() > kMaxApplying) TB_RETURN_IF_ERROR(FinishOldest(out));
  return absl::OkStatus();
}

absl::Status Session::FinishOldest(std::vector<v1::SyncMessage>* out) {
  const Applying& a = *applying_.front();
  TB_RETURN_IF_ERROR(a.apply->Wait());
  const storage::RemoteBatch& rb = a.verified.batch;
  ++stats_.batches_applied;
  stats_.events_applied += rb.events.size();
  if (options_.peers != nullptr) {
    options_.peers->BatchApplied(peer_, rb.events.size(), clock_->Now(), absl::Now() - a.began);
  }
  if (!a.backfill) {
    v1::Ack* ack = out->emplace_back().mutable_ack();
    ack->set_origin(rb.log.origin);
    ack->set_epoch(rb.log.epoch);
    ack->set_seq(rb.cursor);
  }
  Grant(out);
  input_->Release(a.wire_bytes, /*batch=*/true);
  applying_.pop_front();
  return absl::OkStatus();
}

absl::Status Session::CheckClock(const storage::RemoteBatch& batch, bool backfill) {
  if (batch.events.empty()) return absl::OkStatus();
  const absl::Time now = clock_->Now();
  int64_t newest = batch.events.front().parsed.hlc().physical_micros();
  uint64_t beyond = 0;
  for (const storage::RemoteEvent& e : batch.events) {
    const int64_t stamp = e.parsed.hlc().physical_micros();
    newest = std::max(newest, stamp);
    if (TooFarAhead(stamp, now, options_.max_clock_ahead)) ++beyond;
  }
  if (beyond > 0) {
    stats_.events_ahead += beyond;
    TB_LOG(WARNING) << "origin " << batch.log.origin << " (from peer " << peer_ << "): " << beyond
                    << " events stamped more than "
                    << absl::FormatDuration(options_.max_clock_ahead)
                    << " ahead of this node's clock, up to "
                    << absl::FormatDuration(absl::FromUnixMicros(newest) - now)
                    << "; applied, not adopted by this node's clock";
    TB_RETURN_IF_ERROR(store_->Increment("clock/events_ahead", beyond));
  }
  // A backfill brings old events: they say nothing about the origin's clock
  // now, unless they are ahead.
  if (options_.peers != nullptr && (!backfill || beyond > 0)) {
    options_.peers->ClockSeen(batch.log.origin, absl::FromUnixMicros(newest) - now, beyond, now);
  }
  return absl::OkStatus();
}

absl::Status Session::FinishDurable(std::vector<v1::SyncMessage>* out) {
  while (!applying_.empty() && applying_.front()->apply->done()) {
    TB_RETURN_IF_ERROR(FinishOldest(out));
  }
  return absl::OkStatus();
}

absl::Status Session::FinishApplying(std::vector<v1::SyncMessage>* out) {
  while (!applying_.empty()) TB_RETURN_IF_ERROR(FinishOldest(out));
  return absl::OkStatus();
}

absl::Status Session::OnFetchPerson(const std::string& person, std::vector<v1::SyncMessage>* out) {
  TB_ASSIGN_OR_RETURN(records::Links links, store_->GetLinks(person));
  if (!IsLinked(links, peer_, clock_->Now(), options_.retention)) {
    TB_LOG(WARNING) << "refused history of person " << ids::MaskId(person) << " to peer " << peer_
                    << ": not linked to the person here";
    TB_RETURN_IF_ERROR(store_->Increment("refused/fetch_person", 1));
    const absl::Status refusal = absl::PermissionDeniedError("not linked to the person");
    if (options_.refusals != nullptr) {
      TB_RETURN_IF_ERROR(options_.refusals->Refused(storage::PeerAuditEntry(
          peer_, "person.fetch", person, "backfill after linking", refusal)));
    } else {
      TB_RETURN_IF_ERROR(Audit(person, refusal));
    }
    v1::FetchDone* done = out->emplace_back().mutable_fetch_done();
    done->set_person(person);
    done->set_code(static_cast<int>(absl::StatusCode::kPermissionDenied));
    done->set_message(
        absl::StrCat("node ", options_.self, " holds no link of node ", peer_, " to this person"));
    return absl::OkStatus();
  }
  // Every event of the person's records that we can prove: events of our
  // own log, and at the national node of every log (it keeps them whole).
  std::map<std::pair<std::string, uint64_t>, std::vector<uint64_t>> by_log;
  TB_ASSIGN_OR_RETURN(auto records, store_->ListRecords(person));
  for (const auto& [key, state] : records) {
    for (const v1::EventId& e : state.history()) {
      if (e.origin() == peer_) continue;  // its own events
      if (!we_keep_whole_logs_ && e.origin() != options_.self) continue;
      by_log[{e.origin(), e.epoch()}].push_back(e.seq());
    }
  }
  TB_RETURN_IF_ERROR(Audit(person, absl::OkStatus()));
  Backfill backfill;
  backfill.person = person;
  for (auto& [key, seqs] : by_log) {
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    backfill.logs.emplace_back(storage::LogId{key.first, key.second}, std::move(seqs));
  }
  backfills_.push_back(std::move(backfill));
  return absl::OkStatus();
}

absl::Status Session::OnFetchDone(const v1::FetchDone& done, std::vector<v1::SyncMessage>* out) {
  if (done.code() != 0) {
    TB_LOG(WARNING) << "peer " << peer_ << " refused the history of person "
                    << ids::MaskId(done.person()) << ": " << done.message();
  }
  // The answer's batches are durable before the question is struck off: a
  // crash in between must leave the question, not a gap.
  TB_RETURN_IF_ERROR(FinishApplying(out));
  requested_.erase(done.person());
  if (std::exchange(answer_unapplied_, false) && done.code() == 0) {
    // Part of the answer crossed a newer checkpoint that reached us through
    // another peer, and the peer was told where we stand (Resync): the
    // marker stays and the question goes out again.
    TB_LOG(INFO) << "history of person " << ids::MaskId(done.person()) << " from peer " << peer_
                 << " arrived in part; asking again";
    return store_->Increment("backfill/asked_again", 1);
  }
  // Asked and answered: the marker goes either way. A refusal is not
  // retried; the next linking act writes a new marker.
  storage::Batch batch(*store_);
  batch.DeleteBackfill(peer_, done.person());
  return store_->Commit(batch, /*sync=*/false);
}

absl::StatusOr<std::optional<v1::SyncMessage>> Session::NextBackfill() {
  while (!backfills_.empty()) {
    Backfill& b = backfills_.front();
    while (!b.logs.empty() && b.logs.front().second.empty()) b.logs.erase(b.logs.begin());
    if (b.logs.empty()) {
      v1::SyncMessage msg;
      msg.mutable_fetch_done()->set_person(b.person);
      backfills_.pop_front();
      return msg;
    }
    if (refused_by_peer_.count(Key(b.logs.front().first)) != 0) {
      b.logs.erase(b.logs.begin());  // the peer refuses this log
      continue;
    }
    if (credit_ == 0) return std::nullopt;
    auto& [log, seqs] = b.logs.front();
    PeerPosition& position = peer_positions_[Key(log)];
    TB_ASSIGN_OR_RETURN(std::optional<v1::Batch> batch,
                        ReadSelected(*store_, log, position, &seqs, options_.limits));
    // Not yet covered by a checkpoint: wait for the signer.
    if (!batch.has_value()) return std::nullopt;
    TB_ASSIGN_OR_RETURN(merkle::Checkpoint cp, merkle::ParseCheckpoint(batch->checkpoint().body()));
    position.checkpoint_size = std::max(position.checkpoint_size, cp.tree_size);
    if (log.origin != options_.self) batch->set_relayed_by(options_.self);
    --credit_;
    CountSent(batch->events_size());
    v1::SyncMessage msg;
    *msg.mutable_batch() = *std::move(batch);
    return msg;
  }
  return std::nullopt;
}

absl::Status Session::Audit(const std::string& person, const absl::Status& outcome) {
  if (options_.audit == nullptr) return absl::OkStatus();
  // Only a person's ID, never more, goes into the entry; the peer's purpose
  // is backfill after its own linking act.
  return options_.audit
      ->Append(
          storage::PeerAuditEntry(peer_, "person.fetch", person, "backfill after linking", outcome))
      .status();
}

void Session::CountSent(uint64_t events) {
  ++stats_.batches_sent;
  stats_.events_sent += events;
  if (options_.peers != nullptr) options_.peers->BatchSent(peer_, events, clock_->Now());
}

absl::Status Session::KeepEvidence(const Equivocation& evidence, const storage::LogId& log) {
  return sync::KeepEvidence(*store_, log, evidence, peer_, clock_->Now());
}

absl::StatusOr<std::vector<storage::LogId>> Session::LogsToSend() {
  std::vector<storage::LogId> logs;
  const storage::LogId& own = writer_->log();
  if (refused_by_peer_.count(Key(own)) == 0) logs.push_back(own);
  if (own.epoch > 1) {
    // Earlier epochs of our own log (closed by a restart record, node/node.h)
    // still owe the peer whatever it has not received of them.
    TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> earlier, store_->CheckpointLogs());
    for (storage::LogId& log : earlier) {
      if (log.origin != options_.self || log.epoch >= own.epoch) continue;
      if (refused_by_peer_.count(Key(log)) != 0) continue;
      logs.push_back(std::move(log));
    }
  }
  if (we_keep_whole_logs_) {
    // The national node relays every log routed on to this peer, except
    // those the peer refuses.
    TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> routed, store_->RouteLogs(peer_));
    for (storage::LogId& log : routed) {
      if (log == writer_->log() || log.origin == peer_) continue;
      if (refused_by_peer_.count(Key(log)) != 0) continue;
      logs.push_back(std::move(log));
    }
  }
  return logs;
}

absl::StatusOr<std::optional<v1::SyncMessage>> Session::NextBatch() {
  // The peer waits for these to send more.
  if (replies_.empty()) {
    std::vector<v1::SyncMessage> durable;
    TB_RETURN_IF_ERROR(FinishDurable(&durable));
    for (v1::SyncMessage& m : durable) replies_.push_back(std::move(m));
  }
  if (!replies_.empty()) {
    v1::SyncMessage msg = std::move(replies_.front());
    replies_.pop_front();
    return msg;
  }
  if (!hello_received_) return std::nullopt;
  // Histories asked for come first: a county that just linked a person
  // needs them to serve the person.
  TB_ASSIGN_OR_RETURN(std::optional<v1::SyncMessage> backfill, NextBackfill());
  if (backfill.has_value()) return backfill;
  // Histories to fetch from this peer: markers written with inflow
  // registrations, before or during this session, each asked once the peer
  // holds the registration.
  {
    const std::string prefix = storage::BackfillPrefix(peer_);
    TB_ASSIGN_OR_RETURN(auto pending, store_->Scan(storage::Cf::kDefault, prefix));
    for (const auto& [key, value] : pending) {
      std::string person = key.substr(prefix.size());
      uint64_t registered = 0;
      if (!value.empty() && !absl::SimpleAtoi(value, &registered)) {
        return absl::DataLossError("backfill marker does not parse");
      }
      if (registered > acked_own_ || requested_.count(person)) continue;
      v1::SyncMessage msg;
      msg.mutable_fetch_person()->set_person(person);
      requested_.insert(std::move(person));
      return msg;
    }
  }
  if (credit_ == 0) return std::nullopt;
  TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> logs, LogsToSend());
  for (size_t i = 0; i < logs.size(); ++i) {
    const size_t index = (next_log_ + i) % logs.size();
    const storage::LogId& log = logs[index];
    PeerPosition& position = peer_positions_[Key(log)];
    const bool whole = peer_keeps_whole_logs_ && log.origin == options_.self;
    absl::StatusOr<std::optional<v1::Batch>> read =
        whole ? ReadContiguous(*store_, log, position, options_.limits)
              : ReadRouted(*store_, peer_, log, position, options_.limits);
    if (!read.ok()) return read.status();
    if (!read->has_value()) continue;
    v1::Batch& batch = **read;
    TB_ASSIGN_OR_RETURN(merkle::Checkpoint cp, merkle::ParseCheckpoint(batch.checkpoint().body()));
    // Sent is as good as applied for what to send next; a refusal ends the
    // session and the next one starts from the peer's Hello again.
    position.cursor = std::max(position.cursor, batch.watermark());
    position.checkpoint_size = std::max(position.checkpoint_size, cp.tree_size);
    if (log.origin != options_.self) batch.set_relayed_by(options_.self);
    --credit_;
    next_log_ = index + 1;
    caught_up_ = false;
    CountSent(batch.events_size());
    v1::SyncMessage msg;
    *msg.mutable_batch() = std::move(batch);
    return msg;
  }
  caught_up_ = true;
  return std::nullopt;
}

}  // namespace tongban::sync
