// -----------------------------------------------------------------------------
// File: metrics.h
// -----------------------------------------------------------------------------
//
// What a host measures about its calls and workers, always on: per method
// (calls by final status code, queue-wait / run / handler / call-time
// histograms, bytes, calls in flight), per pool (workers by state, queue
// depth, spawns, crashes by cause, retries, recycles) and per worker (pid,
// calls served, resident memory and CPU time from /proc). Read it with
// `HostBase::Metrics()`, a consistent-enough typed snapshot (each counter is
// read atomically; counters of one call may be seen before its histogram
// entries, never the other way round for `calls_finished`).
//
// Cumulative, never reset: every counter and histogram counts from the
// host's start (`HostMetrics::start_time`), so several readers (a Prometheus
// exporter, a log line per minute, a test) never disturb each other. For a
// per-interval view ("the last minute"), keep the previous snapshot and take
// `MetricsDelta(now, previous)`.
//
// Cost: a few relaxed atomic increments per call and attempt, no lock, no
// allocation (docs/benchmarks.md, "Metrics"). /proc is read only when a
// snapshot is taken, at most once per second per worker.
//
// Example:
//
//   iw::HostMetrics m = host->Metrics();
//   for (const iw::MethodMetrics& method : m.methods) {
//     std::printf("%s: %lld calls, p99 %.3f ms\n", method.method.c_str(),
//                 method.calls_finished, 1e3 * method.call_time.Quantile(0.99));
//   }
//
// docs/observability.md lists every metric with its meaning and unit.

#ifndef IW_RUNTIME_METRICS_H_
#define IW_RUNTIME_METRICS_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace iw {

// Upper bounds, in seconds, of the finite buckets of every latency histogram
// (Prometheus "le" semantics: a bucket counts observations <= its bound).
// 50 µs to 5 minutes; a last, unbounded bucket holds the rest.
inline constexpr std::array<double, 21> kLatencyBucketBounds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25,    0.5,    1,       2.5,    5,     10,     30,    60,   120,   300};

// A histogram of durations.
struct LatencyHistogram {
  // counts[i]: observations in bucket i, NOT cumulative: bucket i holds
  // (kLatencyBucketBounds[i-1], kLatencyBucketBounds[i]]; the last one
  // (index kLatencyBucketBounds.size()) everything above the last bound.
  std::array<int64_t, kLatencyBucketBounds.size() + 1> counts{};
  // Number of observations (the sum of `counts`).
  int64_t count = 0;
  // Sum of the observations, in seconds.
  double sum_seconds = 0;

  // An estimate of the q-quantile (0 <= q <= 1), in seconds, by linear
  // interpolation inside the bucket that holds it (as Prometheus's
  // histogram_quantile). 0 if empty; the last finite bound if it falls in
  // the unbounded bucket.
  double Quantile(double q) const;
  // Mean in seconds; 0 if empty.
  double Mean() const { return count == 0 ? 0 : sum_seconds / static_cast<double>(count); }
};

// One RPC method of the host's service.
struct MethodMetrics {
  // "/pkg.Service/Method".
  std::string method;
  // Client-, server- or bidirectional-streaming.
  bool streaming = false;

  // Logical calls (streams count as calls): made by the caller, and
  // finished with their final status (what the caller got, after retries,
  // before host middleware's OnResponse).
  int64_t calls_started = 0;
  int64_t calls_finished = 0;
  // Finished calls by final status code: calls_by_code[int(code)], codes 0
  // (OK) to 16 (UNAUTHENTICATED); absl::StatusCodeToString() names them as
  // gRPC does ("DEADLINE_EXCEEDED"). Sums to calls_finished.
  std::array<int64_t, 17> calls_by_code{};
  // Started, not finished yet (a gauge).
  int64_t calls_in_flight = 0;
  // Attempts after the first (CrashPolicy::kRetry re-sending a call lost
  // with its worker).
  int64_t retries = 0;
  // Serialized message bytes sent to workers (every attempt) and received
  // from them; for streams, every message.
  int64_t request_bytes = 0;
  int64_t response_bytes = 0;

  // Per attempt that got a worker: time waiting for a free worker (0 when
  // one was free at once). Host clock.
  LatencyHistogram queue_wait;
  // Per attempt sent to a worker: from sending to the reply or failure,
  // as the host saw it (the handler, the trip both ways, (de)serialization
  // in the worker). Host clock. Unary methods only.
  LatencyHistogram run_time;
  // Per attempt a worker answered: the time the worker spent in worker
  // middleware and the handler, measured by the worker itself. run_time
  // minus handler_time is the framework's and the transport's share.
  // Unary methods only.
  LatencyHistogram handler_time;
  // Per logical call: from the call to its final status (queue, every
  // attempt, backoff between them), as the caller waited for it. Streams:
  // from opening to the final status.
  LatencyHistogram call_time;
};

// One worker process (or, for in-process and remote hosts, endpoint).
struct WorkerMetrics {
  enum class Role {
    kServing,    // in rotation
    kRecycling,  // in rotation until its replacement is ready
    kDraining,   // no new calls; closes when its calls are done
    kSpare,      // a warm spare (PoolOptions::warm_spares)
  };
  std::string worker_id;  // "Ping#3 (pid 4242)"
  int pid = 0;            // 0: none of its own (in-process, remote)
  Role role = Role::kServing;
  int calls_in_flight = 0;
  // Calls and streams that finished on it without it dying.
  int64_t calls_served = 0;
  // When it became ready.
  absl::Time ready_since;
  // From /proc/<pid>/statm and /proc/<pid>/stat, read when a snapshot is
  // taken but at most once per second per worker (older values are reused;
  // `usage_read_at` says when they were read). 0 / InfinitePast when
  // unavailable (no pid of its own, or the process is gone).
  int64_t rss_bytes = 0;
  absl::Duration cpu_user;
  absl::Duration cpu_system;
  absl::Time usage_read_at = absl::InfinitePast();
};

// The workers of the host as a whole.
struct PoolMetrics {
  // Gauges, now.
  int workers_ready = 0;     // in rotation (busy + idle)
  int workers_busy = 0;      // in rotation, with a call in flight
  int workers_idle = 0;      // in rotation, none
  int workers_starting = 0;  // being started (spares included)
  int workers_draining = 0;  // leaving: drained, or dead with calls to fail
  int spare_workers = 0;     // warm spares, ready and idle
  int calls_queued = 0;      // calls waiting for a free worker

  // Counters, since the host started.
  int64_t workers_spawned = 0;   // became ready (a promoted spare once)
  int64_t spawn_failures = 0;    // starts that failed (then retried with backoff)
  int64_t workers_crashed = 0;   // died on their own (sum of crashes_by_cause)
  int64_t workers_recycled = 0;  // replaced gracefully (PoolOptions::recycle_*, RequestRecycle)
  int64_t retries = 0;           // the methods' retries, summed
  int64_t spares_promoted = 0;
  int64_t spares_died = 0;
  // Crashes by cause name: "exited", "killed_by_signal",
  // "deadline_replacement", "protocol_error", "connection_lost",
  // "unknown" (WorkerCrash::Cause, lower-case; see worker_crash.h).
  std::map<std::string, int64_t> crashes_by_cause;
  // Of those, by exit code (cause "exited") and by signal number (cause
  // "killed_by_signal").
  std::map<int, int64_t> crashes_by_exit_code;
  std::map<int, int64_t> crashes_by_signal;
};

// Everything a host measured, at one moment.
struct HostMetrics {
  // The service's full name, "pkg.Service".
  std::string service;
  // The counters count from here (the host's start).
  absl::Time start_time;
  // When this snapshot was taken.
  absl::Time taken;
  // One per RPC method, in .proto order.
  std::vector<MethodMetrics> methods;
  PoolMetrics pool;
  // Workers alive now (not the dead or closed ones), oldest first.
  std::vector<WorkerMetrics> workers;

  // The method with this path ("/pkg.Service/Method") or name ("Method");
  // null if none.
  const MethodMetrics* Method(const std::string& path_or_name) const;
};

// `later` minus `earlier` (two snapshots of the same host, `earlier` taken
// first): counters and histograms count what happened in between; gauges
// (in flight, workers, queue, usage) and `workers` are `later`'s;
// `start_time` becomes `earlier.taken`. INVALID_ARGUMENT-free by design: a
// method missing from `earlier` counts from zero.
HostMetrics MetricsDelta(const HostMetrics& later, const HostMetrics& earlier);

}  // namespace iw

#endif  // IW_RUNTIME_METRICS_H_
