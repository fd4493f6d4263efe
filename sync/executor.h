// A fixed pool of threads that runs closures in the order they were posted:
// the shared executor on which the Exchange server runs every session's work
// (sync/transport.cc), so that the node's thread count does not grow with
// the number of sessions it holds (issue #21).
//
// A task may block (a session waits for the writer to build the batch
// before it, sync/session.h), which is why the pool has more threads than
// the machine has cores: while some wait for the writer, others verify.
//
// Thread safety: Post() from any thread, including a task; the destructor
// from a thread that is not one of the pool's.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tongban::sync {

class Executor {
 public:
  // Starts `threads` threads named `name`; kResourceExhausted if the system
  // cannot start them (those started are stopped again).
  static absl::StatusOr<std::unique_ptr<Executor>> Start(const std::string& name, size_t threads);
  // Runs every task posted so far, then joins the threads.
  ~Executor();

  void Post(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

  size_t threads() const { return threads_.size(); }
  // Tasks posted and not yet started.
  size_t queued() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Executor() = default;
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  std::vector<std::thread> threads_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tongban::sync
