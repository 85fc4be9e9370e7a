// Worker pools through real worker processes.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
using iw::testing::SpawnPoolOrDie;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;
using iwtest::TestServiceHost;

iwtest::SleepRequest SleepFor(int64_t ms, int64_t tag = 0) {
  iwtest::SleepRequest request;
  request.set_ms(ms);
  request.set_tag(tag);
  return request;
}

// Collects async results.
struct Results {
  absl::Mutex mu;
  std::vector<absl::StatusOr<iwtest::SleepReply>> replies;
  auto Callback() {
    return [this](absl::StatusOr<iwtest::SleepReply> reply) {
      absl::MutexLock lock(&mu);
      replies.push_back(std::move(reply));
    };
  }
  bool WaitFor(size_t n, absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu);
    auto done = [&] { return replies.size() >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
};

iw::CallOptions Patient() {
  iw::CallOptions options;
  options.timeout = absl::Seconds(30);
  return options;
}

TEST_CASE("Pool: more calls than workers x concurrency queue up and all complete", "[e2e][pool]") {
  {
    iw::PoolOptions pool;
    pool.min_workers = 2;
    pool.max_workers = 2;
    pool.max_calls_per_worker = 1;
    auto host = SpawnPoolOrDie(pool);
    CHECK(host->stats().workers == 2);
    Results results;
    constexpr int kCalls = 20;
    // Every call runs until `release` exists (they used to sleep 30 ms: on
    // a loaded machine the first ones could end before the stats below).
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string release = absl::StrCat(tmp ? tmp : "/tmp", "/pool-release-", ::getpid(), "-",
                                             absl::ToUnixNanos(absl::Now()));
    for (int i = 0; i < kCalls; ++i) {
      iwtest::SleepRequest request = SleepFor(20000, i);
      request.set_until_exists(release);
      host->SleepAsync(request, results.Callback(), Patient());
    }
    iw::PoolStats during = host->stats();
    CHECK(during.calls_in_flight == 2);  // one per worker, the rest wait
    CHECK(during.calls_queued == kCalls - 2);
    std::ofstream(release).put('x');
    REQUIRE(results.WaitFor(kCalls));
    std::set<int> pids, tags;
    for (const auto& reply : results.replies) {
      REQUIRE_THAT(reply.status(), IsOk());
      pids.insert(reply->pid());
      tags.insert(static_cast<int>(reply->tag()));
    }
    CHECK(pids.size() == 2);  // both workers served
    CHECK(tags.size() == kCalls);
    iw::PoolStats after = host->stats();
    CHECK(after.calls_completed == kCalls);
    CHECK(after.calls_failed == 0);
    CHECK(after.calls_in_flight == 0);
    CHECK(after.calls_queued == 0);
    CHECK(after.workers_idle == 2);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Pool: least-loaded dispatch spreads concurrent calls over the workers", "[e2e][pool]") {
  {
    iw::PoolOptions pool;
    pool.min_workers = 3;
    pool.max_workers = 3;
    auto host = SpawnPoolOrDie(pool);
    Results results;
    for (int i = 0; i < 3; ++i) host->SleepAsync(SleepFor(200, i), results.Callback(), Patient());
    REQUIRE(results.WaitFor(3));
    std::set<int> pids;
    for (const auto& reply : results.replies) {
      REQUIRE_THAT(reply.status(), IsOk());
      pids.insert(reply->pid());
    }
    CHECK(pids.size() == 3);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Pool: a full queue rejects at once with RESOURCE_EXHAUSTED", "[e2e][pool]") {
  {
    iw::PoolOptions pool;
    pool.max_calls_per_worker = 1;
    pool.max_queued_calls = 2;
    auto host = SpawnPoolOrDie(pool);
    Results results;
    for (int i = 0; i < 3; ++i) host->SleepAsync(SleepFor(300, i), results.Callback(), Patient());
    // 1 running + 2 waiting: the next one is refused without waiting.
    absl::Time start = absl::Now();
    absl::Status refused = host->Sleep(SleepFor(0), Patient()).status();
    CHECK(absl::Now() - start < absl::Milliseconds(250));
    CHECK_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                 "iwtest.TestService.Sleep: all workers are busy and the queue "
                                 "is full (2 calls waiting)"));
    REQUIRE(results.WaitFor(3));
    for (const auto& reply : results.replies) CHECK_THAT(reply.status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Pool: a queued call expires by its own deadline while it waits", "[e2e][pool]") {
  {
    iw::PoolOptions pool;
    pool.max_calls_per_worker = 1;
    auto host = SpawnPoolOrDie(pool);
    Results busy;
    host->SleepAsync(SleepFor(1000), busy.Callback(), Patient());
    iw::CallOptions quick;
    quick.timeout = absl::Milliseconds(60);
    SECTION("sync") {
      CHECK_THAT(host->Sleep(SleepFor(0), quick).status(),
                 StatusIs(absl::StatusCode::kDeadlineExceeded,
                          "deadline exceeded after 60ms (timeout from CallOptions::timeout) "
                          "while waiting for a free worker"));
    }
    SECTION("async") {
      Results waiting;
      host->SleepAsync(SleepFor(0), waiting.Callback(), quick);
      REQUIRE(waiting.WaitFor(1, absl::Seconds(5)));
      CHECK_THAT(waiting.replies[0].status(),
                 StatusIs(absl::StatusCode::kDeadlineExceeded, "while waiting for a free worker"));
    }
    CHECK(host->stats().calls_queued == 0);
    REQUIRE(busy.WaitFor(1));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Pool: idle workers retire and new ones start on demand", "[e2e][pool]") {
  {
    iw::PoolOptions pool;
    pool.min_workers = 0;
    pool.max_workers = 2;
    pool.lazy_start = true;
    pool.idle_timeout = absl::Milliseconds(200);
    auto host = SpawnPoolOrDie(pool);
    CHECK(host->stats().workers == 0);
    CHECK(host->pid() == 0);
    absl::StatusOr<iwtest::EchoReply> first = host->Echo(iwtest::EchoRequest());
    REQUIRE_THAT(first.status(), IsOk());
    CHECK(host->stats().workers == 1);
    // Idle past the timeout: retired.
    for (int i = 0; i < 300 && host->stats().workers > 0; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    CHECK(host->stats().workers == 0);
    // Demand again: a new worker.
    absl::StatusOr<iwtest::EchoReply> second = host->Echo(iwtest::EchoRequest());
    REQUIRE_THAT(second.status(), IsOk());
    CHECK(second->pid() != first->pid());
    CHECK(host->stats().workers_spawned == 2);
    CHECK(host->stats().workers_crashed == 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Pool: a worker killed under load is replaced and no queued call is lost",
          "[e2e][pool]") {
  {
    iw::PoolOptions pool;
    pool.min_workers = 2;
    pool.max_workers = 2;
    pool.max_calls_per_worker = 1;
    iwtest::TestServiceMethodConfig methods;
    methods.sleep.on_crash = iw::CrashPolicy::kRetry;  // the in-flight one too
    auto host = SpawnPoolOrDie(pool, methods);
    Results results;
    constexpr int kCalls = 40;
    for (int i = 0; i < kCalls; ++i)
      host->SleepAsync(SleepFor(20, i), results.Callback(), Patient());
    absl::SleepFor(absl::Milliseconds(100));
    REQUIRE(::kill(host->pid(), SIGKILL) == 0);
    REQUIRE(results.WaitFor(kCalls));
    std::set<int> tags;
    for (const auto& reply : results.replies) {
      CHECK_THAT(reply.status(), IsOk());
      if (reply.ok()) tags.insert(static_cast<int>(reply->tag()));
    }
    CHECK(tags.size() == kCalls);
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_crashed == 1);
    CHECK(stats.workers_spawned == 3);
    CHECK(stats.calls_completed == kCalls);
    CHECK(stats.calls_failed == 0);
    CHECK(stats.workers == 2);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Pool: bad pool options are INVALID_ARGUMENT", "[e2e][pool]") {
  iw::PoolOptions pool;
  pool.min_workers = 3;
  pool.max_workers = 2;
  CHECK_THAT(TestServiceHost::SpawnPool(TestWorkerOptions(), pool).status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "min_workers <= max_workers"));
  CHECK(NoChildProcesses());
}

}  // namespace
