// How much each workload does: warm-up and timed iterations per system
// (gRPC-based systems / the cheaper floor), set from the command line.
// Defaults mirror /work/shared/research/perf-baseline.md; --quick is
// MakeQuick().
#ifndef IW_BENCH_PLAN_H_
#define IW_BENCH_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace iwbench {
namespace harness {

struct Plan {
  // Startup: warm-up + timed iterations (floor: more, it is cheap).
  int startup_warm = 1, startup_iters = 30, floor_startup_iters = 50;
  // Latency.
  int lat_warm = 1000, lat_iters = 10000;
  int floor_lat_warm = 10000, floor_lat_iters = 100000;
  // Throughput: batches of `in_flight` calls per level, for a fixed time
  // (every system, the floor included): a warm-up, then timed batches until
  // `tput_seconds` have passed and at least `tput_min_batches` were done.
  std::vector<int> tput_in_flight = {1, 10, 100, 1000};
  double tput_warm_seconds = 0.2, tput_seconds = 1.0;
  int tput_min_batches = 5;
  // Echo: sizes and iterations (gRPC-based systems / floor).
  std::vector<size_t> echo_sizes = {1 << 10, 64 << 10, 1 << 20, 16 << 20};
  std::vector<int> echo_iters = {5000, 2000, 200, 20};
  std::vector<int> floor_echo_iters = {20000, 5000, 500, 30};
  // Multi-worker.
  int multi_workers = 15, multi_pings = 10;
  int multi_spawn_iters = 5, multi_warm_iters = 30;
  // Pool scaling.
  std::vector<int> pool_sizes = {1, 2, 4};
  int pool_calls = 200;
  int64_t spin_iterations = 1000000;
  // Failover: warm-up + timed kills per variant (warm_spares 0 and 1).
  int failover_warm = 1, failover_iters = 15;
  // Server stream: one call streams `stream_messages` messages of
  // `stream_payload` bytes (after one warm-up stream of a tenth of them).
  int64_t stream_messages = 100000;
  size_t stream_payload = 16;
  // Bounded memory (stream_memory): a reader pausing after each message of
  // a `memory_stream_mib` MiB stream of `memory_message_kib` KiB messages.
  int64_t memory_stream_mib = 1024;
  int64_t memory_message_kib = 256;
  int memory_pause_us = 2000;

  // The smoke run (--quick): a small fraction of every count.
  void MakeQuick() {
    startup_iters = 3;
    floor_startup_iters = 5;
    lat_warm = 100;
    lat_iters = 1000;
    floor_lat_warm = 1000;
    floor_lat_iters = 5000;
    tput_warm_seconds = 0.05;
    tput_seconds = 0.2;
    echo_iters = {200, 100, 10, 3};
    floor_echo_iters = {500, 200, 20, 3};
    multi_spawn_iters = 1;
    multi_warm_iters = 3;
    pool_calls = 24;
    failover_iters = 2;
    stream_messages = 10000;
    memory_stream_mib = 64;
  }
};

}  // namespace harness
}  // namespace iwbench

#endif  // IW_BENCH_PLAN_H_
