// The pool's supervisor on its own, over fake workers and a stub queue: starts
// and replacements, crash-loop backoff, RespawnPolicy::kNever, draining,
// recycling, idle retirement, failing fast when starts keep failing.
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/host/pool_supervisor.h"
#include "runtime/worker_crash.h"
#include "tests/runtime/fake_endpoint.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::codegen::MethodInfo;
using iw::codegen::ServiceInfo;
using iw::internal::CallTiming;
using iw::internal::Later;
using iw::internal::RunAll;
using iw::internal::Supervisor;
using iw::internal::testing::Eventually;
using iw::internal::testing::FakeWorkers;
using iw::testing::IsOk;
using iw::testing::StatusIs;

constexpr MethodInfo kMethods[] = {{"Run", "/t.Sup/Run"}};
constexpr ServiceInfo kService = {"t.Sup", kMethods, 1};

// The queue as the supervisor sees it: a number of waiting calls the test
// sets, and a record of what the supervisor asked of it.
class StubQueue final : public Supervisor::Queue {
 public:
  int QueuedLocked() const override { return queued; }
  absl::Time NextExpiryLocked() const override { return absl::InfiniteFuture(); }
  void ExpireLocked(absl::Time, Later*) override {}
  void DispatchLocked(Later*) override { ++dispatches; }
  void FailAllLocked(const absl::Status& status, Later*) override {
    failures.push_back(status);
    queued = 0;
  }

  // Guarded by the supervisor's mu().
  int queued = 0;
  int dispatches = 0;
  std::vector<absl::Status> failures;
};

// A supervisor over fake workers; closed when it goes.
struct Harness {
  explicit Harness(const iw::PoolOptions& pool, iw::WorkerOptions worker_options = {},
                   Supervisor::Tuning tuning = {})
      : workers(kService),
        options(std::move(worker_options)),
        supervisor(kService, options, pool,
                   pool.max_calls_per_worker > 0 ? pool.max_calls_per_worker
                                                 : std::numeric_limits<int>::max(),
                   workers.Factory(), tuning) {
    supervisor.set_queue(&queue);
  }
  ~Harness() {
    Later later;
    {
      absl::MutexLock lock(&supervisor.mu());
      supervisor.BeginCloseLocked(&later);
    }
    RunAll(later);
    supervisor.Close(iw::CloseOptions(), [] {}).IgnoreError();
  }

  iw::PoolStats Stats() {
    iw::PoolStats stats;
    absl::MutexLock lock(&supervisor.mu());
    supervisor.StatsLocked(&stats);
    return stats;
  }
  // Takes the least-loaded worker for one call, as the admission does.
  std::shared_ptr<Supervisor::Slot> Take() {
    absl::MutexLock lock(&supervisor.mu());
    std::shared_ptr<Supervisor::Slot> slot = supervisor.PickLocked();
    if (slot) ++slot->in_flight;
    return slot;
  }
  // Ends that call with `status`; returns whether the worker died of it.
  bool Give(const std::shared_ptr<Supervisor::Slot>& slot, const absl::Status& status,
            const CallTiming& timing = {}) {
    Later later;
    bool died;
    {
      absl::MutexLock lock(&supervisor.mu());
      died = supervisor.ReleaseLocked(*slot, status, timing, &later);
    }
    RunAll(later);
    return died;
  }
  std::string Picked() {
    absl::MutexLock lock(&supervisor.mu());
    std::shared_ptr<Supervisor::Slot> slot = supervisor.PickLocked();
    return slot ? slot->id : "";
  }

  FakeWorkers workers;
  iw::WorkerOptions options;
  StubQueue queue;
  Supervisor supervisor;
};

iw::PoolOptions Pool(int min_workers, int max_workers) {
  iw::PoolOptions pool;
  pool.min_workers = min_workers;
  pool.max_workers = max_workers;
  return pool;
}

TEST_CASE(
    "Supervisor: the crash-loop delay doubles with each young death in a row, up to its "
    "cap",
    "[runtime][supervisor]") {
  Supervisor::Tuning tuning;
  tuning.first_backoff = absl::Milliseconds(100);
  tuning.max_backoff = absl::Seconds(1);
  const absl::Time now = absl::FromUnixSeconds(1000);
  CHECK(Supervisor::NotBefore(1, now, tuning) == absl::InfinitePast());  // replaced at once
  CHECK(Supervisor::NotBefore(2, now, tuning) == now + absl::Milliseconds(100));
  CHECK(Supervisor::NotBefore(3, now, tuning) == now + absl::Milliseconds(200));
  CHECK(Supervisor::NotBefore(4, now, tuning) == now + absl::Milliseconds(400));
  CHECK(Supervisor::NotBefore(5, now, tuning) == now + absl::Milliseconds(800));
  CHECK(Supervisor::NotBefore(6, now, tuning) == now + absl::Seconds(1));
  CHECK(Supervisor::NotBefore(1000, now, tuning) == now + absl::Seconds(1));
}

TEST_CASE("Supervisor: min_workers start up front, and a worker that dies is replaced",
          "[runtime][supervisor]") {
  Harness h(Pool(2, 2));
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  CHECK(h.workers.starts() == 2);
  CHECK(h.Stats().workers == 2);
  CHECK(h.supervisor.state() == iw::WorkerState::kReady);

  h.workers.worker(0)->Crash();
  REQUIRE(h.workers.WaitForStarts(3));
  REQUIRE(h.workers.WaitForCloses(1));  // the dead one leaves the pool
  CHECK(h.workers.worker(0)->closed());
  REQUIRE(Eventually([&] { return h.Stats().workers == 2; }));
  iw::PoolStats stats = h.Stats();
  CHECK(stats.workers_crashed == 1);
  CHECK(stats.workers_spawned == 3);
}

TEST_CASE("Supervisor: a seat whose workers keep dying young backs off, doubling its delay",
          "[runtime][supervisor]") {
  Supervisor::Tuning tuning;
  tuning.young_death = absl::Seconds(60);
  tuning.first_backoff = absl::Milliseconds(50);
  iw::PoolOptions pool = Pool(1, 1);

  SECTION("workers that die before serving a call") {
    Harness h(pool, {}, tuning);
    REQUIRE_THAT(h.supervisor.Start(), IsOk());
    h.workers.worker(0)->Crash();  // the first young death: replaced at once
    REQUIRE(h.workers.WaitForStarts(2));
    REQUIRE(Eventually([&] { return !h.Picked().empty(); }));
    const absl::Time second_death = absl::Now();
    h.workers.worker(1)->Crash();
    REQUIRE(h.workers.WaitForStarts(3));
    CHECK(h.workers.start_time(2) - second_death >= absl::Milliseconds(50));
    REQUIRE(Eventually([&] { return !h.Picked().empty(); }));
    const absl::Time third_death = absl::Now();
    h.workers.worker(2)->Crash();
    REQUIRE(h.workers.WaitForStarts(4));
    CHECK(h.workers.start_time(3) - third_death >= absl::Milliseconds(100));
    CHECK(h.Stats().workers_crashed == 3);
  }
  SECTION("starts that fail") {
    pool.lazy_start = true;
    Harness h(pool, {}, tuning);
    h.workers.FailStarts(absl::UnavailableError("no such binary"));
    REQUIRE_THAT(h.supervisor.Start(), IsOk());
    {
      absl::MutexLock lock(&h.supervisor.mu());
      h.supervisor.WakeLocked();  // lazy: as a first call does
    }
    REQUIRE(h.workers.WaitForStarts(4));
    CHECK(h.workers.start_time(2) - h.workers.start_time(1) >= absl::Milliseconds(50));
    CHECK(h.workers.start_time(3) - h.workers.start_time(2) >= absl::Milliseconds(100));
  }
}

// The timing-free form of the e2e test "workers that served and are killed
// from outside are replaced at once, in parallel, with no crash-loop backoff"
// (tests/e2e/fault_tolerance_test.cc): there, real spawns take as long as the
// machine's load makes them, so no wall-clock bound can tell a backoff from a
// slow spawn. Here a backoff lasts an hour (the test would time out), and the
// starts are held until all three replacements are under way, so starts made
// one after another would time out too.
TEST_CASE(
    "Supervisor: workers that served and die are replaced at once, in parallel, however "
    "often it happens",
    "[runtime][supervisor]") {
  Supervisor::Tuning tuning;
  tuning.young_death = absl::Hours(1);  // a worker that served nothing dies young
  tuning.first_backoff = tuning.max_backoff = absl::Hours(1);
  Harness h(Pool(3, 3), {}, tuning);
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  constexpr int kRounds = 6;
  for (int round = 0; round < kRounds; ++round) {
    INFO("round " << round);
    // One call served by each of the three workers.
    std::vector<std::shared_ptr<Supervisor::Slot>> slots;
    for (int i = 0; i < 3; ++i) {
      slots.push_back(h.Take());
      REQUIRE(slots.back() != nullptr);
    }
    for (const auto& slot : slots) CHECK_FALSE(h.Give(slot, absl::OkStatus()));
    h.workers.HoldStarts(true);
    for (int i = 0; i < 3; ++i) h.workers.worker(3 * round + i)->Crash();
    // All three replacements start before any of them is ready.
    CHECK(h.workers.WaitForStarts(3 * (round + 2)));
    h.workers.HoldStarts(false);
    REQUIRE(Eventually([&] { return h.Stats().workers == 3; }));
  }
  iw::PoolStats stats = h.Stats();
  CHECK(stats.workers_crashed == 3 * kRounds);
  CHECK(stats.workers_spawned == 3 + 3 * kRounds);
}

TEST_CASE(
    "Supervisor: once starts keep failing with no worker up, waiting calls fail with the "
    "spawn error",
    "[runtime][supervisor]") {
  Supervisor::Tuning tuning;
  tuning.first_backoff = absl::Milliseconds(1);
  iw::PoolOptions pool = Pool(1, 1);
  pool.lazy_start = true;
  Harness h(pool, {}, tuning);
  h.workers.FailStarts(absl::UnavailableError("no such binary"));
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  {
    absl::MutexLock lock(&h.supervisor.mu());
    h.queue.queued = 1;  // a first call, as the admission queues it
    h.supervisor.WakeLocked();
  }
  REQUIRE(Eventually([&] {
    absl::MutexLock lock(&h.supervisor.mu());
    return !h.queue.failures.empty();
  }));
  CHECK(h.workers.starts() >= tuning.fail_fast_after);
  absl::MutexLock lock(&h.supervisor.mu());
  CHECK_THAT(h.queue.failures[0], StatusIs(absl::StatusCode::kUnavailable, "no such binary"));
  absl::Status refusal = h.supervisor.RefusalLocked();
  CHECK_THAT(refusal, StatusIs(absl::StatusCode::kUnavailable, "no such binary"));
  std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(refusal);
  REQUIRE(crash.has_value());
  CHECK(crash->cause() == iw::WorkerCrash::SPAWN_FAILURE);
}

TEST_CASE(
    "Supervisor: under RespawnPolicy::kNever a dead worker is not replaced and calls are "
    "refused with its death",
    "[runtime][supervisor]") {
  iw::WorkerOptions options;
  options.respawn = iw::RespawnPolicy::kNever;
  Harness h(Pool(1, 1), options);
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  h.workers.worker(0)->Crash();
  // The dead worker leaves; then every waiting call is failed.
  REQUIRE(h.workers.WaitForCloses(1));
  REQUIRE(Eventually([&] {
    absl::MutexLock lock(&h.supervisor.mu());
    return !h.supervisor.RefusalLocked().ok();
  }));
  {
    absl::MutexLock lock(&h.supervisor.mu());
    CHECK_THAT(h.supervisor.RefusalLocked(),
               StatusIs(absl::StatusCode::kUnavailable,
                        "worker Fake#1 crashed: exit code 3 (RespawnPolicy::kNever)"));
  }
  CHECK(h.workers.starts() == 1);
  CHECK(h.supervisor.state() == iw::WorkerState::kCrashed);
}

TEST_CASE(
    "Supervisor: a DEADLINE_REPLACE_WORKER call that overran drains its worker, which is "
    "replaced",
    "[runtime][supervisor]") {
  Harness h(Pool(1, 1));
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  std::shared_ptr<Supervisor::Slot> slot = h.Take();
  REQUIRE(slot != nullptr);
  CallTiming timing;
  timing.replace_after = absl::ZeroDuration();
  CHECK_FALSE(h.Give(slot, absl::DeadlineExceededError("overran"), timing));
  // Out of rotation at once, then closed (not crashed) and replaced.
  CHECK(h.Picked() != "Fake#1");
  REQUIRE(h.workers.WaitForCloses(1));
  CHECK(h.workers.worker(0)->closed());
  REQUIRE(h.workers.WaitForStarts(2));
  REQUIRE(Eventually([&] { return h.Picked() == "Fake#2"; }));
  CHECK(h.Stats().workers_crashed == 0);

  SECTION("an ordinary deadline does not") {
    std::shared_ptr<Supervisor::Slot> second = h.Take();
    CHECK_FALSE(h.Give(second, absl::DeadlineExceededError("slow")));
    CHECK(h.Picked() == "Fake#2");
  }
}

TEST_CASE("Supervisor: a recycled worker serves until its replacement is ready, then drains",
          "[runtime][supervisor]") {
  iw::PoolOptions pool = Pool(1, 1);
  SECTION("after recycle_after_calls calls") {
    pool.recycle_after_calls = 2;
    Harness h(pool);
    REQUIRE_THAT(h.supervisor.Start(), IsOk());
    CHECK_FALSE(h.Give(h.Take(), absl::OkStatus()));
    CHECK(h.workers.starts() == 1);
    CHECK_FALSE(h.Give(h.Take(), absl::OkStatus()));
    REQUIRE(h.workers.WaitForStarts(2));
    REQUIRE(h.workers.WaitForCloses(1));
    CHECK(h.workers.start_time(1) <= h.workers.worker(0)->closed_at());
    REQUIRE(Eventually([&] { return h.Picked() == "Fake#2"; }));
    iw::PoolStats stats = h.Stats();
    CHECK(stats.workers_recycled == 1);
    CHECK(stats.workers_crashed == 0);
  }
  SECTION("when the handler asks for it") {
    Harness h(pool);
    REQUIRE_THAT(h.supervisor.Start(), IsOk());
    h.workers.worker(0)->RequestRecycle("asked");
    REQUIRE(h.workers.WaitForStarts(2));
    REQUIRE(h.workers.WaitForCloses(1));
    CHECK(h.workers.start_time(1) <= h.workers.worker(0)->closed_at());
    CHECK(h.Stats().workers_recycled == 1);
  }
  SECTION("a call in flight finishes on the old worker first") {
    pool.recycle_after_calls = 1;
    pool.max_calls_per_worker = 2;
    Harness h(pool);
    REQUIRE_THAT(h.supervisor.Start(), IsOk());
    std::shared_ptr<Supervisor::Slot> long_call = h.Take();
    CHECK_FALSE(h.Give(h.Take(), absl::OkStatus()));  // recycling now
    REQUIRE(h.workers.WaitForStarts(2));
    REQUIRE(Eventually([&] { return h.Picked() == "Fake#2"; }));
    CHECK_FALSE(h.workers.worker(0)->closed());  // its call is not done
    CHECK_FALSE(h.Give(long_call, absl::OkStatus()));
    REQUIRE(h.workers.WaitForCloses(1));
    CHECK(h.workers.worker(0)->closed());
  }
}

TEST_CASE(
    "Supervisor: waiting calls start workers up to max_workers, and those above "
    "min_workers retire once idle",
    "[runtime][supervisor]") {
  iw::PoolOptions pool = Pool(1, 3);
  pool.max_calls_per_worker = 1;
  pool.idle_timeout = absl::Milliseconds(20);
  Harness h(pool);
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  std::shared_ptr<Supervisor::Slot> busy = h.Take();
  REQUIRE(busy != nullptr);
  {
    absl::MutexLock lock(&h.supervisor.mu());
    h.queue.queued = 5;  // far more than max_workers can take
    h.supervisor.WakeLocked();
  }
  REQUIRE(h.workers.WaitForStarts(3));
  REQUIRE(Eventually([&] { return h.Stats().workers == 3; }));
  CHECK(h.workers.starts() == 3);  // no more than max_workers
  {
    absl::MutexLock lock(&h.supervisor.mu());
    CHECK(h.queue.dispatches >= 2);  // each new worker took waiting calls
    h.queue.queued = 0;
  }
  CHECK_FALSE(h.Give(busy, absl::OkStatus()));
  REQUIRE(h.workers.WaitForCloses(2));
  REQUIRE(Eventually([&] { return h.Stats().workers == 1; }));
  iw::PoolStats stats = h.Stats();
  CHECK(stats.workers_crashed == 0);
  CHECK(stats.workers_recycled == 0);
}

TEST_CASE(
    "Supervisor: a death below min_workers promotes the ready spare at once, and its "
    "replacement starts after the refill delay",
    "[runtime][supervisor][spares]") {
  Supervisor::Tuning tuning;
  tuning.spare_refill_delay = absl::Milliseconds(100);
  iw::PoolOptions pool = Pool(1, 1);
  pool.warm_spares = 1;
  Harness h(pool, {}, tuning);
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  REQUIRE(Eventually([&] { return h.Stats().spare_workers == 1; }));
  CHECK(h.workers.starts() == 2);
  const std::string serving = h.workers.worker(0)->id();
  const std::string spare = h.workers.worker(1)->id();
  CHECK(h.Picked() == serving);  // the spare gets no call
  CHECK(h.Stats().workers == 1);

  const absl::Time death = absl::Now();
  h.workers.worker(0)->Crash();
  REQUIRE(Eventually([&] { return h.Stats().workers_crashed == 1; }));
  // Promoted where the death was handled: no start was needed for it.
  CHECK(h.Picked() == spare);
  iw::PoolStats stats = h.Stats();
  CHECK(stats.spares_promoted == 1);
  CHECK(stats.workers == 1);
  REQUIRE(h.workers.WaitForStarts(3));
  CHECK(h.workers.start_time(2) - death >= absl::Milliseconds(100));
  REQUIRE(Eventually([&] { return h.Stats().spare_workers == 1; }));
  CHECK(h.Picked() == spare);
}

TEST_CASE(
    "Supervisor: spares that cannot start back off, doubling their delay, and fail no "
    "call",
    "[runtime][supervisor][spares]") {
  Supervisor::Tuning tuning;
  tuning.first_backoff = absl::Milliseconds(50);
  iw::PoolOptions pool = Pool(0, 1);  // no worker to start: only the spare
  pool.warm_spares = 1;
  Harness h(pool, {}, tuning);
  h.workers.FailStarts(absl::UnavailableError("no such binary"));
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  REQUIRE(h.workers.WaitForStarts(4));
  // The first failure is retried at once, then after 50 ms, 100 ms, ...
  CHECK(h.workers.start_time(2) - h.workers.start_time(1) >= absl::Milliseconds(50));
  CHECK(h.workers.start_time(3) - h.workers.start_time(2) >= absl::Milliseconds(100));
  iw::PoolStats stats = h.Stats();
  CHECK(stats.spare_workers == 0);
  CHECK(stats.workers_crashed == 0);
  CHECK(h.supervisor.state() == iw::WorkerState::kReady);
  absl::MutexLock lock(&h.supervisor.mu());
  CHECK(h.queue.failures.empty());
}

TEST_CASE("Supervisor: a spare that dies idle is replaced and counts as no crash",
          "[runtime][supervisor][spares]") {
  iw::PoolOptions pool = Pool(1, 1);
  pool.warm_spares = 1;
  Harness h(pool);
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  REQUIRE(Eventually([&] { return h.Stats().spare_workers == 1; }));
  h.workers.worker(1)->Crash();
  REQUIRE(h.workers.WaitForCloses(1));
  CHECK(h.workers.worker(1)->closed());
  REQUIRE(h.workers.WaitForStarts(3));
  REQUIRE(Eventually([&] { return h.Stats().spare_workers == 1; }));
  iw::PoolStats stats = h.Stats();
  CHECK(stats.spares_died == 1);
  CHECK(stats.workers_crashed == 0);
  CHECK(stats.spares_promoted == 0);
  CHECK(h.supervisor.state() == iw::WorkerState::kReady);
  CHECK(h.Picked() == h.workers.worker(0)->id());
}

TEST_CASE("Supervisor: Close closes the spares with the workers", "[runtime][supervisor][spares]") {
  iw::PoolOptions pool = Pool(2, 2);
  pool.warm_spares = 2;
  Harness h(pool);
  REQUIRE_THAT(h.supervisor.Start(), IsOk());
  REQUIRE(Eventually([&] { return h.Stats().spare_workers == 2; }));
  Later later;
  {
    absl::MutexLock lock(&h.supervisor.mu());
    h.supervisor.BeginCloseLocked(&later);
  }
  RunAll(later);
  CHECK_THAT(h.supervisor.Close(iw::CloseOptions(), [] {}), IsOk());
  CHECK(h.workers.workers() == 4);
  for (int i = 0; i < 4; ++i) CHECK(h.workers.worker(i)->closed());
  CHECK(h.Stats().spare_workers == 0);
}

}  // namespace
