#include "runtime/internal/dispatcher.h"

#include <cxxabi.h>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_writer.h>
#include <grpcpp/support/time.h>

#include <algorithm>
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
#include "runtime/internal/grpc_config.h"
#include "runtime/internal/control_protocol.h"
#include "runtime/internal/middleware_chain.h"
#include "runtime/internal/status_conversion.h"
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
absl::Status InvokeHandler(const MethodHandler& method, void* handler,
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
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kReplaceAfterMetadata);
  if (it == metadata.end()) return std::nullopt;
  int64_t ms;
  if (!absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &ms) ||
      ms < 0) {
    return std::nullopt;
  }
  return absl::Milliseconds(ms);
}

std::string RequestIdOf(const grpc::GenericCallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kRequestIdMetadataKey);
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// One unary call on the worker. Deletes itself in OnDone().
class WorkerCall final : public grpc::ServerGenericBidiReactor {
 public:
  WorkerCall(Dispatcher* dispatcher, grpc::GenericCallbackServerContext* context)
      : dispatcher_(dispatcher),
        server_context_(context),
        method_index_(dispatcher->FindMethod(context->method())),
        context_(context->method(), DeadlineOf(*context),
                 UserMetadata(context->client_metadata()), RequestIdOf(*context)),
        replace_after_(ReplaceAfter(*context)) {
    if (method_index_ < 0) {
      const ServiceInfo& service = *dispatcher_->binding().service;
      Finish(grpc::Status(
          grpc::StatusCode::UNIMPLEMENTED,
          absl::StrCat("unknown method ", context->method(),
                       "; this worker serves ", service.full_name)));
      return;
    }
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat(context_.method(),
                                       ": the call ended before its request arrived")));
      return;
    }
    dispatcher_->executor().Submit([this] { Run(); });
  }

  void OnCancel() override { context_.MarkCancelled(); }
  void OnDone() override { delete this; }

 private:
  // Runs on an executor thread. Must not touch `this` after Finish*().
  void Run() {
    if (context_.IsCancelled()) {
      // The host stopped waiting while the call was queued: skip the handler.
      if (absl::Now() >= context_.deadline()) {
        Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, kDeadlinePassedInWorker));
      } else {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                            absl::StrCat(context_.method(),
                                         ": cancelled before the handler started")));
      }
      return;
    }
    uint64_t watch = 0;
    if (replace_after_ && context_.deadline() != absl::InfiniteFuture()) {
      watch = dispatcher_->watchdog().Arm(context_.deadline(), *replace_after_,
                                          context_.method());
    }
    grpc::Status status =
        DecodeAndInvoke(dispatcher_->binding(), method_index_, context_, &request_bytes_,
                        &response_bytes_, dispatcher_->config().middleware);
    if (watch != 0) dispatcher_->watchdog().Disarm(watch);
    status = SendResponseMetadata(std::move(status));
    if (!status.ok()) {
      Finish(status);
      return;
    }
    if (absl::Now() >= context_.deadline()) {
      // Too late: the host has given up (or is about to). Never let a late
      // reply pass for a success.
      Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, kDeadlinePassedInWorker));
      return;
    }
    StartWriteAndFinish(&response_bytes_, grpc::WriteOptions(), grpc::Status::OK);
  }

  // Sends what the handler and middleware added to the response metadata
  // as trailing metadata (with any status). A bad entry fails the call.
  grpc::Status SendResponseMetadata(grpc::Status status) {
    for (auto& [key, value] : context_.TakeResponseMetadata()) {
      absl::Status valid = ValidateMetadataEntry(key, value);
      if (!valid.ok()) {
        if (status.ok()) {
          status = grpc::Status(grpc::StatusCode::INTERNAL,
                                absl::StrCat(context_.method(),
                                             ": bad response metadata: ", valid.message()));
        }
        continue;
      }
      server_context_->AddTrailingMetadata(key, value);
    }
    return status;
  }

  Dispatcher* const dispatcher_;
  grpc::GenericCallbackServerContext* const server_context_;
  const int method_index_;
  CallContext context_;
  // Set when the host asked to replace the worker if the handler overruns
  // its deadline by this much.
  const std::optional<absl::Duration> replace_after_;
  grpc::ByteBuffer request_bytes_;
  grpc::ByteBuffer response_bytes_;
};

}  // namespace

grpc::Status DecodeAndInvoke(const ServiceBinding& binding, int method_index,
                             CallContext& context, grpc::ByteBuffer* request_bytes,
                             grpc::ByteBuffer* response_bytes,
                             const std::vector<std::shared_ptr<WorkerMiddleware>>& middleware) {
  const MethodHandler& method = binding.methods[method_index];
  std::unique_ptr<google::protobuf::MessageLite> request(method.request_prototype->New());
  {
    grpc::ProtoBufferReader reader(request_bytes);
    if (!request->ParseFromZeroCopyStream(&reader)) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat(context.method(), ": malformed request: not a valid ",
                       request->GetTypeName()));
    }
  }
  request_bytes->Clear();
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
      return grpc::Status(grpc::StatusCode::UNKNOWN,
                          absl::StrCat(context.method(),
                                       ": the handler returned the non-canonical status code ",
                                       code, ": ", status.message()));
    }
    return ToGrpcStatus(status);
  }
  const size_t size = response->ByteSizeLong();
  const int limit = MaxResponseBytes(*binding.service);
  if (size > static_cast<size_t>(limit)) {
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat(context.method(), ": the ", response->GetTypeName(), " reply is ",
                     size, " bytes, over the limit of ", limit,
                     " bytes ((iw.service).max_response_bytes of ",
                     binding.service->full_name, ")"));
  }
  bool own_buffer = false;
  grpc::Status serialized =
      grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
          *response, response_bytes, &own_buffer);
  if (!serialized.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat(context.method(), ": could not serialize the ",
                                     response->GetTypeName(), " reply: ",
                                     serialized.error_message()));
  }
  return grpc::Status::OK;
}

Executor::Executor(int threads) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

Executor::~Executor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

void Executor::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
}

bool Executor::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.empty() && running_ == 0;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

void Executor::Loop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !queue_.empty() || stopping_;
    };
    mu_.Await(absl::Condition(&ready));
    if (queue_.empty()) return;  // stopping and drained
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    mu_.Unlock();
    task();
    mu_.Lock();
    --running_;
  }
}

int HandlerConcurrency(const ServiceInfo& service) {
  if (service.max_concurrent_calls > 0) return service.max_concurrent_calls;
  return std::max(4, static_cast<int>(std::thread::hardware_concurrency()));
}

Dispatcher::Dispatcher(const ServiceBinding& binding, std::string worker_id,
                       WorkerConfig config)
    : binding_(binding),
      worker_id_(std::move(worker_id)),
      config_(std::move(config)),
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

Dispatcher::~Dispatcher() = default;

void Dispatcher::SetOverrunHandler(OverrunWatchdog::OnOverrun on_overrun) {
  watchdog_ = std::make_unique<OverrunWatchdog>(std::move(on_overrun));
}

int Dispatcher::FindMethod(absl::string_view path) const {
  auto it = methods_by_path_.find(path);
  return it == methods_by_path_.end() ? -1 : it->second;
}

grpc::ServerGenericBidiReactor* Dispatcher::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  return new WorkerCall(this, context);
}

}  // namespace iw::internal
