// Pool scaling: CPU-bound Spin calls over N = 1, 2, 4 workers, a fixed number
// of calls in total; calls/s and speed-up vs N = 1. Ours uses a real pool
// (SpawnPool); the others emulate one with N hosts, one call in flight each.
// The floor has no Spin and records nothing.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/harness.h"
#include "bench/workloads.h"

namespace iwbench {
namespace harness {
namespace {

// Emulated pool: N hosts, one Spin call in flight per worker; a completion
// issues the next call on the same worker until `total` calls are issued.
double PoolRate(std::vector<std::unique_ptr<Conn>>& conns, int total, int64_t iterations) {
  struct State {
    std::atomic<int> issued{0};
    int total;
    int64_t iterations;
    std::shared_ptr<Latch> latch;
  };
  auto state = std::make_shared<State>();
  state->total = total;
  state->iterations = iterations;
  state->latch = std::make_shared<Latch>(total);
  // The recursion goes through a shared function object owned by the state
  // of every callback.
  auto next = std::make_shared<std::function<void(Conn*)>>();
  *next = [state, weak = std::weak_ptr<std::function<void(Conn*)>>(next)](Conn* c) {
    if (state->issued.fetch_add(1) >= state->total) return;
    auto self = weak.lock();
    c->SpinAsync(state->iterations, [state, self, c] {
      (*self)(c);                 // issue the next call first ...
      state->latch->CountDown();  // ... then count this one
    });
  };
  Clock::time_point t0 = Clock::now();
  for (auto& c : conns) (*next)(c.get());
  state->latch->Wait();
  return total / std::chrono::duration<double>(Clock::now() - t0).count();
}

// A real pool: every call issued at once; the pool queues them and gives each
// free worker the next one.
double RealPoolRate(Conn& pool, int total, int64_t iterations) {
  auto latch = std::make_shared<Latch>(total);
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < total; ++i) pool.SpinAsync(iterations, [latch] { latch->CountDown(); });
  latch->Wait();
  return total / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

void DefinePoolMetrics(Results& r, const Plan& plan) {
  for (int n : plan.pool_sizes) {
    r.DefineHigher(absl::StrCat("pool", n),
                   absl::StrCat("pool scaling, ", n, " worker", n > 1 ? "s" : "",
                                " (ours: SpawnPool; others: ", n, " host", n > 1 ? "s" : "",
                                ", 1 Spin in flight each): Spin calls/s"));
  }
  for (int n : plan.pool_sizes) {
    if (n == 1) continue;
    r.DefineHigher(absl::StrCat("pool", n, ".speedup"),
                   absl::StrCat("pool scaling: speed-up ", n, " vs 1 worker(s)"));
  }
}

void RunPool(System& sys, const Plan& plan, Results& r) {
  std::map<int, double> rate;
  for (int n : plan.pool_sizes) {
    if (std::unique_ptr<Conn> pool = sys.StartPool(n)) {
      RealPoolRate(*pool, n * 2, plan.spin_iterations);  // warm-up
      rate[n] = RealPoolRate(*pool, plan.pool_calls, plan.spin_iterations);
      r.Record(absl::StrCat("pool", n), sys.name(), rate[n]);
      pool->Close();
      continue;
    }
    std::vector<std::unique_ptr<Conn>> conns = StartMany(sys, n);
    if (!conns[0]->SupportsSpin()) {
      CloseMany(conns);
      return;
    }
    PoolRate(conns, n * 2, plan.spin_iterations);  // warm-up
    rate[n] = PoolRate(conns, plan.pool_calls, plan.spin_iterations);
    r.Record(absl::StrCat("pool", n), sys.name(), rate[n]);
    CloseMany(conns);
  }
  for (int n : plan.pool_sizes) {
    if (n != 1 && rate.count(1)) {
      r.Record(absl::StrCat("pool", n, ".speedup"), sys.name(), rate[n] / rate[1]);
    }
  }
}

}  // namespace harness
}  // namespace iwbench
