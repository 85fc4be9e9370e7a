// FOR INTERNAL USE. The workers of a pool (see worker_pool.h): their seats,
// starts and replacements, crash-loop backoff, draining and recycling, idle
// retirement, and the supervisor thread that times all of it.
//
// - The pool has max_workers seats; each holds at most one worker (ready or
//   starting) and its own crash-loop history. A worker that dies is replaced
//   at once (RespawnPolicy::kAlways), replacements start in parallel, and
//   only a seat whose workers keep dying young (before ready, or before
//   serving a call within Tuning::young_death) backs off.
// - A worker is drained (no new call; it closes once its calls are done)
//   when a DEADLINE_REPLACE_WORKER call overran on it, and recycled (the
//   replacement starts first; then it drains) after
//   PoolOptions::recycle_after_calls calls, recycle_after_age, above
//   recycle_above_rss_bytes, or when a handler called
//   CallContext::RequestRecycle().
// - Workers above min_workers retire after idle_timeout.
// - With PoolOptions::warm_spares, ready idle workers wait out of rotation
//   (pool_spares.h); a seat to fill takes one before it spawns, and the
//   supervisor starts new spares in the background.
//
// The calls themselves (admission, the queue, retries) are the pool's
// admission's (pool_admission.h); the supervisor sees the queue through
// Supervisor::Queue. Both share one lock, mu().
#ifndef IW_RUNTIME_HOST_POOL_SUPERVISOR_H_
#define IW_RUNTIME_HOST_POOL_SUPERVISOR_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/host/endpoint.h"
#include "runtime/host/pool_slot.h"
#include "runtime/host/pool_spares.h"
#include "runtime/metrics.h"
#include "runtime/wire/call_failure.h"

namespace iw::internal {

// Work collected under the pool's lock and run after it is released
// (callbacks, logging, completions).
using Later = std::vector<std::function<void()>>;

// Runs and clears `later`.
inline void RunAll(Later& later) {
  for (auto& f : later) f();
  later.clear();
}

class Supervisor {
 public:
  // Starts a worker endpoint; called on a task thread of the supervisor (and
  // by Start() unless lazy_start).
  using Factory = std::function<absl::StatusOr<std::unique_ptr<WorkerEndpoint>>()>;

  // The crash-loop policy (docs/lifecycle.md, "Respawn and backoff"). A
  // seat's worker "dies young" if it could not be started, or died less
  // than `young_death` after it was ready without finishing a single call.
  // The first young death of a seat is replaced at once; each further one in
  // a row doubles the seat's delay, from `first_backoff` up to
  // `max_backoff`. A worker that finished a call, or lived longer, resets
  // its seat. The defaults are the library's; tests shrink them.
  struct Tuning {
    absl::Duration young_death = absl::Seconds(1);
    absl::Duration first_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(5);
    // After this many failed starts in a row (pool-wide) with no worker up,
    // queued and new calls fail with the spawn error instead of waiting.
    int fail_fast_after = 3;
    // How often the supervisor reads the workers' resident memory
    // (PoolOptions::recycle_above_rss_bytes).
    absl::Duration rss_check_interval = absl::Milliseconds(500);
    // How long after a warm spare is promoted its replacement starts (see
    // SpareSet).
    absl::Duration spare_refill_delay = absl::Milliseconds(50);
  };

  // One worker in the pool (pool_slot.h).
  using Slot = PoolSlot;

  // One place in the pool: at most one worker (starting or up), and the
  // crash-loop history of the workers that held it.
  struct Seat {
    bool occupied = false;
    int young_deaths = 0;  // in a row
    absl::Time not_before = absl::InfinitePast();
  };

  // What the supervisor needs of the calls waiting for a worker. Every
  // method runs with mu() held.
  class Queue {
   public:
    virtual ~Queue() = default;
    // Calls waiting for a worker.
    virtual int QueuedLocked() const = 0;
    // When the next waiting call that the supervisor times out expires
    // (InfiniteFuture if none).
    virtual absl::Time NextExpiryLocked() const = 0;
    // Fails (on `later`) the calls it times out whose deadline is over.
    virtual void ExpireLocked(absl::Time now, Later* later) = 0;
    // Hands waiting calls, oldest first, to workers with room.
    virtual void DispatchLocked(Later* later) = 0;
    // Fails every waiting call with `status` (which names no method).
    virtual void FailAllLocked(const absl::Status& status, Later* later) = 0;
  };

  // When the crash-loop policy lets a seat start again after its
  // `young_deaths`-th young death in a row at `now`.
  static absl::Time NotBefore(int young_deaths, absl::Time now, const Tuning& tuning);

  // `per_worker_limit`: calls one worker gets at once.
  Supervisor(const codegen::ServiceInfo& service, const WorkerOptions& options,
             const PoolOptions& pool, int per_worker_limit, Factory factory, Tuning tuning);
  // Close() must have returned, or Start() never run.
  ~Supervisor();

  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Set once, before Start().
  void set_queue(Queue* queue) { queue_ = queue; }

  // Where the pool's records go.
  const Logger& logger() const { return logger_; }

  // Starts min_workers workers (unless lazy), and returns once they are
  // ready, the first spawn error as is; then starts the supervisor thread.
  absl::Status Start();

  // The pool's one lock: the supervisor's state and the queue's.
  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // ---- For the admission of calls (mu() held). ----

  // The worker with room for one more call: the least loaded; one being
  // recycled only if no other has room. nullptr if none.
  std::shared_ptr<Slot> PickLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why no call can be admitted although the pool is open: the last worker
  // died under RespawnPolicy::kNever, or starts keep failing and no worker
  // is up. OK otherwise. The message names no method.
  absl::Status RefusalLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool closing_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closing_; }
  WorkerState state_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return state_; }
  const std::string& current_id_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return current_id_;
  }
  // The supervisor looks again (a call was queued).
  void WakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { wake_ = true; }
  // A call on `slot` ended with `status`. Returns true if it failed because
  // the worker died (so the crash policy applies). A DEADLINE_REPLACE_WORKER
  // call (`timing.replace_after`) that overran drains its worker; a worker
  // past PoolOptions::recycle_after_calls is recycled.
  bool ReleaseLocked(Slot& slot, const absl::Status& status, const CallTiming& timing, Later* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The worker counters of PoolStats.
  void StatsLocked(PoolStats* stats) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What PoolStats does not tell (spawn failures, crashes by cause, exit
  // code and signal, workers draining) and the workers of HostMetrics.
  // Reads /proc for workers whose reading is older than `usage_max_age`,
  // without holding the lock while it reads.
  void Metrics(HostMetrics* out, absl::Duration usage_max_age) const ABSL_LOCKS_EXCLUDED(mu_);

  // ---- Closing. ----

  // Marks the pool closing and tells the supervisor thread to stop. Returns
  // true the first time.
  bool BeginCloseLocked(Later* later) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After BeginCloseLocked(): joins the supervisor thread (and its tasks),
  // closes every worker at once with `options`, runs `wait_for_calls`
  // (without the lock) before the endpoints are destroyed, and returns the
  // first failure of a worker that had not crashed.
  absl::Status Close(const CloseOptions& options, absl::FunctionRef<void()> wait_for_calls);

  WorkerState state() const;
  int pid() const;
  std::string worker_id() const;

 private:
  // A thread of the supervisor (a spawn, or the close of a leaving worker).
  struct Task {
    std::thread thread;
    bool done = false;  // guarded by mu_
  };

  // A slot for a started worker, wired to OnDeath and OnRecycleRequest; in
  // no list yet.
  std::shared_ptr<Slot> NewSlotLocked(std::unique_ptr<WorkerEndpoint> worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `slot` in rotation in seat `seat` (counted as spawned).
  void AddSlotLocked(const std::shared_ptr<Slot>& slot, int seat)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A ready worker (new, or a promoted spare) joins the rotation in seat
  // `seat`: a worker being recycled leaves, the queue is dispatched.
  void AdoptLocked(const std::shared_ptr<Slot>& slot, int seat, Later* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Right where a death frees seat `seat` (no hop to the supervisor
  // thread): a ready spare takes it if the pool is below min_workers; the
  // supervisor starts a new spare.
  void PromoteSpareLocked(int seat, Later* later) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes a worker out of every list on a task thread.
  void CloseLaterLocked(std::shared_ptr<Slot> slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Supervise();
  // Starts a worker into seat `seat`, on a task thread of the supervisor.
  void SpawnInto(int seat);
  // Starts a warm spare, on a task thread of the supervisor.
  void SpawnSpare();
  // Runs `work` on a thread the supervisor joins before it stops.
  void RunTaskLocked(std::function<void()> work) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Joins the finished task threads (all of them if `all`).
  void JoinTasks(bool all);
  void OnDeath(const std::weak_ptr<Slot>& slot);
  void OnRecycleRequest(const std::weak_ptr<Slot>& slot, const std::string& reason);
  // Takes a dead worker out of rotation (it leaves once idle) and schedules
  // its replacement; its seat backs off if it died young.
  void MarkDeadLocked(Slot& slot, FailureDescription description, Later* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Out of rotation now; it closes once its calls are done; a replacement
  // starts. Its seat is free again with a clean history.
  void DrainLocked(Slot& slot, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stays in rotation until a replacement is ready, then drains.
  void RecycleLocked(Slot& slot, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A start that failed or a worker that died young: the seat backs off.
  void NoteEarlyFailureLocked(Seat& seat) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The status of calls to a pool whose last worker died under
  // RespawnPolicy::kNever.
  absl::Status NeverRespawnedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Workers that count towards the pool's size (ready, not leaving).
  int LiveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetStateLocked(WorkerState state, const std::string& id, Later* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A worker in rotation died on its own, as `crash` tells (PoolMetrics).
  void CountCrashLocked(const std::optional<WorkerCrash>& crash) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const codegen::ServiceInfo& service_;
  const WorkerOptions& options_;  // the pool's
  const Logger logger_;           // WorkerOptions::log_sink, else the process-wide sink
  const PoolOptions pool_;
  const int per_worker_limit_;
  const Factory factory_;
  const Tuning tuning_;
  Queue* queue_ = nullptr;

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<Seat> seats_ ABSL_GUARDED_BY(mu_);  // max_workers of them
  std::vector<std::unique_ptr<Task>> tasks_ ABSL_GUARDED_BY(mu_);
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_supervisor_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool spawning_disabled_ ABSL_GUARDED_BY(mu_) = false;  // RespawnPolicy::kNever
  // Starts that failed in a row, pool-wide; at fail_fast_after with no
  // worker up, calls fail with `last_spawn_error_` instead of waiting.
  int failed_starts_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_spawn_error_ ABSL_GUARDED_BY(mu_);
  absl::Time next_rss_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // When a start the supervisor wanted but deferred for a seat's backoff is
  // due (InfiniteFuture if none).
  absl::Time deferred_start_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  FailureDescription last_death_ ABSL_GUARDED_BY(mu_);
  std::optional<WorkerCrash> last_crash_ ABSL_GUARDED_BY(mu_);
  // PoolMetrics: failed starts (spares' included), crashes as their
  // deaths became fully known (OnDeath).
  int64_t spawn_failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> crashes_by_cause_ ABSL_GUARDED_BY(mu_);
  std::map<int, int64_t> crashes_by_exit_code_ ABSL_GUARDED_BY(mu_);
  std::map<int, int64_t> crashes_by_signal_ ABSL_GUARDED_BY(mu_);
  WorkerState state_ ABSL_GUARDED_BY(mu_) = WorkerState::kStarting;
  std::string current_id_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> close_result_ ABSL_GUARDED_BY(mu_);
  PoolStats counters_ ABSL_GUARDED_BY(mu_);  // workers_spawned/crashed/recycled
  SpareSet spares_ ABSL_GUARDED_BY(mu_);
  // Spares start once the pool's first worker is requested (lazy_start).
  bool spares_active_ ABSL_GUARDED_BY(mu_) = false;
  std::thread supervisor_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_POOL_SUPERVISOR_H_
