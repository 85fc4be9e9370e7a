// -----------------------------------------------------------------------------
// File: transport/frame_socket.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. The OS end of the native carrier (wire/native_frames.h):
// a non-blocking stream socket that whole frames are written to by any
// thread and read from by one thread at a time. Both the host and the worker
// use it; a Windows port replaces it (see docs/design/windows.md).
//
// Writing combines: the thread that finds the socket idle writes its frame
// itself, at once (no hand-off to an I/O thread, no wake-up), and keeps
// writing whatever other threads queued meanwhile; frames queued while a
// write is in flight leave in one sendmsg(). Nobody ever blocks in a write:
// what the socket does not take now stays queued (kBlocked), and the owner's
// I/O loop calls Flush() once poll() says the socket is writable again.
//
// IMPORTANT:
// - The descriptor is made O_NONBLOCK here; writes are sendmsg() with
//   MSG_NOSIGNAL: a closed peer gives EPIPE, never SIGPIPE in the user's
//   host process.
// - Frames are never split between writers: the bytes of one frame are
//   contiguous on the wire whatever the interleaving of threads.

#ifndef IW_RUNTIME_TRANSPORT_FRAME_SOCKET_H_
#define IW_RUNTIME_TRANSPORT_FRAME_SOCKET_H_

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runtime/process/unique_fd.h"
#include "runtime/wire/native_frames.h"

namespace iw::internal {

// One frame read off the socket: its kind and its body, which it owns.
struct InFrame {
  FrameKind kind = FrameKind::kHello;
  FrameBuffer storage;
  absl::string_view body() const { return {storage.data(), storage.size()}; }
};

class FrameSocket {
 public:
  enum class WriteResult {
    kDone,     // everything queued so far is written
    kQueued,   // behind a write in flight; its writer writes it
    kBlocked,  // the socket is full: the I/O loop must Flush() when writable
    kBroken,   // the connection is broken (see error()); the frame is lost
  };

  // Takes `fd` (a connected stream socket) and makes it non-blocking.
  explicit FrameSocket(UniqueFd fd);
  FrameSocket(const FrameSocket&) = delete;
  FrameSocket& operator=(const FrameSocket&) = delete;

  int fd() const { return fd_.get(); }

  // Writes the frame(s) in `*frames`, then the bytes of `*tail` (the
  // payload of the last frame, when the caller holds it as a string), or
  // queues them. `*frames` is left empty and reusable when written at once;
  // otherwise both are moved into the queue.
  WriteResult Write(FrameBuffer* frames, std::string* tail = nullptr);
  // Writes what is queued. kDone, kQueued (another thread is writing),
  // kBlocked or kBroken.
  WriteResult Flush();
  // True while queued bytes wait for the socket to be writable.
  bool blocked() const;
  // Why the connection broke (OK while it works).
  absl::Status error() const;
  // No more writes: shutdown(SHUT_WR) once the queue is written (now if it
  // is empty): the peer reads EOF after the last frame.
  void CloseWrites();

  // Reads what the socket holds without blocking and appends the complete
  // frames to `*frames`, each validated by ParseFrameHeader() against
  // `max_body`. One reader at a time. Returns OK (maybe no frame), or
  // UNAVAILABLE "connection closed" at EOF, or the errno of read(), or
  // INVALID_ARGUMENT naming a malformed header (the connection is then
  // unusable).
  absl::Status Read(size_t max_body, std::vector<InFrame>* frames);

 private:
  struct Chunk {
    FrameBuffer frames;
    std::string tail;
    size_t offset = 0;  // bytes of frames+tail already written
    size_t size() const { return frames.size() + tail.size(); }
  };
  // Writes queue_ until it is empty or the socket is full. Called by the one
  // thread that set writing_.
  WriteResult WriteQueueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BreakLocked(absl::Status why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  UniqueFd fd_;

  mutable absl::Mutex mu_;
  std::deque<Chunk> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool blocked_ ABSL_GUARDED_BY(mu_) = false;
  bool close_writes_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);

  // The reader's state (one reader at a time).
  FrameBuffer in_;         // bytes read, not yet a whole frame
  bool large_ = false;     // reading the body of one large frame into large_frame_
  InFrame large_frame_;    // its storage is sized to the body
  size_t large_have_ = 0;  // body bytes of it read so far
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_TRANSPORT_FRAME_SOCKET_H_
