// Throughput: for each level N of Plan::tput_in_flight (1, 10, 100, 1000),
// batches of N small calls in flight, wait for all, next batch (ours:
// PingAsync; gRPC: callback API; floor: all frames in one write(), then the
// replies), for a fixed time after a warm-up. During the timed batches, CPU
// per call: host user+sys (getrusage(RUSAGE_SELF)) and the worker's CPU time
// (clock_gettime on clock_getcpuclockid(pid), see ProcessCpuUs()).
#include <chrono>
#include <cmath>
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

std::string Key(int n, const char* what) { return absl::StrCat("tput", n, ".", what); }

}  // namespace

void DefineThroughputMetrics(Results& r, const Plan& plan) {
  // Grouped by statistic, so that one statistic's levels are adjacent rows.
  for (int n : plan.tput_in_flight) {
    std::string target;
    double t = NAN;
    if (n == 100) target = "≥ 150,000/s", t = 150000;
    r.DefineCallRate(Key(n, "rate"), absl::StrCat("throughput, ", n, " in flight (calls/s)"),
                     target, t);
  }
  for (int n : plan.tput_in_flight) {
    std::string target;
    double t = NAN;
    if (n == 100) target = "≤ 10 µs", t = 10;
    r.DefineLower(Key(n, "cpu"),
                  absl::StrCat("CPU per small call, ", n, " in flight, host+worker (µs)"), target,
                  t);
  }
  for (int n : plan.tput_in_flight) {
    r.DefineLower(Key(n, "cpu.host"), absl::StrCat("… of which host, ", n, " in flight (µs)"));
  }
  for (int n : plan.tput_in_flight) {
    r.DefineLower(Key(n, "cpu.worker"), absl::StrCat("… of which worker, ", n, " in flight (µs)"));
  }
  for (int n : plan.tput_in_flight) {
    r.DefineLower(Key(n, "batch"), absl::StrCat("throughput: batch of ", n, " median (ms)"));
  }
}

void RunThroughput(System& sys, Conn& conn, const Plan& plan, Results& r) {
  using Seconds = std::chrono::duration<double>;
  for (int n : plan.tput_in_flight) {
    Clock::time_point w0 = Clock::now();
    do {
      Batch(conn, n);
    } while (Seconds(Clock::now() - w0).count() < plan.tput_warm_seconds);
    std::vector<double> batch_ms;
    const double host0 = SelfCpuUs(), worker0 = ProcessCpuUs(conn.pid());
    Clock::time_point t0 = Clock::now(), now = t0;
    while (static_cast<int>(batch_ms.size()) < plan.tput_min_batches ||
           Seconds(now - t0).count() < plan.tput_seconds) {
      Clock::time_point b0 = now;
      Batch(conn, n);
      now = Clock::now();
      batch_ms.push_back(Ms(now - b0));
    }
    const double seconds = Seconds(now - t0).count();
    const double host = SelfCpuUs() - host0, worker = ProcessCpuUs(conn.pid()) - worker0;
    const double calls = static_cast<double>(batch_ms.size()) * n;
    r.Record(Key(n, "rate"), sys.name(), calls / seconds);
    r.Record(Key(n, "cpu"), sys.name(), (host + worker) / calls);
    r.Record(Key(n, "cpu.host"), sys.name(), host / calls);
    r.Record(Key(n, "cpu.worker"), sys.name(), worker / calls);
    r.Record(Key(n, "batch"), sys.name(), Median(batch_ms));
    Progress("  %s: %d in flight: %.0f calls/s over %zu batches\n", sys.name(), n, calls / seconds,
             batch_ms.size());
  }
}

}  // namespace harness
}  // namespace iwbench
