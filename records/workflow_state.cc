#include "records/workflow_state.h"

#include "records/words.h"

namespace tongban::records {

absl::Span<const WorkflowState> AllWorkflowStates() {
  static constexpr WorkflowState kAll[] = {WorkflowState::kSent,
                                           WorkflowState::kReceived,
                                           WorkflowState::kOpen,
                                           WorkflowState::kAnswered,
                                           WorkflowState::kAnsweredLate,
                                           WorkflowState::kAcknowledged,
                                           WorkflowState::kAcknowledgedLate,
                                           WorkflowState::kAwaitingFeedback,
                                           WorkflowState::kOverdue,
                                           WorkflowState::kWithdrawn};
  return kAll;
}

const char* StateToken(WorkflowState state) { return Token(state); }

std::optional<WorkflowState> ParseWorkflowState(absl::string_view token) {
  return FromToken<WorkflowState>(token);
}

bool IsOpen(WorkflowState state) {
  return state == WorkflowState::kSent || state == WorkflowState::kReceived ||
         state == WorkflowState::kOpen || state == WorkflowState::kAwaitingFeedback;
}

}  // namespace tongban::records
