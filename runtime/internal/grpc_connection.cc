#include "runtime/internal/grpc_connection.h"

#include <grpcpp/client_context.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <atomic>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/internal/status_conversion.h"

namespace iw::internal {

using google::protobuf::MessageLite;

// State of one asynchronous call; shared by the caller's CallHandle and the
// gRPC completion callback.
class GrpcConnection::AsyncCall final : public PendingCall {
 public:
  void Cancel() override {
    cancelled_.store(true, std::memory_order_release);
    context.TryCancel();
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  grpc::ClientContext context;
  grpc::ByteBuffer request;

 private:
  std::atomic<bool> cancelled_{false};
};

GrpcConnection::GrpcConnection(const ServiceInfo& service,
                               std::vector<MethodOverrides> method_overrides,
                               std::optional<absl::Duration> call_timeout)
    : service_(service),
      method_overrides_(std::move(method_overrides)),
      call_timeout_(call_timeout),
      worker_id_(service.full_name) {}

GrpcConnection::~GrpcConnection() = default;

void GrpcConnection::AttachChannel(std::shared_ptr<grpc::Channel> channel) {
  channel_ = std::move(channel);
  rpc_methods_.clear();
  for (int i = 0; i < service_.method_count; ++i) {
    rpc_methods_.push_back(std::make_unique<grpc::internal::RpcMethod>(
        service_.methods[i].path, grpc::internal::RpcMethod::NORMAL_RPC, channel_));
  }
}

void GrpcConnection::DetachChannel() {
  rpc_methods_.clear();
  channel_.reset();
}

void GrpcConnection::StopAccepting() {
  absl::MutexLock lock(&mu_);
  accepting_ = false;
}

bool GrpcConnection::WaitForCalls(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

int GrpcConnection::calls_in_flight() {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

bool GrpcConnection::Admit(int method_index, absl::Status* refusal) {
  {
    absl::MutexLock lock(&mu_);
    if (accepting_) {
      ++in_flight_;
      return true;
    }
  }
  *refusal = AdmissionError(method_index);
  if (refusal->ok()) {
    *refusal = absl::FailedPreconditionError(
        absl::StrCat(MethodDisplayName(service_, method_index), ": worker ",
                     worker_id_, " is not accepting calls"));
  }
  return false;
}

void GrpcConnection::Release() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

absl::Status GrpcConnection::Finish(int method_index, const ResolvedTimeout& timeout,
                                    absl::Time deadline, bool cancelled_by_host,
                                    absl::Status status) {
  if (status.ok()) return status;
  const std::string method = MethodDisplayName(service_, method_index);
  if (status.code() == absl::StatusCode::kCancelled && cancelled_by_host) {
    return absl::CancelledError(absl::StrCat(method, ": cancelled by the host"));
  }
  if (status.code() == absl::StatusCode::kDeadlineExceeded && absl::Now() >= deadline) {
    return absl::DeadlineExceededError(absl::StrCat(
        method, ": deadline exceeded after ", absl::FormatDuration(timeout.timeout),
        " (timeout from ", timeout.source, ")"));
  }
  if (status.code() == absl::StatusCode::kUnavailable) {
    return ExplainUnavailable(method_index, status);
  }
  // A status the handler returned travels unchanged.
  return status;
}

absl::Status GrpcConnection::Call(int method_index, const MessageLite& request,
                                  MessageLite* response, const CallOptions& options) {
  absl::StatusOr<ResolvedTimeout> timeout = ResolveCallTimeout(
      service_, method_index,
      method_overrides_.empty() ? std::nullopt : method_overrides_[method_index].timeout,
      call_timeout_, options);
  if (!timeout.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        MethodDisplayName(service_, method_index), ": ", timeout.status().message()));
  }
  absl::Status refusal;
  if (!Admit(method_index, &refusal)) return refusal;
  absl::Time deadline = absl::Now() + timeout->timeout;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  grpc::Status status = grpc::internal::BlockingUnaryCall<MessageLite, MessageLite>(
      channel_.get(), *rpc_methods_[method_index], &context, request, response);
  absl::Status result =
      Finish(method_index, *timeout, deadline, false, FromGrpcStatus(status));
  Release();
  return result;
}

CallHandle GrpcConnection::CallAsync(int method_index, const MessageLite& request,
                                     MessageLite* response, const CallOptions& options,
                                     std::function<void(absl::Status)> done) {
  absl::StatusOr<ResolvedTimeout> timeout = ResolveCallTimeout(
      service_, method_index,
      method_overrides_.empty() ? std::nullopt : method_overrides_[method_index].timeout,
      call_timeout_, options);
  if (!timeout.ok()) {
    done(absl::InvalidArgumentError(absl::StrCat(
        MethodDisplayName(service_, method_index), ": ", timeout.status().message())));
    return CallHandle();
  }
  auto call = std::make_shared<AsyncCall>();
  // Serialize now, on the caller's thread: the caller may destroy `request`
  // as soon as this returns.
  bool own_buffer = false;
  grpc::Status serialized = grpc::SerializationTraits<MessageLite>::Serialize(
      request, &call->request, &own_buffer);
  if (!serialized.ok()) {
    done(absl::InternalError(absl::StrCat(MethodDisplayName(service_, method_index),
                                          ": could not serialize the request: ",
                                          serialized.error_message())));
    return CallHandle();
  }
  absl::Status refusal;
  if (!Admit(method_index, &refusal)) {
    done(std::move(refusal));
    return CallHandle();
  }
  absl::Time deadline = absl::Now() + timeout->timeout;
  call->context.set_deadline(absl::ToChronoTime(deadline));
  grpc::internal::CallbackUnaryCall<grpc::ByteBuffer, MessageLite>(
      channel_.get(), *rpc_methods_[method_index], &call->context, &call->request,
      response,
      [this, call, method_index, timeout = *std::move(timeout), deadline,
       done = std::move(done)](grpc::Status status) {
        absl::Status result = Finish(method_index, timeout, deadline,
                                     call->cancelled(), FromGrpcStatus(status));
        done(std::move(result));
        Release();  // last: the connection may be destroyed right after
      });
  return CallHandle(std::move(call));
}

}  // namespace iw::internal
