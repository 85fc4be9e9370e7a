// -----------------------------------------------------------------------------
// File: middleware.h
// -----------------------------------------------------------------------------
//
// Middleware: code that runs around every call, on the host (around each
// outgoing call) and in the worker (around each handler). Each step sees the
// method's full name and the request, and after the call the response and
// status; it can add metadata that travels with the call, short-circuit the
// call with a status, and replace or modify the request and the response.
//
// Order ("onion"): for a chain {A, B, C}, OnRequest runs A, B, C (registration
// order), then the call (host) or handler (worker), then OnResponse runs C,
// B, A. OnResponse runs only for the steps whose OnRequest returned OK: if
// B's OnRequest fails, C and the call are skipped and only A's OnResponse
// runs, with B's status.
//
// Host side: `WorkerOptions::middleware` / `RemoteOptions::middleware`. The
// chain wraps the whole logical call, outside retries (CrashPolicy::kRetry
// re-sends the request OnRequest produced; it does not run the chain again)
// and outside the pool's queue. Both hooks run on the caller's thread for a
// synchronous call; for an async call OnRequest runs on the caller's thread
// and OnResponse on a framework thread, before the callback.
//
// Worker side: `WorkerConfig::middleware`, passed to
// `Run<Service>Worker(argc, argv, handler, config)`; for in-process workers,
// `WorkerOptions::worker_middleware`. Both hooks run on the handler's thread.
//
// Failures: a middleware's non-OK status fails that call only; a C++
// exception thrown by a hook becomes INTERNAL "host middleware #2 threw
// std::runtime_error: ..." ("worker middleware #N ..."), N counting from 1 in
// registration order. The worker always replies.
//
// Example (host):
//
//   class Tenant : public iw::HostMiddleware {
//     absl::Status OnRequest(iw::HostCall& call) override {
//       call.request_metadata.emplace("tenant", CurrentTenant());
//       return absl::OkStatus();
//     }
//     void OnResponse(iw::HostCall& call, absl::Status& status) override {
//       Log(call.method, call.request_id, status);
//     }
//   };
//   iw::WorkerOptions options;
//   options.middleware.push_back(std::make_shared<Tenant>());

#ifndef IW_RUNTIME_MIDDLEWARE_H_
#define IW_RUNTIME_MIDDLEWARE_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/call_context.h"
#include "runtime/metadata.h"
#include "runtime/trace_context.h"

namespace google::protobuf {
class MessageLite;
}  // namespace google::protobuf

namespace iw {

// One host call as host middleware sees it. Valid only during the hooks.
struct HostCall {
  // The gRPC method path, "/pkg.Service/Method".
  absl::string_view method;
  // A private copy of the caller's request (of the method's request type):
  // may be modified; what OnRequest leaves here is what is sent.
  google::protobuf::MessageLite* request = nullptr;
  // The caller's response message (of the method's response type). Holds the
  // reply in OnResponse when the status is OK; may be modified there.
  google::protobuf::MessageLite* response = nullptr;
  // Added by OnRequest, sent to the worker (CallContext::request_metadata()).
  Metadata request_metadata;
  // What the worker sent back (CallContext::AddResponseMetadata()); filled
  // before OnResponse, also for failed calls that reached the worker.
  Metadata response_metadata;
  // This call's id, sent as "iw-request-id" (CallContext::request_id()).
  std::string request_id;
  // The W3C trace context the call continues: CallOptions::trace, else the
  // host's TracePropagator's, else empty. OnRequest may read and replace it
  // (an OpenTelemetry client span sets its own span as the parent); what it
  // leaves here is validated (INVALID_ARGUMENT otherwise) and sent as the
  // "traceparent" / "tracestate" metadata, replacing such entries in
  // `request_metadata`. See docs/tracing.md.
  TraceContext trace;
};

class HostMiddleware {
 public:
  virtual ~HostMiddleware() = default;
  // Non-OK: the call is not made and fails with this status.
  virtual absl::Status OnRequest(HostCall& /*call*/) { return absl::OkStatus(); }
  // May change `call.response` and `status` (what the caller gets).
  virtual void OnResponse(HostCall& /*call*/, absl::Status& /*status*/) {}
};

// One call as worker middleware sees it. Valid only during the hooks.
struct WorkerCall {
  // The gRPC method path, "/pkg.Service/Method".
  absl::string_view method;
  // The parsed request; may be modified (the handler sees the result).
  google::protobuf::MessageLite* request = nullptr;
  // The handler's reply in OnResponse when the status is OK; may be modified.
  google::protobuf::MessageLite* response = nullptr;
  // Request id, request metadata, deadline; AddResponseMetadata() to answer.
  CallContext& context;
};

class WorkerMiddleware {
 public:
  virtual ~WorkerMiddleware() = default;
  // Non-OK: the handler does not run and the call fails with this status.
  virtual absl::Status OnRequest(WorkerCall& /*call*/) { return absl::OkStatus(); }
  // May change `call.response` and `status` (what the host gets).
  virtual void OnResponse(WorkerCall& /*call*/, absl::Status& /*status*/) {}
};

}  // namespace iw

#endif  // IW_RUNTIME_MIDDLEWARE_H_
