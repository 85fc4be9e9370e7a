// FOR INTERNAL USE. The calls of a pool (see worker_pool.h): admission to a
// worker, the bounded FIFO queue, and the crash policy's retries.
//
// - A call goes to the least-loaded ready worker below its call limit
//   (Supervisor::PickLocked), else waits in a bounded FIFO queue (full →
//   RESOURCE_EXHAUSTED at once), bound by its own deadline.
// - Calls in flight on a dead worker follow their method's crash policy
//   (RetryPolicy): fail with UNAVAILABLE, or run again on a fresh worker
//   within the original deadline. Queued calls keep waiting (within their
//   deadlines) through failed replacements; they fail with the spawn error
//   only once starts keep failing and no worker is up.
//
// One ladder for both kinds of call: admission (AdmitLocked), release
// (Supervisor::ReleaseLocked) and the decision to retry
// (RetryPolicy::NextAttempt) are the same code. Only the waiting differs: a
// blocking call runs its attempts on the caller's thread (it waits in the
// queue on the pool's lock and calls WorkerEndpoint::Call), so it costs no
// thread hop or wake-up beyond the worker's reply; an asynchronous call is
// carried from attempt to attempt by the endpoints' completion callbacks.
// Running the blocking call as "the asynchronous call plus a wait" would add
// a hop to every call (the reply would arrive on a framework thread and then
// wake the caller).
#ifndef IW_RUNTIME_HOST_POOL_ADMISSION_H_
#define IW_RUNTIME_HOST_POOL_ADMISSION_H_

#include <deque>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/host/endpoint.h"
#include "runtime/host/pool_supervisor.h"
#include "runtime/host/retry_policy.h"

namespace iw::internal {

class CallAdmission final : public Supervisor::Queue {
 public:
  using Slot = Supervisor::Slot;

  // `policy` and `supervisor` must outlive this; the supervisor's lock
  // guards the queue too. Registers itself as the supervisor's queue.
  CallAdmission(const RetryPolicy& policy, const PoolOptions& pool, Supervisor* supervisor);

  // One logical call (timing already resolved), with retries, on the
  // caller's thread.
  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response, const CallTiming& timing);
  // The same, asynchronously: `done` runs exactly once (on the caller's
  // thread only if the call fails before it is admitted).
  CallHandle CallAsync(int method_index, const google::protobuf::MessageLite& request,
                       google::protobuf::MessageLite* response, CallTiming timing,
                       std::function<void(absl::Status)> done);

  // ---- Streams (pool_stream.h): a stream holds a worker like a call. ----

  // Counts one logical stream in flight (until EndStream()).
  void BeginStream(const CallTiming& timing);
  // Takes a worker for one attempt of a stream: at once, or after waiting
  // in the queue (up to the deadline).
  absl::StatusOr<std::shared_ptr<Slot>> AcquireForStream(int method_index,
                                                         const CallTiming& timing);
  // Gives the worker of an attempt back; true if the attempt failed because
  // the worker died.
  bool ReleaseFromStream(const std::shared_ptr<Slot>& slot, const absl::Status& status,
                         const CallTiming& timing) {
    return Release(slot, status, timing);
  }
  // Counts the stream finished with its final status (`code`: before host
  // middleware's OnResponse), opened at `started`.
  void EndStream(const absl::Status& status, absl::StatusCode code, const CallTiming& timing,
                 absl::Time started) {
    CountFinished(status, timing, code, started);
  }

  // Waits up to `timeout` until every admitted call has finished (and its
  // callback returned); logs if some have not.
  void AwaitIdle(absl::Duration timeout);
  // The call counters of PoolStats.
  void StatsLocked(PoolStats* stats) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(supervisor_->mu());

  // Supervisor::Queue.
  int QueuedLocked() const override;
  absl::Time NextExpiryLocked() const override;
  void ExpireLocked(absl::Time now, Later* later) override;
  void DispatchLocked(Later* later) override;
  void FailAllLocked(const absl::Status& status, Later* later) override;

 private:
  struct Waiter;
  class AsyncOp;

  // Admission of one call: a worker at once (its in_flight counted), a
  // refusal (closing, kNever after a death, full queue), or nullptr when the
  // call now waits in the queue as `*queued` (with `op` for async calls).
  absl::StatusOr<std::shared_ptr<Slot>> AdmitLocked(int method_index, const CallTiming& timing,
                                                    std::shared_ptr<AsyncOp> op,
                                                    std::shared_ptr<Waiter>* queued)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(supervisor_->mu());
  // Takes a worker for one blocking call: at once, or after waiting in the
  // queue.
  absl::StatusOr<std::shared_ptr<Slot>> Acquire(int method_index, const CallTiming& timing);
  // Gives the worker back (Supervisor::ReleaseLocked) and hands it the next
  // queued call; returns true if the call failed because the worker died.
  bool Release(const std::shared_ptr<Slot>& slot, const absl::Status& status,
               const CallTiming& timing);

  void StartAsync(const std::shared_ptr<AsyncOp>& op);
  void IssueAsync(const std::shared_ptr<AsyncOp>& op, std::shared_ptr<Slot> slot);
  void FinishAsync(const std::shared_ptr<AsyncOp>& op, absl::Status status);
  // Counts a finished call (PoolStats, and its method's metrics with `code`
  // and the time since `started`); `leaving`: it also stops being in flight.
  void CountFinished(const absl::Status& status, const CallTiming& timing, absl::StatusCode code,
                     absl::Time started, bool leaving = true);

  const RetryPolicy& policy_;
  const int max_queued_calls_;
  Supervisor* const supervisor_;
  absl::Mutex& mu_;  // the supervisor's

  std::deque<std::shared_ptr<Waiter>> queue_ ABSL_GUARDED_BY(mu_);
  int calls_in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // admitted, not finished
  int64_t calls_completed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t calls_failed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_POOL_ADMISSION_H_
