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

bool MaySupersede(const v1::RecordState& state, const v1::EventBody& event) {
  const v1::RecordState::Head* standing = StandingHead(state);
  return standing != nullptr && !StandsOver(StampOf(event), StampOf(*standing));
}

bool NamesAsParent(absl::Span<const v1::EventBody> events, const v1::EventBody& event) {
  return std::any_of(events.begin(), events.end(), [&](const v1::EventBody& e) {
    return std::any_of(e.parents().begin(), e.parents().end(), [&](const v1::EventId& parent) {
      return parent.origin() == event.origin() && parent.epoch() == event.epoch() &&
             parent.seq() == event.seq();
    });
  });
}

v1::RecordState NextRecordState(const v1::RecordState* state, const v1::EventBody& event,
                                bool superseded) {
  v1::RecordState next;
  next.set_custodian(event.origin());
  if (state != nullptr) {
    for (const v1::RecordState::Head& h : state->heads()) {
      const bool named =
          std::any_of(event.parents().begin(), event.parents().end(),
                      [&](const v1::EventId& parent) { return SameEvent(parent, h.event()); });
      if (!named) *next.add_heads() = h;
    }
  }
  v1::EventId id;
  id.set_origin(event.origin());
  id.set_epoch(event.epoch());
  id.set_seq(event.seq());
  if (superseded || event.operation() == v1::OPERATION_RETRACT) {
    // The findings stay those of the version that stands (a retraction
    // withdraws the value, not what was found about the person's ID).
    if (state != nullptr) *next.mutable_id_findings() = state->id_findings();
  } else {
    for (int f : event.id_findings()) next.add_id_findings(static_cast<v1::IdFinding>(f));
  }
  if (!superseded) {
    v1::RecordState::Head* head = next.add_heads();
    *head->mutable_event() = id;
    *head->mutable_hlc() = event.hlc();
    head->set_operation(event.operation());
    head->set_payload(event.payload());
  }
  next.set_versions(state != nullptr ? state->versions() + 1 : 1);
  if (state != nullptr) *next.mutable_history() = state->history();
  *next.add_history() = std::move(id);
  return next;
}

}  // namespace tongban::records
