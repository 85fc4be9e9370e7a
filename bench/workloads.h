// The workloads (bench/README.md, "Workloads"), one file each. Define*Metrics
// adds a workload's rows to the table (bench_main.cc calls them in the order
// of the rows); Run* runs it once against one system and records one value
// per metric.
#ifndef IW_BENCH_WORKLOADS_H_
#define IW_BENCH_WORKLOADS_H_

#include "bench/plan.h"
#include "bench/results.h"
#include "bench/system.h"

namespace iwbench {
namespace harness {

// startup.cc: spawn → ready, spawn → first reply, close → reaped.
void DefineStartupMetrics(Results& r);
void RunStartup(System& sys, const Plan& plan, Results& r);

// latency.cc: sync small calls; min, p50, p99.
void DefineLatencyMetrics(Results& r);
void RunLatency(System& sys, Conn& conn, const Plan& plan, Results& r);

// throughput.cc: batches of small calls in flight; calls/s, and CPU per call
// of host and worker during the timed batches.
void DefineThroughputMetrics(Results& r, const Plan& plan);
void RunThroughput(System& sys, Conn& conn, const Plan& plan, Results& r);

// echo.cc: sync payload round trips per size; median RTT, MB/s, p99.
void DefineEchoMetrics(Results& r, const Plan& plan);
void RunEcho(System& sys, Conn& conn, const Plan& plan, Results& r);

// multi.cc: many workers × a few pings: cold, close, warm.
void DefineMultiMetrics(Results& r, const Plan& plan);
void RunMulti(System& sys, const Plan& plan, Results& r);

// pool.cc: CPU-bound Spin calls over N workers; calls/s and speed-up.
void DefinePoolMetrics(Results& r, const Plan& plan);
void RunPool(System& sys, const Plan& plan, Results& r);

// failover.cc: a 1-worker pool under load, its worker SIGKILLed: the first
// call after the death, without and with a warm spare.
void DefineFailoverMetrics(Results& r, const Plan& plan);
void RunFailover(System& sys, const Plan& plan, Results& r);

// stream.cc: one server stream of many small messages; messages/s, wall
// time and CPU of host and worker per message.
void DefineStreamMetrics(Results& r, const Plan& plan);
void RunStream(System& sys, Conn& conn, const Plan& plan, Results& r);

// stream.cc: a slow reader of a large stream; peak RSS growth of host and
// worker (flow control keeps both flat).
void DefineStreamMemoryMetrics(Results& r, const Plan& plan);
void RunStreamMemory(System& sys, Conn& conn, const Plan& plan, Results& r);

}  // namespace harness
}  // namespace iwbench

#endif  // IW_BENCH_WORKLOADS_H_
