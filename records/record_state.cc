#include "records/record_state.h"

#include <algorithm>
#include <tuple>

namespace tongban::records {
namespace {

bool SameEvent(const v1::EventId& a, const v1::EventId& b) {
  return a.origin() == b.origin() && a.epoch() == b.epoch() && a.seq() == b.seq();
}

}  // namespace

HeadStamp StampOf(const v1::RecordState::Head& head) {
  return HeadStamp{head.hlc().physical_micros(), head.hlc().logical(), head.event().origin(),
                   head.event().epoch(), head.event().seq()};
}

HeadStamp StampOf(const v1::EventBody& event) {
  return HeadStamp{event.hlc().physical_micros(), event.hlc().logical(), event.origin(),
                   event.epoch(), event.seq()};
}

bool StandsOver(const HeadStamp& a, const HeadStamp& b) {
  return std::tie(a.physical_micros, a.logical, a.origin, a.epoch, a.seq) >
         std::tie(b.physical_micros, b.logical, b.origin, b.epoch, b.seq);
}

const v1::RecordState::Head* StandingHead(const v1::RecordState& state) {
  const v1::RecordState::Head* best = nullptr;
  for (const v1::RecordState::Head& h : state.heads()) {
    if (best == nullptr || StandsOver(StampOf(h), StampOf(*best))) best = &h;
  }
  return best;
}

Current CurrentOf(const v1::RecordState& state) {
  Current c;
  c.head = StandingHead(state);
  c.retracted = c.head != nullptr && c.head->operation() == v1::OPERATION_RETRACT;
  c.conflict = state.heads_size() > 1;
  return c;
}

absl::StatusOr<std::optional<v1::RecordValue>> CurrentValue(const v1::RecordState& state) {
  const Current c = CurrentOf(state);
  if (c.head == nullptr || c.retracted) return std::nullopt;
  v1::RecordValue value;
  if (!value.ParseFromString(c.head->payload())) {
    return absl::DataLossError("a stored record value does not parse");
  }
  return value;
}

const v1::EventBody* NewestUpsert(absl::Span<const v1::EventBody> events) {
  const v1::EventBody* best = nullptr;
  for (const v1::EventBody& e : events) {
    if (e.operation() != v1::OPERATION_UPSERT) continue;
    if (best == nullptr || StandsOver(StampOf(e), StampOf(*best))) best = &e;
  }
  return best;
}

bool CustodyAllows(const v1::RecordState* state, absl::string_view writer) {
  return state == nullptr || state->custodian() == writer;
}

v1::RecordState NextRecordState(const v1::RecordState* state, const v1::EventBody& event) {
  v1::RecordState next;
  next.set_custodian(event.origin());
  if (state != nullptr) {
    for (const v1::RecordState::Head& h : state->heads()) {
      const bool superseded =
          std::any_of(event.parents().begin(), event.parents().end(),
                      [&](const v1::EventId& parent) { return SameEvent(parent, h.event()); });
      if (!superseded) *next.add_heads() = h;
    }
  }
  v1::RecordState::Head* head = next.add_heads();
  head->mutable_event()->set_origin(event.origin());
  head->mutable_event()->set_epoch(event.epoch());
  head->mutable_event()->set_seq(event.seq());
  *head->mutable_hlc() = event.hlc();
  head->set_operation(event.operation());
  head->set_payload(event.payload());
  if (event.operation() == v1::OPERATION_RETRACT) {
    if (state != nullptr) *next.mutable_id_findings() = state->id_findings();
  } else {
    for (int f : event.id_findings()) next.add_id_findings(static_cast<v1::IdFinding>(f));
  }
  next.set_versions(state != nullptr ? state->versions() + 1 : 1);
  if (state != nullptr) *next.mutable_history() = state->history();
  *next.add_history() = head->event();
  return next;
}

}  // namespace tongban::records
