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
// Flow control is by credit, counted in messages: a sender may have
// kStreamWindow messages the other end has not read, and sends none while
// kStreamWindowBytes of them are unread (it knows their sizes: credits come
// back in the order the messages were sent). The reader gives credits back
// in batches (Pop() says when: half a window of messages, or a quarter of
// the byte window, read since the last grant), so a fast stream costs one
// credit per many messages. A peer that sends beyond that (Push returns
// kOverWindow) breaks the protocol, whether or not the reader kept up: the
// receiver counts what it has not granted back, not only what is unread. So at most
// kStreamWindowBytes plus one message are buffered unread at either end, whatever the reader does.

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
  StreamState(int window = kStreamWindow, size_t window_bytes = kStreamWindowBytes)
      : window_(window), window_bytes_(window_bytes) {}

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
  // What a reader gives back to the sender: messages read (and their
  // bytes) since the last grant.
  struct Grant {
    int messages = 0;
    size_t bytes = 0;
  };
  // The next message, waiting until `deadline`. With a message, `grant` is
  // what to give back to the peer now (none until a batch is complete); the
  // caller passes it on through its carrier's "consumed".
  Next Pop(absl::Time deadline, StreamMessage* message, Grant* grant);

  // ---- Sending. ----

  // The peer read `n` more of the messages sent (the oldest first). More
  // than were sent is ignored.
  void AddCredit(int n);
  enum class Credit { kGranted, kEnded, kDeadline };
  // Room to send one message of `size` bytes, waiting for it until
  // `deadline`: fewer than the window's messages and bytes are unread.
  Credit TakeCredit(absl::Time deadline, size_t size);

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
  const size_t window_bytes_;
  mutable absl::Mutex mu_;
  // Received, not yet read.
  std::deque<StreamMessage> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool end_of_input_ ABSL_GUARDED_BY(mu_) = false;
  // Read since the last grant.
  Grant consumed_ ABSL_GUARDED_BY(mu_);
  // Received and not granted back (unread, or read since the last grant).
  Grant ungranted_ ABSL_GUARDED_BY(mu_);
  // Sizes of the messages sent and not yet credited, oldest first.
  std::deque<size_t> unacknowledged_ ABSL_GUARDED_BY(mu_);
  size_t unacknowledged_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_COMMON_STREAM_STATE_H_
