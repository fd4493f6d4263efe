#include "workflows/current.h"

#include <vector>

#include "common/status_macros.h"
#include "records/record_state.h"

namespace tongban::workflows {
namespace {

// The value a record had when it was retracted: the upsert with the
// largest stamp in its history (records/record_state.h), read from the
// stored events.
absl::StatusOr<std::optional<v1::RecordValue>> ValueBeforeRetraction(const storage::Store& store,
                                                                     const v1::RecordState& state) {
  std::vector<v1::EventBody> events;
  events.reserve(state.history_size());
  for (const v1::EventId& id : state.history()) {
    TB_ASSIGN_OR_RETURN(std::string bytes,
                        store.GetEvent(storage::LogId{id.origin(), id.epoch()}, id.seq()));
    if (!events.emplace_back().ParseFromString(bytes)) {
      return absl::DataLossError("a stored event does not parse");
    }
  }
  const v1::EventBody* newest = records::NewestUpsert(events);
  if (newest == nullptr) return std::nullopt;
  v1::RecordValue value;
  if (!value.ParseFromString(newest->payload())) {
    return absl::DataLossError("a stored record value does not parse");
  }
  return value;
}

}  // namespace

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
  const records::Current current = records::CurrentOf(state);
  if (retracted != nullptr) *retracted = current.retracted;
  if (current.head == nullptr) return std::nullopt;
  if (!current.retracted) return records::CurrentValue(state);
  // A retraction carries no value: the value it withdrew is in the history.
  return ValueBeforeRetraction(store, state);
}

absl::StatusOr<std::optional<v1::Certificate>> CurrentCertificate(const storage::Store& store,
                                                                  const v1::RecordState& state,
                                                                  bool* retracted) {
  TB_ASSIGN_OR_RETURN(std::optional<v1::RecordValue> value, NewestValueOf(store, state, retracted));
  if (!value.has_value() || !value->has_certificate()) return std::nullopt;
  return value->certificate();
}

}  // namespace tongban::workflows
