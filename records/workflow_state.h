// The state of an inquiry (协查) or a notice (通报) as a node sees it at a
// moment (workflows/deadlines.h computes it from the records and the time).
// Its token ("answered late") is what the Admin reply's `state` field,
// `tongbanctl inquiry list` and the deadline metrics' label carry; the words
// a clerk reads are records::Words(state, lang) (records/words.h).
//
// Thread safety: free functions.
#pragma once

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tongban::records {

enum class WorkflowState {
  kSent,              // open, sent by this node                       已发出
  kReceived,          // open, sent to this node                       待办理
  kOpen,              // open between two other counties (national)   办理中
  kAnswered,          // inquiry replied on or before the deadline    已反馈
  kAnsweredLate,      // inquiry replied after the deadline           逾期反馈
  kAcknowledged,      // notice receipt (and feedback) in time        已回执
  kAcknowledgedLate,  // notice receipt (and feedback) late           逾期回执
  kAwaitingFeedback,  // notice receipt came without the feedback     待反馈
  kOverdue,           // nothing came and the deadline passed         已逾期
  kWithdrawn,         // the sender retracted it                      已撤回
};

// Every state, in the order above (the metrics publish a gauge for each).
absl::Span<const WorkflowState> AllWorkflowStates();

// The state's token: "sent", "received", "open", "answered", "answered
// late", "acknowledged", "acknowledged late", "awaiting feedback",
// "overdue", "withdrawn".
const char* StateToken(WorkflowState state);
// The state whose token is `token`, or nullopt.
std::optional<WorkflowState> ParseWorkflowState(absl::string_view token);

// Still waiting for an answer and not yet overdue: sent, received, open,
// awaiting feedback.
bool IsOpen(WorkflowState state);

}  // namespace tongban::records
