// Startup: spawn → ready (ours: Spawn() returned; gRPC: ready byte read and
// channel created; floor: connection accepted), spawn → first reply (one
// small call), and close → reaped (measured separately).
#include <string>
#include <vector>

#include "bench/harness.h"
#include "bench/workloads.h"

namespace iwbench {
namespace harness {

void DefineStartupMetrics(Results& r) {
  r.DefineLower("startup.ready", "startup: spawn → ready (ms)");
  r.DefineLower("startup.first", "startup: spawn → first reply (ms)", "≤ 5 ms", 5);
  r.DefineLower("startup.close", "startup: close → reaped (ms)");
}

void RunStartup(System& sys, const Plan& plan, Results& r) {
  const bool floor = std::string(sys.name()) == "floor";
  const int iters = floor ? plan.floor_startup_iters : plan.startup_iters;
  std::vector<double> ready, first, close;
  for (int i = 0; i < plan.startup_warm + iters; ++i) {
    Clock::time_point t0 = Clock::now();
    std::unique_ptr<Conn> conn = sys.Start();
    Clock::time_point t1 = Clock::now();
    conn->Ping();
    Clock::time_point t2 = Clock::now();
    conn->Close();
    Clock::time_point t3 = Clock::now();
    if (i < plan.startup_warm) continue;
    ready.push_back(Ms(t1 - t0));
    first.push_back(Ms(t2 - t0));
    close.push_back(Ms(t3 - t2));
  }
  r.Record("startup.ready", sys.name(), Median(ready));
  r.Record("startup.first", sys.name(), Median(first));
  r.Record("startup.close", sys.name(), Median(close));
}

}  // namespace harness
}  // namespace iwbench
