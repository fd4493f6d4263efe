#include "workflows/deadlines.h"

#include <map>
#include <optional>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/ids/citizen_id.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "records/record_state.h"
#include "records/workflow_state.h"
#include "storage/keys.h"
#include "workflows/stats.h"

namespace tongban::workflows {
namespace {

using records::WorkflowState;

v1::Date InquiryDue(const records::Deadlines& deadlines, const v1::Inquiry& q) {
  if (records::HasDate(q.due_on())) return q.due_on();
  return records::ToDate(records::ChinaDayOfMicros(q.sent_at_micros()) +
                         deadlines.For(q.to_county()).InquiryDays(q.type()));
}

v1::Date NoticeDue(const records::Deadlines& deadlines, const v1::Notice& n) {
  if (records::HasDate(n.due_on())) return n.due_on();
  return records::ToDate(records::ChinaDayOfMicros(n.sent_at_micros()) +
                         deadlines.For(n.to_county()).notice_days);
}

// The service's period: the period field, or its day when none is given.
std::string ServicePeriod(const v1::ServiceRecord& s) {
  return s.period().empty() ? records::DateText(s.delivered_on()) : s.period();
}

// The record `key` names must exist, be kept by `custodian`, be addressed
// to `self` and not be withdrawn; returns its value.
absl::StatusOr<v1::RecordValue> Addressed(const storage::Store& store, const std::string& self,
                                          const std::string& person, v1::RecordKind kind,
                                          const std::string& record_id,
                                          const std::string& custodian, absl::string_view what) {
  const std::string key = storage::RecordKey(person, kind, record_id);
  TB_ASSIGN_OR_RETURN(std::optional<v1::RecordState> state, store.GetRecord(key));
  const std::string named = absl::StrCat(what, " ", record_id, " of person ", ids::MaskId(person));
  if (!state.has_value() || state->custodian() != custodian) {
    return absl::NotFoundError(
        absl::StrCat("no ", named, " from county ", custodian, " is held here"));
  }
  bool retracted = false;
  TB_ASSIGN_OR_RETURN(std::optional<v1::RecordValue> value, NewestValue(store, key, &retracted));
  if (retracted || !value.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(named, " was withdrawn by county ", custodian));
  }
  const std::string& to =
      kind == v1::RECORD_KIND_INQUIRY ? value->inquiry().to_county() : value->notice().to_county();
  if (to != self) {
    return absl::FailedPreconditionError(
        absl::StrCat(named, " was sent to county ", to, ", not to this node"));
  }
  return *std::move(value);
}

// An open item as `self` sees it: sent by it, sent to it, or (the national
// node watching two counties) open between others.
WorkflowState OpenState(const std::string& from, const std::string& to, const std::string& self) {
  return from == self ? WorkflowState::kSent
         : to == self ? WorkflowState::kReceived
                      : WorkflowState::kOpen;
}

}  // namespace

bool IsWorkflowKind(v1::RecordKind kind) {
  return kind == v1::RECORD_KIND_INQUIRY || kind == v1::RECORD_KIND_INQUIRY_REPLY ||
         kind == v1::RECORD_KIND_NOTICE || kind == v1::RECORD_KIND_RECEIPT;
}

void StampWorkflowTimes(const records::Deadlines& deadlines, absl::Time now,
                        const v1::RecordValue* current, v1::WriteRequest* request) {
  if (request->operation() == v1::OPERATION_RETRACT) return;
  const int64_t now_micros = absl::ToUnixMicros(now);
  v1::RecordValue* v = request->mutable_value();
  switch (request->kind()) {
    case v1::RECORD_KIND_INQUIRY: {
      v1::Inquiry* q = v->mutable_inquiry();
      const v1::Inquiry* was =
          current != nullptr && current->has_inquiry() ? &current->inquiry() : nullptr;
      q->set_sent_at_micros(was != nullptr ? was->sent_at_micros() : now_micros);
      q->clear_due_on();
      if (was != nullptr && was->type() == q->type() && was->to_county() == q->to_county()) {
        *q->mutable_due_on() = InquiryDue(deadlines, *was);
      } else {
        *q->mutable_due_on() = InquiryDue(deadlines, *q);
      }
      return;
    }
    case v1::RECORD_KIND_INQUIRY_REPLY: {
      v1::InquiryReply* r = v->mutable_inquiry_reply();
      const bool had = current != nullptr && current->has_inquiry_reply();
      r->set_replied_at_micros(had ? current->inquiry_reply().replied_at_micros() : now_micros);
      return;
    }
    case v1::RECORD_KIND_NOTICE: {
      v1::Notice* n = v->mutable_notice();
      const v1::Notice* was =
          current != nullptr && current->has_notice() ? &current->notice() : nullptr;
      n->set_sent_at_micros(was != nullptr ? was->sent_at_micros() : now_micros);
      n->clear_due_on();
      if (!n->needs_receipt() && !n->needs_feedback()) return;
      if (was != nullptr && was->to_county() == n->to_county() && records::HasDate(was->due_on())) {
        *n->mutable_due_on() = was->due_on();
      } else {
        *n->mutable_due_on() = NoticeDue(deadlines, *n);
      }
      return;
    }
    case v1::RECORD_KIND_RECEIPT: {
      v1::Receipt* r = v->mutable_receipt();
      const v1::Receipt* was =
          current != nullptr && current->has_receipt() ? &current->receipt() : nullptr;
      r->set_received_at_micros(was != nullptr ? was->received_at_micros() : now_micros);
      if (was != nullptr && was->feedback_at_micros() != 0) {
        r->set_feedback_at_micros(was->feedback_at_micros());
      } else {
        r->set_feedback_at_micros(r->feedback().empty() ? 0 : now_micros);
      }
      return;
    }
    default: return;
  }
}

absl::Status CheckWorkflowWrite(const storage::Store& store, const std::string& self,
                                const std::string& person, const v1::WriteRequest& request) {
  if (request.operation() == v1::OPERATION_RETRACT) return absl::OkStatus();
  const v1::RecordValue& v = request.value();
  switch (request.kind()) {
    case v1::RECORD_KIND_INQUIRY_REPLY:
      return Addressed(store, self, person, v1::RECORD_KIND_INQUIRY,
                       v.inquiry_reply().inquiry_record_id(), v.inquiry_reply().inquiry_county(),
                       "inquiry")
          .status();
    case v1::RECORD_KIND_RECEIPT: {
      TB_ASSIGN_OR_RETURN(
          v1::RecordValue notice,
          Addressed(store, self, person, v1::RECORD_KIND_NOTICE, v.receipt().notice_record_id(),
                    v.receipt().notice_county(), "notice"));
      if (!notice.notice().needs_receipt() && !notice.notice().needs_feedback()) {
        return absl::FailedPreconditionError(absl::StrCat("notice ", v.receipt().notice_record_id(),
                                                          " asks for no receipt or feedback"));
      }
      return absl::OkStatus();
    }
    case v1::RECORD_KIND_SERVICE: {
      const v1::ServiceRecord& s = v.service();
      // (Without an entitlement named, validation refuses it as bad input.)
      if (s.type() == v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY && !s.entitlement_record_id().empty()) {
        // The residence helps deliver what the origin set: it must hold it.
        bool retracted = false;
        TB_ASSIGN_OR_RETURN(std::optional<v1::RecordValue> entitlement,
                            NewestValue(store,
                                        storage::RecordKey(person, v1::RECORD_KIND_ENTITLEMENT,
                                                           s.entitlement_record_id()),
                                        &retracted));
        const std::string named = absl::StrCat("entitlement ", s.entitlement_record_id(),
                                               " of person ", ids::MaskId(person));
        if (!entitlement.has_value()) {
          return absl::NotFoundError(absl::StrCat("no ", named, " is held here"));
        }
        if (retracted) {
          return absl::FailedPreconditionError(absl::StrCat(named, " was withdrawn"));
        }
      }
      if (request.confirm_duplicate()) return absl::OkStatus();
      TB_ASSIGN_OR_RETURN(auto records, store.ListRecords(person));
      for (const auto& [key, state] : records) {
        if (key.first != v1::RECORD_KIND_SERVICE || key.second == request.record_id()) continue;
        // Services recorded and not retracted: their current value.
        absl::StatusOr<std::optional<v1::RecordValue>> other = records::CurrentValue(state);
        if (!other.ok() || !other->has_value()) continue;
        const v1::ServiceRecord& o = (*other)->service();
        if (o.type() != s.type() || ServicePeriod(o) != ServicePeriod(s) ||
            o.beneficiary_citizen_id() != s.beneficiary_citizen_id() ||
            o.entitlement_record_id() != s.entitlement_record_id()) {
          continue;
        }
        return absl::AlreadyExistsError(absl::StrCat(
            "flagged: service ", v1::ServiceType_Name(s.type()), " for period ", ServicePeriod(s),
            " is already recorded for person ", ids::MaskId(person), " (record ", key.second,
            " by county ", state.custodian(), ", delivered ", records::DateText(o.delivered_on()),
            "); if this is another service, write it again confirming the duplicate "
            "(tongbanctl: --confirm-duplicate)"));
      }
      return absl::OkStatus();
    }
    default: return absl::OkStatus();
  }
}

bool DueSoon(WorkflowState state, const v1::Date& due_on, absl::Time now, absl::Duration within) {
  return records::IsOpen(state) && records::EndOfDay(due_on) - now <= within;
}

bool DueSoon(absl::string_view state, const v1::Date& due_on, absl::Time now,
             absl::Duration within) {
  const std::optional<WorkflowState> s = records::ParseWorkflowState(state);
  return s.has_value() && DueSoon(*s, due_on, now, within);
}

namespace {

// (county of the original, its record id, person) -> answer times.
using Ref = std::tuple<std::string, std::string, std::string>;

// What the scan of the records finds: every inquiry and notice with its
// current value, and the answers to them.
struct Scanned {
  std::map<Ref, int64_t> replies;                       // reply time
  std::map<Ref, std::pair<int64_t, int64_t>> receipts;  // receipt, feedback time
  struct Original {
    std::string person, record_id, custodian;
    v1::RecordKind kind;
    v1::RecordValue value;  // a withdrawn one's value before the retraction
    bool retracted = false;
  };
  std::vector<Original> originals;
};

// Takes one record of the scan into `out`: its current value (the standing
// head's, records/record_state.h), as every node holding it takes it.
absl::Status ScanRecord(const storage::Store& store, absl::string_view key, absl::string_view bytes,
                        Scanned* out) {
  storage::RecordKeyParts parts;
  if (!storage::DecodeRecordKey(key, &parts)) return absl::OkStatus();
  const auto kind = static_cast<v1::RecordKind>(parts.kind);
  if (!IsWorkflowKind(kind)) return absl::OkStatus();
  v1::RecordState state;
  if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      state.heads().empty()) {
    return absl::DataLossError("a stored record state does not parse");
  }
  const std::string person(parts.person);
  const records::Current current = records::CurrentOf(state);
  if (kind == v1::RECORD_KIND_INQUIRY_REPLY || kind == v1::RECORD_KIND_RECEIPT) {
    if (current.retracted) return absl::OkStatus();
    TB_ASSIGN_OR_RETURN(std::optional<v1::RecordValue> value, records::CurrentValue(state));
    if (kind == v1::RECORD_KIND_INQUIRY_REPLY) {
      const v1::InquiryReply& r = value->inquiry_reply();
      out->replies[{r.inquiry_county(), r.inquiry_record_id(), person}] = r.replied_at_micros();
      return absl::OkStatus();
    }
    const v1::Receipt& r = value->receipt();
    // Feedback written without its own time counts from the receipt.
    const int64_t feedback_at = r.feedback_at_micros() != 0 ? r.feedback_at_micros()
                                : r.feedback().empty()      ? 0
                                                            : r.received_at_micros();
    out->receipts[{r.notice_county(), r.notice_record_id(), person}] = {r.received_at_micros(),
                                                                        feedback_at};
    return absl::OkStatus();
  }
  // The state in hand; a withdrawn item's history is read for its value.
  TB_ASSIGN_OR_RETURN(std::optional<v1::RecordValue> value, NewestValueOf(store, state));
  out->originals.push_back({person, std::string(parts.record_id), state.custodian(), kind,
                            value.has_value() ? *std::move(value) : v1::RecordValue(),
                            current.retracted});
  return absl::OkStatus();
}

// The state of an inquiry: withdrawn, answered (late), overdue, or open.
WorkflowState InquiryState(bool retracted, const int64_t* replied_at, absl::Time deadline,
                           absl::Time now, WorkflowState open) {
  if (retracted) return WorkflowState::kWithdrawn;
  if (replied_at != nullptr) {
    return absl::FromUnixMicros(*replied_at) <= deadline ? WorkflowState::kAnswered
                                                         : WorkflowState::kAnsweredLate;
  }
  return now > deadline ? WorkflowState::kOverdue : open;
}

// The state of a notice that needs a receipt or feedback: withdrawn,
// acknowledged (late), overdue, awaiting feedback, or open.
WorkflowState NoticeState(bool retracted, int64_t complete_at, int64_t received_at,
                          absl::Time deadline, absl::Time now, WorkflowState open) {
  if (retracted) return WorkflowState::kWithdrawn;
  if (complete_at != 0) {
    return absl::FromUnixMicros(complete_at) <= deadline ? WorkflowState::kAcknowledged
                                                         : WorkflowState::kAcknowledgedLate;
  }
  if (now > deadline) return WorkflowState::kOverdue;
  return received_at != 0 ? WorkflowState::kAwaitingFeedback : open;
}

v1::InquiryItem InquiryItemOf(const Scanned& scanned, const Scanned::Original& o,
                              const std::string& self, const records::Deadlines& deadlines,
                              absl::Time now) {
  const v1::Inquiry& q = o.value.inquiry();
  const v1::Date due = InquiryDue(deadlines, q);
  v1::InquiryItem item;
  item.set_person(o.person);
  item.set_record_id(o.record_id);
  item.set_from_county(o.custodian);
  item.set_to_county(q.to_county());
  item.set_type(q.type());
  item.set_sent_at_micros(q.sent_at_micros());
  *item.mutable_due_on() = due;
  auto replied = scanned.replies.find({o.custodian, o.record_id, o.person});
  const int64_t* replied_at = nullptr;
  if (!o.retracted && replied != scanned.replies.end()) {
    replied_at = &replied->second;
    item.set_replied_at_micros(*replied_at);
  }
  item.set_state(
      records::StateToken(InquiryState(o.retracted, replied_at, records::EndOfDay(due), now,
                                       OpenState(o.custodian, q.to_county(), self))));
  return item;
}

v1::NoticeItem NoticeItemOf(const Scanned& scanned, const Scanned::Original& o,
                            const std::string& self, const records::Deadlines& deadlines,
                            absl::Time now) {
  const v1::Notice& n = o.value.notice();
  const v1::Date due = NoticeDue(deadlines, n);
  v1::NoticeItem item;
  item.set_person(o.person);
  item.set_record_id(o.record_id);
  item.set_from_county(o.custodian);
  item.set_to_county(n.to_county());
  item.set_needs_receipt(n.needs_receipt());
  item.set_needs_feedback(n.needs_feedback());
  item.set_sent_at_micros(n.sent_at_micros());
  *item.mutable_due_on() = due;
  auto receipt = scanned.receipts.find({o.custodian, o.record_id, o.person});
  if (receipt != scanned.receipts.end()) {
    item.set_received_at_micros(receipt->second.first);
    item.set_feedback_at_micros(receipt->second.second);
  }
  const int64_t complete =
      n.needs_feedback() ? item.feedback_at_micros() : item.received_at_micros();
  item.set_state(records::StateToken(NoticeState(o.retracted, complete, item.received_at_micros(),
                                                 records::EndOfDay(due), now,
                                                 OpenState(o.custodian, n.to_county(), self))));
  return item;
}

}  // namespace

absl::StatusOr<Tracked> TrackDeadlines(const storage::Store& store, const std::string& self,
                                       bool national, const records::Deadlines& deadlines,
                                       absl::Time now) {
  Scanned scanned;
  absl::Status failed;
  TB_RETURN_IF_ERROR(store.ScanFrom(storage::Cf::kRecords, "", "", false,
                                    [&](absl::string_view key, absl::string_view bytes) {
                                      failed = ScanRecord(store, key, bytes, &scanned);
                                      return failed.ok();
                                    }));
  TB_RETURN_IF_ERROR(failed);

  Tracked out;
  for (const Scanned::Original& o : scanned.originals) {
    if (o.kind == v1::RECORD_KIND_INQUIRY) {
      const v1::Inquiry& q = o.value.inquiry();
      if (!national && o.custodian != self && q.to_county() != self) continue;
      out.inquiries.push_back(InquiryItemOf(scanned, o, self, deadlines, now));
      continue;
    }
    const v1::Notice& n = o.value.notice();
    if (!n.needs_receipt() && !n.needs_feedback()) continue;
    if (!national && o.custodian != self && n.to_county() != self) continue;
    out.notices.push_back(NoticeItemOf(scanned, o, self, deadlines, now));
  }
  return out;
}

}  // namespace tongban::workflows
