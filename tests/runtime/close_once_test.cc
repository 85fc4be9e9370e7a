// CloseOnce: the first Run() closes, every other caller waits for that close
// and returns its result; a re-entrant Run() fails instead of deadlocking.
#include "runtime/common/close_once.h"

#include <atomic>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "catch2/catch.hpp"
#include "tests/runtime/bounded_waits.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::internal::CloseOnce;
using iw::testing::BoundedThread;
using iw::testing::kLongWait;
using iw::testing::StatusIs;

TEST_CASE("CloseOnce: the first Run closes and every later Run returns the same result",
          "[runtime][close_once]") {
  CloseOnce once;
  int closes = 0;
  auto close = [&] {
    ++closes;
    return absl::UnavailableError("worker died");
  };
  CHECK_THAT(once.Run(close), StatusIs(absl::StatusCode::kUnavailable, "worker died"));
  CHECK_THAT(once.Run(close), StatusIs(absl::StatusCode::kUnavailable, "worker died"));
  CHECK_THAT(once.Run([] { return absl::OkStatus(); }),
             StatusIs(absl::StatusCode::kUnavailable, "worker died"));
  CHECK(closes == 1);
}

TEST_CASE("CloseOnce: concurrent callers wait for the close in progress and share its result",
          "[runtime][close_once]") {
  constexpr int kWaiters = 8;
  CloseOnce once;
  std::atomic<int> closes{0};
  std::atomic<bool> close_finished{false};
  absl::Notification close_started;
  absl::Notification release_close;
  auto close = [&] {
    ++closes;
    close_started.Notify();
    // Bounded: if nobody releases it, the test fails on the result below.
    if (!release_close.WaitForNotificationWithTimeout(kLongWait)) {
      return absl::InternalError("never released");
    }
    close_finished = true;
    return absl::DeadlineExceededError("grace period passed");
  };

  absl::Status closer_result;
  BoundedThread closer([&] { closer_result = once.Run(close); });
  REQUIRE(close_started.WaitForNotificationWithTimeout(kLongWait));

  std::vector<absl::Status> results(kWaiters);
  std::atomic<int> returned_early{0};
  std::atomic<int> returned{0};
  absl::Notification any_returned;
  std::vector<std::unique_ptr<BoundedThread>> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(std::make_unique<BoundedThread>([&, i] {
      results[i] = once.Run(close);
      if (!close_finished) ++returned_early;
      if (returned.fetch_add(1) == 0) any_returned.Notify();
    }));
  }
  // While the close is held, no waiter may return (a short look; the check
  // in each waiter catches a late early return as well).
  CHECK_FALSE(any_returned.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  release_close.Notify();

  REQUIRE(closer.JoinWithin(kLongWait));
  for (auto& waiter : waiters) REQUIRE(waiter->JoinWithin(kLongWait));
  CHECK(closes == 1);
  CHECK(returned == kWaiters);
  CHECK(returned_early == 0);
  CHECK_THAT(closer_result, StatusIs(absl::StatusCode::kDeadlineExceeded, "grace period"));
  for (const absl::Status& result : results) {
    CHECK_THAT(result, StatusIs(absl::StatusCode::kDeadlineExceeded, "grace period"));
  }
}

TEST_CASE("CloseOnce: a Run from within the close on the same thread fails at once",
          "[runtime][close_once]") {
  CloseOnce once;
  absl::Status inner;
  int closes = 0;
  absl::Status outer = once.Run([&] {
    ++closes;
    // A callback of the object being closed calling Close() again.
    inner = once.Run([&] {
      ++closes;
      return absl::OkStatus();
    });
    return absl::CancelledError("outer close");
  });
  CHECK_THAT(inner, StatusIs(absl::StatusCode::kFailedPrecondition, "within Close()"));
  CHECK_THAT(outer, StatusIs(absl::StatusCode::kCancelled, "outer close"));
  CHECK(closes == 1);
  // Once the close finished, the same thread gets its result like anyone.
  CHECK_THAT(once.Run([] { return absl::OkStatus(); }), StatusIs(absl::StatusCode::kCancelled));
}

TEST_CASE("CloseOnce: a result set before any Run is what Run returns, without closing",
          "[runtime][close_once]") {
  CloseOnce once;
  once.SetResult(absl::InternalError("failed to start"));
  bool closed = false;
  CHECK_THAT(once.Run([&] {
    closed = true;
    return absl::OkStatus();
  }),
             StatusIs(absl::StatusCode::kInternal, "failed to start"));
  CHECK_FALSE(closed);
}

TEST_CASE("CloseOnce: a result set after a close started is ignored", "[runtime][close_once]") {
  CloseOnce once;
  CHECK_THAT(once.Run([] { return absl::OkStatus(); }), StatusIs(absl::StatusCode::kOk));
  once.SetResult(absl::InternalError("too late"));
  CHECK_THAT(once.Run([] { return absl::UnknownError("unused"); }),
             StatusIs(absl::StatusCode::kOk));
}

}  // namespace
