// Bounded waits for the runtime's unit tests: a countdown whose wait has a
// timeout (absl::BlockingCounter's has none in our Abseil) and a thread whose
// join has one, so that a hung part fails its test instead of hanging it.
#ifndef IW_TESTS_RUNTIME_BOUNDED_WAITS_H_
#define IW_TESTS_RUNTIME_BOUNDED_WAITS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace iw::testing {

// How long a wait for something that should happen at once may take before
// the test fails: generous, since it only bounds the failure case.
inline constexpr absl::Duration kLongWait = absl::Seconds(10);

// Counts down from `count`; WaitFor() returns true once it reached zero.
class Countdown {
 public:
  explicit Countdown(int count) : remaining_(count) {
    if (count == 0) done_.Notify();
  }
  void Decrement() {
    if (remaining_.fetch_sub(1) == 1) done_.Notify();
  }
  [[nodiscard]] bool WaitFor(absl::Duration timeout) {
    return done_.WaitForNotificationWithTimeout(timeout);
  }

 private:
  std::atomic<int> remaining_;
  absl::Notification done_;
};

// A thread whose join is bounded. If `body` has not finished by then, the
// thread is detached (it may still use what `body` refers to, so a test that
// fails this way should end soon) and JoinWithin() returns false.
class BoundedThread {
 public:
  explicit BoundedThread(std::function<void()> body)
      : done_(std::make_shared<absl::Notification>()),
        thread_([body = std::move(body), done = done_] {
          body();
          done->Notify();
        }) {}
  ~BoundedThread() {
    if (thread_.joinable()) (void)JoinWithin(kLongWait);
  }
  BoundedThread(const BoundedThread&) = delete;
  BoundedThread& operator=(const BoundedThread&) = delete;

  // Whether `body` finished within `timeout`; the thread stays joinable.
  [[nodiscard]] bool FinishedWithin(absl::Duration timeout) {
    return done_->WaitForNotificationWithTimeout(timeout);
  }

  [[nodiscard]] bool JoinWithin(absl::Duration timeout) {
    if (!done_->WaitForNotificationWithTimeout(timeout)) {
      thread_.detach();
      return false;
    }
    thread_.join();
    return true;
  }

 private:
  std::shared_ptr<absl::Notification> done_;
  std::thread thread_;
};

}  // namespace iw::testing

#endif  // IW_TESTS_RUNTIME_BOUNDED_WAITS_H_
