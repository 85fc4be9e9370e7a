// FOR INTERNAL USE. One process-wide timer thread running callbacks at their
// deadlines: the host side of the call stream uses it to fail asynchronous
// calls whose deadline passes (synchronous callers wait with a deadline
// themselves and need no timer).
#ifndef IW_RUNTIME_COMMON_DEADLINE_TIMER_H_
#define IW_RUNTIME_COMMON_DEADLINE_TIMER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace iw::internal {

class DeadlineTimer {
 public:
  // What Schedule() returns; pass it to Cancel(). A default Handle is
  // "nothing scheduled".
  struct Handle {
    absl::Time when;
    uint64_t id = 0;
  };

  // The process's timer (started on first use, never destroyed).
  static DeadlineTimer& Get();

  // Runs `callback` on the timer thread at `when` (at once if it passed).
  // Callbacks must be short: they delay every later one.
  Handle Schedule(absl::Time when, std::function<void()> callback);
  // Removes a callback that has not started. False if it ran, is running or
  // was never scheduled.
  bool Cancel(const Handle& handle);

 private:
  DeadlineTimer();
  void Loop();

  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::pair<absl::Time, uint64_t>, std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_COMMON_DEADLINE_TIMER_H_
