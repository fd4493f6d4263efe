#include "sync/driver.h"

#include <set>

#include "common/log.h"
#include "common/status_macros.h"
#include "common/thread.h"

namespace tongban::sync {

PeerDriver::PeerDriver(storage::Store* store, storage::Writer* writer, PeerTable* peers,
                       const Clock* clock, DriverOptions options, Candidates candidates,
                       Dialer dial)
    : store_(store),
      writer_(writer),
      peers_(peers),
      clock_(clock),
      options_(std::move(options)),
      candidates_(std::move(candidates)),
      dial_(std::move(dial)) {}

PeerDriver::~PeerDriver() { Stop(); }

absl::Status PeerDriver::Start() {
  listener_ = writer_->AddListener([this] {
    absl::MutexLock lock(&wake_mu_);
    woken_ = true;
  });
  TB_ASSIGN_OR_RETURN(thread_, StartThread("tb-peer-driver", [this] { Loop(); }));
  return absl::OkStatus();
}

void PeerDriver::Stop() {
  {
    absl::MutexLock lock(&wake_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (listener_ >= 0) writer_->RemoveListener(listener_);
  listener_ = -1;
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  stopped_ = true;
  for (auto& [peer, st] : states_) {
    if (st.link != nullptr) st.link->Stop();
    st.link.reset();
  }
}

void PeerDriver::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&wake_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) { return stop_ || woken_; };
      wake_mu_.AwaitWithTimeout(absl::Condition(&ready), options_.tick);
      if (stop_) return;
      woken_ = false;
    }
    Tick(clock_->Now());
  }
}

bool PeerDriver::Standing(const std::string& peer) const {
  return peer == options_.national && options_.self != options_.national;
}

void PeerDriver::Tick(absl::Time now) {
  const std::vector<std::string> candidates =
      options_.self == options_.national ? std::vector<std::string>{} : candidates_();
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  std::set<std::string> live(candidates.begin(), candidates.end());
  for (const std::string& peer : candidates) {
    auto it = states_.find(peer);
    if (it == states_.end()) {
      it = states_.emplace(peer, State(options_, options_.seed ^ std::hash<std::string>()(peer)))
               .first;
    }
    TickPeer(peer, it->second, now);
  }
  // Peers no longer in the candidates (suspended, revoked): end their sessions.
  for (auto& [peer, st] : states_) {
    if (!live.count(peer) && st.link != nullptr) {
      TB_LOG(INFO) << "closing session with peer " << peer << ": no longer a peer to dial";
      st.link->Stop();
      st.link.reset();
    }
  }
}

void PeerDriver::TickPeer(const std::string& peer, State& st, absl::Time now) {
  absl::StatusOr<std::optional<std::string>> held = HoldOf(*store_, peer);
  if (!held.ok()) {
    TB_LOG(ERROR) << "peer " << peer << ": cannot read hold: " << held.status();
    return;
  }
  st.held = *held;
  if (st.held.has_value()) {
    if (st.link != nullptr) {
      TB_LOG(WARNING) << "closing session with peer " << peer << ": held (" << *st.held << ")";
      st.link->Stop();
      st.link.reset();
    }
    return;
  }
  const PeerStatus status = peers_->Get(peer);
  if (status.acks > st.acks_at_dial) {
    // The first acknowledgement proves the peer works: back to short waits.
    st.backoff.Reset();
    st.failures = 0;
    st.acks_at_dial = status.acks;
  }
  if (st.link != nullptr) {
    std::optional<absl::Status> result = st.link->result();
    if (!result.has_value()) {
      if (Standing(peer)) return;
      const absl::Time last = std::max(st.dialled_at, status.last_batch);
      if (now - last < options_.idle_close) return;
      absl::StatusOr<bool> pending =
          HasPendingFor(*store_, writer_->log(), peer, options_.national);
      if (pending.ok() && *pending) return;
      TB_LOG(INFO) << "closing idle session with peer " << peer;
      st.link->Stop();
      st.link.reset();
      return;
    }
    st.link.reset();
    peers_->DialFailed(peer, *result, now);
    // Any end we did not ask for waits before the next attempt, a clean
    // one too: a peer that accepts and drops sessions must not be hammered.
    const absl::Duration wait = st.backoff.Next();
    st.next_attempt = now + wait;
    ++st.failures;
    TB_LOG(WARNING) << "session with peer " << peer << " ended (" << *result
                    << "); next attempt in " << absl::FormatDuration(wait);
  }
  if (now < st.next_attempt) return;
  if (!Standing(peer)) {
    absl::StatusOr<bool> pending = HasPendingFor(*store_, writer_->log(), peer, options_.national);
    if (!pending.ok()) {
      TB_LOG(ERROR) << "peer " << peer << ": cannot tell pending data: " << pending.status();
      return;
    }
    if (!*pending) return;
  }
  st.dialled_at = now;
  st.acks_at_dial = status.acks;
  st.link = dial_(peer);
  if (st.link == nullptr) {
    const absl::Duration wait = st.backoff.Next();
    st.next_attempt = now + wait;
    ++st.failures;
  }
}

std::map<std::string, DriverPeer> PeerDriver::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, DriverPeer> out;
  for (const auto& [peer, st] : states_) {
    DriverPeer& p = out[peer];
    p.dialled = st.link != nullptr && !st.link->result().has_value();
    p.next_attempt = st.next_attempt;
    p.failures = st.failures;
    p.held = st.held;
  }
  return out;
}

}  // namespace tongban::sync
