#include "runtime/host/inprocess_endpoint.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/message_lite.h"
#include "runtime/codegen_support/host_support.h"
#include "runtime/host/crash_details.h"
#include "runtime/host/worker_pool.h"
#include "runtime/logging.h"
#include "runtime/process/subprocess.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/grpc_workarounds.h"

namespace iw::internal {

using google::protobuf::MessageLite;

namespace {

std::atomic<int> g_next_in_process_number{1};

absl::string_view ShortName(absl::string_view full_name) {
  size_t dot = full_name.rfind('.');
  return dot == absl::string_view::npos ? full_name : full_name.substr(dot + 1);
}

// What a host sees when a connection to a live worker breaks (gRPC's own
// words for a closed socket).
constexpr char kDroppedTransportMessage[] = "Socket closed";

}  // namespace

// One call issued through the tracked path: the reply lands in a private
// buffer, so a simulated death can fail the call at once while gRPC still
// holds the buffer.
struct InProcessEndpoint::Op {
  int method_index = 0;
  std::unique_ptr<MessageLite> reply;
  MessageLite* target = nullptr;           // the caller's response
  std::function<void(absl::Status)> done;  // async calls only
  std::shared_ptr<PendingCall> pending;
  bool finished = false;  // guarded by the endpoint's mu_
  absl::Status status;
  // Likewise for the metadata the worker sent back: copied to the caller's
  // `metadata_target` only if the call completes normally.
  Metadata metadata;
  Metadata* metadata_target = nullptr;  // guarded by the endpoint's mu_
};

InProcessEndpoint::InProcessEndpoint(const codegen::ServiceBinding& binding, InProcessHooks* hooks)
    : GrpcEndpoint(*binding.service), binding_(binding), hooks_(hooks) {}

absl::StatusOr<std::unique_ptr<InProcessEndpoint>> InProcessEndpoint::Start(
    const codegen::ServiceBinding& binding, const WorkerOptions& options, InProcessHooks* hooks) {
  if (binding.service == nullptr || binding.methods == nullptr || binding.handler == nullptr) {
    return absl::InvalidArgumentError("start in-process worker: the handler binding is empty");
  }
  std::unique_ptr<InProcessEndpoint> endpoint(new InProcessEndpoint(binding, hooks));
  absl::Status started = endpoint->StartServer(options);
  if (!started.ok()) return started;
  return endpoint;
}

absl::Status InProcessEndpoint::StartServer(const WorkerOptions& options) {
  const codegen::ServiceInfo& service = *binding_.service;
  set_id(absl::StrCat(ShortName(service.full_name), "#", g_next_in_process_number.fetch_add(1),
                      " (in-process)"));
  codegen::ServiceBinding served = binding_;
  if (hooks_ != nullptr) {
    hooked_.endpoint = this;
    hooked_.original = binding_;
    hooked_methods_.assign(binding_.methods, binding_.methods + service.method_count);
    for (int i = 0; i < service.method_count; ++i) {
      hooked_.methods_by_path.emplace(service.methods[i].path, i);
      if (codegen::IsStreaming(service.methods[i])) {
        hooked_methods_[i].invoke_stream = &InProcessEndpoint::InvokeStreamHooked;
      } else {
        hooked_methods_[i].invoke = &InProcessEndpoint::InvokeHooked;
      }
    }
    served = codegen::ServiceBinding{binding_.service, hooked_methods_.data(), &hooked_};
  }
  logger_ = Logger(options.log_sink, options.log_level);
  WorkerConfig config;
  config.middleware = options.worker_middleware;
  config.tracer = options.worker_tracer;
  // The worker side's records are this host's.
  config.log_sink = options.log_sink;
  config.log_level = options.log_level;
  dispatcher_ = std::make_unique<Dispatcher>(served, id(), std::move(config));
  // DEADLINE_REPLACE_WORKER: a worker process would tell its host and exit.
  // Here the handler cannot be stopped, but the host replaces the worker
  // just the same.
  dispatcher_->SetOverrunHandler([this](const std::string& description) {
    logger_.Log(LogLevel::kError, id(),
                absl::StrCat(description, " (in-process: the handler itself keeps running)"));
    absl::MutexLock lock(&mu_);
    if (crashed_ || closing_ || !kill_reason_.empty()) return;
    crashed_ = true;
    replaced_reason_ = description;
    BreakLocked([this] { ReportDeath(); });
  });
  dispatcher_->SetRecycleHandler([this] {
    std::function<void(const std::string&)> on_recycle;
    {
      absl::MutexLock lock(&mu_);
      on_recycle = on_recycle_;
    }
    if (on_recycle) on_recycle("a handler asked for it (CallContext::RequestRecycle())");
  });
  grpc::ServerBuilder builder;
  ConfigureServer(service, builder);
  service_ = std::make_unique<WorkerService>(dispatcher_.get());
  builder.RegisterCallbackGenericService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) {
    return absl::InternalError(
        absl::StrCat("start in-process worker ", id(), ": could not start the gRPC server"));
  }
  PinGrpcCallbackQueue();
  const HostMessageLimits limits = HostLimits(service, &options);
  AttachChannel(server_->InProcessChannel(HostChannelArguments(limits)), limits,
                options.call_stream, absl::Now() + absl::Seconds(5));
  if (hooks_ != nullptr) {
    hooks_->Attach(this);
    absl::MutexLock lock(&mu_);
    attached_ = true;
  }
  logger_.Log(LogLevel::kInfo, id(), "ready");
  return absl::OkStatus();
}

std::optional<absl::Status> InProcessEndpoint::ApplyFault(void* hooked,
                                                          ::iw::CallContext& context) {
  HookedHandler& self = *static_cast<HookedHandler*>(hooked);
  auto found = self.methods_by_path.find(context.method());
  const int method_index = found->second;  // the dispatcher only routes known paths
  CallFault fault =
      self.endpoint->hooks_->BeforeCall(self.endpoint, method_index, context.method());
  if (fault.delay > absl::ZeroDuration()) {
    const absl::Time end = absl::Now() + fault.delay;
    while (absl::Now() < end && !context.IsCancelled()) {
      absl::SleepFor(std::min(absl::Milliseconds(1), end - absl::Now()));
    }
    if (absl::Now() >= context.deadline()) {
      // Like a slow handler: the host's own deadline has fired (or is about to).
      return DeadlinePassedInWorker();
    }
    if (context.IsCancelled()) {
      return absl::CancelledError(
          absl::StrCat(context.method(), ": cancelled before the handler started"));
    }
  }
  switch (fault.outcome) {
    case CallFault::Outcome::kRunHandler:
      return std::nullopt;
    case CallFault::Outcome::kFail:
      return fault.status;
    case CallFault::Outcome::kCrash:
      // The host side fails this call (and every other) at once; what we
      // return here goes nowhere.
      self.endpoint->SimulateDeath(fault.signal, fault.exit_code, nullptr);
      return absl::UnavailableError("simulated crash");
    case CallFault::Outcome::kDropConnection:
      self.endpoint->DropConnection();
      return absl::UnavailableError("simulated connection loss");
  }
  return std::nullopt;
}

absl::Status InProcessEndpoint::InvokeHooked(void* hooked, ::iw::CallContext& context,
                                             const MessageLite& request, MessageLite* response) {
  if (std::optional<absl::Status> faulted = ApplyFault(hooked, context)) return *faulted;
  HookedHandler& self = *static_cast<HookedHandler*>(hooked);
  const int method_index = self.methods_by_path.find(context.method())->second;
  const codegen::MethodHandler& method = self.original.methods[method_index];
  return method.invoke(self.original.handler, context, request, response);
}

absl::Status InProcessEndpoint::InvokeStreamHooked(void* hooked, ::iw::CallContext& context,
                                                   const MessageLite* request, StreamIo& io,
                                                   MessageLite* response) {
  if (std::optional<absl::Status> faulted = ApplyFault(hooked, context)) return *faulted;
  HookedHandler& self = *static_cast<HookedHandler*>(hooked);
  const int method_index = self.methods_by_path.find(context.method())->second;
  const codegen::MethodHandler& method = self.original.methods[method_index];
  return method.invoke_stream(self.original.handler, context, request, io, response);
}

InProcessEndpoint::~InProcessEndpoint() {
  CloseOptions quick;
  quick.grace = absl::Seconds(1);
  quick.term_timeout = absl::Seconds(1);
  Close(quick).IgnoreError();
}

bool InProcessEndpoint::crashed() const {
  absl::MutexLock lock(&mu_);
  return crashed_;
}

FailureDescription InProcessEndpoint::DescribeDeath() {
  absl::MutexLock lock(&mu_);
  return DescribeDeathLocked();
}

FailureDescription InProcessEndpoint::DescribeDeathLocked() const {
  if (!kill_reason_.empty()) {
    return {absl::StrCat("worker ", id(), " was killed by the host: ", kill_reason_), ""};
  }
  if (!replaced_reason_.empty()) {
    return {absl::StrCat("worker ", id(), " exited: ", replaced_reason_), ""};
  }
  return {absl::StrCat("worker ", id(), " crashed: ", crashed_ ? death_ : "still running"), ""};
}

void InProcessEndpoint::SetRecycleCallback(std::function<void(const std::string&)> callback) {
  absl::MutexLock lock(&mu_);
  on_recycle_ = std::move(callback);
}

std::optional<WorkerCrash> InProcessEndpoint::CrashDetails() {
  absl::MutexLock lock(&mu_);
  return CrashDetailsLocked();
}

WorkerCrash InProcessEndpoint::CrashDetailsLocked() const {
  WorkerCrash crash;
  crash.set_worker_id(id());
  if (simulated_exit_) SetExit(*simulated_exit_, &crash);
  if (!kill_reason_.empty()) {
    crash.set_cause(WorkerCrash::KILLED_BY_HOST);
  } else if (!replaced_reason_.empty()) {
    crash.set_cause(WorkerCrash::DEADLINE_REPLACEMENT);
  } else if (dropped_ && !crashed_) {
    crash.set_cause(WorkerCrash::CONNECTION_LOST);
  }
  return crash;
}

void InProcessEndpoint::SetDeathCallback(std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  on_death_ = std::move(callback);
}

std::optional<absl::Status> InProcessEndpoint::BrokenLocked(int method_index) const {
  const std::string method = MethodDisplayName(service(), method_index);
  if (crashed_ || !kill_reason_.empty() || dropped_) {
    WorkerCrash crash = CrashDetailsLocked();
    crash.set_method(method);
    if (crashed_ || !kill_reason_.empty()) {
      return WithCrash(CallFailed(absl::StatusCode::kUnavailable, FailureCause::kWorkerDied, method,
                                  DescribeDeathLocked()),
                       crash);
    }
    return WithCrash(
        CallFailed(
            absl::StatusCode::kUnavailable, FailureCause::kConnectionLost, method,
            {absl::StrCat("connection to worker ", id(), " failed: ", kDroppedTransportMessage),
             ""}),
        crash);
  }
  if (closed_mid_call_) return ClosedMidCall(method);
  return std::nullopt;
}

absl::Status InProcessEndpoint::ExplainUnavailable(int method_index,
                                                   const absl::Status& transport) {
  absl::MutexLock lock(&mu_);
  if (std::optional<absl::Status> broken = BrokenLocked(method_index)) return *broken;
  const std::string method = MethodDisplayName(service(), method_index);
  if (closing_) return ClosedMidCall(method);
  return CallFailed(
      absl::StatusCode::kUnavailable, FailureCause::kConnectionLost, method,
      {absl::StrCat("connection to worker ", id(), " failed: ", transport.message()), ""});
}

absl::Status InProcessEndpoint::ClosedMidCall(const std::string& method) const {
  return CallFailed(
      absl::StatusCode::kUnavailable, FailureCause::kWorkerClosed, method,
      {absl::StrCat("worker ", id(), " was closed while the call was in flight"), ""});
}

std::shared_ptr<InProcessEndpoint::Op> InProcessEndpoint::StartOp(
    int method_index, std::string request, const CallTiming& timing, MessageLite* target,
    std::function<void(absl::Status)> done) {
  auto op = std::make_shared<Op>();
  op->method_index = method_index;
  op->reply.reset(target->New());
  op->target = target;
  op->done = std::move(done);
  op->metadata_target = timing.response_metadata;
  CallTiming tracked = timing;
  if (timing.response_metadata != nullptr) tracked.response_metadata = &op->metadata;
  {
    absl::MutexLock lock(&mu_);
    if (std::optional<absl::Status> broken = BrokenLocked(method_index)) {
      op->finished = true;
      op->status = *std::move(broken);
      return op;
    }
    ops_.insert(op);
    ++completions_pending_;
  }
  std::shared_ptr<PendingCall> pending = GrpcEndpoint::CallAsync(
      method_index, std::move(request), op->reply.get(), tracked, [this, op](absl::Status status) {
        CompleteOp(op, std::move(status));
        absl::MutexLock lock(&mu_);
        --completions_pending_;
      });
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    op->pending = pending;
    cancel = op->finished && pending != nullptr;
  }
  // Failed by a simulated death before the call was issued: stop its handler.
  if (cancel) pending->Cancel();
  return op;
}

void InProcessEndpoint::CompleteOp(const std::shared_ptr<Op>& op, absl::Status status) {
  std::function<void(absl::Status)> done;
  {
    absl::MutexLock lock(&mu_);
    if (op->finished) return;  // failed by a simulated death already
    if (op->metadata_target != nullptr) *op->metadata_target = std::move(op->metadata);
    op->finished = true;
    op->status = status;
    ops_.erase(op);
    done = std::move(op->done);
  }
  if (!done) return;  // a sync caller picks the reply up
  if (status.ok()) {
    op->target->Clear();
    op->target->CheckTypeAndMergeFrom(*op->reply);
  }
  done(std::move(status));
}

absl::Status InProcessEndpoint::Call(int method_index, const MessageLite& request,
                                     MessageLite* response, const CallTiming& timing) {
  std::string bytes;
  if (!request.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat(MethodDisplayName(service(), method_index),
                     ": could not serialize the request: ", kSerializeFailedMessage));
  }
  std::shared_ptr<Op> op = StartOp(method_index, std::move(bytes), timing, response, nullptr);
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    auto finished = [&op]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return op->finished; };
    // Bound by the call's gRPC deadline (or a simulated death).
    mu_.Await(absl::Condition(&finished));
    status = op->status;
  }
  if (status.ok()) {
    response->Clear();
    response->CheckTypeAndMergeFrom(*op->reply);
  }
  return status;
}

std::shared_ptr<PendingCall> InProcessEndpoint::CallAsync(int method_index, std::string request,
                                                          MessageLite* response,
                                                          const CallTiming& timing,
                                                          std::function<void(absl::Status)> done) {
  std::shared_ptr<Op> op =
      StartOp(method_index, std::move(request), timing, response, std::move(done));
  std::function<void(absl::Status)> refused;
  {
    absl::MutexLock lock(&mu_);
    if (op->finished && op->done) refused = std::move(op->done);  // broken at the start
  }
  if (refused) {
    refused(op->status);
    return nullptr;
  }
  absl::MutexLock lock(&mu_);
  return op->pending;
}

void InProcessEndpoint::BreakLocked(std::function<void()> then) {
  struct Failed {
    std::shared_ptr<PendingCall> pending;
    std::function<void(absl::Status)> done;
    absl::Status status;
  };
  std::vector<Failed> failed;
  for (const std::shared_ptr<Op>& op : ops_) {
    op->finished = true;
    op->status = BrokenLocked(op->method_index)
                     .value_or(CallFailed(absl::StatusCode::kUnavailable, FailureCause::kWorkerDied,
                                          MethodDisplayName(service(), op->method_index),
                                          {absl::StrCat("worker ", id(), " is gone"), ""}));
    failed.push_back({op->pending, std::move(op->done), op->status});
  }
  ops_.clear();
  // Sync callers wake up when mu_ is released; the rest (cancelling the
  // calls, async callbacks, telling the supervisor) runs on its own thread,
  // never under the caller's locks.
  event_threads_.emplace_back([failed = std::move(failed), then = std::move(then)]() mutable {
    for (Failed& call : failed) {
      if (call.pending) call.pending->Cancel();
      if (call.done) call.done(call.status);
    }
    if (then) then();
  });
}

void InProcessEndpoint::ReportDeath() {
  std::function<void()> on_death;
  {
    absl::MutexLock lock(&mu_);
    on_death = on_death_;
  }
  if (on_death) {
    on_death();  // the owner reports it
  } else {
    logger_.Log(LogLevel::kError, id(), DescribeDeath().ToString());
  }
}

void InProcessEndpoint::SimulateDeath(int signal, int exit_code, std::function<void()> reported) {
  {
    absl::MutexLock lock(&mu_);
    if (!crashed_ && !closing_ && kill_reason_.empty()) {
      ExitStatus status;
      status.signaled = signal != 0;
      status.code = signal != 0 ? signal : exit_code;
      death_ = status.ToString();
      simulated_exit_ = status;
      crashed_ = true;
      logger_.Log(LogLevel::kWarning, id(), absl::StrCat("simulated death: ", death_));
      BreakLocked([this, reported = std::move(reported)] {
        ReportDeath();
        if (reported) reported();
      });
      return;
    }
  }
  if (reported) reported();
}

void InProcessEndpoint::DropConnection() {
  absl::MutexLock lock(&mu_);
  if (dropped_ || crashed_ || closing_ || !kill_reason_.empty()) return;
  dropped_ = true;
  logger_.Log(LogLevel::kWarning, id(), "simulated connection loss");
  BreakLocked(nullptr);
}

void InProcessEndpoint::Kill(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  if (!kill_reason_.empty() || closing_) return;
  kill_reason_ = reason;
  logger_.Log(LogLevel::kWarning, id(),
              absl::StrCat("killing: ", reason, " (in-process: running handlers keep running)"));
  BreakLocked(nullptr);
}

absl::Status InProcessEndpoint::Close(const CloseOptions& options) {
  bool was_attached;
  {
    absl::MutexLock lock(&mu_);
    if (close_result_.has_value()) return *close_result_;
    if (closing_) {
      // Another thread is closing: wait for its result.
      auto closed = [this]()
                        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return close_result_.has_value(); };
      mu_.Await(absl::Condition(&closed));
      return *close_result_;
    }
    closing_ = true;
    was_attached = attached_;
    attached_ = false;
  }
  // From here on no hook reaches this worker.
  if (was_attached) hooks_->Detach(this);
  StopAccepting();
  absl::Status result = absl::OkStatus();
  if (server_ != nullptr) {
    // 1. Calls in flight get the grace period.
    if (!WaitForCalls(absl::Now() + options.grace)) {
      absl::MutexLock lock(&mu_);
      closed_mid_call_ = true;
      BreakLocked(nullptr);
    }
    // 2. The rest are cancelled (their handlers see IsCancelled()); nothing
    //    can stop a handler that ignores it, so we wait for it.
    dispatcher_->BeginShutdown();
    std::thread shutdown([this] { server_->Shutdown(absl::ToChronoTime(absl::Now())); });
    if (!dispatcher_->WaitIdle(absl::Now() + options.term_timeout)) {
      logger_.Log(LogLevel::kWarning, id(),
                  "handlers still running after the grace period and cancellation; waiting for "
                  "them (an in-process handler cannot be killed)");
      result = absl::DeadlineExceededError(
          absl::StrCat("close ", id(), ": handlers did not finish within the grace period (",
                       absl::FormatDuration(options.grace), ") nor within ",
                       absl::FormatDuration(options.term_timeout),
                       " of cancellation; an in-process handler cannot be killed, so close waited "
                       "for it"));
      dispatcher_->WaitIdle(absl::InfiniteFuture());
    }
    shutdown.join();
    server_->Wait();
  }
  if (!WaitForCalls(absl::Now() + absl::Seconds(10))) {
    logger_.Log(LogLevel::kError, id(), "calls still in flight 10s after the worker stopped");
  }
  std::vector<std::thread> event_threads;
  {
    absl::MutexLock lock(&mu_);
    auto settled = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return completions_pending_ == 0; };
    mu_.AwaitWithTimeout(absl::Condition(&settled), absl::Seconds(10));
    event_threads.swap(event_threads_);
  }
  for (std::thread& thread : event_threads) {
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // closed from its own callback
    } else {
      thread.join();
    }
  }
  DetachChannel();
  server_.reset();
  service_.reset();
  dispatcher_.reset();
  absl::MutexLock lock(&mu_);
  if (crashed_) result = absl::UnavailableError(DescribeDeathLocked().ToString());
  close_result_ = result;
  logger_.Log(LogLevel::kDebug, id(), "closed");
  return result;
}

namespace {

absl::StatusOr<std::unique_ptr<WorkerPool>> StartInProcessPool(
    const codegen::ServiceBinding& binding, WorkerOptions options,
    std::vector<MethodOverrides> method_overrides, InProcessHooks* hooks) {
  if (binding.service == nullptr) {
    return absl::InvalidArgumentError("start in-process worker: the handler binding is empty");
  }
  const codegen::ServiceInfo& service = *binding.service;
  WorkerPool::Factory factory = [binding, options,
                                 hooks]() -> absl::StatusOr<std::unique_ptr<WorkerEndpoint>> {
    absl::StatusOr<std::unique_ptr<InProcessEndpoint>> endpoint =
        InProcessEndpoint::Start(binding, options, hooks);
    if (!endpoint.ok()) return endpoint.status();
    return std::unique_ptr<WorkerEndpoint>(std::move(*endpoint));
  };
  PoolOptions pool;  // exactly one worker
  absl::StatusOr<std::unique_ptr<WorkerPool>> started = WorkerPool::Start(
      service, std::move(options), std::move(method_overrides), pool, std::move(factory));
  return started;
}

}  // namespace
}  // namespace iw::internal

namespace iw::codegen {

absl::StatusOr<StartedWorkers> StartInProcess(const ServiceBinding& binding, WorkerOptions options,
                                              std::vector<MethodOverrides> method_overrides,
                                              InProcessHooks* hooks) {
  return StartedWorkers::Of(internal::StartInProcessPool(binding, std::move(options),
                                                         std::move(method_overrides), hooks));
}

}  // namespace iw::codegen
