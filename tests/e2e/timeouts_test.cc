// Deadlines and the deadline policy through real worker processes.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::SpawnOrDie;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;
using iwtest::TestServiceHost;

iwtest::SleepRequest SleepFor(int64_t ms, bool stop_when_cancelled = false) {
  iwtest::SleepRequest request;
  request.set_ms(ms);
  request.set_stop_when_cancelled(stop_when_cancelled);
  return request;
}

TEST_CASE("Timeouts: WorkerOptions::call_timeout wins over the .proto", "[e2e][timeouts]") {
  {
    iw::WorkerOptions options = TestWorkerOptions();
    options.call_timeout = absl::Milliseconds(80);
    auto host = SpawnOrDie(options);
    CHECK_THAT(host->Sleep(SleepFor(1000)).status(),
               StatusIs(absl::StatusCode::kDeadlineExceeded,
                        "deadline exceeded after 80ms (timeout from WorkerOptions::call_timeout)"));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Timeouts: the service default reaches the handler as its deadline", "[e2e][timeouts]") {
  {
    auto host = SpawnOrDie();
    // Echo has no method timeout: (iw.service).default_timeout_ms = 20000.
    absl::StatusOr<iwtest::EchoReply> reply = host->Echo(iwtest::EchoRequest());
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->deadline_left_ms() > 15000);
    CHECK(reply->deadline_left_ms() <= 20100);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Timeouts: by default a handler past its deadline is left running", "[e2e][timeouts]") {
  {
    auto host = SpawnOrDie();
    const int pid = host->pid();
    iw::CallOptions quick;
    quick.timeout = absl::Milliseconds(50);
    CHECK_THAT(host->Sleep(SleepFor(400), quick).status(),
               StatusIs(absl::StatusCode::kDeadlineExceeded));
    absl::SleepFor(absl::Milliseconds(600));  // the handler finishes meanwhile
    absl::StatusOr<iwtest::EchoReply> reply = host->Echo(iwtest::EchoRequest());
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->pid() == pid);  // same worker
    CHECK(host->stats().workers_crashed == 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Timeouts: DEADLINE_REPLACE_WORKER replaces a worker whose handler overruns",
          "[e2e][timeouts]") {
  {
    iwtest::TestServiceMethodConfig methods;
    methods.sleep.on_deadline = iw::DeadlinePolicy::kReplaceWorker;
    const absl::Duration bound = absl::Milliseconds(100) * iw::testing::kSanitizerSlowdown;
    methods.sleep.deadline_grace = bound;
    iw::WorkerOptions options = TestWorkerOptions();
    options.stderr_mode = iw::OutputMode::kDiscard;
    auto host = SpawnOrDie(options, methods);
    const int pid = host->pid();

    // A bystander call on the same worker, with a long deadline.
    absl::Notification bystander_done;
    absl::Status bystander;
    iw::CallOptions patient;
    patient.timeout = absl::Seconds(20);
    host->SleepAsync(
        SleepFor(5000),
        [&](absl::StatusOr<iwtest::SleepReply> reply) {
          bystander = reply.status();
          bystander_done.Notify();
        },
        patient);

    // The stuck call: its handler ignores cancellation.
    iw::CallOptions quick;
    quick.timeout = bound;
    CHECK_THAT(
        host->Sleep(SleepFor(5000), quick).status(),
        StatusIs(absl::StatusCode::kDeadlineExceeded, "after " + absl::FormatDuration(bound)));

    // `bound` later the worker replaces itself; the bystander is told why.
    REQUIRE(bystander_done.WaitForNotificationWithTimeout(absl::Seconds(10) *
                                                          iw::testing::kSanitizerSlowdown));
    CHECK_THAT(bystander, StatusIs(absl::StatusCode::kUnavailable,
                                   "the handler of /iwtest.TestService/Sleep was still running " +
                                       absl::FormatDuration(bound) +
                                       " after its deadline (DEADLINE_REPLACE_WORKER)"));
    // The next call gets a fresh worker.
    absl::StatusOr<iwtest::EchoReply> reply = host->Echo(iwtest::EchoRequest());
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->pid() != pid);
    CHECK(host->stats().workers_spawned == 2);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Timeouts: late replies never reach another call", "[e2e][timeouts]") {
  {
    auto host = SpawnOrDie();
    constexpr int kLate = 30;
    absl::Mutex mu;
    int expired = 0, finished = 0;
    iw::CallOptions quick;
    quick.timeout = absl::Milliseconds(20);
    for (int i = 0; i < kLate; ++i) {
      iwtest::SleepRequest slow = SleepFor(100);
      slow.set_tag(i);
      host->SleepAsync(
          slow,
          [&](absl::StatusOr<iwtest::SleepReply> reply) {
            absl::MutexLock lock(&mu);
            ++finished;
            if (reply.status().code() == absl::StatusCode::kDeadlineExceeded) ++expired;
          },
          quick);
    }
    {
      absl::MutexLock lock(&mu);
      auto all = [&] { return finished == kLate; };
      REQUIRE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(20)));
      CHECK(expired == kLate);
    }
    // Every later call gets its own reply, never one of the late ones.
    iw::CallOptions patient;
    patient.timeout = absl::Seconds(20);
    for (int j = 0; j < 30; ++j) {
      iwtest::SleepRequest fast = SleepFor(0);
      fast.set_tag(1000 + j);
      absl::StatusOr<iwtest::SleepReply> reply = host->Sleep(fast, patient);
      REQUIRE_THAT(reply.status(), IsOk());
      CHECK(reply->tag() == 1000 + j);
    }
  }
  CHECK(NoChildProcesses());
}

}  // namespace
