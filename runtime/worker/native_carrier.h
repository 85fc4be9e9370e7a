// -----------------------------------------------------------------------------
// File: worker/native_carrier.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. The worker end of the native carrier
// (WorkerTransport::kNative; frames in wire/native_frames.h): the call
// stream read straight off the private socketpair of a spawned worker, with
// no gRPC server in the process at all.
//
// One thread reads: it parses each frame in place, runs inline handlers
// ((iw.method).inline_handler) itself and hands the other calls to the
// dispatcher's executor, all the calls of one read in one hand-off. Each
// handler thread serializes its reply straight into a frame and writes it
// itself (FrameSocket combines the writes of concurrent replies). So a call
// costs the worker one wake-up (the read) plus one hand-off to a handler
// thread, and none for an inline handler.
//
// A stream (kStreamOpen) runs its handler on the executor, never inline: the
// handler waits for the messages, half-close, credits and cancel this thread
// reads and pushes into its WorkerStreamCall. It counts as a running call
// (shutdown waits for it); the connection's end cancels it.
//
// The host must send a valid hello first and only valid frames after it. A
// frame that breaks the protocol (malformed, the id of a call still running,
// a method index beyond the hello's table, a request message beyond a
// stream's window or after its half-close, a stream frame naming a unary
// call, a call of a streaming method or a stream open of a unary one) ends
// the connection: the worker answers the calls it runs, sends kGoAway naming
// the violation and stops reading; the host treats the worker as crashed.

#ifndef IW_RUNTIME_WORKER_NATIVE_CARRIER_H_
#define IW_RUNTIME_WORKER_NATIVE_CARRIER_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runtime/process/unique_fd.h"

namespace iw::internal {

class Dispatcher;

class NativeCarrier {
 public:
  virtual ~NativeCarrier() = default;
  // Blocks until the connection has ended (the host closed it and every
  // call is answered, or the worker is shutting down and idle, or the
  // connection broke) or `deadline` passes; at the deadline the calls still
  // running are cancelled (CallContext::IsCancelled()). True if it ended.
  virtual bool WaitDone(absl::Time deadline) = 0;
  // Why the connection ended: OK when the host closed it; the violation or
  // the socket's error otherwise.
  virtual absl::Status status() const = 0;
  // A descriptor that polls readable once the connection has ended (for
  // the worker's main loop).
  virtual int ended_fd() const = 0;
};

// Serves the calls of the host connected to `fd` on `dispatcher` (which
// must outlive the result) from a thread of its own, registered with the
// dispatcher as a WorkerStream.
std::unique_ptr<NativeCarrier> StartNativeCarrier(Dispatcher* dispatcher, UniqueFd fd);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_NATIVE_CARRIER_H_
