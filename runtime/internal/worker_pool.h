// FOR INTERNAL USE. The supervisor behind every generated host: a pool of
// worker endpoints (exactly one for a plain Spawn()).
//
// - Calls go to the least-loaded ready worker below its call limit, else
//   wait in a bounded FIFO queue (full → RESOURCE_EXHAUSTED at once), each
//   bound by its own deadline.
// - A worker that dies is replaced (RespawnPolicy::kAlways; exponential
//   backoff while replacements keep dying young). Calls in flight on it
//   follow their method's crash policy: fail with UNAVAILABLE, or run again on
//   a fresh worker within the original deadline. Calls waiting for a worker
//   while a respawn is under way keep waiting; if the respawn fails they fail
//   with the spawn error.
// - Workers above min_workers retire after idle_timeout.
// - Timeouts are resolved here, once per call (see timeouts.h).
// - Host middleware (WorkerOptions::middleware) runs here, once per logical
//   call, around the queue and the retries; every call gets a request id.
#ifndef IW_RUNTIME_INTERNAL_WORKER_POOL_H_
#define IW_RUNTIME_INTERNAL_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/internal/close_once.h"
#include "runtime/internal/connection.h"

namespace iw::internal {

class WorkerPool final : public Connection {
 public:
  // Starts a worker endpoint; called on the pool's supervisor thread (and
  // once by Start() unless lazy_start).
  using Factory = std::function<absl::StatusOr<std::unique_ptr<WorkerEndpoint>>()>;

  // Starts min_workers workers (unless lazy) and returns once they are
  // ready; the first spawn error is returned as is.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Start(
      const ServiceInfo& service, WorkerOptions options,
      std::vector<MethodOverrides> method_overrides, PoolOptions pool, Factory factory);

  ~WorkerPool() override;

  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response,
                    const CallOptions& options) override;
  CallHandle CallAsync(int method_index, const google::protobuf::MessageLite& request,
                       google::protobuf::MessageLite* response, const CallOptions& options,
                       std::function<void(absl::Status)> done) override;
  absl::Status Close(const CloseOptions& options) override;
  WorkerState state() const override;
  int pid() const override;
  std::string worker_id() const override;
  PoolStats stats() const override;

 private:
  struct Slot;
  struct Waiter;
  class AsyncOp;

  WorkerPool(const ServiceInfo& service, WorkerOptions options,
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
  // A new worker in rotation, wired to OnDeath.
  std::shared_ptr<Slot> AddSlotLocked(std::unique_ptr<WorkerEndpoint> worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes a worker for one call: at once, or after waiting in the queue.
  absl::StatusOr<std::shared_ptr<Slot>> Acquire(int method_index, const CallTiming& timing);
  // Gives the worker back; returns true if the call failed because the
  // worker died (so the crash policy applies).
  bool Release(const std::shared_ptr<Slot>& slot, const absl::Status& status);
  std::shared_ptr<Slot> PickLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DispatchLocked(std::vector<std::function<void()>>* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailQueuedLocked(const absl::Status& status, std::vector<std::function<void()>>* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void StartAsync(const std::shared_ptr<AsyncOp>& op);
  void IssueAsync(const std::shared_ptr<AsyncOp>& op, std::shared_ptr<Slot> slot);
  void FinishAsync(const std::shared_ptr<AsyncOp>& op, absl::Status status);
  // Adds "(attempt N of M)" to a failure after retries.
  absl::Status Conclude(int method_index, int attempt, int max_attempts, bool died,
                        absl::Status status);
  // Counts a finished call; `leaving`: it also stops being in flight.
  void CountFinished(const absl::Status& status, bool leaving = true);

  // The close itself, run once by close_ (see close_once.h).
  absl::Status CloseNow(const CloseOptions& options);
  void Supervise();
  bool SpawnOne();  // on the supervisor thread; false if it failed
  void OnDeath(const std::weak_ptr<Slot>& slot);
  // Takes a dead worker out of rotation (it leaves once idle) and schedules
  // its replacement.
  void MarkDeadLocked(Slot& slot, std::string description,
                      std::vector<std::function<void()>>* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetStateLocked(WorkerState state, const std::string& id,
                      std::vector<std::function<void()>>* later)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServiceInfo& service_;
  const WorkerOptions options_;
  const std::vector<MethodOverrides> method_overrides_;
  const PoolOptions pool_;
  const Factory factory_;
  const int per_worker_limit_;
  const double timeout_scale_ = TimeoutScale();  // $IW_TIMEOUT_SCALE, read once

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Waiter>> queue_ ABSL_GUARDED_BY(mu_);
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  int calls_in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // admitted, not finished
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_supervisor_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool spawning_disabled_ ABSL_GUARDED_BY(mu_) = false;  // RespawnPolicy::kNever
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_spawn_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string last_death_ ABSL_GUARDED_BY(mu_);
  WorkerState state_ ABSL_GUARDED_BY(mu_) = WorkerState::kStarting;
  std::string current_id_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> close_result_ ABSL_GUARDED_BY(mu_);
  PoolStats counters_ ABSL_GUARDED_BY(mu_);
  std::thread supervisor_;
  CloseOnce close_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_WORKER_POOL_H_
