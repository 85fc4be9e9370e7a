// -----------------------------------------------------------------------------
// File: worker_state.h
// -----------------------------------------------------------------------------
//
// What a host reports about its workers: the state of the host's worker
// (`WorkerState`, also passed to WorkerOptions::on_state_change) and the
// counters of a host or pool (`PoolStats`, from HostBase::stats()).

#ifndef IW_RUNTIME_WORKER_STATE_H_
#define IW_RUNTIME_WORKER_STATE_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <cstdint>

namespace iw {

// Where a worker is in its life.
enum class WorkerState {
  kStarting,  // spawning (first start or respawn), not ready yet
  kReady,     // accepting calls
  kClosing,   // Close() in progress: no new calls
  kClosed,    // closed by the host; processes reaped
  kCrashed,   // the worker died on its own (reaped); a respawn may follow
};

// Printable name of a state ("ready", ...).
const char* WorkerStateName(WorkerState state);

// Counters of a host or pool, readable at any time.
struct PoolStats {
  // Running (ready) workers. Remote hosts: workers whose health service
  // answers SERVING (refreshed twice a second), i.e. those in rotation.
  int workers = 0;
  int workers_busy = 0;  // ready workers with at least one call in flight
  int workers_idle = 0;  // ready workers with none
  int workers_starting = 0;
  // Ready workers whose calls are multiplexed on one connection: the
  // native carrier (WorkerTransport::kNative, every call) or the gRPC call
  // stream (WorkerOptions::call_stream, small calls); the others get unary
  // RPCs only.
  int workers_streaming = 0;
  // Of those, the ones on the native carrier (spawned workers only).
  int workers_native = 0;
  int calls_in_flight = 0;
  int calls_queued = 0;
  int64_t calls_completed = 0;  // finished with OK
  int64_t calls_failed = 0;     // finished with an error (any code)
  // Started successfully, ever (a warm spare counts once promoted).
  int64_t workers_spawned = 0;
  int64_t workers_crashed = 0;  // died on their own, ever
  // Replaced gracefully, ever: PoolOptions::recycle_* bounds and
  // CallContext::RequestRecycle(). Not counted as crashes.
  int64_t workers_recycled = 0;
  // Remote hosts only: the workers Connect() was given (addresses in the
  // list, or what the DNS name resolves to now, re-resolved every 5 s);
  // `workers` of them are ready. 0 for spawned workers.
  int workers_configured = 0;
  // Warm spares (PoolOptions::warm_spares): started, ready and idle, not in
  // rotation and not counted in `workers`, `workers_idle` or
  // `workers_spawned` until promoted. Spares being started count in
  // `workers_starting`.
  int spare_workers = 0;
  // Spares promoted into rotation, ever: each replaced a dead, drained or
  // recycled worker, or grew the pool, without a spawn while calls waited.
  int64_t spares_promoted = 0;
  // Spares that died while idle, ever. They were replaced; they served no
  // call, so they do not count in `workers_crashed`.
  int64_t spares_died = 0;
};

}  // namespace iw

#endif  // IW_RUNTIME_WORKER_STATE_H_
