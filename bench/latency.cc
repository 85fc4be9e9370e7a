// Latency: sync small calls (ours and gRPC: Ping, int64 in and out; floor: a
// 64-byte frame), after a warm-up; min, p50, p99.
#include <string>
#include <vector>

#include "bench/harness.h"
#include "bench/workloads.h"

namespace iwbench {
namespace harness {

void DefineLatencyMetrics(Results& r) {
  r.DefineLower("lat.min", "ping latency min (µs)");
  r.DefineLower("lat.p50", "ping latency p50 (µs)", "≤ 100 µs", 100);
  r.DefineLower("lat.p99", "ping latency p99 (µs)", "≤ 250 µs", 250);
}

void RunLatency(System& sys, Conn& conn, const Plan& plan, Results& r) {
  const bool floor = std::string(sys.name()) == "floor";
  const int warm = floor ? plan.floor_lat_warm : plan.lat_warm;
  const int iters = floor ? plan.floor_lat_iters : plan.lat_iters;
  for (int i = 0; i < warm; ++i) conn.Ping();
  std::vector<double> us(iters);
  for (int i = 0; i < iters; ++i) {
    Clock::time_point t0 = Clock::now();
    conn.Ping();
    us[i] = Us(Clock::now() - t0);
  }
  r.Record("lat.min", sys.name(), Min(us));
  r.Record("lat.p50", sys.name(), Median(us));
  r.Record("lat.p99", sys.name(), Percentile(us, 99));
}

}  // namespace harness
}  // namespace iwbench
