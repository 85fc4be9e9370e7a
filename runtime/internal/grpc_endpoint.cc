#include "runtime/internal/grpc_endpoint.h"

#include <grpcpp/client_context.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>

#include <atomic>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/internal/control_protocol.h"
#include "runtime/internal/middleware_chain.h"
#include "runtime/internal/overrun_watchdog.h"
#include "runtime/internal/status_conversion.h"

namespace iw::internal {

using google::protobuf::MessageLite;

// State of one asynchronous call; shared by the caller's handle and the gRPC
// completion callback.
class GrpcEndpoint::AsyncCall final : public PendingCall {
 public:
  explicit AsyncCall(const grpc::ByteBuffer& request_bytes) : request(request_bytes) {}
  void Cancel() override {
    cancelled_.store(true, std::memory_order_release);
    context.TryCancel();
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  grpc::ClientContext context;
  grpc::ByteBuffer request;  // shares the slices: no copy of the payload

 private:
  std::atomic<bool> cancelled_{false};
};

namespace {

// Whether a DEADLINE_EXCEEDED is this call's deadline (rather than a status a
// handler returned): gRPC's own timers (ours or the worker's, which can fire
// a hair before absl::Now() agrees), or the worker's late-reply marker.
bool IsDeadlineOfCall(const absl::Status& status, absl::Time deadline) {
  if (status.code() != absl::StatusCode::kDeadlineExceeded) return false;
  return absl::Now() >= deadline - absl::Milliseconds(5) ||
         status.message() == "Deadline Exceeded" ||
         status.message() == kDeadlinePassedInWorker;
}

// Deadline, per-call policy and metadata of one call.
void Prepare(const CallTiming& timing, grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(timing.deadline));
  if (timing.replace_after) {
    context->AddMetadata(kReplaceAfterMetadata,
                         absl::StrCat(absl::ToInt64Milliseconds(*timing.replace_after)));
  }
  if (!timing.request_id.empty()) {
    context->AddMetadata(kRequestIdMetadataKey, timing.request_id);
  }
  if (timing.request_metadata != nullptr) {
    for (const auto& [key, value] : *timing.request_metadata) context->AddMetadata(key, value);
  }
}

// What the worker sent back, for host middleware.
void CollectResponseMetadata(const CallTiming& timing, const grpc::ClientContext& context) {
  if (timing.response_metadata == nullptr) return;
  *timing.response_metadata = UserMetadata(context.GetServerInitialMetadata());
  Metadata trailing = UserMetadata(context.GetServerTrailingMetadata());
  timing.response_metadata->merge(trailing);
}

}  // namespace

GrpcEndpoint::GrpcEndpoint(const ServiceInfo& service)
    : service_(service), id_(service.full_name) {}

GrpcEndpoint::~GrpcEndpoint() = default;

void GrpcEndpoint::AttachChannel(std::shared_ptr<grpc::Channel> channel) {
  channel_ = std::move(channel);
  rpc_methods_.clear();
  for (int i = 0; i < service_.method_count; ++i) {
    rpc_methods_.push_back(std::make_unique<grpc::internal::RpcMethod>(
        service_.methods[i].path, grpc::internal::RpcMethod::NORMAL_RPC, channel_));
  }
}

void GrpcEndpoint::DetachChannel() {
  absl::MutexLock lock(&mu_);
  accepting_ = false;
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

bool GrpcEndpoint::Admit(int method_index, absl::Status* refusal) {
  absl::MutexLock lock(&mu_);
  if (accepting_ && channel_ != nullptr) {
    ++in_flight_;
    return true;
  }
  *refusal = absl::FailedPreconditionError(
      absl::StrCat(MethodDisplayName(service_, method_index), ": worker ", id_,
                   " is closing"));
  return false;
}

void GrpcEndpoint::Release() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

absl::Status GrpcEndpoint::Finish(int method_index, const CallTiming& timing,
                                  bool cancelled_by_host, absl::Status status) {
  if (status.ok()) return status;
  if (status.code() == absl::StatusCode::kCancelled && cancelled_by_host) {
    return absl::CancelledError(
        absl::StrCat(MethodDisplayName(service_, method_index), ": cancelled by the host"));
  }
  if (IsDeadlineOfCall(status, timing.deadline)) {
    return DeadlineExceeded(service_, method_index, timing.timeout);
  }
  if (status.code() == absl::StatusCode::kUnavailable) {
    return ExplainUnavailable(method_index, status);
  }
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    // gRPC's own size checks: "Sent message larger than max (2005 vs. 1024)".
    absl::string_view message = status.message();
    for (auto [prefix, what] : {std::pair<absl::string_view, absl::string_view>{
                                    "Sent message larger than max ", "request"},
                                {"Received message larger than max ", "reply"}}) {
      if (absl::StartsWith(message, prefix)) {
        message.remove_prefix(prefix.size());
        return absl::ResourceExhaustedError(absl::StrCat(
            MethodDisplayName(service_, method_index), ": the ", what,
            " is over the message size limit ", message, " bytes; see max_", what,
            "_bytes"));
      }
    }
  }
  // A status the handler returned travels unchanged.
  return status;
}

absl::Status GrpcEndpoint::Call(int method_index, const MessageLite& request,
                                MessageLite* response, const CallTiming& timing) {
  absl::Status refusal;
  if (!Admit(method_index, &refusal)) return refusal;
  grpc::ClientContext context;
  Prepare(timing, &context);
  grpc::Status status = grpc::internal::BlockingUnaryCall<MessageLite, MessageLite>(
      channel_.get(), *rpc_methods_[method_index], &context, request, response);
  CollectResponseMetadata(timing, context);
  absl::Status result = Finish(method_index, timing, false, FromGrpcStatus(status));
  Release();
  return result;
}

std::shared_ptr<PendingCall> GrpcEndpoint::CallAsync(
    int method_index, const grpc::ByteBuffer& request, MessageLite* response,
    const CallTiming& timing, std::function<void(absl::Status)> done) {
  absl::Status refusal;
  if (!Admit(method_index, &refusal)) {
    done(std::move(refusal));
    return nullptr;
  }
  auto call = std::make_shared<AsyncCall>(request);
  Prepare(timing, &call->context);
  grpc::internal::CallbackUnaryCall<grpc::ByteBuffer, MessageLite>(
      channel_.get(), *rpc_methods_[method_index], &call->context, &call->request,
      response,
      [this, call, method_index, timing, done = std::move(done)](grpc::Status status) {
        CollectResponseMetadata(timing, call->context);
        absl::Status result =
            Finish(method_index, timing, call->cancelled(), FromGrpcStatus(status));
        done(std::move(result));
        Release();  // after `done`: WaitForCalls() covers the callback too
      });
  return call;
}

}  // namespace iw::internal
