#include "runtime/host/worker_pool.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/demangle.h"
#include "runtime/common/handler_concurrency.h"
#include "runtime/common/middleware_chain.h"

namespace iw::internal {

using google::protobuf::MessageLite;

namespace {

// Calls one worker gets at once (PoolOptions::max_calls_per_worker).
int PerWorkerLimit(const codegen::ServiceInfo& service, const PoolOptions& pool) {
  return pool.max_calls_per_worker > 0 ? pool.max_calls_per_worker
         : pool.max_workers > 1        ? HandlerConcurrency(service)
                                       : std::numeric_limits<int>::max();
}

}  // namespace

WorkerPool::WorkerPool(const codegen::ServiceInfo& service, WorkerOptions options,
                       std::vector<MethodOverrides> method_overrides, PoolOptions pool,
                       Factory factory, Supervisor::Tuning tuning)
    : service_(service),
      options_(std::move(options)),
      method_overrides_(std::move(method_overrides)),
      logger_(options_.log_sink, options_.log_level),
      policy_(service, method_overrides_, logger_),
      metrics_(service),
      supervisor_(service, options_, pool, PerWorkerLimit(service, pool), std::move(factory),
                  tuning),
      admission_(policy_, pool, &supervisor_) {}

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Start(
    const codegen::ServiceInfo& service, WorkerOptions options,
    std::vector<MethodOverrides> method_overrides, PoolOptions pool, Factory factory,
    Supervisor::Tuning tuning) {
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
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": PoolOptions needs recycle_after_calls >= 0, recycle_above_rss_bytes >= 0 "
                     "and recycle_after_age > 0"));
  }
  if (pool.warm_spares < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": PoolOptions::warm_spares must be >= 0, got ", pool.warm_spares));
  }
  if (pool.warm_spares > 0 && options.respawn == RespawnPolicy::kNever) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": PoolOptions::warm_spares > 0 needs RespawnPolicy::kAlways (a spare "
                     "replaces a worker, which RespawnPolicy::kNever forbids)"));
  }
  std::unique_ptr<WorkerPool> result(new WorkerPool(
      service, std::move(options), std::move(method_overrides), pool, std::move(factory), tuning));
  absl::Status started = result->supervisor_.Start();
  if (!started.ok()) return started;  // started workers close in ~WorkerPool
  return result;
}

WorkerPool::~WorkerPool() {
  CloseOptions quick;
  quick.grace = absl::Seconds(1);
  quick.term_timeout = absl::Seconds(1);
  Close(quick).IgnoreError();
}

absl::StatusOr<CallTiming> WorkerPool::Resolve(int method_index, const CallOptions& options) const {
  absl::StatusOr<ResolvedTimeout> timeout = ResolveCallTimeout(
      service_, method_index,
      method_overrides_.empty() ? std::nullopt : method_overrides_[method_index].timeout,
      options_.call_timeout, options, timeout_scale_);
  if (!timeout.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(MethodDisplayName(service_, method_index), ": ", timeout.status().message()));
  }
  CallTiming timing{absl::Now() + timeout->timeout, *std::move(timeout), std::nullopt};
  timing.metrics = &metrics_.method(method_index);
  const codegen::MethodInfo& method = service_.methods[method_index];
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

absl::StatusOr<TraceContext> WorkerPool::InitialTrace(int method_index,
                                                      const CallOptions& options) const {
  if (options.trace) {
    if (absl::Status valid = ValidateTraceContext(*options.trace); !valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(MethodDisplayName(service_, method_index),
                                                     ": CallOptions::trace: ", valid.message()));
    }
    return *options.trace;
  }
  if (options_.trace_propagator == nullptr) return TraceContext();
  std::optional<TraceContext> current;
  try {
    current = options_.trace_propagator->Current();
  } catch (...) {
    logger_.Log(LogLevel::kError, service_.full_name,
                absl::StrCat("TracePropagator::Current threw ", CurrentExceptionTypeName(),
                             "; the call goes without a trace context"));
    return TraceContext();
  }
  if (!current) return TraceContext();
  if (absl::Status valid = ValidateTraceContext(*current); !valid.ok()) {
    logger_.Log(LogLevel::kDebug, service_.full_name,
                absl::StrCat(MethodDisplayName(service_, method_index),
                             ": ignored the TracePropagator's trace context: ", valid.message()));
    return TraceContext();
  }
  return *std::move(current);
}

// Host middleware wraps the whole logical call: it runs once per call,
// outside the queue and the crash-policy retries (a retry re-sends the
// request the chain produced). A trace context travels as metadata added
// after the chain (middleware_chain.cc).
absl::Status WorkerPool::Call(int method_index, const MessageLite& request, MessageLite* response,
                              const CallOptions& options) {
  absl::StatusOr<TraceContext> trace = InitialTrace(method_index, options);
  if (!trace.ok()) return trace.status();
  if (options_.middleware.empty() && trace->empty()) {
    return CallWithRetries(method_index, request, response, options, NewRequestId(), nullptr,
                           nullptr);
  }
  HostCall call;
  call.method = service_.methods[method_index].path;
  // Generated methods take `const Request&`: middleware gets a private copy.
  std::unique_ptr<MessageLite> copy;
  if (!options_.middleware.empty()) {
    copy.reset(request.New());
    copy->CheckTypeAndMergeFrom(request);
    call.request = copy.get();
  }
  call.response = response;
  call.request_id = NewRequestId();
  call.trace = *std::move(trace);
  size_t ran = 0;
  absl::Status status = RunOnRequest(options_.middleware, call, &ran);
  if (status.ok()) {
    status = CallWithRetries(method_index, copy != nullptr ? *copy : request, response, options,
                             call.request_id, &call.request_metadata, &call.response_metadata);
  }
  RunOnResponse(options_.middleware, call, ran, status);
  return status;
}

absl::Status WorkerPool::CallWithRetries(int method_index, const MessageLite& request,
                                         MessageLite* response, const CallOptions& options,
                                         std::string request_id, const Metadata* request_metadata,
                                         Metadata* response_metadata) {
  absl::StatusOr<CallTiming> timing = Resolve(method_index, options);
  if (!timing.ok()) return timing.status();
  timing->request_id = std::move(request_id);
  timing->request_metadata = request_metadata;
  timing->response_metadata = response_metadata;
  return admission_.Call(method_index, request, response, *timing);
}

CallHandle WorkerPool::CallAsync(int method_index, const MessageLite& request,
                                 MessageLite* response, const CallOptions& options,
                                 std::function<void(absl::Status)> done) {
  absl::StatusOr<TraceContext> trace = InitialTrace(method_index, options);
  if (!trace.ok()) {
    done(trace.status());
    return CallHandle();
  }
  if (options_.middleware.empty() && trace->empty()) {
    return CallAsyncWithRetries(method_index, request, response, options, NewRequestId(), nullptr,
                                nullptr, std::move(done));
  }
  // OnRequest runs here, on the caller's thread; OnResponse on the thread
  // that completes the call, before `done`.
  auto call = std::make_shared<HostCall>();
  std::shared_ptr<MessageLite> copy;
  if (!options_.middleware.empty()) {
    copy.reset(request.New());
    copy->CheckTypeAndMergeFrom(request);
    call->request = copy.get();
  }
  call->method = service_.methods[method_index].path;
  call->response = response;
  call->request_id = NewRequestId();
  call->trace = *std::move(trace);
  size_t ran = 0;
  absl::Status status = RunOnRequest(options_.middleware, *call, &ran);
  if (!status.ok()) {
    RunOnResponse(options_.middleware, *call, ran, status);
    done(std::move(status));
    return CallHandle();
  }
  return CallAsyncWithRetries(method_index, copy != nullptr ? *copy : request, response, options,
                              call->request_id, &call->request_metadata, &call->response_metadata,
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
  return admission_.CallAsync(method_index, request, response, *std::move(timing), std::move(done));
}

std::unique_ptr<ClientStream> WorkerPool::OpenStream(int method_index, const MessageLite* request,
                                                     const CallOptions& options) {
  absl::StatusOr<CallTiming> timing = Resolve(method_index, options);
  if (!timing.ok()) return std::make_unique<FailedStream>(timing.status());
  absl::StatusOr<TraceContext> trace = InitialTrace(method_index, options);
  if (!trace.ok()) return std::make_unique<FailedStream>(trace.status());
  std::unique_ptr<MessageLite> copy;
  if (request != nullptr) {
    // Kept for a retry, and what middleware may modify.
    copy.reset(request->New());
    copy->CheckTypeAndMergeFrom(*request);
  }
  auto stream = std::make_unique<PoolStream>(admission_, policy_, options_.middleware, method_index,
                                             *std::move(timing), std::move(copy), NewRequestId(),
                                             *std::move(trace));
  stream->Open();
  return stream;
}

namespace {

// The handle of one StreamAsync() call: cancels its stream, or the stream
// it is about to open.
class AsyncStream final : public PendingCall {
 public:
  void Cancel() override {
    ClientStream* stream;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      stream = stream_;
    }
    if (stream != nullptr) stream->Cancel();
  }
  // The pump's stream, while it runs; false if cancelled already.
  bool Set(ClientStream* stream) {
    absl::MutexLock lock(&mu_);
    stream_ = stream;
    return !cancelled_;
  }

 private:
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  ClientStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace

CallHandle WorkerPool::StreamAsync(int method_index, const MessageLite& request,
                                   MessageLite* response, std::function<void()> on_message,
                                   std::function<void(absl::Status)> done,
                                   const CallOptions& options) {
  // The stream opens on the pump's thread: the TracePropagator is asked
  // here, on the caller's.
  CallOptions resolved = options;
  if (!resolved.trace) {
    absl::StatusOr<TraceContext> trace = InitialTrace(method_index, options);
    if (trace.ok()) resolved.trace = *std::move(trace);
  }
  // The caller may destroy `request` as soon as this returns.
  std::shared_ptr<MessageLite> copy(request.New());
  copy->CheckTypeAndMergeFrom(request);
  auto handle = std::make_shared<AsyncStream>();
  absl::MutexLock lock(&pumps_mu_);
  // Join the pumps that have finished.
  for (auto it = pumps_.begin(); it != pumps_.end();) {
    if ((*it)->done.load(std::memory_order_acquire)) {
      (*it)->thread.join();
      it = pumps_.erase(it);
    } else {
      ++it;
    }
  }
  auto pump = std::make_unique<Pump>();
  Pump* raw = pump.get();
  // Opening may wait for a free worker: on the pump, not on the caller.
  raw->thread = std::thread([this, raw, handle, copy, method_index, response, options = resolved,
                             on_message = std::move(on_message), done = std::move(done)] {
    std::unique_ptr<ClientStream> stream = OpenStream(method_index, copy.get(), options);
    if (!handle->Set(stream.get())) stream->Cancel();
    while (stream->Read(response)) on_message();
    absl::Status status = stream->Finish();
    handle->Set(nullptr);
    stream.reset();
    done(std::move(status));
    raw->done.store(true, std::memory_order_release);
  });
  pumps_.push_back(std::move(pump));
  return CallHandle(handle);
}

absl::Status WorkerPool::Close(const CloseOptions& options) {
  return close_.Run([&] { return CloseNow(options); });
}

absl::Status WorkerPool::CloseNow(const CloseOptions& options) {
  Later later;
  {
    absl::MutexLock lock(&supervisor_.mu());
    if (supervisor_.BeginCloseLocked(&later)) {
      admission_.FailAllLocked(absl::FailedPreconditionError("the host is closing"), &later);
    }
  }
  RunAll(later);
  absl::Status closed =
      supervisor_.Close(options, [this] { admission_.AwaitIdle(absl::Seconds(10)); });
  // Every stream has ended with its worker: the pumps' last callbacks run
  // before the host is gone.
  std::vector<std::unique_ptr<Pump>> pumps;
  {
    absl::MutexLock lock(&pumps_mu_);
    pumps.swap(pumps_);
  }
  for (auto& pump : pumps) pump->thread.join();
  return closed;
}

WorkerState WorkerPool::state() const { return supervisor_.state(); }

int WorkerPool::pid() const { return supervisor_.pid(); }

std::string WorkerPool::worker_id() const { return supervisor_.worker_id(); }

PoolStats WorkerPool::stats() const {
  PoolStats stats;
  absl::MutexLock lock(&supervisor_.mu());
  supervisor_.StatsLocked(&stats);
  admission_.StatsLocked(&stats);
  if (membership_ != nullptr) {
    const auto [ready, configured] = membership_->Counts();
    stats.workers_configured = configured;
    if (stats.workers == 0) return stats;  // closed
    stats.workers = ready;
    stats.workers_busy = std::min(ready, stats.calls_in_flight);
    stats.workers_idle = ready - stats.workers_busy;
    stats.workers_streaming = std::min(stats.workers_streaming, ready);
    stats.workers_native = std::min(stats.workers_native, ready);
  }
  return stats;
}

HostMetrics WorkerPool::Metrics() const {
  HostMetrics out;
  metrics_.Snapshot(&out);
  // /proc is read at most once a second per worker, however often this runs.
  supervisor_.Metrics(&out, absl::Seconds(1));
  // The gauges and counters stats() has (remote workers in rotation
  // included).
  const PoolStats stats = this->stats();
  PoolMetrics& pool = out.pool;
  pool.workers_ready = stats.workers;
  pool.workers_busy = stats.workers_busy;
  pool.workers_idle = stats.workers_idle;
  pool.workers_starting = stats.workers_starting;
  pool.spare_workers = stats.spare_workers;
  pool.calls_queued = stats.calls_queued;
  pool.workers_spawned = stats.workers_spawned;
  pool.workers_recycled = stats.workers_recycled;
  pool.spares_promoted = stats.spares_promoted;
  pool.spares_died = stats.spares_died;
  for (const MethodMetrics& method : out.methods) pool.retries += method.retries;
  out.taken = absl::Now();
  return out;
}

void WorkerPool::SetMembership(std::unique_ptr<Membership> membership) {
  membership_ = std::move(membership);
}

}  // namespace iw::internal
