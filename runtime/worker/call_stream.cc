#include "runtime/worker/call_stream.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "isolated_workers/internal/call_stream.pb.h"
#include "runtime/call_context.h"
#include "runtime/common/middleware_chain.h"
#include "runtime/common/timeouts.h"
#include "runtime/wire/batch_queue.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/call_stream_protocol.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/status_conversion.h"
#include "runtime/worker/dispatcher.h"

namespace iw::internal {
namespace {

// A year: relative times from the host are clamped to it.
constexpr uint64_t kMaxRelativeMicros = uint64_t{365} * 24 * 3600 * 1000 * 1000;

class StreamReactor final : public grpc::ServerGenericBidiReactor, public WorkerStream {
 public:
  StreamReactor(Dispatcher* dispatcher, grpc::GenericCallbackServerContext* context)
      : dispatcher_(dispatcher), context_(context) {
    const std::string version = ClientMetadataValue(*context, kCallStreamVersionKey);
    if (version != kCallStreamVersion) {
      finished_ = true;
      Finish(grpc::Status(
          grpc::StatusCode::UNIMPLEMENTED,
          absl::StrCat("call stream version \"", version,
                       "\" is not supported; this worker speaks version ", kCallStreamVersion)));
      return;
    }
    int64_t max_reply = 0;
    if (!absl::SimpleAtoi(ClientMetadataValue(*context, kCallStreamMaxReplyKey), &max_reply) ||
        max_reply <= 0) {
      max_reply = MaxResponseBytes(*dispatcher->binding().service);
    }
    max_reply_bytes_ = static_cast<size_t>(max_reply);
    if (!dispatcher_->RegisterStream(this)) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("worker ", dispatcher_->worker_id(), " is shutting down")));
      return;
    }
    registered_ = true;
    context_->AddInitialMetadata(kCallStreamVersionKey, kCallStreamVersion);
    StartSendInitialMetadata();
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The host half-closed the stream (or it broke).
      EndReads(absl::OkStatus());
      return;
    }
    CallBatch batch;
    {
      grpc::ProtoBufferReader reader(&in_);
      if (!batch.ParseFromZeroCopyStream(&reader)) {
        EndReads(absl::InvalidArgumentError(
            "malformed call stream batch: not a valid iw.internal.CallBatch"));
        return;
      }
    }
    in_.Clear();
    if (batch.method_paths_size() > 0) {
      method_paths_.assign(batch.method_paths().begin(), batch.method_paths().end());
      methods_.clear();
      for (const std::string& path : method_paths_) {
        methods_.push_back(dispatcher_->FindMethod(path));
      }
    }
    std::vector<StreamReply> refused;
    std::vector<std::function<void()>> runs;
    runs.reserve(batch.calls_size());
    std::vector<Call*> inline_calls;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;  // ended under this read: start nothing
      for (uint64_t id : batch.cancelled_ids()) {
        auto it = active_.find(id);
        if (it != active_.end()) it->second->context.MarkCancelled();
      }
      for (StreamCall& call : *batch.mutable_calls()) {
        std::optional<StreamReply> refusal = AdmitLocked(call, &runs, &inline_calls);
        if (refusal) refused.push_back(std::move(*refusal));
      }
    }
    dispatcher_->executor().SubmitAll(&runs);
    Send(std::move(refused), /*finished_calls=*/false);
    // (iw.method).inline_handler: here, and their replies travel together.
    if (!inline_calls.empty()) {
      std::vector<StreamReply> replies;
      replies.reserve(inline_calls.size());
      for (Call* call : inline_calls) replies.push_back(Execute(call));
      Send(std::move(replies), /*finished_calls=*/true);
    }
    {
      // (This reaction keeps the stream alive until it returns.)
      absl::MutexLock lock(&mu_);
      if (finished_) return;
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    bool start_write;
    bool finish;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        // The host is gone: nobody reads what is left.
        write_failed_ = true;
        queue_.Clear();
        for (auto& [id, call] : active_) call->context.MarkCancelled();
      }
      start_write = TakeNextBatchLocked();
      finish = !start_write && ShouldFinishLocked();
    }
    if (start_write) Write();
    if (finish) Finish(ToGrpcStatus(status_));
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    for (auto& [id, call] : active_) call->context.MarkCancelled();
  }

  void OnDone() override {
    if (registered_) dispatcher_->UnregisterStream(this);
    delete this;
  }

  // WorkerStream.
  bool BeginShutdown() override {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    return ShouldFinishLocked();
  }
  void FinishNow() override { Finish(ToGrpcStatus(status_)); }

 private:
  struct Call {
    Call(absl::string_view method, absl::Time deadline, Metadata metadata, std::string request_id)
        : context(method, deadline, std::move(metadata), std::move(request_id)) {}
    uint64_t id = 0;
    int method_index = -1;
    std::string request;
    std::optional<absl::Duration> replace_after;
    CallContext context;
  };

  // Adds the task running `call` to `runs` (or, for an inline handler, the
  // call to `inline_calls`), or returns the reply refusing it.
  std::optional<StreamReply> AdmitLocked(StreamCall& call, std::vector<std::function<void()>>* runs,
                                         std::vector<Call*>* inline_calls)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    StreamReply refusal;
    refusal.set_id(call.id());
    const uint32_t index = call.method();
    if (index >= methods_.size() || methods_[index] < 0) {
      refusal.set_code(grpc::StatusCode::UNIMPLEMENTED);
      refusal.set_message(absl::StrCat(
          "unknown method ",
          index < method_paths_.size() ? method_paths_[index] : absl::StrCat("#", index),
          "; this worker serves ", dispatcher_->binding().service->full_name));
      return refusal;
    }
    if (shutting_down_ || reads_done_ || write_failed_) {
      refusal.set_code(grpc::StatusCode::UNAVAILABLE);
      refusal.set_message(absl::StrCat("worker ", dispatcher_->worker_id(), " is shutting down"));
      return refusal;
    }
    // Any value is accepted; beyond a year it is as good as none (and the
    // arithmetic below cannot overflow).
    const absl::Time deadline =
        call.timeout_us() == 0 || call.timeout_us() > kMaxRelativeMicros
            ? absl::InfiniteFuture()
            : absl::Now() + absl::Microseconds(static_cast<int64_t>(call.timeout_us()));
    Metadata metadata;
    for (StreamMetadataEntry& entry : *call.mutable_metadata()) {
      metadata.emplace(std::move(*entry.mutable_key()), std::move(*entry.mutable_value()));
    }
    // A standalone worker bounds the call by its .proto (see
    // Dispatcher::BoundCallsByProto); its reply still waits for the handler
    // here: the stream's client is one of our hosts, which stops waiting at
    // its own deadline.
    auto admitted = std::make_unique<Call>(method_paths_[index],
                                           dispatcher_->BoundedDeadline(methods_[index], deadline),
                                           UserMetadata(metadata), call.request_id());
    admitted->id = call.id();
    admitted->method_index = methods_[index];
    admitted->request = std::move(*call.mutable_request());
    if (call.replace_after_ms_plus_one() > 0) {
      admitted->replace_after = absl::Milliseconds(static_cast<int64_t>(
          std::min<uint64_t>(call.replace_after_ms_plus_one() - 1, kMaxRelativeMicros / 1000)));
    }
    admitted->replace_after =
        dispatcher_->BoundedReplaceAfter(admitted->method_index, admitted->replace_after);
    Call* running = admitted.get();
    active_[call.id()] = std::move(admitted);
    if (dispatcher_->binding().service->methods[running->method_index].inline_handler) {
      inline_calls->push_back(running);
    } else {
      runs->push_back([this, running] { Run(running); });
    }
    return std::nullopt;
  }

  // Runs on an executor thread.
  void Run(Call* call) {
    std::vector<StreamReply> replies;
    replies.push_back(Execute(call));
    Send(std::move(replies), /*finished_calls=*/true);
  }

  // Runs the call; returns its reply.
  StreamReply Execute(Call* call) {
    StreamReply reply;
    reply.set_id(call->id);
    Metadata metadata;
    uint64_t worker_us = 0;
    absl::Status status = dispatcher_->Execute(
        call->method_index, call->context, call->replace_after,
        [call](google::protobuf::MessageLite* request) {
          const bool parsed = request->ParseFromString(call->request);
          std::string().swap(call->request);
          return parsed;
        },
        [this, call, &reply](const google::protobuf::MessageLite& response) {
          const size_t size = response.ByteSizeLong();
          if (size > max_reply_bytes_) {
            // Over the host's limit (it told us): the host's own answer for
            // a unary reply this big.
            return MessageTooLarge(
                FailureCause::kReplyTooLarge,
                MethodDisplayName(*dispatcher_->binding().service, call->method_index), size,
                static_cast<int64_t>(max_reply_bytes_));
          }
          if (!response.SerializeToString(reply.mutable_response())) {
            return SerializeFailed(call->context, response, "SerializeToString failed");
          }
          return absl::OkStatus();
        },
        &metadata, &worker_us);
    reply.set_worker_us(worker_us);
    if (!status.ok()) {
      const grpc::Status wire = ToGrpcStatus(status);
      reply.clear_response();
      reply.set_code(wire.error_code());
      reply.set_message(wire.error_message());
      reply.set_details(wire.error_details());
    }
    for (auto& [key, value] : metadata) {
      StreamMetadataEntry* entry = reply.add_metadata();
      entry->set_key(key);
      entry->set_value(std::move(value));
    }
    return reply;
  }

  // Queues `replies` (ending their calls if `finished_calls`) and writes them
  // now if no write is in flight. Must not touch `this` afterwards unless it
  // started the write (or runs in a reaction).
  void Send(std::vector<StreamReply> replies, bool finished_calls) {
    if (replies.empty()) return;
    bool start_write;
    bool finish;
    {
      absl::MutexLock lock(&mu_);
      for (StreamReply& reply : replies) {
        const uint64_t id = reply.id();
        if (!write_failed_) {
          *queue_.For(reply.ByteSizeLong() + kEntryFraming).add_replies() = std::move(reply);
        }
        if (finished_calls) active_.erase(id);
      }
      start_write = TakeNextBatchLocked();
      finish = !start_write && ShouldFinishLocked();
    }
    if (start_write) Write();
    if (finish) Finish(ToGrpcStatus(status_));
  }

  // Serializes the next waiting batch into out_ if no write is in flight;
  // true if the caller must then Write(). (Under mu_: the batch a writer
  // sends is never touched outside the lock by our code.)
  bool TakeNextBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || queue_.empty() || write_failed_) return false;
    ReplyBatch batch = queue_.TakeFront();
    out_.Clear();  // the last write is done with it
    bool own_buffer = false;
    grpc::Status serialized =
        grpc::SerializationTraits<ReplyBatch>::Serialize(batch, &out_, &own_buffer);
    if (!serialized.ok()) {
      // Not expected (each reply was serialized once already). End the
      // stream once the calls are done rather than lose replies silently.
      write_failed_ = true;
      queue_.Clear();
      status_ = absl::InternalError(
          absl::StrCat("could not serialize a reply batch: ", serialized.error_message()));
      for (auto& [id, call] : active_) call->context.MarkCancelled();
      return false;
    }
    writing_ = true;
    return true;
  }

  void Write() { StartWrite(&out_); }

  // No read will start again. Ends the stream once every call is answered.
  void EndReads(absl::Status status) {
    bool finish;
    {
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      if (!status.ok()) {
        status_ = std::move(status);
        for (auto& [id, call] : active_) call->context.MarkCancelled();
      }
      finish = ShouldFinishLocked();
    }
    if (finish) Finish(ToGrpcStatus(status_));
  }

  // True (once) when the stream may end now.
  bool ShouldFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !(reads_done_ || shutting_down_ || write_failed_) || !active_.empty() ||
        writing_ || !queue_.empty()) {
      return false;
    }
    finished_ = true;
    return true;
  }

  Dispatcher* const dispatcher_;
  grpc::GenericCallbackServerContext* const context_;
  size_t max_reply_bytes_ = 0;
  bool registered_ = false;

  // Touched by the read callbacks only.
  grpc::ByteBuffer in_;
  std::vector<std::string> method_paths_;
  std::vector<int> methods_;

  // The batch being written: set under mu_ while writing_ is false, read by
  // gRPC in StartWrite().
  grpc::ByteBuffer out_;

  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Call>> active_ ABSL_GUARDED_BY(mu_);
  BatchQueue<ReplyBatch> queue_ ABSL_GUARDED_BY(mu_){kStreamMaxBatchBytes};
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // How the stream ends (set before finished_).
  absl::Status status_;
};

}  // namespace

grpc::ServerGenericBidiReactor* NewWorkerCallStream(Dispatcher* dispatcher,
                                                    grpc::GenericCallbackServerContext* context) {
  return new StreamReactor(dispatcher, context);
}

}  // namespace iw::internal
