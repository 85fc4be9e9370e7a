#include "runtime/worker/dispatcher.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <typeinfo>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/deadline_timer.h"
#include "runtime/common/demangle.h"
#include "runtime/common/handler_concurrency.h"
#include "runtime/common/middleware_chain.h"
#include "runtime/common/timeouts.h"
#include "runtime/logging.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/call_stream_protocol.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/schema.h"
#include "runtime/wire/status_conversion.h"

namespace iw::internal {
namespace {

// Runs `invoke` (the handler), turning a C++ exception into INTERNAL
// (framework code may catch: one bad handler must not take the worker down).
absl::Status InvokeHandler(CallContext& context, absl::FunctionRef<absl::Status()> invoke) {
  try {
    return invoke();
  } catch (const std::bad_alloc& e) {
    // Typically an address-space limit (ResourceLimits) reached: the worker
    // is still healthy once the handler's memory is released.
    return absl::ResourceExhaustedError(absl::StrCat(
        "handler for ", context.method(), " ran out of memory (", Demangle(typeid(e).name()), ")"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("handler for ", context.method(), " threw ",
                                            Demangle(typeid(e).name()), ": ", e.what()));
  } catch (...) {
    return absl::InternalError(
        absl::StrCat("handler for ", context.method(), " threw ", CurrentExceptionTypeName()));
  }
}

// Middleware (if any) around `invoke`, with `request` / `response` as the
// middleware sees them.
absl::Status InvokeWithMiddleware(const std::vector<std::shared_ptr<WorkerMiddleware>>& middleware,
                                  CallContext& context, google::protobuf::MessageLite* request,
                                  google::protobuf::MessageLite* response,
                                  absl::FunctionRef<absl::Status()> invoke) {
  if (middleware.empty()) return InvokeHandler(context, invoke);
  ::iw::WorkerCall call{context.method(), request, response, context};
  size_t ran = 0;
  absl::Status status = RunOnRequest(middleware, call, &ran);
  if (status.ok()) status = InvokeHandler(context, invoke);
  RunOnResponse(middleware, call, ran, status);
  return status;
}

// absl::Status accepts any int; gRPC's wire format does not.
absl::Status CanonicalHandlerStatus(const codegen::ServiceBinding& binding, int method_index,
                                    absl::Status status) {
  const int code = static_cast<int>(status.code());
  if (code >= 0 && code <= 16) return status;
  return absl::UnknownError(absl::StrCat(MethodDisplayName(*binding.service, method_index),
                                         ": the handler returned the non-canonical status code ",
                                         code, ": ", status.message()));
}

// Parses the request, runs middleware and the handler, checks the reply's
// size. On OK, *response_out holds the reply.
absl::Status InvokeMethod(const codegen::ServiceBinding& binding, int method_index,
                          CallContext& context,
                          absl::FunctionRef<bool(google::protobuf::MessageLite*)> parse,
                          const std::vector<std::shared_ptr<WorkerMiddleware>>& middleware,
                          std::unique_ptr<google::protobuf::MessageLite>* response_out) {
  const codegen::MethodHandler& method = binding.methods[method_index];
  // "pkg.Svc.Method", as in every message of ours (context.method() is the
  // gRPC path "/pkg.Svc/Method"); built on the error paths only.
  auto display_name = [&] { return MethodDisplayName(*binding.service, method_index); };
  std::unique_ptr<google::protobuf::MessageLite> request(method.request_prototype->New());
  if (!parse(request.get())) {
    return absl::InvalidArgumentError(
        absl::StrCat(display_name(), ": malformed request: not a valid ", request->GetTypeName()));
  }
  std::unique_ptr<google::protobuf::MessageLite> response(method.response_prototype->New());
  absl::Status status = InvokeWithMiddleware(
      middleware, context, request.get(), response.get(),
      [&] { return method.invoke(binding.handler, context, *request, response.get()); });
  if (!status.ok()) return CanonicalHandlerStatus(binding, method_index, std::move(status));
  const size_t size = response->ByteSizeLong();
  const int limit = MaxResponseBytes(*binding.service);
  if (size > static_cast<size_t>(limit)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        display_name(), ": the ", response->GetTypeName(), " reply is ", size,
        " bytes, over the limit of ", limit, " bytes ((iw.service).max_response_bytes of ",
        binding.service->full_name, ")"));
  }
  *response_out = std::move(response);
  return absl::OkStatus();
}
}  // namespace

std::unique_ptr<TraceScope> Dispatcher::StartTraceScope(const CallContext& context) const {
  if (config_.tracer == nullptr) return nullptr;
  try {
    return config_.tracer->StartCall(context);
  } catch (...) {
    logger_.Log(LogLevel::kError, worker_id_,
                absl::StrCat(context.method(), ": WorkerTracer::StartCall threw ",
                             CurrentExceptionTypeName(), "; the call goes on without a scope"));
    return nullptr;
  }
}

absl::Status Dispatcher::RunCall(CallContext& context, std::optional<absl::Duration> replace_after,
                                 absl::FunctionRef<absl::Status()> body,
                                 Metadata* response_metadata) {
  if (context.IsCancelled()) {
    // The host stopped waiting while the call was queued: skip the handler.
    if (absl::Now() >= context.deadline()) return DeadlinePassedInWorker();
    return absl::CancelledError(
        absl::StrCat(context.method(), ": cancelled before the handler started"));
  }
  uint64_t watch = 0;
  if (replace_after && context.deadline() != absl::InfiniteFuture()) {
    watch = watchdog_->Arm(context.deadline(), *replace_after, context.method(),
                           context.request_id(), context.trace().traceparent);
  }
  absl::Status status;
  {
    // Records logged on this thread now are about this call, and go to
    // this worker's sink.
    CurrentCallScope current(&context, &logger_, &worker_id_);
    if (!context.trace_problem().empty()) {
      logger_.Log(LogLevel::kDebug, worker_id_,
                  absl::StrCat(context.method(),
                               ": ignored the caller's trace context: ", context.trace_problem()));
    }
    std::unique_ptr<TraceScope> span = StartTraceScope(context);
    status = body();
    if (span != nullptr) span->OnEnd(status);
  }
  if (watch != 0) watchdog_->Disarm(watch);
  if (context.recycle_requested() && on_recycle_ && !recycle_requested_.exchange(true)) {
    on_recycle_();
  }
  // What the handler and middleware added travels with any status; a bad
  // entry fails the call.
  for (auto& [key, value] : context.TakeResponseMetadata()) {
    absl::Status valid = ValidateMetadataEntry(key, value);
    if (!valid.ok()) {
      if (status.ok()) {
        status = absl::InternalError(
            absl::StrCat(context.method(), ": bad response metadata: ", valid.message()));
      }
      continue;
    }
    response_metadata->emplace(std::move(key), std::move(value));
  }
  return status;
}

absl::Status Dispatcher::Execute(
    int method_index, CallContext& context, std::optional<absl::Duration> replace_after,
    absl::FunctionRef<bool(google::protobuf::MessageLite*)> parse,
    absl::FunctionRef<absl::Status(const google::protobuf::MessageLite&)> serialize,
    Metadata* response_metadata, uint64_t* worker_us) {
  const int64_t start_ns = absl::GetCurrentTimeNanos();
  std::unique_ptr<google::protobuf::MessageLite> response;
  absl::Status status = RunCall(
      context, replace_after,
      [&] {
        if (binding_.methods[method_index].invoke == nullptr) {
          // A streaming method called as a unary call (a confused or
          // hostile client): it has no unary handler to run.
          return absl::UnimplementedError(
              absl::StrCat(MethodDisplayName(*binding_.service, method_index),
                           " is a streaming method: call it as a stream, not as a unary call"));
        }
        return InvokeMethod(binding_, method_index, context, parse, config_.middleware, &response);
      },
      response_metadata);
  if (worker_us != nullptr) *worker_us = MicrosSince(start_ns);
  if (!status.ok()) return status;
  if (absl::Now() >= context.deadline()) {
    // Too late: the host has given up (or is about to). Never let a late
    // reply pass for a success.
    return DeadlinePassedInWorker();
  }
  return serialize(*response);
}

absl::Status Dispatcher::ExecuteStream(int method_index, CallContext& context,
                                       std::optional<absl::Duration> replace_after,
                                       WorkerStreamCall& io, Metadata* response_metadata) {
  const codegen::MethodInfo& info = binding_.service->methods[method_index];
  const codegen::MethodHandler& method = binding_.methods[method_index];
  if (method.invoke_stream == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat(MethodDisplayName(*binding_.service, method_index),
                     " is a unary method: call it as a unary call, not as a stream"));
  }
  absl::Status status = RunCall(
      context, replace_after,
      [&] {
        std::unique_ptr<google::protobuf::MessageLite> request;
        if (!info.client_streaming) {
          request.reset(method.request_prototype->New());
          if (!io.Read(request.get())) {
            if (!io.failure().ok()) return io.failure();
            return absl::InvalidArgumentError(
                absl::StrCat(MethodDisplayName(*binding_.service, method_index),
                             ": the call ended before its request arrived"));
          }
        }
        std::unique_ptr<google::protobuf::MessageLite> response;
        if (!info.server_streaming) response.reset(method.response_prototype->New());
        absl::Status handled =
            InvokeWithMiddleware(config_.middleware, context, request.get(), response.get(), [&] {
              return method.invoke_stream(binding_.handler, context, request.get(), io,
                                          response.get());
            });
        if (!handled.ok()) return CanonicalHandlerStatus(binding_, method_index, handled);
        // A client-streaming method's one response.
        if (response != nullptr && !io.Write(*response) && io.failure().ok()) {
          return absl::CancelledError(absl::StrCat(
              MethodDisplayName(*binding_.service, method_index), ": the host stopped waiting"));
        }
        return absl::OkStatus();
      },
      response_metadata);
  // A message over the limit, or a malformed request, decides the status.
  if (absl::Status failed = io.failure(); !failed.ok()) return failed;
  // Past the deadline, whatever the handler says is the deadline's doing
  // (its Read()/Write() failed because of it): the host reports its own
  // deadline, not "stopped after N".
  if (absl::Now() >= context.deadline()) return DeadlinePassedInWorker();
  return status;
}

absl::Status SerializeFailed(const CallContext& context,
                             const google::protobuf::MessageLite& response, absl::string_view why) {
  return absl::InternalError(absl::StrCat(context.method(), ": could not serialize the ",
                                          response.GetTypeName(), " reply: ", why));
}

Dispatcher::Dispatcher(const codegen::ServiceBinding& binding, std::string worker_id,
                       WorkerConfig config)
    : binding_(binding),
      worker_id_(std::move(worker_id)),
      config_(std::move(config)),
      logger_(config_.log_sink, config_.log_level),
      timeout_scale_(TimeoutScale()),
      executor_(HandlerConcurrency(*binding.service)) {
  SetOverrunHandler([this](const std::string& description) {
    logger_.Log(LogLevel::kError, worker_id_, description);
    std::fflush(nullptr);
    std::_Exit(kReplacedExitCode);
  });
  for (int i = 0; i < binding_.service->method_count; ++i) {
    methods_by_path_.emplace(binding_.service->methods[i].path, i);
  }
}

Dispatcher::~Dispatcher() {
  // A stream's OnDone() unregisters it; gRPC may run it after the server's
  // shutdown returned.
  absl::MutexLock lock(&streams_mu_);
  auto gone = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(streams_mu_) { return streams_.empty(); };
  if (!streams_mu_.AwaitWithTimeout(absl::Condition(&gone), absl::Seconds(10))) {
    logger_.Log(LogLevel::kError, worker_id_, "call streams still open 10s after shutdown");
  }
}

absl::Time Dispatcher::BoundedDeadline(int method_index, absl::Time caller_deadline) const {
  if (!proto_bounds_ || method_index < 0) return caller_deadline;
  const codegen::ServiceInfo& service = *binding_.service;
  const int64_t ms = service.methods[method_index].timeout_ms > 0
                         ? service.methods[method_index].timeout_ms
                         : service.default_timeout_ms;
  if (ms <= 0) return caller_deadline;
  return std::min(caller_deadline, absl::Now() + absl::Milliseconds(ms) * timeout_scale_);
}

std::optional<absl::Duration> Dispatcher::BoundedReplaceAfter(
    int method_index, std::optional<absl::Duration> caller_replace_after) const {
  if (!proto_bounds_ || method_index < 0 || caller_replace_after) return caller_replace_after;
  const codegen::MethodInfo& method = binding_.service->methods[method_index];
  if (method.on_deadline != 1) return std::nullopt;  // DEADLINE_LEAVE_RUNNING
  return method.deadline_grace_ms >= 0 ? absl::Milliseconds(method.deadline_grace_ms)
                                       : kDefaultDeadlineGrace;
}

void Dispatcher::SetOverrunHandler(OverrunWatchdog::OnOverrun on_overrun) {
  watchdog_ = std::make_unique<OverrunWatchdog>(std::move(on_overrun), &logger_);
}

bool Dispatcher::RegisterStream(WorkerStream* stream) {
  absl::MutexLock lock(&streams_mu_);
  if (shutting_down_) return false;
  streams_.insert(stream);
  return true;
}

void Dispatcher::UnregisterStream(WorkerStream* stream) {
  absl::MutexLock lock(&streams_mu_);
  streams_.erase(stream);
}

void Dispatcher::BeginShutdown() {
  std::vector<WorkerStream*> idle;
  {
    // A registered stream is not deleted while we hold the lock, and one
    // that returns true is not finished (so not deleted) until FinishNow().
    absl::MutexLock lock(&streams_mu_);
    shutting_down_ = true;
    for (WorkerStream* stream : streams_) {
      if (stream->BeginShutdown()) idle.push_back(stream);
    }
  }
  for (WorkerStream* stream : idle) stream->FinishNow();
}

int Dispatcher::FindMethod(absl::string_view path) const {
  auto it = methods_by_path_.find(path);
  return it == methods_by_path_.end() ? -1 : it->second;
}

}  // namespace iw::internal
