// OverrunWatchdog: a call still armed at (deadline + grace) is reported once,
// with its method and grace; disarmed calls never are; destruction does not
// wait for calls still armed.
#include "runtime/worker/overrun_watchdog.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "tests/runtime/bounded_waits.h"

namespace {

using iw::internal::OverrunWatchdog;
using iw::testing::BoundedThread;
using iw::testing::kLongWait;

// Records what the watchdog reports. In a worker, on_overrun ends the
// process; here it returns, after which the watchdog reports nothing more.
class Reports {
 public:
  OverrunWatchdog::OnOverrun Callback() {
    return [this](const std::string& description) {
      {
        absl::MutexLock lock(&mu_);
        descriptions_.push_back(description);
      }
      if (!first_.HasBeenNotified()) first_.Notify();
    };
  }
  bool WaitForFirst(absl::Duration timeout = kLongWait) {
    return first_.WaitForNotificationWithTimeout(timeout);
  }
  std::vector<std::string> descriptions() {
    absl::MutexLock lock(&mu_);
    return descriptions_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> descriptions_;
  absl::Notification first_;
};

std::string Description(const std::string& method, const std::string& grace) {
  return "the handler of " + method + " was still running " + grace +
         " after its deadline (DEADLINE_REPLACE_WORKER); the worker was replaced";
}

TEST_CASE("OverrunWatchdog: a call still armed after deadline plus grace is reported",
          "[runtime][overrun_watchdog]") {
  Reports reports;
  absl::Time armed_at = absl::Now();
  absl::Time reported_at;
  {
    OverrunWatchdog watchdog(reports.Callback());
    const absl::Time deadline = absl::Now() + absl::Milliseconds(20);
    const absl::Duration grace = absl::Milliseconds(30);
    (void)watchdog.Arm(deadline, grace, "/t.S/Slow");
    REQUIRE(reports.WaitForFirst());
    reported_at = absl::Now();
  }
  CHECK(reported_at - armed_at >= absl::Milliseconds(50));
  CHECK(reports.descriptions() == std::vector<std::string>{Description("/t.S/Slow", "30ms")});
}

TEST_CASE("OverrunWatchdog: a disarmed call is never reported", "[runtime][overrun_watchdog]") {
  // `done` must be disarmed before it is due; an attempt where that took
  // longer proves nothing and is repeated.
  bool disarmed_in_time = false;
  for (int attempt = 0; attempt < 5 && !disarmed_in_time; ++attempt) {
    Reports reports;
    {
      OverrunWatchdog watchdog(reports.Callback());
      const absl::Time now = absl::Now();
      const absl::Time done_due = now + absl::Milliseconds(100);
      uint64_t done = watchdog.Arm(done_due, absl::ZeroDuration(), "/t.S/Done");
      watchdog.Disarm(done);
      disarmed_in_time = absl::Now() < done_due;
      // Due after `done`: had `done` stayed armed, it would be reported first.
      (void)watchdog.Arm(done_due + absl::Milliseconds(10), absl::ZeroDuration(), "/t.S/Sentinel");
      REQUIRE(reports.WaitForFirst());
    }
    if (disarmed_in_time) {
      CHECK(reports.descriptions() == std::vector<std::string>{Description("/t.S/Sentinel", "0")});
    }
  }
  CHECK(disarmed_in_time);
}

TEST_CASE("OverrunWatchdog: of several overrunning calls, the earliest is reported, once",
          "[runtime][overrun_watchdog]") {
  // The calls must all be armed before the first is due (the watchdog's
  // thread starts with the first Arm()); an attempt where arming took longer
  // proves nothing and is repeated.
  bool armed_in_time = false;
  for (int attempt = 0; attempt < 5 && !armed_in_time; ++attempt) {
    Reports reports;
    {
      OverrunWatchdog watchdog(reports.Callback());
      const absl::Time deadline = absl::Now();
      const absl::Duration grace = absl::Milliseconds(100);
      (void)watchdog.Arm(deadline + absl::Milliseconds(10), grace, "/t.S/Second");
      (void)watchdog.Arm(deadline, grace, "/t.S/First");
      (void)watchdog.Arm(deadline + absl::Milliseconds(20), grace, "/t.S/Third");
      armed_in_time = absl::Now() < deadline + grace;
      REQUIRE(reports.WaitForFirst());
    }  // joins the watchdog's thread: nothing more can be reported
    if (armed_in_time) {
      CHECK(reports.descriptions() == std::vector<std::string>{Description("/t.S/First", "100ms")});
    }
  }
  CHECK(armed_in_time);
}

TEST_CASE("OverrunWatchdog: an earlier call wakes the watchdog waiting for a later one",
          "[runtime][overrun_watchdog]") {
  Reports reports;
  OverrunWatchdog watchdog(reports.Callback());
  (void)watchdog.Arm(absl::Now() + absl::Hours(1), absl::Seconds(1), "/t.S/Later");
  // Nothing is due for an hour; meanwhile the watchdog goes to sleep.
  CHECK_FALSE(reports.WaitForFirst(absl::Milliseconds(20)));
  (void)watchdog.Arm(absl::Now(), absl::Milliseconds(10), "/t.S/Sooner");
  REQUIRE(reports.WaitForFirst());
  CHECK(reports.descriptions() == std::vector<std::string>{Description("/t.S/Sooner", "10ms")});
}

TEST_CASE("OverrunWatchdog: destruction with calls still armed returns at once, reporting nothing",
          "[runtime][overrun_watchdog]") {
  Reports reports;
  auto watchdog = std::make_unique<OverrunWatchdog>(reports.Callback());
  (void)watchdog->Arm(absl::Now() + absl::Hours(1), absl::Seconds(1), "/t.S/Pending");
  BoundedThread destroy([&] { watchdog.reset(); });
  REQUIRE(destroy.JoinWithin(kLongWait));
  CHECK(reports.descriptions().empty());
}

TEST_CASE("OverrunWatchdog: a watchdog never armed is destroyed at once",
          "[runtime][overrun_watchdog]") {
  Reports reports;
  auto watchdog = std::make_unique<OverrunWatchdog>(reports.Callback());
  BoundedThread destroy([&] { watchdog.reset(); });
  REQUIRE(destroy.JoinWithin(kLongWait));
  CHECK(reports.descriptions().empty());
}

TEST_CASE("OverrunWatchdog: threads may arm and disarm calls concurrently",
          "[runtime][overrun_watchdog]") {
  constexpr int kThreads = 4;
  constexpr int kCallsPerThread = 200;
  Reports reports;
  {
    OverrunWatchdog watchdog(reports.Callback());
    // Far off, so that none is due before its Disarm however slow the run.
    const absl::Time deadline = absl::Now() + absl::Hours(1);
    {
      std::vector<std::unique_ptr<BoundedThread>> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.push_back(std::make_unique<BoundedThread>([&] {
          for (int i = 0; i < kCallsPerThread; ++i) {
            uint64_t token = watchdog.Arm(deadline, absl::ZeroDuration(), "/t.S/Quick");
            watchdog.Disarm(token);
          }
        }));
      }
      for (auto& thread : threads) REQUIRE(thread->JoinWithin(kLongWait));
    }
    (void)watchdog.Arm(absl::Now(), absl::ZeroDuration(), "/t.S/Sentinel");
    REQUIRE(reports.WaitForFirst());
  }
  CHECK(reports.descriptions() == std::vector<std::string>{Description("/t.S/Sentinel", "0")});
}

}  // namespace
