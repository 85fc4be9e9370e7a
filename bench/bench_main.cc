// Benchmark harness: our runtime (generated iwbench::BenchHost) on the native
// carrier and on the gRPC carrier vs a raw gRPC C++ callback server over a
// Unix socket vs the raw Unix-socket floor.
//
//   tools/bazel run -c opt //bench:bench                 # --runs=5
//   tools/bazel run -c opt //bench:bench -- --quick      # smoke run
//
// Every workload runs for every system, interleaved (ours, ours_grpc,
// ours_inline, grpc, floor, repeat) --runs times. Each run yields one statistic per workload
// (e.g. the run's median latency); the table shows the median of the per-run
// statistics. See bench/README.md for the workloads.
//
// This file: the command line and the run loop. The systems are in
// system.h (*_system.cc), the workloads in workloads.h (one file each), the
// table in results.h, the report's header in machine.h.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "bench/harness.h"
#include "bench/machine.h"
#include "bench/plan.h"
#include "bench/results.h"
#include "bench/system.h"
#include "bench/workloads.h"
#include "runtime/options.h"
#include "runtime/process/fork_server.h"

namespace iwbench {
namespace harness {
namespace {

std::string BinaryDir() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) Die("readlink /proc/self/exe");
  std::string path(self, n);
  return path.substr(0, path.rfind('/') + 1);
}

int Main(int argc, char** argv) {
  Plan plan;
  int runs = 5;
  bool quick = false, spread = true, echo_sizes_set = false;
  double tput_seconds = 0;  // --tput_seconds=, overrides the plan's (and --quick's)
  // --stream_messages=, --stream_memory_mib=: override the plan's (and --quick's).
  int64_t stream_messages = 0, memory_stream_mib = 0;
  // --no_call_stream: ours without the call stream (an experiment).
  bool ours_call_stream = true;
  std::set<std::string> only;
  std::vector<std::string> systems = {"ours", "ours_grpc", "ours_inline", "grpc", "floor"};
  const std::string dir = BinaryDir();
  std::string ours_worker = dir + "bench_worker";
  std::string grpc_server = dir + "grpc_baseline_server";
  std::string floor_server = dir + "uds_floor_server";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* flag) -> const char* {
      size_t n = std::strlen(flag);
      return arg.compare(0, n, flag) == 0 ? argv[i] + n : nullptr;
    };
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--verbose") {
      SetVerbose(true);
    } else if (arg == "--keep_grpc_initialized") {
      // Experiment: keep gRPC's global state (threads, executors) alive in
      // the bench process between workers, as a host with other long-lived
      // gRPC objects would.
      grpc_init();
    } else if (arg == "--no_call_stream") {
      // Experiment: ours with WorkerOptions::call_stream = false (every
      // call a unary RPC, as before the call stream).
      ours_call_stream = false;
    } else if (arg == "--no_spread") {
      spread = false;
    } else if (const char* v = value("--runs=")) {
      if (!absl::SimpleAtoi(v, &runs) || runs < 1) Die("bad --runs");
    } else if (const char* v = value("--only=")) {
      for (absl::string_view w : absl::StrSplit(v, ',')) only.insert(std::string(w));
    } else if (const char* v = value("--systems=")) {
      systems = absl::StrSplit(v, ',');
    } else if (const char* v = value("--ours_worker=")) {
      ours_worker = v;
    } else if (const char* v = value("--grpc_server=")) {
      grpc_server = v;
    } else if (const char* v = value("--floor_server=")) {
      floor_server = v;
    } else if (const char* v = value("--echo_sizes=")) {
      // e.g. --echo_sizes=1024,16777216 (keeps the default iteration counts)
      Plan defaults;
      std::vector<size_t> sizes;
      std::vector<int> iters, floor_iters;
      for (absl::string_view w : absl::StrSplit(v, ',')) {
        size_t bytes;
        if (!absl::SimpleAtoi(w, &bytes) || bytes == 0) Die("bad --echo_sizes");
        size_t k = 0;  // iterations of the nearest default size not larger
        for (size_t j = 0; j < defaults.echo_sizes.size(); ++j) {
          if (defaults.echo_sizes[j] <= bytes) k = j;
        }
        sizes.push_back(bytes);
        iters.push_back(defaults.echo_iters[k]);
        floor_iters.push_back(defaults.floor_echo_iters[k]);
      }
      plan.echo_sizes = sizes;
      plan.echo_iters = iters;
      plan.floor_echo_iters = floor_iters;
      echo_sizes_set = true;
    } else if (const char* v = value("--in_flight=")) {
      // e.g. --in_flight=100 (throughput levels; default 1,10,100,1000)
      plan.tput_in_flight.clear();
      for (absl::string_view w : absl::StrSplit(v, ',')) {
        int n;
        if (!absl::SimpleAtoi(w, &n) || n < 1) Die("bad --in_flight");
        plan.tput_in_flight.push_back(n);
      }
    } else if (const char* v = value("--tput_seconds=")) {
      if (!absl::SimpleAtod(v, &tput_seconds) || tput_seconds <= 0) Die("bad --tput_seconds");
    } else if (const char* v = value("--spin_iterations=")) {
      if (!absl::SimpleAtoi(v, &plan.spin_iterations)) Die("bad --spin_iterations");
    } else if (const char* v = value("--stream_messages=")) {
      if (!absl::SimpleAtoi(v, &stream_messages) || stream_messages < 1) {
        Die("bad --stream_messages");
      }
    } else if (const char* v = value("--stream_payload=")) {
      if (!absl::SimpleAtoi(v, &plan.stream_payload)) Die("bad --stream_payload");
    } else if (const char* v = value("--stream_memory_mib=")) {
      if (!absl::SimpleAtoi(v, &memory_stream_mib) || memory_stream_mib < 1) {
        Die("bad --stream_memory_mib");
      }
    } else if (const char* v = value("--stream_memory_message_kib=")) {
      if (!absl::SimpleAtoi(v, &plan.memory_message_kib) || plan.memory_message_kib < 1) {
        Die("bad --stream_memory_message_kib");
      }
    } else if (const char* v = value("--stream_memory_pause_us=")) {
      if (!absl::SimpleAtoi(v, &plan.memory_pause_us) || plan.memory_pause_us < 0) {
        Die("bad --stream_memory_pause_us");
      }
    } else {
      std::fprintf(
          stderr,
          "usage: bench [--runs=N] [--quick] [--only=startup,latency,throughput,"
          "echo,stream,multi,pool,failover,stream_memory]\n"
          "             [--systems=ours,ours_fork,ours_grpc,ours_inline,ours_grpc_inline,grpc,"
          "floor]\n"
          "             [--ours_worker=PATH] [--grpc_server=PATH] "
          "[--floor_server=PATH]\n"
          "             [--in_flight=N,...] [--tput_seconds=S] [--echo_sizes=BYTES,...]\n"
          "             [--spin_iterations=N] [--stream_messages=N] "
          "[--stream_payload=BYTES]\n"
          "             [--stream_memory_mib=N] [--stream_memory_message_kib=N] "
          "[--stream_memory_pause_us=N]\n"
          "             [--verbose] [--no_spread]\n"
          "             [--keep_grpc_initialized] [--no_call_stream]\n");
      return 2;
    }
  }
  if (quick) {
    std::vector<size_t> sizes = plan.echo_sizes;
    plan.MakeQuick();
    if (echo_sizes_set) {
      plan.echo_sizes = sizes;
      plan.echo_iters.assign(sizes.size(), 10);
      plan.floor_echo_iters.assign(sizes.size(), 10);
    }
    runs = 1;
  }
  if (tput_seconds > 0) plan.tput_seconds = tput_seconds;
  if (stream_messages > 0) plan.stream_messages = stream_messages;
  if (memory_stream_mib > 0) plan.memory_stream_mib = memory_stream_mib;
  for (const std::string& w : only) {
    static const std::set<std::string> known = {"startup", "latency",  "throughput",
                                                "echo",    "stream",   "multi",
                                                "pool",    "failover", "stream_memory"};
    if (!known.count(w)) Die("unknown workload " + w);
  }
  // stream_memory is a check rather than a measurement (minutes at its
  // defaults): it runs only when --only names it.
  auto want = [&](const char* w) {
    if (only.empty()) return std::string(w) != "stream_memory";
    return only.count(w) > 0;
  };

  // Profiling experiment (docs/benchmarks.md): inherited by the workers.
  if (std::getenv("IWBENCH_NO_DEADLOCK_DETECTION") != nullptr) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  ::signal(SIGPIPE, SIG_IGN);
  char temp[] = "/tmp/iwbench.XXXXXX";
  if (::mkdtemp(temp) == nullptr) Die("mkdtemp");

  std::vector<std::unique_ptr<System>> all;
  for (const std::string& s : systems) {
    if (s == "ours" || s == "ours_grpc" || s == "ours_inline" || s == "ours_grpc_inline") {
      const iw::WorkerTransport transport =
          s.rfind("ours_grpc", 0) == 0 ? iw::WorkerTransport::kGrpc : iw::WorkerTransport::kNative;
      const bool inline_ping = absl::EndsWith(s, "_inline");
      all.push_back(MakeOursSystem(ours_worker, transport, inline_ping, ours_call_stream));
    } else if (s == "ours_fork") {
      all.push_back(MakeOursSystem(ours_worker, iw::WorkerTransport::kNative, false,
                                   ours_call_stream, iw::StartMode::kForkServer));
    } else if (s == "grpc") {
      all.push_back(MakeGrpcSystem(grpc_server, temp));
    } else if (s == "floor") {
      all.push_back(MakeFloorSystem(floor_server, temp));
    } else {
      Die("unknown system " + s);
    }
  }

  PrintMachine(argc, argv, plan, runs, systems);
  // The table's rows, in this order.
  Results results;
  DefineStartupMetrics(results);
  DefineLatencyMetrics(results);
  DefineThroughputMetrics(results, plan);
  DefineEchoMetrics(results, plan);
  DefineStreamMetrics(results, plan);
  DefineStreamMemoryMetrics(results, plan);
  DefineMultiMetrics(results, plan);
  DefinePoolMetrics(results, plan);
  DefineFailoverMetrics(results, plan);
  Clock::time_point start = Clock::now();
  for (int run = 1; run <= runs; ++run) {
    for (auto& sys : all) {
      Progress("run %d/%d: %s ...\n", run, runs, sys->name());
      Clock::time_point t0 = Clock::now();
      // ours*_inline differ from ours* only in the Ping method's handler.
      const bool pings_only = sys->pings_only();
      if (want("startup") && !pings_only) RunStartup(*sys, plan, results);
      const bool streams = !pings_only && (want("stream") || want("stream_memory"));
      if (want("latency") || want("throughput") || (want("echo") && !pings_only) || streams) {
        std::unique_ptr<Conn> conn = sys->Start();
        if (want("latency")) RunLatency(*sys, *conn, plan, results);
        if (want("throughput")) RunThroughput(*sys, *conn, plan, results);
        if (want("echo") && !pings_only) RunEcho(*sys, *conn, plan, results);
        if (want("stream") && !pings_only) RunStream(*sys, *conn, plan, results);
        if (want("stream_memory") && !pings_only) RunStreamMemory(*sys, *conn, plan, results);
        Clock::time_point c0 = Clock::now();
        conn->Close();
        Progress("run %d/%d: %s: close after latency/throughput/echo/stream took %.1f ms\n", run,
                 runs, sys->name(), Ms(Clock::now() - c0));
      }
      if (want("multi") && !pings_only) RunMulti(*sys, plan, results);
      if (want("pool") && !pings_only) RunPool(*sys, plan, results);
      if (want("failover") && !pings_only) RunFailover(*sys, plan, results);
      Progress("run %d/%d: %s done in %.1f s\n", run, runs, sys->name(),
               Ms(Clock::now() - t0) / 1e3);
    }
  }
  std::printf(
      "Ratios: \"X ÷ floor\" is system X's value ÷ the UDS floor's in the same row "
      "(times and CPU: how many times the floor's cost; rates: the fraction of the "
      "floor's rate). \"X ÷ gRPC\", on calls/s and messages/s rows only, is X's rate ÷ raw gRPC's "
      "(> 1: more calls/s than raw gRPC).\n\n");
  results.Print(systems);
  if (spread && runs > 1) {
    std::printf("\nSpread across runs (per-run statistic, min–max):\n\n");
    results.PrintSpread(systems);
  }
  std::printf("\nTotal bench time: %.1f s; load average at end: %s\n",
              Ms(Clock::now() - start) / 1e3, ReadFirstLine("/proc/loadavg").c_str());
  if (CloseErrors() > 0) {
    std::printf("\n**%d Close() call(s) of ours returned an error** (see stderr).\n",
                CloseErrors());
  }
  ::rmdir(temp);
  // Fork servers ("ours_fork") linger after their last worker by design.
  iw::internal::CloseIdleForkServers();
  // Every system must have stopped and reaped its workers by now.
  std::vector<int> left = ChildProcesses();
  if (!left.empty()) {
    std::printf("\n**%zu worker process(es) left behind:** %s\n", left.size(),
                absl::StrJoin(left, " ").c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace harness
}  // namespace iwbench

int main(int argc, char** argv) { return iwbench::harness::Main(argc, argv); }
