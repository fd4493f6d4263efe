#include "sync/session.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/ids/citizen_id.h"
#include "common/log.h"
#include "common/merkle/checkpoint.h"
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

}  // namespace

Session::Session(storage::Store* store, storage::Writer* writer, BatchVerifier* verifier,
                 const Clock* clock, SessionOptions options, std::string peer)
    : store_(store),
      writer_(writer),
      verifier_(verifier),
      clock_(clock),
      options_(std::move(options)),
      peer_(std::move(peer)),
      peer_keeps_whole_logs_(peer_ == options_.national),
      we_keep_whole_logs_(options_.self == options_.national) {}

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
    if (log == writer_->log()) continue;
    TB_ASSIGN_OR_RETURN(auto latest, store_->CheckpointAtOrBelow(log, ~uint64_t{0}));
    if (latest.has_value()) positions[Key(log)].set_checkpoint_size(latest->first);
  }
  for (auto& [key, p] : positions) {
    p.set_origin(key.first);
    p.set_epoch(key.second);
    *hello->add_positions() = std::move(p);
  }
  out[1].mutable_credit()->set_batches(options_.credit);
  return out;
}

absl::Status Session::OnMessage(const v1::SyncMessage& in, std::vector<v1::SyncMessage>* out) {
  switch (in.msg_case()) {
    case v1::SyncMessage::kHello:
      if (hello_received_) {
        return absl::InvalidArgumentError(absl::StrCat("peer ", peer_, ": second Hello"));
      }
      hello_received_ = true;
      for (const v1::Position& p : in.hello().positions()) {
        peer_positions_[{p.origin(), p.epoch()}] = {p.seq(), p.checkpoint_size()};
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
    case v1::SyncMessage::kBatch:
      if (!hello_received_) {
        return absl::InvalidArgumentError(absl::StrCat("peer ", peer_, ": batch before Hello"));
      }
      return OnBatch(in.batch(), out);
    case v1::SyncMessage::kFetchPerson: return OnFetchPerson(in.fetch_person().person(), out);
    case v1::SyncMessage::kFetchDone: return OnFetchDone(in.fetch_done());
    case v1::SyncMessage::kResync: {
      const v1::Position& p = in.resync();
      peer_positions_[{p.origin(), p.epoch()}] = {p.seq(), p.checkpoint_size()};
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
    // A whole copy may have come from the origin or through a relay: what
    // counts is how much of it is stored, not this peer's cursor.
    TB_ASSIGN_OR_RETURN(view.applied, store_->LastSeq(log));
    view.tree = store_->NodeReaderFor(log);
  }
  // Batches still being written count as applied: they were verified and
  // are written in order, unless one fails, which ends the session.
  for (const std::unique_ptr<Applying>& a : applying_) {
    const storage::RemoteBatch& rb = a->verified.batch;
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

absl::Status Session::OnBatch(const v1::Batch& batch, std::vector<v1::SyncMessage>* out) {
  const storage::LogId log{batch.origin(), batch.epoch()};
  if (log.origin == options_.self) {
    return absl::InvalidArgumentError(absl::StrCat("peer ", peer_, " sent events of our own log"));
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
    out->emplace_back().mutable_credit()->set_batches(1);
    return absl::OkStatus();
  }
  if (!verified.ok()) {
    const v1::RejectReason reason = RejectReasonOf(verified.status());
    if (reason != v1::REJECT_REASON_UNSPECIFIED) {
      TB_LOG(WARNING) << "rejected batch peer=" << peer_ << " origin=" << log.origin
                      << " epoch=" << log.epoch << " reason=" << v1::RejectReason_Name(reason)
                      << ": " << verified.status().message();
      TB_RETURN_IF_ERROR(
          store_->Increment(absl::StrCat("rejected/", v1::RejectReason_Name(reason)), 1));
      if (reason == v1::REJECT_REASON_EQUIVOCATION) {
        TB_RETURN_IF_ERROR(KeepEvidence(evidence, log));
      }
      if (absl::IsInvalidArgument(verified.status()) && reason != v1::REJECT_REASON_EQUIVOCATION) {
        // The peer sent bad data: no more sessions with it until an
        // operator clears the hold (sync/peers.h). Equivocation is the
        // origin's doing, which the peer may only have passed on: the
        // origin is frozen instead.
        TB_RETURN_IF_ERROR(
            HoldPeer(*store_, peer_,
                     absl::StrCat(v1::RejectReason_Name(reason), " in a batch of origin ",
                                  log.origin, " epoch ", log.epoch)));
      }
      return Explained(verified.status(), reason);
    }
    return verified.status();
  }
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
  out->emplace_back().mutable_credit()->set_batches(1);
  applying_.pop_front();
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
    TB_RETURN_IF_ERROR(Audit(person, absl::PermissionDeniedError("not linked to the person")));
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

absl::Status Session::OnFetchDone(const v1::FetchDone& done) {
  if (done.code() != 0) {
    TB_LOG(WARNING) << "peer " << peer_ << " refused the history of person "
                    << ids::MaskId(done.person()) << ": " << done.message();
  }
  // Asked and answered: the marker goes either way. A refusal is not
  // retried; the next linking act writes a new marker.
  requested_.erase(done.person());
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
  std::vector<storage::LogId> logs = {writer_->log()};
  if (we_keep_whole_logs_) {
    // The national node relays every log routed on to this peer.
    TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> routed, store_->RouteLogs(peer_));
    for (storage::LogId& log : routed) {
      if (!(log == writer_->log()) && log.origin != peer_) logs.push_back(std::move(log));
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
    const bool whole = peer_keeps_whole_logs_ && log == writer_->log();
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
