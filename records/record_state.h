// What a record's state (RecordState, one per record, kept in the store's
// "records" column family) is and means: how an event changes it, which of
// its heads stands, and what its current value is. Every part of the node
// that asks these questions asks them here: the writer (a local append and a
// peer's event alike), the statistics, the deadlines and the Admin reads.
//
// Heads. A record's heads are its versions that no later event superseded.
// An event supersedes the heads it names as parents; the custodian names
// every head it holds, so a record normally has one. Two heads remain when
// an event was written without seeing another (a custodian restored from a
// backup that wrote in a new epoch, a faulty peer): a conflict, which an
// operator resolves with a write whose parents are both. Nodes may hold the
// heads in different orders (the order events arrived), so nothing may
// depend on that order.
//
// The standing head is the head with the largest stamp: the hybrid logical
// clock (physical microseconds, then logical), then the event's origin,
// epoch and seq. Every node holding the same heads picks the same one.
// The record's current value is the standing head's: a value for an upsert,
// "retracted" (撤回) for a retraction. A retracted record keeps the value it
// had before (the upsert with the largest stamp in its history), which a
// withdrawn inquiry or a retracted certificate still shows.
//
// Thread safety: free functions.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tongban/v1/event.pb.h"
#include "tongban/v1/records.pb.h"
#include "tongban/v1/store.pb.h"

namespace tongban::records {

// What orders heads: the few fields of a head the standing-head rule reads,
// so that a reader of the stored bytes that parses no message (the
// statistics scan) can apply the same rule.
struct HeadStamp {
  int64_t physical_micros = 0;
  uint64_t logical = 0;
  absl::string_view origin;  // points into the head; valid while it is
  uint64_t epoch = 0;
  uint64_t seq = 0;
};
HeadStamp StampOf(const v1::RecordState::Head& head);
HeadStamp StampOf(const v1::EventBody& event);
// True if a head stamped `a` stands over one stamped `b`.
bool StandsOver(const HeadStamp& a, const HeadStamp& b);

// The standing head of `state`; nullptr when it has none.
const v1::RecordState::Head* StandingHead(const v1::RecordState& state);

// A record's current value in brief, without parsing it.
struct Current {
  const v1::RecordState::Head* head = nullptr;  // the standing head; null: no heads
  bool retracted = false;                       // the standing head is a retraction
  bool conflict = false;                        // two or more heads
};
Current CurrentOf(const v1::RecordState& state);

// The current value: the standing head's payload, parsed. nullopt when the
// record has no heads or is retracted; kDataLoss when the payload does not
// parse.
absl::StatusOr<std::optional<v1::RecordValue>> CurrentValue(const v1::RecordState& state);

// Of a record's history, the upsert with the largest stamp: the value a
// retracted record had. nullptr when `events` hold no upsert.
const v1::EventBody* NewestUpsert(absl::Span<const v1::EventBody> events);

// Whether `writer` may change a record in `state` (nullptr: no record yet):
// the first writer of a record is its custodian, and only it changes it.
bool CustodyAllows(const v1::RecordState* state, absl::string_view writer);

// The state after applying `event` to a record in `state` (nullptr: the
// record does not exist yet). Pure, and the same for an event this node
// appends and one a peer sent, so every node that applies the same events
// holds the same heads, whatever order they came in:
//   custodian    the event's origin
//   heads        the heads of `state` the event does not name as parents,
//                in their order, then the event's own head (stamp, operation,
//                payload) unless `superseded`: an event already applied to
//                the record names this one as a parent (it arrived after a
//                later version, e.g. by a backfill racing the live feed;
//                see MaySupersede)
//   id_findings  an upsert that becomes a head: the event's (the findings the operator
//                confirmed for this version); a retraction's: unchanged
//                (a retraction withdraws the value, not what was found
//                about the person's ID)
//   versions     one more; history: the state's, then the event's id
//   audience     not set: only the custodian keeps it (the writer's local
//                append adds it)
// REQUIRES: CustodyAllows(state, event.origin()) (callers decide what a
// custody violation does: a refused write, or an event kept unapplied).
v1::RecordState NextRecordState(const v1::RecordState* state, const v1::EventBody& event,
                                bool superseded = false);

// Whether an event already applied to the record in `state` could name
// `event` as a parent. False when the event stands over every head: a
// version's stamp is always larger than its parents' (its writer held them),
// so only an event older than the standing head can have arrived after a
// version that supersedes it. When true, the caller reads the history's
// events and asks NamesAsParent.
bool MaySupersede(const v1::RecordState& state, const v1::EventBody& event);
// Whether any of `events` names `event` as a parent.
bool NamesAsParent(absl::Span<const v1::EventBody> events, const v1::EventBody& event);

}  // namespace tongban::records
