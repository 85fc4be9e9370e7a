// Failover: a pool of one worker under load (a thread calling Ping back to
// back), its worker SIGKILLed; the latency of the first call issued once the
// pool has seen the death, with PoolOptions::warm_spares = 0 (the call waits
// for a spawn) and = 1 (a spare is promoted). Pools only (ours*); the others
// record nothing.
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/harness.h"
#include "bench/workloads.h"

namespace iwbench {
namespace harness {
namespace {

// Polls `done` every 100 µs; dies after 10 s with `what`.
template <typename Predicate>
void Await(Predicate done, const char* what) {
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (Clock::now() > deadline) Die(absl::StrCat("failover: timed out waiting for ", what));
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

// One kill: the first call's latency in ms, or a negative value if `sys` has
// no pools.
double KillOnce(System& sys, int spares) {
  std::unique_ptr<Conn> pool = sys.StartSparedPool(1, spares);
  if (pool == nullptr) return -1;
  Await([&] { return pool->SpareWorkers() == spares; }, "the spares");
  std::atomic<bool> stop{false};
  // The load: a call in flight nearly all the time; the one on the killed
  // worker fails, the next ones wait for its replacement too.
  std::thread load([&] {
    while (!stop.load(std::memory_order_relaxed)) pool->TryPing();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t crashed = pool->WorkersCrashed();
  if (::kill(pool->pid(), SIGKILL) != 0) Die("failover: kill");
  Await([&] { return pool->WorkersCrashed() > crashed; }, "the death");
  const Clock::time_point t0 = Clock::now();
  if (!pool->TryPing()) Die("failover: the first call after the death failed");
  const double ms = Ms(Clock::now() - t0);
  stop = true;
  load.join();
  pool->Close();
  return ms;
}

}  // namespace

void DefineFailoverMetrics(Results& r, const Plan& plan) {
  (void)plan;
  r.DefineLower("failover.cold",
                "failover: 1-worker pool under load, worker SIGKILLed: first call after the "
                "death, warm_spares = 0 (ms)");
  r.DefineLower("failover.spare", "failover: the same, warm_spares = 1 (ms)");
  r.DefineHigher("failover.speedup", "failover: warm_spares = 0 ÷ warm_spares = 1");
}

void RunFailover(System& sys, const Plan& plan, Results& r) {
  std::vector<double> cold, spare;
  // Interleaved, so that both see the same machine.
  for (int i = 0; i < plan.failover_warm + plan.failover_iters; ++i) {
    const double c = KillOnce(sys, 0);
    if (c < 0) return;
    const double s = KillOnce(sys, 1);
    if (i < plan.failover_warm) continue;
    cold.push_back(c);
    spare.push_back(s);
  }
  r.Record("failover.cold", sys.name(), Median(cold));
  r.Record("failover.spare", sys.name(), Median(spare));
  r.Record("failover.speedup", sys.name(), Median(cold) / Median(spare));
  Progress("failover %s: cold %s ms, spare %s ms\n", sys.name(), absl::StrJoin(cold, " ").c_str(),
           absl::StrJoin(spare, " ").c_str());
}

}  // namespace harness
}  // namespace iwbench
