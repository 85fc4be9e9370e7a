#include "runtime/internal/worker_pool.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/internal/call_failure.h"
#include "runtime/internal/crash_details.h"
#include "runtime/internal/dispatcher.h"
#include "runtime/internal/status_macros.h"
#include "runtime/internal/middleware_chain.h"
#include "runtime/logging.h"

namespace iw::internal {

using google::protobuf::MessageLite;

namespace {

// The crash-loop policy (docs/lifecycle.md, "Respawn and backoff"). A seat's
// worker "dies young" if it could not be started, or died less than
// kYoungDeath after it was ready without finishing a single call. The first
// young death of a seat is replaced at once; each further one in a row
// doubles the seat's delay, from kFirstBackoff up to kMaxBackoff. A worker
// that finished a call, or lived longer, resets its seat.
constexpr absl::Duration kYoungDeath = absl::Seconds(1);
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
// After this many failed starts in a row (pool-wide) with no worker up,
// queued and new calls fail with the spawn error instead of waiting.
constexpr int kFailFastAfter = 3;
// How often the supervisor reads the workers' resident memory
// (PoolOptions::recycle_above_rss_bytes).
constexpr absl::Duration kRssCheckInterval = absl::Milliseconds(500);

// Resident set size of `pid` from /proc/<pid>/statm, or nullopt.
std::optional<int64_t> ResidentBytes(int pid) {
  std::FILE* file = std::fopen(absl::StrCat("/proc/", pid, "/statm").c_str(), "re");
  if (file == nullptr) return std::nullopt;
  long long size = 0, resident = 0;
  const int read = std::fscanf(file, "%lld %lld", &size, &resident);
  std::fclose(file);
  if (read != 2) return std::nullopt;
  return static_cast<int64_t>(resident) * ::sysconf(_SC_PAGESIZE);
}

std::string Mebibytes(int64_t bytes) {
  return absl::StrCat(bytes / (1024 * 1024), " MiB");
}

// What the endpoint said happened, without the "<method>: " of the message
// ("worker ... crashed: ..."; the whole message if it kept no description).
FailureDescription DescriptionOrMessage(const absl::Status& status) {
  return DescriptionOf(status).value_or(FailureDescription{std::string(status.message()), ""});
}

void RunAll(std::vector<std::function<void()>>& later) {
  for (auto& f : later) f();
  later.clear();
}

}  // namespace

struct WorkerPool::Slot {
  std::unique_ptr<WorkerEndpoint> worker;
  std::string id;
  int seat = -1;  // -1 once it gave its seat up (dead, draining, recycling)
  int in_flight = 0;
  int64_t calls_done = 0;  // finished without the worker dying
  absl::Time born;
  absl::Time idle_since;
  bool dead = false;       // died or killed; leaves once idle
  bool draining = false;   // gets no new call; closes once idle
  bool recycling = false;  // serves until its replacement is ready, then drains
};

// One place in the pool: at most one worker (starting or up), and the
// crash-loop history of the workers that held it.
struct WorkerPool::Seat {
  bool occupied = false;
  int young_deaths = 0;  // in a row
  absl::Time not_before = absl::InfinitePast();
};

// A thread of the supervisor (a spawn, or the close of a leaving worker).
struct WorkerPool::Task {
  std::thread thread;
  bool done = false;  // guarded by the pool's mu_
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
  std::string request;  // serialized once; the last attempt takes it
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
  seats_.resize(static_cast<size_t>(std::max(pool.max_workers, 1)));
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
  if (pool.recycle_after_calls < 0 || pool.recycle_above_rss_bytes < 0 ||
      pool.recycle_after_age <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": PoolOptions needs recycle_after_calls >= 0, recycle_above_rss_bytes >= 0 "
              "and recycle_after_age > 0"));
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
      self->seats_[i].occupied = true;
      self->AddSlotLocked(*std::move(worker), i);
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
    if (slot->dead || slot->draining || slot->in_flight >= per_worker_limit_) continue;
    // A worker being recycled still serves, but last.
    if (!best || (best->recycling && !slot->recycling) ||
        (best->recycling == slot->recycling && slot->in_flight < best->in_flight)) {
      best = slot;
    }
  }
  return best;
}

int WorkerPool::LiveLocked() const {
  int live = 0;
  for (const auto& slot : slots_) {
    live += slot->dead || slot->draining || slot->recycling ? 0 : 1;
  }
  return live;
}

std::shared_ptr<WorkerPool::Slot> WorkerPool::AddSlotLocked(
    std::unique_ptr<WorkerEndpoint> worker, int seat) {
  auto slot = std::make_shared<Slot>();
  slot->id = worker->id();
  slot->seat = seat;
  slot->born = slot->idle_since = absl::Now();
  worker->SetDeathCallback([this, weak = std::weak_ptr<Slot>(slot)] { OnDeath(weak); });
  worker->SetRecycleCallback([this, weak = std::weak_ptr<Slot>(slot)](const std::string& why) {
    OnRecycleRequest(weak, why);
  });
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
    return ForMethod(NeverRespawnedLocked(), method_index);
  }
  if (failed_starts_ >= kFailFastAfter && !last_spawn_error_.ok()) {
    bool serving = false;
    for (const auto& slot : slots_) serving = serving || !(slot->dead || slot->draining);
    if (!serving) return ForMethod(last_spawn_error_, method_index);
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

bool WorkerPool::Release(const std::shared_ptr<Slot>& slot, const absl::Status& status,
                         const CallTiming& timing) {
  std::vector<std::function<void()>> later;
  bool died;
  {
    absl::MutexLock lock(&mu_);
    --slot->in_flight;
    const bool unavailable = status.code() == absl::StatusCode::kUnavailable;
    // Lost with one of a remote endpoint's workers: retried per the crash
    // policy, but the endpoint (its other workers) stays in rotation.
    const bool lost =
        unavailable && !slot->dead && CauseOf(status) == FailureCause::kCallLost;
    died = unavailable && (slot->dead || slot->worker->crashed() || lost);
    if (!died) ++slot->calls_done;
    if (died) {
      if (std::optional<WorkerCrash> crash = WorkerCrashOf(status)) last_crash_ = crash;
    }
    // Mark it now, before the death callback: a retry must not pick it.
    if (died && !slot->dead && !lost) {
      // The call's status already tells how the worker died.
      MarkDeadLocked(*slot, DescriptionOrMessage(status), &later);
    }
    // DEADLINE_REPLACE_WORKER: its handler may still run, and the worker
    // exits once the grace is over unless it returns: no new call goes there.
    if (!slot->dead && timing.replace_after.has_value() &&
        status.code() == absl::StatusCode::kDeadlineExceeded) {
      DrainLocked(*slot, "a DEADLINE_REPLACE_WORKER call overran its deadline on it");
    }
    if (!slot->dead && pool_.recycle_after_calls > 0 &&
        slot->calls_done >= pool_.recycle_after_calls) {
      RecycleLocked(*slot, absl::StrCat("served ", slot->calls_done,
                                        " calls (PoolOptions::recycle_after_calls)"));
    }
    if (slot->in_flight == 0) {
      slot->idle_since = absl::Now();
      // The supervisor times idle retirement (pools above their minimum).
      if (pool_.idle_timeout != absl::InfiniteDuration() &&
          static_cast<int>(slots_.size()) > pool_.min_workers) {
        wake_ = true;
      }
    }
    if (slot->dead || slot->draining) {
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
    absl::Status error = ForMethod(status, waiter->method_index);
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
  if (died && max_attempts > 1) {
    status = WithSuffix(status, MethodDisplayName(service_, method_index),
                        absl::StrCat(" (attempt ", attempt, " of ", max_attempts, ")"));
  }
  status = WithoutInternalPayloads(std::move(status));
  if (std::optional<WorkerCrash> crash = WorkerCrashOf(status)) {
    crash->set_method(MethodDisplayName(service_, method_index));
    crash->set_attempt(attempt);
    crash->set_max_attempts(max_attempts);
    status = WithCrash(std::move(status), *crash);
  }
  return status;
}

absl::Status WorkerPool::ForMethod(const absl::Status& status, int method_index) const {
  absl::Status result = Prefixed(status, MethodDisplayName(service_, method_index));
  if (std::optional<WorkerCrash> crash = WorkerCrashOf(result)) {
    crash->set_method(MethodDisplayName(service_, method_index));
    crash->set_attempt(1);
    crash->set_max_attempts(MaxAttempts(method_index));
    result = WithCrash(std::move(result), *crash);
  }
  return result;
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
    bool died = Release(*slot, status, *timing);
    if (died && attempt < max_attempts && absl::Now() < timing->deadline) {
      Log(LogLevel::kWarning, (*slot)->id,
          absl::StrCat("retrying ", MethodDisplayName(service_, method_index),
                       " on a fresh worker (attempt ", attempt + 1, " of ", max_attempts,
                       ") after: ", DescriptionOrMessage(status).ToString()));
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
  if (!request.SerializeToString(&op->request)) {
    op->done(absl::InternalError(absl::StrCat(MethodDisplayName(service_, method_index),
                                              ": could not serialize the request: ",
                                              kSerializeFailedMessage)));
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
  // Only a retry needs the bytes again: the last attempt takes them.
  std::string request =
      op->attempt < op->max_attempts ? op->request : std::move(op->request);
  std::shared_ptr<PendingCall> call = slot->worker->CallAsync(
      op->method_index, std::move(request), op->response, op->timing,
      [this, op, slot](absl::Status status) {
        bool died = Release(slot, status, op->timing);
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
                           op->max_attempts, ") after: ",
                           DescriptionOrMessage(status).ToString()));
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

absl::Status WorkerPool::NeverRespawnedLocked() const {
  absl::Status status = absl::UnavailableError(
      absl::StrCat(last_death_.what, " (RespawnPolicy::kNever)", last_death_.stderr_tail));
  if (last_crash_) status = WithCrash(std::move(status), *last_crash_);
  return status;
}

void WorkerPool::NoteEarlyFailureLocked(Seat& seat) {
  ++seat.young_deaths;
  seat.not_before =
      seat.young_deaths < 2
          ? absl::InfinitePast()
          : absl::Now() + std::min(kMaxBackoff,
                                   kFirstBackoff * (1 << std::min(seat.young_deaths - 2, 10)));
}

void WorkerPool::MarkDeadLocked(Slot& slot, FailureDescription description,
                                std::vector<std::function<void()>>* later) {
  slot.dead = true;
  later->push_back([id = slot.id, text = description.ToString()] {
    Log(LogLevel::kError, id, text);
  });
  last_death_ = std::move(description);
  ++counters_.workers_crashed;
  if (slot.seat >= 0) {
    Seat& seat = seats_[slot.seat];
    seat.occupied = false;
    if (slot.calls_done == 0 && absl::Now() - slot.born < kYoungDeath) {
      NoteEarlyFailureLocked(seat);
    } else {
      // It served: a kill from outside, or a crash on some input, not a
      // crash loop. Replaced at once.
      seat.young_deaths = 0;
      seat.not_before = absl::InfinitePast();
    }
    slot.seat = -1;
  }
  if (options_.respawn == RespawnPolicy::kNever) spawning_disabled_ = true;
  if (!closing_) SetStateLocked(WorkerState::kCrashed, slot.id, later);
  wake_ = true;
}

void WorkerPool::DrainLocked(Slot& slot, const std::string& reason) {
  if (slot.dead || slot.draining) return;
  Log(LogLevel::kInfo, slot.id, absl::StrCat("draining: ", reason));
  slot.draining = true;
  slot.recycling = false;
  if (slot.seat >= 0) {
    seats_[slot.seat] = Seat();  // it did not die: the seat starts afresh
    slot.seat = -1;
  }
  wake_ = true;
}

void WorkerPool::RecycleLocked(Slot& slot, const std::string& reason) {
  if (slot.dead || slot.draining || slot.recycling || closing_) return;
  Log(LogLevel::kInfo, slot.id, absl::StrCat("recycling: ", reason));
  slot.recycling = true;
  ++counters_.workers_recycled;
  if (slot.seat >= 0) {
    seats_[slot.seat] = Seat();
    slot.seat = -1;
  }
  wake_ = true;
}

void WorkerPool::OnDeath(const std::weak_ptr<Slot>& weak) {
  std::shared_ptr<Slot> slot = weak.lock();
  if (!slot) return;
  FailureDescription description = slot->worker->DescribeDeath();  // may wait for stderr
  std::vector<std::function<void()>> later;
  {
    absl::MutexLock lock(&mu_);
    if (!slot->dead) {
      MarkDeadLocked(*slot, description, &later);
    } else {
      last_death_ = description;  // the fuller story (stderr tail)
    }
    last_crash_ = slot->worker->CrashDetails();
  }
  RunAll(later);
}

void WorkerPool::OnRecycleRequest(const std::weak_ptr<Slot>& weak, const std::string& reason) {
  std::shared_ptr<Slot> slot = weak.lock();
  if (!slot) return;
  absl::MutexLock lock(&mu_);
  RecycleLocked(*slot, reason);
}

void WorkerPool::RunTaskLocked(std::function<void()> work) {
  auto task = std::make_unique<Task>();
  Task* raw = task.get();
  // The thread marks itself done under mu_, which we hold until it is
  // listed.
  raw->thread = std::thread([this, raw, work = std::move(work)] {
    work();
    absl::MutexLock lock(&mu_);
    raw->done = true;
    wake_ = true;  // the supervisor joins it
  });
  tasks_.push_back(std::move(task));
}

void WorkerPool::JoinTasks(bool all) {
  std::vector<std::unique_ptr<Task>> finished;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = tasks_.begin(); it != tasks_.end();) {
      if (all || (*it)->done) {
        finished.push_back(std::move(*it));
        it = tasks_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& task : finished) task->thread.join();
}

void WorkerPool::SpawnInto(int seat_index) {
  absl::StatusOr<std::unique_ptr<WorkerEndpoint>> worker = factory_();
  std::vector<std::function<void()>> later;
  std::unique_ptr<WorkerEndpoint> discard;
  {
    absl::MutexLock lock(&mu_);
    --starting_;
    Seat& seat = seats_[seat_index];
    if (!worker.ok()) {
      seat.occupied = false;
      NoteEarlyFailureLocked(seat);
      ++failed_starts_;
      last_spawn_error_ = worker.status();
      if (!WorkerCrashOf(last_spawn_error_)) {
        WorkerCrash crash;
        crash.set_cause(WorkerCrash::SPAWN_FAILURE);
        last_spawn_error_ = WithCrash(last_spawn_error_, crash);
      }
      Log(LogLevel::kError, service_.full_name,
          absl::StrCat("could not start a worker: ", worker.status().message()));
      // Calls wait for the next attempt, unless starts keep failing and no
      // worker is up to serve them.
      bool serving = false;
      for (const auto& slot : slots_) serving = serving || !(slot->dead || slot->draining);
      if (failed_starts_ >= kFailFastAfter && !serving) {
        FailQueuedLocked(last_spawn_error_, &later);
      }
      if (!serving && starting_ == 0) {
        SetStateLocked(WorkerState::kCrashed, service_.full_name, &later);
      }
    } else if (closing_) {
      seat.occupied = false;
      discard = std::move(*worker);
    } else {
      failed_starts_ = 0;
      last_spawn_error_ = absl::OkStatus();
      const bool replacing = counters_.workers_crashed > 0 && LiveLocked() < pool_.min_workers;
      const std::string replaced = current_id_;
      std::shared_ptr<Slot> slot = AddSlotLocked(*std::move(worker), seat_index);
      if (replacing) {
        Log(LogLevel::kInfo, slot->id, absl::StrCat("replacing crashed worker ", replaced));
      }
      // A worker being recycled leaves now that its replacement is ready.
      std::shared_ptr<Slot> oldest;
      for (const auto& other : slots_) {
        if (other->recycling && (!oldest || other->born < oldest->born)) oldest = other;
      }
      if (oldest) DrainLocked(*oldest, absl::StrCat("recycled; replaced by ", slot->id));
      current_id_ = slot->id;
      SetStateLocked(WorkerState::kReady, slot->id, &later);
      DispatchLocked(&later);
    }
    wake_ = true;  // look again: more may be needed
  }
  RunAll(later);
  if (discard) discard->Close(CloseOptions()).IgnoreError();
}

void WorkerPool::Supervise() {
  while (true) {
    std::vector<std::function<void()>> later;
    std::vector<std::pair<std::weak_ptr<Slot>, int>> rss_probes;
    {
      absl::MutexLock lock(&mu_);
      // Sleep until there is something to do or a timer is due.
      absl::Time wake_at = absl::InfiniteFuture();
      for (const auto& waiter : queue_) {
        if (waiter->op) wake_at = std::min(wake_at, waiter->deadline);
      }
      const absl::Time before_sleep = absl::Now();
      for (const Seat& seat : seats_) {
        if (!seat.occupied && seat.not_before > before_sleep) {
          wake_at = std::min(wake_at, seat.not_before);
        }
      }
      if (pool_.idle_timeout != absl::InfiniteDuration() &&
          static_cast<int>(slots_.size()) > pool_.min_workers) {
        for (const auto& slot : slots_) {
          if (slot->in_flight == 0) wake_at = std::min(wake_at, slot->idle_since + pool_.idle_timeout);
        }
      }
      if (pool_.recycle_after_age != absl::InfiniteDuration()) {
        for (const auto& slot : slots_) {
          if (!slot->dead && !slot->draining && !slot->recycling) {
            wake_at = std::min(wake_at, slot->born + pool_.recycle_after_age);
          }
        }
      }
      if (pool_.recycle_above_rss_bytes > 0) wake_at = std::min(wake_at, next_rss_check_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return wake_ || stop_supervisor_;
      };
      mu_.AwaitWithDeadline(absl::Condition(&woken), wake_at);
      wake_ = false;
      if (stop_supervisor_) break;
      const absl::Time now = absl::Now();

      // Dead and drained workers leave once no call is on them; they close
      // on a task thread (a drained one may take its grace period).
      for (auto it = slots_.begin(); it != slots_.end();) {
        if (((*it)->dead || (*it)->draining) && (*it)->in_flight == 0) {
          std::shared_ptr<Slot> leaving = *it;
          RunTaskLocked([leaving] { leaving->worker->Close(CloseOptions()).IgnoreError(); });
          it = slots_.erase(it);
        } else {
          ++it;
        }
      }
      // Idle workers above the minimum retire.
      int live = LiveLocked();
      for (auto it = slots_.begin(); it != slots_.end() && live > pool_.min_workers;) {
        const auto& slot = *it;
        if (!slot->dead && !slot->draining && !slot->recycling && slot->in_flight == 0 &&
            queue_.empty() && now - slot->idle_since >= pool_.idle_timeout) {
          Log(LogLevel::kInfo, slot->id, "retiring idle worker");
          if (slot->seat >= 0) seats_[slot->seat] = Seat();
          std::shared_ptr<Slot> leaving = slot;
          RunTaskLocked([leaving] { leaving->worker->Close(CloseOptions()).IgnoreError(); });
          it = slots_.erase(it);
          --live;
        } else {
          ++it;
        }
      }
      // Workers past their age are recycled.
      if (pool_.recycle_after_age != absl::InfiniteDuration()) {
        for (const auto& slot : slots_) {
          if (now - slot->born >= pool_.recycle_after_age) {
            RecycleLocked(*slot, absl::StrCat("older than ",
                                              absl::FormatDuration(pool_.recycle_after_age),
                                              " (PoolOptions::recycle_after_age)"));
          }
        }
      }
      if (pool_.recycle_above_rss_bytes > 0 && now >= next_rss_check_) {
        next_rss_check_ = now + kRssCheckInterval;
        for (const auto& slot : slots_) {
          if (slot->dead || slot->draining || slot->recycling) continue;
          if (int pid = slot->worker->pid(); pid > 0) rss_probes.emplace_back(slot, pid);
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
      // Start workers, in parallel: up to min_workers, one per worker being
      // recycled, and for queued calls (while every worker is saturated)
      // up to max_workers.
      live = LiveLocked();
      int recycling = 0;
      for (const auto& slot : slots_) recycling += slot->recycling && !slot->dead ? 1 : 0;
      int want = std::max(pool_.min_workers, std::min(pool_.max_workers, live + recycling));
      if (!queue_.empty() && PickLocked() == nullptr) {
        const int limit = std::max(1, per_worker_limit_);
        const int64_t needed =
            (static_cast<int64_t>(queue_.size()) + limit - 1) / limit + live;
        want = std::max<int64_t>(want, std::min<int64_t>(pool_.max_workers, needed));
      }
      int to_start = want - live - starting_;
      if (closing_ || spawning_disabled_) to_start = 0;
      for (; to_start > 0; --to_start) {
        // A free seat whose backoff is over, the least troubled first.
        int best = -1;
        for (int i = 0; i < static_cast<int>(seats_.size()); ++i) {
          const Seat& seat = seats_[i];
          if (seat.occupied || seat.not_before > now) continue;
          if (best < 0 || seat.young_deaths < seats_[best].young_deaths) best = i;
        }
        if (best < 0) break;  // the rest wait for their seats' backoff
        seats_[best].occupied = true;
        ++starting_;
        if (live == 0) SetStateLocked(WorkerState::kStarting, service_.full_name, &later);
        RunTaskLocked([this, best] { SpawnInto(best); });
      }
      if (spawning_disabled_ && slots_.empty()) {
        FailQueuedLocked(NeverRespawnedLocked(), &later);
      }
    }
    RunAll(later);
    for (const auto& [weak, pid] : rss_probes) {
      std::optional<int64_t> rss = ResidentBytes(pid);
      if (!rss || *rss <= pool_.recycle_above_rss_bytes) continue;
      std::shared_ptr<Slot> slot = weak.lock();
      if (!slot) continue;
      absl::MutexLock lock(&mu_);
      RecycleLocked(*slot, absl::StrCat("resident memory ", Mebibytes(*rss), " above ",
                                        Mebibytes(pool_.recycle_above_rss_bytes),
                                        " (PoolOptions::recycle_above_rss_bytes)"));
    }
    JoinTasks(/*all=*/false);
  }
  // Stopping: every spawn and close under way finishes first (a spawn that
  // completes now closes its worker at once).
  JoinTasks(/*all=*/true);
}

absl::Status WorkerPool::Close(const CloseOptions& options) {
  return close_.Run([&] { return CloseNow(options); });
}

absl::Status WorkerPool::CloseNow(const CloseOptions& options) {
  std::vector<std::function<void()>> later;
  {
    absl::MutexLock lock(&mu_);
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
    if (!slot->dead && !slot->draining) return WorkerState::kReady;
  }
  if (starting_ > 0) return WorkerState::kStarting;
  return state_ == WorkerState::kReady ? WorkerState::kReady : WorkerState::kCrashed;
}

int WorkerPool::pid() const {
  absl::MutexLock lock(&mu_);
  for (const auto& slot : slots_) {
    if (!slot->dead && !slot->draining) return slot->worker->pid();
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
    if (slot->dead || slot->draining) continue;
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
