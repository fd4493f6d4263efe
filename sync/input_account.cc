#include "sync/input_account.h"

#include <algorithm>
#include <utility>

namespace tongban::sync {

InputAccount::InputAccount(InputLimits limits, std::function<void(int64_t, int64_t)> on_change)
    : limits_(limits), on_change_(std::move(on_change)) {}

bool InputAccount::Open() const {
  return stats_.queued_batches <= limits_.credit && other_bytes_ <= limits_.other_bytes;
}

bool InputAccount::MayRead() {
  absl::MutexLock lock(&mu_);
  if (Open()) return true;
  ++stats_.pauses;
  paused_ = true;
  return false;
}

bool InputAccount::WaitMayRead() {
  absl::MutexLock lock(&mu_);
  if (!closed_ && !Open()) {
    ++stats_.pauses;
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || Open(); };
    mu_.Await(absl::Condition(&ready));
  }
  return !closed_;
}

void InputAccount::SetResume(std::function<void()> resume) {
  absl::MutexLock lock(&mu_);
  resume_ = std::move(resume);
}

void InputAccount::Granted(uint64_t batches) {
  absl::MutexLock lock(&mu_);
  granted_ += batches;
}

std::pair<uint64_t, uint64_t> InputAccount::OverCredit() const {
  absl::MutexLock lock(&mu_);
  return over_credit_;
}

void InputAccount::Read(uint64_t bytes, bool batch) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;  // the session is over: nothing of it is processed
  ++stats_.messages;
  stats_.queued_bytes += bytes;
  if (batch) {
    ++stats_.queued_batches;
    if (++batches_read_ > granted_ && over_credit_.first == 0) {
      over_credit_ = {batches_read_, granted_};
    }
  } else {
    other_bytes_ += bytes;
  }
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.queued_bytes);
  stats_.peak_batches = std::max(stats_.peak_batches, stats_.queued_batches);
  if (on_change_) on_change_(static_cast<int64_t>(bytes), batch ? 1 : 0);
}

void InputAccount::Release(uint64_t bytes, bool batch) {
  std::function<void()> resume;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    bytes = std::min(bytes, stats_.queued_bytes);
    stats_.queued_bytes -= bytes;
    const bool had_batch = batch && stats_.queued_batches > 0;
    if (had_batch) {
      --stats_.queued_batches;
    } else if (!batch) {
      other_bytes_ -= std::min(bytes, other_bytes_);
    }
    if (on_change_) on_change_(-static_cast<int64_t>(bytes), had_batch ? -1 : 0);
    if (paused_ && Open() && !closed_) {
      paused_ = false;
      resume = resume_;
    }
  }
  if (resume) resume();
}

void InputAccount::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  closed_ = true;
  // What was read and not processed goes with the session.
  if (on_change_ && (stats_.queued_bytes != 0 || stats_.queued_batches != 0)) {
    on_change_(-static_cast<int64_t>(stats_.queued_bytes),
               -static_cast<int64_t>(stats_.queued_batches));
  }
  stats_.queued_bytes = 0;
  stats_.queued_batches = 0;
  other_bytes_ = 0;
}

InputStats InputAccount::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace tongban::sync
