#include "sync/peers.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tongban::sync {

void PeerTable::SessionStarted(const std::string& peer, absl::Time now) {
  absl::MutexLock lock(&mu_);
  PeerStatus& p = peers_[peer];
  if (p.sessions++ == 0) p.connected_since = now;
}

void PeerTable::SessionEnded(const std::string& peer, const absl::Status& result, absl::Time now) {
  absl::MutexLock lock(&mu_);
  PeerStatus& p = peers_[peer];
  if (p.sessions > 0) --p.sessions;
  if (!result.ok()) {
    p.last_error = result.ToString();
    p.last_error_at = now;
  }
}

void PeerTable::DialFailed(const std::string& peer, const absl::Status& result, absl::Time now) {
  if (result.ok()) return;
  absl::MutexLock lock(&mu_);
  PeerStatus& p = peers_[peer];
  p.last_error = result.ToString();
  p.last_error_at = now;
}

void PeerTable::AckReceived(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  ++peers_[peer].acks;
}

void PeerTable::BatchSent(const std::string& peer, uint64_t events, absl::Time now) {
  absl::MutexLock lock(&mu_);
  PeerStatus& p = peers_[peer];
  ++p.batches_sent;
  p.events_sent += events;
  p.last_batch = now;
}

void PeerTable::BatchApplied(const std::string& peer, uint64_t events, absl::Time now,
                             absl::Duration took) {
  if (apply_latency_ != nullptr) apply_latency_->Observe(absl::ToDoubleSeconds(took));
  absl::MutexLock lock(&mu_);
  PeerStatus& p = peers_[peer];
  ++p.batches_applied;
  p.events_applied += events;
  p.last_batch = now;
}

void PeerTable::Refuses(const std::string& peer, const std::string& log,
                        const std::string& reason) {
  absl::MutexLock lock(&mu_);
  peers_[peer].refuses[log] = reason;
}

void PeerTable::ClearRefusals(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  peers_[peer].refuses.clear();
}

void PeerTable::BatchSkipped(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  ++peers_[peer].batches_skipped;
}

void PeerTable::ClockSeen(const std::string& origin, absl::Duration ahead, uint64_t beyond,
                          absl::Time now) {
  absl::MutexLock lock(&mu_);
  PeerStatus& p = peers_[origin];
  p.clock_ahead = std::max(ahead, absl::ZeroDuration());
  p.clock_seen_at = now;
  p.events_ahead += beyond;
}

void PeerTable::InputChanged(const std::string& peer, int64_t bytes, int64_t batches) {
  absl::MutexLock lock(&mu_);
  PeerStatus& p = peers_[peer];
  p.input_queued_bytes = static_cast<uint64_t>(static_cast<int64_t>(p.input_queued_bytes) + bytes);
  p.input_queued_batches =
      static_cast<uint64_t>(static_cast<int64_t>(p.input_queued_batches) + batches);
  p.input_peak_bytes = std::max(p.input_peak_bytes, p.input_queued_bytes);
  p.input_peak_batches = std::max(p.input_peak_batches, p.input_queued_batches);
}

std::string CleanSoftwareVersion(absl::string_view said) {
  std::string out(said.substr(0, kMaxSoftwareVersion));
  for (char& c : out) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    c == '.' || c == '+' || c == '_' || c == '~' || c == '-';
    if (!ok) c = '?';
  }
  return out;
}

void PeerTable::HelloReceived(const std::string& peer, absl::string_view software_version,
                              uint64_t roster_version) {
  std::string cleaned = CleanSoftwareVersion(software_version);
  absl::MutexLock lock(&mu_);
  PeerStatus& p = peers_[peer];
  p.software_version = std::move(cleaned);
  p.roster_version = roster_version;
}

void PeerTable::ClockSkewSeen(const std::string& peer, absl::Time peer_time, absl::Time now) {
  absl::MutexLock lock(&mu_);
  peers_[peer].clock_skew = peer_time - now;
}

void PeerTable::CertificateSeen(const std::string& peer, absl::Time not_after) {
  absl::MutexLock lock(&mu_);
  peers_[peer].cert_not_after = not_after;
}

PeerStatus PeerTable::Get(const std::string& peer) const {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(peer);
  return it == peers_.end() ? PeerStatus{} : it->second;
}

std::map<std::string, PeerStatus> PeerTable::All() const {
  absl::MutexLock lock(&mu_);
  return peers_;
}

absl::Status StoreAck(storage::Store& store, const std::string& peer, const storage::LogId& log,
                      uint64_t seq) {
  TB_ASSIGN_OR_RETURN(uint64_t held, AckedBy(store, peer, log));
  if (seq <= held) return absl::OkStatus();
  storage::Batch batch(store);
  batch.PutAcked(peer, log, seq);
  // Not synced: a lost ack only means the peer is sent the events again,
  // which it drops as duplicates.
  return store.Commit(batch, /*sync=*/false);
}

absl::StatusOr<uint64_t> AckedBy(const storage::Store& store, const std::string& peer,
                                 const storage::LogId& log) {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> v,
                      store.Get(storage::Cf::kDefault, storage::AckedKey(peer, log)));
  if (!v.has_value()) return 0;
  if (v->size() != 8) {
    return absl::DataLossError(absl::StrCat("acknowledgement of peer ", peer, " is corrupt"));
  }
  return storage::DecodeBe64(*v);
}

absl::StatusOr<bool> HasPendingFor(const storage::Store& store, const storage::LogId& own,
                                   const std::string& peer, const std::string& national) {
  TB_ASSIGN_OR_RETURN(auto backfill,
                      store.Scan(storage::Cf::kDefault, storage::BackfillPrefix(peer)));
  if (!backfill.empty()) return true;
  TB_ASSIGN_OR_RETURN(uint64_t acked, AckedBy(store, peer, own));
  if (peer == national) {
    TB_ASSIGN_OR_RETURN(uint64_t last, store.LastSeq(own));
    return last > acked;
  }
  TB_ASSIGN_OR_RETURN(std::vector<uint64_t> routed, store.ScanRoute(peer, own, acked, 1));
  return !routed.empty();
}

absl::Status HoldPeer(storage::Store& store, const std::string& peer, const std::string& reason) {
  storage::Batch batch(store);
  batch.PutHold(peer, reason);
  return store.Commit(batch, /*sync=*/true);
}

absl::StatusOr<std::optional<std::string>> HoldOf(const storage::Store& store,
                                                  const std::string& peer) {
  return store.Get(storage::Cf::kDefault, storage::HoldKey(peer));
}

absl::Status ClearHold(storage::Store& store, const std::string& peer) {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> held, HoldOf(store, peer));
  if (!held.has_value()) {
    return absl::NotFoundError(absl::StrCat("peer ", peer, " is not held"));
  }
  storage::Batch batch(store);
  batch.DeleteHold(peer);
  batch.PutCounter(UnparsableCounter(peer), 0);
  return store.Commit(batch, /*sync=*/true);
}

std::string UnparsableCounter(const std::string& peer) { return "unparsable/" + peer; }

}  // namespace tongban::sync
