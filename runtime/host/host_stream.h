// -----------------------------------------------------------------------------
// File: host/host_stream.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. The host end of one streaming call (stream.h), whatever
// carries it: the typed wrappers' ClientStream. A carrier (the native carrier,
// a gRPC call) implements HostStream::Carrier to send, and pushes what the
// worker sends into the stream (Deliver, GrantCredit, EndFromWorker).
//
// One place for the rules every carrier shares:
// - the deadline bounds the whole stream (a timer ends it, and tells the
//   worker, at the deadline);
// - every message is checked against the size limits, and a response
//   that does not parse ends the stream with INTERNAL;
// - Cancel() ends the stream at once with CANCELLED and tells the worker;
// - the final status is decided once, where the stream ends (any thread: the
//   user's, the deadline timer's, the carrier's when the worker ends it):
//   the finishers (the endpoint's explanation of a lost worker and its
//   in-flight count, the pool's release of its worker) run there, once, as
//   the completions of asynchronous unary calls do. So a stream the user
//   holds but no longer reads never keeps its worker, and a host that
//   closes never waits for its users' streams.

#ifndef IW_RUNTIME_HOST_HOST_STREAM_H_
#define IW_RUNTIME_HOST_HOST_STREAM_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/common/deadline_timer.h"
#include "runtime/common/stream_state.h"
#include "runtime/host/endpoint.h"
#include "runtime/metadata.h"
#include "runtime/stream.h"

namespace iw::internal {

class HostStream final : public ClientStream, public std::enable_shared_from_this<HostStream> {
 public:
  // How one carrier carries the stream to the worker. Called without the
  // stream's lock, on the user's threads (Cancel() also on the timer
  // thread); must not block for long.
  class Carrier {
   public:
    virtual ~Carrier() = default;
    // Sends one request message (its size checked, a credit taken).
    // False if the connection is gone: the carrier ends the stream
    // (EndFromWorker with kTransportFailed) itself.
    virtual bool Send(const google::protobuf::MessageLite& message) = 0;
    // No more request messages.
    virtual void HalfClose() = 0;
    // The host ended the stream (cancelled, deadline, a bad message): tell
    // the worker to stop. Not called for an end the carrier reported.
    virtual void Cancel() = 0;
    // The user read `messages` more responses (of `bytes` in all): the
    // worker may send as many more. Comes in batches (StreamState::Pop).
    virtual void Consumed(int messages, size_t bytes) = 0;
    // The user reads no more responses (Finish()) but waits for the final
    // status: responses may now be dropped as they arrive. (A carrier whose
    // final status cannot overtake unread responses, like gRPC's, must keep
    // reading to get it.)
    virtual void StopReading() {}
  };

  // Rewrites the final status (and may release what the stream held).
  using Finisher = std::function<void(absl::Status& status)>;

  // `max_request` / `max_reply`: the limits of one message, in bytes.
  HostStream(const codegen::ServiceInfo& service, int method_index, const CallTiming& timing,
             size_t max_request, size_t max_reply);
  ~HostStream() override;

  // Finishers run in the order added, once, on the thread that ends the
  // stream, without the stream's locks. Add them before Start().
  void AddFinisher(Finisher finisher);
  // Starts using `carrier` (the worker has been sent the call) and arms the
  // deadline. Once only, before any other use by the user.
  void Start(std::shared_ptr<Carrier> carrier);
  // A stream that could not be opened: ended with `status` (finishers run).
  void Fail(absl::Status status);

  // ---- Pushed by the carrier, from any thread. ----

  // One response message. False if it is beyond the worker's credit (a
  // protocol violation: the carrier breaks the connection).
  bool Deliver(StreamMessage message);
  // The worker read `n` more requests.
  void GrantCredit(int n);
  // The stream's end as the worker sent it (its handler's status and
  // trailing metadata) or as the carrier saw it (kTransportFailed when the
  // connection is gone). Responses received before stay readable.
  void EndFromWorker(absl::Status status, Metadata metadata);

  // ---- ClientStream (the user's). ----

  bool Write(const google::protobuf::MessageLite& message) override;
  void CloseWrites() override;
  bool Read(google::protobuf::MessageLite* message) override;
  absl::Status Finish() override;
  void Cancel() override;
  int64_t messages_read() const override;

  // The user metadata the worker sent back (complete once ended).
  Metadata response_metadata() const;

 private:
  // Ends the stream here with `status` (dropping unread responses) and, if
  // that was the end, tells the worker.
  void EndHere(absl::Status status);
  // Once ended: runs the finishers once and returns the final status (a
  // second caller waits until the first has run them: Read() and Write()
  // call it before they return false, so that the end is final by then).
  absl::Status Conclude();
  std::string method() const;

  const codegen::ServiceInfo& service_;
  const int method_index_;
  const CallTiming timing_;
  const size_t max_request_;
  const size_t max_reply_;
  StreamState state_;
  std::vector<Finisher> finishers_;   // set before Start()
  std::shared_ptr<Carrier> carrier_;  // set by Start()
  DeadlineTimer::Handle timer_;       // set by Start()

  mutable absl::Mutex mu_;
  bool writes_closed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t read_ ABSL_GUARDED_BY(mu_) = 0;
  Metadata metadata_ ABSL_GUARDED_BY(mu_);
  bool concluded_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_ ABSL_GUARDED_BY(mu_);
  // Held while the finishers run (Conclude() from two threads at once).
  absl::Mutex conclude_mu_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_HOST_STREAM_H_
