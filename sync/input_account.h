// InputAccount is one session's accounting of what its peer sent and this
// node has not finished with yet, and the rule the transport obeys before
// every read (DESIGN.md section 7: memory stays bounded by credits, whatever
// the peer does). It does no I/O: the transport asks MayRead() (or waits in
// WaitMayRead()) before each read and reports each message it read; the
// Session releases a message once it is done with it (a batch once it is
// applied, skipped or refused, so once its credit goes back; any other
// message once handled).
//
// The rule: read on while at most `credit` batches and at most
// `other_bytes` of other messages are unreleased. An honest peer never has
// more than `credit` batches unreleased here (it sends one per credit it was
// granted), so the rule never stops reading from it; a peer that ignores
// its credit is stopped here, and gRPC's flow control then slows it, while
// the Session ends its session for the batch beyond the credit
// (REJECT_REASON_OVER_CREDIT). Every message is at most `max_message_bytes`
// (the transport's receive limit), so unreleased input never exceeds
// bound_bytes() = (credit + 1) * max_message_bytes + other_bytes +
// max_message_bytes: the batch beyond the credit, and the message read when
// the other messages were just under their allowance.
//
// The transport of issue #21 (gRPC's callback API, no thread per read)
// asks MayRead() before each StartRead and, when it is false, starts the
// read from the resume callback instead.
//
// Thread safety: all methods may be called from any thread (the transport's
// reader and the session's worker).
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tongban::sync {

// The largest message the Exchange transport receives (gRPC's own default,
// stated): a batch is at most 1,024 events or about 1 MiB of them, plus its
// proofs.
inline constexpr uint64_t kMaxMessageBytes = 4 << 20;

struct InputLimits {
  uint32_t credit = 4;  // batches the session grants its peer at once
  uint64_t max_message_bytes = kMaxMessageBytes;
  uint64_t other_bytes = 1 << 20;  // unreleased messages other than batches
};

struct InputStats {
  uint64_t queued_bytes = 0;    // read and not released, every message
  uint64_t queued_batches = 0;  // of which batches
  uint64_t peak_bytes = 0;      // the most queued_bytes ever was
  uint64_t peak_batches = 0;
  uint64_t messages = 0;  // read in all
  uint64_t pauses = 0;    // times MayRead() said no
};

class InputAccount {
 public:
  // `on_change(delta_bytes, delta_batches)`, if set, is called after every
  // change of the queued input, under this object's lock (it must not call
  // back): the node's peer table keeps the sums for operators and tests.
  explicit InputAccount(InputLimits limits,
                        std::function<void(int64_t, int64_t)> on_change = nullptr);
  InputAccount(const InputAccount&) = delete;
  InputAccount& operator=(const InputAccount&) = delete;

  // Whether the transport may read one more message now. Counts a pause when
  // it may not.
  bool MayRead() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until MayRead() would be true (true) or Close() was called
  // (false).
  bool WaitMayRead() ABSL_LOCKS_EXCLUDED(mu_);
  // Called once, on the releasing thread, each time reading may go on after
  // MayRead() said no (for a transport without a thread that waits).
  void SetResume(std::function<void()> resume) ABSL_LOCKS_EXCLUDED(mu_);

  // The session granted the peer `batches` more credit (before sending it).
  void Granted(uint64_t batches) ABSL_LOCKS_EXCLUDED(mu_);
  // The transport read a message of `bytes` (a Batch if `batch`). A batch
  // read when the peer had been granted fewer batches than it sent breaks
  // the protocol: OverCredit() names it from then on.
  void Read(uint64_t bytes, bool batch) ABSL_LOCKS_EXCLUDED(mu_);
  // The session is done with a message Read() counted.
  void Release(uint64_t bytes, bool batch) ABSL_LOCKS_EXCLUDED(mu_);
  // The session ended: WaitMayRead() returns false from now on, what is
  // queued is dropped (its messages are never processed), and Read() and
  // Release() change nothing any more. Peaks are kept.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);

  // The first batch read beyond the credit granted when it was read: its
  // ordinal among the batches read (1-based) and the credit granted then;
  // {0, 0} if none. Counted at read time, not when the session gets to the
  // batch: by then it may have given credit back for the ones before.
  std::pair<uint64_t, uint64_t> OverCredit() const ABSL_LOCKS_EXCLUDED(mu_);

  InputStats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  const InputLimits& limits() const { return limits_; }
  // The most unreleased input this rule lets a peer make the node hold.
  uint64_t bound_bytes() const {
    return (uint64_t{limits_.credit} + 2) * limits_.max_message_bytes + limits_.other_bytes;
  }
  uint64_t bound_batches() const { return uint64_t{limits_.credit} + 1; }

 private:
  bool Open() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const InputLimits limits_;
  const std::function<void(int64_t, int64_t)> on_change_;
  mutable absl::Mutex mu_;
  InputStats stats_ ABSL_GUARDED_BY(mu_);
  uint64_t other_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t granted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t batches_read_ ABSL_GUARDED_BY(mu_) = 0;
  std::pair<uint64_t, uint64_t> over_credit_ ABSL_GUARDED_BY(mu_){0, 0};
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;  // MayRead() said no since the last resume
  std::function<void()> resume_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban::sync
