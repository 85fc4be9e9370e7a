// FOR INTERNAL USE. The one Close() contract of every connection and
// endpoint (pool, worker process, remote, in-process): idempotent and safe
// from any number of threads at once, including a destructor racing an
// explicit Close().
#ifndef IW_RUNTIME_COMMON_CLOSE_ONCE_H_
#define IW_RUNTIME_COMMON_CLOSE_ONCE_H_

#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace iw::internal {

// The first caller of Run() runs `close`; every other caller, concurrent or
// later, waits for it to finish and returns the same result.
//
// IMPORTANT:
// - `close` runs without the lock held; it may block for as long as it likes
//   (grace periods), and the waiters wait as long.
// - A Run() from within `close` on the same thread (a callback of the object
//   being closed calling Close()) cannot wait for itself: it returns
//   FAILED_PRECONDITION at once instead of deadlocking.
// - The result is published last, under the lock: once a waiter returns, the
//   closing thread no longer touches the object, so an owner may destroy it
//   (a destructor that calls Close() waits for a Close() in progress).
class CloseOnce {
 public:
  absl::Status Run(absl::FunctionRef<absl::Status()> close) {
    {
      absl::MutexLock lock(&mu_);
      if (started_) {
        if (!result_.has_value() && closer_ == std::this_thread::get_id()) {
          return absl::FailedPreconditionError(
              "Close() called from within Close() on the same thread (a callback of the "
              "host being closed); the close in progress continues");
        }
        auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return result_.has_value(); };
        mu_.Await(absl::Condition(&done));
        return *result_;
      }
      started_ = true;
      closer_ = std::this_thread::get_id();
    }
    absl::Status result = close();
    absl::MutexLock lock(&mu_);
    result_ = result;
    return result;
  }

  // Records `result` as the outcome of a close that already happened (an
  // endpoint that failed to start), unless a close has started.
  void SetResult(const absl::Status& result) {
    absl::MutexLock lock(&mu_);
    if (started_) return;
    started_ = true;
    result_ = result;
  }

 private:
  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread::id closer_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> result_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_COMMON_CLOSE_ONCE_H_
