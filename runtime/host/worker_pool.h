// FOR INTERNAL USE. The supervisor behind every generated host: a pool of
// worker endpoints (exactly one for a plain Spawn()).
//
// - Calls go to the least-loaded ready worker below its call limit, else
//   wait in a bounded FIFO queue (full → RESOURCE_EXHAUSTED at once), each
//   bound by its own deadline.
// - The pool has max_workers seats; each holds at most one worker (ready or
//   starting) and its own crash-loop history. A worker that dies is replaced
//   at once (RespawnPolicy::kAlways), replacements start in parallel, and
//   only a seat whose workers keep dying young (before ready, or before
//   serving a call within kYoungDeath) backs off. Calls in flight on a dead
//   worker follow their method's crash policy: fail with UNAVAILABLE, or run
//   again on a fresh worker within the original deadline. Queued calls keep
//   waiting (within their deadlines) through failed replacements; they fail
//   with the spawn error only once kFailFastAfter starts in a row failed and
//   no worker is up.
// - A worker is drained (no new call; it closes once its calls are done)
//   when a DEADLINE_REPLACE_WORKER call overran on it, and recycled (the
//   replacement starts first; then it drains) after
//   PoolOptions::recycle_after_calls calls, recycle_after_age, above
//   recycle_above_rss_bytes, or when a handler called
//   CallContext::RequestRecycle().
// - Workers above min_workers retire after idle_timeout.
// - Timeouts are resolved here, once per call (see timeouts.h).
// - Host middleware (WorkerOptions::middleware) runs here, once per logical
//   call, around the queue and the retries; every call gets a request id.
#ifndef IW_RUNTIME_HOST_WORKER_POOL_H_
#define IW_RUNTIME_HOST_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/common/close_once.h"
#include "runtime/host/endpoint.h"
#include "runtime/call_handle.h"
#include "runtime/options.h"
#include "runtime/worker_state.h"

namespace iw::internal {

// Workers a pool reaches but does not start itself (remote workers behind one
// load-balanced channel): how many are configured and how many are in
// rotation, for stats(). Thread-safe.
class Membership {
 public:
  virtual ~Membership() = default;
  // {ready, configured}.
  virtual std::pair<int, int> Counts() const = 0;
};

class WorkerPool final {
 public:
  // Starts a worker endpoint; called on the pool's supervisor thread (and
  // once by Start() unless lazy_start).
  using Factory = std::function<absl::StatusOr<std::unique_ptr<WorkerEndpoint>>()>;

  // Starts min_workers workers (unless lazy) and returns once they are
  // ready; the first spawn error is returned as is.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Start(
      const codegen::ServiceInfo& service, WorkerOptions options,
      std::vector<MethodOverrides> method_overrides, PoolOptions pool, Factory factory);

  ~WorkerPool();

  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response,
                    const CallOptions& options);
  CallHandle CallAsync(int method_index, const google::protobuf::MessageLite& request,
                       google::protobuf::MessageLite* response, const CallOptions& options,
                       std::function<void(absl::Status)> done);
  absl::Status Close(const CloseOptions& options);
  WorkerState state() const;
  int pid() const;
  std::string worker_id() const;
  PoolStats stats() const;

  // Remote pools: the workers behind the channel count as the pool's workers
  // in stats(). Set once, right after Start(), before any call.
  void SetMembership(std::unique_ptr<Membership> membership);

 private:
  struct Slot;
  struct Seat;
  struct Waiter;
  class AsyncOp;
  struct Task;

  WorkerPool(const codegen::ServiceInfo& service, WorkerOptions options,
             std::vector<MethodOverrides> method_overrides, PoolOptions pool,
             Factory factory);

  // One logical call after host middleware: resolves its timing, then
  // attempts it (the crash policy may retry).
  absl::Status CallWithRetries(int method_index, const google::protobuf::MessageLite& request,
                               google::protobuf::MessageLite* response,
                               const CallOptions& options, std::string request_id,
                               const Metadata* request_metadata, Metadata* response_metadata);
  CallHandle CallAsyncWithRetries(int method_index,
                                  const google::protobuf::MessageLite& request,
                                  google::protobuf::MessageLite* response,
                                  const CallOptions& options, std::string request_id,
                                  const Metadata* request_metadata,
                                  Metadata* response_metadata,
                                  std::function<void(absl::Status)> done);
  absl::StatusOr<CallTiming> Resolve(int method_index, const CallOptions& options) const;
  int MaxAttempts(int method_index) const;

  // Admission of one call: a worker at once (its in_flight counted), a
  // refusal (closing, kNever after a death, full queue), or nullptr when the
  // call now waits in the queue as `*queued` (with `op` for async calls).
  absl::StatusOr<std::shared_ptr<Slot>> AdmitLocked(int method_index,
                                                    const CallTiming& timing,
                                                    std::shared_ptr<AsyncOp> op,
                                                    std::shared_ptr<Waiter>* queued)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A new worker in rotation in seat `seat`, wired to OnDeath and
  // OnRecycleRequest.
  std::shared_ptr<Slot> AddSlotLocked(std::unique_ptr<WorkerEndpoint> worker, int seat)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes a worker for one call: at once, or after waiting in the queue.
  absl::StatusOr<std::shared_ptr<Slot>> Acquire(int method_index, const CallTiming& timing);
  // Gives the worker back; returns true if the call failed because the
  // worker died (so the crash policy applies). A DEADLINE_REPLACE_WORKER
  // call (`timing.replace_after`) that overran drains its worker.
  bool Release(const std::shared_ptr<Slot>& slot, const absl::Status& status,
               const CallTiming& timing);
  std::shared_ptr<Slot> PickLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DispatchLocked(std::vector<std::function<void()>>* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailQueuedLocked(const absl::Status& status, std::vector<std::function<void()>>* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void StartAsync(const std::shared_ptr<AsyncOp>& op);
  void IssueAsync(const std::shared_ptr<AsyncOp>& op, std::shared_ptr<Slot> slot);
  void FinishAsync(const std::shared_ptr<AsyncOp>& op, absl::Status status);
  // Adds "(attempt N of M)" to a failure after retries, and the attempt
  // numbers to its iw.WorkerCrash.
  absl::Status Conclude(int method_index, int attempt, int max_attempts, bool died,
                        absl::Status status);
  // A pool-level failure of one call: "<method>: " before the message, and
  // the method and attempt numbers in its iw.WorkerCrash, if any.
  absl::Status ForMethod(const absl::Status& status, int method_index) const;
  // Counts a finished call; `leaving`: it also stops being in flight.
  void CountFinished(const absl::Status& status, bool leaving = true);

  // The close itself, run once by close_ (see close_once.h).
  absl::Status CloseNow(const CloseOptions& options);
  void Supervise();
  // Starts a worker into seat `seat`, on a task thread of the supervisor.
  void SpawnInto(int seat);
  // Runs `work` on a thread the supervisor joins before it stops.
  void RunTaskLocked(std::function<void()> work) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Joins the finished task threads (all of them if `all`).
  void JoinTasks(bool all);
  void OnDeath(const std::weak_ptr<Slot>& slot);
  void OnRecycleRequest(const std::weak_ptr<Slot>& slot, const std::string& reason);
  // Takes a dead worker out of rotation (it leaves once idle) and schedules
  // its replacement; its seat backs off if it died young.
  void MarkDeadLocked(Slot& slot, FailureDescription description,
                      std::vector<std::function<void()>>* later)
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
  void SetStateLocked(WorkerState state, const std::string& id,
                      std::vector<std::function<void()>>* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const codegen::ServiceInfo& service_;
  const WorkerOptions options_;
  const std::vector<MethodOverrides> method_overrides_;
  const PoolOptions pool_;
  const Factory factory_;
  const int per_worker_limit_;
  const double timeout_scale_ = TimeoutScale();  // $IW_TIMEOUT_SCALE, read once

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Waiter>> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Seat> seats_ ABSL_GUARDED_BY(mu_);  // max_workers of them
  std::vector<std::unique_ptr<Task>> tasks_ ABSL_GUARDED_BY(mu_);
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  int calls_in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // admitted, not finished
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_supervisor_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool spawning_disabled_ ABSL_GUARDED_BY(mu_) = false;  // RespawnPolicy::kNever
  // Starts that failed in a row, pool-wide; at kFailFastAfter with no worker
  // up, calls fail with `last_spawn_error_` instead of waiting.
  int failed_starts_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_spawn_error_ ABSL_GUARDED_BY(mu_);
  absl::Time next_rss_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  FailureDescription last_death_ ABSL_GUARDED_BY(mu_);
  std::optional<WorkerCrash> last_crash_ ABSL_GUARDED_BY(mu_);
  WorkerState state_ ABSL_GUARDED_BY(mu_) = WorkerState::kStarting;
  std::string current_id_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> close_result_ ABSL_GUARDED_BY(mu_);
  PoolStats counters_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Membership> membership_;
  std::thread supervisor_;
  CloseOnce close_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_WORKER_POOL_H_
