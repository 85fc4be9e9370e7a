// Executor: a bounded pool of threads, started on demand, running tasks in
// FIFO order; its destructor runs what was submitted before joining.
#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/worker/executor.h"
#include "tests/runtime/bounded_waits.h"

namespace {

using iw::internal::Executor;
using iw::testing::BoundedThread;
using iw::testing::Countdown;
using iw::testing::kLongWait;

absl::Time Soon() { return absl::Now() + kLongWait; }

TEST_CASE("Executor: one thread runs the tasks in the order they were submitted",
          "[runtime][executor]") {
  Executor executor(1);
  std::vector<int> order;  // only the executor's one thread appends
  for (int i = 0; i < 100; ++i) executor.Submit([&order, i] { order.push_back(i); });
  REQUIRE(executor.WaitIdle(Soon()));
  std::vector<int> expected(100);
  for (int i = 0; i < 100; ++i) expected[i] = i;
  CHECK(order == expected);
}

// Submits `n` tasks that each wait for all `n` to have started (only
// possible if `n` threads run them at the same time); true if every one saw
// all start.
bool RunAtOnce(Executor& executor, int n, bool as_batch) {
  Countdown all_started(n);
  std::atomic<int> saw_all{0};
  auto task = [&] {
    all_started.Decrement();
    if (all_started.WaitFor(kLongWait)) ++saw_all;
  };
  if (as_batch) {
    std::vector<std::function<void()>> tasks(n, task);
    executor.SubmitAll(&tasks);
    CHECK(tasks.empty());
  } else {
    for (int i = 0; i < n; ++i) executor.Submit(task);
  }
  // The tasks refer to this frame: wait for them all to finish.
  REQUIRE(executor.WaitIdle(Soon()));
  return saw_all == n;
}

TEST_CASE("Executor: as many tasks run at once as there are threads", "[runtime][executor]") {
  constexpr int kThreads = 4;
  Executor executor(kThreads);
  // The first round may be taken by threads that are still starting; after
  // it, every thread is idle and must be woken by the submission.
  const bool as_batch = GENERATE(false, true);
  INFO((as_batch ? "SubmitAll" : "Submit"));
  CHECK(RunAtOnce(executor, kThreads, as_batch));
  CHECK(RunAtOnce(executor, kThreads, as_batch));
}

TEST_CASE(
    "Executor: starts no thread before the first task, then only as many as ran at once, up to "
    "its bound",
    "[runtime][executor]") {
  Executor executor(3);
  CHECK(executor.started_threads() == 0);
  // One task at a time: the thread of the first runs them all.
  for (int i = 0; i < 5; ++i) {
    executor.Submit([] {});
    REQUIRE(executor.WaitIdle(Soon()));
  }
  CHECK(executor.started_threads() == 1);
  // Two at once: one more thread.
  absl::Notification release;
  Countdown running(2);
  for (int i = 0; i < 2; ++i) {
    executor.Submit([&] {
      running.Decrement();
      (void)release.WaitForNotificationWithTimeout(kLongWait);
    });
  }
  REQUIRE(running.WaitFor(kLongWait));
  release.Notify();
  REQUIRE(executor.WaitIdle(Soon()));
  CHECK(executor.started_threads() == 2);
  // Five at once: never more than the bound.
  absl::Notification release_all;
  std::vector<std::function<void()>> batch;
  for (int i = 0; i < 5; ++i) {
    batch.push_back([&] { (void)release_all.WaitForNotificationWithTimeout(kLongWait); });
  }
  executor.SubmitAll(&batch);
  CHECK(executor.started_threads() == 3);
  release_all.Notify();
  REQUIRE(executor.WaitIdle(Soon()));
  CHECK(executor.started_threads() == 3);
}

TEST_CASE("Executor: tasks beyond the number of threads wait for a free one",
          "[runtime][executor]") {
  Executor executor(2);
  absl::Notification release;
  Countdown two_running(2);
  std::atomic<int> started{0};
  for (int i = 0; i < 3; ++i) {
    executor.Submit([&] {
      ++started;
      two_running.Decrement();
      (void)release.WaitForNotificationWithTimeout(kLongWait);
    });
  }
  REQUIRE(two_running.WaitFor(kLongWait));
  CHECK_FALSE(executor.WaitIdle(absl::Now() + absl::Milliseconds(20)));
  CHECK(started == 2);
  release.Notify();
  REQUIRE(executor.WaitIdle(Soon()));
  CHECK(started == 3);
}

TEST_CASE("Executor: SubmitAll of no task does nothing", "[runtime][executor]") {
  Executor executor(1);
  std::vector<std::function<void()>> none;
  executor.SubmitAll(&none);
  CHECK(executor.WaitIdle(absl::Now()));
}

TEST_CASE("Executor: WaitIdle is false while a task runs, true once it finished",
          "[runtime][executor]") {
  Executor executor(1);
  CHECK(executor.WaitIdle(absl::InfinitePast()));  // idle from the start

  absl::Notification running;
  absl::Notification release;
  std::atomic<int> ran{0};
  executor.Submit([&] {
    running.Notify();
    (void)release.WaitForNotificationWithTimeout(kLongWait);
    ++ran;
  });
  // Nothing queued, one task running.
  REQUIRE(running.WaitForNotificationWithTimeout(kLongWait));
  CHECK_FALSE(executor.WaitIdle(absl::Now() + absl::Milliseconds(20)));

  release.Notify();
  CHECK(executor.WaitIdle(absl::InfiniteFuture()));
  CHECK(ran == 1);
}

TEST_CASE("Executor: WaitIdle is false while a task waits in the queue", "[runtime][executor]") {
  Executor executor(1);
  absl::Notification release;
  std::atomic<int> ran{0};
  executor.Submit([&] {
    (void)release.WaitForNotificationWithTimeout(kLongWait);
    ++ran;
  });
  executor.Submit([&] { ++ran; });  // queued behind the first
  CHECK_FALSE(executor.WaitIdle(absl::Now() + absl::Milliseconds(20)));
  CHECK(ran == 0);

  release.Notify();
  CHECK(executor.WaitIdle(Soon()));
  CHECK(ran == 2);
}

TEST_CASE("Executor: tasks from concurrent producers each run exactly once",
          "[runtime][executor]") {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 500;
  Executor executor(3);
  std::vector<std::atomic<int>> runs(kProducers * kPerProducer);
  {
    std::vector<std::unique_ptr<BoundedThread>> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.push_back(std::make_unique<BoundedThread>([&, p] {
        std::vector<std::function<void()>> batch;
        for (int i = 0; i < kPerProducer; ++i) {
          const int id = p * kPerProducer + i;
          std::function<void()> task = [&runs, id] { ++runs[id]; };
          // Half one by one, half in batches of ten.
          if (i % 2 == 0) {
            executor.Submit(std::move(task));
          } else {
            batch.push_back(std::move(task));
            if (batch.size() == 10) executor.SubmitAll(&batch);
          }
        }
        executor.SubmitAll(&batch);
      }));
    }
    for (auto& producer : producers) REQUIRE(producer->JoinWithin(kLongWait));
  }
  REQUIRE(executor.WaitIdle(Soon()));
  for (size_t id = 0; id < runs.size(); ++id) {
    INFO("task " << id);
    CHECK(runs[id] == 1);
  }
}

TEST_CASE("Executor: destruction runs every task already submitted, then joins",
          "[runtime][executor]") {
  auto executor = std::make_unique<Executor>(1);
  absl::Notification blocker_running;
  absl::Notification release;
  std::atomic<int> ran{0};
  executor->Submit([&] {
    blocker_running.Notify();
    (void)release.WaitForNotificationWithTimeout(kLongWait);
    ++ran;
  });
  for (int i = 0; i < 50; ++i) executor->Submit([&] { ++ran; });
  REQUIRE(blocker_running.WaitForNotificationWithTimeout(kLongWait));

  BoundedThread destroy([&] { executor.reset(); });
  // The destructor waits for the tasks, which wait for `release`.
  CHECK_FALSE(destroy.FinishedWithin(absl::Milliseconds(50)));
  release.Notify();
  REQUIRE(destroy.JoinWithin(kLongWait));
  CHECK(ran == 51);
}

TEST_CASE("Executor: a task submitted by a running task during destruction still runs",
          "[runtime][executor]") {
  auto executor = std::make_unique<Executor>(2);
  absl::Notification running;
  absl::Notification release;
  absl::Notification follow_up_ran;
  Executor* raw = executor.get();
  executor->Submit([&, raw] {
    running.Notify();
    (void)release.WaitForNotificationWithTimeout(kLongWait);
    raw->Submit([&] { follow_up_ran.Notify(); });
  });
  REQUIRE(running.WaitForNotificationWithTimeout(kLongWait));
  BoundedThread destroy([&] { executor.reset(); });
  CHECK_FALSE(destroy.FinishedWithin(absl::Milliseconds(50)));
  release.Notify();
  REQUIRE(destroy.JoinWithin(kLongWait));
  CHECK(follow_up_ran.HasBeenNotified());
}

TEST_CASE("Executor: an idle executor is destroyed promptly", "[runtime][executor]") {
  auto executor = std::make_unique<Executor>(4);
  BoundedThread destroy([&] { executor.reset(); });
  CHECK(destroy.JoinWithin(kLongWait));
}

}  // namespace
