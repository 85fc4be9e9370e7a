// -----------------------------------------------------------------------------
// File: call_context.h
// -----------------------------------------------------------------------------
//
// `iw::CallContext` is what a worker-side handler knows about the call it is
// serving: the method, the deadline, whether the caller still waits, the
// call's request id, its W3C trace context and the metadata the host sent;
// and how the handler (or a worker middleware) sends metadata back.
// `iw::CurrentCallContext()` finds the call running on the calling thread
// (for a logger that tags its records with the call's trace id).
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

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <atomic>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/metadata.h"
#include "runtime/trace_context.h"

namespace iw {

namespace internal {
class Logger;  // logging.h
// The trace context in "traceparent" / "tracestate" of `metadata`; empty if
// none, or if invalid (then *problem says why).
TraceContext TraceFromMetadata(const Metadata& metadata, std::string* problem);
}  // namespace internal

// Per-call information handed to a handler. Owned by the framework; valid
// only during the handler call. Thread-safe.
class CallContext {
 public:
  // `method` is the gRPC method path ("/pkg.Service/Method").
  CallContext(absl::string_view method, absl::Time deadline)
      : method_(method), deadline_(deadline) {}
  // Framework use: with what the host sent (framework keys "iw-..." and
  // gRPC's own keys already removed from `request_metadata`).
  CallContext(absl::string_view method, absl::Time deadline, Metadata request_metadata,
              std::string request_id)
      : method_(method),
        deadline_(deadline),
        request_metadata_(std::move(request_metadata)),
        request_id_(std::move(request_id)),
        trace_(internal::TraceFromMetadata(request_metadata_, &trace_problem_)) {}
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

  // The id the host gave this call (16 hex digits, also in the host's
  // `HostCall::request_id`); empty if the caller did not send one.
  const std::string& request_id() const { return request_id_; }

  // The metadata host middleware attached to the call (with the
  // "traceparent" / "tracestate" entries, if the caller sent any).
  const Metadata& request_metadata() const { return request_metadata_; }

  // The caller's W3C trace context (sent by our host from
  // CallOptions::trace, host middleware or its TracePropagator, or by any
  // gRPC client as the standard "traceparent" / "tracestate" metadata);
  // valid, or empty if none came. An invalid one is ignored (the call goes
  // on; a debug-level record says why).
  const TraceContext& trace() const { return trace_; }

  // Framework use: why the received trace context was ignored; empty if it
  // was not.
  const std::string& trace_problem() const { return trace_problem_; }

  // Adds an entry to the metadata sent back with the reply (success or
  // error), visible to host middleware as `HostCall::response_metadata`.
  // The key rules of metadata.h apply; a bad key fails the call with
  // INTERNAL naming it.
  void AddResponseMetadata(std::string key, std::string value) {
    absl::MutexLock lock(&response_mu_);
    response_metadata_.emplace(std::move(key), std::move(value));
  }

  // Asks the host to replace this worker gracefully: it starts a new worker,
  // sends no new call here once that one is ready, and closes this one when
  // its calls are done. This call completes normally; none fails because of
  // it, and it does not count as a crash (PoolStats::workers_recycled).
  // For a handler that knows its process is worn (a leak it cannot fix,
  // a fragmented heap, a library with global state gone bad). Only a worker
  // spawned by a host (or in-process) can be recycled; in a standalone
  // worker (--iw_listen) it does nothing.
  void RequestRecycle() { recycle_requested_.store(true, std::memory_order_release); }

  // Framework use: whether RequestRecycle() was called.
  bool recycle_requested() const { return recycle_requested_.load(std::memory_order_acquire); }

  // Framework use: what AddResponseMetadata() collected.
  Metadata TakeResponseMetadata() {
    absl::MutexLock lock(&response_mu_);
    return std::move(response_metadata_);
  }

 private:
  const std::string method_;
  const absl::Time deadline_;
  const Metadata request_metadata_;
  const std::string request_id_;
  std::string trace_problem_;  // set before trace_, by its initializer
  TraceContext trace_;
  absl::Mutex response_mu_;
  Metadata response_metadata_ ABSL_GUARDED_BY(response_mu_);
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> recycle_requested_{false};
};

// The call whose handler (or worker middleware, or WorkerTracer) runs on
// the calling thread; null elsewhere, e.g. on a thread the handler started
// itself (pass the context along to it). Valid until that handler returns.
const CallContext* CurrentCallContext();

namespace internal {

// Framework use: makes `context` (and `logger`, where records logged on this
// thread go, and `worker_id`, the worker serving it) the current call of
// this thread for the scope's life. Scopes nest; must be destroyed on the
// thread that made it. The pointers must outlive the scope. `context` may
// be null: the thread's records then go to `logger`, about no call.
class CurrentCallScope {
 public:
  CurrentCallScope(const CallContext* context, const Logger* logger,
                   const std::string* worker_id = nullptr);
  ~CurrentCallScope();
  CurrentCallScope(const CurrentCallScope&) = delete;
  CurrentCallScope& operator=(const CurrentCallScope&) = delete;

 private:
  const CallContext* const saved_context_;
  const Logger* const saved_logger_;
  const std::string* const saved_worker_id_;
};

// The logger of the current call of this thread; null if none.
const Logger* CurrentCallLogger();
// The id of the worker serving it; empty if none.
absl::string_view CurrentCallWorkerId();

}  // namespace internal
}  // namespace iw

#endif  // IW_RUNTIME_CALL_CONTEXT_H_
