#include "runtime/worker/dispatcher.h"

#include <cxxabi.h>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_writer.h>
#include <grpcpp/support/time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <new>
#include <typeinfo>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/deadline_timer.h"
#include "runtime/common/handler_concurrency.h"
#include "runtime/common/middleware_chain.h"
#include "runtime/common/timeouts.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/call_stream_protocol.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/schema.h"
#include "runtime/wire/status_conversion.h"
#include "runtime/worker/call_stream.h"
#include "runtime/logging.h"

namespace iw::internal {
namespace {

std::string Demangle(const char* name) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string result = (status == 0 && demangled) ? demangled : name;
  std::free(demangled);
  return result;
}

absl::Time DeadlineOf(const grpc::GenericCallbackServerContext& context) {
  std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// Runs the handler, turning a C++ exception into INTERNAL (framework code may
// catch: one bad handler must not take the worker down).
absl::Status InvokeHandler(const codegen::MethodHandler& method, void* handler,
                           CallContext& context,
                           const google::protobuf::MessageLite& request,
                           google::protobuf::MessageLite* response) {
  try {
    return method.invoke(handler, context, request, response);
  } catch (const std::bad_alloc& e) {
    // Typically an address-space limit (ResourceLimits) reached: the worker
    // is still healthy once the handler's memory is released.
    return absl::ResourceExhaustedError(absl::StrCat(
        "handler for ", context.method(), " ran out of memory (",
        Demangle(typeid(e).name()), ")"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(
        "handler for ", context.method(), " threw ",
        Demangle(typeid(e).name()), ": ", e.what()));
  } catch (...) {
    std::type_info* type = abi::__cxa_current_exception_type();
    return absl::InternalError(
        absl::StrCat("handler for ", context.method(), " threw ",
                     type ? Demangle(type->name()) : "an unknown exception"));
  }
}

// The DEADLINE_REPLACE_WORKER grace the host sent with the call, if any.
std::optional<absl::Duration> ReplaceAfter(const grpc::GenericCallbackServerContext& context) {
  int64_t ms;
  if (!absl::SimpleAtoi(ClientMetadataValue(context, kReplaceAfterMetadata), &ms) || ms < 0) {
    return std::nullopt;
  }
  return absl::Milliseconds(ms);
}

// One unary call on the worker. Deletes itself once gRPC is done with it
// (OnDone) and neither its handler nor its bound timer still uses it.
class WorkerCall final : public grpc::ServerGenericBidiReactor {
 public:
  WorkerCall(Dispatcher* dispatcher, grpc::GenericCallbackServerContext* context)
      : dispatcher_(dispatcher),
        server_context_(context),
        method_index_(dispatcher->FindMethod(context->method())),
        caller_deadline_(DeadlineOf(*context)),
        context_(context->method(), dispatcher->BoundedDeadline(method_index_, caller_deadline_),
                 UserMetadata(context->client_metadata()),
                 ClientMetadataValue(*context, kRequestIdMetadataKey)),
        replace_after_(dispatcher->BoundedReplaceAfter(method_index_, ReplaceAfter(*context))) {
    if (method_index_ < 0) {
      const codegen::ServiceInfo& service = *dispatcher_->binding().service;
      // Tells a connecting host which service (and schema) this is.
      context->AddTrailingMetadata(kSchemaMetadataKey, EncodeSchema(SchemaOf(service)));
      FinishOnce(absl::UnimplementedError(absl::StrCat(
          "unknown method ", context->method(), "; this worker serves ", service.full_name)));
      return;
    }
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(absl::InvalidArgumentError(
          absl::StrCat(context_.method(), ": the call ended before its request arrived")));
      return;
    }
    refs_.fetch_add(1, std::memory_order_relaxed);  // Run()'s
    if (context_.deadline() < caller_deadline_) {
      // The .proto bounds this call more tightly than its caller did
      // (Dispatcher::BoundCallsByProto): answer at the bound even if the
      // handler is still running.
      refs_.fetch_add(1, std::memory_order_relaxed);  // the timer's
      bound_timer_ = DeadlineTimer::Get().Schedule(context_.deadline(), [this] { OnBound(); });
    }
    if (dispatcher_->binding().service->methods[method_index_].inline_handler) {
      Run();  // (iw.method).inline_handler: on this gRPC thread
      return;
    }
    dispatcher_->executor().Submit([this] { Run(); });
  }

  void OnCancel() override { context_.MarkCancelled(); }
  void OnDone() override { Unref(); }

 private:
  // Runs on an executor thread.
  void Run() {
    Metadata response_metadata;
    absl::Status status = dispatcher_->Execute(
        method_index_, context_, replace_after_,
        [this](google::protobuf::MessageLite* request) {
          grpc::ProtoBufferReader reader(&request_bytes_);
          const bool parsed = request->ParseFromZeroCopyStream(&reader);
          request_bytes_.Clear();
          return parsed;
        },
        [this](const google::protobuf::MessageLite& response) {
          bool own_buffer = false;
          grpc::Status serialized =
              grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
                  response, &response_bytes_, &own_buffer);
          return serialized.ok()
                     ? absl::OkStatus()
                     : SerializeFailed(context_, response, serialized.error_message());
        },
        &response_metadata);
    const bool bounded = bound_timer_.id != 0;
    if (bounded && DeadlineTimer::Get().Cancel(bound_timer_)) Unref();
    // The handler failed once the .proto's bound had passed (it saw the
    // cancellation before the bound's timer answered): the bound's answer.
    if (bounded && !status.ok() && absl::Now() >= context_.deadline()) status = BoundExceeded();
    if (ClaimFinish()) {
      // Sent as trailing metadata, with any status.
      for (auto& [key, value] : response_metadata) {
        server_context_->AddTrailingMetadata(key, value);
      }
      if (!status.ok()) {
        server_context_->AddTrailingMetadata(kWorkerStatusMetadata, "1");
        Finish(ToGrpcStatus(status));
      } else {
        StartWriteAndFinish(&response_bytes_, grpc::WriteOptions(), grpc::Status::OK);
      }
    }
    Unref();  // may delete this
  }

  // On the timer thread, at the .proto's bound.
  void OnBound() {
    // Claim the answer before telling the handler: a handler that stops as
    // soon as it sees the cancellation must not answer first.
    const bool claimed = ClaimFinish();
    context_.MarkCancelled();
    if (claimed) {
      server_context_->AddTrailingMetadata(kWorkerStatusMetadata, "1");
      Finish(ToGrpcStatus(BoundExceeded()));
    }
    Unref();
  }

  // The answer of a call that reached the .proto's bound.
  absl::Status BoundExceeded() const {
    const codegen::ServiceInfo& service = *dispatcher_->binding().service;
    const codegen::MethodInfo& method = service.methods[method_index_];
    return absl::DeadlineExceededError(
        absl::StrCat(MethodDisplayName(service, method_index_), ": deadline exceeded after ",
                     method.timeout_ms > 0 ? method.timeout_ms : service.default_timeout_ms,
                     "ms (", method.timeout_ms > 0 ? "(iw.method).timeout_ms"
                                                  : "(iw.service).default_timeout_ms",
                     " of the worker, which bounds every call by its .proto)"));
  }

  // The call is answered once: by its handler's result or at its bound.
  bool ClaimFinish() { return !finish_claimed_.exchange(true, std::memory_order_acq_rel); }
  void FinishOnce(const absl::Status& status) {
    if (ClaimFinish()) Finish(ToGrpcStatus(status));
  }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  Dispatcher* const dispatcher_;
  grpc::GenericCallbackServerContext* const server_context_;
  const int method_index_;
  const absl::Time caller_deadline_;
  CallContext context_;
  // Set when the host asked to replace the worker if the handler overruns
  // its deadline by this much.
  const std::optional<absl::Duration> replace_after_;
  grpc::ByteBuffer request_bytes_;
  grpc::ByteBuffer response_bytes_;
  // OnDone()'s, plus Run()'s and the bound timer's while they may run.
  std::atomic<int> refs_{1};
  std::atomic<bool> finish_claimed_{false};
  DeadlineTimer::Handle bound_timer_;  // set before Run() starts
};

}  // namespace

namespace {

// Parses the request, runs middleware and the handler, checks the reply's
// size. On OK, *response_out holds the reply.
absl::Status InvokeMethod(const codegen::ServiceBinding& binding, int method_index, CallContext& context,
                          absl::FunctionRef<bool(google::protobuf::MessageLite*)> parse,
                          const std::vector<std::shared_ptr<WorkerMiddleware>>& middleware,
                          std::unique_ptr<google::protobuf::MessageLite>* response_out) {
  const codegen::MethodHandler& method = binding.methods[method_index];
  // "pkg.Svc.Method", as in every message of ours (context.method() is the
  // gRPC path "/pkg.Svc/Method"); built on the error paths only.
  auto display_name = [&] { return MethodDisplayName(*binding.service, method_index); };
  std::unique_ptr<google::protobuf::MessageLite> request(method.request_prototype->New());
  if (!parse(request.get())) {
    return absl::InvalidArgumentError(absl::StrCat(
        display_name(), ": malformed request: not a valid ", request->GetTypeName()));
  }
  std::unique_ptr<google::protobuf::MessageLite> response(
      method.response_prototype->New());
  absl::Status status;
  if (middleware.empty()) {
    status = InvokeHandler(method, binding.handler, context, *request, response.get());
  } else {
    ::iw::WorkerCall call{context.method(), request.get(), response.get(), context};
    size_t ran = 0;
    status = RunOnRequest(middleware, call, &ran);
    if (status.ok()) {
      status = InvokeHandler(method, binding.handler, context, *request, response.get());
    }
    RunOnResponse(middleware, call, ran, status);
  }
  if (!status.ok()) {
    const int code = static_cast<int>(status.code());
    if (code < 1 || code > 16) {
      // absl::Status accepts any int; gRPC's wire format does not.
      return absl::UnknownError(absl::StrCat(display_name(),
                                             ": the handler returned the non-canonical status code ",
                                             code, ": ", status.message()));
    }
    return status;
  }
  const size_t size = response->ByteSizeLong();
  const int limit = MaxResponseBytes(*binding.service);
  if (size > static_cast<size_t>(limit)) {
    return absl::ResourceExhaustedError(
        absl::StrCat(display_name(), ": the ", response->GetTypeName(), " reply is ", size,
                     " bytes, over the limit of ", limit,
                     " bytes ((iw.service).max_response_bytes of ", binding.service->full_name,
                     ")"));
  }
  *response_out = std::move(response);
  return absl::OkStatus();
}


}  // namespace

absl::Status DecodeAndInvoke(const codegen::ServiceBinding& binding, int method_index,
                             CallContext& context, grpc::ByteBuffer* request_bytes,
                             grpc::ByteBuffer* response_bytes,
                             const std::vector<std::shared_ptr<WorkerMiddleware>>& middleware) {
  std::unique_ptr<google::protobuf::MessageLite> response;
  absl::Status status = InvokeMethod(
      binding, method_index, context,
      [request_bytes](google::protobuf::MessageLite* request) {
        grpc::ProtoBufferReader reader(request_bytes);
        const bool parsed = request->ParseFromZeroCopyStream(&reader);
        request_bytes->Clear();
        return parsed;
      },
      middleware, &response);
  if (!status.ok()) return status;
  bool own_buffer = false;
  grpc::Status serialized =
      grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
          *response, response_bytes, &own_buffer);
  if (!serialized.ok()) return SerializeFailed(context, *response, serialized.error_message());
  return absl::OkStatus();
}

absl::Status Dispatcher::Execute(
    int method_index, CallContext& context, std::optional<absl::Duration> replace_after,
    absl::FunctionRef<bool(google::protobuf::MessageLite*)> parse,
    absl::FunctionRef<absl::Status(const google::protobuf::MessageLite&)> serialize,
    Metadata* response_metadata) {
  if (context.IsCancelled()) {
    // The host stopped waiting while the call was queued: skip the handler.
    if (absl::Now() >= context.deadline()) return DeadlinePassedInWorker();
    return absl::CancelledError(
        absl::StrCat(context.method(), ": cancelled before the handler started"));
  }
  uint64_t watch = 0;
  if (replace_after && context.deadline() != absl::InfiniteFuture()) {
    watch = watchdog_->Arm(context.deadline(), *replace_after, context.method());
  }
  std::unique_ptr<google::protobuf::MessageLite> response;
  absl::Status status =
      InvokeMethod(binding_, method_index, context, parse, config_.middleware, &response);
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
  if (!status.ok()) return status;
  if (absl::Now() >= context.deadline()) {
    // Too late: the host has given up (or is about to). Never let a late
    // reply pass for a success.
    return DeadlinePassedInWorker();
  }
  return serialize(*response);
}

absl::Status SerializeFailed(const CallContext& context,
                             const google::protobuf::MessageLite& response,
                             absl::string_view why) {
  return absl::InternalError(absl::StrCat(context.method(), ": could not serialize the ",
                                          response.GetTypeName(), " reply: ", why));
}

Dispatcher::Dispatcher(const codegen::ServiceBinding& binding, std::string worker_id,
                       WorkerConfig config)
    : binding_(binding),
      worker_id_(std::move(worker_id)),
      config_(std::move(config)),
      timeout_scale_(TimeoutScale()),
      executor_(HandlerConcurrency(*binding.service)) {
  SetOverrunHandler([id = worker_id_](const std::string& description) {
    Log(LogLevel::kError, id, description);
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
    Log(LogLevel::kError, worker_id_, "call streams still open 10s after shutdown");
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
  watchdog_ = std::make_unique<OverrunWatchdog>(std::move(on_overrun));
}

std::string ClientMetadataValue(const grpc::GenericCallbackServerContext& context,
                                absl::string_view key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
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

grpc::ServerGenericBidiReactor* Dispatcher::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  if (context->method() == kCallStreamMethod) return NewWorkerCallStream(this, context);
  return new WorkerCall(this, context);
}

}  // namespace iw::internal
