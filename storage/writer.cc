#include "storage/writer.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/ids/region.h"
#include "common/log.h"
#include "common/merkle/checkpoint.h"
#include "common/status_macros.h"
#include "storage/links.h"
#include "storage/validate.h"

namespace tongban::storage {

struct Writer::Prepared {
  std::string person;
  v1::RecordKind kind = v1::RECORD_KIND_UNSPECIFIED;
  std::string record_id;
  v1::Operation operation = v1::OPERATION_UPSERT;
  v1::RecordValue value;
  std::string payload;
  v1::Purpose purpose = v1::PURPOSE_UNSPECIFIED;
  std::string reason;
  std::vector<ids::IdFinding> findings;
};

// One caller's changes, committed in one group. `results` is written by the
// appender thread before `done` is set under mu_, and read by the caller
// after it sees `done`.
struct Writer::Ticket {
  std::vector<Prepared> changes;
  std::vector<size_t> slots;  // results index of each change
  std::vector<absl::StatusOr<Appended>> results;
  bool done = false;
};

namespace {

constexpr size_t kMaxRecordId = 128;

bool ValidRecordId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxRecordId) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

v1::Purpose DefaultPurpose(v1::RecordKind kind) {
  switch (kind) {
    case v1::RECORD_KIND_SERVICE: return v1::PURPOSE_SERVICE_DELIVERY;
    case v1::RECORD_KIND_INQUIRY:
    case v1::RECORD_KIND_INQUIRY_REPLY: return v1::PURPOSE_INQUIRY;
    case v1::RECORD_KIND_NOTICE:
    case v1::RECORD_KIND_RECEIPT: return v1::PURPOSE_NOTICE;
    case v1::RECORD_KIND_CERTIFICATE: return v1::PURPOSE_CERTIFICATION;
    case v1::RECORD_KIND_ENTITLEMENT: return v1::PURPOSE_ENTITLEMENT;
    default: return v1::PURPOSE_CASE_MANAGEMENT;
  }
}

std::string FindingCounter(ids::IdFinding f) {
  return absl::StrCat("id_finding/", ids::IdFindingName(f));
}

bool AllHeadsRetracted(const v1::RecordState& state) {
  return std::all_of(state.heads().begin(), state.heads().end(),
                     [](const v1::RecordState::Head& h) {
                       return h.operation() == v1::OPERATION_RETRACT;
                     });
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
      hlc_(clock),
      append_hasher_(suite_.NewHasher()),
      sign_hasher_(suite_.NewHasher()),
      signer_(key->NewSigner()) {}

absl::StatusOr<std::unique_ptr<Writer>> Writer::Open(Store* store,
                                                     const crypto::PrivateKey* key,
                                                     WriterOptions options,
                                                     const Clock* clock) {
  TB_RETURN_IF_ERROR(Prefixed("node code", ids::ValidateNodeCode(options.node)));
  TB_RETURN_IF_ERROR(
      Prefixed("national node code", ids::ValidateNodeCode(options.national)));
  if (key->suite() != store->suite()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signing key is for suite ", crypto::SuiteName(key->suite()),
        ", storage is ", crypto::SuiteName(store->suite())));
  }
  if (options.epoch == 0 || options.max_group == 0 ||
      options.max_events_per_checkpoint == 0) {
    return absl::InvalidArgumentError(
        "writer options: epoch, max_group and max_events_per_checkpoint must be positive");
  }
  std::unique_ptr<Writer> w(new Writer(store, key, std::move(options), clock));
  TB_RETURN_IF_ERROR(Prefixed(absl::StrCat("log ", w->log_.origin), w->Recover()));
  w->signer_thread_ = std::thread([p = w.get()] { p->SignerLoop(); });
  w->appender_ = std::thread([p = w.get()] { p->AppenderLoop(); });
  return w;
}

absl::Status Writer::Recover() {
  TB_ASSIGN_OR_RETURN(const uint64_t last, store_->LastSeq(log_));
  const merkle::NodeReader reader = store_->NodeReaderFor(log_);
  TB_ASSIGN_OR_RETURN(frontier_, merkle::Frontier::Load(last, reader));
  if (last > 0) {
    TB_ASSIGN_OR_RETURN(const std::string body, store_->GetEvent(log_, last));
    v1::EventBody parsed;
    if (!parsed.ParseFromString(body)) {
      return absl::DataLossError(absl::StrCat("event ", last, " does not parse"));
    }
    hlc_.Observe(HlcStamp{parsed.hlc().physical_micros(), parsed.hlc().logical()});
  }

  uint64_t signed_size = 0;
  TB_ASSIGN_OR_RETURN(std::optional<v1::SignedCheckpoint> latest,
                      store_->LatestCheckpoint(log_));
  if (latest.has_value()) {
    merkle::SignedCheckpoint sc{latest->body(), latest->signature()};
    absl::StatusOr<merkle::Checkpoint> cp =
        merkle::VerifyCheckpoint(sc, suite_, key_->public_key());
    if (!cp.ok()) {
      return absl::DataLossError(absl::StrCat(
          "latest stored checkpoint does not verify with this node's key: ",
          cp.status().message()));
    }
    if (cp->origin != log_.origin || cp->epoch != log_.epoch) {
      return absl::DataLossError("latest stored checkpoint names another log");
    }
    if (cp->tree_size > last) {
      return absl::DataLossError(absl::StrCat(
          "checkpoint covers ", cp->tree_size, " events but the log holds ", last,
          ": events were lost; restore the node and start a new epoch"));
    }
    TB_ASSIGN_OR_RETURN(signed_frontier_,
                        merkle::Frontier::Load(cp->tree_size, reader));
    if (signed_frontier_.Root(*sign_hasher_) != cp->root) {
      return absl::DataLossError(absl::StrCat(
          "stored Merkle tree does not match the signed checkpoint at size ",
          cp->tree_size));
    }
    signed_size = cp->tree_size;
  }
  TB_ASSIGN_OR_RETURN(finding_counts_, store_->ListCounters("id_finding/"));

  absl::MutexLock lock(&mu_);
  last_seq_ = last;
  signed_size_ = signed_size;
  TB_LOG(INFO) << "log resumed origin=" << log_.origin << " epoch=" << log_.epoch
               << " last_seq=" << last << " signed_size=" << signed_size;
  return absl::OkStatus();
}

Writer::~Writer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // The appender finishes what is queued; the signer then covers it.
  if (appender_.joinable()) appender_.join();
  if (signer_thread_.joinable()) signer_thread_.join();
}

absl::StatusOr<Writer::Prepared> Writer::Prepare(const RecordChange& change,
                                                 absl::CivilDay today) const {
  Prepared p;
  const ids::Sex recorded_sex =
      change.kind == v1::RECORD_KIND_PERSON_BASICS &&
              change.value.has_person_basics()
          ? static_cast<ids::Sex>(change.value.person_basics().sex())
          : ids::Sex::kUnspecified;
  absl::StatusOr<ids::CitizenId> checked =
      ids::CheckCitizenId(change.person, recorded_sex, today);
  if (!checked.ok()) return Prefixed("person", checked.status());
  ids::CitizenId id = *std::move(checked);
  p.person = id.normalized;
  p.findings = id.findings;
  if (!p.findings.empty() && !change.confirm_findings) {
    std::vector<std::string> names;
    for (ids::IdFinding f : p.findings) names.emplace_back(ids::IdFindingName(f));
    return absl::FailedPreconditionError(absl::StrCat(
        "person ", ids::MaskId(p.person), ": citizen ID findings need the "
        "operator's confirmation: ", absl::StrJoin(names, ", ")));
  }
  if (ValueCaseOf(change.kind) == v1::RecordValue::VALUE_NOT_SET) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kind: unknown record kind ", static_cast<int>(change.kind)));
  }
  if (!ValidRecordId(change.record_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record_id: must be 1 to ", kMaxRecordId,
        " characters of A-Z a-z 0-9 . _ : -"));
  }
  p.kind = change.kind;
  p.record_id = change.record_id;
  p.operation = change.operation;
  switch (change.operation) {
    case v1::OPERATION_UPSERT:
      TB_RETURN_IF_ERROR(ValidateRecordValue(change.kind, change.value, today));
      p.value = change.value;
      if (!p.value.SerializeToString(&p.payload)) {
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
      return absl::InvalidArgumentError(absl::StrCat(
          "operation: unknown operation ", static_cast<int>(change.operation)));
  }
  if (change.reason.size() > 1024) {
    return absl::InvalidArgumentError("reason: more than 1024 bytes");
  }
  p.reason = change.reason;
  p.purpose = change.purpose == v1::PURPOSE_UNSPECIFIED
                  ? DefaultPurpose(change.kind)
                  : change.purpose;
  return p;
}

std::vector<absl::StatusOr<Appended>> Writer::AppendAll(
    absl::Span<const RecordChange> changes) {
  const absl::CivilDay today = absl::ToCivilDay(clock_->Now(), options_.time_zone);
  Ticket ticket;
  ticket.results.reserve(changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    absl::StatusOr<Prepared> p = Prepare(changes[i], today);
    if (!p.ok()) {
      ticket.results.emplace_back(p.status());
      continue;
    }
    ticket.results.emplace_back(absl::InternalError("not committed"));
    ticket.slots.push_back(i);
    ticket.changes.push_back(*std::move(p));
  }
  if (ticket.changes.empty()) return std::move(ticket.results);

  absl::MutexLock lock(&mu_);
  if (stopping_) {
    for (size_t slot : ticket.slots) {
      ticket.results[slot] = absl::UnavailableError("writer is shutting down");
    }
    return std::move(ticket.results);
  }
  queue_.push_back(&ticket);
  mu_.Await(absl::Condition(&ticket.done));
  return std::move(ticket.results);
}

absl::StatusOr<Appended> Writer::Append(const RecordChange& change) {
  std::vector<absl::StatusOr<Appended>> results = AppendAll({&change, 1});
  return std::move(results[0]);
}

void Writer::AppenderLoop() {
  for (;;) {
    std::vector<Ticket*> group;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return !w->queue_.empty() || w->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping, nothing left
      size_t n = 0;
      while (!queue_.empty() &&
             (group.empty() ||
              n + queue_.front()->changes.size() <= options_.max_group)) {
        n += queue_.front()->changes.size();
        group.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    CommitGroup(group);
  }
}

void Writer::CommitGroup(std::vector<Ticket*>& group) {
  uint64_t seq;
  absl::Status signer_error;
  {
    absl::MutexLock lock(&mu_);
    seq = last_seq_;
    signer_error = signer_error_;
  }
  if (!signer_error.ok()) {
    // The log failed verification before signing: writing more would extend
    // a history that cannot be signed.
    for (Ticket* t : group) {
      for (size_t slot : t->slots) t->results[slot] = signer_error;
    }
    absl::MutexLock lock(&mu_);
    for (Ticket* t : group) t->done = true;
    return;
  }
  const uint64_t first_seq = seq + 1;
  const merkle::Frontier frontier_before = frontier_;
  const std::map<std::string, uint64_t> counts_before = finding_counts_;

  Batch batch(*store_);
  // Later changes in the group must see earlier ones, which are not in the
  // store yet.
  std::map<std::string, std::optional<v1::RecordState>> records;
  std::map<std::string, Links> links_by_person;
  std::map<std::string, uint64_t> counters_touched;
  const int64_t now_micros = absl::ToUnixMicros(clock_->Now());

  auto append_one = [&](Prepared& c) -> absl::StatusOr<Appended> {
    const std::string record_key = RecordKey(c.person, c.kind, c.record_id);
    auto rit = records.find(record_key);
    if (rit == records.end()) {
      TB_ASSIGN_OR_RETURN(std::optional<v1::RecordState> stored,
                          store_->GetRecord(record_key));
      rit = records.emplace(record_key, std::move(stored)).first;
    }
    const std::optional<v1::RecordState>& state = rit->second;
    const std::string where = absl::StrCat(KindName(c.kind), " ", c.record_id,
                                           " of person ", ids::MaskId(c.person));
    if (state.has_value() && state->custodian() != options_.node) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, " is kept by node ", state->custodian(),
          "; ask it to change the record with an inquiry or a notice"));
    }
    if (c.operation == v1::OPERATION_RETRACT) {
      if (!state.has_value()) {
        return absl::NotFoundError(absl::StrCat("retract: no record ", where));
      }
      if (AllHeadsRetracted(*state)) {
        return absl::FailedPreconditionError(
            absl::StrCat("retract: ", where, " is already retracted"));
      }
    }
    auto lit = links_by_person.find(c.person);
    if (lit == links_by_person.end()) {
      TB_ASSIGN_OR_RETURN(Links stored, store_->GetLinks(c.person));
      lit = links_by_person.emplace(c.person, std::move(stored)).first;
    }
    Links& links = lit->second;

    ++seq;
    v1::EventBody body;
    body.set_origin(log_.origin);
    body.set_epoch(log_.epoch);
    body.set_seq(seq);
    const HlcStamp stamp = hlc_.Now();
    body.mutable_hlc()->set_physical_micros(stamp.physical_micros);
    body.mutable_hlc()->set_logical(stamp.logical);
    body.set_person(c.person);
    body.set_kind(c.kind);
    body.set_record_id(c.record_id);
    body.set_operation(c.operation);
    if (state.has_value()) {
      for (const v1::RecordState::Head& h : state->heads()) {
        *body.add_parents() = h.event();
      }
    }
    body.set_purpose(c.purpose);
    body.set_payload(c.payload);
    for (ids::IdFinding f : c.findings) {
      body.add_id_findings(static_cast<v1::IdFinding>(f));
    }
    body.set_reason(c.reason);

    const LinkEffect effect = DeriveLinks(body, c.value, links, now_micros);
    for (const auto& [node, link] : effect.changed) links[node] = link;
    std::vector<std::string> audience =
        DeriveAudience(options_.node, options_.national, links,
                       effect.counterparts, now_micros, options_.retention);
    for (const std::string& peer : audience) body.add_audience(peer);

    std::string bytes;
    if (!body.SerializeToString(&bytes)) {
      --seq;
      return absl::InternalError("event body did not serialize");
    }
    const crypto::Digest leaf = merkle::LeafHash(*append_hasher_, bytes);
    frontier_.Append(*append_hasher_, leaf,
                     [&](merkle::NodeId id, const crypto::Digest& d) {
                       batch.PutNode(log_, id, d);
                     });
    batch.PutEvent(log_, seq, bytes);

    v1::RecordState next;
    next.set_custodian(options_.node);
    v1::RecordState::Head* head = next.add_heads();
    head->mutable_event()->set_origin(log_.origin);
    head->mutable_event()->set_epoch(log_.epoch);
    head->mutable_event()->set_seq(seq);
    *head->mutable_hlc() = body.hlc();
    head->set_operation(c.operation);
    head->set_payload(c.payload);
    next.set_versions(state.has_value() ? state->versions() + 1 : 1);
    for (ids::IdFinding f : c.findings) {
      const auto pf = static_cast<v1::IdFinding>(f);
      next.add_id_findings(pf);
      const bool known =
          state.has_value() &&
          std::find(state->id_findings().begin(), state->id_findings().end(),
                    pf) != state->id_findings().end();
      if (!known) {
        const std::string name = FindingCounter(f);
        counters_touched[name] = ++finding_counts_[name];
      }
    }
    batch.PutRecord(record_key, next);
    rit->second = std::move(next);
    for (const auto& [node, link] : effect.changed) {
      batch.PutLink(c.person, node, link);
    }
    for (const std::string& peer : audience) batch.PutRoute(peer, log_, seq);

    Appended out;
    out.id.set_origin(log_.origin);
    out.id.set_epoch(log_.epoch);
    out.id.set_seq(seq);
    out.person = c.person;
    out.findings = c.findings;
    out.audience = std::move(audience);
    return out;
  };

  for (Ticket* t : group) {
    for (size_t i = 0; i < t->changes.size(); ++i) {
      t->results[t->slots[i]] = append_one(t->changes[i]);
    }
  }
  for (const auto& [name, value] : counters_touched) batch.PutCounter(name, value);

  absl::Status committed = absl::OkStatus();
  if (seq >= first_seq) committed = store_->Commit(batch, /*sync=*/true);
  if (!committed.ok()) {
    // Nothing of the group is stored: undo the in-memory state too.
    frontier_ = frontier_before;
    finding_counts_ = counts_before;
    seq = first_seq - 1;
    for (Ticket* t : group) {
      for (size_t slot : t->slots) {
        if (t->results[slot].ok()) t->results[slot] = committed;
      }
    }
  }
  absl::MutexLock lock(&mu_);
  last_seq_ = seq;
  if (committed.ok() && seq >= first_seq) ++commits_;
  for (Ticket* t : group) t->done = true;
}

void Writer::SignerLoop() {
  for (;;) {
    uint64_t target;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->last_seq_ > w->signed_size_ || w->stopping_;
          },
          this));
      if (last_seq_ <= signed_size_) return;  // stopping and fully signed
      target = std::min<uint64_t>(
          last_seq_, signed_size_ + options_.max_events_per_checkpoint);
    }
    const absl::Status s = SignUpTo(target);
    if (!s.ok()) {
      TB_LOG(ERROR) << "checkpoint signing stopped origin=" << log_.origin
                    << " tree_size=" << target << ": " << s;
      absl::MutexLock lock(&mu_);
      signer_error_ = s;
      return;
    }
  }
}

absl::Status Writer::SignUpTo(uint64_t target) {
  merkle::Frontier next = signed_frontier_;
  uint64_t expect = next.size() + 1;
  TB_RETURN_IF_ERROR(store_->ScanEvents(
      log_, expect, target, [&](uint64_t seq, absl::string_view body) {
        if (seq != expect) {
          return absl::DataLossError(absl::StrCat("log has a gap at seq ", expect));
        }
        next.Append(*sign_hasher_, merkle::LeafHash(*sign_hasher_, body),
                    [](merkle::NodeId, const crypto::Digest&) {});
        ++expect;
        return absl::OkStatus();
      }));
  if (expect != target + 1) {
    return absl::DataLossError(absl::StrCat("log has a gap at seq ", expect));
  }
  const crypto::Digest root = next.Root(*sign_hasher_);
  TB_ASSIGN_OR_RETURN(const crypto::Digest stored_root,
                      merkle::RangeHash(*sign_hasher_, 0, target,
                                        store_->NodeReaderFor(log_)));
  if (root != stored_root) {
    return absl::DataLossError(absl::StrCat(
        "root recomputed from the stored leaves differs from the stored tree "
        "at size ", target, "; refusing to sign"));
  }
  merkle::Checkpoint cp;
  cp.suite = suite_.id();
  cp.origin = log_.origin;
  cp.epoch = log_.epoch;
  cp.tree_size = target;
  cp.root = root;
  cp.time_micros = absl::ToUnixMicros(clock_->Now());
  cp.key_id = key_->public_key().KeyId();
  TB_ASSIGN_OR_RETURN(merkle::SignedCheckpoint signed_cp,
                      merkle::SignCheckpoint(cp, *signer_));
  v1::SignedCheckpoint msg;
  msg.set_body(signed_cp.body);
  msg.set_signature(signed_cp.signature);
  Batch batch(*store_);
  batch.PutCheckpoint(log_, target, msg);
  TB_RETURN_IF_ERROR(store_->Commit(batch, /*sync=*/true));
  signed_frontier_ = std::move(next);
  absl::MutexLock lock(&mu_);
  signed_size_ = target;
  ++checkpoints_;
  return absl::OkStatus();
}

absl::Status Writer::WaitForCheckpoint(uint64_t seq, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  struct Args {
    Writer* w;
    uint64_t seq;
  } args{this, seq};
  const bool met = mu_.AwaitWithTimeout(
      absl::Condition(
          +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return a->w->signed_size_ >= a->seq || !a->w->signer_error_.ok();
          },
          &args),
      timeout);
  if (!signer_error_.ok()) return signer_error_;
  if (!met) {
    return absl::DeadlineExceededError(absl::StrCat(
        "no checkpoint covers seq ", seq, " yet (signed size ", signed_size_, ")"));
  }
  return absl::OkStatus();
}

WriterStats Writer::stats() const {
  absl::MutexLock lock(&mu_);
  return WriterStats{last_seq_, signed_size_, commits_, checkpoints_};
}

}  // namespace tongban::storage
