#include "runtime/host/pool_admission.h"

#include "runtime/wire/call_failure.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/timeouts.h"
#include "runtime/host/call_metrics.h"
#include "runtime/logging.h"

namespace iw::internal {

using google::protobuf::MessageLite;

// A call waiting for a worker. Sync callers wait on `done`; async ones carry
// their operation.
struct CallAdmission::Waiter {
  absl::Time deadline;
  int method_index;
  bool done = false;
  std::shared_ptr<Slot> slot;
  absl::Status error;
  std::shared_ptr<AsyncOp> op;
};

// One asynchronous call across its attempts. Its Cancel() reaches whichever
// attempt is current, or takes it out of the queue.
class CallAdmission::AsyncOp final : public PendingCall {
 public:
  AsyncOp(CallAdmission* admission, CallAttempts ladder, CallTiming timing, MessageLite* response,
          std::function<void(absl::Status)> done)
      : admission(admission),
        method_index(ladder.method_index),
        timing(std::move(timing)),
        response(response),
        done(std::move(done)),
        ladder(ladder) {}

  void Cancel() override {
    std::shared_ptr<PendingCall> current;
    {
      absl::MutexLock lock(&mu);
      if (cancelled) return;
      cancelled = true;
      current = attempt_call;
    }
    if (current) {
      current->Cancel();
      return;
    }
    // Not on a worker: it may be waiting in the queue.
    std::shared_ptr<Waiter> waiter;
    {
      absl::MutexLock lock(&admission->mu_);
      auto& queue = admission->queue_;
      for (auto it = queue.begin(); it != queue.end(); ++it) {
        if ((*it)->op.get() == this) {
          waiter = *it;
          queue.erase(it);
          break;
        }
      }
    }
    if (waiter) {
      admission->FinishAsync(waiter->op,
                             absl::CancelledError(absl::StrCat(
                                 MethodDisplayName(admission->policy_.service(), method_index),
                                 ": cancelled by the host")));
    }
  }

  CallAdmission* const admission;
  const int method_index;
  const CallTiming timing;
  MessageLite* const response;
  std::function<void(absl::Status)> done;
  std::string request;  // serialized once; the last attempt takes it
  // Advanced only by the attempt that ends (one at a time).
  CallAttempts ladder;
  // For the metrics: when the call was made, and when the current attempt
  // asked for a worker and was sent to one (attempts run one at a time).
  const absl::Time started = absl::Now();
  absl::Time asked = started;
  absl::Time issued;

  absl::Mutex mu;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  std::shared_ptr<PendingCall> attempt_call ABSL_GUARDED_BY(mu);
};

CallAdmission::CallAdmission(const RetryPolicy& policy, const PoolOptions& pool,
                             Supervisor* supervisor)
    : policy_(policy),
      max_queued_calls_(pool.max_queued_calls),
      supervisor_(supervisor),
      mu_(supervisor->mu()) {
  supervisor->set_queue(this);
}

absl::StatusOr<std::shared_ptr<CallAdmission::Slot>> CallAdmission::AdmitLocked(
    int method_index, const CallTiming& timing, std::shared_ptr<AsyncOp> op,
    std::shared_ptr<Waiter>* queued) {
  const std::string method = MethodDisplayName(policy_.service(), method_index);
  if (supervisor_->closing_locked()) {
    return absl::FailedPreconditionError(
        absl::StrCat(method, ": host of ", supervisor_->current_id_locked(), " is ",
                     WorkerStateName(supervisor_->state_locked())));
  }
  if (absl::Status refusal = supervisor_->RefusalLocked(); !refusal.ok()) {
    return policy_.ForMethod(refusal, method_index);
  }
  if (std::shared_ptr<Slot> slot = supervisor_->PickLocked()) {
    ++slot->in_flight;
    return slot;
  }
  if (static_cast<int>(queue_.size()) >= max_queued_calls_) {
    return absl::ResourceExhaustedError(
        absl::StrCat(method, ": all workers are busy and the queue is full (", max_queued_calls_,
                     " calls waiting)"));
  }
  auto waiter = std::make_shared<Waiter>();
  waiter->deadline = timing.deadline;
  waiter->method_index = method_index;
  waiter->op = std::move(op);
  queue_.push_back(waiter);
  supervisor_->WakeLocked();
  *queued = std::move(waiter);
  return nullptr;
}

absl::StatusOr<std::shared_ptr<CallAdmission::Slot>> CallAdmission::Acquire(
    int method_index, const CallTiming& timing) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Waiter> waiter;
  absl::StatusOr<std::shared_ptr<Slot>> admitted =
      AdmitLocked(method_index, timing, nullptr, &waiter);
  if (!admitted.ok() || *admitted != nullptr) return admitted;
  auto done = [&waiter] { return waiter->done; };
  if (!mu_.AwaitWithDeadline(absl::Condition(&done), timing.deadline)) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), waiter));
    absl::Status expired = DeadlineExceeded(policy_.service(), method_index, timing.timeout);
    return absl::DeadlineExceededError(
        absl::StrCat(expired.message(), " while waiting for a free worker"));
  }
  if (!waiter->error.ok()) return waiter->error;
  return waiter->slot;
}

bool CallAdmission::Release(const std::shared_ptr<Slot>& slot, const absl::Status& status,
                            const CallTiming& timing) {
  Later later;
  bool died;
  {
    absl::MutexLock lock(&mu_);
    died = supervisor_->ReleaseLocked(*slot, status, timing, &later);
    if (!slot->dead && !slot->draining) DispatchLocked(&later);
  }
  RunAll(later);
  return died;
}

int CallAdmission::QueuedLocked() const { return static_cast<int>(queue_.size()); }

absl::Time CallAdmission::NextExpiryLocked() const {
  // Blocking calls time their own wait; async ones are timed by the
  // supervisor.
  absl::Time next = absl::InfiniteFuture();
  for (const auto& waiter : queue_) {
    if (waiter->op) next = std::min(next, waiter->deadline);
  }
  return next;
}

void CallAdmission::ExpireLocked(absl::Time now, Later* later) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->op && (*it)->deadline <= now) {
      auto op = (*it)->op;
      absl::Status expired =
          DeadlineExceeded(policy_.service(), op->method_index, op->timing.timeout);
      later->push_back([this, op, expired] {
        FinishAsync(op, absl::DeadlineExceededError(
                            absl::StrCat(expired.message(), " while waiting for a free worker")));
      });
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
}

void CallAdmission::DispatchLocked(Later* later) {
  while (!queue_.empty()) {
    std::shared_ptr<Slot> slot = supervisor_->PickLocked();
    if (!slot) return;
    std::shared_ptr<Waiter> waiter = queue_.front();
    queue_.pop_front();
    ++slot->in_flight;
    if (waiter->op) {
      later->push_back([this, op = waiter->op, slot] { IssueAsync(op, slot); });
    } else {
      waiter->slot = std::move(slot);
      waiter->done = true;
    }
  }
}

void CallAdmission::FailAllLocked(const absl::Status& status, Later* later) {
  while (!queue_.empty()) {
    std::shared_ptr<Waiter> waiter = queue_.front();
    queue_.pop_front();
    absl::Status error = policy_.ForMethod(status, waiter->method_index);
    if (waiter->op) {
      later->push_back([this, op = waiter->op, error] { FinishAsync(op, error); });
    } else {
      waiter->error = error;
      waiter->done = true;
    }
  }
}

void CallAdmission::BeginStream(const CallTiming& timing) {
  if (timing.metrics != nullptr) timing.metrics->Started();
  absl::MutexLock lock(&mu_);
  ++calls_in_flight_;
}

absl::StatusOr<std::shared_ptr<CallAdmission::Slot>> CallAdmission::AcquireForStream(
    int method_index, const CallTiming& timing) {
  const absl::Time asked = absl::Now();
  absl::StatusOr<std::shared_ptr<Slot>> slot = Acquire(method_index, timing);
  if (slot.ok() && timing.metrics != nullptr) timing.metrics->QueueWait(absl::Now() - asked);
  return slot;
}

void CallAdmission::CountFinished(const absl::Status& status, const CallTiming& timing,
                                  absl::StatusCode code, absl::Duration call_time, bool leaving) {
  if (timing.metrics != nullptr) timing.metrics->Finished(code, call_time);
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    ++calls_completed_;
  } else {
    ++calls_failed_;
  }
  if (leaving) --calls_in_flight_;
}

void CallAdmission::StatsLocked(PoolStats* stats) const {
  stats->calls_completed = calls_completed_;
  stats->calls_failed = calls_failed_;
  stats->calls_queued = static_cast<int>(queue_.size());
}

void CallAdmission::AwaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_in_flight_ == 0; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&idle), timeout)) {
    supervisor_->logger().Log(
        LogLevel::kError, supervisor_->current_id_locked(),
        absl::StrCat("calls still in flight ", absl::FormatDuration(timeout), " after close"));
  }
}

absl::Status CallAdmission::Call(int method_index, const MessageLite& request,
                                 MessageLite* response, const CallTiming& timing) {
  CallAttempts ladder = policy_.Begin(method_index, timing.deadline);
  MethodRecorder* const metrics = timing.metrics;
  const absl::Time started = absl::Now();
  if (metrics != nullptr) metrics->Started();
  {
    absl::MutexLock lock(&mu_);
    ++calls_in_flight_;
  }
  absl::Time asked = started;
  while (true) {
    absl::StatusOr<std::shared_ptr<Slot>> slot = Acquire(method_index, timing);
    if (!slot.ok()) {
      CountFinished(slot.status(), timing, slot.status().code(), absl::Now() - started);
      return slot.status();
    }
    const absl::Time issued = absl::Now();
    if (metrics != nullptr) metrics->QueueWait(issued - asked);
    absl::Status status = (*slot)->worker->Call(method_index, request, response, timing);
    // One clock read for the attempt's end and, usually, the call's.
    const absl::Time ended = absl::Now();
    if (metrics != nullptr) metrics->Ran(ended - issued);
    const bool died = Release(*slot, status, timing);
    if (policy_.NextAttempt(ladder, died, /*may_retry=*/true, (*slot)->id, response, &status,
                            &timing)) {
      if (metrics != nullptr) metrics->Retried();
      asked = absl::Now();
      continue;
    }
    CountFinished(status, timing, status.code(), ended - started);
    return status;
  }
}

CallHandle CallAdmission::CallAsync(int method_index, const MessageLite& request,
                                    MessageLite* response, CallTiming timing,
                                    std::function<void(absl::Status)> done) {
  auto op = std::make_shared<AsyncOp>(this, policy_.Begin(method_index, timing.deadline),
                                      std::move(timing), response, std::move(done));
  MethodRecorder* const metrics = op->timing.metrics;
  if (metrics != nullptr) metrics->Started();
  // Serialize now, on the caller's thread: the caller may destroy `request`
  // as soon as this returns, and a retry sends the same bytes again.
  if (!request.SerializeToString(&op->request)) {
    if (metrics != nullptr) metrics->Finished(absl::StatusCode::kInternal, absl::ZeroDuration());
    op->done(absl::InternalError(
        absl::StrCat(MethodDisplayName(policy_.service(), method_index),
                     ": could not serialize the request: ", kSerializeFailedMessage)));
    return CallHandle();
  }
  {
    absl::MutexLock lock(&mu_);
    ++calls_in_flight_;
  }
  StartAsync(op);
  return CallHandle(op);
}

void CallAdmission::StartAsync(const std::shared_ptr<AsyncOp>& op) {
  absl::StatusOr<std::shared_ptr<Slot>> admitted;
  {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<Waiter> queued;  // the supervisor or a release takes it on
    admitted = AdmitLocked(op->method_index, op->timing, op, &queued);
  }
  if (!admitted.ok()) {
    FinishAsync(op, admitted.status());
  } else if (*admitted != nullptr) {
    IssueAsync(op, *std::move(admitted));
  }
}

void CallAdmission::IssueAsync(const std::shared_ptr<AsyncOp>& op, std::shared_ptr<Slot> slot) {
  op->issued = absl::Now();
  if (op->timing.metrics != nullptr) op->timing.metrics->QueueWait(op->issued - op->asked);
  // Only a retry needs the bytes again: the last attempt takes them.
  std::string request =
      op->ladder.attempt < op->ladder.max_attempts ? op->request : std::move(op->request);
  std::shared_ptr<PendingCall> call = slot->worker->CallAsync(
      op->method_index, std::move(request), op->response, op->timing,
      [this, op, slot](absl::Status status) {
        MethodRecorder* const metrics = op->timing.metrics;
        if (metrics != nullptr) metrics->Ran(absl::Now() - op->issued);
        bool died = Release(slot, status, op->timing);
        bool cancelled;
        {
          absl::MutexLock lock(&op->mu);
          op->attempt_call.reset();
          cancelled = op->cancelled;
        }
        if (policy_.NextAttempt(op->ladder, died, /*may_retry=*/!cancelled, slot->id, op->response,
                                &status, &op->timing)) {
          if (metrics != nullptr) metrics->Retried();
          op->asked = absl::Now();
          StartAsync(op);
          return;
        }
        FinishAsync(op, std::move(status));
      });
  bool cancel_now = false;
  {
    absl::MutexLock lock(&op->mu);
    if (call) op->attempt_call = call;
    cancel_now = op->cancelled && call != nullptr;
  }
  if (cancel_now) call->Cancel();
}

void CallAdmission::FinishAsync(const std::shared_ptr<AsyncOp>& op, absl::Status status) {
  std::function<void(absl::Status)> done = std::move(op->done);
  // Counted before the callback (whoever saw the result sees it counted),
  // but it leaves only after: Close() waits for that, so no callback runs
  // after the host is gone.
  CountFinished(status, op->timing, status.code(), absl::Now() - op->started, /*leaving=*/false);
  done(std::move(status));
  absl::MutexLock lock(&mu_);
  --calls_in_flight_;
}

}  // namespace iw::internal
