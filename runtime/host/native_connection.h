// -----------------------------------------------------------------------------
// File: host/native_connection.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. The host end of the native carrier
// (WorkerTransport::kNative; frames in wire/native_frames.h): the call
// stream written straight on the private socketpair of a spawned worker.
//
// Few wake-ups per call (docs/design.md counts them):
// - A caller writes its own call frame (FrameSocket: no hand-off to an I/O
//   thread); frames of concurrent callers leave in one write.
// - A blocking caller reads the socket itself while nobody else does
//   (leader/follower): it is woken once, by its reply. Callers waiting while
//   another reads are handed their reply (and, when the reader's own reply
//   came, the reader role) by the reader.
// - Asynchronous calls are read by one I/O thread, which also runs their
//   completions and flushes writes the socket could not take at once. It
//   sleeps while only blocking calls are in flight.
// - Streams (OpenStream) are read by the I/O thread too (an open stream
//   counts like an asynchronous call); what the worker sends for a stream
//   is pushed into its HostStream in frame order, without the connection's
//   lock. A stream's messages are written by the user's threads, each
//   serialized straight into its frame.
//
// The worker must answer only calls it was sent, with well-formed frames. A
// violation (a malformed frame, a reply to a call never sent, a frame only
// the host may send, the worker's own kGoAway, a response message beyond a
// stream's window, a stream frame naming a unary call, a stream's end
// carrying a message) ends the connection: the
// calls in flight fail with UNAVAILABLE kTransportFailed, and the owner's
// violation callback (which treats the worker as crashed) runs first.

#ifndef IW_RUNTIME_HOST_NATIVE_CONNECTION_H_
#define IW_RUNTIME_HOST_NATIVE_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/common/deadline_timer.h"
#include "runtime/host/endpoint.h"
#include "runtime/host/host_stream.h"
#include "runtime/metadata.h"
#include "runtime/process/unique_fd.h"
#include "runtime/transport/frame_socket.h"

namespace google::protobuf {
class MessageLite;
}  // namespace google::protobuf

namespace iw::internal {

class NativeConnection : public std::enable_shared_from_this<NativeConnection> {
 public:
  // What the worker answered (or why there is no answer).
  struct Reply {
    // The worker's status (TrustedFromWorker()), or the connection's own
    // with its cause: kCallDeadline, kCancelledByHost (Abandon()),
    // kTransportFailed (the connection ended), kReplyTooLarge.
    absl::Status status;
    // The serialized response (status OK only): a view into `frame`.
    absl::string_view payload;
    InFrame frame;
    // The user metadata the worker sent back.
    Metadata metadata;
    // The worker's own time (kWorkerTimeMetadataKey), if the worker replied.
    std::optional<uint64_t> worker_us;
  };
  using Done = std::function<void(Reply)>;
  // Runs once, before the calls in flight fail, when the worker breaks the
  // protocol; `why` names the violation.
  using OnViolation = std::function<void(const absl::Status& why)>;

  // Sends the hello on `fd` (the host end of the socketpair) and starts the
  // I/O thread. `max_request` / `max_reply`: the limits of both ends, in
  // bytes of a serialized message.
  static std::shared_ptr<NativeConnection> Open(UniqueFd fd, const codegen::ServiceInfo& service,
                                                size_t max_request, size_t max_reply,
                                                OnViolation on_violation);
  ~NativeConnection();
  NativeConnection(const NativeConnection&) = delete;
  NativeConnection& operator=(const NativeConnection&) = delete;

  // Whether calls can still be sent (the connection has not ended).
  bool usable() const;

  // One call, blocking until its reply or `timing.deadline` (then
  // DEADLINE_EXCEEDED kCallDeadline, and the worker is told to stop it).
  // The request is serialized straight into the frame that is written.
  Reply Call(int method_index, const google::protobuf::MessageLite& request,
             const CallTiming& timing);
  // One call, asynchronously: the request's bytes are written where they
  // are. `done` runs exactly once: on the I/O thread with the reply, on the
  // timer thread at the deadline, in Abandon(), or with UNAVAILABLE when
  // the connection ends. Returns the call's id (for Abandon()).
  uint64_t Start(int method_index, std::string request, const CallTiming& timing, Done done);
  // Opens a stream (stream.h) of streaming method `method_index`: sends
  // kStreamOpen at once and returns the carrier the stream sends through;
  // the worker's messages, credits and end are pushed into `stream` (held
  // weakly: a stream the user dropped is forgotten, and the worker told).
  // If the connection has ended, the stream ends at once with UNAVAILABLE
  // kTransportFailed.
  std::shared_ptr<HostStream::Carrier> OpenStream(int method_index, const CallTiming& timing,
                                                  const std::shared_ptr<HostStream>& stream);
  // Completes call `id` with `status` now unless its reply came first, and
  // tells the worker to stop it.
  void Abandon(uint64_t id, absl::Status status);

  // No more calls: half-closes the connection and waits up to `patience`
  // for the worker to answer the calls in flight and close its end; then
  // fails what is left with UNAVAILABLE and stops the I/O thread.
  void Close(absl::Duration patience);

 private:
  struct SyncWaiter {
    absl::CondVar answered_cv;
    bool answered = false;
    Reply reply;
  };
  struct Pending {
    SyncWaiter* waiter = nullptr;  // a blocking call
    Done done;                     // an asynchronous call
    DeadlineTimer::Handle timer;
  };
  struct Completion {
    Done done;
    Reply reply;
  };
  // What the worker sent for a stream, pushed into it without mu_.
  struct StreamEvent {
    std::shared_ptr<HostStream> stream;
    FrameKind kind;  // kResponseMessage, kRequestCredit or kReply (its end)
    StreamMessage message;
    int credit = 0;
    absl::Status status;
    Metadata metadata;
  };
  class StreamCarrier;
  enum class Reader { kNone, kIo, kCaller };

  NativeConnection(UniqueFd fd, const codegen::ServiceInfo& service, size_t max_request,
                   size_t max_reply, OnViolation on_violation);

  // Writes `*frames` (+ `*tail`); a broken connection ends everything.
  void Write(FrameBuffer* frames, std::string* tail = nullptr);
  // As the reader: polls until the socket is readable (or writable when
  // writes are blocked) or `deadline`, then reads and dispatches. False if
  // the deadline passed with nothing to read.
  bool ReadOnce(absl::Time deadline);
  // Hands each reply to its caller; a violation, or the end of `read` (the
  // status of the read that got `frames`), ends the connection.
  void Dispatch(std::vector<InFrame>* frames, const absl::Status& read);
  // Ends the connection: every call in flight fails with `why`.
  void Break(const absl::Status& why);
  void Violation(const absl::Status& why);
  // Runs `completions` here on the I/O thread, else queues them for it.
  void Complete(std::vector<Completion> completions);
  // Pushes `event` into its stream, releasing mu_ meanwhile. False if it
  // is a response message beyond the stream's credit (a violation).
  bool PushStreamEventUnlocked(StreamEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stream `id` of a frame of `kind`: its event, or nothing (an id no
  // longer open, or a stream the user dropped); a violation if the id was
  // never sent or is a unary call's.
  absl::Status FindStreamLocked(uint64_t id, FrameKind kind, std::shared_ptr<HostStream>* stream)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What StreamCarrier does for stream `id`.
  bool SendStreamMessage(uint64_t id, const google::protobuf::MessageLite& message);
  void SendStreamFrame(uint64_t id, FrameKind kind, int credit);
  void ForgetStream(uint64_t id);
  // Whether the I/O thread has reading to do.
  bool IoReadsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The reader role is free: wakes whoever should take it next.
  void HandOffLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void IoLoop();
  void WakeReader();

  const codegen::ServiceInfo& service_;
  const size_t max_request_;
  const size_t max_reply_;
  const OnViolation on_violation_;
  FrameSocket socket_;
  UniqueFd wake_;  // an eventfd: wakes the reader's poll()
  std::thread io_;

  mutable absl::Mutex mu_;
  absl::CondVar io_cv_;
  std::thread::id io_id_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  int async_pending_ ABSL_GUARDED_BY(mu_) = 0;
  // Open streams, held weakly (the user owns them). The I/O thread reads
  // while any is open.
  absl::flat_hash_map<uint64_t, std::weak_ptr<HostStream>> streams_ ABSL_GUARDED_BY(mu_);
  std::vector<SyncWaiter*> sync_waiters_ ABSL_GUARDED_BY(mu_);
  std::vector<Completion> completions_ ABSL_GUARDED_BY(mu_);
  Reader reader_ ABSL_GUARDED_BY(mu_) = Reader::kNone;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_io_ ABSL_GUARDED_BY(mu_) = false;
  // Frames up to this body size are read (the reply limit plus fields).
  const size_t max_body_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_NATIVE_CONNECTION_H_
