// -----------------------------------------------------------------------------
// File: worker/worker_stream_call.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. The worker end of one streaming call (stream.h),
// whatever carries it: the StreamIo behind the handler's typed reader and
// writer. A carrier (the native carrier, a gRPC call) implements
// WorkerStreamCall::Carrier to send responses and pushes what the host sends
// (Deliver, EndOfRequests, GrantCredit, Cancel); it runs the handler with
// Dispatcher::ExecuteStream() and sends the final status it returns.
//
// Read() and Write() wait at most until the call's deadline, and return
// false at once when the stream is cancelled (the context is marked
// cancelled too). A response over the size limit is not sent: Write()
// returns false and the call's status becomes RESOURCE_EXHAUSTED
// (kReplyTooLarge) whatever the handler returns.

#ifndef IW_RUNTIME_WORKER_WORKER_STREAM_CALL_H_
#define IW_RUNTIME_WORKER_WORKER_STREAM_CALL_H_

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runtime/call_context.h"
#include "runtime/common/stream_state.h"
#include "runtime/stream.h"

namespace iw::internal {

class WorkerStreamCall final : public StreamIo {
 public:
  // How one carrier carries the responses to the host. Called on the
  // handler's thread.
  class Carrier {
   public:
    virtual ~Carrier() = default;
    // Sends one response (size checked, a credit taken). False if the host
    // can no longer get it (the carrier cancels the stream itself).
    virtual bool Send(const google::protobuf::MessageLite& message) = 0;
    // The handler read `messages` more requests (of `bytes` in all): the
    // host may send as many more. Comes in batches (StreamState::Pop).
    virtual void Consumed(int messages, size_t bytes) = 0;
  };

  // `context` and `carrier` must outlive the call. `display_name`:
  // "pkg.Service.Method", for statuses.
  WorkerStreamCall(CallContext* context, Carrier* carrier, std::string display_name,
                   size_t max_request, size_t max_reply);

  // ---- Pushed by the carrier, from any thread. ----

  // One request. False if it is beyond the host's credit (a protocol
  // violation) or over the request limit (the stream then fails with
  // RESOURCE_EXHAUSTED; the carrier need not do anything).
  bool Deliver(StreamMessage message);
  // The host closed its writes.
  void EndOfRequests();
  // The host read `n` more responses.
  void GrantCredit(int n);
  // The host cancelled, went away, or the deadline passed: the handler's
  // reads and writes fail from now on.
  void Cancel();

  // ---- StreamIo (the handler's). ----

  bool Read(google::protobuf::MessageLite* message) override;
  bool Write(const google::protobuf::MessageLite& message) override;

  // What overrides the handler's status: a response over the limit, a
  // request that did not parse or was over the limit (OK if none).
  absl::Status failure() const;

 private:
  void Fail(absl::Status status);

  CallContext* const context_;
  Carrier* const carrier_;
  const std::string display_name_;
  const size_t max_request_;
  const size_t max_reply_;
  StreamState state_;
  mutable absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_WORKER_STREAM_CALL_H_
