#include "storage/writer.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/ids/region.h"
#include "common/log.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/rotation.h"
#include "common/status_macros.h"
#include "common/thread.h"
#include "google/protobuf/util/message_differencer.h"
#include "records/kinds.h"
#include "records/links.h"
#include "records/record_state.h"
#include "records/validate.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::storage {

struct Writer::Prepared {
  std::string person;
  v1::RecordKind kind = v1::RECORD_KIND_UNSPECIFIED;
  std::string record_id;
  v1::Operation operation = v1::OPERATION_UPSERT;
  // The caller's value, not a copy: AppendAll returns only after the group
  // is built, so the RecordChange outlives its Prepared.
  const v1::RecordValue* value = &v1::RecordValue::default_instance();
  std::string payload;
  v1::Purpose purpose = v1::PURPOSE_UNSPECIFIED;
  std::string reason;
  std::vector<ids::IdFinding> findings;
  bool skip_if_unchanged = false;
};

// Up to max_group of one caller's changes, committed in one group. Results
// are written by the appender and committer threads before `done` is set
// under mu_, and read by the caller after it sees every ticket done.
struct Writer::Ticket {
  std::vector<Prepared> changes;
  std::vector<size_t> slots;                                 // index in *results of each change
  std::vector<absl::StatusOr<Appended>>* results = nullptr;  // the caller's
  // Or: verified events of another origin (ApplyRemote), and their outcome.
  const RemoteBatch* remote = nullptr;
  // The remote batch holds our own events fetched back (AppendRecovered).
  bool recovered = false;
  // Or: a key rotation to this key (RotateKey), its result in *results.
  const crypto::PrivateKey* rotate_to = nullptr;
  absl::Status remote_status;
  // Set by the appender under mu_ once the group is built: the remote
  // batch's outcome so far (RemoteApply::WaitBuilt).
  bool built = false;
  absl::Status built_status;
  bool done = false;
};

// A group built by the appender and waiting for the committer.
struct Writer::InFlight {
  uint64_t group = 0;
  std::vector<Ticket*> tickets;
  std::unique_ptr<Batch> batch;  // null when nothing is to be written
  uint64_t last_seq = 0;         // the last seq the batch writes
  std::vector<uint64_t> sums;    // BodyChecksum of each body written
  absl::Status poisoned;         // building failed on a storage read
  // The peers whose sessions the batch concerns once durable: the senders
  // of its remote batches (their Acks) and the peers it routes relayed
  // events to.
  std::set<std::string> concerned;
};

// A signed checkpoint and the tree nodes it completes, waiting for the
// committer. It counts as signed once it is durable.
struct Writer::PendingCheckpoint {
  std::unique_ptr<Batch> batch;
  uint64_t tree_size = 0;
};

namespace {

std::string FindingCounter(ids::IdFinding f) {
  return absl::StrCat("id_finding/", ids::IdFindingName(f));
}

// Detects a body that changed between append and signing (a storage fault).
// Not cryptographic: the signer hashes the bytes it signs.
uint64_t BodyChecksum(absl::string_view body) {
  return std::hash<std::string_view>{}(std::string_view(body.data(), body.size()));
}

// True if `state` holds exactly the upsert `payload` of `value` as its one
// current version. Equal bytes decide at once; otherwise the values are
// compared as messages, since serialization is not canonical (map order).
bool HoldsExactly(const v1::RecordState& state, const std::string& payload,
                  const v1::RecordValue& value) {
  if (state.heads_size() != 1 || state.heads(0).operation() != v1::OPERATION_UPSERT) return false;
  const std::string& stored = state.heads(0).payload();
  if (stored == payload) return true;
  v1::RecordValue parsed;
  return parsed.ParseFromString(stored) &&
         google::protobuf::util::MessageDifferencer::Equals(parsed, value);
}

}  // namespace

Writer::Writer(Store* store, const crypto::PrivateKey* key, WriterOptions options,
               const Clock* clock)
    : store_(store),
      key_(key),
      options_(std::move(options)),
      clock_(clock),
      suite_(crypto::GetSuite(key->suite())),
      log_{options_.node, options_.epoch},
      hlc_(clock, options.max_clock_ahead),
      sign_hasher_(suite_.NewHasher()) {}

absl::StatusOr<std::unique_ptr<Writer>> Writer::Open(Store* store, const crypto::PrivateKey* key,
                                                     WriterOptions options, const Clock* clock) {
  TB_RETURN_IF_ERROR(Prefixed("node code", ids::ValidateNodeCode(options.node)));
  TB_RETURN_IF_ERROR(Prefixed("national node code", ids::ValidateNodeCode(options.national)));
  if (key->suite() != store->suite()) {
    return absl::InvalidArgumentError(absl::StrCat("signing key is for suite ",
                                                   crypto::SuiteName(key->suite()), ", storage is ",
                                                   crypto::SuiteName(store->suite())));
  }
  if (options.epoch == 0 || options.max_group == 0 || options.max_events_per_checkpoint == 0) {
    return absl::InvalidArgumentError(
        "writer options: epoch, max_group and max_events_per_checkpoint must be positive");
  }
  if (options.max_group > options.max_events_per_checkpoint) {
    // Checkpoints end on group boundaries, so a group must fit in one.
    return absl::InvalidArgumentError(
        "writer options: max_group must not exceed max_events_per_checkpoint");
  }
  std::unique_ptr<Writer> w(new Writer(store, key, std::move(options), clock));
  TB_RETURN_IF_ERROR(Prefixed(absl::StrCat("log ", w->log_.origin), w->Recover()));
  // In pipeline order, so that if one cannot start, the destructor's joins
  // end: each stage ends once the stages before it have.
  Writer* const p = w.get();
  TB_ASSIGN_OR_RETURN(w->appender_, StartThread("tb-appender", [p] { p->AppenderLoop(); }));
  TB_ASSIGN_OR_RETURN(w->signer_thread_, StartThread("tb-signer", [p] { p->SignerLoop(); }));
  TB_ASSIGN_OR_RETURN(w->committer_, StartThread("tb-committer", [p] { p->CommitterLoop(); }));
  return w;
}

absl::Status Writer::Recover() {
  TB_ASSIGN_OR_RETURN(const uint64_t last, store_->LastSeq(log_));
  const merkle::NodeReader reader = store_->NodeReaderFor(log_);
  if (last > 0) {
    TB_ASSIGN_OR_RETURN(const std::string body, store_->GetEvent(log_, last));
    v1::EventBody parsed;
    if (!parsed.ParseFromString(body)) {
      return absl::DataLossError(absl::StrCat("event ", last, " does not parse"));
    }
    // Our own stamps, whatever they are: they must keep growing.
    hlc_.Restore(HlcStamp{parsed.hlc().physical_micros(), parsed.hlc().logical()});
  }

  uint64_t signed_size = 0;
  TB_ASSIGN_OR_RETURN(std::optional<v1::SignedCheckpoint> latest, store_->LatestCheckpoint(log_));
  {
    absl::MutexLock lock(&mu_);
    own_keys_[key_->public_key().KeyId()] = key_;
    for (const crypto::PrivateKey* k : options_.earlier_keys) {
      own_keys_.emplace(k->public_key().KeyId(), k);
    }
  }
  std::optional<merkle::Checkpoint> named;
  if (latest.has_value()) {
    absl::StatusOr<merkle::Checkpoint> parsed = merkle::ParseCheckpoint(latest->body());
    if (!parsed.ok()) return absl::DataLossError(parsed.status().message());
    named = *std::move(parsed);
  }
  // Which key signs what: every key this node must sign with is here.
  TB_RETURN_IF_ERROR(RecoverKeys(named.has_value() ? named->tree_size : 0, last));
  if (latest.has_value()) {
    merkle::SignedCheckpoint sc{latest->body(), latest->signature()};
    const crypto::PrivateKey* signer = nullptr;
    {
      absl::MutexLock lock(&mu_);
      auto it = own_keys_.find(named->key_id);
      if (it != own_keys_.end()) signer = it->second;
    }
    if (signer == nullptr) {
      return absl::DataLossError(absl::StrCat("latest stored checkpoint is signed by key ",
                                              named->key_id, ", which this node does not hold ",
                                              "(its signing key is ", key_->public_key().KeyId(),
                                              ")"));
    }
    absl::StatusOr<merkle::Checkpoint> cp =
        merkle::VerifyCheckpoint(sc, suite_, signer->public_key());
    if (!cp.ok()) {
      return absl::DataLossError(
          absl::StrCat("latest stored checkpoint does not verify with this node's key: ",
                       cp.status().message()));
    }
    if (cp->origin != log_.origin || cp->epoch != log_.epoch) {
      return absl::DataLossError("latest stored checkpoint names another log");
    }
    if (cp->tree_size > last) {
      return absl::DataLossError(
          absl::StrCat("checkpoint covers ", cp->tree_size, " events but the log holds ", last,
                       ": events were lost; restore the node and start a new epoch"));
    }
    TB_ASSIGN_OR_RETURN(signed_frontier_, merkle::Frontier::Load(cp->tree_size, reader));
    if (signed_frontier_.Root(*sign_hasher_) != cp->root) {
      return absl::DataLossError(absl::StrCat(
          "stored Merkle tree does not match the signed checkpoint at size ", cp->tree_size));
    }
    signed_size = cp->tree_size;
  }
  TB_ASSIGN_OR_RETURN(finding_counts_, store_->ListCounters("id_finding/"));

  appended_seq_ = last;
  absl::MutexLock lock(&mu_);
  recovered_seq_ = last;
  last_seq_ = last;
  signing_size_ = signed_size;
  signed_size_ = signed_size;
  TB_LOG(INFO) << "log resumed origin=" << log_.origin << " epoch=" << log_.epoch
               << " last_seq=" << last << " signed_size=" << signed_size;
  return absl::OkStatus();
}

absl::Status Writer::RecoverKeys(uint64_t signed_size, uint64_t last) {
  TB_ASSIGN_OR_RETURN(const std::vector<KeyRotationEntry> stored,
                      store_->KeyRotations(log_.origin));
  std::vector<merkle::KeyRotation> earlier, here;
  for (const KeyRotationEntry& s : stored) {
    absl::StatusOr<merkle::KeyRotation> r = merkle::ParseKeyRotation(s.rotation.body());
    if (!r.ok()) return absl::DataLossError(r.status().message());
    if (r->epoch < log_.epoch) {
      earlier.push_back(*std::move(r));
    } else if (r->epoch == log_.epoch) {
      here.push_back(*std::move(r));
    }
  }
  TB_ASSIGN_OR_RETURN(std::optional<v1::SignedCheckpoint> latest, store_->LatestCheckpoint(log_));
  absl::MutexLock lock(&mu_);
  // The key this epoch starts with: the newest rotation's before it, else
  // the one its first rotation retires, else the one its checkpoints name,
  // else this node's key (a new log).
  if (!earlier.empty()) {
    first_key_id_ = earlier.back().new_key_id;
  } else if (!here.empty()) {
    first_key_id_ = here.front().old_key_id;
  } else if (latest.has_value()) {
    TB_ASSIGN_OR_RETURN(merkle::Checkpoint cp, merkle::ParseCheckpoint(latest->body()));
    first_key_id_ = cp.key_id;
  } else {
    first_key_id_ = key_->public_key().KeyId();
  }
  for (const merkle::KeyRotation& r : here) switches_.emplace_back(r.seq, r.new_key_id);
  // Every key still to sign with must be here: the current one, and those
  // of events appended but not yet signed.
  std::vector<uint64_t> sizes = {~uint64_t{0}};
  if (last > signed_size) sizes.push_back(signed_size + 1);
  for (const auto& [seq, id] : switches_) {
    if (seq > signed_size && seq <= last) sizes.push_back(seq);
  }
  for (uint64_t size : sizes) {
    if (KeyAt(size) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key ", KeyIdAt(size), " signs this log ",
          size == ~uint64_t{0} ? std::string("now") : absl::StrCat("at tree size ", size),
          ", and this node does not hold it (its signing key is ", key_->public_key().KeyId(),
          "); put the key file back"));
    }
  }
  if (KeyIdAt(~uint64_t{0}) != key_->public_key().KeyId()) {
    TB_LOG(WARNING) << "log " << log_.origin << " is signed with key " << KeyIdAt(~uint64_t{0})
                    << ", not with the node's signing key " << key_->public_key().KeyId()
                    << " (a restored log that has not yet fetched back its key rotation)";
  }
  return absl::OkStatus();
}

std::string Writer::KeyIdAt(uint64_t tree_size) const {
  std::string id = first_key_id_;
  for (const auto& [seq, key_id] : switches_) {
    if (seq > tree_size) break;
    id = key_id;
  }
  return id;
}

const crypto::PrivateKey* Writer::KeyAt(uint64_t tree_size) const {
  auto it = own_keys_.find(KeyIdAt(tree_size));
  return it == own_keys_.end() ? nullptr : it->second;
}

const crypto::PrivateKey& Writer::current_key() const {
  absl::MutexLock lock(&mu_);
  const crypto::PrivateKey* k = KeyAt(~uint64_t{0});
  return k != nullptr ? *k : *key_;
}

Writer::~Writer() {
  // Each stage finishes what the one before handed it: the appender builds
  // what is queued, the committer makes it durable, the signer covers it and
  // the committer makes the checkpoints durable. Each thread marks itself
  // done as it exits.
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (appender_.joinable()) appender_.join();
  if (signer_thread_.joinable()) signer_thread_.join();
  if (committer_.joinable()) committer_.join();
}

absl::StatusOr<Writer::Prepared> Writer::Prepare(const RecordChange& change,
                                                 absl::CivilDay today) const {
  Prepared p;
  const ids::Sex recorded_sex =
      change.kind == v1::RECORD_KIND_PERSON_BASICS && change.value.has_person_basics()
          ? static_cast<ids::Sex>(change.value.person_basics().sex())
          : ids::Sex::kUnspecified;
  absl::StatusOr<ids::CitizenId> checked = ids::CheckCitizenId(change.person, recorded_sex, today);
  if (!checked.ok()) return Prefixed("person", checked.status());
  ids::CitizenId id = *std::move(checked);
  p.person = id.normalized;
  p.findings = id.findings;
  if (!p.findings.empty() && !change.confirm_findings) {
    std::vector<std::string> names;
    for (ids::IdFinding f : p.findings) names.emplace_back(ids::IdFindingName(f));
    return absl::FailedPreconditionError(absl::StrCat("person ", ids::MaskId(p.person),
                                                      ": citizen ID findings need the "
                                                      "operator's confirmation: ",
                                                      absl::StrJoin(names, ", ")));
  }
  if (records::ValueCaseOf(change.kind) == v1::RecordValue::VALUE_NOT_SET) {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: unknown record kind ", static_cast<int>(change.kind)));
  }
  TB_RETURN_IF_ERROR(records::CheckRecordId(change.record_id));
  p.kind = change.kind;
  p.record_id = change.record_id;
  p.operation = change.operation;
  switch (change.operation) {
    case v1::OPERATION_UPSERT:
      TB_RETURN_IF_ERROR(records::ValidateRecordValue(change.kind, change.value, today));
      p.value = &change.value;
      if (!p.value->SerializeToString(&p.payload)) {
        return absl::InternalError("payload did not serialize");
      }
      break;
    case v1::OPERATION_RETRACT:
      if (change.value.value_case() != v1::RecordValue::VALUE_NOT_SET) {
        return absl::InvalidArgumentError("payload: a retraction carries no value");
      }
      if (change.reason.empty()) {
        return absl::InvalidArgumentError("reason: a retraction needs a reason");
      }
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("operation: unknown operation ", static_cast<int>(change.operation)));
  }
  if (change.reason.size() > 1024) {
    return absl::InvalidArgumentError("reason: more than 1024 bytes");
  }
  p.reason = change.reason;
  p.skip_if_unchanged = change.skip_if_unchanged && change.operation == v1::OPERATION_UPSERT;
  p.purpose = change.purpose == v1::PURPOSE_UNSPECIFIED ? records::DefaultPurpose(change.kind)
                                                        : change.purpose;
  return p;
}

std::vector<absl::StatusOr<Appended>> Writer::AppendAll(absl::Span<const RecordChange> changes) {
  const absl::CivilDay today = absl::ToCivilDay(clock_->Now(), options_.time_zone);
  std::vector<absl::StatusOr<Appended>> results;
  results.reserve(changes.size());
  std::deque<Ticket> tickets;  // stable addresses
  for (size_t i = 0; i < changes.size(); ++i) {
    absl::StatusOr<Prepared> p = Prepare(changes[i], today);
    if (!p.ok()) {
      results.emplace_back(p.status());
      continue;
    }
    results.emplace_back(absl::InternalError("not committed"));
    if (tickets.empty() || tickets.back().changes.size() == options_.max_group) {
      tickets.emplace_back().results = &results;
    }
    tickets.back().slots.push_back(i);
    tickets.back().changes.push_back(*std::move(p));
  }
  if (tickets.empty()) return results;

  absl::MutexLock lock(&mu_);
  if (const absl::Status closed = Closed(); !closed.ok()) {
    for (Ticket& t : tickets) {
      for (size_t slot : t.slots) results[slot] = closed;
    }
    return results;
  }
  for (Ticket& t : tickets) queue_.push_back(&t);
  // Tickets complete in queue order, so the last one done means all are.
  mu_.Await(absl::Condition(&tickets.back().done));
  return results;
}

absl::StatusOr<Appended> Writer::Append(const RecordChange& change) {
  std::vector<absl::StatusOr<Appended>> results = AppendAll({&change, 1});
  return std::move(results[0]);
}

absl::StatusOr<Appended> Writer::RotateKey(const crypto::PrivateKey* next) {
  if (next == nullptr) return absl::InvalidArgumentError("no new key");
  std::vector<absl::StatusOr<Appended>> results;
  results.emplace_back(absl::InternalError("not committed"));
  Ticket ticket;
  ticket.rotate_to = next;
  ticket.results = &results;
  ticket.slots.push_back(0);
  absl::MutexLock lock(&mu_);
  TB_RETURN_IF_ERROR(Closed());
  queue_.push_back(&ticket);
  mu_.Await(absl::Condition(&ticket.done));
  return std::move(results[0]);
}

absl::Status Writer::ApplyRemote(const RemoteBatch& batch) {
  return StartApplyRemote(batch)->Wait();
}

absl::Status Writer::AppendRecovered(const RemoteBatch& batch) {
  if (batch.log != log_) {
    return absl::InvalidArgumentError(absl::StrCat("recovered events are of log ", batch.log.origin,
                                                   "/", batch.log.epoch, ", not of this node's"));
  }
  RemoteApply apply(this);
  Ticket& ticket = *apply.ticket_;
  ticket.remote = &batch;
  ticket.recovered = true;
  {
    absl::MutexLock lock(&mu_);
    TB_RETURN_IF_ERROR(Closed());
    queue_.push_back(&ticket);
  }
  return apply.Wait();
}

Writer::RemoteApply::RemoteApply(Writer* writer)
    : writer_(writer), ticket_(std::make_unique<Ticket>()) {}

Writer::RemoteApply::~RemoteApply() {
  absl::MutexLock lock(&writer_->mu_);
  writer_->mu_.Await(absl::Condition(&ticket_->done));
}

absl::Status Writer::RemoteApply::WaitBuilt() {
  absl::MutexLock lock(&writer_->mu_);
  writer_->mu_.Await(absl::Condition(&ticket_->built));
  return ticket_->built_status;
}

absl::Status Writer::RemoteApply::Wait() {
  absl::MutexLock lock(&writer_->mu_);
  writer_->mu_.Await(absl::Condition(&ticket_->done));
  return ticket_->remote_status;
}

bool Writer::RemoteApply::done() const {
  absl::MutexLock lock(&writer_->mu_);
  return ticket_->done;
}

std::unique_ptr<Writer::RemoteApply> Writer::StartApplyRemote(const RemoteBatch& batch) {
  std::unique_ptr<RemoteApply> apply(new RemoteApply(this));
  Ticket& ticket = *apply->ticket_;
  ticket.remote = &batch;
  absl::MutexLock lock(&mu_);
  if (batch.log.origin == options_.node) {
    ticket.remote_status =
        absl::InvalidArgumentError("events of this node's own log are never applied from a peer");
  } else if (const absl::Status closed = Closed(); !closed.ok()) {
    ticket.remote_status = closed;
  } else {
    queue_.push_back(&ticket);
    return apply;
  }
  ticket.built_status = ticket.remote_status;
  ticket.built = ticket.done = true;
  return apply;
}

void Writer::AppenderLoop() {
  for (;;) {
    std::vector<Ticket*> group;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Writer* w)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) { return !w->queue_.empty() || w->stopping_; },
          this));
      if (queue_.empty()) {  // stopping, nothing left
        appender_done_ = true;
        return;
      }
      auto size = [](const Ticket* t) {
        return t->changes.size() + (t->remote != nullptr ? t->remote->events.size() : 0) +
               (t->rotate_to != nullptr ? 1 : 0);
      };
      size_t n = 0;
      while (!queue_.empty() && (group.empty() || n + size(queue_.front()) <= options_.max_group)) {
        n += size(queue_.front());
        group.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    BuildGroup(std::move(group));
  }
}

void Writer::BuildGroup(std::vector<Ticket*> group) {
  absl::Status failed;
  uint64_t committed_groups;
  {
    absl::MutexLock lock(&mu_);
    failed = failed_;
    committed_groups = committed_groups_;
  }
  // What committed groups wrote is in the store now; only the in-flight
  // groups' writes need the overlay.
  absl::erase_if(pending_records_,
                 [&](const auto& e) { return e.second.group <= committed_groups; });
  absl::erase_if(pending_links_, [&](const auto& e) { return e.second.group <= committed_groups; });
  absl::erase_if(pending_events_,
                 [&](const auto& e) { return e.second.group <= committed_groups; });

  auto in = std::make_unique<InFlight>();
  in->group = ++built_groups_;
  in->tickets = std::move(group);
  if (!failed.ok()) {
    // A commit failed or the log failed verification before signing:
    // writing more would extend a history that cannot be stored or signed.
    for (Ticket* t : in->tickets) {
      for (size_t slot : t->slots) (*t->results)[slot] = failed;
    }
  } else {
    const absl::Time start = absl::Now();
    in->batch = std::make_unique<Batch>(*store_);
    BuildBatch(in.get());
    const absl::Duration took = absl::Now() - start;
    absl::MutexLock lock(&mu_);
    build_time_ += took;
  }
  absl::MutexLock lock(&mu_);
  for (Ticket* t : in->tickets) {
    if (t->remote == nullptr) continue;
    t->built_status = !failed.ok() ? failed : !in->poisoned.ok() ? in->poisoned : t->remote_status;
    t->built = true;
  }
  // At most kMaxInFlight groups wait for their fsync: enough to overlap
  // building with syncing, few enough to bound memory.
  mu_.Await(absl::Condition(
      +[](Writer* w)
           ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) { return w->commit_queue_.size() < kMaxInFlight; },
      this));
  commit_queue_.push_back(std::move(in));
}

// What the appender knows while it builds one group's batch.
struct Writer::GroupBuild {
  GroupBuild(InFlight* in, int64_t now_micros, int64_t horizon_micros)
      : in(in),
        batch(*in->batch),
        group(in->group),
        now_micros(now_micros),
        horizon_micros(horizon_micros) {}
  InFlight* const in;
  Batch& batch;
  const uint64_t group;
  const int64_t now_micros;  // routes a local event to residences within retention
  // Stamps as times go no further than this (records/links.h): a peer whose
  // clock runs ahead cannot date links years ahead.
  const int64_t horizon_micros;
  std::map<std::string, uint64_t> counters_touched;
  bool remote_written = false;
  absl::Status poisoned;  // a storage read failed mid-way: the group fails
};

void Writer::BuildBatch(InFlight* in) {
  const int64_t now_micros = absl::ToUnixMicros(clock_->Now());
  GroupBuild g(in, now_micros, now_micros + absl::ToInt64Microseconds(options_.max_clock_ahead));
  const uint64_t first_seq = appended_seq_ + 1;
  for (Ticket* t : in->tickets) {
    if (t->remote != nullptr) {
      t->remote_status =
          t->recovered ? AppendRecoveredEvents(g, *t->remote) : ApplyRemoteEvents(g, *t->remote);
      continue;
    }
    if (t->rotate_to != nullptr) {
      (*t->results)[t->slots[0]] = AppendRotation(g, *t->rotate_to);
      continue;
    }
    for (size_t i = 0; i < t->changes.size(); ++i) {
      (*t->results)[t->slots[i]] = AppendLocal(g, t->changes[i]);
    }
  }
  for (const auto& [name, value] : g.counters_touched) g.batch.PutCounter(name, value);
  in->last_seq = appended_seq_;
  if (!g.poisoned.ok()) {
    // The overlay may hold half of a remote batch: nothing of this group is
    // written, and the writer stops like after a failed commit.
    in->batch.reset();
    in->poisoned = g.poisoned;
    return;
  }
  if (appended_seq_ < first_seq && !g.remote_written) in->batch.reset();  // nothing to write
}

absl::StatusOr<Writer::PendingRecord*> Writer::RecordSlot(const std::string& record_key) {
  auto it = pending_records_.find(record_key);
  if (it == pending_records_.end()) {
    TB_ASSIGN_OR_RETURN(std::optional<v1::RecordState> stored, store_->GetRecord(record_key));
    it = pending_records_.emplace(record_key, PendingRecord{std::move(stored), 0}).first;
  }
  return &it->second;
}

absl::StatusOr<Writer::Pending<records::Links>*> Writer::LinksSlot(const std::string& person) {
  auto it = pending_links_.find(person);
  if (it == pending_links_.end()) {
    TB_ASSIGN_OR_RETURN(records::Links stored, store_->GetLinks(person));
    it = pending_links_.emplace(person, Pending<records::Links>{std::move(stored), 0}).first;
  }
  return &it->second;
}

void Writer::WriteRecordState(GroupBuild& g, const std::string& record_key, PendingRecord* slot,
                              const v1::EventBody& event, absl::Span<const std::string> audience,
                              bool superseded) {
  const v1::RecordState* before = slot->value.has_value() ? &*slot->value : nullptr;
  v1::RecordState next = records::NextRecordState(before, event, superseded);
  for (const std::string& peer : audience) next.add_audience(peer);
  g.batch.PutRecord(record_key, next);
  *slot = {std::move(next), g.group};
}

absl::Status Writer::CheckLocalChange(const Prepared& c,
                                      const std::optional<v1::RecordState>& state,
                                      const records::Links& links) const {
  const std::string where = absl::StrCat(records::KindName(c.kind), " ", c.record_id, " of person ",
                                         ids::MaskId(c.person));
  if (!records::CustodyAllows(state.has_value() ? &*state : nullptr, options_.node)) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, " is kept by node ", state->custodian(),
                     "; ask it to change the record with an inquiry or a notice"));
  }
  if (c.operation == v1::OPERATION_RETRACT) {
    if (!state.has_value()) return absl::NotFoundError(absl::StrCat("retract: no record ", where));
    if (records::CurrentOf(*state).retracted) {
      return absl::FailedPreconditionError(
          absl::StrCat("retract: ", where, " is already retracted"));
    }
  }
  const records::KindInfo* kind = records::FindKind(c.kind);
  if (kind->origin_writes_only && c.operation == v1::OPERATION_UPSERT) {
    // A county that is not the person's origin writes none of these, not
    // even a first version (DOMAIN.md: entitlements follow the person from
    // the origin). Checked against the links of groups still in flight
    // too, so an inflow just written counts.
    for (const auto& [node, link] : links) {
      if (link.role() == v1::LINK_ROLE_ORIGIN && link.ended_at_micros() == 0 &&
          node != options_.node) {
        return absl::FailedPreconditionError(absl::StrCat(where, ": the person's origin is ", node,
                                                          "; only the origin writes ", kind->name,
                                                          "s"));
      }
    }
  }
  return absl::OkStatus();
}

v1::EventBody Writer::NewOwnEvent(uint64_t seq) {
  v1::EventBody body;
  body.set_origin(log_.origin);
  body.set_epoch(log_.epoch);
  body.set_seq(seq);
  const HlcStamp stamp = hlc_.Now();
  body.mutable_hlc()->set_physical_micros(stamp.physical_micros);
  body.mutable_hlc()->set_logical(stamp.logical);
  return body;
}

v1::EventBody Writer::NewLocalEvent(const Prepared& c, const std::optional<v1::RecordState>& state,
                                    uint64_t seq) {
  v1::EventBody body = NewOwnEvent(seq);
  body.set_person(c.person);
  body.set_kind(c.kind);
  body.set_record_id(c.record_id);
  body.set_operation(c.operation);
  if (state.has_value()) {
    // This node holds every head of its own records: the new version
    // supersedes them all, resolving any conflict.
    for (const v1::RecordState::Head& h : state->heads()) *body.add_parents() = h.event();
  }
  body.set_purpose(c.purpose);
  body.set_payload(c.payload);
  for (ids::IdFinding f : c.findings) body.add_id_findings(static_cast<v1::IdFinding>(f));
  body.set_reason(c.reason);
  return body;
}

records::LinkEffect Writer::UpdateLinks(GroupBuild& g, const v1::EventBody& body,
                                        const v1::RecordValue& value,
                                        Pending<records::Links>* links) {
  const records::LinkEffect effect =
      records::DeriveLinks(body, value, links->value, g.horizon_micros);
  if (!effect.changed.empty()) {
    for (const auto& [node, link] : effect.changed) links->value[node] = link;
    links->group = g.group;
    g.batch.PutLinks(body.person(), links->value);
  }
  return effect;
}

std::vector<std::string> Writer::RouteLocalEvent(GroupBuild& g, const Prepared& c,
                                                 const std::optional<v1::RecordState>& state,
                                                 Pending<records::Links>* links,
                                                 v1::EventBody* body) {
  // Links are stamped with the event's own time, so that every node that
  // applies this event derives the same links.
  const records::LinkEffect effect = UpdateLinks(g, *body, *c.value, links);
  std::vector<std::string> audience =
      records::DeriveAudience(options_.node, options_.national, links->value, effect.counterparts,
                              g.now_micros, options_.retention);
  if (state.has_value() && !state->audience().empty()) {
    // Whoever received an earlier version receives this one too.
    audience.insert(audience.end(), state->audience().begin(), state->audience().end());
    std::sort(audience.begin(), audience.end());
    audience.erase(std::unique(audience.begin(), audience.end()), audience.end());
  }
  for (const std::string& peer : audience) body->add_audience(peer);
  return audience;
}

void Writer::CountNewFindings(GroupBuild& g, const std::optional<v1::RecordState>& before,
                              const Prepared& c) {
  if (c.operation != v1::OPERATION_UPSERT) return;  // a retraction records no finding
  for (ids::IdFinding f : c.findings) {
    const auto pf = static_cast<v1::IdFinding>(f);
    const bool known = before.has_value() &&
                       std::find(before->id_findings().begin(), before->id_findings().end(), pf) !=
                           before->id_findings().end();
    if (!known) {
      const std::string name = FindingCounter(f);
      g.counters_touched[name] = ++finding_counts_[name];
    }
  }
}

void Writer::MarkBackfill(GroupBuild& g, const v1::EventBody& body, const v1::RecordValue& value) {
  if (body.operation() != v1::OPERATION_UPSERT || body.kind() != v1::RECORD_KIND_INFLOW) return;
  // Linked to the person now: fetch its history from the origin, the
  // previous residence and the national node (which holds every log whole,
  // for a county that cannot reach the others). The marker is durable with
  // the registration, so a restart cannot lose the request.
  for (const std::string& from :
       {value.inflow().origin_county(), value.inflow().previous_residence(), options_.national}) {
    if (!from.empty() && from != options_.node) {
      // The value is the registration's seq: the peer must have it before
      // it can see the link and answer.
      g.batch.Put(Cf::kDefault, BackfillKey(from, body.person()), absl::StrCat(body.seq()));
    }
  }
}

absl::StatusOr<Appended> Writer::AppendLocal(GroupBuild& g, const Prepared& c) {
  const std::string record_key = RecordKey(c.person, c.kind, c.record_id);
  TB_ASSIGN_OR_RETURN(PendingRecord * record, RecordSlot(record_key));
  const std::optional<v1::RecordState>& state = record->value;
  if (c.skip_if_unchanged && state.has_value() && HoldsExactly(*state, c.payload, *c.value)) {
    Appended out;
    out.id = records::StandingHead(*state)->event();
    out.person = c.person;
    out.findings = c.findings;
    out.unchanged = true;
    return out;
  }
  TB_ASSIGN_OR_RETURN(Pending<records::Links> * links, LinksSlot(c.person));
  TB_RETURN_IF_ERROR(CheckLocalChange(c, state, links->value));

  const uint64_t seq = appended_seq_ + 1;
  v1::EventBody body = NewLocalEvent(c, state, seq);
  std::vector<std::string> audience = RouteLocalEvent(g, c, state, links, &body);
  std::string bytes;
  if (!body.SerializeToString(&bytes)) return absl::InternalError("event body did not serialize");
  appended_seq_ = seq;
  g.in->sums.push_back(BodyChecksum(bytes));
  g.batch.PutEvent(log_, seq, bytes);

  CountNewFindings(g, state, c);
  WriteRecordState(g, record_key, record, body, audience);
  for (const std::string& peer : audience) g.batch.PutRoute(peer, log_, seq);
  MarkBackfill(g, body, *c.value);

  Appended out;
  out.id.set_origin(log_.origin);
  out.id.set_epoch(log_.epoch);
  out.id.set_seq(seq);
  out.person = c.person;
  out.findings = c.findings;
  out.audience = std::move(audience);
  return out;
}

absl::StatusOr<Appended> Writer::AppendRotation(GroupBuild& g, const crypto::PrivateKey& next) {
  const crypto::PrivateKey* current = nullptr;
  {
    absl::MutexLock lock(&mu_);
    current = KeyAt(~uint64_t{0});
  }
  if (current == nullptr) {
    return absl::FailedPreconditionError("this node does not hold the key that signs its log now");
  }
  if (next.suite() != suite_.id()) {
    return absl::InvalidArgumentError(absl::StrCat("the new key is a ",
                                                   crypto::SuiteName(next.suite()),
                                                   " key; this log is signed in ", suite_.name()));
  }
  const std::string next_id = next.public_key().KeyId();
  if (next_id == current->public_key().KeyId()) {
    return absl::FailedPreconditionError(absl::StrCat("key ", next_id, " signs this log already"));
  }
  const uint64_t seq = appended_seq_ + 1;
  TB_ASSIGN_OR_RETURN(
      merkle::SignedKeyRotation signed_rotation,
      merkle::SignKeyRotation(log_.origin, log_.epoch, seq, clock_->Now(), *current, next));
  v1::EventBody body = NewOwnEvent(seq);
  v1::SignedKeyRotation* r = body.mutable_key_rotation();
  r->set_body(signed_rotation.body);
  r->set_old_signature(signed_rotation.old_signature);
  r->set_new_signature(signed_rotation.new_signature);
  std::string bytes;
  if (!body.SerializeToString(&bytes)) return absl::InternalError("event body did not serialize");
  appended_seq_ = seq;
  g.in->sums.push_back(BodyChecksum(bytes));
  g.batch.PutEvent(log_, seq, bytes);
  g.batch.PutKeyRotation(log_, seq, *r);
  {
    // The signer signs tree size `seq` and above with `next`; it signs only
    // what is durable, so never before this group is committed.
    absl::MutexLock lock(&mu_);
    own_keys_[next_id] = &next;
    switches_.emplace_back(seq, next_id);
  }
  TB_LOG(INFO) << "log " << log_.origin << " epoch " << log_.epoch << ": key rotation at seq "
               << seq << " from key " << current->public_key().KeyId() << " to key " << next_id;
  Appended out;
  out.id.set_origin(log_.origin);
  out.id.set_epoch(log_.epoch);
  out.id.set_seq(seq);
  return out;
}

absl::StatusOr<std::vector<Writer::FreshEvent>> Writer::CheckRemoteEvents(
    const RemoteBatch& rb) const {
  std::vector<FreshEvent> fresh;
  for (const RemoteEvent& e : rb.events) {
    absl::StatusOr<std::string> stored = store_->GetEvent(rb.log, e.seq);
    if (!stored.ok() && !absl::IsNotFound(stored.status())) return stored.status();
    // Not yet committed, by this group or one still in flight: the same
    // event can arrive through two peers at once (the origin and a relay).
    auto in_flight = pending_events_.find(EventKey(rb.log, e.seq));
    const std::string* existing = stored.ok()                          ? &*stored
                                  : in_flight != pending_events_.end() ? &in_flight->second.value
                                                                       : nullptr;
    if (existing != nullptr) {
      if (*existing == e.body) continue;  // applied already, through another peer
      return absl::DataLossError(absl::StrCat("event ", rb.log.origin, "/", rb.log.epoch, "/",
                                              e.seq, " is stored with other bytes"));
    }
    FreshEvent f{&e, v1::RecordValue()};
    if (e.parsed.operation() == v1::OPERATION_UPSERT &&
        !f.value.ParseFromString(e.parsed.payload())) {
      return absl::InvalidArgumentError(absl::StrCat("event ", rb.log.origin, "/", rb.log.epoch,
                                                     "/", e.seq, ": payload does not parse"));
    }
    fresh.push_back(std::move(f));
  }
  return fresh;
}

absl::StatusOr<bool> Writer::AlreadySuperseded(const std::optional<v1::RecordState>& state,
                                               const v1::EventBody& event) const {
  if (!state.has_value() || !records::MaySupersede(*state, event)) return false;
  // Rare: an event older than the record's standing head (a backfill that
  // raced the live feed). Its history's events say whether one names it.
  std::vector<v1::EventBody> history;
  history.reserve(state->history_size());
  for (const v1::EventId& id : state->history()) {
    const LogId log{id.origin(), id.epoch()};
    auto in_flight = pending_events_.find(EventKey(log, id.seq()));
    std::string bytes;
    if (in_flight != pending_events_.end()) {
      bytes = in_flight->second.value;
    } else {
      TB_ASSIGN_OR_RETURN(bytes, store_->GetEvent(log, id.seq()));
    }
    if (!history.emplace_back().ParseFromString(bytes)) {
      return absl::DataLossError(absl::StrCat("stored event ", id.origin(), "/", id.epoch(), "/",
                                              id.seq(), " does not parse"));
    }
  }
  return records::NamesAsParent(history, event);
}

void Writer::RelayRoutes(GroupBuild& g, const RemoteBatch& rb, const RemoteEvent& e,
                         const records::Links& links, const records::LinkEffect& effect) {
  // The national node passes events on, with the origin's proofs (it holds
  // every log whole), for counties that cannot reach the origin: to the
  // audience the origin named, and to every node linked to the person in
  // its own view, which is complete. The origin may not yet have known a
  // link when it wrote (a new residence writing before its backfill brought
  // the previous residence's registration).
  const v1::EventBody& body = e.parsed;
  std::vector<std::string> to(body.audience().begin(), body.audience().end());
  for (std::string& n : records::DeriveAudience(
           body.origin(), options_.national, links, effect.counterparts,
           std::min(body.hlc().physical_micros(), g.horizon_micros), options_.retention)) {
    to.push_back(std::move(n));
  }
  std::sort(to.begin(), to.end());
  to.erase(std::unique(to.begin(), to.end()), to.end());
  for (const std::string& peer : to) {
    if (peer != options_.node && peer != body.origin()) {
      g.batch.PutRoute(peer, rb.log, e.seq);
      g.in->concerned.insert(peer);
    }
  }
}

absl::Status Writer::ApplyRemoteEvent(GroupBuild& g, const RemoteBatch& rb, const FreshEvent& f) {
  const RemoteEvent& e = *f.event;
  const v1::EventBody& body = e.parsed;
  pending_events_[EventKey(rb.log, e.seq)] = {e.body, g.group};
  g.batch.PutEvent(rb.log, e.seq, e.body);
  hlc_.Observe(HlcStamp{body.hlc().physical_micros(), body.hlc().logical()});
  if (body.has_key_rotation()) {
    // The batch verifier matched it to the origin's key history; it touches
    // no record.
    g.batch.PutKeyRotation(rb.log, e.seq, body.key_rotation());
    return absl::OkStatus();
  }

  const std::string record_key = RecordKey(body.person(), body.kind(), body.record_id());
  TB_ASSIGN_OR_RETURN(PendingRecord * record, RecordSlot(record_key));
  if (!records::CustodyAllows(record->value.has_value() ? &*record->value : nullptr,
                              body.origin())) {
    // Signed history is kept as it is, but a record is never changed by a
    // node that is not its custodian.
    const std::string name = "custody_violation";
    g.counters_touched[name] = ++finding_counts_[name];
    TB_LOG(WARNING) << "event " << body.origin() << "/" << body.epoch() << "/" << body.seq()
                    << " writes a record kept by " << record->value->custodian()
                    << "; stored, not applied to the record";
  } else {
    TB_ASSIGN_OR_RETURN(const bool superseded, AlreadySuperseded(record->value, body));
    WriteRecordState(g, record_key, record, body, /*audience=*/{}, superseded);
  }

  TB_ASSIGN_OR_RETURN(Pending<records::Links> * links, LinksSlot(body.person()));
  const records::LinkEffect effect = UpdateLinks(g, body, f.value, links);
  if (options_.relay) RelayRoutes(g, rb, e, links->value, effect);
  return absl::OkStatus();
}

void Writer::StoreRemoteProgress(GroupBuild& g, const RemoteBatch& rb) {
  for (const auto& [node, digest] : rb.tree_nodes) g.batch.PutNode(rb.log, node, digest);
  for (const KeyRotationEntry& r : rb.key_rotations)
    g.batch.PutKeyRotation(r.log, r.seq, r.rotation);
  if (rb.checkpoint.has_value()) g.batch.PutCheckpoint(rb.log, rb.checkpoint_size, *rb.checkpoint);
  if (!rb.from_peer.empty()) {
    v1::Position position;
    position.set_origin(rb.log.origin);
    position.set_epoch(rb.log.epoch);
    position.set_seq(rb.cursor);
    position.set_checkpoint_size(rb.checkpoint_size);
    g.batch.Put(Cf::kCursors, CursorKey(rb.from_peer, rb.log), position.SerializeAsString());
  }
  g.remote_written = true;
}

absl::Status Writer::AppendRecoveredEvents(GroupBuild& g, const RemoteBatch& rb) {
  // Pass 1, as for a peer's batch: nothing is written unless every event
  // follows on and parses.
  TB_ASSIGN_OR_RETURN(const std::vector<FreshEvent> fresh, CheckRemoteEvents(rb));
  std::vector<std::pair<uint64_t, std::string>> switches;
  std::optional<std::string> first_key;
  if (rb.checkpoint.has_value()) {
    // The key that signed the checkpoint fetched with the events signs them
    // too, unless a rotation among them says otherwise (below).
    absl::StatusOr<merkle::Checkpoint> cp = merkle::ParseCheckpoint(rb.checkpoint->body());
    if (cp.ok()) first_key = cp->key_id;
  }
  for (size_t i = 0; i < fresh.size(); ++i) {
    if (fresh[i].event->seq != appended_seq_ + 1 + i) {
      return absl::FailedPreconditionError(
          absl::StrCat("recovered event ", fresh[i].event->seq, " does not follow on the log's ",
                       appended_seq_ + i, " (an append ran while the log was recovered)"));
    }
    if (!fresh[i].event->parsed.has_key_rotation()) continue;
    TB_ASSIGN_OR_RETURN(merkle::KeyRotation r,
                        merkle::ParseKeyRotation(fresh[i].event->parsed.key_rotation().body()));
    absl::MutexLock lock(&mu_);
    for (const std::string& id : {r.old_key_id, r.new_key_id}) {
      if (!own_keys_.contains(id)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "recovered event ", r.seq, " rotates this log from key ", r.old_key_id, " to key ",
            r.new_key_id, "; this node does not hold key ", id, ": put its key file back"));
      }
    }
    // Before its first rotation an epoch is signed by the key that rotation
    // retires.
    if (switches.empty()) first_key = r.old_key_id;
    switches.emplace_back(r.seq, r.new_key_id);
  }
  {
    // A log fetched back into a store that knew no rotation of it yet.
    absl::MutexLock lock(&mu_);
    if (switches_.empty() && first_key.has_value()) {
      if (!own_keys_.contains(*first_key)) {
        return absl::FailedPreconditionError(
            absl::StrCat("recovered events are signed by key ", *first_key,
                         ", which this node does not hold: put its key file back"));
      }
      first_key_id_ = *first_key;
    }
  }
  for (const FreshEvent& f : fresh) {
    const RemoteEvent& e = *f.event;
    const v1::EventBody& body = e.parsed;
    if (body.has_key_rotation()) {
      appended_seq_ = e.seq;
      g.in->sums.push_back(BodyChecksum(e.body));
      g.batch.PutEvent(log_, e.seq, e.body);
      g.batch.PutKeyRotation(log_, e.seq, body.key_rotation());
      continue;
    }
    const std::string record_key = RecordKey(body.person(), body.kind(), body.record_id());
    absl::Status s = [&]() -> absl::Status {
      TB_ASSIGN_OR_RETURN(PendingRecord * record, RecordSlot(record_key));
      TB_ASSIGN_OR_RETURN(Pending<records::Links> * links, LinksSlot(body.person()));
      hlc_.Observe(HlcStamp{body.hlc().physical_micros(), body.hlc().logical()});
      appended_seq_ = e.seq;
      g.in->sums.push_back(BodyChecksum(e.body));
      g.batch.PutEvent(log_, e.seq, e.body);
      // What AppendLocal wrote when the event was first appended: the
      // audience it was given is in the body.
      const std::vector<std::string> audience(body.audience().begin(), body.audience().end());
      TB_ASSIGN_OR_RETURN(const bool superseded, AlreadySuperseded(record->value, body));
      WriteRecordState(g, record_key, record, body, audience, superseded);
      UpdateLinks(g, body, f.value, links);
      for (const std::string& peer : audience) {
        if (peer != options_.node) g.batch.PutRoute(peer, log_, e.seq);
      }
      MarkBackfill(g, body, f.value);
      return absl::OkStatus();
    }();
    if (!s.ok()) {
      g.poisoned = s;
      return s;
    }
  }
  if (!switches.empty()) {
    absl::MutexLock lock(&mu_);
    switches_.insert(switches_.end(), switches.begin(), switches.end());
  }
  return absl::OkStatus();
}

absl::Status Writer::ApplyRemoteEvents(GroupBuild& g, const RemoteBatch& rb) {
  // Pass 1 makes every check that the batch itself can fail, so that a
  // refused batch leaves nothing behind; pass 2 only reads and writes, and
  // a failed read there fails the whole group (poisoned).
  TB_ASSIGN_OR_RETURN(const std::vector<FreshEvent> fresh, CheckRemoteEvents(rb));
  for (const FreshEvent& f : fresh) {
    if (absl::Status s = ApplyRemoteEvent(g, rb, f); !s.ok()) {
      g.poisoned = s;
      return s;
    }
  }
  StoreRemoteProgress(g, rb);
  return absl::OkStatus();
}

void Writer::CommitterLoop() {
  for (;;) {
    std::unique_ptr<InFlight> in;
    std::vector<std::unique_ptr<PendingCheckpoint>> checkpoints;
    absl::Status failed;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return !w->commit_queue_.empty() || !w->checkpoint_queue_.empty() ||
                   (w->appender_done_ && w->signer_done_);
          },
          this));
      if (commit_queue_.empty() && checkpoint_queue_.empty()) return;
      if (!commit_queue_.empty()) {
        in = std::move(commit_queue_.front());
        commit_queue_.pop_front();
        committing_ = true;
      }
      while (!checkpoint_queue_.empty()) {
        checkpoints.push_back(std::move(checkpoint_queue_.front()));
        checkpoint_queue_.pop_front();
      }
      failed = failed_;
    }
    // A failed earlier write fails everything after it.
    absl::Status committed = failed;
    if (committed.ok() && in != nullptr && !in->poisoned.ok()) committed = in->poisoned;
    const absl::Time start = absl::Now();
    const bool group_follows = in != nullptr && in->batch != nullptr;
    for (size_t i = 0; i < checkpoints.size() && committed.ok(); ++i) {
      // Checkpoints ride on the group's fsync when one follows: the WAL is
      // one file, so a later synced write makes every earlier one durable.
      const bool sync = !group_follows && i + 1 == checkpoints.size();
      committed = store_->Commit(*checkpoints[i]->batch, sync);
    }
    if (group_follows && committed.ok()) {
      committed = store_->Commit(*in->batch, /*sync=*/true);
    }
    const absl::Duration took = absl::Now() - start;
    if (!committed.ok() && in != nullptr) {
      for (Ticket* t : in->tickets) {
        if (t->remote != nullptr && t->remote_status.ok()) t->remote_status = committed;
        for (size_t slot : t->slots) {
          if ((*t->results)[slot].ok()) (*t->results)[slot] = committed;
        }
      }
    }
    absl::ReleasableMutexLock lock(&mu_);
    commit_time_ += took;
    if (!committed.ok() && failed_.ok()) {
      failed_ = committed;
      TB_LOG(ERROR) << "log " << log_.origin << " stopped after a failed write: " << committed;
    }
    if (committed.ok()) {
      for (const auto& cp : checkpoints) {
        signed_size_ = std::max(signed_size_, cp->tree_size);
        ++checkpoints_;
      }
      if (group_follows) {
        if (in->last_seq > last_seq_) {
          last_seq_ = in->last_seq;
          group_sums_.push_back({in->last_seq, std::move(in->sums)});
        }
        ++commits_;
      }
    }
    if (in != nullptr) {
      committed_groups_ = in->group;
      for (Ticket* t : in->tickets) t->done = true;
      committing_ = false;
    }
    // The senders of remote batches wait for them whether they were applied
    // or failed; relayed events wait for their recipients.
    DurableChange change;
    change.own_log = committed.ok() && !checkpoints.empty();
    if (in != nullptr) {
      for (const Ticket* t : in->tickets) {
        if (t->remote != nullptr && !t->remote->received_from.empty()) {
          change.peers.insert(t->remote->received_from);
        }
      }
      if (committed.ok()) change.peers.merge(in->concerned);
    }
    const bool remote_done =
        in != nullptr && std::any_of(in->tickets.begin(), in->tickets.end(),
                                     [](const Ticket* t) { return t->remote != nullptr; });
    if (change.own_log || remote_done) {
      lock.Release();
      NotifyListeners(change);
    }
  }
}

int Writer::AddListener(std::function<void()> listener) {
  return AddListener([listener = std::move(listener)](const DurableChange&) { listener(); });
}

int Writer::AddListener(std::function<void(const DurableChange&)> listener) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_[next_listener_] = std::move(listener);
  return next_listener_++;
}

void Writer::RemoveListener(int id) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.erase(id);
}

void Writer::NotifyListeners(const DurableChange& change) {
  absl::MutexLock lock(&listeners_mu_);
  for (const auto& [id, listener] : listeners_) listener(change);
}

void Writer::SignerLoop() {
  for (;;) {
    uint64_t target = 0;
    std::vector<uint64_t> sums;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->last_seq_ > w->signing_size_ || !w->failed_.ok() ||
                   (w->appender_done_ && w->commit_queue_.empty() && !w->committing_);
          },
          this));
      // Done when writing failed, or when nothing more will be committed
      // and everything committed is signed.
      if (!failed_.ok() || last_seq_ <= signing_size_) {
        signer_done_ = true;
        return;
      }
      const uint64_t limit = signing_size_ + options_.max_events_per_checkpoint;
      if (signing_size_ < recovered_seq_) {
        // Found unsigned after a restart: no checksums in memory.
        target = std::min(recovered_seq_, limit);
      } else {
        // Whole committed groups up to the limit. A group never exceeds it,
        // so this takes at least one.
        while (!group_sums_.empty() && group_sums_.front().last_seq <= limit) {
          target = group_sums_.front().last_seq;
          sums.insert(sums.end(), group_sums_.front().sums.begin(), group_sums_.front().sums.end());
          group_sums_.pop_front();
        }
      }
    }
    const crypto::PrivateKey* key = nullptr;
    {
      absl::MutexLock lock(&mu_);
      key = KeyAt(target);
    }
    const absl::Time start = absl::Now();
    absl::StatusOr<std::unique_ptr<PendingCheckpoint>> cp =
        key != nullptr ? SignUpTo(target, sums, *key)
                       : absl::FailedPreconditionError(absl::StrCat(
                             "this node does not hold the key that signs tree size ", target));
    absl::MutexLock lock(&mu_);
    sign_time_ += absl::Now() - start;
    if (!cp.ok()) {
      TB_LOG(ERROR) << "checkpoint signing stopped origin=" << log_.origin
                    << " tree_size=" << target << ": " << cp.status();
      if (failed_.ok()) failed_ = cp.status();
      signer_done_ = true;
      return;
    }
    checkpoint_queue_.push_back(*std::move(cp));
    signing_size_ = target;
  }
}

absl::StatusOr<std::unique_ptr<Writer::PendingCheckpoint>> Writer::SignUpTo(
    uint64_t target, const std::vector<uint64_t>& sums, const crypto::PrivateKey& key) {
  if (options_.before_sign_for_test) options_.before_sign_for_test(target);
  merkle::Frontier next = signed_frontier_;
  const uint64_t first = next.size() + 1;
  if (!sums.empty() && sums.size() != target - first + 1) {
    return absl::InternalError(
        absl::StrCat("signer got ", sums.size(), " checksums for ", target - first + 1, " events"));
  }
  auto pending = std::make_unique<PendingCheckpoint>();
  pending->batch = std::make_unique<Batch>(*store_);
  pending->tree_size = target;
  Batch& batch = *pending->batch;
  uint64_t expect = first;
  TB_RETURN_IF_ERROR(
      store_->ScanEvents(log_, first, target, [&](uint64_t seq, absl::string_view body) {
        if (seq != expect) {
          return absl::DataLossError(absl::StrCat("log has a gap at seq ", expect));
        }
        if (!sums.empty() && BodyChecksum(body) != sums[seq - first]) {
          return absl::DataLossError(absl::StrCat("event ", seq,
                                                  " changed on disk between append and signing; "
                                                  "refusing to sign"));
        }
        next.Append(*sign_hasher_, merkle::LeafHash(*sign_hasher_, body),
                    [&](merkle::NodeId id, const crypto::Digest& d) {
                      if (IsStoredLevel(id.level)) batch.PutNode(log_, id, d);
                    });
        ++expect;
        return absl::OkStatus();
      }));
  if (expect != target + 1) {
    return absl::DataLossError(absl::StrCat("log has a gap at seq ", expect));
  }
  merkle::Checkpoint cp;
  cp.suite = suite_.id();
  cp.origin = log_.origin;
  cp.epoch = log_.epoch;
  cp.tree_size = target;
  cp.root = next.Root(*sign_hasher_);
  cp.time_micros = absl::ToUnixMicros(clock_->Now());
  cp.key_id = key.public_key().KeyId();
  if (signer_key_ != &key) {
    signer_ = key.NewSigner();
    signer_key_ = &key;
  }
  TB_ASSIGN_OR_RETURN(merkle::SignedCheckpoint signed_cp, merkle::SignCheckpoint(cp, *signer_));
  v1::SignedCheckpoint msg;
  msg.set_body(signed_cp.body);
  msg.set_signature(signed_cp.signature);
  batch.PutCheckpoint(log_, target, msg);
  signed_frontier_ = std::move(next);
  return pending;
}

absl::Status Writer::WaitForCheckpoint(uint64_t seq, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  struct Args {
    Writer* w;
    uint64_t seq;
  } args{this, seq};
  const bool met =
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 return a->w->signed_size_ >= a->seq || !a->w->failed_.ok();
                               },
                               &args),
                           timeout);
  if (signed_size_ >= seq) return absl::OkStatus();
  if (!failed_.ok()) return failed_;
  if (!met) {
    return absl::DeadlineExceededError(
        absl::StrCat("no checkpoint covers seq ", seq, " yet (signed size ", signed_size_, ")"));
  }
  return absl::OkStatus();
}

absl::Status Writer::failure() const {
  absl::MutexLock lock(&mu_);
  return failed_;
}

void Writer::RefuseWrites(absl::Status why) {
  absl::MutexLock lock(&mu_);
  refused_ = std::move(why);
}

absl::Status Writer::refusal() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

absl::Status Writer::Closed() const {
  if (stopping_) return absl::UnavailableError("writer is shutting down");
  return refused_;
}

WriterStats Writer::stats() const {
  absl::MutexLock lock(&mu_);
  return WriterStats{last_seq_,   signed_size_, commits_,  checkpoints_,
                     build_time_, commit_time_, sign_time_};
}

}  // namespace tongban::storage
