// -----------------------------------------------------------------------------
// File: call_context.h
// -----------------------------------------------------------------------------
//
// `iw::CallContext` is what a worker-side handler knows about the call it is
// serving: the method, the deadline and whether the caller still waits.
//
// Example (a handler that stops early when the host gave up):
//
//   absl::StatusOr<HashReply> Hash(iw::CallContext& context,
//                                  const HashRequest& request) override {
//     for (const auto& chunk : request.chunks()) {
//       if (context.IsCancelled()) return absl::CancelledError("stopped");
//       Feed(chunk);
//     }
//     return Finish();
//   }

#ifndef IW_RUNTIME_CALL_CONTEXT_H_
#define IW_RUNTIME_CALL_CONTEXT_H_

#include <atomic>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace iw {

// Per-call information handed to a handler. Owned by the framework; valid
// only during the handler call. Thread-safe.
class CallContext {
 public:
  // `method` is the gRPC method path ("/pkg.Service/Method").
  CallContext(absl::string_view method, absl::Time deadline)
      : method_(method), deadline_(deadline) {}
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;

  // The gRPC method path, e.g. "/demo.v1.Calculator/Add".
  const std::string& method() const { return method_; }

  // When the host stops waiting for the reply; absl::InfiniteFuture() if the
  // call has no deadline.
  absl::Time deadline() const { return deadline_; }

  // True once the reply can no longer be used: the host cancelled the call,
  // its deadline passed, or the host went away. Long handlers should poll it
  // and return early.
  bool IsCancelled() const {
    return cancelled_.load(std::memory_order_acquire) || absl::Now() >= deadline_;
  }

  // Framework use: marks the call cancelled.
  void MarkCancelled() { cancelled_.store(true, std::memory_order_release); }

 private:
  const std::string method_;
  const absl::Time deadline_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace iw

#endif  // IW_RUNTIME_CALL_CONTEXT_H_
