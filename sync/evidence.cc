#include "sync/evidence.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "tongban/v1/store.pb.h"

namespace tongban::sync {

absl::StatusOr<std::vector<storage::LogId>> FrozenLogs(const storage::Store& store) {
  TB_ASSIGN_OR_RETURN(auto frozen, store.Scan(storage::Cf::kDefault, storage::FrozenPrefix()));
  std::vector<storage::LogId> out;
  for (const auto& [key, why] : frozen) {
    storage::LogId log;
    if (!storage::DecodeFrozenKey(key, &log)) {
      return absl::DataLossError("a frozen-log key does not parse");
    }
    out.push_back(std::move(log));
  }
  return out;
}

absl::Status KeepEvidence(storage::Store& store, const storage::LogId& log,
                          const Equivocation& evidence, absl::string_view from_peer,
                          absl::Time now) {
  v1::EquivocationEvidence kept;
  *kept.mutable_held() = evidence.held;
  *kept.mutable_received() = evidence.received;
  kept.set_consistency_from(evidence.consistency_from);
  for (const std::string& h : evidence.consistency) kept.add_consistency(h);
  kept.set_conclusive(evidence.conclusive);
  kept.set_from_peer(std::string(from_peer));
  kept.set_relayed_by(evidence.relayed_by);
  const int64_t micros = absl::ToUnixMicros(now);
  kept.set_detected_at_micros(micros);
  storage::Batch batch(store);
  batch.PutEvidence(log, micros, kept);
  if (!evidence.conclusive) {
    // A failed consistency proof can also be a relay's corruption: keep it,
    // but freeze only on proof the origin itself signed two histories.
    TB_RETURN_IF_ERROR(store.Commit(batch, /*sync=*/true));
    TB_LOG(ERROR) << "origin " << log.origin << " epoch " << log.epoch
                  << ": a consistency proof from peer " << from_peer
                  << " failed; evidence kept, confirm with the witness";
    return absl::OkStatus();
  }
  batch.PutFrozen(log, absl::StrCat("equivocation reported by peer ", from_peer));
  TB_RETURN_IF_ERROR(store.Commit(batch, /*sync=*/true));
  TB_LOG(ERROR) << "origin " << log.origin << " epoch " << log.epoch
                << " showed two histories; evidence kept, origin frozen for apply"
                << " (peer " << from_peer << ")";
  return absl::OkStatus();
}

}  // namespace tongban::sync
