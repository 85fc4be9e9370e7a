// What the always-on metrics add to one call, measured alone: the exact
// recording sequence of one unary call on the host (CallAdmission and the
// endpoint: started, queue wait, run time, bytes both ways, the worker's
// time, finished; three clock reads) and of the worker (two clock reads per
// call, one varint in the reply), N times on one thread and on two.
//
//   bazel-bin/bench/metrics_cost [N]
//   valgrind --tool=callgrind bazel-bin/bench/metrics_cost 100000   # instructions per call
//
// Results in docs/benchmarks.md ("Metrics cost").
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/host/call_metrics.h"
#include "runtime/wire/call_stream_protocol.h"

namespace {

constexpr iw::codegen::MethodInfo kMethods[] = {{"Ping", "/iwbench.Bench/Ping"}};
constexpr iw::codegen::ServiceInfo kService = {"iwbench.Bench", kMethods, 1};

// One call's recording, as pool_admission.cc, grpc_endpoint.cc and the
// worker's carriers do it.
void RecordOneCall(iw::internal::MethodRecorder& m, uint64_t* sink) {
  const absl::Time started = absl::Now();
  m.Started();
  const absl::Time issued = absl::Now();
  m.QueueWait(issued - started);
  m.Sent(12);
  const int64_t worker_start = absl::GetCurrentTimeNanos();  // in the worker
  *sink += iw::internal::MicrosSince(worker_start);          // in the worker
  m.Received(8);
  m.WorkerTime(3);
  const absl::Time ended = absl::Now();
  m.Ran(ended - issued);
  m.Finished(absl::StatusCode::kOk, ended - started);
}

double NanosPerCall(iw::internal::CallMetrics& metrics, int calls, int threads) {
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&metrics, calls] {
      uint64_t sink = 0;
      for (int i = 0; i < calls; ++i) RecordOneCall(metrics.method(0), &sink);
      if (sink == 42) std::puts("");  // keep `sink` alive
    });
  }
  for (auto& worker : workers) worker.join();
  return absl::ToDoubleNanoseconds(absl::Now() - start) / calls;
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::atoi(argv[1]) : 2000000;
  iw::internal::CallMetrics metrics(kService);
  const double one = NanosPerCall(metrics, calls, 1);
  const double two = NanosPerCall(metrics, calls, 2);
  std::printf(
      "metrics recording per call: %.1f ns on one thread, %.1f ns with two threads "
      "recording the same method at once (%d calls each)\n",
      one, two, calls);
  return 0;
}
