// N workers × M pings (the TS seed's multi-worker workload): (a) cold: spawn
// all workers in parallel, then all pings in flight, total wall time; (b)
// their close, in parallel; (c) warm: all pings in flight over the
// already-running workers.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/harness.h"
#include "bench/workloads.h"

namespace iwbench {
namespace harness {
namespace {

void PingAll(std::vector<std::unique_ptr<Conn>>& conns, int pings) {
  auto latch = std::make_shared<Latch>(static_cast<int>(conns.size()) * pings);
  for (auto& c : conns) c->IssuePings(pings, latch);
  for (auto& c : conns) c->CollectPings();
  latch->Wait();
}

}  // namespace

void DefineMultiMetrics(Results& r, const Plan& plan) {
  std::string multi = absl::StrCat(plan.multi_workers, " workers × ", plan.multi_pings, " pings");
  r.DefineLower("multi.cold", multi + ": spawn all in parallel → all replies (ms)");
  r.DefineLower("multi.close", multi + ": close all (ms)");
  r.DefineLower("multi.warm", multi + ": warm workers, all in flight (ms)");
}

void RunMulti(System& sys, const Plan& plan, Results& r) {
  std::vector<double> cold, close, warm;
  for (int i = 0; i < plan.multi_spawn_iters; ++i) {
    Clock::time_point t0 = Clock::now();
    std::vector<std::unique_ptr<Conn>> conns = StartMany(sys, plan.multi_workers);
    PingAll(conns, plan.multi_pings);
    Clock::time_point t1 = Clock::now();
    CloseMany(conns);
    cold.push_back(Ms(t1 - t0));
    close.push_back(Ms(Clock::now() - t1));
  }
  std::vector<std::unique_ptr<Conn>> conns = StartMany(sys, plan.multi_workers);
  for (int i = 0; i < 3; ++i) PingAll(conns, plan.multi_pings);
  for (int i = 0; i < plan.multi_warm_iters; ++i) {
    Clock::time_point t0 = Clock::now();
    PingAll(conns, plan.multi_pings);
    warm.push_back(Ms(Clock::now() - t0));
  }
  CloseMany(conns);
  r.Record("multi.cold", sys.name(), Median(cold));
  r.Record("multi.close", sys.name(), Median(close));
  r.Record("multi.warm", sys.name(), Median(warm));
}

}  // namespace harness
}  // namespace iwbench
