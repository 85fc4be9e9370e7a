#include "runtime/host/grpc_endpoint.h"

#include <grpcpp/client_context.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/middleware_chain.h"
#include "runtime/host/call_metrics.h"
#include "runtime/host/grpc_failure.h"
#include "runtime/host/grpc_stream.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/call_stream_protocol.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/status_conversion.h"
#include "runtime/worker/overrun_watchdog.h"

namespace iw::internal {

using google::protobuf::MessageLite;

// State of one asynchronous call; shared by the caller's handle and the gRPC
// completion callback.
class GrpcEndpoint::AsyncCall final : public PendingCall {
 public:
  explicit AsyncCall(std::string request_bytes) : request(Wrap(std::move(request_bytes))) {}
  void Cancel() override {
    cancelled_.store(true, std::memory_order_release);
    context.TryCancel();
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  grpc::ClientContext context;
  grpc::ByteBuffer request;

 private:
  // A buffer whose one slice owns `bytes`: gRPC sends them where they are.
  static grpc::ByteBuffer Wrap(std::string bytes) {
    auto* owned = new std::string(std::move(bytes));
    grpc::Slice slice(
        owned->data(), owned->size(), [](void* data) { delete static_cast<std::string*>(data); },
        owned);
    return grpc::ByteBuffer(&slice, 1);
  }

  std::atomic<bool> cancelled_{false};
};

namespace {

// State of one asynchronous call that has an id on a multiplexed connection:
// the call stream (CallStream) or the native carrier (NativeConnection),
// either of which has Abandon(id, status).
template <typename Connection>
class MultiplexedAsyncCall final : public PendingCall {
 public:
  // Holds the connection weakly: a handle kept by the user must not keep
  // the connection open.
  explicit MultiplexedAsyncCall(const std::shared_ptr<Connection>& connection)
      : connection_(connection) {}
  void Cancel() override {
    cancelled_.store(true, std::memory_order_release);
    const uint64_t id = id_.load(std::memory_order_acquire);
    if (id != 0) Abandon(id);
  }
  // Once the connection took the call.
  void Started(uint64_t id) {
    id_.store(id, std::memory_order_release);
    if (cancelled()) Abandon(id);  // cancelled before it had an id
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  void Abandon(uint64_t id) {
    if (std::shared_ptr<Connection> connection = connection_.lock()) {
      connection->Abandon(
          id, WithCause(absl::CancelledError("cancelled"), FailureCause::kCancelledByHost));
    }
  }

  const std::weak_ptr<Connection> connection_;
  std::atomic<uint64_t> id_{0};
  std::atomic<bool> cancelled_{false};
};

// A DEADLINE_EXCEEDED returned this close to the call's deadline counts as
// the deadline's (a handler's status, or a timer that fired a hair before
// absl::Now() agrees).
constexpr absl::Duration kDeadlineSlack = absl::Milliseconds(5);

// The worker's time for a unary call (kWorkerTimeMetadataKey), for the
// metrics.
void RecordWorkerTime(const CallTiming& timing, const grpc::ClientContext& context) {
  if (timing.metrics == nullptr) return;
  const auto& trailing = context.GetServerTrailingMetadata();
  auto it = trailing.find(kWorkerTimeMetadataKey);
  uint64_t micros = 0;
  if (it != trailing.end() &&
      absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &micros)) {
    timing.metrics->WorkerTime(micros);
  }
}

// What the worker sent back, for host middleware.
void CollectResponseMetadata(const CallTiming& timing, const grpc::ClientContext& context) {
  RecordWorkerTime(timing, context);
  if (timing.response_metadata == nullptr) return;
  *timing.response_metadata = UserMetadata(context.GetServerInitialMetadata());
  Metadata trailing = UserMetadata(context.GetServerTrailingMetadata());
  timing.response_metadata->merge(trailing);
}

}  // namespace

GrpcEndpoint::GrpcEndpoint(const codegen::ServiceInfo& service)
    : service_(service), id_(service.full_name) {}

GrpcEndpoint::~GrpcEndpoint() = default;

void GrpcEndpoint::AttachChannel(std::shared_ptr<grpc::Channel> channel,
                                 const HostMessageLimits& limits, bool call_stream,
                                 absl::Time deadline) {
  channel_ = std::move(channel);
  max_request_ = limits.max_request;
  max_reply_ = limits.max_reply;
  rpc_methods_.clear();
  for (int i = 0; i < service_.method_count; ++i) {
    rpc_methods_.push_back(std::make_unique<grpc::internal::RpcMethod>(
        service_.methods[i].path, grpc::internal::RpcMethod::NORMAL_RPC, channel_));
  }
  if (call_stream && limits.max_stream_batch > 0) {
    std::shared_ptr<CallStream> stream =
        CallStream::Open(channel_, service_, limits.max_stream_batch, limits.max_reply);
    // One round trip; after it every small call takes the stream.
    stream->WaitReady(deadline);
    absl::MutexLock lock(&mu_);
    stream_ = std::move(stream);
  }
}

void GrpcEndpoint::AttachNative(std::shared_ptr<NativeConnection> connection,
                                const HostMessageLimits& limits) {
  max_request_ = limits.max_request;
  max_reply_ = limits.max_reply;
  absl::MutexLock lock(&mu_);
  native_ = std::move(connection);
}

bool GrpcEndpoint::streaming() const {
  absl::MutexLock lock(&mu_);
  if (native_ != nullptr) return native_->usable();
  return stream_ != nullptr && stream_->ready();
}

bool GrpcEndpoint::native() const {
  absl::MutexLock lock(&mu_);
  return native_ != nullptr && native_->usable();
}

void GrpcEndpoint::DetachChannel() {
  std::shared_ptr<CallStream> stream;
  std::shared_ptr<NativeConnection> native;
  {
    absl::MutexLock lock(&mu_);
    accepting_ = false;
    stream = std::move(stream_);
    native = std::move(native_);
  }
  if (native != nullptr) {
    // The worker answers what is on the connection, then closes its end.
    native->Close(absl::Seconds(1));
    native.reset();
  }
  if (stream != nullptr) {
    // The worker answers what is on the stream, then ends it; the
    // connection closes once the stream object (its gRPC call) is gone.
    stream->Close(absl::Seconds(1));
    std::shared_ptr<absl::Notification> destroyed = stream->destroyed();
    stream.reset();
    destroyed->WaitForNotificationWithTimeout(absl::Seconds(1));
  }
  absl::MutexLock lock(&mu_);
  rpc_methods_.clear();
  channel_.reset();
}

void GrpcEndpoint::StopAccepting() {
  absl::MutexLock lock(&mu_);
  accepting_ = false;
}

bool GrpcEndpoint::WaitForCalls(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

bool GrpcEndpoint::Admit(int method_index, absl::Status* refusal,
                         std::shared_ptr<CallStream>* stream,
                         std::shared_ptr<NativeConnection>* native) {
  absl::MutexLock lock(&mu_);
  if (accepting_ && native_ != nullptr) {
    ++in_flight_;
    *native = native_;
    return true;
  }
  if (accepting_ && channel_ != nullptr) {
    ++in_flight_;
    if (stream_ != nullptr && stream_->ready()) *stream = stream_;
    return true;
  }
  *refusal = absl::FailedPreconditionError(
      absl::StrCat(MethodDisplayName(service_, method_index), ": worker ", id_, " is closing"));
  return false;
}

void GrpcEndpoint::Release() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

absl::Status GrpcEndpoint::FromUnaryCall(int method_index, const grpc::Status& status,
                                         const grpc::ClientContext& context,
                                         size_t request_size) const {
  if (status.ok()) return absl::OkStatus();
  return FromGrpcCall(status, StatusFromWorker(context), MethodDisplayName(service_, method_index),
                      request_size, max_request_);
}

absl::Status GrpcEndpoint::Finish(int method_index, const CallTiming& timing,
                                  bool cancelled_by_host, absl::Status status) {
  if (status.ok()) return status;
  const FailureCause cause = CauseOf(status);
  if (status.code() == absl::StatusCode::kCancelled && cancelled_by_host) {
    return WithCause(absl::CancelledError(absl::StrCat(MethodDisplayName(service_, method_index),
                                                       ": cancelled by the host")),
                     FailureCause::kCancelledByHost);
  }
  if (cause == FailureCause::kCallDeadline ||
      (status.code() == absl::StatusCode::kDeadlineExceeded &&
       absl::Now() >= timing.deadline - kDeadlineSlack)) {
    return WithCause(DeadlineExceeded(service_, method_index, timing.timeout),
                     FailureCause::kCallDeadline);
  }
  if (cause == FailureCause::kTransportFailed) return ExplainUnavailable(method_index, status);
  // A status the handler returned travels unchanged; so does one that is
  // final already (a message over the size limit).
  return status;
}

absl::Status GrpcEndpoint::CheckReplySize(int method_index, const MessageLite& response,
                                          const CallTiming& timing) const {
  const size_t size = response.ByteSizeLong();
  if (timing.metrics != nullptr) timing.metrics->Received(size);
  if (size <= static_cast<size_t>(max_reply_)) return absl::OkStatus();
  // The channel accepts a little more (the call stream's framing).
  return MessageTooLarge(FailureCause::kReplyTooLarge, MethodDisplayName(service_, method_index),
                         size, max_reply_);
}

absl::Status GrpcEndpoint::FinishStreamCall(int method_index, const CallTiming& timing,
                                            bool cancelled_by_host, MessageLite* response,
                                            CallStream::Reply reply) {
  if (timing.metrics != nullptr) timing.metrics->Replied(reply.response.size(), reply.worker_us);
  if (reply.status.ok() && !response->ParseFromString(reply.response)) {
    reply.status = absl::InternalError(absl::StrCat(MethodDisplayName(service_, method_index),
                                                    ": the worker's reply is not a valid ",
                                                    response->GetTypeName()));
  }
  if (timing.response_metadata != nullptr) {
    *timing.response_metadata = std::move(reply.metadata);
  }
  return Finish(method_index, timing, cancelled_by_host, std::move(reply.status));
}

absl::Status GrpcEndpoint::CheckRequestSize(int method_index, size_t size) const {
  if (size <= static_cast<size_t>(max_request_)) return absl::OkStatus();
  return MessageTooLarge(FailureCause::kRequestTooLarge, MethodDisplayName(service_, method_index),
                         size, max_request_);
}

absl::Status GrpcEndpoint::FinishNativeCall(int method_index, const CallTiming& timing,
                                            bool cancelled_by_host, MessageLite* response,
                                            NativeConnection::Reply reply) {
  if (timing.metrics != nullptr) timing.metrics->Replied(reply.payload.size(), reply.worker_us);
  if (reply.status.ok()) {
    if (reply.payload.size() > static_cast<size_t>(max_reply_)) {
      reply.status =
          MessageTooLarge(FailureCause::kReplyTooLarge, MethodDisplayName(service_, method_index),
                          reply.payload.size(), max_reply_);
    } else if (!response->ParseFromArray(reply.payload.data(),
                                         static_cast<int>(reply.payload.size()))) {
      // Parsed straight from the frame read off the socket.
      reply.status = absl::InternalError(absl::StrCat(MethodDisplayName(service_, method_index),
                                                      ": the worker's reply is not a valid ",
                                                      response->GetTypeName()));
    }
  }
  if (timing.response_metadata != nullptr) {
    *timing.response_metadata = std::move(reply.metadata);
  }
  return Finish(method_index, timing, cancelled_by_host, std::move(reply.status));
}

absl::Status GrpcEndpoint::Call(int method_index, const MessageLite& request, MessageLite* response,
                                const CallTiming& timing) {
  absl::Status refusal;
  std::shared_ptr<CallStream> stream;
  std::shared_ptr<NativeConnection> native;
  if (!Admit(method_index, &refusal, &stream, &native)) return refusal;
  if (native != nullptr) {
    const size_t size = request.ByteSizeLong();
    absl::Status result = CheckRequestSize(method_index, size);
    if (result.ok()) {
      if (timing.metrics != nullptr) timing.metrics->Sent(size);
      result = FinishNativeCall(method_index, timing, false, response,
                                native->Call(method_index, request, timing));
    }
    Release();
    return result;
  }
  const size_t size = stream != nullptr ? request.ByteSizeLong() : 0;
  if (stream != nullptr && size <= kStreamMaxRequestBytes) {
    std::string bytes(size, '\0');
    request.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(bytes.data()));
    absl::Notification answered;
    CallStream::Reply reply;
    CallStream::Done done = [&reply, &answered](CallStream::Reply r) {
      reply = std::move(r);
      answered.Notify();
    };
    const uint64_t id = stream->Start(method_index, &bytes, timing, /*arm_deadline=*/false, &done);
    if (id != 0) {
      if (timing.metrics != nullptr) timing.metrics->Sent(size);
      if (!answered.WaitForNotificationWithDeadline(timing.deadline)) {
        stream->Abandon(id, WithCause(absl::DeadlineExceededError("deadline passed"),
                                      FailureCause::kCallDeadline));
        answered.WaitForNotification();
      }
      absl::Status result =
          FinishStreamCall(method_index, timing, false, response, std::move(reply));
      Release();
      return result;
    }
  }
  grpc::ClientContext context;
  PrepareGrpcCall(timing, &context);
  if (timing.metrics != nullptr) timing.metrics->Sent(size != 0 ? size : request.ByteSizeLong());
  grpc::Status status = grpc::internal::BlockingUnaryCall<MessageLite, MessageLite>(
      channel_.get(), *rpc_methods_[method_index], &context, request, response);
  absl::Status result = status.ok() ? CheckReplySize(method_index, *response, timing)
                                    : FromUnaryCall(method_index, status, context,
                                                    size != 0 ? size : request.ByteSizeLong());
  CollectResponseMetadata(timing, context);
  result = Finish(method_index, timing, false, std::move(result));
  Release();
  return result;
}

std::shared_ptr<PendingCall> GrpcEndpoint::CallAsync(int method_index, std::string request,
                                                     MessageLite* response,
                                                     const CallTiming& timing,
                                                     std::function<void(absl::Status)> done) {
  absl::Status refusal;
  std::shared_ptr<CallStream> stream;
  std::shared_ptr<NativeConnection> native;
  if (!Admit(method_index, &refusal, &stream, &native)) {
    done(std::move(refusal));
    return nullptr;
  }
  if (native != nullptr) {
    if (absl::Status too_large = CheckRequestSize(method_index, request.size()); !too_large.ok()) {
      done(std::move(too_large));
      Release();
      return nullptr;
    }
    auto call = std::make_shared<MultiplexedAsyncCall<NativeConnection>>(native);
    if (timing.metrics != nullptr) timing.metrics->Sent(request.size());
    const uint64_t id =
        native->Start(method_index, std::move(request), timing,
                      [this, call, method_index, timing, response,
                       done = std::move(done)](NativeConnection::Reply reply) {
                        done(FinishNativeCall(method_index, timing, call->cancelled(), response,
                                              std::move(reply)));
                        Release();  // after `done`: WaitForCalls() covers the callback too
                      });
    if (id != 0) call->Started(id);
    return call;
  }
  if (stream != nullptr) {
    auto call = std::make_shared<MultiplexedAsyncCall<CallStream>>(stream);
    auto user_done = std::make_shared<std::function<void(absl::Status)>>(std::move(done));
    CallStream::Done on_reply = [this, call, method_index, timing, response,
                                 user_done](CallStream::Reply reply) {
      (*user_done)(
          FinishStreamCall(method_index, timing, call->cancelled(), response, std::move(reply)));
      Release();  // after `done`: WaitForCalls() covers the callback too
    };
    const size_t size = request.size();  // Start() takes the bytes
    const uint64_t id =
        stream->Start(method_index, &request, timing, /*arm_deadline=*/true, &on_reply);
    if (id != 0) {
      if (timing.metrics != nullptr) timing.metrics->Sent(size);
      call->Started(id);
      return call;
    }
    // Not taken (stream ended, request too large, deadline passed): unary.
    done = std::move(*user_done);
  }
  const size_t request_size = request.size();
  if (timing.metrics != nullptr) timing.metrics->Sent(request_size);
  auto call = std::make_shared<AsyncCall>(std::move(request));
  PrepareGrpcCall(timing, &call->context);
  grpc::internal::CallbackUnaryCall<grpc::ByteBuffer, MessageLite>(
      channel_.get(), *rpc_methods_[method_index], &call->context, &call->request, response,
      [this, call, method_index, timing, response, request_size,
       done = std::move(done)](grpc::Status status) {
        absl::Status result =
            status.ok() ? CheckReplySize(method_index, *response, timing)
                        : FromUnaryCall(method_index, status, call->context, request_size);
        CollectResponseMetadata(timing, call->context);
        result = Finish(method_index, timing, call->cancelled(), std::move(result));
        done(std::move(result));
        Release();  // after `done`: WaitForCalls() covers the callback too
      });
  return call;
}

absl::StatusOr<std::shared_ptr<HostStream>> GrpcEndpoint::OpenStream(
    int method_index, const CallTiming& timing, std::function<void(absl::Status&)> on_end) {
  absl::Status refusal;
  std::shared_ptr<CallStream> unused;
  std::shared_ptr<NativeConnection> native;
  if (!Admit(method_index, &refusal, &unused, &native)) return refusal;
  auto stream = std::make_shared<HostStream>(service_, method_index, timing,
                                             static_cast<size_t>(max_request_),
                                             static_cast<size_t>(max_reply_));
  std::weak_ptr<HostStream> weak = stream;
  stream->AddFinisher([this, method_index, timing, weak](absl::Status& status) {
    status = Finish(method_index, timing, /*cancelled_by_host=*/false, std::move(status));
    // A worker lost mid-stream: say how far the stream got.
    std::shared_ptr<HostStream> ended = weak.lock();
    if (ended != nullptr && absl::IsUnavailable(status)) {
      const int64_t delivered = ended->messages_read();
      status =
          WithSuffix(status, MethodDisplayName(service_, method_index),
                     absl::StrCat(" (after ", delivered,
                                  delivered == 1 ? " response of the stream was delivered)"
                                                 : " responses of the stream were delivered)"));
    }
    Release();
  });
  stream->AddFinisher(std::move(on_end));
  std::shared_ptr<HostStream::Carrier> carrier =
      native != nullptr
          ? native->OpenStream(method_index, timing, stream)
          : OpenGrpcStream(channel_, service_.methods[method_index].path, timing, stream);
  stream->Start(std::move(carrier));
  return stream;
}

}  // namespace iw::internal
