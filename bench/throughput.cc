// Throughput: batches of `in_flight` small calls, wait for all, next batch
// (ours: PingAsync; gRPC: callback API; floor: all frames in one write(),
// then the replies). During the timed batches, CPU per call: host user+sys
// (getrusage) and worker utime+stime (/proc/<pid>/stat).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/harness.h"
#include "bench/workloads.h"

namespace iwbench {
namespace harness {
namespace {

void Batch(Conn& conn, int n) {
  auto latch = std::make_shared<Latch>(n);
  conn.IssuePings(n, latch);
  conn.CollectPings();
  latch->Wait();
}

}  // namespace

void DefineThroughputMetrics(Results& r, const Plan& plan) {
  r.DefineHigher("tput.rate", absl::StrCat("throughput, ", plan.in_flight, " in flight (calls/s)"),
                 "≥ 150,000/s", 150000);
  r.DefineLower("tput.batch",
                absl::StrCat("throughput: batch of ", plan.in_flight, " median (ms)"));
  r.DefineLower("cpu.total", "CPU per small call at full load, host+worker (µs)", "≤ 10 µs", 10);
  r.DefineLower("cpu.host", "… of which host (µs)");
  r.DefineLower("cpu.worker", "… of which worker (µs)");
}

void RunThroughput(System& sys, Conn& conn, const Plan& plan, Results& r) {
  const bool floor = std::string(sys.name()) == "floor";
  const int warm = floor ? plan.floor_tput_warm : plan.tput_warm;
  const int batches = floor ? plan.floor_tput_batches : plan.tput_batches;
  for (int i = 0; i < warm; ++i) Batch(conn, plan.in_flight);
  std::vector<double> batch_ms(batches);
  const double host0 = SelfCpuUs(), worker0 = ProcessCpuUs(conn.pid());
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < batches; ++i) {
    Clock::time_point b0 = Clock::now();
    Batch(conn, plan.in_flight);
    batch_ms[i] = Ms(Clock::now() - b0);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double host = SelfCpuUs() - host0, worker = ProcessCpuUs(conn.pid()) - worker0;
  const double calls = static_cast<double>(batches) * plan.in_flight;
  r.Record("tput.rate", sys.name(), calls / seconds);
  r.Record("tput.batch", sys.name(), Median(batch_ms));
  r.Record("cpu.total", sys.name(), (host + worker) / calls);
  r.Record("cpu.host", sys.name(), host / calls);
  r.Record("cpu.worker", sys.name(), worker / calls);
}

}  // namespace harness
}  // namespace iwbench
