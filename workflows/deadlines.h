// The workflows with legal deadlines (DOMAIN.md, "Workflows and
// deadlines"): inquiries (协查) and their replies (协查反馈), notices (通报)
// and their receipts (回执) and feedback (反馈), and the duplicate-service
// flag on the clerk's write path.
//
// Time. Every time stamp of these records is the writing node's clock, set
// by the node when the record is first written (never by the client), and
// kept when the record is corrected. A deadline is the sender's recorded
// day (China Standard Time) plus the days of the rules for the county that
// must answer (Deadlines::For, from [deadlines] in the node config),
// written into the record as due_on; the item is due until the end of that
// day. Every node computes the state of an item from these stored values
// and the time passed in, never from when a record arrived, so the state is
// the same on the sender, the receiver and the national node, and after a
// restart.
//
// States (records::WorkflowState, records/workflow_state.h; the items carry
// their token, which `tongbanctl inquiry list` prints and the metrics use as
// a label). An inquiry is sent / received / open (not answered yet, as the
// sender / the receiver / the national node sees it), answered (reply on or
// before the deadline), answered late, overdue (no reply, the deadline
// passed) or withdrawn (the sender retracted it). A notice that needs neither
// a receipt nor feedback is not tracked; one that does is sent / received /
// open, awaiting feedback (a receipt came without the feedback asked for),
// acknowledged, acknowledged late, overdue or withdrawn.
//
// Which version counts: a record's current value, its standing head
// (records/record_state.h), as on every other node; a withdrawn item shows
// the value it had before the retraction.
//
// Thread safety: free functions; safe for concurrent use on a Store.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "records/deadline_rules.h"
#include "records/workflow_state.h"
#include "storage/store.h"
#include "tongban/v1/admin.pb.h"
#include "workflows/current.h"

namespace tongban::workflows {

// Sets the times and deadline of a new inquiry, reply, notice or receipt
// from `now` and `deadlines`; on a correction (`current` is the record's
// newest value) keeps the times the first version recorded. Receipts: the
// feedback time is set when feedback is first given. Other kinds are left
// as they are.
void StampWorkflowTimes(const records::Deadlines& deadlines, absl::Time now,
                        const v1::RecordValue* current, v1::WriteRequest* request);

// Checks a clerk's write of `request` (person normalized) on node `self`
// against what the node holds:
//   * a reply must answer an inquiry held here, sent by the county it
//     names to this node and not withdrawn; a receipt likewise a notice
//     that asks for a receipt or feedback (kNotFound or
//     kFailedPrecondition saying which);
//   * an entitlement delivery (a service of type ENTITLEMENT_DELIVERY) must
//     name an entitlement of the person held here and not withdrawn;
//   * a new service record whose type, period, beneficiary (and, for a
//     delivery, entitlement) equal those
//     of a service already recorded (and not retracted) for the person is
//     flagged with kAlreadyExists naming the record, unless the request
//     confirms the duplicate.
absl::Status CheckWorkflowWrite(const storage::Store& store, const std::string& self,
                                const std::string& person, const v1::WriteRequest& request);

// Whether StampWorkflowTimes and the deadline tracking concern `kind`:
// inquiries, replies, notices and receipts.
bool IsWorkflowKind(v1::RecordKind kind);

// Every tracked inquiry and notice this node sees: those it sent or must
// answer (every one on the national node), with their state at `now`.
struct Tracked {
  std::vector<v1::InquiryItem> inquiries;
  std::vector<v1::NoticeItem> notices;
};
absl::StatusOr<Tracked> TrackDeadlines(const storage::Store& store, const std::string& self,
                                       bool national, const records::Deadlines& deadlines,
                                       absl::Time now);

// Open (not complete, not withdrawn, not overdue) with the deadline (the end
// of day `due_on`, records::EndOfDay) at most `within` away from `now`.
bool DueSoon(records::WorkflowState state, const v1::Date& due_on, absl::Time now,
             absl::Duration within);
// The same for an item's state token ("received"); false for a token that
// names no state.
bool DueSoon(absl::string_view state, const v1::Date& due_on, absl::Time now,
             absl::Duration within);

}  // namespace tongban::workflows
