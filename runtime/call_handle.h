// -----------------------------------------------------------------------------
// File: call_handle.h
// -----------------------------------------------------------------------------
//
// `iw::CallHandle`: what the generated `<Method>Async()` returns, to cancel
// the call.

#ifndef IW_RUNTIME_CALL_HANDLE_H_
#define IW_RUNTIME_CALL_HANDLE_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <memory>
#include <utility>

namespace iw {
namespace internal {

// Cancellation hook of one asynchronous call (implemented by the runtime).
class PendingCall {
 public:
  virtual ~PendingCall() = default;
  virtual void Cancel() = 0;
};

}  // namespace internal

// Handle to an asynchronous call. Copyable; an empty handle does nothing.
// Thread-safe.
class CallHandle {
 public:
  CallHandle() = default;
  explicit CallHandle(std::shared_ptr<internal::PendingCall> call) : call_(std::move(call)) {}

  // Asks to cancel the call. If its callback has not run yet, it runs with
  // CANCELLED (soon, on a framework thread) and the worker's handler sees
  // `CallContext::IsCancelled()`. Idempotent.
  void Cancel() {
    if (call_) call_->Cancel();
  }

 private:
  std::shared_ptr<internal::PendingCall> call_;
};

}  // namespace iw

#endif  // IW_RUNTIME_CALL_HANDLE_H_
