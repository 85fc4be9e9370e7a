#include "runtime/worker/grpc_stream_call.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/message_lite.h"
#include "runtime/common/deadline_timer.h"
#include "runtime/common/middleware_chain.h"
#include "runtime/common/timeouts.h"
#include "runtime/wire/control_protocol.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/status_conversion.h"
#include "runtime/worker/unary_call.h"
#include "runtime/worker/worker_stream_call.h"

namespace iw::internal {
namespace {

// One streaming call on the worker. Deletes itself once gRPC is done with it
// (OnDone) and neither its handler nor its bound timer still uses it.
//
// gRPC's rules, kept by `mu_`: one read and one write outstanding at most;
// Finish() once, after the last write completed and with no operation being
// started; nothing started after Finish() was decided. Operations are decided
// under `mu_` and started without it (gRPC may run a reaction inline).
class GrpcStreamCall final : public grpc::ServerGenericBidiReactor,
                             public WorkerStreamCall::Carrier {
 public:
  GrpcStreamCall(Dispatcher* dispatcher, grpc::GenericCallbackServerContext* context,
                 int method_index)
      : dispatcher_(dispatcher),
        server_context_(context),
        method_index_(method_index),
        caller_deadline_(CallerDeadline(*context)),
        context_(context->method(), dispatcher->BoundedDeadline(method_index_, caller_deadline_),
                 UserMetadata(context->client_metadata()),
                 ClientMetadataValue(*context, kRequestIdMetadataKey)),
        replace_after_(
            dispatcher->BoundedReplaceAfter(method_index_, CallerReplaceAfter(*context))),
        io_(&context_, this, MethodDisplayName(*dispatcher->binding().service, method_index),
            static_cast<size_t>(MaxRequestBytes(*dispatcher->binding().service)),
            static_cast<size_t>(MaxResponseBytes(*dispatcher->binding().service))) {
    refs_.fetch_add(1, std::memory_order_relaxed);  // Run()'s
    if (context_.deadline() < caller_deadline_) {
      // The .proto bounds this call more tightly than its caller did
      // (Dispatcher::BoundCallsByProto): end it at the bound even if the
      // handler is still running.
      refs_.fetch_add(1, std::memory_order_relaxed);  // the timer's
      bound_timer_ = DeadlineTimer::Get().Schedule(context_.deadline(), [this] { OnBound(); });
    }
    MaybeRead();
    dispatcher_->executor().Submit([this] { Run(); });
  }

  // ---- gRPC's reactions. ----

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The host closed its writes (or the call ended).
      {
        absl::MutexLock lock(&mu_);
        reading_ = false;
        reads_done_ = true;
      }
      io_.EndOfRequests();
      FinishIfReady();
      return;
    }
    std::string bytes = ByteBufferToString(read_buffer_);
    read_buffer_.Clear();
    {
      absl::MutexLock lock(&mu_);
      ++unconsumed_;
      unconsumed_bytes_ += bytes.size();
    }
    // Never beyond the window: we read only while the handler has room.
    io_.Deliver(StreamMessage::Own(std::move(bytes)));
    {
      // Only now: the next read (maybe started at once by the handler's
      // Consumed()) must not deliver before this one.
      absl::MutexLock lock(&mu_);
      reading_ = false;
    }
    MaybeRead();
    FinishIfReady();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      write_ok_ = ok;
    }
    FinishIfReady();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    io_.Cancel();  // marks the context cancelled too
  }

  void OnDone() override { Unref(); }

  // ---- WorkerStreamCall::Carrier (the handler's thread). ----

  bool Send(const google::protobuf::MessageLite& message) override {
    grpc::ByteBuffer bytes;
    bool own_buffer = false;
    if (!grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(message, &bytes,
                                                                             &own_buffer)
             .ok()) {
      return false;
    }
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || cancelled_ || finish_.has_value()) return false;
      write_buffer_.Swap(&bytes);
      writing_ = true;
      ++starting_;
    }
    StartWrite(&write_buffer_);
    bool ok;
    {
      absl::MutexLock lock(&mu_);
      --starting_;
      // Cancellation fails the write; the .proto's bound does not wait for it.
      auto written = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !writing_ || finish_.has_value();
      };
      mu_.Await(absl::Condition(&written));
      ok = !writing_ && write_ok_;
    }
    FinishIfReady();
    if (ok) io_.GrantCredit(1);  // the next Write() may proceed
    return ok;
  }

  void Consumed(int messages, size_t bytes) override {
    {
      absl::MutexLock lock(&mu_);
      unconsumed_ -= messages;
      unconsumed_bytes_ -= bytes;
    }
    MaybeRead();
  }

 private:
  // Runs on an executor thread.
  void Run() {
    Metadata response_metadata;
    absl::Status status = dispatcher_->ExecuteStream(method_index_, context_, replace_after_, io_,
                                                     &response_metadata);
    const bool bounded = bound_timer_.id != 0;
    if (bounded && DeadlineTimer::Get().Cancel(bound_timer_)) Unref();
    // The handler failed once the .proto's bound had passed: the bound's
    // answer.
    if (bounded && !status.ok() && absl::Now() >= context_.deadline()) {
      status = ProtoBoundExceeded(*dispatcher_->binding().service, method_index_);
    }
    ClaimFinish(status, response_metadata);
    FinishIfReady();
    Unref();  // may delete this
  }

  // On the timer thread, at the .proto's bound.
  void OnBound() {
    // Claim the answer before telling the handler: a handler that stops as
    // soon as it sees the cancellation must not answer first.
    ClaimFinish(ProtoBoundExceeded(*dispatcher_->binding().service, method_index_), {});
    io_.Cancel();
    bool stuck_write;
    {
      absl::MutexLock lock(&mu_);
      stuck_write = writing_;
    }
    // A write the client does not take would hold the answer back: give up
    // the call (the client then sees CANCELLED).
    if (stuck_write) server_context_->TryCancel();
    FinishIfReady();
    Unref();
  }

  // Starts the next read if the handler has room for one more request.
  void MaybeRead() {
    {
      absl::MutexLock lock(&mu_);
      if (reading_ || reads_done_ || cancelled_ || finish_.has_value() ||
          unconsumed_ >= kStreamWindow || unconsumed_bytes_ >= kStreamWindowBytes / 2) {
        return;
      }
      reading_ = true;
      ++starting_;
    }
    StartRead(&read_buffer_);
    {
      absl::MutexLock lock(&mu_);
      --starting_;
    }
    FinishIfReady();
  }

  // The call's answer is decided once: by its handler or at its bound.
  void ClaimFinish(const absl::Status& status, const Metadata& metadata) {
    absl::MutexLock lock(&mu_);
    if (finish_.has_value()) return;
    // Sent as trailing metadata, with any status.
    for (const auto& [key, value] : metadata) server_context_->AddTrailingMetadata(key, value);
    if (!status.ok()) server_context_->AddTrailingMetadata(kWorkerStatusMetadata, "1");
    finish_ = ToGrpcStatus(status);
  }

  // Finishes the call once its answer is decided, no write is outstanding
  // and no operation is being started.
  void FinishIfReady() {
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (!finish_.has_value() || finish_called_ || writing_ || starting_ > 0) return;
      finish_called_ = true;
      status = *finish_;
    }
    Finish(status);
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
  WorkerStreamCall io_;
  // OnDone()'s, plus Run()'s and the bound timer's while they may run.
  std::atomic<int> refs_{1};
  DeadlineTimer::Handle bound_timer_;  // set before Run() starts

  grpc::ByteBuffer read_buffer_;   // owned by the outstanding read
  grpc::ByteBuffer write_buffer_;  // owned by the outstanding write
  absl::Mutex mu_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  // Requests delivered to the handler and not yet read by it.
  int unconsumed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t unconsumed_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // Operations decided and not yet handed to gRPC.
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerGenericBidiReactor* NewGrpcStreamCall(Dispatcher* dispatcher,
                                                  grpc::GenericCallbackServerContext* context,
                                                  int method_index) {
  return new GrpcStreamCall(dispatcher, context, method_index);
}

}  // namespace iw::internal
