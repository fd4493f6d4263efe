#include "workflows/deadlines.h"

#include <map>
#include <optional>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/ids/citizen_id.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "storage/keys.h"
#include "workflows/stats.h"

namespace tongban::workflows {
namespace {

const absl::TimeZone& ChinaStandardTime() {
  static const absl::TimeZone* tz = new absl::TimeZone(absl::FixedTimeZone(8 * 3600));
  return *tz;
}

absl::CivilDay DayOfMicros(int64_t micros) {
  return absl::ToCivilDay(absl::FromUnixMicros(micros), ChinaStandardTime());
}

bool HasDate(const v1::Date& d) { return d.year() != 0; }

uint32_t InquiryDays(const records::DeadlineRules& rules, v1::InquiryType type) {
  switch (type) {
    case v1::INQUIRY_TYPE_URGENT: return rules.urgent_days;
    case v1::INQUIRY_TYPE_CERTIFICATE_MISMATCH: return rules.certificate_mismatch_days;
    default: return rules.normal_days;
  }
}

v1::Date InquiryDue(const records::Deadlines& deadlines, const v1::Inquiry& q) {
  if (HasDate(q.due_on())) return q.due_on();
  return records::ToDate(DayOfMicros(q.sent_at_micros()) +
                         InquiryDays(deadlines.For(q.to_county()), q.type()));
}

v1::Date NoticeDue(const records::Deadlines& deadlines, const v1::Notice& n) {
  if (HasDate(n.due_on())) return n.due_on();
  return records::ToDate(DayOfMicros(n.sent_at_micros()) +
                         deadlines.For(n.to_county()).notice_days);
}

std::string Shown(const v1::Date& d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

// The service's period: the period field, or its day when none is given.
std::string ServicePeriod(const v1::ServiceRecord& s) {
  return s.period().empty() ? Shown(s.delivered_on()) : s.period();
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
const char* OpenState(const std::string& from, const std::string& to, const std::string& self) {
  return from == self ? "sent" : to == self ? "received" : "open";
}

}  // namespace

bool IsWorkflowKind(v1::RecordKind kind) {
  return kind == v1::RECORD_KIND_INQUIRY || kind == v1::RECORD_KIND_INQUIRY_REPLY ||
         kind == v1::RECORD_KIND_NOTICE || kind == v1::RECORD_KIND_RECEIPT;
}

absl::Time EndOfDay(const v1::Date& d) {
  return absl::FromCivil(absl::CivilDay(d.year(), d.month(), d.day()) + 1, ChinaStandardTime());
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
      if (was != nullptr && was->to_county() == n->to_county() && HasDate(was->due_on())) {
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

absl::StatusOr<std::optional<v1::RecordValue>> NewestValue(const storage::Store& store,
                                                           const std::string& record_key,
                                                           bool* retracted) {
  TB_ASSIGN_OR_RETURN(std::optional<v1::RecordState> state, store.GetRecord(record_key));
  if (retracted != nullptr) *retracted = false;
  if (!state.has_value()) return std::nullopt;
  return NewestValueOf(store, *state, retracted);
}

absl::StatusOr<std::optional<v1::RecordValue>> NewestValueOf(const storage::Store& store,
                                                             const v1::RecordState& state,
                                                             bool* retracted) {
  if (retracted != nullptr) *retracted = false;
  if (state.heads().empty()) return std::nullopt;
  const v1::RecordState::Head& head = state.heads(state.heads_size() - 1);
  v1::RecordValue value;
  if (head.operation() == v1::OPERATION_UPSERT) {
    if (!value.ParseFromString(head.payload())) {
      return absl::DataLossError("a stored record value does not parse");
    }
    return value;
  }
  if (retracted != nullptr) *retracted = true;
  // A retraction carries no value: the newest upsert is in the history.
  for (int i = state.history_size() - 1; i >= 0; --i) {
    const v1::EventId& id = state.history(i);
    TB_ASSIGN_OR_RETURN(std::string bytes,
                        store.GetEvent(storage::LogId{id.origin(), id.epoch()}, id.seq()));
    v1::EventBody body;
    if (!body.ParseFromString(bytes)) return absl::DataLossError("a stored event does not parse");
    if (body.operation() != v1::OPERATION_UPSERT) continue;
    if (!value.ParseFromString(body.payload())) {
      return absl::DataLossError("a stored record value does not parse");
    }
    return value;
  }
  return std::nullopt;
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
        for (const v1::RecordState::Head& head : state.heads()) {
          v1::RecordValue other;
          if (head.operation() != v1::OPERATION_UPSERT || !other.ParseFromString(head.payload())) {
            continue;
          }
          const v1::ServiceRecord& o = other.service();
          if (o.type() != s.type() || ServicePeriod(o) != ServicePeriod(s) ||
              o.beneficiary_citizen_id() != s.beneficiary_citizen_id() ||
              o.entitlement_record_id() != s.entitlement_record_id()) {
            continue;
          }
          return absl::AlreadyExistsError(absl::StrCat(
              "flagged: service ", v1::ServiceType_Name(s.type()), " for period ", ServicePeriod(s),
              " is already recorded for person ", ids::MaskId(person), " (record ", key.second,
              " by county ", state.custodian(), ", delivered ", Shown(o.delivered_on()),
              "); if this is another service, write it again confirming the duplicate "
              "(tongbanctl: --confirm-duplicate)"));
        }
      }
      return absl::OkStatus();
    }
    default: return absl::OkStatus();
  }
}

bool DueSoon(const std::string& state, const v1::Date& due_on, absl::Time now,
             absl::Duration within) {
  const bool open =
      state == "sent" || state == "received" || state == "open" || state == "awaiting feedback";
  return open && EndOfDay(due_on) - now <= within;
}

absl::StatusOr<Tracked> TrackDeadlines(const storage::Store& store, const std::string& self,
                                       bool national, const records::Deadlines& deadlines,
                                       absl::Time now) {
  // (county of the original, its record id, person) -> answer times.
  using Ref = std::tuple<std::string, std::string, std::string>;
  std::map<Ref, int64_t> replies;                       // reply time
  std::map<Ref, std::pair<int64_t, int64_t>> receipts;  // receipt, feedback time
  struct Original {
    std::string person, record_id, custodian;
    v1::RecordKind kind;
    v1::RecordValue value;
    bool retracted = false;
  };
  std::vector<Original> originals;
  absl::Status failed;
  TB_RETURN_IF_ERROR(store.ScanFrom(
      storage::Cf::kRecords, "", "", false, [&](absl::string_view key, absl::string_view bytes) {
        if (key.size() <= storage::kPersonSize) return true;
        const auto kind =
            static_cast<v1::RecordKind>(static_cast<unsigned char>(key[storage::kPersonSize]));
        if (!IsWorkflowKind(kind)) return true;
        v1::RecordState state;
        if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
            state.heads().empty()) {
          failed = absl::DataLossError("a stored record state does not parse");
          return false;
        }
        const std::string person(key.substr(0, storage::kPersonSize));
        const v1::RecordState::Head& head = state.heads(state.heads_size() - 1);
        v1::RecordValue value;
        const bool retracted = head.operation() == v1::OPERATION_RETRACT;
        if (!retracted && !value.ParseFromString(head.payload())) {
          failed = absl::DataLossError("a stored record value does not parse");
          return false;
        }
        if (kind == v1::RECORD_KIND_INQUIRY_REPLY) {
          if (retracted) return true;
          const v1::InquiryReply& r = value.inquiry_reply();
          replies[{r.inquiry_county(), r.inquiry_record_id(), person}] = r.replied_at_micros();
          return true;
        }
        if (kind == v1::RECORD_KIND_RECEIPT) {
          if (retracted) return true;
          const v1::Receipt& r = value.receipt();
          // Feedback written without its own time counts from the receipt.
          const int64_t feedback_at = r.feedback_at_micros() != 0 ? r.feedback_at_micros()
                                      : r.feedback().empty()      ? 0
                                                                  : r.received_at_micros();
          receipts[{r.notice_county(), r.notice_record_id(), person}] = {r.received_at_micros(),
                                                                         feedback_at};
          return true;
        }
        Original o{person,
                   std::string(key.substr(storage::kPersonSize + 1)),
                   state.custodian(),
                   kind,
                   std::move(value),
                   retracted};
        if (retracted) {
          // The state in hand; only the history's events are read.
          absl::StatusOr<std::optional<v1::RecordValue>> newest = NewestValueOf(store, state);
          if (!newest.ok()) {
            failed = newest.status();
            return false;
          }
          if (newest->has_value()) o.value = **newest;
        }
        originals.push_back(std::move(o));
        return true;
      }));
  TB_RETURN_IF_ERROR(failed);

  Tracked out;
  for (const Original& o : originals) {
    const Ref ref{o.custodian, o.record_id, o.person};
    if (o.kind == v1::RECORD_KIND_INQUIRY) {
      const v1::Inquiry& q = o.value.inquiry();
      if (!national && o.custodian != self && q.to_county() != self) continue;
      const v1::Date due = InquiryDue(deadlines, q);
      const absl::Time deadline = EndOfDay(due);
      auto replied = replies.find(ref);
      v1::InquiryItem item;
      item.set_person(o.person);
      item.set_record_id(o.record_id);
      item.set_from_county(o.custodian);
      item.set_to_county(q.to_county());
      item.set_type(q.type());
      item.set_sent_at_micros(q.sent_at_micros());
      *item.mutable_due_on() = due;
      if (o.retracted) {
        item.set_state("withdrawn");
      } else if (replied != replies.end()) {
        item.set_replied_at_micros(replied->second);
        item.set_state(absl::FromUnixMicros(replied->second) <= deadline ? "answered"
                                                                         : "answered late");
      } else if (now > deadline) {
        item.set_state("overdue");
      } else {
        item.set_state(OpenState(o.custodian, q.to_county(), self));
      }
      out.inquiries.push_back(std::move(item));
      continue;
    }
    const v1::Notice& n = o.value.notice();
    if (!n.needs_receipt() && !n.needs_feedback()) continue;
    if (!national && o.custodian != self && n.to_county() != self) continue;
    const v1::Date due = NoticeDue(deadlines, n);
    const absl::Time deadline = EndOfDay(due);
    v1::NoticeItem item;
    item.set_person(o.person);
    item.set_record_id(o.record_id);
    item.set_from_county(o.custodian);
    item.set_to_county(n.to_county());
    item.set_needs_receipt(n.needs_receipt());
    item.set_needs_feedback(n.needs_feedback());
    item.set_sent_at_micros(n.sent_at_micros());
    *item.mutable_due_on() = due;
    auto receipt = receipts.find(ref);
    if (receipt != receipts.end()) {
      item.set_received_at_micros(receipt->second.first);
      item.set_feedback_at_micros(receipt->second.second);
    }
    const int64_t complete =
        n.needs_feedback() ? item.feedback_at_micros() : item.received_at_micros();
    if (o.retracted) {
      item.set_state("withdrawn");
    } else if (complete != 0) {
      item.set_state(absl::FromUnixMicros(complete) <= deadline ? "acknowledged"
                                                                : "acknowledged late");
    } else if (now > deadline) {
      item.set_state("overdue");
    } else if (item.received_at_micros() != 0) {
      item.set_state("awaiting feedback");
    } else {
      item.set_state(OpenState(o.custodian, n.to_county(), self));
    }
    out.notices.push_back(std::move(item));
  }
  return out;
}

}  // namespace tongban::workflows
