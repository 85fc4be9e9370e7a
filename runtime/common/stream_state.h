// -----------------------------------------------------------------------------
// File: common/stream_state.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. One end of a streaming call (stream.h), whatever carries
// it: the messages received and not yet read, the credit to send more, and
// the end. The host end (host/host_stream.h) and the worker end
// (worker/worker_stream_call.h) are built on it; the carriers (the native
// carrier, gRPC) push into it.
//
// Flow control is by credit, counted in messages: each end may send
// kStreamWindow messages the other has not read; every message read gives
// the sender one credit back (StreamState::Consumed → the carrier tells the
// peer → the peer's AddCredit). A peer that sends beyond its credit breaks
// the protocol (Push returns kOverWindow). So at most kStreamWindow messages
// of a stream are buffered at either end, whatever the reader does.

#ifndef IW_RUNTIME_COMMON_STREAM_STATE_H_
#define IW_RUNTIME_COMMON_STREAM_STATE_H_

#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/stream.h"

namespace iw::internal {

// One serialized message of a stream: a view into storage that `owner`
// keeps alive (a frame read off the socket, or a copy).
struct StreamMessage {
  std::shared_ptr<const void> owner;
  absl::string_view bytes;

  // A message that owns a copy of `bytes`.
  static StreamMessage Own(std::string bytes) {
    auto owned = std::make_shared<const std::string>(std::move(bytes));
    StreamMessage message;
    message.bytes = *owned;
    message.owner = std::move(owned);
    return message;
  }
};

// Thread-safe.
class StreamState {
 public:
  explicit StreamState(int window = kStreamWindow) : window_(window), credit_(window) {}

  // ---- Receiving (the carrier). ----

  enum class Push {
    kQueued,
    kOverWindow,  // the peer sent beyond its credit: a protocol violation
    kEnded,       // dropped: the stream has ended
  };
  Push PushMessage(StreamMessage message);
  // The peer sends no more messages (it closed its writes).
  void PushEndOfInput();

  // ---- Reading. ----

  enum class Next {
    kMessage,
    kEndOfInput,  // the peer closed its writes and every message was read
    kEnded,       // the stream has ended (status())
    kDeadline,    // `deadline` passed first
  };
  // The next message, waiting until `deadline`. The caller then tells the
  // peer it may send one more (its carrier's "consumed").
  Next Pop(absl::Time deadline, StreamMessage* message);

  // ---- Sending. ----

  // The peer read `n` more messages. The credit never exceeds the window.
  void AddCredit(int n);
  enum class Credit { kGranted, kEnded, kDeadline };
  // Takes one credit, waiting for it until `deadline`.
  Credit TakeCredit(absl::Time deadline);

  // ---- The end. ----

  // Ends the stream with `status`; the first end wins (true) and wakes
  // every waiter. `keep_queued`: messages already received stay readable
  // before Pop() reports the end (an end the peer sent after them);
  // otherwise they are dropped (a local end: cancelled, deadline).
  bool End(absl::Status status, bool keep_queued);
  bool ended() const;
  // The status End() recorded (OK until then).
  absl::Status status() const;
  // Waits until the stream has ended or `deadline`; true if it ended.
  bool AwaitEnd(absl::Time deadline);

 private:
  const int window_;
  mutable absl::Mutex mu_;
  std::deque<StreamMessage> queue_ ABSL_GUARDED_BY(mu_);
  bool end_of_input_ ABSL_GUARDED_BY(mu_) = false;
  int credit_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_COMMON_STREAM_STATE_H_
