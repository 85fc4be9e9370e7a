// The systems under test behind one interface: ours (the generated
// iwbench::BenchHost, on either carrier, optionally with the inline-handler
// Ping), raw gRPC C++ (grpc_baseline_server) and the UDS floor
// (uds_floor_server). A System starts workers; a Conn is one connected worker.
#ifndef IW_BENCH_SYSTEM_H_
#define IW_BENCH_SYSTEM_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "runtime/options.h"

namespace iwbench {
namespace harness {

// One connected worker.
class Conn {
 public:
  virtual ~Conn() = default;
  // One small synchronous round trip.
  virtual void Ping() = 0;
  // Starts `n` small calls at once; each completion counts `latch` down.
  virtual void IssuePings(int n, std::shared_ptr<Latch> latch) = 0;
  // For systems without their own threads (the floor): read the replies.
  virtual void CollectPings() {}
  // Echo: PrepareEcho (untimed) builds the request, Echo() is one round trip.
  virtual void PrepareEcho(size_t bytes) = 0;
  virtual void Echo() = 0;
  virtual bool SupportsSpin() const { return true; }
  virtual void SpinAsync(int64_t iterations, std::function<void()> done) = 0;
  // Server streaming: asks the worker for `count` messages of
  // `payload_bytes` each and reads them all in order, pausing `pause` after
  // each one (zero: as fast as they come). Dies on an error, a missing or
  // misordered message.
  virtual void ReadStream(int64_t count, size_t payload_bytes, std::chrono::microseconds pause) = 0;
  virtual int pid() const = 0;
  // Pools (StartSparedPool()): one small synchronous round trip that may
  // fail (a worker dies); the pool's PoolStats::workers_crashed and
  // spare_workers.
  virtual bool TryPing() {
    Ping();
    return true;
  }
  virtual int64_t WorkersCrashed() const { return 0; }
  virtual int SpareWorkers() const { return 0; }
  // Stops the worker and reaps it.
  virtual void Close() = 0;
};

class System {
 public:
  virtual ~System() = default;
  virtual const char* name() const = 0;
  // Whether only the ping workloads (latency, throughput) apply: the
  // inline-handler variants differ from their system only in Ping's handler.
  virtual bool pings_only() const { return false; }
  // Starts a worker and returns once it can take calls.
  virtual std::unique_ptr<Conn> Start() = 0;
  // A real pool of `n` workers behind one connection, if the system has
  // pools (ours); nullptr otherwise (the bench then emulates one).
  virtual std::unique_ptr<Conn> StartPool(int /*n*/) { return nullptr; }
  // A pool of `n` workers with PoolOptions::warm_spares = `spares`, if the
  // system has pools; nullptr otherwise.
  virtual std::unique_ptr<Conn> StartSparedPool(int /*n*/, int /*spares*/) { return nullptr; }
};

// "ours" with `worker` (bench_worker) and WorkerOptions::transport =
// `transport`: "ours" (kNative, the default) or "ours_grpc" (kGrpc). With
// `inline_ping`, "ours_inline" / "ours_grpc_inline": pings call PingInline
// (an (iw.method).inline_handler method) instead of Ping, and only the ping
// workloads run. `call_stream` is WorkerOptions::call_stream
// (--no_call_stream). With StartMode::kForkServer (native carrier only):
// "ours_fork", workers forked by a fork server.
std::unique_ptr<System> MakeOursSystem(std::string worker, iw::WorkerTransport transport,
                                       bool inline_ping, bool call_stream,
                                       iw::StartMode start_mode = iw::StartMode::kExec);
// "grpc": `server` is grpc_baseline_server; sockets go to `socket_dir`.
std::unique_ptr<System> MakeGrpcSystem(std::string server, std::string socket_dir);
// "floor": `server` is uds_floor_server; sockets go to `socket_dir`.
std::unique_ptr<System> MakeFloorSystem(std::string server, std::string socket_dir);

// Starts `n` workers of `sys` in parallel (one thread each).
std::vector<std::unique_ptr<Conn>> StartMany(System& sys, int n);
// Closes all of `conns` in parallel and clears it.
void CloseMany(std::vector<std::unique_ptr<Conn>>& conns);

}  // namespace harness
}  // namespace iwbench

#endif  // IW_BENCH_SYSTEM_H_
