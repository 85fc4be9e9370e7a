// HostBase::Metrics() through real worker processes: a known sequence of
// calls, errors, crashes and retries gives known counts and histogram totals.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/metrics.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::HostMetrics;
using iw::MethodMetrics;
using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::SpawnPoolOrDie;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;
using iwtest::TestServiceHost;

const MethodMetrics& MethodOf(const HostMetrics& metrics, const std::string& name) {
  const MethodMetrics* method = metrics.Method(name);
  REQUIRE(method != nullptr);
  return *method;
}

int64_t Code(const MethodMetrics& method, absl::StatusCode code) {
  return method.calls_by_code[static_cast<size_t>(code)];
}

// Polls `host->Metrics()` until `done` holds (crashes are counted once the
// worker's death is fully known, a moment after the call that saw it).
HostMetrics MetricsWhen(const TestServiceHost& host, std::function<bool(const HostMetrics&)> done,
                        absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  HostMetrics metrics = host.Metrics();
  while (!done(metrics) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
    metrics = host.Metrics();
  }
  return metrics;
}

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name, "-", ::getpid());
}

TEST_CASE("Metrics: calls and errors give exact counts per code, bytes and histogram totals",
          "[e2e][metrics]") {
  {
    iw::PoolOptions pool;
    pool.min_workers = pool.max_workers = 2;
    auto host = SpawnPoolOrDie(pool);

    int64_t request_bytes = 0;
    int64_t response_bytes = 0;
    for (int i = 0; i < 5; ++i) {
      iwtest::EchoRequest request;
      request.set_text(std::string(static_cast<size_t>(10 * (i + 1)), 'x'));
      absl::StatusOr<iwtest::EchoReply> reply = host->Echo(request);
      REQUIRE_THAT(reply.status(), IsOk());
      request_bytes += static_cast<int64_t>(request.ByteSizeLong());
      response_bytes += static_cast<int64_t>(reply->ByteSizeLong());
    }
    absl::Mutex mu;
    int answered = 0;
    for (int i = 0; i < 3; ++i) {
      iwtest::EchoRequest request;
      request.set_text(absl::StrCat("async ", i));
      request_bytes += static_cast<int64_t>(request.ByteSizeLong());
      host->EchoAsync(request, [&](absl::StatusOr<iwtest::EchoReply> reply) {
        absl::MutexLock lock(&mu);
        if (reply.ok()) response_bytes += static_cast<int64_t>(reply->ByteSizeLong());
        ++answered;
      });
    }
    {
      absl::MutexLock lock(&mu);
      auto all = [&] { return answered == 3; };
      REQUIRE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(30)));
    }
    for (int code : {3, 3, 5}) {
      iwtest::FailRequest fail;
      fail.set_code(code);
      fail.set_message("as asked");
      CHECK_THAT(host->Fail(fail).status(), StatusIs(static_cast<absl::StatusCode>(code)));
    }

    const HostMetrics metrics = host->Metrics();
    CHECK(metrics.service == "iwtest.TestService");
    CHECK(metrics.taken >= metrics.start_time);
    const MethodMetrics& echo = MethodOf(metrics, "Echo");
    CHECK(echo.method == "/iwtest.TestService/Echo");
    CHECK_FALSE(echo.streaming);
    CHECK(echo.calls_started == 8);
    CHECK(echo.calls_finished == 8);
    CHECK(echo.calls_in_flight == 0);
    CHECK(Code(echo, absl::StatusCode::kOk) == 8);
    CHECK(std::accumulate(echo.calls_by_code.begin(), echo.calls_by_code.end(), int64_t{0}) == 8);
    CHECK(echo.retries == 0);
    CHECK(echo.request_bytes == request_bytes);
    CHECK(echo.response_bytes == response_bytes);
    CHECK(echo.queue_wait.count == 8);
    CHECK(echo.run_time.count == 8);
    CHECK(echo.handler_time.count == 8);
    CHECK(echo.call_time.count == 8);
    CHECK(std::accumulate(echo.call_time.counts.begin(), echo.call_time.counts.end(), int64_t{0}) ==
          8);
    // The worker's share is part of what the host waited for.
    CHECK(echo.handler_time.sum_seconds <= echo.run_time.sum_seconds);
    CHECK(echo.run_time.sum_seconds <= echo.call_time.sum_seconds);
    CHECK(echo.call_time.sum_seconds > 0);

    const MethodMetrics& fail = MethodOf(metrics, "/iwtest.TestService/Fail");
    CHECK(fail.calls_started == 3);
    CHECK(fail.calls_finished == 3);
    CHECK(Code(fail, absl::StatusCode::kInvalidArgument) == 2);
    CHECK(Code(fail, absl::StatusCode::kNotFound) == 1);
    CHECK(Code(fail, absl::StatusCode::kOk) == 0);
    CHECK(fail.handler_time.count == 3);  // the worker answered each
    CHECK(fail.response_bytes == 0);

    const MethodMetrics* sleep = metrics.Method("Sleep");
    REQUIRE(sleep != nullptr);
    CHECK(sleep->calls_started == 0);
    CHECK(sleep->call_time.count == 0);
    CHECK(sleep->call_time.Quantile(0.5) == 0);

    CHECK(metrics.pool.workers_ready == 2);
    CHECK(metrics.pool.workers_idle == 2);
    CHECK(metrics.pool.workers_busy == 0);
    CHECK(metrics.pool.workers_spawned == 2);
    CHECK(metrics.pool.workers_crashed == 0);
    CHECK(metrics.pool.crashes_by_cause.empty());
    CHECK(metrics.pool.calls_queued == 0);
    CHECK(metrics.pool.retries == 0);
    REQUIRE(metrics.workers.size() == 2);
    int64_t served = 0;
    for (const iw::WorkerMetrics& worker : metrics.workers) {
      CHECK(worker.pid > 0);
      CHECK(worker.role == iw::WorkerMetrics::Role::kServing);
      CHECK(worker.calls_in_flight == 0);
      served += worker.calls_served;
    }
    CHECK(served == 11);

    // An interval view: the calls since `metrics` only.
    iwtest::EchoRequest one;
    one.set_text("one more");
    REQUIRE_THAT(host->Echo(one).status(), IsOk());
    const HostMetrics delta = iw::MetricsDelta(host->Metrics(), metrics);
    CHECK(delta.start_time == metrics.taken);
    CHECK(MethodOf(delta, "Echo").calls_finished == 1);
    CHECK(MethodOf(delta, "Echo").call_time.count == 1);
    CHECK(MethodOf(delta, "Echo").request_bytes == static_cast<int64_t>(one.ByteSizeLong()));
    CHECK(MethodOf(delta, "Fail").calls_finished == 0);
    CHECK(delta.pool.workers_spawned == 0);
    CHECK(delta.pool.workers_ready == 2);  // a gauge: now's
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Metrics: a crash retried on a fresh worker counts one retry and the crash by signal",
          "[e2e][metrics]") {
  {
    iwtest::TestServiceMethodConfig methods;
    methods.crash.on_crash = iw::CrashPolicy::kRetry;
    methods.crash.max_attempts = 2;
    iw::PoolOptions pool;
    auto host = SpawnPoolOrDie(pool, methods);

    const std::string marker = TempPath("metrics-crash-once");
    ::unlink(marker.c_str());
    iwtest::CrashRequest crash;
    crash.set_signal(SIGKILL);
    crash.set_crash_once_marker(marker);
    REQUIRE_THAT(host->Crash(crash).status(), IsOk());  // the second attempt answers
    ::unlink(marker.c_str());

    HostMetrics metrics =
        MetricsWhen(*host, [](const HostMetrics& m) { return m.pool.workers_crashed >= 1; });
    const MethodMetrics& method = MethodOf(metrics, "Crash");
    CHECK(method.calls_started == 1);
    CHECK(method.calls_finished == 1);
    CHECK(Code(method, absl::StatusCode::kOk) == 1);
    CHECK(method.retries == 1);
    CHECK(method.queue_wait.count == 2);    // both attempts got a worker
    CHECK(method.run_time.count == 2);      // and were sent to it
    CHECK(method.handler_time.count == 1);  // only the second one answered
    CHECK(method.call_time.count == 1);
    CHECK(metrics.pool.retries == 1);
    CHECK(metrics.pool.workers_crashed == 1);
    CHECK(metrics.pool.crashes_by_cause == std::map<std::string, int64_t>{{"killed_by_signal", 1}});
    CHECK(metrics.pool.crashes_by_signal == std::map<int, int64_t>{{SIGKILL, 1}});
    CHECK(metrics.pool.crashes_by_exit_code.empty());

    // Without a retry: the caller gets UNAVAILABLE, the crash counts by exit code.
    iwtest::CrashRequest exit;
    exit.set_exit_code(7);
    auto plain = SpawnPoolOrDie(pool);
    CHECK_THAT(plain->Crash(exit).status(), StatusIs(absl::StatusCode::kUnavailable));
    metrics = MetricsWhen(*plain, [](const HostMetrics& m) { return m.pool.workers_crashed >= 1; });
    CHECK(Code(MethodOf(metrics, "Crash"), absl::StatusCode::kUnavailable) == 1);
    CHECK(MethodOf(metrics, "Crash").retries == 0);
    CHECK(MethodOf(metrics, "Crash").handler_time.count == 0);
    CHECK(metrics.pool.crashes_by_cause == std::map<std::string, int64_t>{{"exited", 1}});
    CHECK(metrics.pool.crashes_by_exit_code == std::map<int, int64_t>{{7, 1}});
    // Replaced: a second worker became ready.
    metrics = MetricsWhen(*plain, [](const HostMetrics& m) { return m.pool.workers_spawned >= 2; });
    CHECK(metrics.pool.workers_spawned == 2);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Metrics: a call that waits for a busy worker shows its queue wait", "[e2e][metrics]") {
  {
    iw::PoolOptions pool;
    pool.max_calls_per_worker = 1;
    auto host = SpawnPoolOrDie(pool);
    const std::string release = TempPath("metrics-release");
    ::unlink(release.c_str());
    iwtest::SleepRequest first;
    first.set_ms(20000);
    first.set_until_exists(release);
    iw::CallOptions patient;
    patient.timeout = absl::Seconds(30);
    absl::Mutex mu;
    int answered = 0;
    int ok = 0;
    auto count = [&](absl::StatusOr<iwtest::SleepReply> reply) {
      absl::MutexLock lock(&mu);  // Catch's CHECK is for the test's thread only
      ++answered;
      if (reply.ok()) ++ok;
    };
    host->SleepAsync(first, count, patient);
    iwtest::SleepRequest second;
    second.set_ms(1);
    host->SleepAsync(second, count, patient);
    // Both admitted: one running, one queued behind it.
    HostMetrics metrics = MetricsWhen(*host, [](const HostMetrics& m) {
      return m.pool.calls_queued == 1 && m.pool.workers_busy == 1;
    });
    CHECK(metrics.pool.calls_queued == 1);
    CHECK(MethodOf(metrics, "Sleep").calls_in_flight == 2);
    absl::SleepFor(absl::Milliseconds(300));
    std::ofstream(release).put('x');
    {
      absl::MutexLock lock(&mu);
      auto both = [&] { return answered == 2; };
      REQUIRE(mu.AwaitWithTimeout(absl::Condition(&both), absl::Seconds(30)));
      CHECK(ok == 2);
    }
    ::unlink(release.c_str());
    metrics = host->Metrics();
    const MethodMetrics& sleep = MethodOf(metrics, "Sleep");
    CHECK(sleep.queue_wait.count == 2);
    // The second waited >= 300 ms (bucket bounds 0.25 and 0.5 s); the first
    // not at all.
    int64_t waited_long = 0;
    for (size_t i = 0; i < iw::kLatencyBucketBounds.size(); ++i) {
      if (iw::kLatencyBucketBounds[i] > 0.25) waited_long += sleep.queue_wait.counts[i];
    }
    waited_long += sleep.queue_wait.counts.back();
    CHECK(waited_long == 1);
    CHECK(sleep.queue_wait.sum_seconds >= 0.3);
    CHECK(sleep.run_time.sum_seconds >= 0.3);  // the first ran until released
    CHECK(sleep.queue_wait.Quantile(1.0) > 0.25);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Metrics: each worker reports its pid, calls served, memory and CPU time from /proc",
          "[e2e][metrics]") {
  {
    iw::PoolOptions pool;
    pool.min_workers = pool.max_workers = 2;
    auto host = SpawnPoolOrDie(pool);
    const HostMetrics before = host->Metrics();
    REQUIRE(before.workers.size() == 2);
    absl::Duration cpu_before;
    for (const iw::WorkerMetrics& worker : before.workers) {
      cpu_before += worker.cpu_user + worker.cpu_system;
    }
    iwtest::SpinRequest spin;
    spin.set_max_ms(300);
    iw::CallOptions patient;
    patient.timeout = absl::Seconds(30);
    // Spin() burns CPU until cancelled or max_ms: cancel it by its deadline.
    iw::CallOptions short_call;
    short_call.timeout = absl::Milliseconds(300);
    (void)host->Spin(spin, short_call);
    // Past the once-a-second bound on /proc reads since `before`.
    absl::SleepFor(before.workers[0].usage_read_at + absl::Milliseconds(1100) - absl::Now());

    const HostMetrics metrics = host->Metrics();
    REQUIRE(metrics.workers.size() == 2);
    std::set<int> pids;
    absl::Duration cpu;
    for (const iw::WorkerMetrics& worker : metrics.workers) {
      pids.insert(worker.pid);
      CHECK(worker.worker_id.find(absl::StrCat("pid ", worker.pid)) != std::string::npos);
      CHECK(worker.rss_bytes > 1024 * 1024);  // a real process maps more than 1 MiB
      CHECK(worker.usage_read_at != absl::InfinitePast());
      CHECK(worker.ready_since <= metrics.taken);
      cpu += worker.cpu_user + worker.cpu_system;
    }
    CHECK(pids.size() == 2);
    CHECK_FALSE(pids.count(0));
    // One of them spun for up to 300 ms (clock ticks are 10 ms; on a loaded
    // machine it gets less than the wall time, but not nothing).
    CHECK(cpu > cpu_before);
    // Read at most once a second: a snapshot right after reuses the reading.
    const HostMetrics again = host->Metrics();
    REQUIRE(again.workers.size() == 2);
    CHECK(again.workers[0].usage_read_at == metrics.workers[0].usage_read_at);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Metrics: a stream counts as one call, with the bytes of every message",
          "[e2e][metrics]") {
  {
    auto host = SpawnPoolOrDie(iw::PoolOptions());
    iwtest::CountRequest count;
    count.set_count(5);
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(count);
    iwtest::CountReply reply;
    int64_t received = 0;
    int messages = 0;
    while (stream.Next(&reply)) {
      received += static_cast<int64_t>(reply.ByteSizeLong());
      ++messages;
    }
    REQUIRE_THAT(stream.Finish(), IsOk());
    CHECK(messages == 5);
    const HostMetrics metrics = host->Metrics();
    const MethodMetrics& method = MethodOf(metrics, "Count");
    CHECK(method.streaming);
    CHECK(method.calls_started == 1);
    CHECK(method.calls_finished == 1);
    CHECK(Code(method, absl::StatusCode::kOk) == 1);
    CHECK(method.request_bytes == static_cast<int64_t>(count.ByteSizeLong()));
    CHECK(method.response_bytes == received);
    CHECK(method.queue_wait.count == 1);
    CHECK(method.call_time.count == 1);
    CHECK(method.run_time.count == 0);  // unary methods only
  }
  CHECK(NoChildProcesses());
}

}  // namespace
