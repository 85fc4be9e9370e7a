// FOR INTERNAL USE. The host end of the multiplexed call stream
// (proto/isolated_workers/internal/call_stream.proto): one long-lived gRPC
// bidi stream per worker connection that carries many small calls, each with
// its own id, deadline and metadata, batched both ways. A unary gRPC call
// costs a new HTTP/2 stream with headers and trailers each way; a call on
// the stream costs a few bytes in a batch that is already being written.
//
// GrpcEndpoint sends a call here when the stream is ready and the request is
// small, and as an ordinary unary call otherwise (worker without the stream,
// large request, stream ended).
#ifndef IW_RUNTIME_HOST_CALL_STREAM_H_
#define IW_RUNTIME_HOST_CALL_STREAM_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "isolated_workers/internal/call_stream.pb.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/common/deadline_timer.h"
#include "runtime/host/endpoint.h"
#include "runtime/metadata.h"
#include "runtime/wire/batch_queue.h"

namespace iw::internal {

class CallStream final : public grpc::ClientBidiReactor<CallBatch, ReplyBatch> {
 public:
  // What the worker answered (or why there is no answer).
  struct Reply {
    // The worker's status (only the causes it can know: TrustedFromWorker()),
    // or the stream's own with its cause: kCallDeadline, kCancelledByHost
    // (Abandon()), kTransportFailed (the stream ended).
    absl::Status status;
    // The serialized response message (status OK only).
    std::string response;
    // The user metadata the worker sent back.
    Metadata metadata;
    // The worker's own time (kWorkerTimeMetadataKey), if the worker replied.
    std::optional<uint64_t> worker_us;
  };
  using Done = std::function<void(Reply)>;

  // Opens the stream. Requests in batches of at most `max_batch_bytes`
  // (what both the host channel and the worker accept); the worker is told
  // to answer replies over `max_reply_bytes` with RESOURCE_EXHAUSTED.
  static std::shared_ptr<CallStream> Open(std::shared_ptr<grpc::Channel> channel,
                                          const codegen::ServiceInfo& service,
                                          size_t max_batch_bytes, int64_t max_reply_bytes);

  // Whether the worker accepted the stream and it has not ended.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Waits until the worker accepted or refused the stream; returns ready().
  bool WaitReady(absl::Time deadline);

  // Sends one call, unless the stream is not ready, the serialized
  // `*request` is over kStreamMaxRequestBytes or the call's deadline has
  // passed: then returns 0 and leaves `*request` as it was (send it as a
  // unary call). Otherwise `*request` is moved into the call (no copy).
  //
  // `*done` is taken only if the call is (returns non-zero). It runs
  // exactly once: on a gRPC thread with the worker's reply; on
  // the timer thread with DEADLINE_EXCEEDED if `arm_deadline` and the
  // deadline passes first; in Abandon(); or with UNAVAILABLE when the
  // stream ends before the reply.
  uint64_t Start(int method_index, std::string* request, const CallTiming& timing,
                 bool arm_deadline, Done* done);
  // Completes call `id` with `status` now, unless its reply came first, and
  // tells the worker to stop it.
  void Abandon(uint64_t id, absl::Status status);
  // Half-closes the stream and waits until it ends: the worker answers the
  // calls on it first. After `patience`, cancels it (calls still on it fail
  // with UNAVAILABLE).
  void Close(absl::Duration patience);
  // Notified when this object is destroyed, i.e. when its gRPC call (which
  // keeps the connection open) is released.
  std::shared_ptr<absl::Notification> destroyed() const { return destroyed_; }

  ~CallStream() override { destroyed_->Notify(); }

  // grpc::ClientBidiReactor.
  void OnReadInitialMetadataDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  struct Pending {
    Done done;
    DeadlineTimer::Handle timer;
  };

  CallStream(std::shared_ptr<grpc::Channel> channel, size_t max_batch_bytes);

  // Adds to the batch being filled; true if the caller must start a write.
  bool EnqueueLocked(StreamCall call, size_t size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the next batch to out_ if one is waiting and no write is in
  // flight; true if the caller must then StartWrite(&out_).
  bool TakeNextBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // No write starts from now on. The hold (AddHold() in Open(): writes and
  // cancels are started from callers' threads, so gRPC must not finish the
  // stream under them) goes once no write is in flight.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  // StartWritesDone(), then Stop().
  void HalfClose() ABSL_LOCKS_EXCLUDED(mu_);
  // True if the caller must RemoveHold() now.
  bool TakeHoldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<grpc::Channel> channel_;
  const std::shared_ptr<absl::Notification> destroyed_ = std::make_shared<absl::Notification>();
  grpc::ClientContext context_;
  std::atomic<bool> ready_{false};
  std::atomic<uint64_t> next_id_{1};
  std::weak_ptr<CallStream> weak_self_;

  // Touched by gRPC's read callbacks only.
  ReplyBatch in_;

  absl::Mutex mu_;
  // Keeps this alive until OnDone().
  std::shared_ptr<CallStream> self_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  // Batches waiting for the write in flight.
  BatchQueue<CallBatch> queue_ ABSL_GUARDED_BY(mu_);
  // The batch being written: gRPC reads it until OnWriteDone(), so it is
  // replaced only while `writing_` is false.
  CallBatch out_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  // Between deciding to call StartWritesDone() and calling it: the hold
  // must stay (gRPC may otherwise end the stream under the call).
  bool starting_writes_done_ ABSL_GUARDED_BY(mu_) = false;
  // Stop() was called (no more writes).
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_removed_ ABSL_GUARDED_BY(mu_) = false;
  // The worker's initial metadata arrived (or never will).
  bool answered_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_CALL_STREAM_H_
