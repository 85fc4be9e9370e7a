// Warm spares (PoolOptions::warm_spares) through real worker processes. The
// spares' pids come from the pool's "warm spare ready" log records (the only
// place a spare shows its id before it serves), so the tests assert which
// process served a call, never how long it took.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/logging.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::ProcessAlive;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;
using iwtest::TestServiceHost;

constexpr absl::Duration kDeadline = absl::Seconds(20);

// The pid in a worker id ("TestService#2 (pid 4242)"), or 0.
int PidOf(absl::string_view id) {
  const size_t at = id.rfind("(pid ");
  if (at == absl::string_view::npos) return 0;
  absl::string_view digits = id.substr(at + 5);
  digits = digits.substr(0, digits.find(')'));
  int pid = 0;
  return absl::SimpleAtoi(digits, &pid) ? pid : 0;
}

// Records the pid of every spare the pool reports ready, for the test's
// lifetime.
class SpareLog {
 public:
  SpareLog() {
    iw::SetLogSink(
        [this](const iw::LogRecord& record) {
          if (record.message != "warm spare ready") return;
          absl::MutexLock lock(&mu_);
          pids_.push_back(PidOf(record.worker_id));
        },
        iw::LogLevel::kInfo);
  }
  ~SpareLog() { iw::SetLogSink(nullptr); }

  // The pid of the `n`-th spare reported ready (from 0); 0 if none came
  // within the deadline.
  int WaitForSpare(size_t n) {
    absl::MutexLock lock(&mu_);
    auto reported = [&] { return pids_.size() > n; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&reported), kDeadline)) return 0;
    return pids_[n];
  }
  std::vector<int> pids() {
    absl::MutexLock lock(&mu_);
    return pids_;
  }

 private:
  absl::Mutex mu_;
  std::vector<int> pids_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<TestServiceHost> SpawnPoolOrDie(const iw::PoolOptions& pool) {
  iw::WorkerOptions options = TestWorkerOptions();
  options.stderr_mode = iw::OutputMode::kDiscard;
  auto host = TestServiceHost::SpawnPool(options, pool);
  REQUIRE_THAT(host.status(), IsOk());
  return std::move(*host);
}

// Polls `host`'s stats until `done` holds; false if the deadline passed.
template <typename Predicate>
bool WaitForStats(TestServiceHost& host, Predicate done) {
  const absl::Time deadline = absl::Now() + kDeadline;
  while (!done(host.stats())) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

int EchoPid(TestServiceHost& host) {
  absl::StatusOr<iwtest::EchoReply> reply = host.Echo(iwtest::EchoRequest());
  REQUIRE_THAT(reply.status(), IsOk());
  return reply->pid();
}

// Whether every pid in `pids` is gone (waits up to the deadline).
bool AllGone(const std::vector<int>& pids) {
  const absl::Time deadline = absl::Now() + kDeadline;
  for (int pid : pids) {
    while (ProcessAlive(pid)) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  return true;
}

iw::PoolOptions OneWorkerOneSpare() {
  iw::PoolOptions pool;
  pool.min_workers = pool.max_workers = 1;
  pool.warm_spares = 1;
  return pool;
}

TEST_CASE("Warm spares: the first call after a SIGKILL is served by the spare that was running",
          "[e2e][pool][spares]") {
  SpareLog log;
  std::vector<int> pids;
  {
    auto host = SpawnPoolOrDie(OneWorkerOneSpare());
    const int spare = log.WaitForSpare(0);
    REQUIRE(spare > 0);
    const int first = EchoPid(*host);
    CHECK(first != spare);  // the spare got no call
    iw::PoolStats before = host->stats();
    CHECK(before.workers == 1);
    CHECK(before.spare_workers == 1);
    CHECK(before.workers_spawned == 1);  // a spare counts once promoted

    REQUIRE(::kill(first, SIGKILL) == 0);
    REQUIRE(WaitForStats(*host, [](const iw::PoolStats& s) { return s.workers_crashed == 1; }));
    CHECK(EchoPid(*host) == spare);
    iw::PoolStats after = host->stats();
    CHECK(after.spares_promoted == 1);
    CHECK(after.workers_spawned == 2);
    CHECK(after.spares_died == 0);

    // Replenished in the background, by a new process.
    const int next_spare = log.WaitForSpare(1);
    REQUIRE(next_spare > 0);
    CHECK(next_spare != first);
    CHECK(next_spare != spare);
    REQUIRE(WaitForStats(*host, [](const iw::PoolStats& s) { return s.spare_workers == 1; }));
    CHECK(EchoPid(*host) == spare);  // the new spare still gets no call
    pids = {first, spare, next_spare};
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(AllGone(pids));
  CHECK(NoChildProcesses());
}

TEST_CASE("Warm spares: Close closes every worker and every spare", "[e2e][pool][spares]") {
  SpareLog log;
  std::vector<int> pids;
  {
    iw::PoolOptions pool;
    pool.min_workers = pool.max_workers = 2;
    pool.warm_spares = 2;
    auto host = SpawnPoolOrDie(pool);
    REQUIRE(log.WaitForSpare(1) > 0);
    REQUIRE(WaitForStats(*host, [](const iw::PoolStats& s) { return s.spare_workers == 2; }));
    CHECK(host->stats().workers == 2);
    pids = log.pids();
    pids.push_back(host->pid());
    CHECK_THAT(host->Close(), IsOk());
    CHECK(host->stats().spare_workers == 0);
  }
  CHECK(AllGone(pids));
  CHECK(NoChildProcesses());
}

TEST_CASE("Warm spares: a recycled worker is replaced by the spare", "[e2e][pool][spares]") {
  SpareLog log;
  {
    iw::PoolOptions pool = OneWorkerOneSpare();
    pool.recycle_after_calls = 1;
    auto host = SpawnPoolOrDie(pool);
    const int spare = log.WaitForSpare(0);
    REQUIRE(spare > 0);
    const int first = EchoPid(*host);  // recycled after this call
    REQUIRE(WaitForStats(*host, [](const iw::PoolStats& s) { return s.spares_promoted == 1; }));
    CHECK(EchoPid(*host) == spare);
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_recycled >= 1);
    CHECK(stats.workers_crashed == 0);
    CHECK(first != spare);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Warm spares: a spare that dies while idle is replaced and is no crash",
          "[e2e][pool][spares]") {
  SpareLog log;
  std::vector<iw::WorkerState> states;
  absl::Mutex states_mu;
  {
    iw::WorkerOptions options = TestWorkerOptions();
    options.stderr_mode = iw::OutputMode::kDiscard;
    options.on_state_change = [&](iw::WorkerState state, const std::string&) {
      absl::MutexLock lock(&states_mu);
      states.push_back(state);
    };
    auto host = TestServiceHost::SpawnPool(options, OneWorkerOneSpare());
    REQUIRE_THAT(host.status(), IsOk());
    const int spare = log.WaitForSpare(0);
    REQUIRE(spare > 0);
    const int serving = EchoPid(**host);
    REQUIRE(::kill(spare, SIGKILL) == 0);
    const int next_spare = log.WaitForSpare(1);
    REQUIRE(next_spare > 0);
    CHECK(next_spare != spare);
    REQUIRE(WaitForStats(**host, [](const iw::PoolStats& s) { return s.spare_workers == 1; }));
    iw::PoolStats stats = (*host)->stats();
    CHECK(stats.spares_died == 1);
    CHECK(stats.workers_crashed == 0);
    CHECK(stats.spares_promoted == 0);
    CHECK(EchoPid(**host) == serving);
    CHECK(AllGone({spare}));
    {
      absl::MutexLock lock(&states_mu);
      for (iw::WorkerState state : states) CHECK(state != iw::WorkerState::kCrashed);
    }
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Warm spares: a lazy pool starts its spares with its first worker",
          "[e2e][pool][spares]") {
  SpareLog log;
  {
    iw::PoolOptions pool = OneWorkerOneSpare();
    pool.lazy_start = true;
    auto host = SpawnPoolOrDie(pool);
    absl::SleepFor(absl::Milliseconds(100));  // a spare would start at once
    CHECK(host->stats().spare_workers == 0);
    CHECK(log.pids().empty());
    const int first = EchoPid(*host);
    const int spare = log.WaitForSpare(0);
    REQUIRE(spare > 0);
    CHECK(spare != first);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Warm spares: the pool grows into a spare", "[e2e][pool][spares]") {
  SpareLog log;
  {
    iw::PoolOptions pool;
    pool.min_workers = 1;
    pool.max_workers = 2;
    pool.max_calls_per_worker = 1;
    pool.warm_spares = 1;
    auto host = SpawnPoolOrDie(pool);
    const int spare = log.WaitForSpare(0);
    REQUIRE(spare > 0);
    // One call occupies the worker; the second needs a second worker.
    iwtest::SleepRequest hold;
    hold.set_ms(20000);
    const char* tmp = std::getenv("TEST_TMPDIR");
    hold.set_until_exists(absl::StrCat(tmp ? tmp : "/tmp", "/spares-release-", ::getpid()));
    iw::testing::AsyncResults<iwtest::SleepReply> held(1);
    host->SleepAsync(hold, held.Slot(0));
    REQUIRE(WaitForStats(*host, [](const iw::PoolStats& s) { return s.calls_in_flight == 1; }));
    CHECK(EchoPid(*host) == spare);
    CHECK(host->stats().spares_promoted == 1);
    std::ofstream(hold.until_exists()).put('x');
    REQUIRE(held.Wait(kDeadline));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Warm spares: bad warm_spares values are INVALID_ARGUMENT", "[e2e][pool][spares]") {
  iw::PoolOptions pool;
  pool.warm_spares = -1;
  CHECK_THAT(TestServiceHost::SpawnPool(TestWorkerOptions(), pool).status(),
             StatusIs(absl::StatusCode::kInvalidArgument,
                      "PoolOptions::warm_spares must be >= 0, got -1"));
  pool.warm_spares = 1;
  iw::WorkerOptions never = TestWorkerOptions();
  never.respawn = iw::RespawnPolicy::kNever;
  CHECK_THAT(TestServiceHost::SpawnPool(never, pool).status(),
             StatusIs(absl::StatusCode::kInvalidArgument,
                      "PoolOptions::warm_spares > 0 needs RespawnPolicy::kAlways"));
  CHECK(NoChildProcesses());
}

}  // namespace
