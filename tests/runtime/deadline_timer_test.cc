// DeadlineTimer: callbacks run once each, in deadline order (ties in the
// order they were scheduled); Cancel() removes only what has not started.
//
// The timer is one process-wide thread. To make the order of due callbacks
// deterministic, a test first holds that thread in a "gate" callback, queues
// what it needs with deadlines that already passed, then opens the gate.
#include "runtime/common/deadline_timer.h"

#include <atomic>
#include <functional>
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

using iw::internal::DeadlineTimer;
using iw::testing::BoundedThread;
using iw::testing::kLongWait;

DeadlineTimer& Timer() { return DeadlineTimer::Get(); }

// What the callbacks of one test ran, in order. Thread-safe.
class RunLog {
 public:
  std::function<void()> Callback(std::string name) {
    return [this, name] {
      absl::MutexLock lock(&mu_);
      names_.push_back(name);
    };
  }
  std::vector<std::string> names() {
    absl::MutexLock lock(&mu_);
    return names_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> names_;
};

// Holds the timer thread in a callback until Open() (or kLongWait).
class Gate {
 public:
  Gate() {
    // Shared with the callback: the timer thread may still be inside its
    // wait on `open` when the Gate is gone.
    Timer().Schedule(absl::InfinitePast(), [state = state_] {
      state->entered.Notify();
      (void)state->open.WaitForNotificationWithTimeout(kLongWait);
    });
    REQUIRE(state_->entered.WaitForNotificationWithTimeout(kLongWait));
  }
  ~Gate() { Open(); }
  void Open() {
    if (!state_->open.HasBeenNotified()) state_->open.Notify();
  }

 private:
  struct State {
    absl::Notification entered;
    absl::Notification open;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Schedules a callback due at `when` and waits for it: every callback due
// before it (or at the same time but scheduled earlier) has run by then.
bool Flush(absl::Time when = absl::Now()) {
  auto ran = std::make_shared<absl::Notification>();
  Timer().Schedule(when, [ran] { ran->Notify(); });
  return ran->WaitForNotificationWithTimeout(kLongWait);
}

TEST_CASE("DeadlineTimer: a callback whose deadline passed runs at once",
          "[runtime][deadline_timer]") {
  absl::Notification ran;
  Timer().Schedule(absl::Now() - absl::Seconds(1), [&] { ran.Notify(); });
  CHECK(ran.WaitForNotificationWithTimeout(kLongWait));
}

TEST_CASE("DeadlineTimer: a callback runs at its deadline, not before",
          "[runtime][deadline_timer]") {
  const absl::Time when = absl::Now() + absl::Milliseconds(50);
  absl::Notification ran;
  std::atomic<int64_t> ran_at_ns{0};
  Timer().Schedule(when, [&] {
    ran_at_ns = absl::ToUnixNanos(absl::Now());
    ran.Notify();
  });
  REQUIRE(ran.WaitForNotificationWithTimeout(kLongWait));
  CHECK(absl::FromUnixNanos(ran_at_ns) >= when);
}

TEST_CASE("DeadlineTimer: due callbacks run in deadline order, not in the order scheduled",
          "[runtime][deadline_timer]") {
  RunLog log;
  const absl::Time now = absl::Now();
  {
    Gate gate;
    Timer().Schedule(now - absl::Seconds(1), log.Callback("third"));
    Timer().Schedule(now - absl::Seconds(3), log.Callback("first"));
    Timer().Schedule(now - absl::Seconds(2), log.Callback("second"));
  }
  REQUIRE(Flush());
  CHECK(log.names() == std::vector<std::string>{"first", "second", "third"});
}

TEST_CASE("DeadlineTimer: callbacks with the same deadline run in the order scheduled",
          "[runtime][deadline_timer]") {
  RunLog log;
  const absl::Time when = absl::Now() - absl::Seconds(1);
  {
    Gate gate;
    for (const char* name : {"a", "b", "c", "d", "e"}) Timer().Schedule(when, log.Callback(name));
  }
  REQUIRE(Flush());
  CHECK(log.names() == std::vector<std::string>{"a", "b", "c", "d", "e"});
}

TEST_CASE("DeadlineTimer: an earlier deadline wakes the timer waiting for a later one",
          "[runtime][deadline_timer]") {
  auto later_ran = std::make_shared<absl::Notification>();
  DeadlineTimer::Handle later =
      Timer().Schedule(absl::Now() + absl::Hours(1), [later_ran] { later_ran->Notify(); });
  // Nothing is due for an hour; meanwhile the timer thread goes to sleep.
  CHECK_FALSE(later_ran->WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  absl::Notification sooner;
  Timer().Schedule(absl::Now() + absl::Milliseconds(10), [&] { sooner.Notify(); });
  CHECK(sooner.WaitForNotificationWithTimeout(kLongWait));
  CHECK(Timer().Cancel(later));
  CHECK_FALSE(later_ran->HasBeenNotified());
}

TEST_CASE("DeadlineTimer: a cancelled callback never runs", "[runtime][deadline_timer]") {
  RunLog log;
  {
    Gate gate;
    const absl::Time when = absl::Now() - absl::Seconds(1);
    DeadlineTimer::Handle cancelled = Timer().Schedule(when, log.Callback("cancelled"));
    Timer().Schedule(when, log.Callback("kept"));
    CHECK(Timer().Cancel(cancelled));
    // A second Cancel finds nothing to remove.
    CHECK_FALSE(Timer().Cancel(cancelled));
  }
  // `cancelled` would have run before `kept`, and both before the flush.
  REQUIRE(Flush());
  CHECK(log.names() == std::vector<std::string>{"kept"});
}

TEST_CASE("DeadlineTimer: Cancel is false for a callback that ran or never was scheduled",
          "[runtime][deadline_timer]") {
  absl::Notification ran;
  DeadlineTimer::Handle handle = Timer().Schedule(absl::InfinitePast(), [&] { ran.Notify(); });
  REQUIRE(ran.WaitForNotificationWithTimeout(kLongWait));
  CHECK_FALSE(Timer().Cancel(handle));
  CHECK_FALSE(Timer().Cancel(DeadlineTimer::Handle{}));
}

TEST_CASE("DeadlineTimer: Cancel of a running callback is false and does not wait for it",
          "[runtime][deadline_timer]") {
  absl::Notification running;
  absl::Notification release;
  DeadlineTimer::Handle handle = Timer().Schedule(absl::InfinitePast(), [&] {
    running.Notify();
    (void)release.WaitForNotificationWithTimeout(kLongWait);
  });
  REQUIRE(running.WaitForNotificationWithTimeout(kLongWait));
  CHECK_FALSE(Timer().Cancel(handle));
  release.Notify();
  REQUIRE(Flush());
}

TEST_CASE("DeadlineTimer: a callback may cancel and schedule callbacks (re-arm) itself",
          "[runtime][deadline_timer]") {
  RunLog log;
  DeadlineTimer::Handle old_deadline =
      Timer().Schedule(absl::Now() + absl::Hours(1), log.Callback("old deadline"));
  absl::Notification rearmed_ran;
  bool cancelled_old = false;
  Timer().Schedule(absl::InfinitePast(), [&] {
    cancelled_old = Timer().Cancel(old_deadline);
    Timer().Schedule(absl::InfinitePast(), [&] { rearmed_ran.Notify(); });
  });
  REQUIRE(rearmed_ran.WaitForNotificationWithTimeout(kLongWait));
  CHECK(cancelled_old);
  CHECK(log.names().empty());
}

TEST_CASE("DeadlineTimer: concurrent producers' callbacks each run exactly once unless cancelled",
          "[runtime][deadline_timer]") {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 200;
  constexpr int kTotal = kProducers * kPerProducer;
  std::vector<std::atomic<int>> runs(kTotal);
  std::vector<std::atomic<bool>> cancelled(kTotal);
  const absl::Time start = absl::Now();
  const absl::Time last_deadline = start + absl::Milliseconds(20);
  {
    std::vector<std::unique_ptr<BoundedThread>> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.push_back(std::make_unique<BoundedThread>([&, p] {
        for (int i = 0; i < kPerProducer; ++i) {
          const int id = p * kPerProducer + i;
          DeadlineTimer::Handle handle =
              Timer().Schedule(start + absl::Milliseconds(id % 21), [&runs, id] { ++runs[id]; });
          // Cancel every third one; it may already have run.
          if (id % 3 == 0) cancelled[id] = Timer().Cancel(handle);
        }
      }));
    }
    for (auto& producer : producers) REQUIRE(producer->JoinWithin(kLongWait));
  }
  // Due after every callback above: all of them ran by the time it does.
  REQUIRE(Flush(last_deadline));
  int cancelled_count = 0;
  for (int id = 0; id < kTotal; ++id) {
    INFO("callback " << id);
    CHECK(runs[id] == (cancelled[id] ? 0 : 1));
    cancelled_count += cancelled[id] ? 1 : 0;
  }
  CHECK(cancelled_count <= kTotal / 3 + 1);
}

}  // namespace
