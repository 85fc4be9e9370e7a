// The pool's calls over fake workers (tests/runtime/fake_endpoint.h): where a
// call goes, how it waits, what the crash policy does with it, Close() and
// Cancel(). No process, no sleep as synchronisation.
#include "runtime/host/worker_pool.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "google/protobuf/wrappers.pb.h"
#include "runtime/worker_crash.h"
#include "tests/runtime/fake_endpoint.h"
#include "tests/testing/status_matchers.h"

namespace {

using google::protobuf::Int64Value;
using iw::codegen::MethodInfo;
using iw::codegen::ServiceInfo;
using iw::internal::WorkerPool;
using iw::internal::testing::Eventually;
using iw::internal::testing::FakeCall;
using iw::internal::testing::FakeWorkers;
using iw::internal::testing::kWait;
using iw::testing::IsOk;
using iw::testing::StatusIs;

constexpr int kReject = 0;
constexpr int kRetry = 1;
constexpr int kReplace = 2;
constexpr MethodInfo kMethods[] = {
    {"Reject", "/t.Pool/Reject"},
    {"Retry", "/t.Pool/Retry", /*timeout_ms=*/0, /*on_deadline=*/0, /*deadline_grace_ms=*/-1,
     /*on_crash=*/1, /*max_attempts=*/3},
    {"Replace", "/t.Pool/Replace", /*timeout_ms=*/0, /*on_deadline=*/1, /*deadline_grace_ms=*/0},
};
constexpr ServiceInfo kService = {"t.Pool", kMethods, 3};

Int64Value Tag(int64_t tag) {
  Int64Value value;
  value.set_value(tag);
  return value;
}

int64_t TagOf(const FakeCall& call) {
  Int64Value value;
  REQUIRE(value.ParseFromString(call.request()));
  return value.value();
}

iw::PoolOptions Pool(int min_workers, int max_workers, int per_worker) {
  iw::PoolOptions pool;
  pool.min_workers = min_workers;
  pool.max_workers = max_workers;
  pool.max_calls_per_worker = per_worker;
  return pool;
}

std::unique_ptr<WorkerPool> StartOrDie(FakeWorkers& workers, const iw::PoolOptions& pool,
                                       iw::WorkerOptions options = {}) {
  auto started = WorkerPool::Start(kService, std::move(options), {}, pool, workers.Factory());
  REQUIRE_THAT(started.status(), IsOk());
  return *std::move(started);
}

iw::CallOptions Within(absl::Duration timeout) {
  iw::CallOptions options;
  options.timeout = timeout;
  return options;
}

// Results of async calls by tag; every callback is counted.
class AsyncResults {
 public:
  std::function<void(absl::Status)> Callback(int64_t tag) {
    return [this, tag](absl::Status status) {
      absl::MutexLock lock(&mu_);
      results_[tag].push_back(std::move(status));
      ++callbacks_;
    };
  }
  bool WaitFor(int callbacks, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, callbacks]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return callbacks_ >= callbacks; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  int count(int64_t tag) {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(results_[tag].size());
  }
  absl::Status status(int64_t tag) {
    absl::MutexLock lock(&mu_);
    return results_[tag].empty() ? absl::UnknownError("no result") : results_[tag].front();
  }
  int callbacks() {
    absl::MutexLock lock(&mu_);
    return callbacks_;
  }

 private:
  absl::Mutex mu_;
  std::map<int64_t, std::vector<absl::Status>> results_ ABSL_GUARDED_BY(mu_);
  int callbacks_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_CASE("Pool: a blocking call runs on the caller's thread and returns the worker's answer",
          "[runtime][pool]") {
  FakeWorkers workers(kService);
  workers.AnswerWith([](FakeCall& call) {
    static_cast<Int64Value*>(call.response())->set_value(TagOf(call) * 2);
    return absl::OkStatus();
  });
  auto pool = StartOrDie(workers, Pool(1, 1, 0));
  Int64Value reply;
  CHECK_THAT(pool->Call(kReject, Tag(21), &reply, {}), IsOk());
  CHECK(reply.value() == 42);
  REQUIRE(workers.calls() == 1);
  // No hop: the endpoint's blocking Call ran on this very thread.
  CHECK(workers.call(0)->thread() == std::this_thread::get_id());
  CHECK_FALSE(workers.call(0)->async());
  iw::PoolStats stats = pool->stats();
  CHECK(stats.calls_completed == 1);
  CHECK(stats.calls_in_flight == 0);
}

TEST_CASE("Pool: each call goes to the least-loaded worker, not round robin", "[runtime][pool]") {
  FakeWorkers workers(kService);
  auto pool = StartOrDie(workers, Pool(2, 2, 10));
  REQUIRE(workers.workers() == 2);
  const std::string first = workers.worker(0)->id();
  const std::string second = workers.worker(1)->id();
  AsyncResults results;
  std::vector<Int64Value> replies(5);
  // Both idle: the first listed wins ties.
  pool->CallAsync(kReject, Tag(0), &replies[0], {}, results.Callback(0));
  pool->CallAsync(kReject, Tag(1), &replies[1], {}, results.Callback(1));
  pool->CallAsync(kReject, Tag(2), &replies[2], {}, results.Callback(2));
  REQUIRE(workers.WaitForCalls(3));
  CHECK(workers.call(0)->worker_id() == first);
  CHECK(workers.call(1)->worker_id() == second);
  CHECK(workers.call(2)->worker_id() == first);
  // `second` is now idle and `first` has two calls: the next two calls both
  // go to `second` (round robin would alternate).
  workers.call(1)->Answer(absl::OkStatus());
  REQUIRE(results.WaitFor(1));
  pool->CallAsync(kReject, Tag(3), &replies[3], {}, results.Callback(3));
  pool->CallAsync(kReject, Tag(4), &replies[4], {}, results.Callback(4));
  REQUIRE(workers.WaitForCalls(5));
  CHECK(workers.call(3)->worker_id() == second);
  CHECK(workers.call(4)->worker_id() == second);
  for (int i : {0, 2, 3, 4}) workers.call(i)->Answer(absl::OkStatus());
  REQUIRE(results.WaitFor(5));
  CHECK(pool->stats().calls_completed == 5);
}

TEST_CASE(
    "Pool: calls beyond the workers' limit wait in FIFO order, and one more than the "
    "queue holds fails at once with RESOURCE_EXHAUSTED",
    "[runtime][pool]") {
  FakeWorkers workers(kService);
  iw::PoolOptions options = Pool(1, 1, 1);
  options.max_queued_calls = 3;
  auto pool = StartOrDie(workers, options);
  AsyncResults results;
  std::vector<Int64Value> replies(5);
  for (int i = 0; i < 4; ++i) {
    pool->CallAsync(kReject, Tag(i), &replies[i], {}, results.Callback(i));
  }
  REQUIRE(workers.WaitForCalls(1));
  CHECK(pool->stats().calls_queued == 3);
  // The fifth finds the queue full: refused on the spot, nothing queued.
  pool->CallAsync(kReject, Tag(4), &replies[4], {}, results.Callback(4));
  CHECK(results.count(4) == 1);
  CHECK_THAT(results.status(4), StatusIs(absl::StatusCode::kResourceExhausted,
                                         "t.Pool.Reject: all workers are busy and the queue is "
                                         "full (3 calls waiting)"));
  CHECK(pool->stats().calls_queued == 3);
  // Each answer lets the oldest waiting call in.
  for (int i = 0; i < 4; ++i) {
    REQUIRE(workers.WaitForCalls(i + 1));
    CHECK(TagOf(*workers.call(i)) == i);
    workers.call(i)->Answer(absl::OkStatus());
  }
  REQUIRE(results.WaitFor(5));
  for (int i = 0; i < 4; ++i) CHECK_THAT(results.status(i), IsOk());
  CHECK(pool->stats().calls_failed == 1);
}

TEST_CASE("Pool: a queued call fails with DEADLINE_EXCEEDED at its own deadline",
          "[runtime][pool]") {
  FakeWorkers workers(kService);
  auto pool = StartOrDie(workers, Pool(1, 1, 1));
  AsyncResults results;
  Int64Value busy_reply, reply;
  pool->CallAsync(kReject, Tag(0), &busy_reply, {}, results.Callback(0));
  REQUIRE(workers.WaitForCalls(1));

  SECTION("blocking") {
    absl::Status status = pool->Call(kReject, Tag(1), &reply, Within(absl::Milliseconds(20)));
    CHECK_THAT(status,
               StatusIs(absl::StatusCode::kDeadlineExceeded, "while waiting for a free worker"));
    CHECK_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded, "CallOptions::timeout"));
  }
  SECTION("async") {
    pool->CallAsync(kReject, Tag(1), &reply, Within(absl::Milliseconds(20)), results.Callback(1));
    REQUIRE(results.WaitFor(1));
    CHECK_THAT(results.status(1),
               StatusIs(absl::StatusCode::kDeadlineExceeded, "while waiting for a free worker"));
  }
  // It never reached the worker, and left the queue.
  CHECK(workers.calls() == 1);
  CHECK(pool->stats().calls_queued == 0);
  const int before = results.callbacks();
  workers.call(0)->Answer(absl::OkStatus());
  REQUIRE(results.WaitFor(before + 1));
}

TEST_CASE("Pool: under CrashPolicy::kReject a call lost with its worker fails with UNAVAILABLE",
          "[runtime][pool]") {
  FakeWorkers workers(kService);
  auto pool = StartOrDie(workers, Pool(1, 1, 0));
  Int64Value reply;
  absl::Status status;
  std::thread caller([&] { status = pool->Call(kReject, Tag(0), &reply, {}); });
  REQUIRE(workers.WaitForCalls(1));
  workers.worker(0)->Crash();
  caller.join();
  CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                              "t.Pool.Reject: worker Fake#1 crashed: exit code 3"));
  CHECK_FALSE(absl::StrContains(status.message(), "attempt"));
  std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
  REQUIRE(crash.has_value());
  CHECK(crash->method() == "t.Pool.Reject");
  CHECK(crash->attempt() == 1);
  CHECK(crash->max_attempts() == 1);
  CHECK(workers.calls() == 1);  // not run again
}

TEST_CASE(
    "Pool: under CrashPolicy::kRetry a call lost with its worker runs again on a fresh "
    "worker, up to max_attempts",
    "[runtime][pool]") {
  FakeWorkers workers(kService);
  auto pool = StartOrDie(workers, Pool(1, 1, 0));
  Int64Value reply;
  AsyncResults results;
  std::thread caller;
  absl::Status sync_status;
  const bool async = GENERATE(false, true);
  if (async) {
    pool->CallAsync(kRetry, Tag(7), &reply, {}, results.Callback(7));
  } else {
    caller = std::thread([&] { sync_status = pool->Call(kRetry, Tag(7), &reply, {}); });
  }

  // The call's final status, once it has one.
  auto outcome = [&] {
    if (async) {
      REQUIRE(results.WaitFor(1));
      return results.status(7);
    }
    caller.join();
    return sync_status;
  };

  SECTION("a retry that succeeds returns the answer as is") {
    REQUIRE(workers.WaitForCalls(1));
    reply.set_value(99);  // a partial answer of the lost attempt
    workers.worker(0)->Crash();
    REQUIRE(workers.WaitForCalls(2));
    std::shared_ptr<FakeCall> retry = workers.call(1);
    CHECK(retry->worker_id() == "Fake#2");
    CHECK(TagOf(*retry) == 7);  // the same request again
    CHECK(reply.value() == 0);  // cleared for the retry
    retry->Answer(absl::OkStatus());
    const absl::Status status = outcome();
    CHECK_THAT(status, IsOk());
  }
  SECTION("the last failure says which attempt it was") {
    for (int attempt = 1; attempt <= 3; ++attempt) {
      REQUIRE(workers.WaitForCalls(attempt));
      REQUIRE(workers.WaitForStarts(attempt));
      workers.worker(attempt - 1)->Crash();
    }
    const absl::Status status = outcome();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                "t.Pool.Retry: worker Fake#3 crashed: exit code 3 "
                                "(attempt 3 of 3)"));
    std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
    REQUIRE(crash.has_value());
    CHECK(crash->attempt() == 3);
    CHECK(crash->max_attempts() == 3);
    CHECK(workers.calls() == 3);
    CHECK(pool->stats().workers_crashed == 3);
  }
  if (caller.joinable()) caller.join();
}

TEST_CASE("Pool: a call whose worker died after its deadline is not run again", "[runtime][pool]") {
  FakeWorkers workers(kService);
  auto pool = StartOrDie(workers, Pool(1, 1, 0));
  AsyncResults results;
  Int64Value reply;
  pool->CallAsync(kRetry, Tag(0), &reply, Within(absl::Milliseconds(10)), results.Callback(0));
  REQUIRE(workers.WaitForCalls(1));
  // Waiting for the clock itself (the fake ignores deadlines): the deadline
  // passes while the call is on the worker.
  const absl::Time deadline = workers.call(0)->deadline();
  while (absl::Now() <= deadline) absl::SleepFor(deadline - absl::Now() + absl::Milliseconds(1));
  workers.worker(0)->Crash();
  REQUIRE(results.WaitFor(1));
  CHECK_THAT(results.status(0), StatusIs(absl::StatusCode::kUnavailable, "(attempt 1 of 3)"));
  CHECK(workers.calls() == 1);
}

TEST_CASE(
    "Pool: under RespawnPolicy::kNever, calls after the last worker died fail with its "
    "death",
    "[runtime][pool]") {
  FakeWorkers workers(kService);
  iw::WorkerOptions options;
  options.respawn = iw::RespawnPolicy::kNever;
  auto pool = StartOrDie(workers, Pool(1, 1, 0), options);
  workers.worker(0)->Crash();
  REQUIRE(workers.WaitForCloses(1));  // the dead worker left the pool
  Int64Value reply;
  CHECK_THAT(pool->Call(kRetry, Tag(0), &reply, {}),
             StatusIs(absl::StatusCode::kUnavailable,
                      "t.Pool.Retry: worker Fake#1 crashed: exit code 3 (RespawnPolicy::kNever)"));
  CHECK(workers.starts() == 1);
  CHECK(workers.calls() == 0);
  CHECK(pool->state() == iw::WorkerState::kCrashed);
}

TEST_CASE("Pool: a DEADLINE_REPLACE_WORKER call that overran moves later calls to a new worker",
          "[runtime][pool]") {
  FakeWorkers workers(kService);
  auto pool = StartOrDie(workers, Pool(1, 1, 0));
  workers.AnswerWith([](FakeCall& call) {
    return call.worker_id() == "Fake#1" ? absl::DeadlineExceededError("t.Pool.Replace: overran")
                                        : absl::OkStatus();
  });
  Int64Value reply;
  CHECK_THAT(pool->Call(kReplace, Tag(0), &reply, {}),
             StatusIs(absl::StatusCode::kDeadlineExceeded, "overran"));
  // Drained: closed once idle (not counted as a crash), and replaced.
  REQUIRE(workers.WaitForCloses(1));
  CHECK_THAT(pool->Call(kReplace, Tag(1), &reply, {}), IsOk());
  CHECK(workers.call(1)->worker_id() == "Fake#2");
  CHECK(pool->stats().workers_crashed == 0);
}

TEST_CASE(
    "Pool: Close fails queued calls, ends the calls in flight, and returns after every "
    "callback ran",
    "[runtime][pool]") {
  FakeWorkers workers(kService);
  auto pool = StartOrDie(workers, Pool(1, 1, 2));
  AsyncResults results;
  std::vector<Int64Value> replies(4);
  pool->CallAsync(kReject, Tag(0), &replies[0], {}, results.Callback(0));
  absl::Status sync_status;
  std::thread caller([&] { sync_status = pool->Call(kReject, Tag(1), &replies[1], {}); });
  REQUIRE(workers.WaitForCalls(2));
  pool->CallAsync(kReject, Tag(2), &replies[2], {}, results.Callback(2));  // queued
  absl::Status queued_sync;
  std::thread queued_caller([&] { queued_sync = pool->Call(kReject, Tag(3), &replies[3], {}); });
  // The blocking one is queued too (it says so only through the stats).
  REQUIRE(Eventually([&] { return pool->stats().calls_queued == 2; }));

  CHECK_THAT(pool->Close({}), IsOk());
  // Every async callback ran before Close() returned.
  CHECK(results.callbacks() == 2);
  caller.join();
  queued_caller.join();
  CHECK_THAT(results.status(0), StatusIs(absl::StatusCode::kUnavailable, "Fake#1 closed"));
  CHECK_THAT(sync_status, StatusIs(absl::StatusCode::kUnavailable, "Fake#1 closed"));
  CHECK_THAT(results.status(2),
             StatusIs(absl::StatusCode::kFailedPrecondition, "t.Pool.Reject: the host is closing"));
  CHECK_THAT(queued_sync,
             StatusIs(absl::StatusCode::kFailedPrecondition, "t.Pool.Reject: the host is closing"));
  CHECK(workers.worker(0)->closed());
  CHECK(pool->state() == iw::WorkerState::kClosed);
  // A call after Close is refused.
  Int64Value reply;
  CHECK_THAT(pool->Call(kReject, Tag(9), &reply, {}),
             StatusIs(absl::StatusCode::kFailedPrecondition, "is closed"));
  CHECK(results.count(0) == 1);
  CHECK(results.count(2) == 1);
}

TEST_CASE("Pool: Cancel takes a queued call out of the queue with CANCELLED", "[runtime][pool]") {
  FakeWorkers workers(kService);
  auto pool = StartOrDie(workers, Pool(1, 1, 1));
  AsyncResults results;
  Int64Value busy, reply;
  pool->CallAsync(kReject, Tag(0), &busy, {}, results.Callback(0));
  REQUIRE(workers.WaitForCalls(1));
  iw::CallHandle queued = pool->CallAsync(kReject, Tag(1), &reply, {}, results.Callback(1));
  CHECK(pool->stats().calls_queued == 1);
  queued.Cancel();
  REQUIRE(results.WaitFor(1));
  CHECK_THAT(results.status(1),
             StatusIs(absl::StatusCode::kCancelled, "t.Pool.Reject: cancelled by the host"));
  CHECK(pool->stats().calls_queued == 0);
  queued.Cancel();  // idempotent
  workers.call(0)->Answer(absl::OkStatus());
  REQUIRE(results.WaitFor(2));
  CHECK(workers.calls() == 1);  // the cancelled call never reached a worker
}

TEST_CASE("Pool: an async callback runs exactly once, whatever Cancel races with",
          "[runtime][pool]") {
  FakeWorkers workers(kService);
  AsyncResults results;
  constexpr int kRounds = 200;
  {
    // One call on the worker at a time: the next waits in the queue, so a
    // Cancel races with the answer, the dispatch from the queue, the issue
    // to the worker, or nothing (the call already finished).
    auto pool = StartOrDie(workers, Pool(1, 1, 1));
    std::vector<Int64Value> replies(kRounds);
    std::vector<iw::CallHandle> handles;
    for (int i = 0; i < kRounds; ++i) {
      handles.push_back(
          pool->CallAsync(kReject, Tag(i), &replies[i], Within(kWait), results.Callback(i)));
    }
    std::thread canceller([&] {
      for (int i = kRounds - 1; i >= 0; i -= 2) handles[i].Cancel();
    });
    // Answer whatever reaches the worker until every call has finished.
    for (int answered = 0; results.callbacks() < kRounds;) {
      if (workers.WaitForCalls(answered + 1, absl::Milliseconds(10))) {
        workers.call(answered)->Answer(absl::OkStatus());
        ++answered;
      }
      REQUIRE(workers.calls() <= kRounds);
    }
    canceller.join();
    for (auto& handle : handles) handle.Cancel();  // after the end: no effect
    CHECK_THAT(pool->Close({}), IsOk());
  }
  CHECK(results.callbacks() == kRounds);
  for (int i = 0; i < kRounds; ++i) {
    INFO("call " << i);
    CHECK(results.count(i) == 1);
    if (i % 2 == 0) CHECK_THAT(results.status(i), IsOk());  // never cancelled
  }
}

}  // namespace
