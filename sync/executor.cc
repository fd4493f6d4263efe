#include "sync/executor.h"

#include <utility>

#include "common/thread.h"

namespace tongban::sync {

absl::StatusOr<std::unique_ptr<Executor>> Executor::Start(const std::string& name, size_t threads) {
  std::unique_ptr<Executor> executor(new Executor());
  for (size_t i = 0; i < threads; ++i) {
    Executor* raw = executor.get();
    absl::StatusOr<std::thread> t = StartThread(name, [raw] { raw->Loop(); });
    if (!t.ok()) return t.status();  // the destructor joins those started
    executor->threads_.push_back(*std::move(t));
  }
  return executor;
}

Executor::~Executor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void Executor::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

size_t Executor::queued() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size();
}

void Executor::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Executor* e)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) { return !e->tasks_.empty() || e->stopping_; },
          this));
      if (tasks_.empty()) return;  // stopping, and nothing left to run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace tongban::sync
