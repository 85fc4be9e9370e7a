#include "runtime/common/deadline_timer.h"

#include <thread>

namespace iw::internal {

DeadlineTimer& DeadlineTimer::Get() {
  static DeadlineTimer* const timer = new DeadlineTimer();
  return *timer;
}

DeadlineTimer::DeadlineTimer() {
  std::thread([this] { Loop(); }).detach();
}

DeadlineTimer::Handle DeadlineTimer::Schedule(absl::Time when, std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  Handle handle{when, next_id_++};
  queue_.emplace(std::make_pair(when, handle.id), std::move(callback));
  return handle;
}

bool DeadlineTimer::Cancel(const Handle& handle) {
  if (handle.id == 0) return false;
  absl::MutexLock lock(&mu_);
  return queue_.erase(std::make_pair(handle.when, handle.id)) > 0;
}

void DeadlineTimer::Loop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    // Sleep until the earliest entry is due; a new, earlier entry wakes us
    // (the condition is re-evaluated whenever the mutex is released).
    const absl::Time earliest =
        queue_.empty() ? absl::InfiniteFuture() : queue_.begin()->first.first;
    auto changed = [this, earliest]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !queue_.empty() && queue_.begin()->first.first < earliest;
    };
    if (earliest > absl::Now()) {
      mu_.AwaitWithDeadline(absl::Condition(&changed), earliest);
      continue;
    }
    std::function<void()> callback = std::move(queue_.begin()->second);
    queue_.erase(queue_.begin());
    mu_.Unlock();
    callback();
    mu_.Lock();
  }
}

}  // namespace iw::internal
