#include "runtime/internal/worker_pool.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/internal/dispatcher.h"
#include "runtime/internal/status_macros.h"
#include "runtime/internal/middleware_chain.h"
#include "runtime/logging.h"

namespace iw::internal {

using google::protobuf::MessageLite;

namespace {

// Replacement workers that die younger than this count as a crash loop and
// are respawned with exponential backoff (up to kMaxBackoff).
constexpr absl::Duration kYoungDeath = absl::Seconds(1);
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

// Appends `suffix` to a status message, but before a trailing stderr tail
// (which must stay the worker's own words).
std::string WithSuffix(absl::string_view message, absl::string_view suffix) {
  size_t tail = message.find("; last stderr lines:");
  if (tail == absl::string_view::npos) return absl::StrCat(message, suffix);
  return absl::StrCat(message.substr(0, tail), suffix, message.substr(tail));
}

// "pkg.Service.Method: worker ... crashed" → "worker ... crashed".
absl::string_view WithoutMethod(absl::string_view message) {
  size_t colon = message.find(": ");
  return colon == absl::string_view::npos ? message : message.substr(colon + 2);
}

void RunAll(std::vector<std::function<void()>>& later) {
  for (auto& f : later) f();
  later.clear();
}

}  // namespace

struct WorkerPool::Slot {
  std::unique_ptr<WorkerEndpoint> worker;
  std::string id;
  int in_flight = 0;
  absl::Time born;
  absl::Time idle_since;
  bool dead = false;      // died or killed; leaves once idle
  bool retiring = false;  // being closed by the pool
};

// A call waiting for a worker. Sync callers wait on `done`; async ones carry
// their operation.
struct WorkerPool::Waiter {
  absl::Time deadline;
  int method_index;
  bool done = false;
  std::shared_ptr<Slot> slot;
  absl::Status error;
  std::shared_ptr<AsyncOp> op;
};

// One asynchronous call across its attempts. Its Cancel() reaches whichever
// attempt is current, or takes it out of the queue.
class WorkerPool::AsyncOp final : public PendingCall {
 public:
  AsyncOp(WorkerPool* pool, int method_index, CallTiming timing, MessageLite* response,
          std::function<void(absl::Status)> done, int max_attempts)
      : pool(pool),
        method_index(method_index),
        timing(std::move(timing)),
        response(response),
        done(std::move(done)),
        max_attempts(max_attempts) {}

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
      absl::MutexLock lock(&pool->mu_);
      for (auto it = pool->queue_.begin(); it != pool->queue_.end(); ++it) {
        if ((*it)->op.get() == this) {
          waiter = *it;
          pool->queue_.erase(it);
          break;
        }
      }
    }
    if (waiter) {
      pool->FinishAsync(waiter->op,
                        absl::CancelledError(absl::StrCat(
                            MethodDisplayName(pool->service_, method_index),
                            ": cancelled by the host")));
    }
  }

  WorkerPool* const pool;
  const int method_index;
  const CallTiming timing;
  MessageLite* const response;
  std::function<void(absl::Status)> done;
  const int max_attempts;
  grpc::ByteBuffer request;
  int attempt = 1;

  absl::Mutex mu;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  std::shared_ptr<PendingCall> attempt_call ABSL_GUARDED_BY(mu);
};

WorkerPool::WorkerPool(const ServiceInfo& service, WorkerOptions options,
                       std::vector<MethodOverrides> method_overrides, PoolOptions pool,
                       Factory factory)
    : service_(service),
      options_(std::move(options)),
      method_overrides_(std::move(method_overrides)),
      pool_(pool),
      factory_(std::move(factory)),
      per_worker_limit_(pool.max_calls_per_worker > 0 ? pool.max_calls_per_worker
                        : pool.max_workers > 1       ? HandlerConcurrency(service)
                                                     : std::numeric_limits<int>::max()) {
  current_id_ = service.full_name;
}

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Start(
    const ServiceInfo& service, WorkerOptions options,
    std::vector<MethodOverrides> method_overrides, PoolOptions pool, Factory factory) {
  const std::string what = absl::StrCat("start ", service.full_name);
  if (!method_overrides.empty() &&
      method_overrides.size() != static_cast<size_t>(service.method_count)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": expected ", service.method_count,
                                                   " method overrides, got ",
                                                   method_overrides.size()));
  }
  if (pool.min_workers < 0 || pool.max_workers < 1 || pool.min_workers > pool.max_workers) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": PoolOptions needs 0 <= min_workers <= max_workers and max_workers >= 1, got ",
        pool.min_workers, " and ", pool.max_workers));
  }
  if (pool.max_queued_calls < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": PoolOptions::max_queued_calls < 0"));
  }
  std::unique_ptr<WorkerPool> result(new WorkerPool(service, std::move(options),
                                                    std::move(method_overrides), pool,
                                                    std::move(factory)));
  WorkerPool* self = result.get();
  if (!pool.lazy_start) {
    for (int i = 0; i < pool.min_workers; ++i) {
      absl::StatusOr<std::unique_ptr<WorkerEndpoint>> worker = self->factory_();
      if (!worker.ok()) return worker.status();  // started ones close in ~WorkerPool
      absl::MutexLock lock(&self->mu_);
      self->AddSlotLocked(*std::move(worker));
    }
  }
  std::vector<std::function<void()>> later;
  {
    absl::MutexLock lock(&self->mu_);
    std::string id = self->slots_.empty() ? service.full_name : self->slots_.front()->id;
    self->current_id_ = id;
    self->SetStateLocked(WorkerState::kReady, id, &later);
  }
  RunAll(later);
  self->supervisor_ = std::thread([self] { self->Supervise(); });
  return result;
}

WorkerPool::~WorkerPool() {
  CloseOptions quick;
  quick.grace = absl::Seconds(1);
  quick.term_timeout = absl::Seconds(1);
  Close(quick).IgnoreError();
}

absl::StatusOr<CallTiming> WorkerPool::Resolve(int method_index,
                                               const CallOptions& options) const {
  absl::StatusOr<ResolvedTimeout> timeout = ResolveCallTimeout(
      service_, method_index,
      method_overrides_.empty() ? std::nullopt : method_overrides_[method_index].timeout,
      options_.call_timeout, options, timeout_scale_);
  if (!timeout.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(MethodDisplayName(service_, method_index),
                                                   ": ", timeout.status().message()));
  }
  CallTiming timing{absl::Now() + timeout->timeout, *std::move(timeout), std::nullopt};
  const MethodInfo& method = service_.methods[method_index];
  bool replace = method.on_deadline == 1;
  absl::Duration grace = method.deadline_grace_ms >= 0
                             ? absl::Milliseconds(method.deadline_grace_ms)
                             : kDefaultDeadlineGrace;
  if (!method_overrides_.empty()) {
    const MethodOverrides& o = method_overrides_[method_index];
    if (o.on_deadline) replace = *o.on_deadline == DeadlinePolicy::kReplaceWorker;
    if (o.deadline_grace) grace = *o.deadline_grace;
  }
  if (replace) timing.replace_after = grace;
  return timing;
}

int WorkerPool::MaxAttempts(int method_index) const {
  const MethodInfo& method = service_.methods[method_index];
  CrashPolicy policy = method.on_crash == 1 ? CrashPolicy::kRetry : CrashPolicy::kReject;
  int attempts = method.max_attempts > 0 ? method.max_attempts : 3;
  if (!method_overrides_.empty()) {
    const MethodOverrides& o = method_overrides_[method_index];
    if (o.on_crash) policy = *o.on_crash;
    if (o.max_attempts) attempts = std::max(1, *o.max_attempts);
  }
  return policy == CrashPolicy::kRetry ? attempts : 1;
}

std::shared_ptr<WorkerPool::Slot> WorkerPool::PickLocked() {
  std::shared_ptr<Slot> best;
  for (const auto& slot : slots_) {
    if (slot->dead || slot->retiring || slot->in_flight >= per_worker_limit_) continue;
    if (!best || slot->in_flight < best->in_flight) best = slot;
  }
  return best;
}

std::shared_ptr<WorkerPool::Slot> WorkerPool::AddSlotLocked(
    std::unique_ptr<WorkerEndpoint> worker) {
  auto slot = std::make_shared<Slot>();
  slot->id = worker->id();
  slot->born = slot->idle_since = absl::Now();
  worker->SetDeathCallback([this, weak = std::weak_ptr<Slot>(slot)] { OnDeath(weak); });
  slot->worker = std::move(worker);
  slots_.push_back(slot);
  ++counters_.workers_spawned;
  return slot;
}

absl::StatusOr<std::shared_ptr<WorkerPool::Slot>> WorkerPool::AdmitLocked(
    int method_index, const CallTiming& timing, std::shared_ptr<AsyncOp> op,
    std::shared_ptr<Waiter>* queued) {
  const std::string method = MethodDisplayName(service_, method_index);
  if (closing_) {
    return absl::FailedPreconditionError(absl::StrCat(
        method, ": host of ", current_id_, " is ", WorkerStateName(state_)));
  }
  if (spawning_disabled_ && slots_.empty()) {
    return absl::UnavailableError(
        absl::StrCat(method, ": ", WithSuffix(last_death_, " (RespawnPolicy::kNever)")));
  }
  if (std::shared_ptr<Slot> slot = PickLocked()) {
    ++slot->in_flight;
    return slot;
  }
  if (static_cast<int>(queue_.size()) >= pool_.max_queued_calls) {
    return absl::ResourceExhaustedError(
        absl::StrCat(method, ": all workers are busy and the queue is full (",
                     pool_.max_queued_calls, " calls waiting)"));
  }
  auto waiter = std::make_shared<Waiter>();
  waiter->deadline = timing.deadline;
  waiter->method_index = method_index;
  waiter->op = std::move(op);
  queue_.push_back(waiter);
  wake_ = true;
  *queued = std::move(waiter);
  return nullptr;
}

absl::StatusOr<std::shared_ptr<WorkerPool::Slot>> WorkerPool::Acquire(
    int method_index, const CallTiming& timing) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Waiter> waiter;
  absl::StatusOr<std::shared_ptr<Slot>> admitted =
      AdmitLocked(method_index, timing, nullptr, &waiter);
  if (!admitted.ok() || *admitted != nullptr) return admitted;
  auto done = [&waiter] { return waiter->done; };
  if (!mu_.AwaitWithDeadline(absl::Condition(&done), timing.deadline)) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), waiter));
    absl::Status expired = DeadlineExceeded(service_, method_index, timing.timeout);
    return absl::DeadlineExceededError(
        absl::StrCat(expired.message(), " while waiting for a free worker"));
  }
  if (!waiter->error.ok()) return waiter->error;
  return waiter->slot;
}

bool WorkerPool::Release(const std::shared_ptr<Slot>& slot, const absl::Status& status) {
  std::vector<std::function<void()>> later;
  bool died;
  {
    absl::MutexLock lock(&mu_);
    --slot->in_flight;
    const bool unavailable = status.code() == absl::StatusCode::kUnavailable;
    // Lost with one of a remote endpoint's workers: retried per the crash
    // policy, but the endpoint (its other workers) stays in rotation.
    const bool lost =
        unavailable && !slot->dead && status.GetPayload(kCallLostPayload).has_value();
    died = unavailable && (slot->dead || slot->worker->crashed() || lost);
    // Mark it now, before the death callback: a retry must not pick it.
    if (died && !slot->dead && !lost) {
      // The call's status already tells how the worker died; drop the
      // "<method>: " prefix.
      MarkDeadLocked(*slot, std::string(WithoutMethod(status.message())), &later);
    }
    if (slot->in_flight == 0) {
      slot->idle_since = absl::Now();
      // The supervisor times idle retirement (pools above their minimum).
      if (pool_.idle_timeout != absl::InfiniteDuration() &&
          static_cast<int>(slots_.size()) > pool_.min_workers) {
        wake_ = true;
      }
    }
    if (slot->dead) {
      wake_ = true;  // the supervisor removes and replaces it
    } else {
      DispatchLocked(&later);
    }
  }
  RunAll(later);
  return died;
}

void WorkerPool::DispatchLocked(std::vector<std::function<void()>>* later) {
  while (!queue_.empty()) {
    std::shared_ptr<Slot> slot = PickLocked();
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

void WorkerPool::FailQueuedLocked(const absl::Status& status,
                                  std::vector<std::function<void()>>* later) {
  while (!queue_.empty()) {
    std::shared_ptr<Waiter> waiter = queue_.front();
    queue_.pop_front();
    absl::Status error = Prefixed(status, MethodDisplayName(service_, waiter->method_index));
    if (waiter->op) {
      later->push_back([this, op = waiter->op, error] { FinishAsync(op, error); });
    } else {
      waiter->error = error;
      waiter->done = true;
    }
  }
}

absl::Status WorkerPool::Conclude(int method_index, int attempt, int max_attempts, bool died,
                                  absl::Status status) {
  (void)method_index;
  status.ErasePayload(kCallLostPayload);  // internal only
  if (died && max_attempts > 1) {
    status = absl::Status(status.code(),
                          WithSuffix(status.message(), absl::StrCat(" (attempt ", attempt,
                                                                    " of ", max_attempts, ")")));
  }
  return status;
}

void WorkerPool::CountFinished(const absl::Status& status, bool leaving) {
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    ++counters_.calls_completed;
  } else {
    ++counters_.calls_failed;
  }
  if (leaving) --calls_in_flight_;
}

void WorkerPool::FinishAsync(const std::shared_ptr<AsyncOp>& op, absl::Status status) {
  std::function<void(absl::Status)> done = std::move(op->done);
  // Counted before the callback (whoever saw the result sees it counted),
  // but it leaves only after: Close() waits for that, so no callback runs
  // after the host is gone.
  CountFinished(status, /*leaving=*/false);
  done(std::move(status));
  absl::MutexLock lock(&mu_);
  --calls_in_flight_;
}

// Host middleware wraps the whole logical call: it runs once per call,
// outside the queue and the crash-policy retries (a retry re-sends the
// request the chain produced).
absl::Status WorkerPool::Call(int method_index, const MessageLite& request,
                              MessageLite* response, const CallOptions& options) {
  if (options_.middleware.empty()) {
    return CallWithRetries(method_index, request, response, options, NewRequestId(), nullptr,
                           nullptr);
  }
  HostCall call;
  call.method = service_.methods[method_index].path;
  // Generated methods take `const Request&`: middleware gets a private copy.
  std::unique_ptr<MessageLite> copy(request.New());
  copy->CheckTypeAndMergeFrom(request);
  call.request = copy.get();
  call.response = response;
  call.request_id = NewRequestId();
  size_t ran = 0;
  absl::Status status = RunOnRequest(options_.middleware, call, &ran);
  if (status.ok()) {
    status = CallWithRetries(method_index, *copy, response, options, call.request_id,
                             &call.request_metadata, &call.response_metadata);
  }
  RunOnResponse(options_.middleware, call, ran, status);
  return status;
}

absl::Status WorkerPool::CallWithRetries(int method_index, const MessageLite& request,
                                         MessageLite* response, const CallOptions& options,
                                         std::string request_id,
                                         const Metadata* request_metadata,
                                         Metadata* response_metadata) {
  absl::StatusOr<CallTiming> timing = Resolve(method_index, options);
  if (!timing.ok()) return timing.status();
  timing->request_id = std::move(request_id);
  timing->request_metadata = request_metadata;
  timing->response_metadata = response_metadata;
  const int max_attempts = MaxAttempts(method_index);
  {
    absl::MutexLock lock(&mu_);
    ++calls_in_flight_;
  }
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<std::shared_ptr<Slot>> slot = Acquire(method_index, *timing);
    if (!slot.ok()) {
      CountFinished(slot.status());
      return slot.status();
    }
    absl::Status status = (*slot)->worker->Call(method_index, request, response, *timing);
    bool died = Release(*slot, status);
    if (died && attempt < max_attempts && absl::Now() < timing->deadline) {
      Log(LogLevel::kWarning, (*slot)->id,
          absl::StrCat("retrying ", MethodDisplayName(service_, method_index),
                       " on a fresh worker (attempt ", attempt + 1, " of ", max_attempts,
                       ") after: ", WithoutMethod(status.message())));
      response->Clear();
      continue;
    }
    status = Conclude(method_index, attempt, max_attempts, died, std::move(status));
    CountFinished(status);
    return status;
  }
}

CallHandle WorkerPool::CallAsync(int method_index, const MessageLite& request,
                                 MessageLite* response, const CallOptions& options,
                                 std::function<void(absl::Status)> done) {
  if (options_.middleware.empty()) {
    return CallAsyncWithRetries(method_index, request, response, options, NewRequestId(),
                                nullptr, nullptr, std::move(done));
  }
  // OnRequest runs here, on the caller's thread; OnResponse on the thread
  // that completes the call, before `done`.
  auto call = std::make_shared<HostCall>();
  std::shared_ptr<MessageLite> copy(request.New());
  copy->CheckTypeAndMergeFrom(request);
  call->method = service_.methods[method_index].path;
  call->request = copy.get();
  call->response = response;
  call->request_id = NewRequestId();
  size_t ran = 0;
  absl::Status status = RunOnRequest(options_.middleware, *call, &ran);
  if (!status.ok()) {
    RunOnResponse(options_.middleware, *call, ran, status);
    done(std::move(status));
    return CallHandle();
  }
  return CallAsyncWithRetries(
      method_index, *copy, response, options, call->request_id, &call->request_metadata,
      &call->response_metadata,
      [this, call, copy, ran, done = std::move(done)](absl::Status status) {
        RunOnResponse(options_.middleware, *call, ran, status);
        done(std::move(status));
      });
}

CallHandle WorkerPool::CallAsyncWithRetries(int method_index, const MessageLite& request,
                                            MessageLite* response, const CallOptions& options,
                                            std::string request_id,
                                            const Metadata* request_metadata,
                                            Metadata* response_metadata,
                                            std::function<void(absl::Status)> done) {
  absl::StatusOr<CallTiming> timing = Resolve(method_index, options);
  if (!timing.ok()) {
    done(timing.status());
    return CallHandle();
  }
  timing->request_id = std::move(request_id);
  timing->request_metadata = request_metadata;
  timing->response_metadata = response_metadata;
  auto op = std::make_shared<AsyncOp>(this, method_index, *std::move(timing), response,
                                      std::move(done), MaxAttempts(method_index));
  // Serialize now, on the caller's thread: the caller may destroy `request`
  // as soon as this returns, and a retry sends the same bytes again.
  bool own_buffer = false;
  grpc::Status serialized =
      grpc::SerializationTraits<MessageLite>::Serialize(request, &op->request, &own_buffer);
  if (!serialized.ok()) {
    op->done(absl::InternalError(absl::StrCat(MethodDisplayName(service_, method_index),
                                              ": could not serialize the request: ",
                                              serialized.error_message())));
    return CallHandle();
  }
  {
    absl::MutexLock lock(&mu_);
    ++calls_in_flight_;
  }
  StartAsync(op);
  return CallHandle(op);
}

void WorkerPool::StartAsync(const std::shared_ptr<AsyncOp>& op) {
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

void WorkerPool::IssueAsync(const std::shared_ptr<AsyncOp>& op, std::shared_ptr<Slot> slot) {
  std::shared_ptr<PendingCall> call = slot->worker->CallAsync(
      op->method_index, op->request, op->response, op->timing,
      [this, op, slot](absl::Status status) {
        bool died = Release(slot, status);
        bool cancelled;
        {
          absl::MutexLock lock(&op->mu);
          op->attempt_call.reset();
          cancelled = op->cancelled;
        }
        if (died && !cancelled && op->attempt < op->max_attempts &&
            absl::Now() < op->timing.deadline) {
          Log(LogLevel::kWarning, slot->id,
              absl::StrCat("retrying ", MethodDisplayName(service_, op->method_index),
                           " on a fresh worker (attempt ", op->attempt + 1, " of ",
                           op->max_attempts, ") after: ", WithoutMethod(status.message())));
          ++op->attempt;
          op->response->Clear();
          StartAsync(op);
          return;
        }
        FinishAsync(op, Conclude(op->method_index, op->attempt, op->max_attempts, died,
                                 std::move(status)));
      });
  bool cancel_now = false;
  {
    absl::MutexLock lock(&op->mu);
    if (call) op->attempt_call = call;
    cancel_now = op->cancelled && call != nullptr;
  }
  if (cancel_now) call->Cancel();
}

void WorkerPool::SetStateLocked(WorkerState state, const std::string& id,
                                std::vector<std::function<void()>>* later) {
  state_ = state;
  if (options_.on_state_change) {
    later->push_back([callback = options_.on_state_change, state, id] { callback(state, id); });
  }
}

void WorkerPool::MarkDeadLocked(Slot& slot, std::string description,
                                std::vector<std::function<void()>>* later) {
  slot.dead = true;
  later->push_back([id = slot.id, description] { Log(LogLevel::kError, id, description); });
  last_death_ = std::move(description);
  ++counters_.workers_crashed;
  if (absl::Now() - slot.born < kYoungDeath) {
    ++consecutive_failures_;
    next_spawn_ = absl::Now() +
                  std::min(kMaxBackoff, kFirstBackoff * (1 << std::min(consecutive_failures_, 10)));
  } else {
    consecutive_failures_ = 0;
  }
  if (options_.respawn == RespawnPolicy::kNever) spawning_disabled_ = true;
  if (!closing_) SetStateLocked(WorkerState::kCrashed, slot.id, later);
  wake_ = true;
}

void WorkerPool::OnDeath(const std::weak_ptr<Slot>& weak) {
  std::shared_ptr<Slot> slot = weak.lock();
  if (!slot) return;
  std::string description = slot->worker->DescribeDeath();  // may wait for stderr
  std::vector<std::function<void()>> later;
  {
    absl::MutexLock lock(&mu_);
    if (!slot->dead) {
      MarkDeadLocked(*slot, description, &later);
    } else {
      last_death_ = description;  // the fuller story (stderr tail)
    }
  }
  RunAll(later);
}

bool WorkerPool::SpawnOne() {
  absl::StatusOr<std::unique_ptr<WorkerEndpoint>> worker = factory_();
  std::vector<std::function<void()>> later;
  std::vector<std::unique_ptr<WorkerEndpoint>> discard;
  bool ok = worker.ok();
  {
    absl::MutexLock lock(&mu_);
    --starting_;
    if (!ok) {
      ++consecutive_failures_;
      next_spawn_ = absl::Now() +
                    std::min(kMaxBackoff, kFirstBackoff * (1 << std::min(consecutive_failures_, 10)));
      Log(LogLevel::kError, service_.full_name,
          absl::StrCat("could not start a worker: ", worker.status().message()));
      // Calls waiting for this worker fail with the reason.
      FailQueuedLocked(worker.status(), &later);
      SetStateLocked(slots_.empty() ? WorkerState::kCrashed : state_, service_.full_name,
                     &later);
    } else if (closing_) {
      discard.push_back(std::move(*worker));
    } else {
      int live = 0;
      for (const auto& other : slots_) live += other->dead ? 0 : 1;
      const bool replacing = live < pool_.min_workers && counters_.workers_crashed > 0;
      const std::string replaced = current_id_;
      std::shared_ptr<Slot> slot = AddSlotLocked(*std::move(worker));
      if (replacing) {
        Log(LogLevel::kInfo, slot->id, absl::StrCat("replacing crashed worker ", replaced));
      }
      current_id_ = slot->id;
      SetStateLocked(WorkerState::kReady, slot->id, &later);
      DispatchLocked(&later);
    }
  }
  RunAll(later);
  return ok;
}

void WorkerPool::Supervise() {
  while (true) {
    std::vector<std::function<void()>> later;
    std::vector<std::shared_ptr<Slot>> to_close;
    bool spawn = false;
    {
      absl::MutexLock lock(&mu_);
      // Sleep until there is something to do or a timer is due.
      absl::Time wake_at = absl::InfiniteFuture();
      for (const auto& waiter : queue_) {
        if (waiter->op) wake_at = std::min(wake_at, waiter->deadline);
      }
      if (consecutive_failures_ > 0) wake_at = std::min(wake_at, next_spawn_);
      if (pool_.idle_timeout != absl::InfiniteDuration() &&
          static_cast<int>(slots_.size()) > pool_.min_workers) {
        for (const auto& slot : slots_) {
          if (slot->in_flight == 0) wake_at = std::min(wake_at, slot->idle_since + pool_.idle_timeout);
        }
      }
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return wake_ || stop_supervisor_;
      };
      mu_.AwaitWithDeadline(absl::Condition(&woken), wake_at);
      wake_ = false;
      if (stop_supervisor_) return;
      const absl::Time now = absl::Now();

      // Dead workers leave once no call is on them.
      for (auto it = slots_.begin(); it != slots_.end();) {
        if ((*it)->dead && (*it)->in_flight == 0) {
          to_close.push_back(*it);
          it = slots_.erase(it);
        } else {
          ++it;
        }
      }
      // Idle workers above the minimum retire.
      int live = 0;
      for (const auto& slot : slots_) live += slot->dead ? 0 : 1;
      for (auto it = slots_.begin(); it != slots_.end() && live > pool_.min_workers;) {
        const auto& slot = *it;
        if (!slot->dead && slot->in_flight == 0 && queue_.empty() &&
            now - slot->idle_since >= pool_.idle_timeout) {
          Log(LogLevel::kInfo, slot->id, "retiring idle worker");
          to_close.push_back(slot);
          it = slots_.erase(it);
          --live;
        } else {
          ++it;
        }
      }
      // Async calls whose deadline passed while they waited.
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->op && (*it)->deadline <= now) {
          auto op = (*it)->op;
          absl::Status expired = DeadlineExceeded(service_, op->method_index, op->timing.timeout);
          later.push_back([this, op, expired] {
            FinishAsync(op, absl::DeadlineExceededError(absl::StrCat(
                                expired.message(), " while waiting for a free worker")));
          });
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      // Start a worker if the minimum is not met, or calls wait and there is
      // room to grow.
      bool saturated = PickLocked() == nullptr;
      bool want = live + starting_ < pool_.min_workers ||
                  (!queue_.empty() && saturated && live + starting_ < pool_.max_workers);
      if (want && !closing_ && !spawning_disabled_ && starting_ == 0 &&
          (consecutive_failures_ == 0 || now >= next_spawn_)) {
        ++starting_;
        spawn = true;
        SetStateLocked(slots_.empty() || live == 0 ? WorkerState::kStarting : state_,
                       service_.full_name, &later);
      }
      if (spawning_disabled_ && slots_.empty()) {
        FailQueuedLocked(absl::UnavailableError(
                             WithSuffix(last_death_, " (RespawnPolicy::kNever)")),
                         &later);
      }
    }
    RunAll(later);
    for (const auto& slot : to_close) slot->worker->Close(CloseOptions()).IgnoreError();
    to_close.clear();
    if (spawn) {
      SpawnOne();
      absl::MutexLock lock(&mu_);
      wake_ = true;  // look again: more may be needed
    }
  }
}

absl::Status WorkerPool::Close(const CloseOptions& options) {
  std::vector<std::function<void()>> later;
  {
    absl::MutexLock lock(&mu_);
    if (close_result_.has_value()) return *close_result_;
    if (!closing_) {
      closing_ = true;
      SetStateLocked(WorkerState::kClosing, current_id_, &later);
      FailQueuedLocked(absl::FailedPreconditionError("the host is closing"), &later);
    }
    stop_supervisor_ = true;
  }
  RunAll(later);
  if (supervisor_.joinable()) supervisor_.join();
  std::vector<std::shared_ptr<Slot>> slots;
  {
    absl::MutexLock lock(&mu_);
    slots = slots_;
  }
  // Close every worker at once: the grace periods run in parallel.
  std::vector<absl::Status> results(slots.size());
  std::vector<std::thread> closers;
  for (size_t i = 0; i < slots.size(); ++i) {
    closers.emplace_back([&, i] { results[i] = slots[i]->worker->Close(options); });
  }
  for (auto& closer : closers) closer.join();
  absl::Status result = absl::OkStatus();
  for (size_t i = 0; i < slots.size(); ++i) {
    // A crash was reported through the calls and the state already.
    if (!results[i].ok() && !slots[i]->dead && result.ok()) result = results[i];
  }
  {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_in_flight_ == 0; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&idle), absl::Seconds(10))) {
      Log(LogLevel::kError, current_id_, "calls still in flight 10s after close");
    }
  }
  // Destroy the endpoints outside the lock (their threads may call back).
  slots.clear();
  {
    absl::MutexLock lock(&mu_);
    slots_.clear();
    close_result_ = result;
    SetStateLocked(WorkerState::kClosed, current_id_, &later);
  }
  RunAll(later);
  return result;
}

WorkerState WorkerPool::state() const {
  absl::MutexLock lock(&mu_);
  // Closing/closed win; otherwise the pool is ready while any worker is.
  if (closing_ || close_result_.has_value()) return state_;
  for (const auto& slot : slots_) {
    if (!slot->dead) return WorkerState::kReady;
  }
  if (starting_ > 0) return WorkerState::kStarting;
  return state_ == WorkerState::kReady ? WorkerState::kReady : WorkerState::kCrashed;
}

int WorkerPool::pid() const {
  absl::MutexLock lock(&mu_);
  for (const auto& slot : slots_) {
    if (!slot->dead) return slot->worker->pid();
  }
  return 0;
}

std::string WorkerPool::worker_id() const {
  absl::MutexLock lock(&mu_);
  return current_id_;
}

PoolStats WorkerPool::stats() const {
  absl::MutexLock lock(&mu_);
  PoolStats stats = counters_;
  for (const auto& slot : slots_) {
    if (slot->dead) continue;
    ++stats.workers;
    if (slot->worker != nullptr && slot->worker->streaming()) ++stats.workers_streaming;
    if (slot->in_flight > 0) {
      ++stats.workers_busy;
    } else {
      ++stats.workers_idle;
    }
    stats.calls_in_flight += slot->in_flight;
  }
  stats.workers_starting = starting_;
  stats.calls_queued = static_cast<int>(queue_.size());
  return stats;
}

}  // namespace iw::internal
