#include "runtime/worker/unary_call.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/deadline_timer.h"
#include "runtime/common/middleware_chain.h"
#include "runtime/common/timeouts.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/call_stream_protocol.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/schema.h"
#include "runtime/wire/status_conversion.h"

namespace iw::internal {

absl::Time CallerDeadline(const grpc::GenericCallbackServerContext& context) {
  std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

std::optional<absl::Duration> CallerReplaceAfter(
    const grpc::GenericCallbackServerContext& context) {
  int64_t ms;
  if (!absl::SimpleAtoi(ClientMetadataValue(context, kReplaceAfterMetadata), &ms) || ms < 0) {
    return std::nullopt;
  }
  return absl::Milliseconds(ms);
}

absl::Status ProtoBoundExceeded(const codegen::ServiceInfo& service, int method_index) {
  const codegen::MethodInfo& method = service.methods[method_index];
  return absl::DeadlineExceededError(absl::StrCat(
      MethodDisplayName(service, method_index), ": deadline exceeded after ",
      method.timeout_ms > 0 ? method.timeout_ms : service.default_timeout_ms, "ms (",
      method.timeout_ms > 0 ? "(iw.method).timeout_ms" : "(iw.service).default_timeout_ms",
      " of the worker, which bounds every call by its .proto)"));
}

namespace {

// One unary call on the worker. Deletes itself once gRPC is done with it
// (OnDone) and neither its handler nor its bound timer still uses it.
class UnaryCall final : public grpc::ServerGenericBidiReactor {
 public:
  UnaryCall(Dispatcher* dispatcher, grpc::GenericCallbackServerContext* context)
      : dispatcher_(dispatcher),
        server_context_(context),
        method_index_(dispatcher->FindMethod(context->method())),
        caller_deadline_(CallerDeadline(*context)),
        context_(context->method(), dispatcher->BoundedDeadline(method_index_, caller_deadline_),
                 UserMetadata(context->client_metadata()),
                 ClientMetadataValue(*context, kRequestIdMetadataKey)),
        replace_after_(
            dispatcher->BoundedReplaceAfter(method_index_, CallerReplaceAfter(*context))) {
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
    uint64_t worker_us = 0;
    absl::Status status = dispatcher_->Execute(
        method_index_, context_, replace_after_,
        [this](google::protobuf::MessageLite* request) {
          return ParseUnaryRequest(&request_bytes_, request);
        },
        [this](const google::protobuf::MessageLite& response) {
          return SerializeUnaryReply(context_, response, &response_bytes_);
        },
        &response_metadata, &worker_us);
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
      server_context_->AddTrailingMetadata(kWorkerTimeMetadataKey, absl::StrCat(worker_us));
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
    return ProtoBoundExceeded(*dispatcher_->binding().service, method_index_);
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

bool ParseUnaryRequest(grpc::ByteBuffer* bytes, google::protobuf::MessageLite* request) {
  grpc::ProtoBufferReader reader(bytes);
  const bool parsed = request->ParseFromZeroCopyStream(&reader);
  bytes->Clear();
  return parsed;
}

absl::Status SerializeUnaryReply(const CallContext& context,
                                 const google::protobuf::MessageLite& reply,
                                 grpc::ByteBuffer* bytes) {
  bool own_buffer = false;
  grpc::Status serialized = grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
      reply, bytes, &own_buffer);
  return serialized.ok() ? absl::OkStatus()
                         : SerializeFailed(context, reply, serialized.error_message());
}

grpc::ServerGenericBidiReactor* NewUnaryCall(Dispatcher* dispatcher,
                                             grpc::GenericCallbackServerContext* context) {
  return new UnaryCall(dispatcher, context);
}

}  // namespace iw::internal
