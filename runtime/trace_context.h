// -----------------------------------------------------------------------------
// File: trace_context.h
// -----------------------------------------------------------------------------
//
// W3C Trace Context (https://www.w3.org/TR/trace-context/) for a call: the
// `traceparent` and `tracestate` values that travel with it as the standard
// metadata keys "traceparent" and "tracestate", so that OpenTelemetry's gRPC
// instrumentation and third-party gRPC clients interoperate with ours.
//
// The host takes a call's trace context from `CallOptions::trace`, else from
// a `TracePropagator` (WorkerOptions / RemoteOptions::trace_propagator);
// host middleware sees the result in `HostCall::trace` and may replace it.
// The worker reads it in `CallContext::trace()`; a `WorkerTracer`
// (WorkerConfig::tracer) can open a span around each handler. See
// docs/tracing.md, which also sketches an OpenTelemetry bridge (no
// OpenTelemetry dependency here).
//
// Example:
//
//   iw::CallOptions call;
//   call.trace = iw::TraceContext{
//       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=abc"};
//   auto reply = host->Ping(request, call);
//
//   // In the worker's handler:
//   absl::string_view trace_id = context.trace().trace_id();

#ifndef IW_RUNTIME_TRACE_CONTEXT_H_
#define IW_RUNTIME_TRACE_CONTEXT_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iw {

class CallContext;  // call_context.h

// The metadata keys of W3C Trace Context over gRPC (as OpenTelemetry's
// propagators send them).
inline constexpr char kTraceparentMetadataKey[] = "traceparent";
inline constexpr char kTracestateMetadataKey[] = "tracestate";

// The trace context of one call. A plain value; empty() means none.
struct TraceContext {
  // "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", lowercase.
  std::string traceparent;
  // Vendor entries ("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"); may be empty.
  std::string tracestate;

  bool empty() const { return traceparent.empty(); }

  // The fields of `traceparent`. Meaningful only for a valid value (see
  // ValidateTraceContext()); empty views otherwise.
  // The 32 hex digits of the trace id.
  absl::string_view trace_id() const;
  // The 16 hex digits of the caller's span ("parent-id" in W3C's words).
  absl::string_view parent_id() const;
  // The sampled flag (bit 0 of trace-flags).
  bool sampled() const;

  friend bool operator==(const TraceContext& a, const TraceContext& b) {
    return a.traceparent == b.traceparent && a.tracestate == b.tracestate;
  }
  friend bool operator!=(const TraceContext& a, const TraceContext& b) { return !(a == b); }
};

// OK if `trace` may be sent: `traceparent` per W3C (version 00 exactly
// 55 characters; a higher version at least that, its extra fields after a
// '-'; version ff is invalid; lowercase hex; trace id and parent id not all
// zeros), and `tracestate` empty or at most 32 comma-separated "key=value"
// members of printable ASCII, 512 characters in all. An empty context (no
// trace) is valid; an empty traceparent with a non-empty tracestate is not.
// Otherwise INVALID_ARGUMENT naming the field and the problem, e.g.
// "traceparent: trace id is all zeros".
absl::Status ValidateTraceContext(const TraceContext& trace);

// Makes a TraceContext from received values: the validated context, or
// INVALID_ARGUMENT as above (also for an empty traceparent).
absl::StatusOr<TraceContext> ParseTraceContext(absl::string_view traceparent,
                                               absl::string_view tracestate);

// Host side: where a call's trace context comes from when the call does not
// set `CallOptions::trace`. An OpenTelemetry bridge implements it by reading
// the current span of the calling thread (docs/tracing.md).
class TracePropagator {
 public:
  virtual ~TracePropagator() = default;
  // The caller's current trace context, or nullopt for none. Runs on the
  // thread that makes the call (for StreamAsync too), once per call, before
  // host middleware. Must be thread-safe. An invalid value is ignored
  // (logged at debug level): the call goes without a trace context.
  virtual std::optional<TraceContext> Current() = 0;
};

// Worker side: what a WorkerTracer opened around one handler; destroyed
// (on the handler's thread) when the handler and worker middleware are done.
class TraceScope {
 public:
  virtual ~TraceScope() = default;
  // Runs just before destruction with the status of the handler after
  // worker middleware (e.g. to set an OpenTelemetry span's status).
  virtual void OnEnd(const absl::Status& /*status*/) {}
};

// Worker side: opens a span (or anything else) around every handler, e.g. an
// OpenTelemetry bridge starting a server span whose parent is
// `context.trace()` and making it current on the handler's thread. Set in
// `WorkerConfig::tracer` (in-process workers: `WorkerOptions::worker_tracer`).
class WorkerTracer {
 public:
  virtual ~WorkerTracer() = default;
  // Runs on the handler's thread before worker middleware; the scope it
  // returns (may be null) is destroyed after the last OnResponse. Also runs
  // for calls without a trace context (context.trace().empty()). Must be
  // thread-safe. A C++ exception thrown here is caught and logged; the call
  // goes on without a scope.
  virtual std::unique_ptr<TraceScope> StartCall(const CallContext& context) = 0;
};

}  // namespace iw

#endif  // IW_RUNTIME_TRACE_CONTEXT_H_
